"""Judging a client by its traffic, and `flux-mock report` / `assert_no_violations` over a real server."""

import re

import httpx
import pytest

from contract_tests.mock_client import FluxMock
from mock_server.client_checks import chaos_verdicts, client_findings
from mock_server.journal_entry import JournalEntry
from mock_server.operations import load_operations
from tests.support.kit_runs import kit

KEY = {"Ocp-Apim-Subscription-Key": "client-key"}


def poll(seq, at, status=200, job_status="PROCESSING", request_id="m_1", key="k"):  # a journal entry
    return {"seq": seq, "epoch": at, "path": f"/v2/requests/status/{request_id}", "operation_id": "getRequestStatus",
            "operation_kind": "status", "key": key, "status": status, "request_id": request_id, "job_status": job_status}


def findings(entries, **options):
    """client_findings over journal entries given in their wire form."""
    return client_findings([JournalEntry.from_wire(entry) for entry in entries], **options)


def verdicts(entries):
    return chaos_verdicts([JournalEntry.from_wire(entry) for entry in entries])


def kinds(entries, **options):
    return [f["kind"] for f in findings(entries, **options)]


def test_a_well_behaved_client_has_no_findings():
    assert kinds([poll(1, 0), poll(2, 5), poll(3, 12, job_status="COMPLETED")]) == []


def test_polling_faster_than_the_documented_cadence():
    assert kinds([poll(1, 0), poll(2, 1), poll(3, 7, job_status="COMPLETED")]) == ["polled-too-fast"]
    assert kinds([poll(1, 0), poll(2, 1, job_status="COMPLETED")], min_poll_interval=0.5) == []


def test_ignoring_retry_after():
    limited = {"seq": 2, "epoch": 1, "path": "/x", "operation_id": "schnellGetData", "key": "k", "status": 429,
               "retry_after": 3}
    again = {**limited, "seq": 3, "epoch": 2, "status": 200, "retry_after": None}
    assert kinds([limited, again]) == ["ignored-retry-after"]
    assert kinds([limited, {**again, "epoch": 4.5}]) == []


def test_polling_an_unknown_id_and_giving_up():
    assert kinds([poll(1, 0, status=404, job_status=None)]) == ["unknown-id"]
    assert kinds([poll(1, 0, job_status="QUEUED")]) == ["gave-up"]


def test_report_and_assert_no_violations_over_a_real_server(flux_mock):
    flux_mock.timing.set(mode="per-poll")
    job = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x", "num_images": "two"},
                     headers=KEY)
    assert job.status_code == 400
    submitted = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY).json()
    httpx.get(submitted["polling_url"], headers=KEY)
    httpx.get(submitted["polling_url"], headers=KEY)
    httpx.get(f"{flux_mock.url}/v2/requests/status/flux-dev_made-up", headers=KEY)
    with pytest.raises(AssertionError) as failure:
        flux_mock.assert_no_violations()
    message = str(failure.value)
    assert 'num_images: "two" is not of type "integer"' in message
    assert "polled-too-fast" in message and "unknown-id" in message
    result = kit("report", "--base-url", flux_mock.url)
    assert result.returncode == 1 and "unknown-id" in result.stdout
    flux_mock.reset()
    httpx.post(f"{flux_mock.url}/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
    clean = kit("report", "--base-url", flux_mock.url)
    assert clean.returncode == 0 and "no violations" in clean.stdout
    flux_mock.reset()
    nothing = kit("report", "--base-url", flux_mock.url)
    assert nothing.returncode == 4 and "nothing was judged" in nothing.stderr, "an empty journal: nothing judged"


def test_fixture_controls_rules_jobs_and_wallets(flux_mock):
    flux_mock.timing.set(mode="manual")
    flux_mock.rules.add({"job": "FAILED", "error": "boom"}, prompt_contains="boom", times=1)
    submitted = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "boom"},
                           headers=KEY).json()
    assert flux_mock.jobs.advance(submitted["request_id"], to_end=True)["status"] == "FAILED"
    assert [job["outcome"] for job in flux_mock.jobs.list()] == ["FAILED"]
    flux_mock.wallets.set("client-key", 0)
    assert httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                      headers=KEY).status_code == 402
    assert [e["status"] for e in flux_mock.journal.as_json("fluxDevTextToImage")] == [202, 402]
    assert [e.status for e in flux_mock.journal.entries("fluxDevTextToImage")] == [202, 402]
    assert isinstance(FluxMock(flux_mock.url).client_report()["findings"], list)


