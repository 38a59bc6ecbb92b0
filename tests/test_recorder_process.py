"""`flux-mock record` as a process (issue 34): what only the real process shows. A request inside a CONNECT tunnel
goes to the tunnel's host whatever its Host header says; the hosts answers may name are bounded; `kill -9` at any
moment leaves a file `serve --replay` and `drift --har` read, holding every exchange answered; and no secret the
app sends, in any of 28 forms, reaches the file, the recorder's journal or its log (nor `serve`'s access log).
Upstreams are served in this process on loopback (tests/support/hostile_upstream.py); each recorder is stopped
by its PID."""

import json
import os
import random
import signal
import socket
import ssl
import threading
import time
from urllib.parse import quote

import httpx

from contract_tests.process import MockProcess
from mock_server import cli
from mock_server.app import create_app
from mock_server.har import read_har
from mock_server.settings import Settings
from tests.support.foreign_server import serving
from tests.support.hostile_upstream import MEDIA_BYTES, HostileUpstream

KEY = {"Ocp-Apim-Subscription-Key": "app-key-5ab1e"}
STATUS = "/v2/requests/status/flux-dev_0198c2a0-0000-7000-8000-000000000001"


def recording(out, upstream: str, *options: str, env: dict | None = None) -> MockProcess:
    return MockProcess("--out", str(out), "--upstream", upstream, *options, command="record", env=env)


def connect(proxy: str, host: str, port: int = 443) -> tuple[socket.socket, bytes]:
    """A CONNECT to the recorder; the socket and the status line it answered."""
    address = proxy.removeprefix("http://").split(":")
    conn = socket.create_connection((address[0], int(address[1])), timeout=10)
    conn.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    return conn, head.split(b"\r\n", 1)[0]


def _in_tunnel(recorder_url: str, home, host_header: str) -> bytes:
    """The answer to a status poll sent inside a CONNECT tunnel to gateway.pixazo.ai, its Host naming `host_header`."""
    conn, status = connect(recorder_url, "gateway.pixazo.ai")
    assert status == b"HTTP/1.1 200 Connection Established", status
    context = ssl.create_default_context(cafile=str(home / "ca.pem"))
    with context.wrap_socket(conn, server_hostname="gateway.pixazo.ai") as tls:
        tls.sendall(f"GET {STATUS} HTTP/1.1\r\nHost: {host_header}\r\n"
                    f"Ocp-Apim-Subscription-Key: {KEY['Ocp-Apim-Subscription-Key']}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


def test_inside_a_tunnel_the_host_header_never_picks_the_destination(home, tmp_path):
    victim = HostileUpstream()
    with serving(HostileUpstream()) as upstream, serving(victim) as victim_url:
        recorder = recording(tmp_path / "t.har", upstream)
        try:
            answers = [_in_tunnel(recorder.url, home, host) for host in (victim_url.removeprefix("http://"),
                                                                           "zz.example.test:443")]
            _, refused = connect(recorder.url, "127.0.0.1", int(victim_url.rsplit(":", 1)[1]))
        finally:
            recorder.stop()
    for answer, named in zip(answers, ("127.0.0.1:", "zz.example.test:443")):  # hosts before and after it, sorted
        assert answer.startswith(b"HTTP/1.1 421"), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"].startswith(
            f"flux-mock record: this tunnel is for gateway.pixazo.ai:443, not for {named}")
    assert refused.startswith(b"HTTP/1.1 403"), refused
    assert victim.seen == [], "nothing reached the host the Host header named, nor its key"


def test_the_hosts_answers_may_name_are_bounded(tmp_path):
    """One answer naming 300 media hosts: the first 256 may be CONNECTed to, the rest are refused."""
    with serving(HostileUpstream()) as upstream:
        recorder = recording(tmp_path / "n.har", upstream)
        try:
            named = httpx.get(recorder.url + STATUS, headers={**KEY, "X-Attack": "many-hosts", "X-Count": "300"},
                              timeout=30)
            assert named.status_code == 200 and len(named.json()["output"]["media_url"]) == 300
            statuses = {number: connect(recorder.url, f"h{number}.example.test")[1] for number in (0, 255, 256, 299)}
            _, undocumented = connect(recorder.url, "127.0.0.3")
        finally:
            code, stderr = recorder.terminate()
    assert statuses[0] == statuses[255] == b"HTTP/1.1 200 Connection Established", statuses
    assert statuses[256].startswith(b"HTTP/1.1 403") and statuses[299].startswith(b"HTTP/1.1 403"), statuses
    assert undocumented.startswith(b"HTTP/1.1 403"), "a URL outside the documented fields names nothing"
    assert stderr.count("answers named more than 256 hosts") == 1, stderr


