"""TLS handshakes are bounded like request heads: on `serve --tls` and inside the proxy's CONNECT tunnels, a
connection whose handshake never finishes counts towards `max_connections` (the oldest is closed to make
room) and is closed after `header_timeout`; a flood of them leaves other clients answered, and the log says
so in one line, not a traceback per connection. Real servers, real sockets, loopback only, bounded."""

import logging
import socket
import ssl

import httpx
import pytest

from contract_tests.process import MockProcess
from mock_server.tls_termination import HandshakeFailures
from tests.support.waiting import wait_until

MAX_CONNECTIONS, HEADER_TIMEOUT, FLOOD = 40, 2, 150
CONNECT = b"CONNECT gateway.pixazo.ai:443 HTTP/1.1\r\nHost: gateway.pixazo.ai:443\r\n\r\n"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A --tls mock and a plain one (its proxy), each with low bounds; a data directory of their own."""
    folder = tmp_path_factory.mktemp("tls-handshakes")
    config = folder / "bounds.yaml"
    config.write_text(f"max_connections: {MAX_CONNECTIONS}\nheader_timeout: {HEADER_TIMEOUT}\n")
    environment = {"FLUX_MOCK_HOME": str(folder)}
    servers = {"tls": MockProcess("--tls", "--config", str(config), env=environment),
               "proxy": MockProcess("--config", str(config), env=environment)}
    yield servers
    for server in servers.values():
        server.stop()


def _port(mock: MockProcess) -> int:
    return int(mock.url.rsplit(":", 1)[1])


def _stalled(port: int, first_bytes: bytes = b"") -> list[socket.socket]:
    """FLOOD connections that never finish a handshake (after `first_bytes`: a CONNECT the proxy answers)."""
    flood = []
    for _ in range(FLOOD):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(first_bytes)
        flood.append(connection)
    return flood


def _still_open(flood: list[socket.socket]) -> int:
    """How many of the flood's connections the server has not closed (read what it sent, the proxy's 200)."""
    open_count = 0
    for connection in flood:
        connection.setblocking(False)
        try:
            while data := connection.recv(4096):
                assert data.startswith(b"HTTP/1.1 200"), data[:100]
            continue  # b"": closed by the server
        except BlockingIOError:
            open_count += 1
        except OSError:
            pass
    return open_count


def _answered(mock: MockProcess, proxied: bool) -> bool:
    if proxied:
        with httpx.Client(proxy=mock.url, verify=False, timeout=10, trust_env=False) as client:
            return client.get("https://gateway.pixazo.ai/docs").status_code == 200
    return httpx.get(f"{mock.url}/docs", verify=False, timeout=10).status_code == 200


@pytest.mark.parametrize("kind", ["tls", "proxy"])
def test_a_flood_of_stalled_handshakes_is_bounded_and_others_are_answered(guarded, kind):
    mock = guarded[kind]
    flood = _stalled(_port(mock), CONNECT if kind == "proxy" else b"")
    try:
        assert _answered(mock, proxied=kind == "proxy"), "a client was refused during the flood"
        wait_until(lambda: _still_open(flood) <= MAX_CONNECTIONS, timeout=15,
                   what=f"at most {MAX_CONNECTIONS} of {FLOOD} stalled handshakes held")
        wait_until(lambda: _still_open(flood) == 0, timeout=HEADER_TIMEOUT + 20,
                   what=f"every stalled handshake closed after header_timeout ({HEADER_TIMEOUT} s)")
        assert _answered(mock, proxied=kind == "proxy")
    finally:
        for connection in flood:
            connection.close()
    logged = mock.stderr
    assert "Traceback" not in logged, logged[-2000:]
    assert logged.count("TLS handshakes failed") <= 3, logged[-2000:]


def test_every_fresh_tls_connection_is_answered_never_parsed_as_plain_http(guarded):
    """The handshake starts as the connection is made: started a moment later, a client's hello could reach the
    HTTP parser first (2 connections in 60 got a plain-HTTP 400 before)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    answers = []
    for _ in range(100):
        with httpx.Client(verify=context, timeout=10) as client:
            answers.append(client.get(f"{guarded['tls'].url}/__admin/health").status_code)
    assert answers == [200] * 100
    assert "Invalid HTTP request" not in guarded["tls"].stderr


def test_failed_handshakes_are_one_line_per_interval_with_the_count(caplog):
    now = [0.0]
    failures = HandshakeFailures(every=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="flux_mock.tls"):
        for moment in (0.0, 1.0, 2.0, 3.0, 12.0, 13.0):
            now[0] = moment
            failures.failed(ConnectionResetError("peer reset"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("TLS handshakes failed: 1 since the last report (last: ConnectionResetError: peer reset")
    assert lines[1].startswith("TLS handshakes failed: 4 since the last report")
