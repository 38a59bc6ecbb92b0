"""A third-party-style app: hard-coded https gateway URLs, httpx, its key from APP_KEY. It submits a Flux Dev
job, polls it to the end every 0.1 s and downloads the image; it prints each answer as a JSON line
(`submit`, `poll`, `image`) so a test can compare two runs. Knows nothing of flux-mock."""
import json
import os
import time

import httpx

KEY = {"Ocp-Apim-Subscription-Key": os.environ["APP_KEY"]}


def say(kind: str, value) -> None:
    print(json.dumps({"kind": kind, "value": value}), flush=True)


with httpx.Client(base_url="https://gateway.pixazo.ai", timeout=30) as client:
    job = client.post("/flux-dev/v1/dev/textToImage", headers=KEY,
                      json={"prompt": "a lighthouse at dusk", "image_size": "square", "num_images": 1}).json()
    say("submit", job)
    for _ in range(200):
        status = client.get(job["polling_url"], headers=KEY).json()
        say("poll", status)
        if status["status"] in ("COMPLETED", "FAILED", "ERROR"):
            break
        time.sleep(0.1)
    image = client.get(status["output"]["media_url"][0])
    say("image", {"status": image.status_code, "type": image.headers.get("content-type"), "size": len(image.content),
                  "png": image.content[:8] == b"\x89PNG\r\n\x1a\n"})
