"""Slow and idle clients cannot lock others out: half-open connections are closed after the header
timeout, the oldest waiting ones make room beyond the connection limit, and a body that never ends
gets a 400 after the body timeout. Real sockets against a real server on loopback."""

import socket
import time

import httpx
import pytest

from tests.support.waiting import wait_until

CONFIG = "header_timeout: 1.0\nbody_timeout: 1.0\nmax_connections: 64\n"
KEY = {"Ocp-Apim-Subscription-Key": "k"}


@pytest.fixture
def guarded(make_flux_mock):
    return make_flux_mock(CONFIG).url


def open_idle(url: str, count: int) -> list[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    return [socket.create_connection((host, int(port)), timeout=5) for _ in range(count)]


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_many_idle_connections_do_not_stop_others_being_answered(guarded):
    idle = open_idle(guarded, 300)  # far beyond max_connections, none sends a byte
    try:
        answer = httpx.post(f"{guarded}/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY, timeout=30)
        assert answer.status_code == 200
        assert sum(closed_by_server(sock) for sock in idle[:200]) >= 150, "the oldest idle ones made room"
        wait_until(lambda: all(closed_by_server(sock) for sock in idle[-50:]),
                   what="the newest idle connections closed after the 1 s header timeout")
    finally:
        for sock in idle:
            sock.close()


def test_a_body_that_never_ends_gets_a_400_after_the_body_timeout(guarded):
    (sock,) = open_idle(guarded, 1)
    try:
        sock.sendall(b"POST /flux-1-schnell/v1/getData HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: k\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n")
        sock.settimeout(30)
        started, answer = time.monotonic(), b""
        while not answer.endswith(b"}"):  # head and body may come in separate reads
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started > 0.8, "the body timeout (1 s) never fires early"
        assert answer.startswith(b"HTTP/1.1 400") and b"did not arrive within 1 s" in answer
    finally:
        sock.close()


def test_a_keep_alive_connection_busy_across_the_header_timeout_is_not_closed_under_its_client(guarded):
    """The header timeout (1 s here) is for the first request head: a keep-alive connection that is
    between two quick requests when that much time has passed since it opened stays open."""
    host, port = guarded.removeprefix("http://").split(":")
    request = f"GET /__admin/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        answers = []
        for _ in range(4):  # at 0, 0.7, 1.4 and 2.1 s: idle at the 1 s mark, never idle 1 s
            connection.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
            answers.append(answer.split(b"\r\n", 1)[0])
            time.sleep(0.7)
    assert answers == [b"HTTP/1.1 200 OK"] * 4
