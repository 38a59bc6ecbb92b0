"""Behaviours of the mock no test held (issue 38, item 1): each was changed by hand and every test still passed.
Each test here names the page or the guide whose rule it holds, and was watched failing with the behaviour
broken. In-process (tests/support/inprocess.py): a manual clock, webhooks through a MockTransport."""

import asyncio
import json

import pytest

from mock_server.jobs.timing import Timing
from mock_server.settings import KeyConfig, Settings
from tests.support.inprocess import InProcessMock

KEY = {"Ocp-Apim-Subscription-Key": "k"}
FLUX_DEV = "/flux-dev/v1/dev/textToImage"
KONTEXT = "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"


def run(scenario):
    return asyncio.run(scenario())


async def final_job(mock: InProcessMock, hook: str | None = None) -> dict:
    """A Flux Dev job submitted (with `hook` as its X-Webhook-URL) and polled once it is final."""
    headers = {**KEY, **({"X-Webhook-URL": hook} if hook else {})}
    job = (await mock.client.post(FLUX_DEV, json={"prompt": "a fox"}, headers=headers)).json()
    await mock.advance(10)
    return (await mock.client.get(job["polling_url"], headers=KEY)).json()


def test_a_wildcard_webhook_host_matches_its_subdomains_and_no_look_alike():
    """docs/guide/webhooks.md: `*.example.test` in webhooks.allowed_hosts allows its subdomains; a host that only
    ends in the same letters (`evilci.internal` for `*.ci.internal`) is blocked."""
    async def scenario():
        async with InProcessMock(Settings(webhook_allowed_hosts=("*.ci.internal",))) as mock:
            await final_job(mock, "http://runner.ci.internal/hook")
            await final_job(mock, "http://evilci.internal/hook")
            await mock.webhooks_sent(1)
            await mock.advance(1)
            await asyncio.sleep(0.1)
            listed = (await mock.client.get("/__admin/webhooks")).json()["deliveries"]
            return [str(request.url) for request in mock.webhooks], {d["url"]: d["state"] for d in listed}

    sent, states = run(scenario)
    assert sent == ["http://runner.ci.internal/hook"]
    assert states["http://evilci.internal/hook"] == "blocked" and states["http://runner.ci.internal/hook"] == "delivered"


def test_advancing_a_finished_job_with_an_outcome_never_changes_its_final_status():
    """Page 003: a job's final status is final. `POST /__admin/jobs/{id}/advance {"outcome": "FAILED"}` on a
    COMPLETED job leaves it COMPLETED."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            done = await final_job(mock)
            moved = await mock.client.post(f"/__admin/jobs/{done['request_id']}/advance",
                                           json={"outcome": "FAILED", "to_end": True})
            again = (await mock.client.get(f"/v2/requests/status/{done['request_id']}", headers=KEY)).json()
            return done, moved.json(), again

    done, moved, again = run(scenario)
    assert done["status"] == "COMPLETED"
    assert moved["status"] == "COMPLETED" and again["status"] == "COMPLETED" and again["error"] is None


def test_a_failing_receiver_is_retried_after_1_2_and_4_seconds():
    """docs/guide/webhooks.md: "retried with exponential backoff (1 s, 2 s, 4 s, ...)"."""
    async def scenario():
        async with InProcessMock(Settings(), webhook_answer=503) as mock:
            await final_job(mock, "http://127.0.0.1:9/hook")
            await mock.webhooks_sent(1)
            seen = []
            for step in (0.9, 0.1, 1.9, 0.1, 3.9, 0.1):
                await mock.advance(step)
                await asyncio.sleep(0.15)
                seen.append(len(mock.webhooks))
            return seen

    # attempts: 1 at once; 2 at +1 s; 3 at +2 s more; 4 at +4 s more (never before)
    assert run(scenario) == [1, 2, 2, 3, 3, 4]


def test_a_duplicated_delivery_carries_the_same_webhook_id():
    """docs/guide/webhooks.md: the `Webhook-Id` header is the same on every attempt and copy, so a receiver can
    drop duplicates; a `Prefer: webhook=duplicate` copy is one."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            headers = {**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook", "Prefer": "webhook=duplicate"}
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=headers)).json()
            await mock.advance(10)
            await mock.client.get(job["polling_url"], headers=KEY)
            return job["request_id"], await mock.webhooks_sent(2)

    request_id, (first, copy) = run(scenario)
    assert first.headers["webhook-id"] == copy.headers["webhook-id"] == f"{request_id}:completed"
    assert json.loads(first.content) == json.loads(copy.content)


