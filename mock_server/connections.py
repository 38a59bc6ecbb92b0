"""Slow and idle clients may not lock others out: a connection must send its request head within
`header_timeout` seconds, and beyond `max_connections` open connections the oldest one still waiting for
a request is closed to make room. (uvicorn times out idle keep-alive connections, but not a new
connection that never sends anything; request bodies are timed in bodies.py.)"""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mock_server.proxy import ConnectInterception


class GuardedHttpToolsProtocol(ConnectInterception, HttpToolsProtocol):
    """uvicorn's protocol with the slow-client guards, and the forward proxy's CONNECT (proxy.py)."""

    header_timeout = 10.0
    max_connections = 4096

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._waiting_since: float | None = None
        self._head_timer = None
        self._wait_for_request()
        if len(self.connections) > self.max_connections:
            self._close_oldest_waiting()

    def _wait_for_request(self) -> None:
        self._waiting_since = self.loop.time()
        self._head_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_waiting(self) -> None:
        self._waiting_since = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()  # idle between keep-alive requests: may make room

    def _too_slow(self) -> None:
        if self._waiting_since is not None and self.cycle is None:
            self.transport.close()

    def _close_oldest_waiting(self) -> None:
        waiting = [c for c in self.connections if getattr(c, "_waiting_since", None) is not None and c is not self]
        if waiting:
            min(waiting, key=lambda c: c._waiting_since).transport.close()

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        super().connection_lost(exc)


def configure(header_timeout: float, max_connections: int, tls_files: tuple[str | None, str | None] = (None, None)
              ) -> type[GuardedHttpToolsProtocol]:
    """Set the bounds (in this process: each --workers process sets its own from the settings it is given)
    and return the class uvicorn builds connections from. A module-level class, so uvicorn can hand it to
    worker processes."""
    GuardedHttpToolsProtocol.header_timeout = header_timeout
    GuardedHttpToolsProtocol.max_connections = max_connections
    GuardedHttpToolsProtocol.tls_files = tls_files
    return GuardedHttpToolsProtocol
