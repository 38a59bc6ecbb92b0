"""The answer bodies, as the pages document them, built from a job at a moment."""

from mock_server import media
from mock_server.clock import iso
from mock_server.jobs import lifecycle
from mock_server.operations.evidence import media_base
from mock_server.store.records import COMPLETED, Job

BATCH_WEBHOOK_MESSAGE = "Request queued. Result will be sent to the provided webhook URL."
BATCH_POLL_MESSAGE = "Request queued. Poll /checkStatus for the result."
IMAGE_GETTING_CREATED = "Image Getting Created"


def media_urls(job: Job, base: str) -> list[str]:
    """A job's media URLs in the gateway's layout (/v1/{request_id}/output.{ext}), on its media host when the
    answer is given as the gateway."""
    origin = media_base(base)
    return [origin + media.job_media_path(job.request_id, index, path) for index, path in enumerate(job.media)]


def polling_url(job: Job, base: str) -> str:
    return f"{base}/v2/requests/status/{job.request_id}"


def queued_body(job: Job, base: str) -> dict:
    return {"request_id": job.request_id, "status": "QUEUED", "polling_url": polling_url(job, base)}


def facts(job: Job, base: str) -> dict:
    """What a generated answer about this job must keep true (the spec's x-flux-mock-fact), and when the job was
    created (its answers' times start there)."""
    return {"request_id": job.request_id, "model_id": job.model_id, "media_url": media_urls(job, base),
            "polling_url": polling_url(job, base), "created_at": job.created_at, "media_type": job.media_type,
            "media_width": job.details.get("width"), "media_height": job.details.get("height")}


def status_body(job: Job, now: float, base: str) -> dict:
    """GET /v2/requests/status/{id}, and the webhook body."""
    status = lifecycle.status_at(job, now)
    output = {"media_url": media_urls(job, base), "media_type": job.media_type} if status == COMPLETED else None
    return {
        "request_id": job.request_id,
        "status": status,
        "model_id": job.model_id,
        "error": job.error if status in (lifecycle.FAILED, lifecycle.ERROR) else None,
        "output": output,
        "created_at": iso(job.created_at),
        "updated_at": iso(lifecycle.updated_at(job, now)),
        "completed_at": iso(lifecycle.completed_at(job, now)),
    }


def image_getting_created_body(job: Job) -> dict:
    """getData's page-001 answer: the image is being made; poll checkStatus with the requestId."""
    return {"msg": IMAGE_GETTING_CREATED, "requestId": job.request_id}


def batch_queued_body(job: Job, message: str) -> dict:
    return {"requestId": job.request_id, "status": "queued", "message": message, "pollingEndpoint": "/checkStatus",
            "pollingInstructions": f'POST to /checkStatus with {{"requestId": "{job.request_id}"}}'}


def batch_body(job: Job, now: float, base: str) -> dict:
    """Schnell Batch's checkStatus body: lower-case statuses, camelCase, epoch milliseconds."""
    status = lifecycle.status_at(job, now)
    body = {"requestId": job.request_id, "status": "failed" if status == lifecycle.ERROR else status.lower()}
    if status == COMPLETED:
        body["output"] = media_urls(job, base)[0]
        body["completedAt"] = int(lifecycle.completed_at(job, now) * 1000)
    elif status in (lifecycle.FAILED, lifecycle.ERROR):
        body["error"] = job.error
    return body


def fal_body(job: Job, now: float, base: str) -> dict:
    """The older polling APIs' answer: fal-style once COMPLETED, else {request_id, status[, error]}."""
    status = lifecycle.status_at(job, now)
    if status != COMPLETED:
        body = {"request_id": job.request_id, "status": status}
        return {**body, "error": job.error} if status in (lifecycle.FAILED, lifecycle.ERROR) else body
    width, height = job.details.get("width"), job.details.get("height")
    images = [{"url": url, "width": width, "height": height, "content_type": job.media_type}
              for url in media_urls(job, base)]
    started, finished = job.transitions
    return {"images": images, "timings": {"inference": round(finished - (started or finished), 3)},
            "seed": job.details.get("seed"),
            "has_nsfw_concepts": [False] * len(images), "prompt": job.details.get("prompt", "")}
