"""A deliberately broken flux-mock: each model's answers break the contract in one way, so one `check`
and one `drift` run against it must name every breach. The admin API stays visible, so the kit treats it
as flux-mock (webhooks redirected to its receiver, jobs made fast) and its webhook bodies can be broken.

    model / path                         breach
    flux-pro                             status goes backwards: PROCESSING, then QUEUED
    flux-dev                             a final status changes: COMPLETED, then FAILED
    flux-fill-dev                        COMPLETED without media
    flux-2-pro-text-to-image-799         media answering 404
    flux-kontext-restore-image           error set on COMPLETED, and a media URL whose bytes are no image
    flux-pro-1-1                         completed_at before created_at
    flux-2-pro-text-to-image-trainer-712 a job that never ends (PROCESSING for ever)
    flux-general (getStatus)             seed of the wrong type, and an image whose size is not the answer's
    flux-pro legacy (getFluxProStatus)   a finished result with no images
    Schnell Batch (checkStatus)          completed without output
    /flux-1-schnell/v1/getData           an undocumented status code (201)
    /flux-2-klein-4b/v1/generateImage    a wrong content type (text/plain)
    flux-2-pro-image-to-image-866        a webhook body that differs from the final status
    flux-pro-1-1                         (also) media served as PNG while the answer says image/webp

And what is no breach, which the kit must not fail (it notes it):
    /generateT2I                         429 without Retry-After (the spec assumes it; no page documents it)
    the image-to-image LoRA trainer      a submit answered 402 with the pages' body (documented: no job to follow)
    flux-preview                         a media URL whose bytes are no image (an endpoint on no page)
    flux-dev polling (getFluxDevStatus)  an image whose size is not the answer's (an endpoint on no page)
"""

from collections import Counter
from urllib.parse import urlsplit

from mock_server.app import create_app
from mock_server.settings import KeyConfig, Settings
from mock_server.webhooks.plan import body_for
from tests.support.foreign_server import Rewriting

KEY = "contract-test-key"
STATUS = "/v2/requests/status/"


def _origin(url: str) -> str:
    """scheme://host[:port] of a media URL (whatever its path's layout)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _model(path: str) -> str:
    return path.removeprefix(STATUS).rsplit("_", 1)[0]


class Breaches:
    """rewrite(path, status, body) for Rewriting: the breaches above, by model and path."""

    def __init__(self) -> None:
        self.polls: Counter = Counter()
        self.final_seen: set[str] = set()

    def __call__(self, path: str, status: int, body):
        if path == "/flux-1-schnell/v1/getData" and status == 200:
            return 201, body
        if path == "/flux-2-klein-4b/v1/generateImage" and status == 200:
            return status, body, {"Content-Type": "text/plain"}
        if path.startswith("/flux-2-pro-image-to-image-trainer-831/") and status == 202:
            return 402, {"error": "Insufficient Balance", "message": "Your wallet does not have enough balance."}
        if path == "/generateT2I" and status == 200:
            return 429, {"error": "Rate limit exceeded, please retry later"}
        if path == "/flux-general-polling/flux-general/getStatus" and isinstance(body, dict) and body.get("images"):
            return status, {**_wider(body), "seed": "not-a-number"}
        if path == "/flux-dev-polling/dev/getFluxDevStatus" and isinstance(body, dict) and body.get("images"):
            return status, _wider(body)
        if path == "/flux-pro-polling/pro/getFluxProStatus" and isinstance(body, dict) and "images" in body:
            return status, {**body, "images": []}
        if path == "/flux-1-schnell/v1/checkStatus" and isinstance(body, dict) and body.get("status") == "completed":
            return status, {key: value for key, value in body.items() if key != "output"}
        if path.startswith(STATUS) and status == 200 and isinstance(body, dict):
            return status, self._status(_model(path), path, body)
        return status, body

    def _status(self, model: str, path: str, body: dict) -> dict:
        completed = body.get("status") == "COMPLETED"
        self.polls[path] += 1
        if model == "flux-pro" and self.polls[path] <= 2:
            pending = "PROCESSING" if self.polls[path] == 1 else "QUEUED"
            return {**body, "status": pending, "output": None, "error": None, "completed_at": None}
        if model == "flux-dev" and completed:
            if path in self.final_seen:
                return {**body, "status": "FAILED", "output": None, "error": "changed its mind"}
            self.final_seen.add(path)
        if model == "flux-fill-dev" and completed:
            return {**body, "output": None}
        if model == "flux-2-pro-text-to-image-799" and completed:
            base = _origin(body["output"]["media_url"][0])
            return {**body, "output": {**body["output"], "media_url": [f"{base}/media/nothing-here.png"]}}
        if model == "flux-kontext-restore-image" and completed:
            base = _origin(body["output"]["media_url"][0])
            return {**body, "error": "boom", "output": {**body["output"], "media_url": [f"{base}/openapi/flux.yaml"]}}
        if model == "flux-2-pro-text-to-image-trainer-712" and completed:
            return {**body, "status": "PROCESSING", "output": None, "completed_at": None}
        if model == "flux-pro-1-1" and completed:
            return {**body, "completed_at": "2000-01-01T00:00:00.000Z",
                    "output": {**body["output"], "media_type": "image/webp"}}
        if model == "flux-preview" and completed:
            base = _origin(body["output"]["media_url"][0])
            return {**body, "output": {**body["output"], "media_url": [f"{base}/openapi/flux.yaml"]}}
        return body


def _wider(body: dict) -> dict:
    """A fal-style result whose first image says it is twice as wide as it is."""
    image = body["images"][0]
    return {**body, "images": [{**image, "width": image["width"] * 2}, *body["images"][1:]]}


def broken_webhook_body(job, event):
    body = body_for(job, event)
    if job.model_id == "flux-2-pro-image-to-image-866":
        return {**body, "model_id": "someone-else"}
    return body


def broken_app():
    """The broken server's ASGI app and its mock state."""
    app = create_app(Settings(keys={KEY: KeyConfig(balance=1_000_000)}))
    app.mock.webhooks.render = broken_webhook_body
    return Rewriting(app, Breaches(), hide_admin=False), app.mock
