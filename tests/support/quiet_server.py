"""A loopback HTTP server for one test, with a handler class of the test's own that logs nothing."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that writes no access log to the test's output."""

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving_handler(handler: type[BaseHTTPRequestHandler]):
    """Serve `handler` on an ephemeral loopback port; yield its base URL; shut it down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="quiet test server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
