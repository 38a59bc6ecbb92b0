"""A webhook receiver on 127.0.0.1 for tests: records every POST, can be told to fail the first N."""

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    body: object
    headers: dict
    at: float


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
                    receiver.received.append(Received(self.path, body, dict(self.headers), time.monotonic()))
                    receiver._lock.notify_all()
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def bodies(self, path: str | None = None) -> list:
        with self._lock:
            return [r.body for r in self.received if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 15.0) -> list:
        """The bodies POSTed (to `path`), once there are `count` of them; AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([r for r in self.received if path is None or r.path == path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} webhook(s) expected at {path or '*'}, got {self.bodies(path)}")
                self._lock.wait(left)
        return self.bodies(path)

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


@contextmanager
def webhook_receiver():
    with WebhookReceiver().running() as receiver:
        yield receiver
