"""Verdicts of the kit no test held (issue 38, item 1): each was changed by hand and every test still passed.
Each test names the rule it holds (a page's, or the guide's), and was watched failing with the verdict broken.
Against flux-mock served for real (a process for the fixture's, uvicorn in a thread otherwise) or a recording."""

import json
import re
from collections import Counter
import time

import httpx
import pytest

from contract_tests.check_report import Outcome
from contract_tests.process import running_mock
from mock_server.har import HarWriter, RecordedExchange
from tests.support.kit_runs import kit

KEY = {"Ocp-Apim-Subscription-Key": "k"}
FLUX_DEV = "/flux-dev/v1/dev/textToImage"


def har(path, exchanges: list[RecordedExchange]):
    writer = HarWriter(path, replace=True)
    for exchange in exchanges:
        writer.write(exchange.to_har(dict(exchange.flux)))
    writer.close()
    return str(path)


def status_body(request_id: str, status: str = "COMPLETED",
                media_url: str = "https://images.pixazo.ai/v1/x/output.png") -> dict:
    """Page 003's status answer of a flux-dev job: its output (one image at `media_url`) only when COMPLETED."""
    done = status == "COMPLETED"
    return {"request_id": request_id, "status": status, "model_id": "flux-dev", "error": None,
            "output": {"media_url": [media_url], "media_type": "image/png"} if done else None,
            "created_at": "2026-12-01T00:00:00.000Z", "updated_at": "2026-12-01T00:00:05.000Z",
            "completed_at": "2026-12-01T00:00:05.000Z" if done else None}


# --- the fixture's verification --------------------------------------------------------------------------------
def test_assert_called_with_a_body_and_no_times_fails_on_another_body(flux_mock):
    httpx.post(flux_mock.url + "/flux-1-schnell/v1/getData", json={"prompt": "a boat"}, headers=KEY)
    flux_mock.assert_called("schnellGetData", body={"prompt": "a boat"})
    with pytest.raises(AssertionError, match="prompt"):
        flux_mock.assert_called("schnellGetData", body={"prompt": "a fox"})


def test_call_order_is_read_from_each_operations_first_call(flux_mock):
    """assert_called_in_order: each operation first called after the one before it (the guide's words)."""
    for path in ("/flux-1-schnell/v1/getData", "/flux-2-klein-4b/v1/generateImage", "/flux-1-schnell/v1/getData"):
        httpx.post(flux_mock.url + path, json={"prompt": "x"}, headers=KEY)
    flux_mock.assert_called_in_order("schnellGetData", "klein4bGenerateImage")
    with pytest.raises(AssertionError):
        flux_mock.assert_called_in_order("klein4bGenerateImage", "schnellGetData")


# --- outcome coverage ----------------------------------------------------------------------------------------------
def test_a_final_status_seen_by_poll_is_credited_to_the_submit_it_belongs_to(flux_mock):
    """Outcome coverage: "each final status of the operation's jobs (COMPLETED, FAILED, ERROR, seen by poll...)"
    is the submitting operation's outcome, not the status operation's, with the job seen final only by a poll."""
    flux_mock.timing.set(mode="time", queued_for=1, processing_for=1)
    job = httpx.post(flux_mock.url + FLUX_DEV, json={"prompt": "x"}, headers=KEY).json()
    assert job["status"] == "QUEUED"
    flux_mock.clock.advance(5)
    assert httpx.get(job["polling_url"], headers=KEY).json()["status"] == "COMPLETED"
    shown = kit("report", "--base-url", flux_mock.url, "--coverage").stdout
    rows = {line.split(":")[0].strip(): line for line in shown.splitlines() if line.startswith("  ") and ": met" in line}
    assert "job COMPLETED" in rows["fluxDevTextToImage"], shown
    assert "job COMPLETED" not in rows["getRequestStatus"], shown


# --- check's verdicts ----------------------------------------------------------------------------------------------
def test_a_contract_failure_is_never_reported_as_not_reached_nor_passes_and_a_skip_as_skipped():
    """docs/guide/contract-tests.md: a network failure is "not reached", never a contract failure; a contract
    failure is a failure whatever else happened; an operation that passed is not "skipped" for one skip."""
    assert Outcome("op", "positive", failed=1, unreachable=1).verdict == "FAILED"
    assert Outcome("op", "positive", unreachable=1).verdict == "NOT REACHED"
    assert Outcome("op", "positive", passed=3, skipped=1).verdict == "passed"
    assert Outcome("op", "positive", skipped=1).verdict == "skipped"


@pytest.fixture(scope="module")
def dropped_and_broken(tmp_path_factory):
    """One `check` of two operations of a real flux-mock: schnellGetData's connections dropped, Klein forced to
    answer 502, which its spec does not document (a contract failure)."""
    folder = tmp_path_factory.mktemp("check")
    config = folder / "rules.yaml"
    config.write_text("rules:\n"
                      "  - {match: {operation_id: schnellGetData}, outcome: {drop_connection: true}}\n"
                      "  - {match: {operation_id: klein4bGenerateImage}, outcome: {status: 502}}\n")
    with running_mock("--config", str(config)) as url:
        ran = kit("check", "--base-url", url, "--key", "k", "--max-examples", "1", "--operation", "schnellGetData",
                  "--operation", "klein4bGenerateImage", "--report", str(folder / "junit.xml"))
    return ran, (folder / "junit.xml").read_text()


