"""TLS taken by the mock's own protocol, for `serve --tls` and for the proxy's CONNECT tunnels alike: the
connection is counted among the open ones and timed by the header timeout while its handshake runs, so a
flood of handshakes that never finish is bounded like a flood of heads that never arrive (`max_connections`
closes the oldest, `header_timeout` each one). A failed handshake is one log line at most, rate-limited.

(uvicorn's own `ssl=` does the handshake before any protocol exists: nothing counted or timed it, and
21,000 stalled handshakes took every descriptor.)
"""

import asyncio
import functools
import logging
import time

from mock_server import tls

log = logging.getLogger("flux_mock.tls")

FAILURE_REPORT_EVERY = 10.0  # seconds between two lines about failed handshakes


class HandshakeFailures:
    """Failed handshakes, reported as one line per interval: the count, and the last reason."""

    def __init__(self, every: float = FAILURE_REPORT_EVERY, clock=time.monotonic) -> None:
        self.every, self.clock = every, clock
        self._since_report, self._reported_at = 0, None

    def failed(self, error: BaseException) -> None:
        self._since_report += 1
        now = self.clock()
        if self._reported_at is not None and now - self._reported_at < self.every:
            return
        log.warning("TLS handshakes failed: %d since the last report (last: %s; a client that does not trust the "
                    "certificate fails here: `flux-mock ca` says how to trust it)", self._since_report,
                    f"{type(error).__name__}: {error}"[:200])
        self._since_report, self._reported_at = 0, now


FAILURES = HandshakeFailures()


class TlsTermination:
    """Mixed into the guarded HTTP protocol (connections.py). `direct_tls`: every connection on this port is
    TLS (`serve --tls`); the proxy starts TLS itself after answering a CONNECT. `tls_files`: the certificate
    and key to answer with, else ones the local CA signs (tls.py); the context is made once."""

    tls_files: tuple[str | None, str | None] = (None, None)
    direct_tls = False
    _tls_context = None
    _host_contexts: dict = {}
    _tls_inner = False  # the protocol of the decrypted stream inside

    @classmethod
    def tls_context(cls):
        if cls._tls_context is None:
            cls._tls_context = tls.server_context(*cls.tls_files)
        return cls._tls_context

    @classmethod
    def tls_context_for(cls, host: str):
        """The context a CONNECT to `host` is answered with: the mock's own for the names its certificate holds,
        else one the local CA signs for that host alone (made once a host)."""
        if host in tls.certificate_names():
            return cls.tls_context()
        if host not in cls._host_contexts:
            cls._host_contexts[host] = tls.host_context(host)
        return cls._host_contexts[host]

    def take_tls(self, context, tunnel: tuple[str, int] | None = None) -> None:
        """Hand this connection's transport to a TLS handshake, then to a fresh protocol of this class over the
        decrypted stream. The handshake starts now, not when a task first runs: until start_tls has put its
        TLS layer on the transport, the client's first bytes would reach this protocol's HTTP parser (uvloop
        starts reading as connection_made returns; 2 connections in 60 got a plain-HTTP 400 that way).
        Until the handshake ends this connection stays counted and waiting."""
        inner = type(self)(config=self.config, server_state=self.server_state, app_state=self.app_state,
                           _loop=self.loop)
        inner._tls_inner = True
        inner._tunnel = tunnel  # the CONNECT's host and port: where requests inside it may go (the recorder)
        handshake = Started(self.loop.start_tls(self.transport, inner, context, server_side=True,
                                                ssl_handshake_timeout=self.header_timeout))
        self.loop.create_task(self._handshake(handshake, inner))

    async def _handshake(self, handshake: "Started", inner) -> None:
        try:
            secure = await handshake
            if self.transport.is_closing():  # start_tls reports a transport closed under it as a finished handshake
                raise ConnectionAbortedError("closed before the handshake finished (header_timeout, or room made "
                                             "for newer connections beyond max_connections)")
        except (OSError, asyncio.TimeoutError, ConnectionError, RuntimeError) as error:
            FAILURES.failed(error)
            self.transport.close()
            secure = None
        finally:  # start_tls took the transport: this protocol hears nothing more, so it lets go itself
            self._stop_waiting()
            self.connections.discard(self)
        if secure is not None:
            inner.connection_made(secure)


class Started:
    """A coroutine run now up to its first suspension (what Python 3.12's eager tasks do); awaiting this
    finishes it. What it raises before suspending, awaiting raises."""

    def __init__(self, coroutine) -> None:
        self._coroutine, self._waiting_on, self._outcome = coroutine, None, None
        try:
            self._waiting_on = coroutine.send(None)
        except StopIteration as finished:
            self._outcome = (finished.value, None)
        except BaseException as error:  # noqa: BLE001 - raised again when awaited
            self._outcome = (None, error)

    def __await__(self):
        if self._outcome is not None:
            value, error = self._outcome
            if error is not None:
                raise error
            return value
        waiting_on = self._waiting_on
        while True:
            try:
                yield waiting_on  # the awaiting task waits for it, as it would inside the coroutine
            except BaseException as error:  # noqa: BLE001 - a cancellation thrown in goes on into the coroutine
                resume = functools.partial(self._coroutine.throw, error)
            else:
                resume = functools.partial(self._coroutine.send, None)
            try:
                waiting_on = resume()
            except StopIteration as finished:
                return finished.value