@pytest.mark.parametrize("mode", ["manual", "per-poll", "time"])
def test_the_free_preview_answers_a_finished_job_under_every_timing(mode):
    """public-clients.yaml fluxPreviewTextToImage: "the status body of a job already COMPLETED", whatever the
    timing mode (a manual or per-poll job would otherwise start QUEUED), completed as it was created (page 003:
    completed_at never before created_at)."""
    async def scenario():
        async with InProcessMock(Settings(timing=Timing(mode=mode))) as mock:
            answer = await mock.client.post("/flux/text-to-image", json={"prompt": "x"}, headers=KEY)
            polled = await mock.client.get(f"/v2/requests/status/{answer.json()['request_id']}", headers=KEY)
            return answer, polled.json()

    answer, polled = run(scenario)
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text
    assert polled["status"] == "COMPLETED" and polled["output"]["media_url"]
    assert polled["completed_at"] == polled["created_at"] == answer.json()["created_at"], polled


def test_a_key_rate_limit_below_one_per_second_spaces_calls_by_its_inverse():
    """docs/guide/scenarios.md: a key's `rate_limit` is requests per second; 0.5 lets one call in 2 s."""
    async def scenario():
        keys = {"slow": KeyConfig(rate_limit=0.5)}
        async with InProcessMock(Settings(keys=keys)) as mock:
            headers = {"Ocp-Apim-Subscription-Key": "slow"}
            statuses, waits = [], []
            for step in (0, 0.1, 1.0, 1.0):
                await mock.advance(step)
                answer = await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=headers)
                statuses.append(answer.status_code)
                waits.append(answer.headers.get("retry-after"))
            return statuses, waits

    # at 0: in; 0.1 and 1.1: too soon (one call in 2 s: 1.9 s and 0.9 s left, rounded up); 2.1: in again
    assert run(scenario) == ([200, 429, 429, 200], [None, "2", "1", None])


