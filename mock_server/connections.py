"""Slow and idle clients may not lock others out: a connection must send its request head within
`header_timeout` seconds, and beyond `max_connections` open connections the oldest one still waiting for
a request is closed to make room. A TLS handshake (`serve --tls`, or inside a CONNECT tunnel) is waiting
too: timed and counted the same way (tls_termination.py). (uvicorn times out idle keep-alive connections,
but not a new connection that never sends anything; request bodies are timed in bodies.py.)"""

import ssl

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mock_server.exit_codes import ConfigError

TUNNEL = "flux_mock.tunnel"  # scope["extensions"] key: (host, port) of the CONNECT a request came through
from mock_server.proxy import ConnectInterception, gateway_only


class GuardedHttpToolsProtocol(ConnectInterception, HttpToolsProtocol):
    """uvicorn's protocol with the slow-client guards, and the forward proxy's CONNECT (proxy.py)."""

    header_timeout = 10.0
    max_connections = 4096
    _made = False  # connection_made ran (an inner TLS protocol whose handshake failed never had it)
    _waiting_since: float | None = None
    _head_timer = None
    _tunnel: tuple[str, int] | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._made = True
        self._wait_for_request()
        if len(self.connections) > self.max_connections:
            self._close_oldest_waiting()
        if self.direct_tls and not self._tls_inner:
            self.take_tls(self.tls_context())

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
        if self._tunnel is not None:  # a request inside a CONNECT tunnel says which tunnel (TUNNEL in extensions)
            self.scope.setdefault("extensions", {})[TUNNEL] = self._tunnel
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()  # idle between keep-alive requests: may make room

    def _too_slow(self) -> None:
        if self._waiting_since is not None and self.cycle is None:
            self.transport.close()

    def _close_oldest_waiting(self) -> None:
        """Close the connection waiting longest (for its request head, or its TLS handshake); one already closing
        does not count (it stays among the connections until it is gone: a burst would close it over and over,
        holding twice the bound)."""
        waiting = [c for c in self.connections if c._waiting_since is not None and c is not self
                   and not c.transport.is_closing()]
        if waiting:
            min(waiting, key=lambda c: c._waiting_since).transport.close()

    def connection_lost(self, exc) -> None:
        self._stop_waiting()
        if self._made:  # the TLS layer tells an inner protocol of a failed handshake too: nothing to undo
            super().connection_lost(exc)


def configure(header_timeout: float, max_connections: int, tls_files: tuple[str | None, str | None] = (None, None),
              direct_tls: bool = False, connect_policy=gateway_only) -> type[GuardedHttpToolsProtocol]:
    """Set the bounds and the TLS files (in this process: each --workers process sets its own from the settings
    it is given) and return the class uvicorn builds connections from. A module-level class, so uvicorn can
    hand it to worker processes. With `direct_tls` every connection is TLS, its context made now: a
    certificate that cannot be loaded is a ConfigError before the server starts. `connect_policy`: which
    CONNECT targets the proxy takes (proxy.py)."""
    protocol = GuardedHttpToolsProtocol
    protocol.header_timeout, protocol.max_connections = header_timeout, max_connections
    protocol.tls_files, protocol.direct_tls, protocol._tls_context = tls_files, direct_tls, None
    protocol.connect_policy = staticmethod(connect_policy)
    if direct_tls:
        try:
            protocol.tls_context()
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(f"TLS certificate {tls_files[0]} and key {tls_files[1]} cannot be used: "
                              f"{error.strerror or error}") from None
    return protocol
