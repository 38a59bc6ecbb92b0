"""The recorder is a trust boundary (issue 34): an upstream written to attack it (tests/support/hostile_upstream.py)
cannot make it reach hosts nobody asked for, take the app's keys elsewhere, tell ports apart, hold a
connection for ever or take gigabytes, and each such answer still reaches the app and the file. In process, by
base URL, on loopback (127.0.0.2 is "another host"); the CONNECT side is in test_recorder_process.py."""

import asyncio
import json
import socket
import socketserver
import threading
import time

import httpx
import pytest
import trustme

from tests.support.foreign_server import serving
from tests.support.hostile_upstream import HostileUpstream
from tests.support.recorded_runs import entries, recorder

KEY = {"Ocp-Apim-Subscription-Key": "app-key-5ab1e"}
SUBMIT = "/flux-dev/v1/dev/textToImage"
STATUS = "/v2/requests/status/flux-dev_0198c2a0-0000-7000-8000-000000000001"


@pytest.fixture
def hostile():
    upstream = HostileUpstream()
    with serving(upstream) as url, serving(upstream, host="127.0.0.2") as other:
        yield upstream, url, other


def _via(other: str, path: str) -> str:
    return f"/__via/http/{other.removeprefix('http://')}{path}"


def test_a_loopback_host_an_answer_names_is_not_followed_unless_allowed(hostile, tmp_path):
    upstream, url, other = hostile
    port = other.rsplit(":", 1)[1]
    with recorder(tmp_path / "a.har", url) as proxy:
        submitted = httpx.post(proxy + SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Attack": "name-loopback",
                                                                            "X-Port": port})
        assert submitted.status_code == 202
        assert submitted.json()["polling_url"].startswith(other), "not led back: the recorder will not go there"
        refused = httpx.get(proxy + _via(other, STATUS), headers=KEY)
        undocumented = httpx.get(proxy + "/__via/http/127.0.0.3:1/x", headers=KEY)
    assert refused.status_code == undocumented.status_code == 403
    assert refused.json() == {"statusCode": 403, "message": f"flux-mock record forwards only to the gateway and the "
                                                            f"hosts its answers named, not to 127.0.0.2:{port}"}
    assert [seen["host"] for seen in upstream.seen] == [url.removeprefix("http://")], "nothing reached 127.0.0.2"
    with recorder(tmp_path / "b.har", url, allow_hosts=("127.0.0.2",)) as proxy:
        submitted = httpx.post(proxy + SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Attack": "name-loopback",
                                                                            "X-Port": port})
        assert submitted.json()["polling_url"] == proxy + _via(other, STATUS), "led back through the recorder"
        followed = httpx.get(submitted.json()["polling_url"], headers={**KEY, "X-Attack": "echo"})
    assert followed.status_code == 200
    assert followed.json()["headers"]["ocp-apim-subscription-key"] == KEY["Ocp-Apim-Subscription-Key"], \
        "a polling URL's host is where the API answers: the key goes with the poll"


def test_keys_never_go_to_a_media_host(hostile, tmp_path):
    upstream, url, other = hostile
    with recorder(tmp_path / "m.har", url, allow_hosts=("127.0.0.2",)) as proxy:
        status = httpx.get(proxy + STATUS, headers={**KEY, "X-Attack": "many-hosts", "X-Count": "1",
                                                      "X-Media-Base": other})
        (media,) = status.json()["output"]["media_url"]
        assert media.startswith(proxy + "/__via/http/127.0.0.2:")
        fetched = httpx.get(media, headers={**KEY, "Authorization": "Bearer app-token", "X-Attack": "echo"})
    assert fetched.status_code == 200
    sent = fetched.json()["headers"]
    assert "ocp-apim-subscription-key" not in sent and "authorization" not in sent and sent["x-attack"] == "echo"


