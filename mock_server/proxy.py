"""`serve` is also an HTTP forward proxy on its own port, for apps whose URLs say https://gateway.pixazo.ai:
with HTTPS_PROXY pointing at the mock, the app sends `CONNECT gateway.pixazo.ai:443`; the mock answers
200, takes the TLS handshake itself with a certificate its local CA signed for that host (tls.py), and
serves the requests inside as the mock, with scheme https and the app's own Host, so the URLs in answers
lead back the same way. Any other host is refused with 403: the mock never tunnels anywhere. The handshake is
tls_termination's, counted and timed like any connection waiting for its request.
"""

import logging

from mock_server import tls
from mock_server.tls_termination import TlsTermination

log = logging.getLogger("flux_mock.proxy")

MAX_HEAD = 8192


def connect_head(buffer: bytes) -> tuple[str, int] | None:
    """(host, port) of a complete CONNECT request head; None while the head is incomplete. ValueError
    for a malformed one."""
    if b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_HEAD:
            raise ValueError("CONNECT request head too long")
        return None
    line = buffer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"malformed CONNECT request line: {line[:200]!r}")
    host, separator, port = parts[1].rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"CONNECT needs host:port, got {parts[1][:200]!r}")
    return host.strip("[]").lower(), int(port)


def _refusal(status: str, message: str) -> bytes:
    body = (message + "\n").encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def gateway_only(host: str, port: int) -> str | None:
    """The mock's CONNECT policy: why a CONNECT to host:port is refused (None: it is a gateway host)."""
    if host in tls.served_hosts():
        return None
    return (f"the mock answers only for {', '.join(sorted(tls.served_hosts()))} and never tunnels to other "
            "hosts")


class ConnectInterception(TlsTermination):
    """Mixed into the HTTP protocol: a connection whose first bytes are CONNECT is intercepted here before
    the HTTP parser sees it. The TLS context is made on the first interception (the local CA with it).
    `connect_policy(host, port)` says why a CONNECT is refused, or None to take it (the mock: gateway hosts
    only; the recorder: those and the hosts its recorded answers named)."""

    connect_policy = staticmethod(gateway_only)

    def data_received(self, data: bytes) -> None:
        buffer = getattr(self, "_connect_buffer", None)
        if buffer is None:
            if getattr(self, "_past_first_bytes", False) or self.scheme == "https":
                return super().data_received(data)
            self._past_first_bytes = True
            if not data.startswith(b"CONNECT "):
                return super().data_received(data)
            buffer = b""
        self._connect_buffer = buffer = buffer + data
        try:
            target = connect_head(buffer)
        except ValueError as error:
            self._refuse("400 Bad Request", str(error))
            return
        if target is not None:
            self._connect_buffer = b""
            self._connect(*target)

    def _refuse(self, status: str, message: str) -> None:
        self.transport.write(_refusal(status, f"flux-mock: {message}"))
        self.transport.close()

    def _connect(self, host: str, port: int) -> None:
        refusal = self.connect_policy(host, port)
        if refusal is not None:
            log.warning("proxy: refused CONNECT %s:%d (%s)", host, port, refusal)
            self._refuse("403 Forbidden", f"CONNECT {host}:{port} refused: {refusal}")
            return
        try:
            context = self.tls_context_for(host)
        except Exception as error:  # noqa: BLE001 - the CA could not be made or read: say so to the client
            log.error("proxy: no TLS certificate: %s", error)
            self._refuse("502 Bad Gateway", f"no certificate for {host}: {error}")
            return
        self.transport.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self._stop_waiting()
        self._wait_for_request()  # the handshake has a header timeout of its own, and counts while it runs
        self.take_tls(context, tunnel=(host, port))
