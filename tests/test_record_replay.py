"""Learning from real traffic, without the network: a stand-in gateway on loopback with a CA of its own is
recorded through `flux-mock record` by an unchanged app (HTTPS_PROXY and flux-mock's local CA, nothing else),
then replayed offline by `flux-mock serve --replay` to the same app. Every process is started here and stopped
by its PID; loopback only."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract_tests.process import MockProcess
from tests.support.stand_in_gateway import PlantedDrift, stand_in_gateway
from tests.support.kit_runs import kit

APP = Path(__file__).parent / "clients" / "recorded_app.py"
SECRET = "app-secret-key-4f9c2a7e1b"


def run_app(proxy_url: str, home: Path) -> list[dict]:
    """The app, unchanged: only HTTPS_PROXY and the CA set. What it saw, one dict a line."""
    ca = str(home / "ca.pem")
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH") if name in os.environ}
    environment = {**keep, "HTTPS_PROXY": proxy_url, "SSL_CERT_FILE": ca, "APP_KEY": SECRET}
    finished = subprocess.run([sys.executable, str(APP)], env=environment, capture_output=True, text=True, timeout=90)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [json.loads(line) for line in finished.stdout.splitlines()]


def record(folder: Path, upstream: str, ca: Path, home: Path, name: str = "session.har") -> tuple[Path, list[dict]]:
    """The app's run recorded through `flux-mock record`; the HAR file and what the app saw."""
    out = folder / name
    recorder = MockProcess("--out", str(out), "--upstream", upstream, "--upstream-ca", str(ca), "--record-media",
                           command="record")
    try:
        seen = run_app(recorder.url, home)
    finally:
        code, stderr = recorder.terminate()
    assert code in (0, -signal.SIGTERM) and "Traceback" not in stderr, stderr
    return out, seen


def entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["log"]["entries"]


def statuses(seen: list[dict]) -> list[str]:
    return [line["value"]["status"] for line in seen if line["kind"] == "poll"]


@pytest.fixture(scope="module")
def recording(home, tmp_path_factory):
    """One clean recording of the app against the stand-in gateway."""
    folder = tmp_path_factory.mktemp("recording")
    with stand_in_gateway(folder) as (upstream, ca):
        path, seen = record(folder, upstream, ca, home)
    return path, seen


def test_an_unchanged_app_is_recorded_through_the_proxy_as_har_with_flux_mock_facts(recording):
    path, seen = recording
    assert statuses(seen)[-1] == "COMPLETED" and seen[-1]["value"]["png"], seen
    recorded = entries(path)
    submit, *polls, image = recorded
    assert submit["request"]["url"].endswith("/flux-dev/v1/dev/textToImage") and submit["response"]["status"] == 202
    assert submit["_fluxMock"]["operationId"] == "fluxDevTextToImage" and submit["_fluxMock"]["kind"] == "queue"
    job = submit["_fluxMock"]["requestId"]
    assert [poll["_fluxMock"]["sequence"] for poll in polls] == list(range(1, len(polls) + 1))
    assert {poll["_fluxMock"]["requestId"] for poll in polls} == {job}
    assert [poll["_fluxMock"]["jobStatus"] for poll in polls] == statuses(seen)
    content = image["response"]["content"]
    assert content["mimeType"] == "image/png" and content["encoding"] == "base64"
    assert all(not entry["_fluxMock"].get("drift") for entry in recorded if "_fluxMock" in entry), "a clean gateway"


def test_no_key_reaches_the_file(recording):
    path, _ = recording
    text = path.read_text()
    assert SECRET not in text and SECRET[:12] not in text
    header = next(h for h in entries(path)[0]["request"]["headers"] if h["name"].lower() == "ocp-apim-subscription-key")
    assert header["value"] == "[redacted]"


def test_drift_on_a_clean_recording_names_nothing(recording):
    path, _ = recording
    judged = kit("drift", "--har", str(path))
    assert judged.returncode == 0, judged.stdout + judged.stderr