def test_check_names_a_dropped_connection_not_reached_and_a_broken_answer_failed(dropped_and_broken):
    """Found by this test: schemathesis gives both operations' cases one nodeid, and the network errors of one
    made the other's contract failure "not reached" (JUnit <error> instead of <failure>)."""
    ran, junit = dropped_and_broken
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "FAILED klein4bGenerateImage [positive]" in ran.stdout and "NOT REACHED klein4bGenerateImage" not in \
        ran.stdout, ran.stdout[-3000:]
    assert "NOT REACHED schnellGetData [positive]" in ran.stdout and "FAILED schnellGetData" not in ran.stdout
    schnell = re.findall(r'<testcase classname="schnellGetData" name="positive".*?</testcase>', junit, re.S)
    assert schnell and "<failure" not in schnell[0] and '<error message="target not reached"' in schnell[0]
    klein = re.findall(r'<testcase classname="klein4bGenerateImage" name="positive".*?</testcase>', junit, re.S)
    assert klein and "<failure" in klein[0] and "Undocumented status code" in klein[0] and "<error" not in klein[0]
    # the suite's counts are the cases' verdicts: Klein's positive and negative failed, schnellGetData's three
    # not reached (JUnit's errors), none skipped, six cases in all
    suite = re.search(r"<testsuite [^>]*>", junit).group(0)
    assert all(f'{name}="{count}"' in suite for name, count in
               (("tests", 6), ("failures", 2), ("errors", 3), ("skipped", 0))), suite
    # a failure's message is its first line; the notes of a case are its system-out, one "note: " a line
    assert re.search(r'<failure message="1 distinct breach in \d+ failing cases:">', klein[0]), klein[0][:500]
    (assumed,) = re.findall(r'<testcase classname="klein4bGenerateImage" name="assumptions".*?</testcase>', junit, re.S)
    assert "<system-out>note: refuses (502: " in assumed and "\nnote: refuses (502: " in assumed, assumed
    # each operation's progress line counts its checks' outcomes
    assert re.search(r"^  klein4bGenerateImage +\d+ cases +1 passed +2 failed  \(positive, negative, assumptions\)$",
                     ran.stdout, re.M), ran.stdout[:600]
    assert re.search(r"^  schnellGetData +\d+ cases +0 passed +0 failed, 3 not reached  \(positive, ", ran.stdout,
                     re.M), ran.stdout[:600]
    # the table and the last line count each check's outcome: Klein's positive and negative failed, its
    # assumptions passed; schnellGetData's three not reached
    assert re.search(r"^positive\s+0\s+1\s+0\s+1$", ran.stdout, re.M), ran.stdout[-1500:]
    assert ": 1 passed, 2 failed, 0 skipped, 3 not reached" in ran.stdout, ran.stdout[-1500:]
    section = ran.stdout[ran.stdout.index("FAILED klein4bGenerateImage [positive]"):]
    assert "Schemathesis found 2 distinct failures" in section.split("\nFAILED ")[0], section[:1500]


# --- drift's verdicts over a recording -----------------------------------------------------------------------------
def _job_then(media_status: int, *, kept: bool, tmp_path) -> str:
    request_id = "flux-dev_019b76da-a800-7000-8000-000000000000a"
    polled = status_body(request_id)
    json_type = (("Content-Type", "application/json"),)
    return har(tmp_path / "job.har", [
        RecordedExchange("POST", "https://gateway.pixazo.ai" + FLUX_DEV, 202, json_type, b'{"prompt": "x"}', json_type,
                         json.dumps({"request_id": request_id, "status": "QUEUED", "polling_url":
                                     f"https://gateway.pixazo.ai/v2/requests/status/{request_id}"}).encode(),
                         started=time.time()),
        RecordedExchange("GET", f"https://gateway.pixazo.ai/v2/requests/status/{request_id}", 200, (), b"", json_type,
                         json.dumps(polled).encode(), started=time.time() + 5),
        RecordedExchange("GET", "https://images.pixazo.ai/v1/x/output.png", media_status, (), b"",
                         (("Content-Type", "image/png"),), b"", started=time.time() + 6, content_omitted=not kept,
                         body_size=2048),
    ])


def test_drift_over_a_recording_names_a_media_download_that_answered_404_without_bytes_kept(tmp_path):
    """A media URL an answer named must download (200): a recording that kept only its size still says 404."""
    report = kit("drift", "--har", _job_then(404, kept=False, tmp_path=tmp_path))
    assert report.returncode == 1 and "media-unavailable at https://images.pixazo.ai/v1/x/output.png: expected 200, " \
        "found 404" in report.stdout, report.stdout
    ok = kit("drift", "--har", _job_then(200, kept=False, tmp_path=tmp_path))
    assert "media-unavailable" not in ok.stdout, ok.stdout


