"""Recordings of the real world (issue 33): `flux-mock record` in front of a gateway written only from the pages
(tests/support/pages_server.py) with the real world's habits (it gzips, puts the request id in its media URLs,
serves media from another host) and of a staging flux-mock, by base URL; the files read back by drift, report
and replay, and HARs written by other tools read too. The recorder and the servers run in this process on
loopback (127.0.0.2 is "another host"); the app is a separate, unchanged program."""

import base64
import gzip
import json
import re
import subprocess

import httpx
import pytest

from mock_server.app import create_app
from mock_server.jobs.timing import Timing
from mock_server.settings import Settings
from tests.support.foreign_server import serving
from tests.support.kit_runs import kit
from tests.support.recorded_runs import entries, pages_gateway, polls, recorder, run_app

MEDIA_HOST_FINDING = ("url-changed at media URL host: expected one of images.pixazo.ai, "
                      "pub-582b7213209642b9b995c96c95a30381.r2.dev, storage.pixazo.ai (the pages') or {api}, "
                      "found 127.0.0.2")


def findings_on_the_way(recorded: list[dict]) -> list[str]:
    return [line for entry in recorded for line in entry.get("_fluxMock", {}).get("drift", [])]


def report_kinds(report: subprocess.CompletedProcess) -> set[str]:
    """The kinds of finding `report --har` names: this app polls every 0.05 s, so its own cadence is the one
    finding a faithful gateway leaves (the docs ask for 5 s)."""
    assert report.returncode in (0, 1) and "Traceback" not in report.stderr, report.stdout + report.stderr
    return set(re.findall(r"^- #\d+ ([a-z-]+):", report.stdout, re.MULTILINE))


@pytest.fixture(scope="module")
def gzipped(tmp_path_factory):
    """One recording of the app against the pages' gateway (gzip, media on another host)."""
    folder = tmp_path_factory.mktemp("gzipped")
    with pages_gateway() as (gateway, api, cdn):
        out = folder / "session.har"
        with recorder(out, api, record_media=True, allow_hosts=("127.0.0.2",)) as url:
            seen = run_app(url)
    return out, seen, cdn


def test_a_gzipping_gateway_is_recorded_whole_polls_and_media_through_the_recorder(gzipped):
    out, seen, cdn = gzipped
    recorded = entries(out)
    statuses = polls(seen)
    assert statuses[-1] == "COMPLETED" and seen[-1]["kind"] == "image" and seen[-1]["value"]["png"], seen
    assert len(recorded) == 1 + len(statuses) + 1, "every exchange written: the submit, each poll, the media"
    submit, *polled, image = recorded
    encoded = [entry for entry in [submit, *polled]
               if any(h["name"].lower() == "content-encoding" and h["value"] == "gzip"
                      for h in entry["response"]["headers"])]
    assert encoded, "the gateway gzipped its answers to this app (Accept-Encoding: gzip)"
    for entry in encoded:  # HAR 1.2: the text decoded, its size decoded, bodySize what crossed the wire
        content = entry["response"]["content"]
        assert json.loads(content["text"])["request_id"] and content["size"] == len(content["text"].encode())
        assert entry["response"]["bodySize"] < content["size"] and content["compression"] > 0
    assert [entry["_fluxMock"]["jobStatus"] for entry in polled] == statuses
    assert image["request"]["url"].startswith(cdn + "/v1/"), "the URL the upstream sent, not the recorder's"
    assert image["response"]["content"]["mimeType"] == "image/png"
    assert findings_on_the_way(recorded) == [MEDIA_HOST_FINDING.format(api=submit["request"]["url"].split("/")[2])], \
        "a faithful gateway whose CDN is a host the pages never name"
    assert seen[0]["value"]["polling_url"].startswith("http://127.0.0.1:") and "/v2/requests/status/" in \
        seen[0]["value"]["polling_url"]


def test_drift_and_report_read_the_recording_naming_only_the_media_host(gzipped):
    out, _, _ = gzipped
    drift = kit("drift", "--har", str(out))
    assert drift.returncode == 1 and "Traceback" not in drift.stderr, drift.stdout + drift.stderr
    assert "unknown-path" not in drift.stdout and "## fluxDevTextToImage: ok" in drift.stdout
    assert drift.stdout.count("url-changed") == 1 and "found 127.0.0.2" in drift.stdout, drift.stdout
    assert report_kinds(kit("report", "--har", str(out))) == {"polled-too-fast"}


