"""Webhooks: which events a job sends where (pure), which targets are allowed, and the dispatcher
that delivers them in the background with retries, journaling every attempt.

Forms (spec: webhooks jobStatus, kontextEvent, schnellBatchResult):
  X-Webhook-URL header  the status body, once the job is final
  webhook_url (batch)   the checkStatus body, once the job is final
  webhook (Kontext)     the status body at each event webhook_events_filter selects
"""

import asyncio
import functools
import ipaddress
import logging
from urllib.parse import urlsplit

import httpx

from mock_server import views
from mock_server.clock import Clock, iso
from mock_server.jobs.delivery import Delivery
from mock_server.jobs.lifecycle import Job
from mock_server.journal import Journal
from mock_server.store.base import JobStore

log = logging.getLogger("flux_mock.webhooks")
WEBHOOK_BODY_FIELDS = ("webhook_url", "webhook")
WEBHOOK_HEADER = "X-Webhook-URL"


def is_allowed_target(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """http(s) only; loopback addresses and `localhost` always, other hosts only if listed (a name, a
    `*.suffix` or a CIDR). Names are never resolved, so a listed name cannot be turned into another host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    for allowed in allowed_hosts:
        allowed = allowed.lower()
        if address is not None and "/" in allowed:
            try:
                if address in ipaddress.ip_network(allowed, strict=False):
                    return True
            except ValueError:
                continue
        elif allowed.startswith("*.") and host.endswith(allowed[1:]):
            return True
        elif host == allowed:
            return True
    return False


def _event_times(job: Job) -> list[tuple[str, float | None]]:
    return [("queued", job.created_at), ("processing", job.transitions[0]), (job.outcome.lower(), job.transitions[1])]


def planned_events(job: Job) -> list[tuple[str, float]]:
    """(event, due time) of every delivery this job asks for whose moment is known; in delivery order."""
    webhook = job.webhook or {}
    if not webhook:
        return []
    events = _event_times(job)
    if webhook.get("form") == "webhook":
        wanted = set(webhook.get("events") or ())
        events = [(name, moment) for name, moment in events if name in wanted]
    else:
        events = events[-1:]
    misbehave = webhook.get("misbehave") or {}
    delay = float(misbehave.get("delay", 0))
    known = [(name, moment + delay) for name, moment in events if moment is not None]
    if misbehave.get("out_of_order") and job.transitions[1] is not None:
        final = job.transitions[1] + delay
        known = [(name, final + 0.001 * rank) for rank, (name, _) in enumerate(reversed(known))]
    return known


def body_for(job: Job, event: str) -> dict:
    """What the webhook POSTs for this event: the answer a poll gives at that moment."""
    base = job.webhook.get("base", "")
    moment = dict(_event_times(job))[event]
    if job.webhook.get("form") == "webhook_url":
        return views.batch_body(job, moment, base)
    return views.status_body(job, moment, base)


class WebhookDispatcher:
    """Delivers due webhooks in the background: exponential backoff, bounded attempts, every attempt journaled."""

    def __init__(self, deliveries, jobs: JobStore, clock: Clock, journal: Journal, *, max_attempts: int = 5,
                 backoff: float = 1.0, timeout: float = 5.0, concurrency: int = 16, refresh=None) -> None:
        self._refresh = refresh  # takes up the shared clock offset before each round
        self.deliveries = deliveries
        self.jobs = jobs
        self.clock = clock
        self.journal = journal
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._sending: set[asyncio.Task] = set()
        self._tails: dict[str, asyncio.Task] = {}
        self._client: httpx.AsyncClient | None = None
        self._runner: asyncio.Task | None = None

    async def plan(self, job: Job) -> None:
        """Schedule every delivery of this job whose moment is now known (idempotent)."""
        added = False
        for event, due in planned_events(job):
            added |= await self.deliveries.add_if_absent(Delivery(job.request_id, event, job.webhook["url"], due))
        if added:
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._runner = asyncio.create_task(self._run(), name="flux-mock webhooks")

    async def _run(self) -> None:
        while True:
            if self._refresh is not None:
                await self._refresh()
            by_job: dict[str, list[Delivery]] = {}
            for delivery in await self.deliveries.claim_due(self.clock.now()):
                by_job.setdefault(delivery.request_id, []).append(delivery)
            for request_id, deliveries in by_job.items():
                self._send_after_earlier(request_id, sorted(deliveries, key=lambda d: d.due))
            next_due = await self.deliveries.next_due()
            wait = 1.0 if next_due is None else min(1.0, max(0.0, next_due - self.clock.now()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def _post(self, url: str, body: dict) -> tuple[int | None, str | None]:
        try:
            response = await self._client.post(url, json=body, headers={"User-Agent": "flux-mock-webhooks"})
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
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
        for delivery in deliveries:
            await self._attempt(delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        async with self._limit:
            job = await self.jobs.get(delivery.request_id)
            if job is None:  # the job was reset away
                return
            body = body_for(job, delivery.event)
            misbehave = (job.webhook or {}).get("misbehave") or {}
            delivery.attempts += 1
            status, error = await self._post(delivery.url, body)
            if delivery.attempts == 1 and misbehave.get("first_attempt_timeout") and error is None:
                status, error = None, "timed out (scenario: first attempt times out)"
            await self._record(delivery, status, error)
            if error is None:
                delivery.state = "delivered"
                if misbehave.get("duplicate"):
                    status, duplicate_error = await self._post(delivery.url, body)
                    await self._record(delivery, status, duplicate_error, note="duplicate (scenario)")
            elif delivery.attempts >= self.max_attempts:
                delivery.state = "failed"
            else:
                delivery.state = "pending"
                delivery.due = self.clock.now() + self.backoff * 2 ** (delivery.attempts - 1)
            delivery.last_error = error
            await self.deliveries.save(delivery)
            self.wake()

    async def _record(self, delivery: Delivery, status: int | None, error: str | None, note: str | None = None) -> None:
        now = self.clock.now()
        attempt = {"time": iso(now), "status": status, "error": error, **({"note": note} if note else {})}
        delivery.history.append(attempt)
        await self.journal.record({"kind": "webhook", "epoch": now, "method": "POST", "path": delivery.url,
                             "status": status or 0, "request_id": delivery.request_id, "event": delivery.event,
                             "attempt": delivery.attempts, "error": error, "note": note, "violations": []})

    async def stop(self, grace: float = 5.0) -> list[Delivery]:
        """Finish what is being sent and what is due within `grace` seconds; return what is left undelivered."""
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
        await asyncio.gather(self._runner, *self._sending, return_exceptions=True)
        await self._client.aclose()
        left = [d for d in await self.deliveries.list() if d.state in ("pending", "sending")]
        for delivery in left:
            log.warning("webhook not delivered: %s to %s (%d attempts, last error: %s)", delivery.id, delivery.url,
                        delivery.attempts, delivery.last_error)
        return left
