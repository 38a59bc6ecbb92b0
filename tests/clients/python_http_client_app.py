"""A third-party-style app: hard-coded https gateway host, Python's http.client (which ignores HTTPS_PROXY).
Knows nothing of flux-mock."""
import http.client
import json
import time
from urllib.parse import urlsplit

KEY = {"Ocp-Apim-Subscription-Key": "app-key", "Content-Type": "application/json"}


def call(method, url, body=None):
    parts = urlsplit(url)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=30)
    connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                       body=None if body is None else json.dumps(body), headers=KEY)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    assert answer.status < 300, (answer.status, data[:300])
    return data


job = json.loads(call("POST", "https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage", {"prompt": "a lighthouse"}))
for _ in range(200):
    status = json.loads(call("GET", job["polling_url"]))
    if status["status"] == "COMPLETED":
        break
    time.sleep(0.05)
image = call("GET", status["output"]["media_url"][0])
assert image[:8] == b"\x89PNG\r\n\x1a\n", image[:20]
print("IMAGE", status["output"]["media_url"][0], len(image))