def test_replayed_offline_the_app_gets_the_same_answers_and_status_sequence(recording, home):
    path, seen = recording
    with_mock = MockProcess("--replay", str(path), "--replay-speed", "0")
    try:
        replayed = run_app(with_mock.url, home)
        journal = httpx.get(f"{with_mock.url}/__admin/journal").json()["entries"]
    finally:
        with_mock.stop()
    assert statuses(replayed) == statuses(seen)
    first, again = seen[0]["value"], replayed[0]["value"]
    assert again["request_id"] != first["request_id"] and again["request_id"].startswith("flux-dev_"), "a new id"
    assert again["polling_url"] == f"https://gateway.pixazo.ai/v2/requests/status/{again['request_id']}", \
        "the URLs lead back to the mock, as the app reached it"
    assert {k: v for k, v in again.items() if k not in ("request_id", "polling_url")} == \
        {k: v for k, v in first.items() if k not in ("request_id", "polling_url")}
    last = [line["value"] for line in replayed if line["kind"] == "poll"][-1]
    recorded_last = [line["value"] for line in seen if line["kind"] == "poll"][-1]
    assert last["created_at"] == recorded_last["created_at"] and last["request_id"] == again["request_id"]
    assert replayed[-1] == seen[-1], "the recorded image, byte for byte (size and type)"
    answers = [entry["answer"] for entry in journal if entry.get("operation_id")]
    assert answers[0] == "replayed (1 of 1)" and all(a.startswith("replayed") for a in answers), answers


def test_a_har_without_flux_mock_facts_replays_too(recording, home, tmp_path):
    """Another tool's HAR (a browser's export has no _fluxMock): matched by method, path and body alone."""
    path, seen = recording
    document = json.loads(path.read_text())
    for entry in document["log"]["entries"]:
        entry.pop("_fluxMock", None)
    foreign = tmp_path / "foreign.har"
    foreign.write_text(json.dumps(document))
    with_mock = MockProcess("--replay", str(foreign), "--replay-speed", "0")
    try:
        replayed = run_app(with_mock.url, home)
    finally:
        with_mock.stop()
    assert statuses(replayed) == statuses(seen)


def test_drift_is_named_on_the_way_and_by_drift_har_and_report(home, tmp_path):
    with stand_in_gateway(tmp_path, rewrite=PlantedDrift()) as (upstream, ca):
        out = tmp_path / "drifting.har"
        recorder = MockProcess("--out", str(out), "--upstream", upstream, "--upstream-ca", str(ca), command="record")
        try:
            run_app(recorder.url, home)
            recorder_url = recorder.url
            report = kit("report", "--base-url", recorder_url)
        finally:
            recorder.terminate()
    on_the_way = {line for entry in entries(out) for line in entry.get("_fluxMock", {}).get("drift", [])}
    judged = kit("drift", "--har", str(out))
    assert judged.returncode == 1, judged.stdout + judged.stderr
    planted = ("extra-field at body.queue_position", "changed-type at body.created_at", "UPSCALING")
    named = [line for line in judged.stdout.splitlines() if line.startswith("- [")]
    assert named and all(any(drift in line for drift in planted) for line in named), \
        f"drift --har names the planted drifts and nothing else:\n{judged.stdout}"
    for drift in planted:
        assert drift in judged.stdout, f"{drift} not named by drift --har:\n{judged.stdout}"
        assert any(drift in line for line in on_the_way), f"{drift} not in the HAR's _fluxMock.drift"
        assert drift in report.stdout, f"{drift} not in report:\n{report.stdout}"


