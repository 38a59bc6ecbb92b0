"""Drift you can act on (issue 37, items 1 and 2): every difference graded breaking, risky or info, one per
(operation, status, path), `--fail-on` deciding what fails, and a committed accept file turning known
differences into accepted ones until their expiry, in the Markdown, JSON and JUnit reports alike. Against a
gateway written from the pages (tests/support/pages_server.py) that renames `output.media_url` to `media_urls`
and adds a `seed` in its finished status answers."""

import datetime as dt
import json
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from contract_tests.differences import SEVERITY, Difference, one_per_place
from mock_server import cli
from tests.support.foreign_server import serving
from tests.support.kit_runs import kit
from tests.support.pages_server import PagesGateway

RENAMED = "output.media_url"  # where the planted breaking drift is


@pytest.fixture(scope="module")
def drifting_gateway():
    with serving(PagesGateway(drift=True, queued_for=0.05, processing_for=0.05).app) as url:
        yield url


def drift(url: str, tmp_path, *options: str) -> tuple[subprocess.CompletedProcess, dict]:
    reports = {name: tmp_path / f"report.{name}" for name in ("json", "xml")}
    finished = kit("drift", "--base-url", url, "--key", "pages-key", "--operation", "fluxDevTextToImage", "--allow-paid",
                   "--max-spend", "1", "--report-json", str(reports["json"]), "--report-junit", str(reports["xml"]),
                   *options, env={"FLUX_CHECK_POLL_INTERVAL": "0.05"})
    written = {"json": json.loads(reports["json"].read_text()) if reports["json"].exists() else None,
               "junit": ElementTree.parse(reports["xml"]).getroot() if reports["xml"].exists() else None}
    return finished, written


def _accept_file(tmp_path, *entries: dict):
    path = tmp_path / "accepted.yaml"
    path.write_text(json.dumps({"accepted": list(entries)}))  # JSON is YAML
    return str(path)


def test_each_difference_is_graded_once_per_place_and_a_breaking_one_fails(drifting_gateway, tmp_path):
    finished, written = drift(drifting_gateway, tmp_path)
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "3 differences (1 breaking, 0 risky, 2 info); 0 accepted; 1 failing (--fail-on risky)" in finished.stderr
    lines = [line for line in finished.stdout.splitlines() if line.startswith("- [")]
    at_renamed = [line for line in lines if re.search(r"at (body\.)?output\.media_url:", line)]
    assert len(lines) == 3 and len(at_renamed) == 1, "one difference at the renamed field (flow and schema alike)"
    assert lines[0].startswith("- [breaking] `getRequestStatus` ") and "(in a 200 answer)" in lines[0]
    assert any(line.startswith("- [info] `getRequestStatus` extra-field at body.output.seed") for line in lines)
    graded = [d for report in written["json"] for d in report["differences"]]
    assert {(d["severity"], d["status"]) for d in graded} == {("breaking", 200), ("info", 200)}
    case = written["junit"].find("testcase[@name='fluxDevTextToImage']")
    assert case.find("failure") is not None and RENAMED in case.find("failure").text
    assert "(below --fail-on)" in case.find("system-out").text, "the info differences are listed, not failed"


def test_an_accept_file_turns_a_known_difference_into_an_accepted_one_until_it_expires(drifting_gateway, tmp_path):
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    renamed = {"kind": "missing-field", "operation": "getRequestStatus", "status": 200, "path": "body.output.media_*",
               "reason": "the gateway renamed it; our client reads both", "expires": until}
    stale = {"kind": "missing-header", "operation": "schnellGetData", "reason": "fixed upstream", "expires": until}
    finished, written = drift(drifting_gateway, tmp_path, "--accept", _accept_file(tmp_path, renamed, stale))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"(accepted until {until}: the gateway renamed it; our client reads both)" in finished.stdout
    assert "## Accept entries that matched nothing (remove them)" in finished.stdout
    assert "- missing-header of schnellGetData (until" in finished.stdout
    assert "; 1 accept entries unused" in finished.stderr and "expired" not in finished.stderr, finished.stderr
    accepted = [d for report in written["json"] for d in report["differences"] if d["accepted"]]
    assert [d["accepted"]["expires"] for d in accepted] == [until]
    assert written["junit"].find("testcase[@name='fluxDevTextToImage']/failure") is None

    strict, _ = drift(drifting_gateway, tmp_path, "--accept", _accept_file(tmp_path, renamed), "--fail-on", "info")
    assert strict.returncode == 1 and "2 failing (--fail-on info)" in strict.stderr, "the added fields fail at info"
    lenient, _ = drift(drifting_gateway, tmp_path, "--fail-on", "breaking")
    assert lenient.returncode == 1, "the renamed field is breaking: it fails at every level"


def test_an_expired_entry_accepts_nothing_and_fails_saying_so(drifting_gateway, tmp_path):
    gone = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    entry = {"kind": "missing-field", "operation": "getRequestStatus", "path": "body.output.media_url",
             "reason": "temporary", "expires": gone}
    finished, written = drift(drifting_gateway, tmp_path, "--accept", _accept_file(tmp_path, entry))
    assert finished.returncode == 1
    assert f"flux-mock drift: accept entry expired on {gone}: missing-field of getRequestStatus body.output.media_url" \
        in finished.stderr
    assert "## Accept entries past their expiry" in finished.stdout
    assert "(--fail-on risky); 1 accept entries expired" in finished.stderr, finished.stderr  # the summary counts it
    assert not any(d["accepted"] for report in written["json"] for d in report["differences"])