# --- report over a recording ---------------------------------------------------------------------------------------
def test_report_over_a_recording_honours_a_503s_retry_after_and_never_journals_the_redacted_key(tmp_path):
    """A 503 with Retry-After asks the client to wait as a 429's does: a retry sooner is ignored-retry-after. A
    recording whose key was redacted has no key to group by (not the key `[redacted]`)."""
    json_type = ("Content-Type", "application/json")
    started = time.time()
    recorded = [RecordedExchange("POST", "https://gateway.pixazo.ai/flux-1-schnell/v1/getData", status,
                                 (("Ocp-Apim-Subscription-Key", "[redacted]"), json_type), b'{"prompt": "x"}',
                                 (json_type, *((("Retry-After", "30"),) if status == 503 else ())),
                                 b'{"error": "Service Unavailable"}' if status == 503 else b'{"output": "https://x/y.png"}',
                                 started=started + offset)
                for status, offset in ((503, 0), (200, 2))]
    shown = kit("report", "--har", har(tmp_path / "r.har", recorded))
    assert shown.returncode == 1 and "ignored-retry-after" in shown.stdout, shown.stdout + shown.stderr
    assert "sent 2.0 s after the 503 answer that asked to wait 30 s" in shown.stdout, shown.stdout
    assert "[redacted]" not in shown.stdout, shown.stdout


def test_drift_names_a_retyped_field_at_any_depth_inside_an_answer(tmp_path):
    """Page 004's finished body: `images[].width` is an integer. A width sent as text is named with its path, as
    a change at the top is: drift walks every level of the schema."""
    json_type = (("Content-Type", "application/json"),)
    finished = {"images": [{"url": "https://images.pixazo.ai/a.jpg", "width": "1024", "height": 768,
                            "content_type": "image/jpeg"}], "seed": 7, "prompt": "x"}
    path = har(tmp_path / "fal.har", [RecordedExchange(
        "POST", "https://gateway.pixazo.ai/flux-pro-polling/pro/getFluxProStatus", 200, json_type,
        b'{"request_id": "r-1"}', json_type, json.dumps(finished).encode(), started=time.time())])
    report = kit("drift", "--har", path)
    assert "`fluxProGetStatus` changed-type at body.images[].width: expected integer, found string" in report.stdout, \
        report.stdout


def test_report_over_a_recording_expects_no_polls_of_a_job_whose_result_comes_by_webhook(tmp_path):
    """Page 003: "Add the X-Webhook-URL header ... to receive a POST callback instead of polling": a recorded submit
    that named a webhook and was never polled is no gave-up (one without a webhook is)."""
    json_type = ("Content-Type", "application/json")

    def submit(number: int, hook: bool) -> RecordedExchange:
        request_id = f"flux-dev_019b76da-a800-7000-8000-00000000000{number}a"
        headers = (("Ocp-Apim-Subscription-Key", "k"), json_type,
                   *((("X-Webhook-URL", "https://app.example/hook"),) if hook else ()))
        return RecordedExchange("POST", "https://gateway.pixazo.ai" + FLUX_DEV, 202, headers, b'{"prompt": "x"}',
                                (json_type,), json.dumps({"request_id": request_id, "status": "QUEUED",
                                                          "polling_url": "https://gateway.pixazo.ai/v2/requests/"
                                                                         f"status/{request_id}"}).encode(),
                                started=time.time() + number)

    hooked = kit("report", "--har", har(tmp_path / "hooked.har", [submit(1, True)]))
    assert hooked.returncode == 0 and "gave-up" not in hooked.stdout, hooked.stdout + hooked.stderr
    polled = kit("report", "--har", har(tmp_path / "polled.har", [submit(2, False)]))
    assert polled.returncode == 1 and "gave-up" in polled.stdout, polled.stdout + polled.stderr


