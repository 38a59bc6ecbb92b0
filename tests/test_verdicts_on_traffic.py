"""Verdicts true to traffic: the same requests judged alike whether the mock answered them or a recording holds
them, and the verdicts that were wrong on other people's traffic (issue 32), each through the mock's admin API
or the kit's commands, in process on a manual clock."""

import json

import pytest

from contract_tests.coverage import OutcomeCoverage
from contract_tests.recorded_journal import journal_of_recording
from contract_tests.recording_drift import drift_of_recording
from mock_server import cli
from mock_server.client_checks import client_report, entries_of
from mock_server.har import HarWriter, RecordedExchange
from mock_server.jobs.timing import Timing
from mock_server.operations import load_operations
from mock_server.redaction import mask_key
from tests.support.inprocess import InProcessMock

pytestmark = pytest.mark.anyio
KEY = "client-key-0123456789"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}
SUBMIT = "/flux-dev/v1/dev/textToImage"
GATEWAY = "https://gateway.pixazo.ai"
OPERATIONS = load_operations()


async def _report(mock: InProcessMock, **query) -> dict:
    answer = await mock.client.get("/__admin/client-report", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _kinds(report: dict) -> list[str]:
    return [finding["kind"] for finding in report["findings"]]


async def _poll(mock: InProcessMock, url: str, **headers):
    return await mock.client.get(url, headers={**HEADERS, **headers})


async def test_the_same_traffic_makes_the_same_entries_and_verdicts_live_and_recorded():
    """Live, the mock journals each request; recorded (a capture of the same exchanges, as a browser's HAR
    holds them), the recording is judged by the one constructor of recorded entries: field for field the same
    entries, and the same report."""
    async with InProcessMock(timing=Timing(queued_for=4, processing_for=4)) as mock:
        api = mock.client
        job = (await api.post(SUBMIT, json={"prompt": "a fox", "num_image": 2}, headers=HEADERS)).json()
        await _poll(mock, job["polling_url"])
        await mock.advance(1)
        await _poll(mock, job["polling_url"])  # too fast
        await api.post(SUBMIT, json={"prompt": 7}, headers=HEADERS)  # a violation
        await api.post(SUBMIT, json={"prompt": "", "num_images": 0}, headers=HEADERS)  # assumptions, taken
        await api.post(f"{SUBMIT}?subscription-key={KEY}", json={"prompt": "query key"})  # a leniency
        await api.post(SUBMIT, json={"prompt": "hooked"}, headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:9/h"})
        await api.post("/generateT2I", json={"prompt": "x"}, headers=HEADERS)  # 401: wrong key header
        await api.get(f"/jobs/{job['request_id']}", headers=HEADERS)  # no such path
        await _poll(mock, f"/v2/requests/status/flux-dev_{'0' * 8}-made-up", )  # unknown id
        limited = await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"},
                                 headers={**HEADERS, "Prefer": "code=429"})
        assert limited.status_code == 429
        await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=HEADERS)  # ignores Retry-After
        await mock.advance(8)
        await _poll(mock, job["polling_url"])
        live = [entry for entry in await mock.entries() if entry.is_request]
        live_report = await _report(mock)
    recorded = journal_of_recording(mock.recorded, OPERATIONS)
    compared = ("seq", "method", "path", "status", "operation_id", "operation_kind", "key", "request_id", "job_status",
                "retry_after", "webhook", "violations", "undocumented_fields", "leniencies", "assumptions", "arrived",
                "user_agent", "body")
    assert len(live) == len(recorded) == 13
    for one, other in zip(live, recorded):
        assert {name: getattr(one, name) for name in compared} == {name: getattr(other, name) for name in compared}
    assert dict(live[0].headers) == dict(recorded[0].headers), "the headers as journaled: the key masked"
    recorded_report = client_report(recorded, 5.0, OPERATIONS)
    assert recorded_report["findings"] == live_report["findings"]
    assert recorded_report["notes"] == live_report["notes"] and {note["seq"] for note in live_report["notes"]} == {5}
    assert sorted(set(_kinds(live_report))) == ["gateway-leniency", "gave-up", "ignored-retry-after",
                                                "polled-too-fast", "undocumented-field", "unknown-endpoint",
                                                "unknown-id", "wrong-key-header"]
    assert [entry["seq"] for entry in recorded_report["violations"]] == [entry["seq"] for entry in
                                                                          live_report["violations"]] == [4]


