"""One handler per operation kind (x-flux-mock.kind in the spec); the spec says which kind each operation
is, and a named variant may change it. A handler reads the validated exchange and names, on it, the
job it made or reported, at the exchange's one moment `now`."""

import functools
import random
from typing import NamedTuple

from starlette.responses import HTMLResponse, Response

from mock_server import ids, media, views
from mock_server.exchange import Exchange
from mock_server.jobs import lifecycle
from mock_server.operations.evidence import media_base
from mock_server.responses import JSONBody
from mock_server.store.records import WEBHOOK_HEADER, Charge, Job, WebhookRequest

BATCH_WAIT_SECONDS = 60.0
PROMPT_KEPT = 2000  # characters of a prompt a job keeps (and echoes); its media digest uses all of it
BATCH_POLL_INTERVAL = 1.0
DEFAULT_ERRORS = {lifecycle.FAILED: "Generation failed", lifecycle.ERROR: "Internal error while processing the request"}


def _json(body: dict, status: int = 200) -> JSONBody:
    return JSONBody(body, status_code=status)


def _seed(params: dict, picked: random.Random) -> int:
    """The request's seed, or one the mock picks (from the server's --seed since its last reset)."""
    seed = params.get("seed")
    return int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else picked.randrange(2**31)


class Output(NamedTuple):
    """What a call produces and costs: the media plan, its price, and the digest its files are named by."""

    plan: media.MediaPlan
    price: float
    seed: int
    prompt: str
    digest: str  # the files' /media paths are media.urls(plan, digest): a sync call in its model's layout needs none


def _output(exchange: Exchange) -> Output:
    operation, params = exchange.operation, exchange.params
    plan = media.plan(params, operation.media, operation.media_format)
    seed, prompt = _seed(params, exchange.mock.picked_seeds), str(params.get("prompt", ""))
    media_digest = media.digest(operation.model_id or "", prompt, seed, params)
    return Output(plan, operation.pricing.price(plan.width, plan.height), seed, prompt, media_digest)


def _webhook(exchange: Exchange) -> WebhookRequest | None:
    """Where and how this job's webhook goes, if the request asked for one the operation documents."""
    header = exchange.headers.get(WEBHOOK_HEADER.lower()) if exchange.validator.accepts_webhook_header else None
    return WebhookRequest.of(header, exchange.params, exchange.base, exchange.outcome.webhook)


async def _new_job(exchange: Exchange, request_id: str,
                   webhook: WebhookRequest | None = None) -> tuple[Job, Charge | None]:
    """A job for this call (outcome from the rule, media planned and priced) and what it charges: a
    job ending in ERROR is not charged, but needs a wallet that could pay."""
    op, outcome, wallets = exchange.operation, exchange.outcome.job or lifecycle.COMPLETED, exchange.mock.wallets
    plan, price, seed, prompt, media_digest = _output(exchange)
    charge = None if outcome == lifecycle.ERROR else wallets.charge_of(exchange.key, price)
    if charge is None:
        await wallets.ensure(exchange.key, price)
    job = Job(
        request_id=request_id, operation_id=op.operation_id, model_id=op.model_id or "", key=exchange.key,
        created_at=exchange.now, outcome=outcome,
        error=exchange.outcome.error or DEFAULT_ERRORS.get(outcome) if outcome != lifecycle.COMPLETED else None,
        media=media.urls(plan, media_digest), media_type=plan.media_type,
        details={"prompt": prompt[:PROMPT_KEPT], "prompt_length": len(prompt), "seed": seed, "width": plan.width,
                 "height": plan.height},
        charged_micros=charge.amount if charge else 0, webhook=webhook,
    )
    return job, charge


async def _submit(exchange: Exchange, request_id: str, webhook: WebhookRequest | None = None,
                  instant: bool = False) -> Job:
    job = await exchange.mock.jobs.submit(*await _new_job(exchange, request_id, webhook), instant=instant)
    exchange.request_id, exchange.webhook = job.request_id, webhook is not None
    exchange.job_status = lifecycle.status_at(job, exchange.now)
    exchange.facts = functools.partial(views.facts, job, exchange.base)
    return job


async def _generated_now(exchange: Exchange) -> Output:
    """A sync call's image, charged, after the sync latency; its facts noted."""
    output, mock = _output(exchange), exchange.mock
    await mock.wallets.charge(exchange.key, output.price)
    wait = mock.sync_wait(output.prompt)
    if wait:
        await exchange.wait_for_client(wait, mock.timing.speed)
    exchange.facts = {"model_id": exchange.operation.model_id, "media_url": [_sync_media_url(exchange, output)],
                      "media_type": output.plan.media_type, "media_width": output.plan.width,
                      "media_height": output.plan.height}
    return output


def _sync_media_url(exchange: Exchange, output: Output) -> str:
    """The sync call's file in its model's layout (x-flux-mock media_layout), on the media host when the answer
    is given as the gateway."""
    layout, plan = exchange.operation.media_layout, output.plan
    path = media.sync_media_path(layout, output.digest, plan.sizes[0], plan.extension, exchange.now) \
        if layout and not plan.is_weights else media.urls(plan, output.digest)[0]
    return media_base(exchange.base) + path


async def sync(exchange: Exchange) -> JSONBody:
    await _generated_now(exchange)
    return _json({"output": exchange.known_facts()["media_url"][0]})


async def sync_success_flag(exchange: Exchange) -> JSONBody:
    """getData as page 000's status table prints its 200: `{"success": true, ...}`, no image URL (variant
    success-flag)."""
    await _generated_now(exchange)
    return _json({"success": True})