def test_an_accept_file_takes_every_http_status_and_says_in_one_line_what_it_cannot_read(tmp_path):
    """An accept entry's status is any HTTP status (100-599); a file that is not there, or an entry with fields the
    format has not, is one line naming why (the first unknown field by name)."""
    recording = _job_then(200, kept=False, tmp_path=tmp_path)
    accept = tmp_path / "accept.yaml"
    accept.write_text("accepted:\n  - {kind: undocumented-status, operation: schnellGetData, status: 599,\n"
                      "     reason: a gateway's own, expires: 2099-12-31}\n")
    taken = kit("drift", "--har", recording, "--accept", str(accept))
    assert taken.returncode == 0 and "schnellGetData" in taken.stdout, taken.stdout + taken.stderr
    accept.write_text(accept.read_text().replace("599", "600"))
    refused = kit("drift", "--har", recording, "--accept", str(accept))
    assert refused.returncode == 2 and "status 600 is not an HTTP status" in refused.stderr
    missing = kit("drift", "--har", recording, "--accept", str(tmp_path / "nothing.yaml"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2, f"flux-mock: --accept {tmp_path / 'nothing.yaml'}: No such file or directory"), missing.stderr
    accept.write_text("accepted:\n  - {kind: undocumented-status, operation: schnellGetData, reason: r,\n"
                      "     expires: 2099-12-31, zeta: 1, owner: me}\n")  # two unknown fields: the first by name
    unknown = kit("drift", "--har", recording, "--accept", str(accept))
    assert unknown.returncode == 2 and "entry 1: unknown field 'owner' (fields: " in unknown.stderr, unknown.stderr


def test_drift_names_a_documented_header_of_another_form(tmp_path):
    """A 429's Retry-After is an integer of seconds (the spec's header schema): `soon` is changed-header."""
    json_type = ("Content-Type", "application/json")
    path = har(tmp_path / "h.har", [RecordedExchange(
        "POST", "https://gateway.pixazo.ai/flux-1-schnell/v1/getData", 429, (json_type,), b'{"prompt": "x"}',
        (json_type, ("Retry-After", "soon")), b'{"error": "Too Many Requests"}', started=time.time())])
    report = kit("drift", "--har", path)
    assert "`schnellGetData` changed-header at header Retry-After: expected integer, found soon" in report.stdout, \
        report.stdout


def test_a_rate_limited_submit_is_no_contract_failure_only_no_job_to_follow(tmp_path):
    """A documented 429 at submit is an answer about the caller ("the key is rate-limited"), as a 402 is: the
    links check has no job to follow, and fails nothing."""
    config = tmp_path / "limited.yaml"
    config.write_text("rules:\n  - {match: {operation_id: fluxDevTextToImage}, outcome: {status: 429}}\n")
    with running_mock("--config", str(config)) as url:
        ran = kit("check", "--base-url", url, "--key", "k", "--max-examples", "1", "--operation", "fluxDevTextToImage")
    assert "FAILED fluxDevTextToImage [links]" not in ran.stdout, ran.stdout[-3000:]
    assert "the key is rate-limited (follow a job later); no job to follow" in ran.stdout, ran.stdout[-3000:]


def test_assert_called_lists_at_most_ten_matching_calls_and_counts_them_all(flux_mock):
    """A failure message stays readable: the count of every matching call, the first ten of them listed."""
    flux_mock.timing.fast()
    for _ in range(12):
        httpx.post(flux_mock.url + "/flux-1-schnell/v1/getData", json={"prompt": "a boat"}, headers=KEY)
    with pytest.raises(AssertionError) as failure:
        flux_mock.assert_called("schnellGetData", times=1)
    message = str(failure.value)
    assert message.startswith("expected 1 call to schnellGetData; got 12"), message
    assert message.count("\n  matched: ") == 10, message


def test_a_media_host_no_page_names_is_url_changed_whatever_its_name(tmp_path):
    """Pages 003: media comes from the pages' hosts (or the API's own); a CDN no page names is url-changed, be its
    name before or after the gateway's in the alphabet."""
    json_type = (("Content-Type", "application/json"),)
    request_id = "flux-dev_019b76da-a800-7000-8000-000000000000b"
    polled = status_body(request_id, media_url="https://a-cdn.example/v1/x/output.png")
    path = har(tmp_path / "cdn.har", [RecordedExchange(
        "GET", f"https://gateway.pixazo.ai/v2/requests/status/{request_id}", 200, (), b"", json_type,
        json.dumps(polled).encode(), started=time.time())])
    report = kit("drift", "--har", path)
    assert "url-changed at media URL host" in report.stdout and "found a-cdn.example" in report.stdout, report.stdout


def test_an_unknown_path_answered_404_agrees_with_the_specs_and_answered_otherwise_is_drift(tmp_path):
    """The pages answer 404 {"error": "Endpoint not found"} for what is not an endpoint: a recorded probe of an
    unknown path answered so is no drift; answered 200, it is an unknown-path."""
    def probe(status: int) -> str:
        return har(tmp_path / f"{status}.har", [RecordedExchange(
            "GET", "https://gateway.pixazo.ai/nothing/here", status, (), b"", (("Content-Type", "application/json"),),
            b'{"error": "Endpoint not found"}' if status == 404 else b"{}", started=time.time())])

    assert "unknown-path" not in kit("drift", "--har", probe(404)).stdout
    assert "unknown-path at GET /nothing/here" in kit("drift", "--har", probe(200)).stdout


def test_assert_called_compares_each_body_field_for_equality(flux_mock):
    httpx.post(flux_mock.url + "/flux-1-schnell/v1/getData", json={"prompt": "x", "num_steps": 4}, headers=KEY)
    flux_mock.assert_called("schnellGetData", body={"num_steps": 4})
    for other in (8, 2):  # neither more nor less is the same
        with pytest.raises(AssertionError, match=rf"body\.num_steps was 4 \(expected {other}\)"):
            flux_mock.assert_called("schnellGetData", body={"num_steps": other})
    with pytest.raises(AssertionError, match=r"body\.seed was absent \(expected 7\)"):  # a field never sent
        flux_mock.assert_called("schnellGetData", body={"seed": 7})


def test_a_session_that_called_nothing_has_nothing_to_miss():
    from contract_tests.coverage import OutcomeCoverage
    from mock_server.operations import load_operations

    assert OutcomeCoverage(load_operations()).share() == 100.0


def test_the_webhook_receivers_filter_by_path_and_by_job():
    from contract_tests import Webhooks, webhook_receiver

    with webhook_receiver() as receiver:
        hooks = Webhooks(receiver)
        for name, job in (("a", "job-1"), ("b", "job-2"), ("a", "job-2")):
            httpx.post(hooks.url_for(name), json={"request_id": job, "status": "COMPLETED"})
        receiver.wait_for(3)
        assert [body["request_id"] for body in receiver.bodies("/a")] == ["job-1", "job-2"]
        assert [delivery.body["request_id"] for delivery in hooks.deliveries("job-2")] == ["job-2", "job-2"]
        assert len(hooks.deliveries()) == 3


def test_a_job_still_running_after_the_last_allowed_poll_is_invalid_flow_even_after_one_poll(monkeypatch, capsys):
    """Page 003: a job ends COMPLETED, FAILED or ERROR; drift follows it for FLUX_CHECK_POLLS polls (here one) and a
    job that has not ended by then is invalid-flow, named with the status it was left in."""
    from mock_server import cli
    from mock_server.app import create_app
    from mock_server.jobs.timing import Timing
    from mock_server.settings import Settings
    from tests.support.foreign_server import Rewriting, serving

    monkeypatch.setenv("FLUX_CHECK_POLLS", "1")
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.01")
    never_ends = Rewriting(create_app(Settings(timing=Timing(mode="manual"))))  # no admin API: not flux-mock
    with serving(never_ends, lifespan="on") as url:
        code = cli.main(["drift", "--base-url", url, "--key", "k", "--operation", "fluxDevTextToImage", "--allow-paid",
                         "--max-spend", "1"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "`getRequestStatus` invalid-flow at status: expected a final status within 1 polls, found {" in output \
        and '"status": "QUEUED"' in output, output


def test_a_job_that_does_not_end_is_shown_as_its_last_poll_found_it(monkeypatch, capsys):
    """Page 003: QUEUED, then PROCESSING, then an end. A job still PROCESSING at check's last allowed poll fails
    job-ends showing that last poll's answer (PROCESSING), not the first one's (QUEUED)."""
    from mock_server import cli
    from mock_server.app import create_app
    from mock_server.jobs.timing import Timing
    from mock_server.settings import Settings
    from tests.support.foreign_server import Rewriting, serving

    monkeypatch.setenv("FLUX_CHECK_POLLS", "6")
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.3")
    stuck = Rewriting(create_app(Settings(timing=Timing(queued_for=1.0, processing_for=3600))))  # not flux-mock
    with serving(stuck, lifespan="on") as url:
        code = cli.main(["check", "--base-url", url, "--key", "k", "--operation", "fluxDevTextToImage",
                         "--max-examples", "1", "--allow-paid", "--max-spend", "10"])
    output = capsys.readouterr().out
    assert code == 1, output[-3000:]
    failure = output[output.index("job-ends failed for getRequestStatus"):]
    got = failure[failure.index("got:"):].splitlines()[0]
    assert '"status": "PROCESSING"' in got, failure[:1500]


def test_check_stops_polling_a_job_once_it_has_ended(monkeypatch, capsys):
    """Page 003: poll until the status is COMPLETED, FAILED or ERROR. Against the pages' stand-in (a job ends after
    0.5 s), check follows each job to its end and stops there: far fewer polls than the 30 it may make."""
    from mock_server import cli
    from tests.support.foreign_server import serving
    from tests.support.pages_server import PagesGateway

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    gateway = PagesGateway()
    with serving(gateway.app) as url:
        code = cli.main(["check", "--base-url", url, "--key", "pages-key", "--operation", "fluxDevTextToImage",
                         "--max-examples", "1", "--allow-paid", "--max-spend", "10"])
    output = capsys.readouterr().out
    assert code == 0, output[-3000:]
    polls = Counter(path for method, path in gateway.requests if method == "GET" and "/requests/status/" in path)
    assert polls and max(polls.values()) < 30, polls


def test_a_recordings_polls_are_numbered_in_order_per_job(tmp_path):
    """Each recorded poll of a job carries its place among that job's polls (_fluxMock.sequence: 1, 2, 3 ...), which
    report reads to judge the polling cadence page 003 asks for (every 5-10 s)."""
    from tests.support.recorded_runs import entries, pages_gateway, recorder, run_app

    out = tmp_path / "polls.har"
    with pages_gateway(queued_for=0.3, processing_for=0.3) as (_, api, _cdn):
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url)
    places: dict[str, list[int]] = {}
    for entry in entries(out):
        facts = entry.get("_fluxMock", {})
        if facts.get("kind") == "status" and facts.get("requestId"):
            places.setdefault(facts["requestId"], []).append(facts.get("sequence"))
    assert places and all(numbers == list(range(1, len(numbers) + 1)) for numbers in places.values()), places
    assert any(len(numbers) > 1 for numbers in places.values()), places


def test_a_submit_answered_300_with_a_page_is_an_undocumented_status_and_nothing_more(capsys):
    """No page documents a 3xx for Flux Dev's submit (page 003: 202, or 400, 401, 402...): a 300 answered with an
    HTML page (a proxy's "Multiple Choices") is undocumented-status; drift reads no job or image out of it."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from mock_server import cli
    from tests.support.foreign_server import serving

    async def choices(request):
        return HTMLResponse("<html><body><a href='/a'>a</a> or <a href='/b'>b</a></body></html>", status_code=300)

    with serving(Starlette(routes=[Route("/flux-dev/v1/dev/textToImage", choices, methods=["POST"])])) as url:
        code = cli.main(["drift", "--base-url", url, "--key", "k", "--operation", "fluxDevTextToImage", "--allow-paid",
                         "--max-spend", "1"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "`fluxDevTextToImage` undocumented-status at status: expected " in output and ", found 300" in output, \
        output
    assert "media-" not in output and "invalid-flow" not in output, output


def test_each_media_url_that_cannot_be_downloaded_is_named_however_they_sort(monkeypatch, capsys):
    """Page 003: a completed job's output.media_url lists its images. Two that both answer 404 are two breaches, each
    named by its URL: the second is not taken for the first seen again, whichever sorts first."""
    from mock_server import cli
    from mock_server.app import create_app
    from mock_server.jobs.timing import Timing
    from mock_server.settings import Settings
    from tests.support.foreign_server import Rewriting, serving

    served = {}

    def two_missing(path, status, body):
        if "/requests/status/" in path and isinstance(body, dict) and body.get("status") == "COMPLETED":
            body["output"]["media_url"] = [f"{served['url']}/v1/gone/z-last.png", f"{served['url']}/v1/gone/a-first.png"]
        return status, body

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    app = Rewriting(create_app(Settings(timing=Timing(queued_for=0.1, processing_for=0.1))), two_missing)
    with serving(app, lifespan="on") as url:
        served["url"] = url
        cli.main(["check", "--base-url", url, "--key", "k", "--operation", "fluxDevTextToImage", "--max-examples", "1",
                  "--allow-paid", "--max-spend", "10"])
    output = capsys.readouterr().out
    for name in ("z-last.png", "a-first.png"):
        assert f"media-downloads failed for fluxDevTextToImage: GET {url}/v1/gone/{name}" in output, output[-4000:]


def test_a_poll_failed_by_the_server_ends_the_following_without_a_confirming_poll(monkeypatch, capsys):
    """check polls once more after a final status (a final status never changes, page 003), but only after a 200:
    a poll answered 500 is no status of the job, even with a body that reads like one, and is not polled again."""
    from mock_server import cli
    from tests.support.foreign_server import serving
    from tests.support.pages_server import PagesGateway, Refused

    class FailingPolls(PagesGateway):
        async def status(self, request):
            self._key(request)
            raise Refused(500, {"error": "An unexpected error occurred, please try again later", "status": "ERROR"})

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    gateway = FailingPolls()
    with serving(gateway.app) as url:
        cli.main(["check", "--base-url", url, "--key", "pages-key", "--operation", "fluxDevTextToImage",
                  "--max-examples", "1", "--allow-paid", "--max-spend", "10"])
    output = capsys.readouterr().out
    polls = Counter(path for method, path in gateway.requests if method == "GET" and "/requests/status/" in path)
    assert polls and set(polls.values()) == {1}, (polls, output[-3000:])
    # and the poll is named: a job's status is read from a 200 (page 003), a 500 is no answer of it
    failure = output[output.index("poll-answered failed for getRequestStatus"):]
    assert "expected:   200" in failure and "got:        500" in failure.split("reproduce:")[0], failure[:1500]


def test_a_job_whose_polling_ended_on_a_server_error_is_not_said_to_never_end(monkeypatch, capsys):
    """drift follows a job until a final status, a poll the server failed, or its last allowed poll; "no final
    status within N polls" is said of the last poll's answer only: a first QUEUED and then a 503 is the 503's to
    tell, not a job that never ended."""
    from mock_server import cli
    from mock_server.app import create_app
    from mock_server.jobs.timing import Timing
    from mock_server.settings import Settings
    from tests.support.foreign_server import Rewriting, serving

    polled = Counter()

    def second_poll_fails(path, status, body):
        if "/requests/status/" in path:
            polled[path] += 1
            if polled[path] == 2:
                return 503, {"error": "Service unavailable"}
        return status, body

    monkeypatch.setenv("FLUX_CHECK_POLLS", "4")
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.01")
    app = Rewriting(create_app(Settings(timing=Timing(mode="manual"))), second_poll_fails)
    with serving(app, lifespan="on") as url:
        cli.main(["drift", "--base-url", url, "--key", "k", "--operation", "fluxDevTextToImage", "--allow-paid",
                  "--max-spend", "1"])
    output = capsys.readouterr().out
    assert polled and max(polled.values()) == 2, polled
    assert "a final status within" not in output, output


def test_a_recorded_endpoint_on_no_page_departing_from_its_assumed_shape_is_a_note_never_drift(tmp_path):
    """The free preview route (public-clients.yaml) is on no page: the spec assumes its answer, so how a recording
    departs from that is a note, and drift passes it; the same departure on a documented endpoint is drift."""
    json_type = (("Content-Type", "application/json"),)

    def answered_201(path: str) -> str:
        return har(tmp_path / f"{path.strip('/').replace('/', '-')}.har", [RecordedExchange(
            "POST", "https://gateway.pixazo.ai" + path, 201, json_type, b'{"prompt": "x"}', json_type,
            b'{"accepted": true}', started=time.time())])

    preview = kit("drift", "--har", answered_201("/flux/text-to-image"))
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "note: an endpoint only public clients show (an assumption of the spec): " in preview.stdout, preview.stdout
    documented = kit("drift", "--har", answered_201(FLUX_DEV))
    assert documented.returncode == 1 and "an endpoint only public clients show" not in documented.stdout, \
        documented.stdout


def test_a_value_matching_no_branch_is_judged_by_the_branch_whose_required_fields_it_has():
    """A value matching none of an anyOf is judged by the branch it comes closest to: the fewest problems, and on a
    tie the branch it lacks no required field of (its one problem is then a value, which says more than an absent
    field it was never meant to have)."""
    from contract_tests.checks import schema_problems

    schema = {"anyOf": [{"type": "object", "required": ["media_url"]},
                        {"type": "object", "properties": {"status": {"enum": ["COMPLETED"]}}}]}
    (problem,) = schema_problems(schema, {"status": "DONE"})
    assert (problem.field, problem.expected, problem.got) == ("status", 'enum: ["COMPLETED"]', '"DONE"'), problem


def test_an_operations_check_shows_its_first_five_distinct_skip_reasons_and_counts_every_skip():
    """docs/guide/contract-tests.md: a skipped case says why; an operation's check shows the first five distinct
    reasons (a reason seen again is not repeated) and counts every skip."""
    import io
    from types import SimpleNamespace

    from contract_tests.check_report import CheckReporter

    target = SimpleNamespace(cases={"fluxDevTextToImage": 8}, answers={})
    reporter = CheckReporter(target, io.StringIO())
    reporter.outcomes[("fluxDevTextToImage", "flow")] = Outcome("fluxDevTextToImage", "flow")
    reporter.pending["fluxDevTextToImage"] = 8
    for number in (1, 2, 2, 3, 4, 5, 6, 7):
        reporter.pytest_runtest_logreport(SimpleNamespace(
            when="call", failed=False, skipped=True, duration=0.0, nodeid=f"case{number}", longreprtext="",
            longrepr=("suite.py", 1, f"Skipped: reason {number}"),
            user_properties=[("flux_mock", ("fluxDevTextToImage", "flow"))]))
    outcome = reporter.outcomes[("fluxDevTextToImage", "flow")]
    assert outcome.messages == [f"reason {number}" for number in range(1, 6)] and outcome.skipped == 8


@pytest.mark.parametrize("keyword, value", [("minimum", 1), ("minimum", 0), ("minimum", 5), ("minimum", 2.5),
                                            ("exclusiveMinimum", 0), ("minLength", 3), ("enum", ["a", "b"]),
                                            ("format", "uri"), ("type", "object")])
def test_an_assumption_is_probed_with_a_value_that_breaks_it_and_a_minimum_with_the_value_one_below(keyword, value):
    """docs/guide/contract-tests.md: each assumption is probed by a request breaking only it (num_steps = 0 for the
    assumed minimum 1): the value sent breaks the assumed keyword, and is said as sent."""
    import jsonschema_rs

    from contract_tests.assumptions import breaking_value

    sent, words = breaking_value(keyword, value)
    assert not jsonschema_rs.validator_for({keyword: value}, validate_formats=True).is_valid(sent), (keyword, sent)
    shown = json.dumps(sent) if isinstance(sent, str) else repr(sent)
    assert words.startswith(f"= {shown}"), words
    if keyword == "minimum":
        assert sent == value - 1


def test_a_failure_names_the_job_by_the_submits_answer_else_by_the_latest_poll():
    """The request id a failure names: the one the submit answered (JSON); when its answer was not JSON, the one
    the latest poll names, the job as the server last described it."""
    from contract_tests.flow import Flow
    from contract_tests.links import Poll
    from mock_server.operations import load_operations

    operation = next(op for op in load_operations() if op.operation_id == "fluxDevTextToImage")
    polls = [Poll(operation, 200, {"request_id": name, "status": status}, ())
             for name, status in (("flux-dev_first", "QUEUED"), ("flux-dev_latest", "COMPLETED"))]
    untyped = Flow(operation, "http://gateway.test", {}, {}, httpx.Response(202, text="queued"), polls)
    assert untyped.request_id == "flux-dev_latest"
    typed = Flow(operation, "http://gateway.test", {}, {}, httpx.Response(202, json={"request_id": "flux-dev_sub"}),
                 polls)
    assert typed.request_id == "flux-dev_sub"


def test_a_junit_failure_or_skip_message_is_its_first_line_cut_at_200_characters(tmp_path):
    """docs/guide/contract-tests.md: JUnit's message attribute is the first line of what broke (or why it was
    skipped), 200 characters at most; the whole text is the element's."""
    import io
    from types import SimpleNamespace

    from contract_tests.budget import Budget
    from contract_tests.check_report import CheckReporter

    target = SimpleNamespace(cases={}, answers={}, notes=[], budget=Budget(0.0))
    reporter = CheckReporter(target, io.StringIO())
    long_line = "x" * 300
    reporter.outcomes[("schnellGetData", "positive")] = Outcome("schnellGetData", "positive", failed=1,
                                                                messages=[long_line + "\nthe rest"])
    reporter.outcomes[("schnellGetData", "negative")] = Outcome("schnellGetData", "negative", skipped=1,
                                                                messages=["y" * 300])
    reporter.write_junit(tmp_path / "junit.xml")
    junit = (tmp_path / "junit.xml").read_text()
    assert f'<failure message="{"x" * 200}">{long_line}\nthe rest</failure>' in junit, junit
    assert f'<skipped message="{"y" * 200}" />' in junit, junit


def test_an_image_operations_media_served_as_no_image_fails_even_where_the_answer_states_no_type(monkeypatch, capsys):
    """Page 003's examples give output.media_type application/octet-stream, which states no type: the media of an
    operation that makes images must still be an image. Served as text/plain, check names it."""
    from starlette.responses import Response

    from mock_server import cli
    from tests.support.foreign_server import serving
    from tests.support.pages_server import PagesGateway

    class VagueAndNoImage(PagesGateway):
        def _status_body(self, request_id, base):
            body = super()._status_body(request_id, base)
            if body["output"]:
                body["output"]["media_type"] = "application/octet-stream"
            return body

        async def media(self, request):
            return Response(b"not an image", media_type="text/plain")

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(VagueAndNoImage(queued_for=0.05, processing_for=0.05).app) as url:
        code = cli.main(["check", "--base-url", url, "--key", "pages-key", "--operation", "fluxDevTextToImage",
                         "--max-examples", "1", "--allow-paid", "--max-spend", "10"])
    output = capsys.readouterr().out
    assert code == 1, output[-3000:]
    failure = output[output.index("media-content failed for fluxDevTextToImage"):]
    assert "expected:   an image type (the operation makes images)" in failure and "got:        text/plain" in \
        failure, failure[:1500]


@pytest.mark.parametrize("app_answered, gave_up", [(200, False), (204, False), (500, True)])
def test_a_recorded_delivery_the_app_took_ends_a_polled_job_and_one_it_failed_does_not(tmp_path, app_answered, gave_up):
    """Page 003: a job's result comes by polling or by the X-Webhook-URL callback. A job polled once (PROCESSING) and
    then delivered COMPLETED to the app, which took it (2xx), was followed to its end; a delivery the app failed
    (500) brought it nothing, and the job is given up."""
    json_type = ("Content-Type", "application/json")
    request_id = "flux-dev_019b76da-a800-7000-8000-000000000009a"
    now, key = time.time(), ("Ocp-Apim-Subscription-Key", "k")
    recording = har(tmp_path / "delivered.har", [
        RecordedExchange("POST", "https://gateway.pixazo.ai" + FLUX_DEV, 202,
                         (key, json_type, ("X-Webhook-URL", "https://app.example/hook")), b'{"prompt": "x"}',
                         (json_type,), json.dumps({"request_id": request_id, "status": "QUEUED", "polling_url":
                                                   f"https://gateway.pixazo.ai/v2/requests/status/{request_id}"}
                                                  ).encode(), started=now),
        RecordedExchange("GET", f"https://gateway.pixazo.ai/v2/requests/status/{request_id}", 200, (key,), b"",
                         (json_type,), json.dumps(status_body(request_id, "PROCESSING")).encode(), started=now + 3),
        RecordedExchange("POST", "https://app.example/hook", app_answered, (json_type,),
                         json.dumps(status_body(request_id)).encode(), (json_type,), b"", started=now + 6,
                         flux={"webhook": True, "offset": 6.0})])
    report = kit("report", "--har", recording)
    assert ("gave-up" in report.stdout) is gave_up and report.returncode == int(gave_up), report.stdout + report.stderr
    # journaled as the mock journals its own attempts (webhooks/dispatcher.py): a failed one names the app's answer
    from contract_tests.recorded_journal import journal_of_recording
    from mock_server.har import read_har
    from mock_server.operations import load_operations

    (delivery,) = [entry for entry in journal_of_recording(list(read_har(recording)), load_operations())
                   if entry.kind == "webhook"]
    assert delivery.error == (f"answered {app_answered}" if gave_up else None), delivery


@pytest.mark.parametrize("ruled_out", [{"required": ["output"], "properties": {"output": {"type": "string"}}},
                                       {"description": "no result yet", "required": ["output"]}])
def test_a_field_a_status_rules_out_is_named_absent_whatever_else_its_rule_says(ruled_out):
    """Schnell Batch's checkStatus (flux.yaml, after page 000): the image URL comes exactly when completed; while
    processing, an output present is named at its field (expected absent, got present), however the rule that
    rules it out is written (with its properties, or with a description first)."""
    from contract_tests.checks import schema_problems

    schema = {"type": "object", "properties": {"status": {"type": "string"}},
              "allOf": [{"title": "the image URL comes exactly when completed",
                         "if": {"properties": {"status": {"const": "completed"}}},
                         "then": {"required": ["output"]}, "else": {"not": ruled_out}}]}
    (problem,) = schema_problems(schema, {"status": "processing", "output": "https://x.test/a.png"})
    assert (problem.field, problem.expected, problem.got) == (
        "output", "absent while status is processing (the image URL comes exactly when completed)", "present"), problem