async def test_a_poll_retried_after_a_503s_retry_after_is_honoured_not_polled_too_fast():
    """Page 003: poll every 5-10 seconds. A poll the gateway answered 503 with Retry-After: 1 is retried after
    that second: the retry keeps to what the server asked, and is no poll of the job's cadence."""
    async with InProcessMock(timing=Timing(queued_for=6, processing_for=6)) as mock:
        job = (await mock.client.post(SUBMIT, json={"prompt": "x"}, headers=HEADERS)).json()
        await mock.advance(5)
        assert (await _poll(mock, job["polling_url"])).status_code == 200
        await mock.advance(5)
        failed = await _poll(mock, job["polling_url"], Prefer="chaos=error")
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        await mock.advance(1.2)
        while (await _poll(mock, job["polling_url"])).json()["status"] != "COMPLETED":
            await mock.advance(5)
        report = await _report(mock)
    assert report["findings"] == [], report["findings"]
    assert [verdict["verdict"] for verdict in report["chaos"]] == ["honoured Retry-After"]


async def test_a_completed_job_received_by_webhook_counts_as_a_completed_job_met():
    """The testing guide: a result that came by webhook counts as one a poll saw."""
    async with InProcessMock(timing=Timing(queued_for=1, processing_for=1)) as mock:
        answer = await mock.client.post(SUBMIT, json={"prompt": "x"},
                                        headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:9/hook"})
        assert answer.status_code == 202
        await mock.advance(3)
        await mock.webhooks_sent(1)
        coverage = OutcomeCoverage(OPERATIONS)
        coverage.observe(await mock.entries())
    (row,) = coverage.operations()
    assert row.operation_id == "fluxDevTextToImage"
    assert "job COMPLETED" in row.met and "webhook completed" in row.met, row


async def test_a_webhook_the_receiver_refused_is_not_a_webhook_received():
    async with InProcessMock(timing=Timing(queued_for=1, processing_for=1), webhook_answer=500,
                             webhook_max_attempts=1) as mock:
        await mock.client.post(SUBMIT, json={"prompt": "x"}, headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:9/h"})
        await mock.advance(3)
        await mock.webhooks_sent(1)
        coverage = OutcomeCoverage(OPERATIONS)
        coverage.observe(await mock.entries())
    (row,) = coverage.operations()
    assert "webhook completed" in row.missing and "job COMPLETED" in row.missing


def _recorded_submit(body: dict, status: int = 202) -> RecordedExchange:
    return RecordedExchange("POST", GATEWAY + SUBMIT, status, (("content-type", "application/json"),),
                            json.dumps({"prompt": "x"}).encode(), (("content-type", "application/json"),),
                            json.dumps(body).encode(), "Accepted", 1_767_225_600.0, 120.0)


def test_an_ordinary_202_of_flux_dev_is_judged_against_flux_dev_not_its_polling_variant():
    """POST /flux-dev/v1/dev/textToImage is the queue operation (202) and, for older clients, a variant that
    answers 200: a 202 with two fields the pages do not show belongs to the first, with those two differences."""
    answer = {"request_id": "flux-dev_019d42ce-ae71-7999-24c9-5d76447ecafb4", "status": "QUEUED",
              "polling_url": f"{GATEWAY}/v2/requests/status/flux-dev_019d42ce-ae71-7999-24c9-5d76447ecafb4",
              "queue_position": 3, "eta_seconds": 20}
    (report,) = drift_of_recording([_recorded_submit(answer)], OPERATIONS)
    assert report.operation_id == "fluxDevTextToImage"
    assert sorted((d.kind, d.where) for d in report.differences) == [
        ("extra-field", "body.eta_seconds"), ("extra-field", "body.queue_position")], report.differences
    (entry,) = journal_of_recording([_recorded_submit(answer)], OPERATIONS)
    assert entry.operation_id == "fluxDevTextToImage" and entry.variant is None


def test_report_over_an_empty_recording_says_nothing_was_judged_and_exits_4(tmp_path, capsys):
    empty = tmp_path / "empty.har"
    HarWriter(empty).close()
    assert cli.main(["report", "--har", str(empty)]) == 4
    out, err = capsys.readouterr()
    assert "no violations" not in out
    assert err.count("\n") == 1 and "nothing was judged" in err and str(empty) in err


async def test_a_client_calling_a_made_up_status_path_is_pointed_at_the_status_poll():
    async with InProcessMock() as mock:
        job = (await mock.client.post(SUBMIT, json={"prompt": "x"}, headers=HEADERS)).json()
        assert (await mock.client.get(f"/jobs/{job['request_id']}", headers=HEADERS)).status_code == 404
        assert (await mock.client.get(SUBMIT, headers=HEADERS)).status_code == 405
        report = await _report(mock, allow_undocumented="true")
    details = [finding["detail"] for finding in report["findings"] if finding["kind"] == "unknown-endpoint"]
    assert details == [f"GET /jobs/{job['request_id']} is not a documented endpoint; closest documented path: "
                       "/v2/requests/status/{request_id}",
                       f"GET {SUBMIT}: this documented path takes POST, not GET"]


async def test_polling_a_final_job_23_times_is_said_with_23():
    async with InProcessMock(timing=Timing(queued_for=5, processing_for=5)) as mock:
        job = (await mock.client.post(SUBMIT, json={"prompt": "x"}, headers=HEADERS)).json()
        final = None
        while final is None:
            await mock.advance(5)
            answer = (await _poll(mock, job["polling_url"])).json()
            final = answer if answer["status"] == "COMPLETED" else None
        for _ in range(23):
            await mock.advance(6)
            await _poll(mock, job["polling_url"])
        report = await _report(mock)
    (finding,) = report["findings"]
    assert finding["kind"] == "polled-after-final"
    assert finding["detail"].startswith("polled 23 times after poll #") and "saw it COMPLETED" in finding["detail"]
    assert "(the last at +138.0 s)" in finding["detail"]


async def test_a_401_for_the_key_in_the_wrong_header_names_the_header_the_operation_takes():
    """Page 003: Flux 2 Dev's /generateT2I takes its key in X-Secret-Key."""
    async with InProcessMock() as mock:
        answer = await mock.client.post("/generateT2I", json={"prompt": "x"}, headers=HEADERS)
        assert answer.status_code == 401
        nothing = await mock.client.post("/generateT2I", json={"prompt": "x"})
        assert nothing.status_code == 401
        fine = await mock.client.post("/generateT2I", json={"prompt": "x"}, headers={"X-Secret-Key": KEY})
        assert fine.status_code == 200
        report = await _report(mock)
    assert [(finding["kind"], finding["detail"]) for finding in report["findings"]] == [
        ("wrong-key-header", "sent the key in ocp-apim-subscription-key; flux2DevGenerateT2I takes its key in "
                             "X-Secret-Key (answered 401)"),
        ("wrong-key-header", "sent no key; flux2DevGenerateT2I takes its key in X-Secret-Key (answered 401)")]


async def test_report_for_one_key_keeps_its_webhooks():
    """`report --key K` selects the entries journaled under K: a webhook attempt carries its job's key."""
    async with InProcessMock(timing=Timing(queued_for=0, processing_for=0)) as mock:
        await mock.client.post(SUBMIT, json={"prompt": "x"}, headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:9/h"})
        await mock.client.post(SUBMIT, json={"prompt": "y"}, headers={"Ocp-Apim-Subscription-Key": "another-key-0000000"})
        await mock.webhooks_sent(1)
        entries = await mock.entries()
    (attempt,) = [entry for entry in entries if not entry.is_request]
    assert attempt.key == mask_key(KEY)
    coverage = OutcomeCoverage(OPERATIONS)
    coverage.observe(entries_of(entries, (mask_key(KEY), KEY)))
    (row,) = coverage.operations()
    assert "webhook completed" in row.met


async def test_several_prefer_headers_are_one_list_and_a_conflict_is_refused_naming_both():
    """RFC 7240: several Prefer headers read as one list. `code=429` then `latency=1` asks both (it was a silent
    202); `code=429` then `code=500` asks two things at once: a 400 naming both."""
    async with InProcessMock() as mock:
        started = mock.clock.now()
        both = await mock.client.post(SUBMIT, json={"prompt": "x"},
                                      headers=[*HEADERS.items(), ("Prefer", "code=429"), ("Prefer", "latency=1")])
        assert both.status_code == 429 and mock.clock.now() - started >= 1, both.text
        clash = await mock.client.post(SUBMIT, json={"prompt": "x"},
                                       headers=[*HEADERS.items(), ("Prefer", "code=429"), ("Prefer", "code=500")])
    assert clash.status_code == 400
    assert "code=429 and code=500 conflict" in clash.json()["message"]