def test_the_flat_methods_of_earlier_releases_still_work_and_warn_naming_their_part(flux_mock):
    """One release more (issue 39, item 2): each flat method does what its part's call does, and warns."""
    calls = [
        (lambda: flux_mock.set_timing(mode="manual"), "timing.set()"),
        (lambda: flux_mock.add_scenario({"job": "FAILED"}, match={"prompt_contains": "old"}), "rules.add()"),
        (lambda: flux_mock.set_balance("other-key", 3), "wallets.set()"),
        (lambda: flux_mock.advance_clock(1), "clock.advance()"),
        (lambda: flux_mock.entries(), "journal.entries()"),
        (lambda: flux_mock.jobs(), "jobs.list()"),
        (lambda: flux_mock.journal(), "journal.as_json()"),
    ]
    for call, successor in calls:
        with pytest.warns(DeprecationWarning, match=re.escape(f"use flux_mock.{successor}")):
            call()
    assert flux_mock.timing.get()["mode"] == "manual" and flux_mock.wallets.balance("other-key") == 3
    assert [rule.outcome for rule in flux_mock.rules.list()] == [{"job": "FAILED"}]
    job = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "old"}, headers=KEY).json()
    with pytest.warns(DeprecationWarning, match=re.escape("use flux_mock.jobs.advance()")):
        assert flux_mock.advance(job["request_id"], to_end=True)["status"] == "FAILED"
    with pytest.warns(DeprecationWarning, match=re.escape("use flux_mock.rules.clear()")):
        flux_mock.clear_scenarios()
    assert flux_mock.rules.list() == []


def submit(seq, at=0.0, request_id="m_1", key="k", job_status="QUEUED", webhook=False, status=202):
    return {"seq": seq, "epoch": at, "path": "/flux-dev/v1/dev/textToImage", "operation_id": "fluxDevTextToImage",
            "operation_kind": "queue", "key": key, "status": status, "request_id": request_id,
            "job_status": job_status, "webhook": webhook}


def test_a_job_submitted_and_never_polled_is_given_up_unless_its_result_comes_by_webhook():
    assert kinds([submit(1)]) == ["gave-up"]
    assert "submitted, never polled" in findings([submit(1)])[0]["detail"]
    assert kinds([submit(1, webhook=True)]) == []
    assert kinds([submit(1), poll(2, 6, job_status="COMPLETED")]) == []
    assert kinds([submit(1, status=400, request_id=None)]) == []


def test_undocumented_fields_are_findings_with_the_closest_documented_field():
    entry = {**submit(1, job_status="COMPLETED"), "undocumented_fields": ["num_image", "zzz"]}
    found = findings([entry], operations=load_operations())
    assert [f["kind"] for f in found] == ["undocumented-field", "undocumented-field"]
    assert "`num_image` is not a documented field of fluxDevTextToImage: did you mean `num_images`?" \
        in found[0]["detail"]
    assert "documented: prompt" in found[1]["detail"]
    assert findings([entry], operations=load_operations(), allow_undocumented=True) == []


def test_requests_to_unknown_paths_are_findings_naming_the_closest_documented_path():
    entry = {"seq": 1, "epoch": 0, "method": "GET", "path": "/v2/request/status/abc", "operation_id": None,
             "key": "k", "status": 404}
    (found,) = findings([entry], operations=load_operations())
    assert found["kind"] == "unknown-endpoint" and found["key"] == "k"
    assert "closest documented path: /v2/requests/status/{request_id}" in found["detail"]
    media = {**entry, "path": "/media/nothing.png"}
    assert findings([media], operations=load_operations()) == []


def test_report_flags_misspelled_fields_by_default_and_filters_and_summarises(flux_mock):
    flux_mock.timing.set(mode="manual")
    sent = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", headers=KEY,
                      json={"prompt": "x", "output_formt": "png", "num_image": 2}).json()
    flux_mock.jobs.advance(sent["request_id"], to_end=True)
    httpx.get(sent["polling_url"], headers=KEY)
    httpx.get(f"{flux_mock.url}/v2/request/status/{sent['request_id']}", headers={"Ocp-Apim-Subscription-Key": "b"})
    with pytest.raises(AssertionError) as failure:
        flux_mock.assert_no_violations()
    assert "did you mean `output_format`?" in str(failure.value) and "did you mean `num_images`?" in str(
        failure.value)
    report = kit("report", "--base-url", flux_mock.url)
    assert report.returncode == 1
    assert "unknown-endpoint: /v2/request/status/" in report.stdout and "(key b)" in report.stdout
    assert "summary: 3 in all: 2 undocumented-field, 1 unknown-endpoint" in report.stdout
    only_b = kit("report", "--base-url", flux_mock.url, "--key", "b", "--allow-undocumented")
    assert only_b.returncode == 1 and "undocumented-field" not in only_b.stdout and "unknown-endpoint" in only_b.stdout
    later = kit("report", "--base-url", flux_mock.url, "--since", "2999-01-01T00:00:00Z")
    assert later.returncode == 4 and "that --since select" in later.stderr
    assert flux_mock.client_report(allow_undocumented=True, key="client-key")["findings"] == []