def test_a_slower_or_faster_job_is_named_against_a_baseline_recording(home, tmp_path):
    with stand_in_gateway(tmp_path, queued_for=0.1, processing_for=0.2) as (upstream, ca):
        baseline, _ = record(tmp_path, upstream, ca, home, "fast.har")
    with stand_in_gateway(tmp_path, queued_for=1.0, processing_for=2.0) as (upstream, ca):
        slow, _ = record(tmp_path, upstream, ca, home, "slow.har")
    judged = kit("drift", "--har", str(slow), "--baseline", str(baseline))
    assert judged.returncode == 1 and "timing-changed" in judged.stdout, judged.stdout + judged.stderr
    faster = kit("drift", "--har", str(baseline), "--baseline", str(slow))
    assert faster.returncode == 1 and "timing-changed" in faster.stdout and "(faster, median of" in faster.stdout, \
        "jobs much faster than the baseline are a change too (a cache, a model swapped)"
    same = kit("drift", "--har", str(baseline), "--baseline", str(baseline))
    assert same.returncode == 0, same.stdout


def test_a_recorder_killed_mid_run_leaves_a_valid_har(recording, home, tmp_path):
    path, _ = recording
    with stand_in_gateway(tmp_path) as (upstream, ca):
        out = tmp_path / "killed.har"
        recorder = MockProcess("--out", str(out), "--upstream", upstream, "--upstream-ca", str(ca), command="record")
        try:
            run_app(recorder.url, home)
            os.kill(recorder.process.pid, signal.SIGKILL)
            recorder.process.wait(timeout=10)
        finally:
            recorder.stop()
    assert len(entries(out)) >= 3, "every exchange answered before the kill is in the file, which is whole JSON"


def test_the_recorder_refuses_a_connect_to_a_host_no_answer_named(home, tmp_path):
    recorder = MockProcess("--out", str(tmp_path / "r.har"), command="record")
    try:
        port = int(recorder.url.rsplit(":", 1)[1])
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n")
            answer = connection.recv(4096).decode()
    finally:
        recorder.stop()
    assert answer.startswith("HTTP/1.1 403") and "the hosts its answers named in their URL fields" in answer


def test_an_existing_file_is_kept_unless_forced(tmp_path):
    out = tmp_path / "kept.har"
    out.write_text("precious")
    refused = subprocess.run([sys.executable, "-m", "mock_server.cli", "record", "--out", str(out), "--port", "0"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert out.read_text() == "precious"


def test_by_base_url_requests_go_on_to_the_upstream_and_an_unreachable_one_is_a_502_naming_it(home, tmp_path):
    from tests.support.ports import closed_port_url

    with stand_in_gateway(tmp_path) as (upstream, ca):
        out = tmp_path / "direct.har"
        recorder = MockProcess("--out", str(out), "--upstream", upstream, "--upstream-ca", str(ca), command="record")
        try:
            answer = httpx.post(f"{recorder.url}/flux-dev/v1/dev/textToImage", json={"prompt": "p"},
                                headers={"Ocp-Apim-Subscription-Key": SECRET}, timeout=30)
        finally:
            recorder.terminate()
    assert answer.status_code == 202 and answer.json()["polling_url"].startswith(recorder.url + "/v2/requests/"), \
        "by base URL, the answer's URLs lead back through the recorder"
    (entry,) = entries(out)
    assert entry["request"]["url"] == f"{upstream}/flux-dev/v1/dev/textToImage" and SECRET not in out.read_text()
    assert json.loads(entry["response"]["content"]["text"])["polling_url"].startswith(upstream), \
        "the file keeps the URL the upstream sent"
    nowhere = closed_port_url()
    recorder = MockProcess("--out", str(tmp_path / "nowhere.har"), "--upstream", nowhere, command="record")
    try:
        failed = httpx.post(f"{recorder.url}/flux-dev/v1/dev/textToImage", json={"prompt": "p"},
                            headers={"Ocp-Apim-Subscription-Key": SECRET}, timeout=30)
    finally:
        recorder.terminate()
    assert failed.status_code == 502 and failed.json()["statusCode"] == 502
    assert nowhere in failed.json()["message"] and entries(tmp_path / "nowhere.har") == [], "no answer, no entry"
