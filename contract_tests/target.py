"""What the contract suites run against, read from the environment so `flux-mock check`, CI and users
configure the same suite module:

  FLUX_CHECK_BASE_URL    a server to test over HTTP; unset: an in-process flux-mock (ASGI)
  FLUX_CHECK_KEY         Ocp-Apim-Subscription-Key to send       (default: contract-test-key)
  FLUX_CHECK_SECRET_KEY  X-Secret-Key to send                    (default: the key above)
  FLUX_CHECK_ALLOW_PAID  "1": also call operations that cost money
  FLUX_CHECK_MAX_SPEND   USD the run may spend at documented prices (default 0)
  FLUX_CHECK_MAX_EXAMPLES generated cases per operation and mode (default 20)
  FLUX_CHECK_OPERATIONS  comma-separated operationIds to check (default: all)
  FLUX_CHECK_POLLS       status polls to reach a final state (default 30)
  FLUX_CHECK_POLL_INTERVAL seconds between polls over HTTP (default 0.5; 0.02 against a flux-mock whose
                         jobs the run made fast)

Against flux-mock over HTTP the run makes jobs fast for its duration (QUEUED 0 s, PROCESSING 0.05 s)
and puts the server's own timing back afterwards, so it does not wait on the default 3 s jobs.
"""

import os
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import anyio
import httpx
import pytest
import schemathesis

from contract_tests.budget import Budget
from mock_server import __version__
from mock_server.journal_entry import KIT_AGENT
from mock_server.operations import Operation, load_bundled, load_operations
from mock_server.operations.assumptions import pages_only

DEFAULT_KEY = "contract-test-key"
IN_PROCESS_URL = "http://flux-mock.test"
KIT_USER_AGENT = f"{KIT_AGENT}/{__version__}"  # check's and drift's requests: `report` leaves them out
FAST_TIMING = {"mode": "time", "queued_for": 0.0, "processing_for": 0.05}
FAST_POLL_INTERVAL = 0.02
# What a schema-valid request may be answered besides a 2xx: schemathesis' own list, and the pages' 402 (a dry
# wallet, page 003) and 429, answers about the caller, not the request, never a "valid request rejected".
POSITIVE_ANSWERS = ("2XX", "3XX", "401", "402", "403", "404", "409", "429", "5XX")
TARGET = pytest.StashKey["Target"]()  # how `flux-mock check` hands the suite its target (contract_tests.suite)


def in_process_app():
    """The mock as the suites test it in-process: its one key, plenty of money, per-poll timing on a
    manual clock (so waits, such as Schnell Batch's internal polling, take no real time)."""
    from mock_server.app import create_app
    from mock_server.clock import ManualClock
    from mock_server.jobs.timing import Timing
    from mock_server.settings import KeyConfig, Settings

    settings = Settings(keys={DEFAULT_KEY: KeyConfig(balance=1_000_000)}, timing=Timing(mode="per-poll"))
    return create_app(settings, clock=ManualClock())


def variant_headers(operation: Operation) -> dict[str, str]:
    """flux-mock's switch to an operation that is a named response variant of its path (page 002's older
    Flux Pro shape, say): `Prefer: variant=NAME`. Gateways ignore it."""
    return {"Prefer": f"variant={operation.variant}"} if operation.variant else {}


