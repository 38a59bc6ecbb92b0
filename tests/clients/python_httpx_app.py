"""A third-party-style app: hard-coded https gateway URLs, httpx. Knows nothing of flux-mock."""
import time

import httpx

KEY = {"Ocp-Apim-Subscription-Key": "app-key"}

with httpx.Client(base_url="https://gateway.pixazo.ai", timeout=30) as client:
    job = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "a lighthouse"}, headers=KEY).json()
    for _ in range(200):
        status = client.get(job["polling_url"], headers=KEY).json()
        if status["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    image = client.get(status["output"]["media_url"][0])
assert image.content[:8] == b"\x89PNG\r\n\x1a\n", image.content[:20]
print("IMAGE", status["output"]["media_url"][0], len(image.content))
