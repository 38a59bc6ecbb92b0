"""A third-party-style app: hard-coded https gateway URLs, the standard library. Knows nothing of flux-mock."""
import json
import time
import urllib.request

KEY = {"Ocp-Apim-Subscription-Key": "app-key", "Content-Type": "application/json"}


def call(url, body=None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), headers=KEY)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


job = json.loads(call("https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage", {"prompt": "a lighthouse"}))
for _ in range(200):
    status = json.loads(call(job["polling_url"]))
    if status["status"] == "COMPLETED":
        break
    time.sleep(0.05)
image = call(status["output"]["media_url"][0])
assert image[:8] == b"\x89PNG\r\n\x1a\n", image[:20]
print("IMAGE", status["output"]["media_url"][0], len(image))
