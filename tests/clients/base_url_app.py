"""An app configured by base URL (FLUX_BASE_URL), httpx with its defaults (Accept-Encoding: gzip, deflate,
br...): it submits a Flux Dev job, polls the polling_url it is given until the job ends and downloads the media
the answer names, printing each answer as a JSON line (`submit`, `poll`, `image`). Knows nothing of
flux-mock."""
import json
import os
import time

import httpx

KEY = {"Ocp-Apim-Subscription-Key": os.environ["APP_KEY"]}


def say(kind: str, value) -> None:
    print(json.dumps({"kind": kind, "value": value}), flush=True)


with httpx.Client(base_url=os.environ["FLUX_BASE_URL"], timeout=30) as client:
    body = {"prompt": "a lighthouse at dusk", "image_size": "square"}
    headers = {**KEY, **({"X-Webhook-URL": os.environ["APP_WEBHOOK"]} if os.environ.get("APP_WEBHOOK") else {})}
    job = client.post("/flux-dev/v1/dev/textToImage", headers=headers, json=body).json()
    say("submit", job)
    for _ in range(300):
        status = client.get(job["polling_url"], headers=KEY).json()
        say("poll", status)
        if status["status"] in ("COMPLETED", "FAILED", "ERROR"):
            break
        time.sleep(0.05)
    output = status.get("output") or {}
    for url in output.get("media_url") or output.get("media_urls") or []:
        image = client.get(url)
        say("image", {"url": url, "status": image.status_code, "type": image.headers.get("content-type"),
                      "size": len(image.content), "png": image.content[:8] == b"\x89PNG\r\n\x1a\n"})
