"""Stale answers at test time (issue 37, item 6): `serve --replay` of a recording whose answer the current specs
reject still answers as recorded (the app meets what was recorded), but journals it as `stale-recording` with
what changed, and `report` lists it. A real `flux-mock serve --replay` process, a hand-written HAR."""

import json

import httpx

from contract_tests.process import running_mock

KEY = {"Ocp-Apim-Subscription-Key": "k", "Content-Type": "application/json"}


def _har(path, answer: dict, status: int = 200) -> str:
    request = {"prompt": "a lighthouse"}
    entry = {"startedDateTime": "2026-06-01T10:00:00.000Z", "time": 5,
             "request": {"method": "POST", "url": "https://gateway.pixazo.ai/flux-1-schnell/v1/getData",
                         "httpVersion": "HTTP/1.1", "headers": [{"name": "Content-Type", "value": "application/json"}],
                         "queryString": [], "cookies": [], "headersSize": -1, "bodySize": len(json.dumps(request)),
                         "postData": {"mimeType": "application/json", "text": json.dumps(request)}},
             "response": {"status": status, "statusText": "OK", "httpVersion": "HTTP/1.1",
                          "headers": [{"name": "Content-Type", "value": "application/json"}], "cookies": [],
                          "content": {"size": len(json.dumps(answer)), "mimeType": "application/json",
                                      "text": json.dumps(answer)},
                          "redirectURL": "", "headersSize": -1, "bodySize": len(json.dumps(answer))},
             "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "flux-mock", "version": "0"},
                                        "entries": [entry]}}))
    return str(path)


def test_a_replayed_answer_the_specs_now_reject_is_answered_as_recorded_and_reported_stale(tmp_path):
    stale = _har(tmp_path / "old.har", {"output": 42})  # getData's output is a URL string now
    with running_mock("--replay", stale) as url:
        answer = httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "a lighthouse"}, headers=KEY)
        assert answer.status_code == 200 and answer.json() == {"output": 42}, "the app meets what was recorded"
        report = httpx.get(f"{url}/__admin/client-report").json()
    [finding] = [f for f in report["findings"] if f["kind"] == "stale-recording"]
    assert finding["operation_id"] == "schnellGetData"
    assert "changed-type at body.output: expected string, found integer" in finding["detail"], finding


def test_a_replayed_answer_the_specs_take_is_no_finding(tmp_path):
    fresh = _har(tmp_path / "new.har", {"output": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/flux-schnell-cf/"
                                                  "prompt-1765086317630-41419.png"})
    with running_mock("--replay", fresh) as url:
        assert httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "a lighthouse"}, headers=KEY
                          ).status_code == 200
        report = httpx.get(f"{url}/__admin/client-report").json()
    assert not [f for f in report["findings"] if f["kind"] == "stale-recording"], report["findings"]


def test_a_replay_that_learns_forwards_a_miss_to_the_upstream_keeps_it_redacted_and_answers_it_next_from_the_file(
        tmp_path):
    """`--on-miss upstream` (issue 37, item 5), against a gateway written from the pages on loopback: an
    unrecorded request is answered by the upstream and added to the recording (key redacted, still a whole HAR);
    asked again, the recording answers and the upstream is not called."""
    from mock_server.har import read_har
    from tests.support.foreign_server import serving
    from tests.support.pages_server import PagesGateway

    recording = _har(tmp_path / "learning.har", {"output": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/"
                                                           "flux-schnell-cf/prompt-1765086317630-41419.png"})
    gateway = PagesGateway(keys=("secret-pages-key",))
    key = {"Ocp-Apim-Subscription-Key": "secret-pages-key", "Content-Type": "application/json"}
    with serving(gateway.app) as upstream, \
            running_mock("--replay", recording, "--on-miss", "upstream", "--upstream", upstream) as url:
        recorded = httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "a lighthouse"}, headers=key)
        assert recorded.status_code == 200 and recorded.json()["output"].endswith("-41419.png"), "from the file"
        assert gateway.requests == [], "a recorded request never reaches the upstream"
        learned = httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "a harbour"}, headers=key)
        assert learned.status_code == 200 and learned.json()["output"].startswith(upstream), learned.text
        assert len(gateway.requests) == 1
        again = httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "a harbour"}, headers=key)
        name = learned.json()["output"].rsplit("/", 1)[1]
        assert again.json()["output"] == f"{url}/replayed-media/1/{name}", "answered from what it learned (its media "
        "led back through the mock, as replay does)"
        assert len(gateway.requests) == 1, "the upstream was not asked again"
        journal = httpx.get(f"{url}/__admin/journal").json()["entries"]
    assert [entry["answer"].split(" (")[0] for entry in journal] == [
        "replayed", "learned from upstream", "replayed"]
    exchanges = read_har(recording)
    assert len(exchanges) == 2 and json.loads(exchanges[1].request_content) == {"prompt": "a harbour"}
    assert "secret-pages-key" not in (tmp_path / "learning.har").read_text(), "the key redacted, as record does"


def test_on_miss_upstream_without_an_upstream_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    recording = _har(tmp_path / "r.har", {"output": 42})
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--replay", recording,
                               "--on-miss", "upstream"], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2 and "--on-miss upstream needs --replay FILE" in finished.stderr, finished.stderr


def test_an_upstream_answer_past_the_bound_is_a_502_read_no_further(tmp_path, monkeypatch):
    """The learning replay stops reading an upstream's answer at the bound (not after holding it whole)."""
    import asyncio

    from mock_server import replay_misses
    from mock_server.errors import UpstreamFailed

    monkeypatch.setattr(replay_misses, "MAX_ANSWER_BYTES", 1_000)
    sent = []

    async def endless():
        for _ in range(1_000):
            sent.append(1)
            yield b"x" * 100

    learner = replay_misses.MissLearner("http://upstream.test", str(tmp_path / "r.har"),
                                        httpx.MockTransport(lambda request: httpx.Response(200, content=endless())))

    async def forward():
        try:
            await learner.forward("GET", "/v2/requests/status/x", {}, b"")
        finally:
            await learner.close()

    try:
        asyncio.run(forward())
        raise AssertionError("an answer past the bound was taken")
    except UpstreamFailed as error:
        assert "larger than 1000 bytes" in str(error) and error.status == 502
    assert len(sent) <= 12, f"read {len(sent)} chunks of 100 bytes past a bound of 1,000"
