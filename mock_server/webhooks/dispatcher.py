"""The webhook dispatcher: the one part of webhooks that does I/O. It claims due deliveries from the
store, POSTs them in the background (one job's events in order), retries with exponential backoff,
and journals every attempt. What is sent, and when, comes from `plan`."""

import asyncio
import functools
import logging
import time

import httpx

from mock_server.clock import Clock, iso
from mock_server.errors import StoreUnavailable
from mock_server.journal import Journal
from mock_server.journal_entry import webhook_attempt
from mock_server.redaction import SHORT_FIELD, clipped, mask_key
from mock_server.store.base import JobStore
from mock_server.store.records import Delivery, Job
from mock_server.webhooks.plan import body_for, deliveries_for, policed
from mock_server.webhooks.targets import masked_url

log = logging.getLogger("flux_mock.webhooks")
BLOCKED_TARGETS_COUNTED = 1_000  # targets whose blocked deliveries are counted (beyond: each one logged)


class BlockedLog:
    """The log of blocked deliveries, one line per target and not one per delivery (a schemathesis run against
    the mock made 552 lines of 605): the first in full, then one at the 10th, 100th, 1,000th... with the
    count, and at shutdown the total of each target that had more than one."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def blocked(self, target: str, first_line) -> None:
        """`first_line()`: the full line (logged once per target)."""
        if target not in self._counts and len(self._counts) >= BLOCKED_TARGETS_COUNTED:
            log.warning("%s", first_line())
            return
        count = self._counts[target] = self._counts.get(target, 0) + 1
        if count == 1:
            log.warning("%s", first_line())
        elif len(str(count)) > len(str(count - 1)):  # 10, 100, 1,000...
            log.warning("webhook blocked: %d deliveries so far to %s (the first said why; one line at each "
                        "tenfold)", count, target)

    def summarise(self) -> None:
        for target, count in self._counts.items():
            if count > 1:
                log.warning("webhook blocked: %d deliveries in all to %s", count, target)
        self._counts.clear()
# Sent with every attempt: the same for every attempt of one delivery, on any instance, so a receiver
# can drop the duplicates a retry or a re-sent lease produces (the Standard Webhooks header name).
DELIVERY_ID_HEADER = "Webhook-Id"
ORIGINAL_URL_HEADER = "X-Flux-Mock-Original-Url"  # with webhooks.redirect_to: where the API would have sent it


class WebhookDispatcher:
    """Delivers due webhooks in the background: exponential backoff, bounded attempts, every attempt journaled."""

    def __init__(self, deliveries, jobs: JobStore, clock: Clock, journal: Journal, *, max_attempts: int = 5,
                 backoff: float = 1.0, timeout: float = 5.0, concurrency: int = 16, refresh=None,
                 render=body_for, allowed_hosts: tuple[str, ...] = (), redirect_to: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, show_keys: bool = False) -> None:
        self.show_keys = show_keys  # the journal's attempts carry their job's key, masked as the mock masks keys
        self.transport = transport  # the client's transport (httpx's own network one unless a test passes one)
        self.allowed_hosts = allowed_hosts
        self.redirect_to = redirect_to  # every delivery goes to this one local receiver, the target in a header
        self.render = render  # (job, event) -> the body to POST: plan.body_for, unless a test breaks it
        self._refresh = refresh  # takes up the shared clock offset before each round
        self.deliveries = deliveries
        self.jobs = jobs
        self.clock = clock
        self.journal = journal
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        # A claimed delivery is its claimer's for this long; if that instance dies, another sends it after.
        self.lease = 2 * timeout + 1.0
        self._wake = asyncio.Event()
        self.concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)
        # Claimed here and not yet finished (waiting for a slot or for the job's earlier events, or being sent):
        # a round claims only as many as there are free slots, so nothing waits out its lease in a queue and is
        # claimed again while still here (it was: 2 to 5 POSTs of one delivery under load, ~40 s apart).
        self._claimed: set[str] = set()
        self._sending: set[asyncio.Task] = set()
        self._tails: dict[str, asyncio.Task] = {}
        self._client: httpx.AsyncClient | None = None
        self._runner: asyncio.Task | None = None
        self.unsaved = 0  # attempts whose outcome the store could not take (sent again after their lease)
        self.blocked_log = BlockedLog()

    def deliveries_for(self, job: Job) -> list[Delivery]:
        """The deliveries stored with a new job (JobListener): plan.deliveries_for under this mock's policy."""
        return deliveries_for(job, self.allowed_hosts, self.redirect_to)

    async def created(self, job: Job | None, deliveries: list[Delivery]) -> None:
        """After a job was stored with its deliveries: send the pending ones, report the blocked ones."""
        for delivery in deliveries:
            if delivery.state == "blocked":
                await self._blocked(delivery, job)
        if any(delivery.state == "pending" for delivery in deliveries):
            self.wake()

    async def scheduled(self, deliveries: list[Delivery]) -> None:
        """Deliveries of no stored job, each with its body (a replayed recording's), sent under this mock's
        policy as any other (idempotent: one per id)."""
        added = [delivery for delivery in policed(deliveries, self.allowed_hosts, self.redirect_to)
                 if await self.deliveries.add_if_absent(delivery)]
        if added:
            await self.created(None, added)

    async def changed(self, job: Job) -> None:
        """After a poll or an advance (JobListener): add every delivery of this job whose moment is known now
        (idempotent)."""
        added = [delivery for delivery in self.deliveries_for(job) if await self.deliveries.add_if_absent(delivery)]
        if added:
            await self.created(job, added)

    async def _blocked(self, delivery: Delivery, job: Job | None) -> None:
        """Journal a delivery that is never sent (each one: the journal is the record), and log it by target
        (BlockedLog: not one line per delivery); it is stored already, with its reason."""
        await self._record(delivery, job, None, delivery.last_error, note="blocked")
        target = masked_url(delivery.url)
        self.blocked_log.blocked(target, lambda: (
            f"webhook blocked: {delivery.id} to {target} ({delivery.last_error.removeprefix('blocked: ')}; add the "
            "host to the config's webhooks.allowed_hosts to deliver there)"))

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="flux-mock webhooks")

    def _sender(self) -> httpx.AsyncClient:
        """The client deliveries are sent with, made for the first one: making it loads httpx's transport and
        a TLS context, a tenth of a second that every start of a mock paid, most never sending a webhook."""
        if self._client is None:
            # Never through a proxy from the environment: the README's recipe for unchanged apps exports
            # HTTPS_PROXY pointing at the mock itself, and a proxy answering is not the target answering.
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False,
                                             transport=self.transport)
        return self._client

    async def _run(self) -> None:
        """Rounds until stopped. A round that fails (the store is down, say) is logged once per outage and
        tried again with backoff; the loop never ends on an error."""
        failing_since, backoff = None, 0.0
        while True:
            try:
                wait = await self._round()
                if failing_since is not None:
                    log.warning("webhook dispatcher: resumed after %.1f s", time.monotonic() - failing_since)
                failing_since, backoff = None, 0.0
            except Exception as error:  # noqa: BLE001 - the loop outlives every error; each outage is logged
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("webhook dispatcher: %s: %s; retrying with backoff", type(error).__name__, error)
                backoff = min(5.0, max(0.1, backoff * 2))
                wait = backoff
            self._wake.clear()
            try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation that stops the loop
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _round(self) -> float:
        """Claim what is due and send it; the seconds until the next round."""
        if self._refresh is not None:
            await self._refresh()
        by_job: dict[str, list[Delivery]] = {}
        free = self.concurrency - len(self._claimed)
        if free <= 0:
            return 1.0  # every slot taken: a send that ends wakes the next round
        claimed = await self.deliveries.claim_due(self.clock.now(), self.lease, free)
        for delivery in claimed:
            if delivery.id in self._claimed:  # its lease ran out while this instance still has it: not twice
                continue
            self._claimed.add(delivery.id)
            by_job.setdefault(delivery.request_id, []).append(delivery)
        for request_id, deliveries in by_job.items():
            self._send_after_earlier(request_id, sorted(deliveries, key=lambda d: d.due))
        next_due = await self.deliveries.next_due()
        return 1.0 if next_due is None else min(1.0, max(0.0, next_due - self.clock.now()))

    async def _post(self, url: str, body: dict, delivery_id: str) -> tuple[int | None, str | None]:
        """One POST (to redirect_to, if set, naming `url` in ORIGINAL_URL_HEADER); (status, None) on a 2xx,
        else (status or None, what went wrong). Never raises."""
        headers = {"User-Agent": "flux-mock-webhooks", DELIVERY_ID_HEADER: delivery_id}
        if self.redirect_to:
            url, headers[ORIGINAL_URL_HEADER] = self.redirect_to, url
        try:
            response = await self._sender().post(url, json=body, headers=headers)
        except httpx.TimeoutException:
            return None, "timed out"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
            return None, f"{type(error).__name__}: {error}"[:300] if str(error) else type(error).__name__
        except Exception as error:  # noqa: BLE001  a client library's own slip (httpcore on a socket closed as it
            # connects: AttributeError): still an attempt that failed, retried as any other, not a delivery lost
            return None, f"{type(error).__name__} in the HTTP client: {error}"[:300]
        return response.status_code, None if response.is_success else f"answered {response.status_code}"

    def _send_after_earlier(self, request_id: str, deliveries: list[Delivery]) -> None:
        """Send a job's deliveries one after another, after any of its deliveries still being sent:
        one job's events arrive in order; different jobs' go side by side."""
        earlier = self._tails.get(request_id)
        task = asyncio.create_task(self._attempt_in_order(earlier, deliveries))
        self._tails[request_id] = task
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        task.add_done_callback(functools.partial(self._forget_tail, request_id))

    def _forget_tail(self, request_id: str, task: asyncio.Task) -> None:
        if self._tails.get(request_id) is task:
            del self._tails[request_id]

    async def _attempt_in_order(self, earlier: asyncio.Task | None, deliveries: list[Delivery]) -> None:
        if earlier is not None:
            await asyncio.gather(earlier, return_exceptions=True)
        try:
            for delivery in deliveries:
                try:
                    await self._attempt(delivery)
                except StoreUnavailable:
                    # Sent or not, its result could not be saved: the delivery stays claimed until its lease ends,
                    # then it is sent again with the same Webhook-Id (at least once; receivers de-duplicate).
                    self.unsaved += 1
                    return
        finally:
            self._claimed.difference_update(delivery.id for delivery in deliveries)
            self.wake()  # a slot is free: the next round may claim

    async def _attempt(self, delivery: Delivery) -> None:
        async with self._limit:
            job = await self.jobs.get(delivery.request_id) if delivery.body is None else None
            if job is None and delivery.body is None:  # the job was reset away
                return
            body = self.render(job, delivery.event) if job is not None else delivery.body
            misbehave = job.webhook.misbehave if job is not None and job.webhook else {}
            delivery.attempts += 1
            status, error = await self._post(delivery.url, body, delivery.id)
            if delivery.attempts == 1 and misbehave.get("first_attempt_timeout") and error is None:
                status, error = None, "timed out (rule: first attempt times out)"
            await self._record(delivery, job, status, error)
            if error is None:
                delivery.state = "delivered"
                if misbehave.get("duplicate"):
                    status, duplicate_error = await self._post(delivery.url, body, delivery.id)
                    await self._record(delivery, job, status, duplicate_error, note="duplicate (rule)")
            elif delivery.attempts >= self.max_attempts:
                delivery.state = "failed"
            else:
                delivery.state = "pending"
                delivery.due = self.clock.now() + self.backoff * 2 ** (delivery.attempts - 1)
            delivery.last_error = error
            await self.deliveries.save(delivery)
            self.wake()

    async def _record(self, delivery: Delivery, job: Job | None, status: int | None, error: str | None,
                      note: str | None = None) -> None:
        now = self.clock.now()
        attempt = {"time": iso(now), "status": status, "error": error, **({"note": note} if note else {})}
        delivery.history.append(attempt)
        await self.journal.record(webhook_attempt(now, delivery.url, status, delivery.request_id, delivery.event,
                                                  delivery.attempts, error, note,
                                                  mask_key(clipped(job.key, SHORT_FIELD), self.show_keys)
                                                  if job is not None else None))

    async def stop(self, grace: float = 5.0) -> list[Delivery]:
        """Finish what is being sent and what is due within `grace` seconds; return what is left undelivered."""
        self.blocked_log.summarise()
        if self._runner is None:
            return [d for d in await self.deliveries.list() if d.state in ("pending", "sending")]
        deadline = asyncio.get_running_loop().time() + grace
        while asyncio.get_running_loop().time() < deadline:
            pending = [d for d in await self.deliveries.list() if d.state in ("pending", "sending")]
            due_soon = [d for d in pending if d.due <= self.clock.now() + (deadline - asyncio.get_running_loop().time())]
            if not due_soon and not self._sending:
                break
            await asyncio.sleep(0.05)
        self._runner.cancel()
        for task in list(self._sending):
            task.cancel()
        stopping = [self._runner, *self._sending]
        _, stuck = await asyncio.wait(stopping, timeout=max(1.0, grace))  # shutdown never hangs on a task
        if stuck:
            log.warning("webhook dispatcher: %d tasks did not stop within %.0f s; left behind", len(stuck), grace)
        if self._client is not None:
            await self._client.aclose()
        left = [d for d in await self.deliveries.list() if d.state in ("pending", "sending")]
        for delivery in left:
            log.warning("webhook not delivered: %s to %s (%d attempts, last error: %s)", delivery.id,
                        masked_url(delivery.url),
                        delivery.attempts, delivery.last_error)
        return left
