"""A webhook receiver on 127.0.0.1 for tests: records every POST, can be told to fail the first N. `Webhooks`
is what the `flux_mock_webhooks` fixture hands a test: URLs to give the API, and waiting for an event of a
job. Bounded as the mock is: a body over MAX_BODY is refused (413) unread, one without a usable Content-Length
(411), a sender that stalls is dropped after `read_timeout` seconds, and the newest MAX_KEPT POSTs are kept."""

import json
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024  # bytes: a webhook body is a status answer, a few KiB
MAX_KEPT = 100_000  # POSTs kept; beyond, the oldest go

from mock_server.bodies import request_id_in


@dataclass(frozen=True)
class Received:
    path: str
    body: object
    headers: dict
    at: float

    @property
    def event(self) -> str | None:
        """The event this body tells of: its job's status, lower case (queued, processing, completed, failed,
        error), as a webhook POSTs the status body at that moment."""
        status = self.body.get("status") if isinstance(self.body, dict) else None
        return status.lower() if isinstance(status, str) else None

    @property
    def request_id(self) -> str | None:
        return request_id_in(self.body)


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1 (`url`, `running()`): keeps every POST (`bodies(path)`, `wait_for(count,
    path)`), can be told to fail the next ones."""

    def __init__(self, read_timeout: float = 10.0) -> None:
        self.received: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = read_timeout  # each read of the request; a stalled sender's connection is closed

            def do_POST(self):
                length = self.headers.get("Content-Length", "")
                if not length.isdigit():
                    return self._refuse(411)
                if int(length) > MAX_BODY:
                    return self._refuse(413)
                try:
                    raw = self.rfile.read(int(length))
                except TimeoutError:
                    self.close_connection = True
                    return
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
                    receiver.received.append(Received(self.path, body, dict(self.headers), time.monotonic()))
                    del receiver.received[:-MAX_KEPT]
                    receiver._lock.notify_all()
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _refuse(self, status: int) -> None:
                self.close_connection = True
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
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
            # left open until the process ends, its daemon thread ends with it: shutdown() and join() would wait on
            # that thread, frozen by then, for ever
            ending = sys.is_finalizing()
            if not ending:
                self._server.shutdown()
            self._server.server_close()
            if not ending:
                thread.join(timeout=5)


class Webhooks:
    """Webhooks in a test: `url_for(name)` is a URL to give the API (X-Webhook-URL, `webhook_url`, Kontext's
    `webhook`); `wait_for(event, request_id)` the delivery of that event of that job; `fail_next(n)` makes the
    next n deliveries fail (503), so the mock retries."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self._receiver = receiver
        self.url = receiver.url

    def url_for(self, name: str = "webhook") -> str:
        return f"{self.url}/{name.lstrip('/')}"

    def deliveries(self, request_id: str | None = None) -> list[Received]:
        """Every POST received (of one job), in the order they came."""
        with self._receiver._lock:
            return [r for r in self._receiver.received if request_id is None or r.request_id == request_id]

    def fail_next(self, count: int) -> None:
        with self._receiver._lock:
            self._receiver.fail_next = count

    def wait_for(self, event: str | None = None, request_id: str | None = None, timeout: float = 15.0) -> Received:
        """The first delivery of `event` (None: any) of `request_id` (None: any job); AssertionError naming what
        did arrive after `timeout` seconds (deliveries run in the background: this waits for them)."""
        wanted = event.lower() if event else None

        def found() -> Received | None:
            return next((r for r in self._receiver.received if (wanted is None or r.event == wanted)
                         and (request_id is None or r.request_id == request_id)), None)

        deadline = time.monotonic() + timeout
        with self._receiver._lock:
            while (delivery := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    arrived = ", ".join(f"{r.event} of {r.request_id} at {r.path}" for r in self._receiver.received)
                    raise AssertionError(f"no {wanted or 'webhook'} delivery{f' of {request_id}' if request_id else ''}"
                                         f" within {timeout:g} s; arrived: {arrived or 'nothing'}")
                self._receiver._lock.wait(left)
        return delivery


@contextmanager
def webhook_receiver():
    """`with webhook_receiver() as receiver:` a running WebhookReceiver for the block, stopped after it."""
    with WebhookReceiver().running() as receiver:
        yield receiver