def test_kill_9_at_any_moment_leaves_a_file_that_holds_every_answered_exchange(tmp_path, capsys):
    """The recorder is killed (SIGKILL) while it writes 8 MiB media entries, four times at random moments: each
    file is read by drift --har and serve --replay, and holds every exchange the app got an answer for."""
    rng = random.Random(34)
    with serving(HostileUpstream()) as upstream:
        for attempt in range(4):
            out = tmp_path / f"killed-{attempt}.har"
            recorder = recording(out, upstream, "--record-media", "--media-max-bytes", str(2 * MEDIA_BYTES))
            answered, stop = [], threading.Event()

            def download():
                with httpx.Client(base_url=recorder.url, timeout=30) as client:
                    while not stop.is_set():
                        try:
                            got = client.get(f"/v1/job-{len(answered)}/output.png")
                        except httpx.TransportError:
                            return
                        if got.status_code == 200 and len(got.content) == MEDIA_BYTES:
                            answered.append(got)
            app = threading.Thread(target=download)
            app.start()
            time.sleep(rng.uniform(0.3, 1.5))
            os.killpg(recorder.process.pid, signal.SIGKILL)
            recorder.process.wait(timeout=10)
            stop.set()
            app.join(timeout=30)
            recorder.stop()
            assert answered, "the app got answers before the kill"
            code = cli.main(["drift", "--har", str(out)])
            said = capsys.readouterr()
            assert code in (0, 1) and "Traceback" not in said.err, said.err
            create_app(Settings(replay=(str(out),)))  # serve --replay reads it (raises on a file it cannot read)
            held = len(read_har(out, warn=lambda line: None))
            assert held >= len(answered), f"attempt {attempt}: {len(answered)} answered, {held} in the file"


def _secrets() -> dict[str, str]:
    """Each form a secret takes (issue 34, item 6), with a value of its own that looks like a token."""
    forms = ["header X-Api-Key", "header Api-Key", "header X-Auth-Token", "header X-Webhook-Secret",
             "header Ocp-Apim-Subscription-Key", "header Authorization", "header Cookie", "header X-Secret-Key",
             "header X-Amz-Credential", "query subscription-key", "query api_key after ;", "query sig",
             "query auth", "query X-Amz-Credential", "query token", "query password", "webhook URL user info",
             "webhook URL path token", "webhook URL fragment", "webhook URL query", "body api_key",
             "body nested client_secret", "body webhook_url query", "body apiKey", "form subscription-key",
             "form password", "answer Set-Cookie", "answer field x-refresh-token"]
    return {form: f"S{number:02d}q7Zr4Kx9Vb2Nw8Lm" for number, form in enumerate(forms, 1)}


def _send_every_form(base: str, secret: dict[str, str]) -> None:
    headers = {name.removeprefix("header "): value for name, value in secret.items() if name.startswith("header ")}
    headers["Authorization"] = f"Bearer {headers['Authorization']}"
    headers["Cookie"] = f"session={headers['Cookie']}"
    hook = (f"https://hookuser:{secret['webhook URL user info']}@hooks.example.test/services/"
            f"{secret['webhook URL path token']}/in?k={secret['webhook URL query']}#{secret['webhook URL fragment']}")
    query = (f"subscription-key={secret['query subscription-key']};api_key={secret['query api_key after ;']}"
             f"&sig={secret['query sig']}&auth={secret['query auth']}"
             f"&X-Amz-Credential={quote(secret['query X-Amz-Credential'])}&token={secret['query token']}"
             f"&password={secret['query password']}&size=1")
    body = {"prompt": "a lighthouse", "api_key": secret["body api_key"],
            "auth": {"client_secret": secret["body nested client_secret"]},
            "webhook_url": f"https://hooks.example.test/h?x={secret['body webhook_url query']}",
            "apiKey": secret["body apiKey"]}
    with httpx.Client(base_url=base, timeout=30) as app:
        answered = app.post(f"/flux-dev/v1/dev/textToImage?{query}", json=body,
                            headers={**headers, "X-Webhook-URL": hook, "X-Attack": "echo",
                                     "X-Session": secret["answer Set-Cookie"],
                                     "X-Refresh-Token": secret["answer field x-refresh-token"]})
        assert answered.status_code == 200, answered.text
        form = (f"subscription-key={secret['form subscription-key']}&password={secret['form password']}"
                "&prompt=a+lighthouse")
        app.post("/flux-dev/v1/dev/textToImage", content=form,
                 headers={"Content-Type": "application/x-www-form-urlencoded", "X-Attack": "echo"})


def _leaked(secret: dict[str, str], **places: str) -> list[str]:
    return [f"{form} in {where}" for form, value in secret.items() for where, text in places.items()
            if value in text]


def test_no_secret_in_any_of_28_forms_reaches_a_file_a_journal_or_a_log(tmp_path):
    secret = _secrets()
    out = tmp_path / "secrets.har"
    with serving(HostileUpstream()) as upstream:
        recorder = recording(out, upstream, "--log-level", "info")
        try:
            _send_every_form(recorder.url, secret)
            journal = httpx.get(recorder.url + "/__admin/journal", timeout=10).text
        finally:
            code, stderr = recorder.terminate()
    down = recording(tmp_path / "down.har", "http://127.0.0.1:9")  # nothing listens: the upstream is down
    try:
        failed = httpx.get(f"{down.url}/v2/requests/status/x?subscription-key={secret['query subscription-key']}")
        assert failed.status_code == 502
    finally:
        _, down_stderr = down.terminate()
    served = MockProcess("--log-level", "info")
    try:
        _send_every_form(served.url, {**secret})
    except AssertionError:
        pass  # the mock answers the submit as the API does (202, not the echo's 200): what it logs is what counts
    finally:
        _, serve_stderr = served.terminate()
    har_text = out.read_text()
    assert "hooks.example.test/services/redacted/in?redacted" in har_text and "[redacted]" in har_text
    assert "redacted" in down_stderr and "subscription-key" in down_stderr, down_stderr
    leaked = _leaked(secret, har=har_text, recorder_journal=journal, recorder_log=stderr,
                     recorder_log_upstream_down=down_stderr, serve_access_log=serve_stderr)
    assert leaked == [], "\n".join(leaked)
