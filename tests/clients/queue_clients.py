"""Sample queue-API clients for fuzz_client: one robust, three with a real-world bug each that only a
spec-valid answer exposes. Each submits a FLUX Dev job, polls its polling_url until a final status and
downloads the image, as most apps do; `poll_interval` is 0 so a test runs at full speed."""

import time
from datetime import datetime

import httpx

SUBMIT = "/flux-dev/v1/dev/textToImage"
FINAL = ("COMPLETED", "FAILED", "ERROR")


class GenerationFailed(Exception):
    """The client's own clean error: the job failed, or its answer held no usable image."""


class RobustClient:
    max_polls = 30

    def __init__(self, base_url: str, key: str = "test-key", poll_interval: float = 0.0) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Ocp-Apim-Subscription-Key": key}, timeout=30)
        self.poll_interval = poll_interval
        self.previous: str | None = None

    def generate(self, prompt: str) -> bytes:
        submitted = self.http.post(SUBMIT, json={"prompt": prompt})
        submitted.raise_for_status()
        job = submitted.json()
        self.previous = job.get("status")
        for _ in range(self.max_polls):
            body = self.http.get(job["polling_url"]).json()
            self.saw(body.get("status"))
            if body.get("status") in FINAL:
                return self.finished(body)
            time.sleep(self.poll_interval)
        raise GenerationFailed(f"not final after {self.max_polls} polls")

    def saw(self, status: str | None) -> None:
        self.previous = status

    def finished(self, body: dict) -> bytes:
        if body["status"] != "COMPLETED":
            raise GenerationFailed(body.get("error") or body["status"])
        urls = (body.get("output") or {}).get("media_url") or []
        if not urls:
            raise GenerationFailed("COMPLETED without media")
        return self.download(urls[0])

    def download(self, url: str) -> bytes:
        image = self.http.get(url)
        image.raise_for_status()
        if not image.content:
            raise GenerationFailed(f"empty media at {url}")
        return image.content


class MediaOnAnyFinalClient(RobustClient):
    """Bug: takes `output.media_url[0]` once the job is final, FAILED or ERROR too (output is null then)."""

    def finished(self, body: dict) -> bytes:
        return self.download(body["output"]["media_url"][0])


class CompletedAtClient(RobustClient):
    """Bug: logs how long the job took, assuming `completed_at` is always there and never null."""

    def finished(self, body: dict) -> bytes:
        if body["status"] == "COMPLETED":
            self.finished_at = datetime.fromisoformat(body["completed_at"])
        return super().finished(body)


class StrictFlowClient(RobustClient):
    """Bug: a progress display that assumes PROCESSING always follows QUEUED (the flow may skip it)."""

    def saw(self, status: str | None) -> None:
        if self.previous == "QUEUED" and status not in ("QUEUED", "PROCESSING"):
            raise AssertionError(f"unexpected transition QUEUED -> {status}")
        self.previous = status