def test_an_unreachable_upstream_is_one_message_whatever_is_at_the_port(tmp_path):
    """A closed port, a plain-HTTP port asked for https and a TLS port with a certificate nobody trusts all read
    the same: the recorder is not a port scanner. And none of it is drift: nothing is written."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    certificate = trustme.CA().issue_cert("127.0.0.1")
    with certificate.private_key_and_cert_chain_pem.tempfile() as both, \
            serving(HostileUpstream()) as plain, serving(HostileUpstream(), tls=(both, both)) as untrusted:
        upstreams = {"closed": f"http://127.0.0.1:{closed_port}", "plain": plain.replace("http://", "https://"),
                     "untrusted": untrusted}
        messages = {}
        for name, upstream in upstreams.items():
            out = tmp_path / f"{name}.har"
            with recorder(out, upstream) as proxy:
                answer = httpx.post(proxy + SUBMIT, json={"prompt": "x"}, headers=KEY)
            assert answer.status_code == 502, (name, answer.text)
            messages[name] = answer.json()["message"].replace(upstream, "UPSTREAM")
            assert entries(out) == [], f"{name}: a network failure is not written as an exchange"
    assert set(messages.values()) == {"flux-mock record: UPSTREAM/flux-dev/v1/dev/textToImage is unreachable"}, \
        messages


async def _drip(client: httpx.AsyncClient, proxy: str, timeout: float | None = None):
    try:
        return await client.post(proxy + SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Attack": "drip"},
                                 timeout=timeout)
    except httpx.TimeoutException:
        return None


def test_a_dripping_upstream_gets_a_504_in_the_gateways_shape_within_the_total_timeout(hostile, tmp_path):
    upstream, url, _ = hostile
    with recorder(tmp_path / "d.har", url, total_timeout=1.0) as proxy:
        started = time.monotonic()
        answer = httpx.post(proxy + SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Attack": "drip"}, timeout=30)
        took = time.monotonic() - started
    assert answer.status_code == 504 and 1.0 <= took < 10, took
    assert answer.json() == {"statusCode": 504, "message": f"flux-mock record: {url}{SUBMIT} did not answer in time"}


def test_an_app_that_leaves_cancels_its_upstream_request(hostile, tmp_path):
    upstream, url, _ = hostile

    async def leave():
        async with httpx.AsyncClient() as client:
            assert await _drip(client, proxy, timeout=0.5) is None

    with recorder(tmp_path / "l.har", url) as proxy:
        asyncio.run(leave())
        deadline = time.monotonic() + 10
        while upstream.left < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.left == 1 and upstream.dripping == 0, "the recorder hung up on the upstream when the app left"


def test_a_slow_host_filling_its_pool_never_starves_another(hostile, tmp_path):
    """More dripping answers than one host's pool holds (64) while a media host on 127.0.0.2 still answers at
    once: each host has a pool of its own."""
    upstream, url, other = hostile

    async def flood_then_fetch():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
            status = await client.get(proxy + STATUS, headers={**KEY, "X-Attack": "many-hosts", "X-Count": "1",
                                                                 "X-Media-Base": other})
            (media,) = status.json()["output"]["media_url"]
            drips = [asyncio.ensure_future(_drip(client, proxy)) for _ in range(70)]
            while upstream.dripping < 64:
                await asyncio.sleep(0.05)
            started = time.monotonic()
            fetched = await client.get(media, headers={"X-Attack": "echo"})
            took = time.monotonic() - started
            answers = await asyncio.gather(*drips)
            return fetched, took, answers

    with recorder(tmp_path / "s.har", url, total_timeout=4.0, allow_hosts=("127.0.0.2",)) as proxy:
        fetched, took, answers = asyncio.run(flood_then_fetch())
    assert fetched.status_code == 200 and took < 2.0, took
    assert {answer.status_code for answer in answers} == {504}, "each drip ends within the total timeout"


def test_a_compression_bomb_reaches_the_app_as_sent_and_is_recorded_without_its_text(hostile, tmp_path):
    upstream, url, _ = hostile
    out = tmp_path / "bomb.har"
    with recorder(out, url) as proxy:
        with httpx.stream("POST", proxy + SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Attack": "bomb"}) as answer:
            sent = b"".join(answer.iter_raw())
        assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip" and len(sent) < 200_000
        (entry,) = entries(out)
    assert "text" not in entry["response"]["content"] and entry["response"]["bodySize"] == len(sent)
    note = f"not recorded: decoded (gzip), the body is larger than {64 * 1024 * 1024} bytes"
    assert entry["_fluxMock"]["note"] == entry["response"]["content"]["comment"] == note
    assert entry["_fluxMock"]["drift"] == [], "a bound of the recorder's, not the upstream's fault: nothing judged of a body not kept"


@pytest.mark.parametrize("depth", [900, 3000])
def test_a_deeply_nested_answer_reaches_the_app_and_is_written_with_a_finding(hostile, tmp_path, depth):
    upstream, url, _ = hostile
    out = tmp_path / "deep.har"
    with recorder(out, url) as proxy:
        answer = httpx.post(proxy + SUBMIT, json={"prompt": "x"},
                            headers={**KEY, "X-Attack": "deep", "X-Depth": str(depth)})
        assert answer.status_code == 200 and answer.content.count(b"[") == depth, "as the upstream sent it"
        (entry,) = entries(out)
    assert entry["response"]["content"]["text"].count("[") == depth and entry["response"]["status"] == 200
    assert entry["_fluxMock"]["drift"], "the answer is judged, and found wanting"


class _LyingLength(socketserver.ThreadingTCPServer):
    """A raw HTTP/1.1 server whose first answer says Content-Length: 2 and sends more: the rest waits in the kept
    connection and would read as the next answer on it."""

    daemon_threads = allow_reuse_address = True

    def __init__(self) -> None:
        self.answers = 0
        lying = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        byte = self.rfile.read(1)
                        if not byte:
                            return
                        head += byte
                    lying.answers += 1
                    body = json.dumps({"request_id": "flux-dev_1", "status": "QUEUED", "model_id": "flux-dev",
                                       "error": None, "output": None}).encode()
                    extra = b"nonsense\r\n" if lying.answers == 1 else b""
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                     str(2 if extra else len(body)).encode() + b"\r\n\r\n" +
                                     (b"{}" + extra if extra else body))

        super().__init__(("127.0.0.1", 0), Handler)


def test_an_upstream_that_lies_about_content_length_costs_no_following_poll(tmp_path):
    """After an answer longer than its Content-Length, a poll on the same kept connection reads garbage: the
    recorder asks again on a new connection (a GET only: a submit is never sent twice)."""
    server = _LyingLength()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with recorder(tmp_path / "l.har", f"http://127.0.0.1:{server.server_address[1]}") as proxy:
            with httpx.Client(base_url=proxy, timeout=10) as app:
                first = app.get(STATUS, headers=KEY)
                second = app.get(STATUS, headers=KEY)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert first.status_code == 200 and first.content == b"{}"
    assert second.status_code == 200 and second.json()["status"] == "QUEUED", second.text


def test_the_recorders_bounds_are_the_ones_docs_reference_bounds_md_gives():
    """What a hostile upstream can make the recorder hold is bounded, and bounds.md is where a user reads how far:
    an answer of 256 MiB at most as sent, 256 hosts named by answers, 300 upstream pools of 64 connections, 20 MiB of
    media bytes kept (the default of --media-max-bytes). An answer
    at the bound itself is 256 MiB held: the bound's value is held here, its use by the tests above."""
    import re
    from pathlib import Path

    from mock_server import cli, recording, recording_hosts

    page = (Path(__file__).parents[1] / "docs" / "reference" / "bounds.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `flux-mock record` |"))
    said = {
        "answer": re.search(r"an upstream answer of (\d+) MiB at most as sent", row),
        "named": re.search(r"at most (\d+) hosts recorded answers named", row),
        "pools": re.search(r"(\d+) upstream connection pools of (\d+) connections", row),
        "media": re.search(r"media bytes kept up to `--media-max-bytes` \((\d+) MiB\)", row),
    }
    assert all(said.values()), said
    assert int(said["answer"][1]) * 2**20 == recording.MAX_ANSWER_BYTES
    assert int(said["named"][1]) == recording_hosts.MAX_NAMED
    assert (int(said["pools"][1]), int(said["pools"][2])) == (recording.MAX_CLIENTS, recording.PER_HOST_CONNECTIONS)
    kept = int(said["media"][1]) * 2**20
    assert kept == recording.RecordingOptions(out="-").media_max_bytes
    assert kept == cli._parser().parse_args(["record", "--out", "x.har"]).media_max_bytes  # what a user gets


def test_the_recorder_holds_at_most_64_connections_to_one_upstream_host(tmp_path):
    """docs/reference/bounds.md: 64 connections a host (split over 8 pools of 8). 80 requests at once to an upstream
    that holds each answer (for up to 1 s, or until all 80 arrived): at most 64 reach it at a time."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state = {"now": 0, "most": 0}
    gate = asyncio.Event()

    async def held(request):
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        if state["now"] >= 80:
            gate.set()
        try:
            await asyncio.wait_for(gate.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        state["now"] -= 1
        return JSONResponse({"error": "Endpoint not found"}, status_code=404)

    async def eighty(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=100)) as client:
            answers = await asyncio.gather(*(client.get(f"/v2/requests/status/job-{n}") for n in range(80)))
        return [answer.status_code for answer in answers]

    upstream = Starlette(routes=[Route("/v2/requests/status/{request_id}", held)])
    with serving(upstream) as api, recorder(tmp_path / "many.har", api) as url:
        statuses = asyncio.run(eighty(url))
    assert statuses == [404] * 80
    assert 8 < state["most"] <= 64, state
