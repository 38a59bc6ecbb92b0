"""A third-party-style app: hard-coded https gateway URLs, Python requests. Knows nothing of flux-mock."""
import time

import requests

GATEWAY = "https://gateway.pixazo.ai"
KEY = {"Ocp-Apim-Subscription-Key": "app-key"}

job = requests.post(f"{GATEWAY}/flux-dev/v1/dev/textToImage", json={"prompt": "a lighthouse"}, headers=KEY,
                    timeout=30).json()
for _ in range(200):
    status = requests.get(job["polling_url"], headers=KEY, timeout=30).json()
    if status["status"] == "COMPLETED":
        break
    time.sleep(0.05)
image = requests.get(status["output"]["media_url"][0], timeout=30)
assert image.content[:8] == b"\x89PNG\r\n\x1a\n", image.content[:20]
print("IMAGE", status["output"]["media_url"][0], len(image.content))
