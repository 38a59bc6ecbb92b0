"""Everything a request handler may use, built once by create_app: no module-level state."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from mock_server import public_url
from mock_server.answers.source import AnswerSource
from mock_server.auth import Authenticator
from mock_server.chaos import Chaos
from mock_server.clock import Clock
from mock_server.jobs.service import JobService
from mock_server.jobs.timing import Timing
from mock_server.journal import Journal
from mock_server.ratelimit import RateLimiter
from mock_server.replay import Replay, read_recordings
from mock_server.replay_misses import MissLearner
from mock_server.rules import Rules
from mock_server.settings import Settings
from mock_server.operations import Operation, key_headers
from mock_server.operations.evidence import MODEL_NOT_FOUND_ROUTES, UnknownModelPaths, load_evidence, observed_timing
from mock_server.store import Stores
from mock_server.wallet import Wallets
from mock_server.webhooks.dispatcher import WebhookDispatcher


@dataclass
class MockState:
    settings: Settings
    clock: Clock
    stores: Stores
    operations: tuple[Operation, ...]
    webhook_transport: httpx.AsyncBaseTransport | None = None  # the webhook client's (tests pass one)
    # serve --replay: how a recorded answer departs from the current specs (operation, status, headers, content)
    # -> lines; the kit's judge, handed in by serving (the mock does not import the kit)
    replay_judge: Callable | None = None
    timing: Timing = field(init=False)
    auth: Authenticator = field(init=False)
    wallets: Wallets = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    rules: Rules = field(init=False)
    journal: Journal = field(init=False)
    jobs: JobService = field(init=False)
    webhooks: WebhookDispatcher = field(init=False)
    key_headers: tuple[str, ...] = field(init=False)
    answers: AnswerSource = field(init=False)
    chaos: Chaos = field(init=False)
    replay: Replay | None = field(init=False)  # serve --replay: the recordings' answers
    misses: MissLearner | None = field(init=False)  # --on-miss upstream: unrecorded requests, learned
    unknown_models: UnknownModelPaths = field(init=False)  # paths the live gateway answers 400 Model not found
    base_url: public_url.BaseUrls = field(init=False)  # (scope) -> the base URL for links in answers

    def __post_init__(self) -> None:
        self.key_headers = key_headers(self.operations)
        self.unknown_models = UnknownModelPaths(load_evidence()[MODEL_NOT_FOUND_ROUTES],
                                                (op.path for op in self.operations))
        self.timing = self.settings.timing
        self.auth = Authenticator(self.settings)
        self.wallets = Wallets(self.settings, self.stores.wallets)
        self.rate_limiter = RateLimiter(self.clock, self.stores.rates)
        self.rules = Rules(self.settings.rules, self.stores.runtime, self.operations)
        self.journal = Journal(self.stores.journal)
        settings = self.settings
        self.webhooks = WebhookDispatcher(self.stores.deliveries, self.stores.jobs, self.clock, self.journal,
                                          max_attempts=settings.webhook_max_attempts, backoff=settings.webhook_backoff,
                                          timeout=settings.webhook_timeout, refresh=self.refresh_unless_current,
                                          allowed_hosts=settings.webhook_allowed_hosts,
                                          redirect_to=settings.webhook_redirect_to, transport=self.webhook_transport,
                                          show_keys=settings.show_keys)
        self.jobs = JobService(self.stores.jobs, self.clock, lambda: self.timing, settings.max_jobs,
                               listener=self.webhooks, durations=self._job_durations)
        self.answers = AnswerSource(self.operations, settings.seed)
        self.chaos = Chaos(settings.seed)
        self.replay = Replay(read_recordings(settings.replay, self.operations),
                             settings.replay_speed, settings.replay_strict, settings.max_jobs) \
            if settings.replay else None
        self.misses = MissLearner(settings.replay_upstream, settings.replay[0], self.webhook_transport) \
            if settings.replay and settings.replay_on_miss == "upstream" and settings.replay_upstream else None
        self.picked_seeds = self._picked_seeds()
        self.timing_draws = self._timing_draws()
        self.base_url = public_url.BaseUrls(settings.public_url, settings.trust_forwarded)

    def _timing_draws(self) -> random.Random:
        """The durations `--timing observed` draws: the same sequence from the same --seed after each reset."""
        return random.Random(f"{self.settings.seed}:observed-timing")

    def _job_durations(self, timing: Timing) -> tuple[float, float]:
        return timing.job_durations(observed_timing(), self.timing_draws)

    def sync_wait(self, prompt: str) -> float:
        """Seconds the next sync call takes under the timing in force."""
        return self.timing.sync_wait(observed_timing(), self.timing_draws, prompt)

    def _picked_seeds(self) -> random.Random:
        """The seeds of requests that give none: the same after each reset, so a run replays its images (a
        fuzzed client's downloads render once, not once an example)."""
        return random.Random(f"{self.settings.seed}:picked-seeds")

    async def refresh_unless_current(self) -> bool:
        """Read the run-time state again unless this instance's copy is known current; whether it did."""
        if self.stores.runtime.current:
            return False
        await self.refresh()
        return True

    async def start(self) -> None:
        """Background work that runs with the server: following other instances' changes, webhooks."""
        self.stores.runtime.follow(self.refresh)
        await self.webhooks.start()

    async def stop(self, grace: float) -> list:
        """Stop the background work; the webhook deliveries left pending."""
        await self.stores.runtime.stop_following()
        await self.answers.close()
        if self.misses is not None:
            await self.misses.close()
        return await self.webhooks.stop(grace=grace)

    async def refresh(self) -> None:
        """Take up what the admin API changed, on this instance or another: clock offset, timing, rules."""
        snapshot = await self.stores.runtime.snapshot()
        self.clock.offset = snapshot["offset"]
        self.timing = Timing(**snapshot["timing"]) if snapshot["timing"] else self.settings.timing
        await self.rules.refresh(snapshot["version"])

    async def reset(self) -> None:
        self.picked_seeds = self._picked_seeds()
        self.timing_draws = self._timing_draws()
        if self.replay is not None:
            self.replay.reset()
        await self.stores.clear()
        await self.refresh()
