"""One handler per operation kind (x-flux-mock.kind in the spec); the spec says which kind each operation is."""

import random
from dataclasses import dataclass
from typing import NamedTuple

from starlette.requests import Request

from mock_server import ids, media, views
from mock_server.jobs import lifecycle
from mock_server.jobs.lifecycle import Job
from mock_server.responses import JSONBody
from mock_server.spec import Operation
from mock_server.state import MockState

BATCH_WAIT_SECONDS = 60.0
BATCH_POLL_INTERVAL = 1.0
DEFAULT_ERRORS = {lifecycle.FAILED: "Generation failed", lifecycle.ERROR: "Internal error while processing the request"}


@dataclass
class Call:
    """One request on its way through a handler."""

    operation: Operation
    request: Request
    state: MockState
    key: str
    params: dict
    outcome: dict
    variant: str | None = None

    @property
    def base(self) -> str:
        return self.state.base_url(self.request)

    @property
    def now(self) -> float:
        return self.state.clock.now()


def _remember(call: Call, job: Job) -> Job:
    """Name the job in this request's journal entry."""
    call.request.scope["state"]["request_id"] = job.request_id
    return job


def _json(body: dict, status: int = 200) -> JSONBody:
    return JSONBody(body, status_code=status)


def _seed(params: dict) -> int:
    seed = params.get("seed")
    return int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else random.randrange(2**31)


class Output(NamedTuple):
    """What a call produces and costs: the media plan, its price, and the files' paths."""

    plan: media.MediaPlan
    price: float
    seed: int
    prompt: str
    paths: tuple[str, ...]


def _output(call: Call) -> Output:
    plan = media.plan(call.params, call.operation.media)
    seed, prompt = _seed(call.params), str(call.params.get("prompt", ""))
    paths = media.urls(plan, media.digest(call.operation.model_id or "", prompt, seed))
    return Output(plan, call.operation.pricing.price(plan.width, plan.height), seed, prompt, paths)


async def _job(call: Call, request_id: str, webhook: dict | None = None) -> Job:
    """A new job for this call: outcome from the scenario, media planned and priced, wallet charged."""
    op = call.operation
    outcome = call.outcome.get("job", lifecycle.COMPLETED)
    plan, price, seed, prompt, paths = _output(call)
    wallets = call.state.wallets
    charged = await (wallets.ensure(call.key, price) if outcome == lifecycle.ERROR else wallets.charge(call.key, price))
    return Job(
        request_id=request_id, operation_id=op.operation_id, model_id=op.model_id or "", key=call.key,
        created_at=call.now, outcome=outcome,
        error=call.outcome.get("error", DEFAULT_ERRORS.get(outcome)) if outcome != lifecycle.COMPLETED else None,
        media=paths, media_type=plan.media_type,
        details={"prompt": prompt, "seed": seed, "width": plan.width, "height": plan.height},
        charged_micros=0 if outcome == lifecycle.ERROR else charged, webhook=webhook,
    )


async def sync(call: Call) -> JSONBody:
    if call.variant == "getdata-job":
        job = _remember(call, await call.state.jobs.submit(await _job(call, ids.batch_request_id())))
        return _json({"msg": "Image Getting Created", "requestId": job.request_id})
    output = _output(call)
    await call.state.wallets.charge(call.key, output.price)
    if call.state.timing.sync_latency:
        await call.state.clock.sleep(call.state.timing.sync_latency)
    return _json({"output": call.base + output.paths[0]})


def _webhook(call: Call) -> dict | None:
    """Where and how this job's webhook goes, if the request asked for one."""
    header = call.request.headers.get("x-webhook-url")
    if header:
        found = {"url": header, "form": "X-Webhook-URL"}
    elif call.params.get("webhook"):
        found = {"url": call.params["webhook"], "form": "webhook",
                 "events": call.params.get("webhook_events_filter") or ["completed", "failed", "error"]}
    elif call.params.get("webhook_url"):
        found = {"url": call.params["webhook_url"], "form": "webhook_url"}
    else:
        return None
    return {**found, "base": call.base, "misbehave": call.outcome.get("webhook") or {}}


async def queue(call: Call) -> JSONBody:
    request_id = ids.queue_request_id(call.operation.model_id, call.now)
    job = _remember(call, await call.state.jobs.submit(await _job(call, request_id, _webhook(call))))
    return _json(views.queued_body(job, call.base), 202)


async def poll_submit(call: Call) -> JSONBody:
    request_id = ids.queue_request_id(call.operation.model_id, call.now)
    job = _remember(call, await call.state.jobs.submit(await _job(call, request_id)))
    return _json({"request_id": job.request_id})


async def _wait_for_result(call: Call, job: Job) -> Job:
    """Schnell Batch without webhook_url: the API polls internally for up to 60 seconds."""
    jobs, clock = call.state.jobs, call.state.clock
    deadline = clock.now() + BATCH_WAIT_SECONDS
    while not lifecycle.is_final(job, clock.now()) and clock.now() < deadline:
        finish = lifecycle.final_time(job)
        wait = BATCH_POLL_INTERVAL if finish is None else finish - clock.now()
        await clock.sleep(max(0.0, min(wait, BATCH_POLL_INTERVAL, deadline - clock.now())))
        job = await jobs.poll(job.request_id, job.key)
    return job


async def batch_submit(call: Call) -> JSONBody:
    webhook = _webhook(call)
    job = _remember(call, await call.state.jobs.submit(await _job(call, ids.batch_request_id(), webhook)))
    if webhook:
        return _json(views.batch_queued_body(job, views.BATCH_WEBHOOK_MESSAGE), 202)
    job = await _wait_for_result(call, job)
    if lifecycle.is_final(job, call.now):
        return _json(views.batch_body(job, call.now, call.base))
    return _json(views.batch_queued_body(job, views.BATCH_POLL_MESSAGE), 202)


async def _polled(call: Call, request_id: str) -> Job:
    """One status poll, named in the journal with the status it reported."""
    call.request.scope["state"]["request_id"] = request_id
    job = await call.state.jobs.poll(request_id, call.key)
    call.request.scope["state"]["job_status"] = lifecycle.status_at(job, call.now)
    return job


async def status(call: Call) -> JSONBody:
    job = await _polled(call, call.request.path_params["request_id"])
    return _json(views.status_body(job, call.now, call.base))


async def batch_status(call: Call) -> JSONBody:
    job = await _polled(call, call.params["requestId"])  # required by the spec: validated before
    return _json(views.batch_body(job, call.now, call.base))


async def poll_status(call: Call) -> JSONBody:
    job = await _polled(call, call.params["request_id"])
    return _json(views.fal_body(job, call.now, call.base))


HANDLERS = {
    "sync": sync, "queue": queue, "poll-submit": poll_submit, "batch-submit": batch_submit,
    "status": status, "batch-status": batch_status, "poll-status": poll_status,
}