def test_replayed_offline_media_is_served_from_the_recording_whatever_its_url_holds(gzipped, tmp_path):
    """The media URL holds the job's request id (page 003's layout) and another host: replay still serves the
    recorded bytes from the mock, never the original host."""
    out, seen, cdn = gzipped
    with serving(create_app(Settings(replay=(str(out),), replay_speed=0))) as mock:
        replayed = run_app(mock)
    assert polls(replayed) == polls(seen)
    image = replayed[-1]["value"]
    assert image["url"].startswith(mock + "/replayed-media/") and cdn not in image["url"]
    assert image["status"] == 200 and image["png"] and image["size"] == seen[-1]["value"]["size"]


def test_drift_inside_output_is_named_with_its_path(tmp_path):
    with pages_gateway(drift=True) as (_, api, _cdn):
        out = tmp_path / "drifted.har"
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url)
    on_the_way = {line for entry in entries(out) for line in entry.get("_fluxMock", {}).get("drift", [])}
    drift = kit("drift", "--har", str(out))
    assert drift.returncode == 1
    for named in ("missing-field at body.output.media_url", "extra-field at body.output.media_urls",
                  "extra-field at body.output.seed"):
        assert named in drift.stdout, drift.stdout
        assert any(named in line for line in on_the_way), on_the_way
    assert "changed-type at body.output" not in drift.stdout


def test_a_moved_polling_url_is_named_url_changed_on_the_way_and_against_a_baseline(tmp_path):
    with pages_gateway() as (_, api, _cdn):
        baseline = tmp_path / "baseline.har"
        with recorder(baseline, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url)
    with pages_gateway() as (gateway, api, cdn):
        gateway.polling_base = cdn  # the status endpoint moved to another host
        moved = tmp_path / "moved.har"
        with recorder(moved, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url)
    on_the_way = [line for entry in entries(moved) for line in entry.get("_fluxMock", {}).get("drift", [])]
    assert any(line.startswith("url-changed at body.polling_url") and cdn in line for line in on_the_way), on_the_way
    against = kit("drift", "--har", str(moved), "--baseline", str(baseline))
    assert against.returncode == 1
    assert "url-changed at body polling_url: expected the host asked/v2/requests/status/{id} (baseline), found " \
           "127.0.0.2:" in against.stdout, against.stdout


def test_a_redacted_webhook_url_makes_no_false_finding(tmp_path):
    """The app's webhook URL carries a token in its query: the file holds it redacted, and neither the recorder
    (which judges the real value) nor report --har (which reads the redacted one) finds anything wrong."""
    with pages_gateway() as (_, api, _cdn):
        out = tmp_path / "hooked.har"
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url, APP_WEBHOOK="https://hooks.example.test/flux?token=abc123secret")
    text = out.read_text()
    assert "abc123secret" not in text and "hooks.example.test/flux?redacted" in text
    recorded = entries(out)
    assert findings_on_the_way(recorded) == [MEDIA_HOST_FINDING.format(api=recorded[0]["request"]["url"].split("/")[2])]
    assert report_kinds(kit("report", "--har", str(out))) == {"polled-too-fast"}


def test_a_staging_flux_mock_recorded_by_base_url_gives_polls_and_media(tmp_path):
    staging = create_app(Settings(timing=Timing(queued_for=0.1, processing_for=0.2)))
    with serving(staging, lifespan="on") as upstream:
        out = tmp_path / "staging.har"
        with recorder(out, upstream) as url:
            seen = run_app(url)
    recorded = entries(out)
    kinds = [entry.get("_fluxMock", {}).get("kind") for entry in recorded]
    assert kinds.count("status") == len(polls(seen)) >= 1 and seen[-1]["kind"] == "image"
    assert recorded[-1]["request"]["url"].startswith(upstream + "/v1/"), "the media download, recorded"
    drift = kit("drift", "--har", str(out))
    assert drift.returncode == 0 and "unknown-path" not in drift.stdout, drift.stdout