@dataclass
class Target:
    base_url: str | None = None
    key: str = DEFAULT_KEY
    secret_key: str | None = None
    allow_paid: bool = False
    max_spend: float = 0.0
    max_examples: int = 20
    polls: int = 30
    operations: tuple[str, ...] = ()  # only these operationIds (flux-mock check --operation)
    poll_interval: float | None = None  # None: 0.5 s, or FAST_POLL_INTERVAL once flux-mock's jobs are fast
    budget: Budget = field(init=False)
    jobs_made_fast: bool = field(init=False, default=False)
    cases: Counter = field(init=False, default_factory=Counter)  # requests sent, by operationId (check's lines)
    # the statuses generated cases were answered, by (operationId, positive or negative): a check whose every
    # answer was about the caller (401, 402, 403, 429) tested nothing of that operation
    answers: defaultdict = field(init=False, default_factory=lambda: defaultdict(Counter))
    notes: list = field(init=False, default_factory=list)  # (operationId, check, text): information, never failures
    _tls: object = field(init=False, default=None, repr=False)  # the clients' TLS context, made once

    def note(self, operation_id: str, check: str, text: str) -> None:
        """Something the run saw that is no failure: what the server did of the spec's assumptions."""
        if (operation_id, check, text) not in self.notes and len(self.notes) < 500:
            self.notes.append((operation_id, check, text))

    def __post_init__(self) -> None:
        self.secret_key = self.secret_key or self.key
        limit = float("inf") if self.is_flux_mock else (self.max_spend if self.allow_paid else 0.0)
        self.budget = Budget(limit)

    @cached_property
    def _mock_health(self) -> dict | None:
        """flux-mock's /__admin/health answer, or None when the target is not flux-mock."""
        if self.base_url is None:
            return {"status": "ok", "auth": "configured-keys"}
        try:
            health = httpx.get(f"{self.url}/__admin/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return None
        return health if isinstance(health, dict) and health.get("status") == "ok" and "auth" in health else None

    @property
    def is_flux_mock(self) -> bool:
        """In-process, or a server whose /__admin/health says it is flux-mock: calls cost nothing there."""
        return self._mock_health is not None

    @property
    def accepts_any_key(self) -> bool:
        """flux-mock with its embedded default, where every non-empty key works by design."""
        return (self._mock_health or {}).get("auth") == "any-key"

    @classmethod
    def from_env(cls, environ=os.environ) -> "Target":
        return cls(
            base_url=environ.get("FLUX_CHECK_BASE_URL") or None,
            key=environ.get("FLUX_CHECK_KEY") or DEFAULT_KEY,
            secret_key=environ.get("FLUX_CHECK_SECRET_KEY") or None,
            allow_paid=environ.get("FLUX_CHECK_ALLOW_PAID") == "1",
            max_spend=float(environ.get("FLUX_CHECK_MAX_SPEND") or 0),
            max_examples=int(environ.get("FLUX_CHECK_MAX_EXAMPLES") or 20),
            polls=int(environ.get("FLUX_CHECK_POLLS") or 30),
            operations=tuple(filter(None, (environ.get("FLUX_CHECK_OPERATIONS") or "").split(","))),
            poll_interval=float(environ["FLUX_CHECK_POLL_INTERVAL"]) if environ.get("FLUX_CHECK_POLL_INTERVAL") else None,
        )

    @property
    def in_process(self) -> bool:
        return self.base_url is None

    @property
    def url(self) -> str:
        return (self.base_url or IN_PROCESS_URL).rstrip("/")

    @cached_property
    def app(self):
        return in_process_app() if self.in_process else None

    @property
    def pause_between_polls(self) -> float:
        """Seconds between two status polls: none in-process (the clock is the mock's), else as configured."""
        if self.in_process:
            return 0.0
        if self.poll_interval is not None:
            return self.poll_interval
        return FAST_POLL_INTERVAL if self.jobs_made_fast else 0.5

    @contextmanager
    def prepared(self):
        """Against flux-mock over HTTP: fill the run's wallets (generated traffic never meets a 402 it did not
        ask for) and make its jobs fast; the server's own timing is put back afterwards. Nothing is done
        anywhere else."""
        if not self.is_flux_mock or self.in_process:
            yield self
            return
        with httpx.Client(base_url=f"{self.url}/__admin", timeout=5) as admin:
            for key in {self.key, self.secret_key}:
                admin.put(f"/wallets/{key}", json={"balance": 1_000_000})
            saved = admin.get("/timing")
            self.jobs_made_fast = saved.is_success and admin.put("/timing", json=FAST_TIMING).is_success
            try:
                yield self
            finally:
                if self.jobs_made_fast:
                    admin.put("/timing", json=saved.json())
                    self.jobs_made_fast = False

    def headers_for(self, operation: Operation) -> dict[str, str]:
        """The key headers of the operation's first security alternative."""
        values = {"Ocp-Apim-Subscription-Key": self.key, "X-Secret-Key": self.secret_key}
        return {name: values[name] for name in (operation.security[0] if operation.security else ())}

    def aim(self, schema) -> None:
        """Point a schema made by `spec_schema` at this target: its URL, its in-process app, its keys."""
        schema.config.update(base_url=self.url)
        schema.flux_mock_target = self

    def schema(self, spec: str = "flux.yaml", mode: str = "positive"):
        """A schemathesis schema of `spec` aimed at this target, sending this target's keys."""
        schema = spec_schema(spec, mode)
        self.aim(schema)
        return schema

    def client(self) -> httpx.Client:
        """An httpx client for hand-made calls (link following, media downloads)."""
        headers = {"User-Agent": KIT_USER_AGENT}  # report leaves the kit's own traffic out
        if self.app is not None:
            return httpx.Client(transport=_SyncASGI(self.app), base_url=self.url, timeout=60, headers=headers)
        if self._tls is None:  # httpx's default (SSL_CERT_FILE / SSL_CERT_DIR, else certifi), read once: a client
            self._tls = httpx.create_ssl_context()  # of its own loads the CA bundle again, 20 ms an operation
        return httpx.Client(base_url=self.url, timeout=60, headers=headers, verify=self._tls)


def spec_schema(spec: str = "flux.yaml", mode: str = "positive"):
    """A schemathesis schema of `spec`'s pages' constraints (without what the spec assumes: x-assumed), aimed at no
    target yet (`Target.aim`): it sends the keys of the target it is aimed at, read when each case is made."""
    config = schemathesis.Config.from_dict({"generation": {"mode": mode}, "checks": {"positive_data_acceptance": {
        "expected-statuses": list(POSITIVE_ANSWERS)}}})
    schema = schemathesis.openapi.from_dict(pages_only(load_bundled(spec)), config=config)
    schema.flux_mock_target = None
    operations = {op.operation_id: op for op in load_operations()}

    @schema.auth(refresh_interval=None)  # read for each case: a cached answer would outlive its run's target
    class Keys:
        def get(self, case, context):
            target = schema.flux_mock_target
            return target.headers_for(operations[case.operation.definition.raw["operationId"]]) if target else {}

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), **data}

    return schema


class _SyncASGI(httpx.BaseTransport):
    """httpx's ASGITransport for a synchronous client (each request runs the app on its own loop)."""

    def __init__(self, app) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send():
            response = await self._transport.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return anyio.run(send)
