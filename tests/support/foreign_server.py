"""A server that is not flux-mock: the mock behind a proxy that hides /__admin and can rewrite answers,
served by a real uvicorn on an ephemeral loopback port (in a thread, stopped at exit)."""

import json
import threading
from contextlib import contextmanager

import uvicorn

from mock_server.serving import listening_socket
from tests.support.waiting import wait_until


class Rewriting:
    """ASGI middleware: 404 for /__admin (unless `hide_admin` is False, so the kit still sees flux-mock);
    every JSON answer passes through `rewrite(path, status, body)`, which returns (status, body) or
    (status, body, headers to set)."""

    def __init__(self, app, rewrite=None, hide_admin: bool = True) -> None:
        self.app = app
        self.rewrite = rewrite or (lambda path, status, body: (status, body))
        self.hide_admin = hide_admin

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].startswith("/__admin") and not self.hide_admin:
            return await self.app(scope, receive, send)
        if scope["path"].startswith("/__admin"):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": b'{"error": "Endpoint not found"}'})
        start, chunks = {}, []

        async def buffered(message):
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._flush(scope["path"], start, b"".join(chunks), send)

        await self.app(scope, receive, buffered)

    async def _flush(self, path, start, body, send):
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        status = start["status"]
        if dict(headers).get(b"content-type", b"").startswith(b"application/json"):
            status, rewritten, *extra = self.rewrite(path, status, json.loads(body))
            body = json.dumps(rewritten).encode()
            for name, value in (extra[0] if extra else {}).items():
                headers = [(k, v) for k, v in headers if k.lower() != name.lower().encode()]
                headers.append((name.lower().encode(), value.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(app, lifespan: str = "off", tls: tuple[str, str] | None = None, host: str = "127.0.0.1"):
    """Serve `app` on `host` (127.0.0.1; 127.0.0.2 is "another host", still loopback):<free port>; yield its URL.
    `lifespan="on"` runs flux-mock's webhook dispatcher; `tls`: (certificate file, key file) to answer https with."""
    listener = listening_socket(host, 0)
    files = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan=lifespan, **files))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="the test server starting", every=0.02)
        assert server.started, "the test server stopped at start-up (its error is printed above)"
        yield f"{'https' if tls else 'http'}://{host}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