@pytest.mark.parametrize("content, said", [
    ("accepted: [{kind: extra-field, operation: x, reason: r}]", "entry 1: `expires` is required"),
    ("accepted: [{kind: extra-field, operation: x, reason: r, expires: soon}]", "expires 'soon' is not a date"),
    ("accepted: [{kind: extra-field, operation: x, reason: r, expires: 2030-01-01, colour: red}]",
     "unknown field 'colour'"),
    ("nothing: here", "give a list under `accepted:`"),
])
def test_an_accept_file_it_cannot_read_is_one_line_exit_2_before_any_call(content, said, tmp_path):
    path = tmp_path / "accepted.yaml"
    path.write_text(content)
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "drift", "--base-url", "http://127.0.0.1:9",
                               "--accept", str(path)], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2 and said in finished.stderr and len(finished.stderr.splitlines()) == 1, \
        finished.stderr


@pytest.mark.parametrize("status, refused", [(99, True), (100, False), (599, False), (600, True)])
def test_an_accept_entrys_status_is_any_http_status_from_100_to_599(status, refused, tmp_path, capsys):
    """RFC 9110 section 15: a status code is three digits, 100 to 599; an entry naming another is refused before any
    call, one naming one of those is taken (the run goes on, here to a server that is not there)."""
    path = tmp_path / "accepted.yaml"
    path.write_text(f"accepted: [{{kind: status-gone, operation: x, reason: r, expires: 2030-01-01, status: {status}}}]")
    code = cli.main(["drift", "--base-url", "http://127.0.0.1:9", "--accept", str(path), "--operation", "getRequestStatus"])
    said = capsys.readouterr().err
    assert ("is not an HTTP status" in said) is refused and (code == 2) is refused, (code, said)


def test_every_kind_drift_names_has_a_severity_and_the_worst_wins_a_place():
    kinds = Difference.__dataclass_fields__["kind"]  # the kinds listed beside the field, and those code makes
    named = {"undocumented-status", "missing-field", "extra-field", "changed-type", "unknown-value", "changed-header",
             "missing-header", "changed-content-type", "invalid-flow", "media-unavailable", "media-mismatch",
             "url-changed", "status-added", "status-gone", "field-added", "field-gone", "type-changed",
             "error-codes-changed", "timing-changed", "unknown-path", "stale-recording"}
    assert kinds and named <= set(SEVERITY), named - set(SEVERITY)
    info = Difference("op", "extra-field", "body.a", "absent", "string", 200)
    worse = Difference("op", "changed-type", "body.a", "integer", "string", 200)
    elsewhere = Difference("op", "changed-type", "body.a", "integer", "string", 201)
    assert one_per_place([info, worse, elsewhere]) == (worse, elsewhere)
    flow = Difference("op", "invalid-flow", "status", "a status of the pages", '"UPSCALING"', 200)
    value = Difference("op", "unknown-value", "body.status", "one of QUEUED...", '"UPSCALING"', 200)
    assert one_per_place([flow, value]) == (value,), "the named change, not the flow rule it breaks, is kept"


def _client_har(tmp_path, *calls: tuple[str, str, int]) -> str:
    """A HAR of a client's own traffic: (method, path, status) each, as a browser or proxy exports it."""
    entries = [{"startedDateTime": "2026-12-07T10:00:00.000Z", "time": 1,
                "request": {"method": method, "url": f"https://gateway.pixazo.ai{path}", "httpVersion": "HTTP/1.1",
                            "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
                "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                             "cookies": [], "content": {"size": 2, "mimeType": "application/json", "text": "{}"},
                             "redirectURL": "", "headersSize": -1, "bodySize": 2},
                "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}} for method, path, status in calls]
    path = tmp_path / "client.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "a browser", "version": "1"},
                                        "entries": entries}}))
    return str(path)


def test_a_clients_own_traffic_marks_what_it_met_and_fail_on_used_fails_only_on_that(drifting_gateway, tmp_path):
    """What "used" knows from traffic: the operation called and the status it got, not the fields read."""
    polls = _client_har(tmp_path, ("POST", "/flux-dev/v1/dev/textToImage", 202),
                        ("GET", "/v2/requests/status/flux-dev_x", 200))
    met, written = drift(drifting_gateway, tmp_path, "--client", polls, "--fail-on-used")
    assert met.returncode == 1 and "3 met by the client" in met.stderr, met.stderr
    assert "(the client met it)" in met.stdout
    assert all(d["used"] is True for report in written["json"] for d in report["differences"])

    webhooks_only = _client_har(tmp_path, ("POST", "/flux-dev/v1/dev/textToImage", 202))  # never polls
    spared, written = drift(drifting_gateway, tmp_path, "--client", webhooks_only, "--fail-on-used")
    assert spared.returncode == 0, spared.stdout + spared.stderr
    assert "(the client never met it)" in spared.stdout and "0 met by the client" in spared.stderr
    assert all(d["used"] is False for report in written["json"] for d in report["differences"])
    marked, _ = drift(drifting_gateway, tmp_path, "--client", webhooks_only)
    assert marked.returncode == 1, "without --fail-on-used the client's use only marks the differences"


def test_fail_on_used_without_a_client_is_a_usage_error():
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "drift", "--base-url", "http://127.0.0.1:9",
                               "--fail-on-used"], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2 and "--fail-on-used needs --client FILE" in finished.stderr