def _browser_export(har: dict) -> dict:
    """The recording as Chromium exports it: its own fields, timings of -1, no _fluxMock."""
    for entry in har["log"]["entries"]:
        entry.pop("_fluxMock", None)
        entry.update(_initiator={"type": "script"}, _priority="High", _resourceType="fetch", pageref="page_1",
                     serverIPAddress="127.0.0.1", connection="443")
        entry["timings"] = {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0.1, "wait": 3, "receive": 1}
    har["log"]["pages"] = [{"id": "page_1", "title": "app", "startedDateTime": har["log"]["entries"][0][
        "startedDateTime"], "pageTimings": {}}]
    return har


def _still_encoded(har: dict) -> dict:
    """The recording as a tool that keeps answers as they crossed the wire writes it (gzip bytes, base64)."""
    for entry in har["log"]["entries"]:
        content = entry["response"]["content"]
        if content.get("mimeType", "").startswith("application/json") and "text" in content:
            content.update(text=base64.b64encode(gzip.compress(content["text"].encode())).decode(), encoding="base64")
            entry["response"]["headers"] = [h for h in entry["response"]["headers"]
                                            if h["name"].lower() != "content-encoding"]
            entry["response"]["headers"].append({"name": "Content-Encoding", "value": "gzip"})
    return har


@pytest.mark.parametrize("tool", [_browser_export, _still_encoded])
def test_hars_other_tools_write_are_read_by_drift_report_and_replay(gzipped, tmp_path, tool):
    out, seen, _ = gzipped
    foreign = tmp_path / "foreign.har"
    foreign.write_text(json.dumps(tool(json.loads(out.read_text()))))
    drift = kit("drift", "--har", str(foreign))
    assert drift.returncode == 1 and "Traceback" not in drift.stderr, drift.stdout + drift.stderr
    assert drift.stdout.count("\n- [") == 1 and "url-changed at media URL host" in drift.stdout, drift.stdout
    assert report_kinds(kit("report", "--har", str(foreign))) == {"polled-too-fast"}
    with serving(create_app(Settings(replay=(str(foreign),), replay_speed=0))) as mock:
        replayed = run_app(mock)
    assert polls(replayed) == polls(seen) and replayed[-1]["value"]["png"]


def _recorded_upstream(tmp_path, upstream: str | None, send) -> list[httpx.Request]:
    """What the upstream got of what `send(client)` sent through a recorder (in this process; the upstream a
    MockTransport answering 404 in the pages' shape, so nothing leaves the process)."""
    got: list[httpx.Request] = []

    def upstream_answer(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(404, json={"error": "Endpoint not found"})

    with recorder(tmp_path / "r.har", upstream, transport=httpx.MockTransport(upstream_answer)) as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        send(client)
    return got


def test_only_a_post_has_its_webhook_url_swapped_for_a_relay(tmp_path):
    """The recorder relays the webhooks of requests that can start a job (a POST of an operation that delivers
    them); a GET to the same path goes upstream as the app sent it, its X-Webhook-URL untouched."""
    app_hook = "http://127.0.0.1:9/app-hook"

    def send(client):
        for method in ("GET", "POST"):
            client.request(method, "/flux-dev/v1/dev/textToImage", headers={
                "Ocp-Apim-Subscription-Key": "k", "X-Webhook-URL": app_hook},
                json={"prompt": "a fox"} if method == "POST" else None)

    got = _recorded_upstream(tmp_path, "http://upstream.test", send)
    assert [(request.method, request.headers["x-webhook-url"] == app_hook) for request in got] == [
        ("GET", True), ("POST", False)], [(r.method, r.headers.get("x-webhook-url")) for r in got]


def test_a_path_of_no_spec_goes_to_the_specs_own_server_when_no_upstream_is_given(tmp_path):
    """Without --upstream, a request goes to the server its path's spec names; one no spec holds goes to the
    first spec's server (the gateway's), not nowhere."""
    got = _recorded_upstream(tmp_path, None, lambda client: client.get("/no/such/path?x=1"))
    assert [str(request.url) for request in got] == ["https://gateway.pixazo.ai/no/such/path?x=1"]
