"""An upstream that attacks the recorder in front of it, written for the purpose (not flux-mock's app): each
answer to the Flux Dev submit or the status poll is one attack, picked by the request's `X-Attack` header.

- `name-loopback`: a polling URL on 127.0.0.2 (a loopback address, "another host"), and a URL on 127.0.0.3 in a
  field no page documents;
- `many-hosts`: a COMPLETED status whose `output.media_url` names `X-Count` hosts (default 1,000), or one URL
  on `X-Media-Base`;
- `deep`: a JSON answer nested `X-Depth` levels (default 3,000);
- `bomb`: a `Content-Encoding: gzip` answer of 80 MiB of zeros (about 80 KiB sent);
- `drip`: an answer that sends one byte every 0.2 s for ever; `dripping` counts those under way and
  `left` those whose client went away;
- `echo`: the request's headers as the upstream got them, with a session cookie set;
- a GET under /v1/ (a media URL) but for `echo`: `MEDIA_BYTES` of a PNG's signature and random bytes.
Anything else gets the pages' ordinary answers."""

import asyncio
import gzip
import json
import os

ZEROS_GZIPPED: bytes | None = None
MEDIA_BYTES = 8 * 1024 * 1024
MEDIA = b"\x89PNG\r\n\x1a\n" + os.urandom(MEDIA_BYTES - 8)


def _zeros_gzipped() -> bytes:
    global ZEROS_GZIPPED
    if ZEROS_GZIPPED is None:
        ZEROS_GZIPPED = gzip.compress(b"\0" * (80 * 1024 * 1024), compresslevel=9)
    return ZEROS_GZIPPED


class HostileUpstream:
    def __init__(self) -> None:
        self.dripping = 0
        self.left = 0
        self.seen: list[dict] = []  # each request's headers, lower-case names

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        self.seen.append({"path": scope["path"], **headers})
        attack = headers.get("x-attack", "")
        if scope["method"] == "GET" and scope["path"].startswith("/v1/") and attack != "echo":
            return await _answer(send, 200, MEDIA, content_type=b"image/png")
        if attack == "drip":
            return await self._drip(receive, send)
        if attack == "bomb":
            return await _answer(send, 200, _zeros_gzipped(), [(b"content-encoding", b"gzip")])
        status, body = self._body(scope["path"], attack, headers)
        cookie = [(b"set-cookie", f"session={headers.get('x-session', 'none')}; HttpOnly".encode())] \
            if attack == "echo" else []
        await _answer(send, status, body if isinstance(body, bytes) else json.dumps(body).encode(), cookie)

    def _body(self, path: str, attack: str, headers: dict):
        request_id = "flux-dev_0198c2a0-0000-7000-8000-000000000001"
        if attack == "echo":
            return 200, {"request_id": request_id, "status": "QUEUED", "headers": headers}
        if attack == "deep":
            depth = int(headers.get("x-depth", 3000))
            return 200, b'{"request_id": "x", "status": "QUEUED", "deep": ' + b"[" * depth + b"]" * depth + b"}"
        if path.endswith("/textToImage"):
            polling = f"http://127.0.0.2:{headers.get('x-port', '9')}/v2/requests/status/{request_id}" \
                if attack == "name-loopback" else f"http://{headers['host']}/v2/requests/status/{request_id}"
            return 202, {"request_id": request_id, "status": "QUEUED", "polling_url": polling,
                         "elsewhere": "http://127.0.0.3:1/x"}
        if attack == "many-hosts":
            bases = [headers["x-media-base"]] if "x-media-base" in headers else \
                [f"https://h{number}.example.test" for number in range(int(headers.get("x-count", 1000)))]
            urls = [f"{base}/v1/{request_id}/output.png" for base in bases]
            return 200, {"request_id": request_id, "status": "COMPLETED", "model_id": "flux-dev", "error": None,
                         "output": {"media_url": urls, "media_type": "image/png"}}
        return 200, {"request_id": request_id, "status": "QUEUED", "model_id": "flux-dev", "error": None,
                     "output": None}

    async def _drip(self, receive, send):
        """One byte every 0.2 s until the client goes away (uvicorn then tells `receive` http.disconnect)."""
        self.dripping += 1

        async def dripping():
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000000")]})
            while True:
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.sleep(0.2)

        sender = asyncio.ensure_future(dripping())
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.left += 1
        finally:
            sender.cancel()
            self.dripping -= 1


async def _answer(send, status: int, body: bytes, headers=(), content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