def test_a_429_on_a_poll_is_a_throttled_poll_not_an_unknown_id():
    """The client report's unknown-id is a poll of an id the mock never issued; a poll the gateway throttled
    (a rule forcing 429 on the status operation) is not one."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            await mock.client.post("/__admin/rules", json={"match": {"operation_id": "getRequestStatus"},
                                                           "outcome": {"status": 429}, "times": 1})
            await mock.advance(6)
            throttled = await mock.client.get(job["polling_url"], headers=KEY)
            await mock.advance(6)
            await mock.client.get(job["polling_url"], headers=KEY)
            report = (await mock.client.get("/__admin/client-report")).json()
            return throttled.status_code, report

    status, report = run(scenario)
    assert status == 429
    assert [finding["kind"] for finding in report["findings"] if finding["kind"] == "unknown-id"] == [], report


@pytest.mark.parametrize("status", [500, 502])
def test_a_rule_forced_server_error_gets_a_chaos_verdict_like_chaoss_own(status):
    """The client report: "Rule-forced 429s and 5xx are network faults like chaos's (chaos verdicts, `source:
    rule`)": a 500 the operation documents and a 502 of the gateway's own alike."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            await mock.client.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                           "outcome": {"status": status}, "times": 1})
            first = await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
            await mock.advance(2)
            again = await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
            return first.status_code, again.status_code, (await mock.client.get("/__admin/client-report")).json()

    first, again, report = run(scenario)
    assert (first, again) == (status, 200)
    assert [(verdict["fault"], verdict["source"], verdict["status"]) for verdict in report["chaos"]] == \
        [("error", "rule", status)], report["chaos"]
    assert report["chaos"][0]["verdict"] == "backed off", report["chaos"]


def test_replay_ignores_the_webhook_url_when_matching_a_recorded_request(tmp_path):
    """docs/guide/record-and-replay.md: "keys and webhook URLs are ignored" when matching: the replaying app's
    own receiver is not the recorded one."""
    from mock_server.har import HarWriter, RecordedExchange

    kontext = "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"
    recorded = {"input_image": "https://example.com/old.png", "webhook": "https://recorded.example/hook?t=1"}
    answer = {"request_id": "flux-kontext-restore-image_019b76da-a800-7000-8000-00000000000a", "status": "QUEUED",
              "polling_url": "https://gateway.pixazo.ai/v2/requests/status/x"}
    json_type = (("Content-Type", "application/json"),)
    writer = HarWriter(tmp_path / "k.har")
    writer.write(RecordedExchange("POST", "https://gateway.pixazo.ai" + kontext, 202, json_type,
                                  json.dumps(recorded).encode(), json_type, json.dumps(answer).encode(),
                                  started=0.0).to_har({}))
    writer.close()

    async def scenario():
        async with InProcessMock(Settings(replay=(str(tmp_path / "k.har"),), replay_strict=True)) as mock:
            replayed = await mock.client.post(kontext, headers=KEY, json={**recorded,
                                                                          "webhook": "http://127.0.0.1:9/mine"})
            return replayed, (await mock.entries())[-1]

    replayed, entry = run(scenario)
    assert replayed.status_code == 202 and entry.answer == "replayed (1 of 1)", (replayed.text, entry.answer)


async def _report(mock: InProcessMock) -> list[dict]:
    return (await mock.client.get("/__admin/client-report")).json()["findings"]


def _unknown_endpoint(path: str, method: str = "POST") -> tuple[int, dict]:
    """The status a request to `path` is answered, and the one unknown-endpoint finding the client report makes of
    it."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            answer = await mock.client.request(method, path, json={"prompt": "x"} if method == "POST" else None,
                                               headers=KEY)
            return answer.status_code, await _report(mock)

    status, findings = run(scenario)
    (finding,) = [f for f in findings if f["kind"] == "unknown-endpoint"]
    return status, finding


def test_an_unknown_path_names_the_documented_path_it_most_likely_meant():
    """unknown-endpoint names the closest documented path: a typo in the operation's segment finds its operation."""
    status, finding = _unknown_endpoint("/flux-2-klein-4b/v1/generateImg")
    assert status == 404
    assert "closest documented path: /flux-2-klein-4b/v1/generateImage" in finding["detail"], finding


def test_an_unknown_path_holding_a_request_id_is_likened_to_the_path_that_takes_one():
    """A poll sent to a path of the client's own making keeps the job's id: the id is read as the `{request_id}` a
    documented path takes, so `GET /jobs/<id>` is named as meaning page 003's status path."""
    status, finding = _unknown_endpoint("/jobs/flux-dev_0192f0a0-0000-7000-8000-000000000001", method="GET")
    assert status == 404
    assert "closest documented path: /v2/requests/status/{request_id}" in finding["detail"], finding


def test_of_two_alike_paths_the_one_with_as_many_segments_is_named():
    """A client putting a model's segment before the text-to-image path (`/flux-1-schnell/text-to-image`) keeps
    its shape of two segments: `/flux/text-to-image` is named, not the shorter `/generateT2I` that shares letters."""
    status, finding = _unknown_endpoint("/flux-1-schnell/text-to-image")
    assert status == 404
    assert "closest documented path: /flux/text-to-image" in finding["detail"], finding


def test_an_unknown_path_like_no_documented_one_names_no_guess():
    """unknown-endpoint guesses only when a documented path is alike: a path sharing nothing with any gets the
    finding without a "closest documented path" (a wild guess would mislead)."""
    status, finding = _unknown_endpoint("/zzz")
    assert status == 404
    assert "/zzz" in finding["detail"] and "closest documented path" not in finding["detail"], finding


def test_a_poll_answered_by_a_server_error_makes_the_next_poll_a_retry_not_a_poll_too_fast():
    """Pages 003: poll every 5-10 s; a poll the gateway failed (a 500) is a fault: the next one is a retry,
    judged by the chaos verdicts, not by the polling cadence."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            await mock.advance(6)
            await mock.client.post("/__admin/rules", json={"match": {"operation_id": "getRequestStatus"},
                                                           "outcome": {"status": 500}, "times": 1})
            failed = await mock.client.get(job["polling_url"], headers=KEY)
            await mock.advance(1)
            await mock.client.get(job["polling_url"], headers=KEY)
            return failed.status_code, await _report(mock)

    status, findings = run(scenario)
    assert status == 500
    assert [f for f in findings if f["kind"] == "polled-too-fast"] == [], findings


def test_a_webhook_delivery_in_the_journal_hides_no_later_finding():
    """The report reads the whole journal: a delivery the mock made is passed over, not the end of it."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            await final_job(mock, "http://127.0.0.1:9/hook")
            await mock.webhooks_sent(1)
            await asyncio.sleep(0.1)
            await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x", "num_image": 2}, headers=KEY)
            return await _report(mock)

    findings = run(scenario)
    assert [f["kind"] for f in findings if f["kind"] == "undocumented-field"] == ["undocumented-field"], findings


def test_a_client_that_stops_polling_before_the_longest_job_seen_live_is_timeout_too_short():
    """x-evidence job-duration: jobs were seen to take 12 s to 3 min live (queued 2-20 s, processing 10-160 s);
    a client that stops polling a running job 170 s after its submit gives up before the longest (180 s)."""
    from mock_server.jobs.timing import Timing

    async def scenario():
        async with InProcessMock(Settings(timing=Timing(mode="manual"))) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            await mock.advance(170)
            await mock.client.get(job["polling_url"], headers=KEY)
            return await _report(mock)

    findings = run(scenario)
    (too_short,) = [f for f in findings if f["kind"] == "timeout-too-short"]
    assert "stopped polling 170.0 s after the submit" in too_short["detail"] and "12 s to 180 s" in too_short["detail"]


@pytest.mark.parametrize("count, verdict", [(4, "retried at once"), (5, "hammered")])
def test_five_requests_within_a_second_of_a_fault_is_hammering_four_is_not(count, verdict):
    """The chaos verdicts: 5 or more requests within 1 s after a network fault is a retry loop without backoff."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            await mock.client.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                           "outcome": {"status": 500}, "times": 1})
            for _ in range(1 + count):
                await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
            return (await mock.client.get("/__admin/client-report")).json()["chaos"]

    (fault,) = run(scenario)
    assert fault["verdict"] == verdict, fault


def test_a_job_failed_from_the_admin_api_without_a_reason_says_so():
    """Page 003: a FAILED job carries its error; one failed by hand without one says it was set from the admin API."""
    async def scenario():
        from mock_server.jobs.timing import Timing

        async with InProcessMock(Settings(timing=Timing(mode="manual"))) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            return (await mock.client.post(f"/__admin/jobs/{job['request_id']}/advance",
                                           json={"outcome": "FAILED", "to_end": True})).json()

    failed = run(scenario)
    assert failed["status"] == "FAILED" and failed["error"] == "Failed (set from the admin API)", failed


def test_seeding_past_max_jobs_names_the_total_it_would_make():
    async def scenario():
        async with InProcessMock(Settings(max_jobs=10)) as mock:
            await mock.client.post("/__admin/jobs/seed", json={"count": 4, "key": "k"})
            return await mock.client.post("/__admin/jobs/seed", json={"count": 7, "key": "k"})

    refused = run(scenario)
    assert refused.status_code == 400
    assert refused.json()["message"] == ("count: 7 more jobs would make 11, beyond max_jobs (10); at most 6 can be "
                                         "seeded now"), refused.text


def test_finished_jobs_beyond_max_jobs_are_evicted_as_jobs_are_submitted():
    """docs/reference/bounds.md: the store keeps at most max_jobs; finished jobs beyond it go, the oldest first,
    looked at every 100 submits (each look, not only the first: 300 submits leave 50)."""
    async def scenario():
        async with InProcessMock(Settings(max_jobs=50, timing=Timing(queued_for=0, processing_for=0))) as mock:
            held = []
            for submitted in range(1, 301):
                await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)
                await mock.advance(0.01)
                if submitted in (99, 100, 250, 300):
                    held.append((await mock.client.get("/__admin/health")).json()["jobs"])
            return held

    assert run(scenario) == [99, 50, 100, 50]


def test_observed_timing_divides_each_drawn_duration_by_the_speed():
    """x-evidence job-duration under --timing observed --timing-speed 10: queued 2-20 s and processing 10-160 s
    live become 0.2-2 s and 1-16 s, drawn per job (fractions kept, not rounded down)."""
    import random

    from mock_server.jobs.timing import Timing
    from mock_server.operations.evidence import observed_timing

    draws = random.Random(3)
    jobs = [Timing(mode="observed", speed=10).job_durations(observed_timing(), draws) for _ in range(20)]
    assert all(0.2 <= queued <= 2.0 and 1.0 <= processing <= 16.0 for queued, processing in jobs), jobs
    assert any(not float(queued).is_integer() for queued, _ in jobs)


def test_observed_timing_read_from_a_config_file_times_jobs_by_the_clock():
    """docs/guide/scenarios.md: `timing: {mode: observed}` draws each job's durations from the evidence and the clock
    moves the job on, as under `time`. The mode read from YAML is an equal string, not the constant itself."""
    import yaml

    from mock_server.settings import settings_from_mapping

    async def scenario():
        settings = settings_from_mapping(yaml.safe_load("timing: {mode: observed, speed: 10000}"))
        async with InProcessMock(settings) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            await mock.advance(1)
            return (await mock.client.get(job["polling_url"], headers=KEY)).json()["status"]

    assert run(scenario) == "COMPLETED", "160 s of processing at the longest, at 10,000 times the speed"


def test_only_a_401_is_a_wrong_key_header_and_a_key_taken_from_the_query_is_a_leniency():
    """Page 003: the key goes in Ocp-Apim-Subscription-Key; the gateway also takes it as `?subscription-key=`
    (x-evidence), which the mock takes and reports as a leniency, never as a key sent in no header, whatever it
    answers then (202, or 402 for an empty wallet). A key in `Authorization` is refused (401): that one is
    wrong-key-header, naming the header the operation takes."""
    async def scenario():
        async with InProcessMock(Settings(keys={"k": KeyConfig(balance=100), "dry": KeyConfig(balance=0)})) as mock:
            taken = await mock.client.post(FLUX_DEV + "?subscription-key=k", json={"prompt": "x"})
            dry = await mock.client.post(FLUX_DEV + "?subscription-key=dry", json={"prompt": "x"})
            refused = await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers={"Authorization": "Bearer k"})
            return (taken.status_code, dry.status_code, refused.status_code), await _report(mock)

    statuses, findings = run(scenario)
    assert statuses == (202, 402, 401)
    assert [(f["seq"], f["kind"]) for f in findings if f["kind"] in ("wrong-key-header", "gateway-leniency")] == [
        (1, "gateway-leniency"), (2, "gateway-leniency"), (3, "wrong-key-header")], findings
    (wrong,) = [f for f in findings if f["kind"] == "wrong-key-header"]
    assert wrong["detail"] == ("sent no key; fluxDevTextToImage takes its key in Ocp-Apim-Subscription-Key "
                               "(answered 401)")


def test_the_webhook_dispatcher_delivers_a_jobs_events_without_a_fault_of_its_own(caplog):
    """The dispatcher's loop outlives every error (docs/operations/redis.md: a store outage is retried with
    backoff), so an error of its own would only show in its log: a job's deliveries, one due later than the
    other (Kontext's queued and completed), go out with no warning logged."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            await mock.client.post(KONTEXT, headers=KEY, json={
                "input_image": "https://example.com/a.png", "webhook": "http://127.0.0.1:9/hook",
                "webhook_events_filter": ["queued", "completed"]})
            await mock.webhooks_sent(1)
            await mock.advance(10)
            await mock.webhooks_sent(2)
            return [json.loads(request.content)["status"] for request in mock.webhooks]

    with caplog.at_level("WARNING", logger="flux_mock.webhooks"):
        assert run(scenario) == ["QUEUED", "COMPLETED"]
    assert [record.getMessage() for record in caplog.records if record.name == "flux_mock.webhooks"] == []


def test_a_jobs_updated_at_is_the_moment_of_its_last_change():
    """Page 003's status answer: updated_at is when the job last changed (QUEUED at its creation, PROCESSING once
    started, its end once final), not when it was made nor when it was polled."""
    async def scenario():
        async with InProcessMock(Settings(timing=Timing(queued_for=1, processing_for=2))) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            seen = []
            for wait in (0.5, 1.0, 2.0, 5.0):  # at 0.5 s, 1.5 s, 3.5 s and 8.5 s
                await mock.advance(wait)
                body = (await mock.client.get(job["polling_url"], headers=KEY)).json()
                seen.append((body["status"], body["updated_at"]))
            return seen

    assert run(scenario) == [("QUEUED", "2026-01-01T00:00:00.000Z"), ("PROCESSING", "2026-01-01T00:00:01.000Z"),
                             ("COMPLETED", "2026-01-01T00:00:03.000Z"), ("COMPLETED", "2026-01-01T00:00:03.000Z")]


def test_the_client_report_counts_each_operation_called_and_what_it_was_answered():
    """The client report's `operations`: what the client did, findings apart, each operation with how many calls it
    got and their statuses (media downloads as `media`, an unknown path by method and path)."""
    async def scenario():
        async with InProcessMock(Settings(timing=Timing(queued_for=0, processing_for=0))) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"}, headers=KEY)).json()
            await mock.client.post(FLUX_DEV, json={}, headers=KEY)
            await mock.advance(1)
            final = (await mock.client.get(job["polling_url"], headers=KEY)).json()
            await mock.client.get(final["output"]["media_url"][0])
            await mock.client.get("/nothing/here", headers=KEY)
            return (await mock.client.get("/__admin/client-report")).json()["operations"]

    assert run(scenario) == {"fluxDevTextToImage": {"count": 2, "statuses": {"202": 1, "400": 1}},
                             "getRequestStatus": {"count": 1, "statuses": {"200": 1}},
                             "media": {"count": 1, "statuses": {"200": 1}},
                             "GET /nothing/here": {"count": 1, "statuses": {"404": 1}}}


def test_a_job_polled_once_and_then_ended_by_its_webhook_was_not_given_up():
    """Page 003: a job's result comes by polling or by its webhook. A client that polled once (QUEUED) and then got
    COMPLETED delivered to its webhook has its result: no finding says it gave the job up."""
    async def scenario():
        async with InProcessMock(Settings()) as mock:
            job = (await mock.client.post(FLUX_DEV, json={"prompt": "x"},
                                          headers={**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook"})).json()
            await mock.client.get(job["polling_url"], headers=KEY)
            await mock.advance(10)
            await mock.webhooks_sent(1)
            return [f for f in await _report(mock) if f["request_id"] == job["request_id"]]

    findings = run(scenario)
    assert [finding["kind"] for finding in findings] == [], findings
