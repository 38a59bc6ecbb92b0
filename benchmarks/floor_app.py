"""The floor: the least any mock must do to answer a sync getData, as raw ASGI on the same uvicorn. It looks the
key up, parses the body, validates it with the spec's own request schema (jsonschema-rs, formats on), draws a
seed, digests model, seed and prompt into the image URL, charges a wallet, keeps a journal record and answers
JSON. No routing, no stages, no findings: what a redesign of flux-mock's request path could approach, and what
the ratio to bare Starlette costs at the least (bench.py measures it beside bare Starlette and flux-mock)."""

import collections
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import jsonschema_rs
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mock_server.operations import load_operations  # noqa: E402

SCHNELL = next(op for op in load_operations() if op.operation_id == "schnellGetData")
VALID = jsonschema_rs.validator_for(SCHNELL.request_schema, validate_formats=True)
WALLETS = {b"bench-key": 10**12}
JOURNAL = collections.deque(maxlen=10_000)
HEAD = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
REFUSED = b'{"statusCode": 401, "message": "Access denied due to missing subscription key."}'


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    key = headers.get(b"ocp-apim-subscription-key")
    body = (await receive()).get("body", b"")
    if key not in WALLETS:
        status, answer = 401, REFUSED
    else:
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        if not isinstance(params, dict) or not VALID.is_valid(params):
            status, answer = 400, json.dumps({"error": "invalid request body"}).encode()
        else:
            seed = params.get("seed") or random.randrange(2**31)
            digest = hashlib.sha256(f"{SCHNELL.model_id}\x1f{seed}\x1f{params['prompt']}".encode()).hexdigest()[:16]
            WALLETS[key] -= 1
            status = 200
            size = f"{params.get('width', 1024)}x{params.get('height', 1024)}"
            answer = json.dumps({"output": f"http://127.0.0.1/media/{digest}/{size}-0.png"}).encode()
    JOURNAL.append((time.time(), scope["method"], scope["path"], headers, body, status, answer))
    await send({"type": "http.response.start", "status": status,
                "headers": [*HEAD, (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", lifespan="off")