def submit_entry(seq, at, request_id="m_1", key="k"):
    return {"seq": seq, "epoch": at, "path": "/flux-dev/v1/dev/textToImage", "operation_id": "fluxDevTextToImage",
            "operation_kind": "queue", "key": key, "status": 202, "request_id": request_id, "job_status": "QUEUED"}


def test_a_retry_is_timed_from_when_the_429_was_answered_not_sent():
    slow_429 = {"seq": 2, "epoch": 0, "arrived": 0, "answered": 3, "path": "/x", "operation_id": "schnellGetData",
                "key": "k", "status": 429, "retry_after": 2}
    at_once = {**slow_429, "seq": 3, "epoch": 3.1, "arrived": 3.1, "answered": 3.2, "status": 200, "retry_after": None}
    assert kinds([slow_429, at_once]) == ["ignored-retry-after"], "0.1 s after the answer, though 3.1 s after sending"
    waited = {**at_once, "arrived": 5.5, "epoch": 5.5}
    assert kinds([slow_429, waited]) == []


def test_no_gave_up_for_a_job_a_poll_saw_final_even_journaled_out_of_order():
    """Under slow answers, an entry is journaled when its answer is sent whole: the journal's order is not
    the order of arrival. The submit (arrived first, answered last) must not read as 'never polled'."""
    submit = {**submit_entry(3, 0), "arrived": 0, "answered": 30}
    final = {**poll(2, 35, job_status="COMPLETED"), "arrived": 35}
    assert kinds([final, submit]) == []


def test_polling_a_finished_job_again_and_again_is_flagged_once():
    polls = [poll(1, 0, job_status="COMPLETED")] + [poll(n, 6 * n, job_status="COMPLETED") for n in range(2, 7)]
    found = findings(polls)
    assert [f["kind"] for f in found] == ["polled-after-final"] and found[0]["seq"] == 4
    assert "polled 5 times after poll #1 saw it COMPLETED (the last at +36.0 s)" in found[0]["detail"]


def test_a_rule_forced_429_is_judged_as_a_chaos_one_and_retries_match_by_job():
    forced = {**poll(1, 0, status=429, job_status=None), "rule": "admin-1", "retry_after": 5, "answered": 3}
    other_job = poll(2, 4, request_id="m_2")
    same_job = poll(3, 6, request_id="m_1")
    (verdict,) = verdicts([forced, other_job, same_job])
    assert (verdict["fault"], verdict["source"], verdict["verdict"]) == ("throttle", "rule", "ignored Retry-After")
    assert "retried after 3.00 s" in verdict["detail"], "timed from the answer; the poll of another job is no retry"
    (chaos,) = verdicts([{**forced, "rule": None, "answer": "chaos:throttle"}, other_job, same_job])
    assert chaos["verdict"] == verdict["verdict"] and chaos["source"] == "chaos"
    (patient,) = verdicts([forced, other_job, poll(3, 8.5, request_id="m_1")])
    assert patient["verdict"] == "honoured Retry-After"


def test_the_kits_own_traffic_is_left_out_of_report_unless_asked_for(api, mock_url):
    check = kit("check", "--base-url", mock_url, "--operation", "schnellGetData", "--max-examples", "3")
    assert check.returncode == 0, check.stdout[-2000:]
    journal = api.get("/__admin/journal").json()["entries"]
    assert journal and all(entry["user_agent"].startswith("flux-mock-kit/") for entry in journal
                           if entry.get("operation_id") == "schnellGetData"), "check's requests carry the kit's tag"
    clean = kit("report", "--base-url", mock_url)
    assert clean.returncode == 4 and "nothing was judged" in clean.stderr and "--include-kit" in clean.stderr, \
        clean.stdout[-2000:]
    everything = kit("report", "--base-url", mock_url, "--include-kit")
    assert everything.returncode == 1 and "violation" in everything.stdout, "check's negative cases break the spec"