async def sync_job(exchange: Exchange) -> JSONBody:
    """A sync endpoint answering that the image is being created, with an id to poll (page 001's 200)."""
    job = await _submit(exchange, ids.batch_request_id())
    return _json(views.image_getting_created_body(job))


async def queue(exchange: Exchange) -> JSONBody:
    job = await _submit(exchange, ids.queue_request_id(exchange.operation.model_id, exchange.now), _webhook(exchange))
    waits_for = exchange.operation.waits_for
    if waits_for and exchange.params.get(waits_for) is True:
        job = await _wait_for_result(exchange, job)
        exchange.job_status = lifecycle.status_at(job, exchange.now)
        if lifecycle.is_final(job, exchange.now):
            return _json(views.status_body(job, exchange.now, exchange.base))
    return _json(views.queued_body(job, exchange.base), 202)


async def instant_job(exchange: Exchange) -> JSONBody:
    """A job finished as it is answered (an undocumented preview route public clients use): its status body."""
    job = await _submit(exchange, ids.queue_request_id(exchange.operation.model_id, exchange.now), instant=True)
    return _json(views.status_body(job, exchange.now, exchange.base))


async def poll_submit(exchange: Exchange) -> JSONBody:
    job = await _submit(exchange, ids.queue_request_id(exchange.operation.model_id, exchange.now))
    return _json({"request_id": job.request_id})


async def _wait_for_result(exchange: Exchange, job: Job) -> Job:
    """The job once final, or after 60 seconds: Schnell Batch without webhook_url (the API polls internally
    for up to 60 seconds), and a queue submit whose `waits_for` field is true (Ultra's sync_mode). The wait
    follows the job's timing: by the clock, until its final time; per poll, polls without pausing (each one
    moves it on); manual, none at all (only the admin API moves it: the answer says to poll)."""
    jobs, clock = exchange.mock.jobs, exchange.mock.clock
    deadline = clock.now() + BATCH_WAIT_SECONDS
    while job.mode != "manual" and not lifecycle.is_final(job, clock.now()) and clock.now() < deadline:
        if job.mode == "time":
            finish = lifecycle.final_time(job)
            wait = BATCH_POLL_INTERVAL if finish is None else finish - clock.now()
            await clock.sleep(max(0.0, min(wait, BATCH_POLL_INTERVAL, deadline - clock.now())))
        job = await jobs.poll(job.request_id, job.key, clock.now())
    exchange.tick()
    return job


async def batch_submit(exchange: Exchange) -> JSONBody:
    webhook = _webhook(exchange)
    job = await _submit(exchange, ids.batch_request_id(), webhook)
    if webhook:
        return _json(views.batch_queued_body(job, views.BATCH_WEBHOOK_MESSAGE), 202)
    job = await _wait_for_result(exchange, job)
    exchange.job_status = lifecycle.status_at(job, exchange.now)
    if lifecycle.is_final(job, exchange.now):
        return _json(views.batch_body(job, exchange.now, exchange.base))
    return _json(views.batch_queued_body(job, views.BATCH_POLL_MESSAGE), 202)


async def _polled(exchange: Exchange, request_id: str) -> Job:
    """One status poll, named on the exchange with the status it reports."""
    exchange.request_id = request_id
    job = await exchange.mock.jobs.poll(request_id, exchange.key, exchange.now)
    exchange.job_status = lifecycle.status_at(job, exchange.now)
    exchange.facts = functools.partial(views.facts, job, exchange.base)
    return job


async def status(exchange: Exchange) -> JSONBody:
    job = await _polled(exchange, exchange.path_params["request_id"])
    return _json(views.status_body(job, exchange.now, exchange.base))


async def batch_status(exchange: Exchange) -> JSONBody:
    job = await _polled(exchange, exchange.params["requestId"])  # required by the spec: validated before
    return _json(views.batch_body(job, exchange.now, exchange.base))


async def _polled_by_body(exchange: Exchange) -> Job:
    params = exchange.params  # the spec requires one of the two: validated before
    return await _polled(exchange, params["request_id"] if "request_id" in params else params["requestId"])


async def poll_status(exchange: Exchange) -> JSONBody:
    return _json(views.fal_body(await _polled_by_body(exchange), exchange.now, exchange.base))


async def poll_status_queue(exchange: Exchange) -> JSONBody:
    """An older polling API answered with the queue API's status body (getFluxDevStatus's flux-dev-status)."""
    return _json(views.status_body(await _polled_by_body(exchange), exchange.now, exchange.base))


CHALLENGE_PAGE = ('<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta http-equiv="refresh" '
                  'content="390"></head><body><h1>gateway.pixazo.ai</h1><p>Enable JavaScript and cookies to continue'
                  '</p></body></html>')


async def challenge(exchange: Exchange) -> Response:
    """The Cloudflare challenge some apps meet on the status endpoint (a named variant; see the spec)."""
    return HTMLResponse(CHALLENGE_PAGE, status_code=403, headers={"cf-mitigated": "challenge",
                                                                  "Cache-Control": "private, max-age=0, no-store"})


HANDLERS = {
    "sync": sync, "sync-success-flag": sync_success_flag, "sync-job": sync_job, "queue": queue,
    "poll-submit": poll_submit, "batch-submit": batch_submit,
    "status": status, "batch-status": batch_status, "poll-status": poll_status,
    "poll-status-queue": poll_status_queue, "instant-job": instant_job,
    "challenge": challenge,
}
