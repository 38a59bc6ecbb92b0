"""Webhooks in recordings (issue 37, item 4): `flux-mock record` hands the API a relay URL of its own in place of
the app's webhook URL (header and body forms), relays each delivery to the app and writes it into the HAR with
its offset from the submit; `serve --replay` delivers the recorded ones to the replaying app's URL at those
offsets on the mock's clock; drift judges them against the operations' callback schemas. The upstream is a
gateway written from the pages (tests/support/pages_server.py), delivering its webhooks as page 003 says."""

import asyncio
import json
import re

import httpx
import pytest

from contract_tests.receiver import Webhooks, webhook_receiver
from mock_server.settings import Settings
from mock_server.clock import moment_of
from tests.support.inprocess import InProcessMock
from tests.support.kit_runs import kit
from tests.support.recorded_runs import KEY, entries, pages_gateway, recorder
from tests.support.waiting import wait_until

FLUX_DEV = "/flux-dev/v1/dev/textToImage"
KONTEXT = "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}


def deliveries_in(path) -> list[dict]:
    return [entry for entry in entries(path) if entry.get("_fluxMock", {}).get("webhook")]


def record_one(out, path: str, body: dict, headers: dict, events: int, **gateway) -> tuple:
    """Submit once through the recorder, by base URL, with the app's receiver; (the gateway, the submit's
    answer, what the app's receiver got)."""
    with pages_gateway(**gateway) as (pages, api, _cdn), webhook_receiver() as receiver:
        hooks = Webhooks(receiver)
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            named = {name: hooks.url_for("app") if value == "{hook}" else value for name, value in headers.items()}
            sent = {name: hooks.url_for("app") if value == "{hook}" else value for name, value in body.items()}
            answer = httpx.post(url + path, json=sent, headers={**HEADERS, **named}, timeout=10).json()
            wait_until(lambda: len(hooks.deliveries()) >= events, timeout=15, what=f"{events} relayed deliveries")
            wait_until(lambda: len(deliveries_in(out)) >= events, timeout=10, what="the deliveries written")
        return pages, answer, hooks.deliveries(), hooks.url_for("app")


@pytest.fixture(scope="module")
def header_form(tmp_path_factory):
    out = tmp_path_factory.mktemp("hooks") / "header.har"
    return (out, *record_one(out, FLUX_DEV, {"prompt": "a fox"}, {"X-Webhook-URL": "{hook}"}, 1))


def test_record_hands_the_api_its_own_url_and_relays_the_delivery_to_the_app(header_form):
    out, pages, answer, received, app_url = header_form
    assert len(pages.webhook_urls) == 1 and "/__flux-mock/hooks/" in pages.webhook_urls[0], pages.webhook_urls
    assert app_url not in pages.webhook_urls[0], "the API never sees the app's own URL"
    assert [delivery.body["request_id"] for delivery in received] == [answer["request_id"]]
    assert received[0].body["status"] == "COMPLETED", "page 003: the status body when the job completes"
    assert pages.delivered == [("completed", 200)], "the API got the app's answer through the relay"


def test_the_har_holds_the_delivery_with_its_offset_from_the_submit(header_form):
    out, pages, answer, received, app_url = header_form
    submit = entries(out)[0]
    assert submit["request"]["headers"] and any(
        header["name"].lower() == "x-webhook-url" for header in submit["request"]["headers"]), \
        "the file keeps the app's request as the app sent it"
    [delivery] = deliveries_in(out)
    facts = delivery["_fluxMock"]
    assert delivery["request"]["method"] == "POST" and delivery["request"]["url"].startswith(app_url.rsplit("/", 1)[0])
    assert json.loads(delivery["request"]["postData"]["text"])["status"] == "COMPLETED"
    assert facts["operationId"] == "fluxDevTextToImage" and facts["requestId"] == answer["request_id"]
    # the pages' gateway completes a job 0.5 s after its submit (0.2 queued, 0.3 processing)
    assert 0.4 <= facts["offset"] < 5, facts
    assert delivery["response"]["status"] == 200 and facts["drift"] == []
    assert 0 < delivery["time"] < 1000, "the relay's own time (ms): to the app's receiver on loopback and back"


def test_the_relay_remembers_the_newest_ten_thousand_submits():
    """A bound (docs/reference/bounds.md): relay URLs of the newest MAX_HOOKS submits are kept, older ones go."""
    from mock_server.recording_hooks import HOOK_PATH, MAX_HOOKS, HookRelay

    relay = HookRelay("http://recorder.test")
    minted = [relay.substituted("fluxDevTextToImage", "", [("X-Webhook-URL", f"http://app.test/{number}")], b"",
                                (True, ()))[0][0][1] for number in range(MAX_HOOKS + 1)]
    tokens = [url.split(HOOK_PATH)[1] for url in minted]
    assert relay.hook(tokens[0]) is None and relay.hook(tokens[1]).app_url == "http://app.test/1"
    assert relay.hook(tokens[-1]).app_url == f"http://app.test/{MAX_HOOKS}"
    asyncio.run(relay.close())


def test_the_body_form_is_relayed_too_at_each_event_the_filter_names(tmp_path):
    out = tmp_path / "kontext.har"
    pages, answer, received, _ = record_one(
        out, KONTEXT, {"input_image": "https://example.com/old.png", "webhook": "{hook}",
                       "webhook_events_filter": ["queued", "completed"]}, {}, 2)
    assert "/__flux-mock/hooks/" in pages.webhook_urls[0]
    assert [delivery.body["status"] for delivery in received] == ["QUEUED", "COMPLETED"]
    written = deliveries_in(out)
    assert [entry["_fluxMock"]["event"] for entry in written] == ["queued", "completed"]
    assert written[0]["_fluxMock"]["offset"] < written[1]["_fluxMock"]["offset"]
    assert json.loads(entries(out)[0]["request"]["postData"]["text"])["webhook"].startswith("http://127.0.0.1"), \
        "the body the app sent is the one written"


def test_a_delivery_to_an_app_that_is_gone_is_recorded_as_such_and_the_api_gets_a_502(tmp_path):
    out = tmp_path / "gone.har"
    with pages_gateway() as (pages, api, _cdn):
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            httpx.post(url + FLUX_DEV, json={"prompt": "a fox"}, timeout=10,
                       headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:9/nobody"})
            wait_until(lambda: pages.delivered, timeout=15, what="the gateway's delivery")
            wait_until(lambda: deliveries_in(out), timeout=10, what="the delivery written")
    [delivery] = deliveries_in(out)
    assert pages.delivered == [("completed", 502)]
    assert delivery["response"]["status"] == 502 and "not relayed" in delivery["_fluxMock"]["note"]


def test_a_token_no_submit_minted_is_refused(tmp_path):
    with pages_gateway() as (_pages, api, _cdn):
        with recorder(tmp_path / "x.har", api) as url:
            refused = httpx.post(url + "/__flux-mock/hooks/made-up", json={"status": "COMPLETED"}, timeout=10)
    assert refused.status_code == 404 and "no webhook relay" in refused.json()["message"]
    assert deliveries_in(tmp_path / "x.har") == []


def test_drift_judges_recorded_deliveries_against_the_callback_schema(tmp_path, header_form):
    out = header_form[0]
    clean = kit("drift", "--har", str(out))
    assert "webhook body" not in clean.stdout, clean.stdout
    drifted = tmp_path / "drifted.har"
    record_one(drifted, FLUX_DEV, {"prompt": "a fox"}, {"X-Webhook-URL": "{hook}"}, 1, drift=True)
    report = kit("drift", "--har", str(drifted))
    assert report.returncode == 1 and "Traceback" not in report.stderr, report.stdout + report.stderr
    for named in ("missing-field at webhook body.output.media_url", "extra-field at webhook body.output.seed"):
        assert f"`fluxDevTextToImage` {named}" in report.stdout, report.stdout
    [delivery] = deliveries_in(drifted)
    assert any("webhook body.output.media_url" in line for line in delivery["_fluxMock"]["drift"]), \
        "judged on the way too"


@pytest.mark.parametrize("operation_id", ["retiredOperation", "getRequestStatus"])
def test_a_delivery_of_an_operation_with_no_callback_schema_is_left_unjudged(tmp_path, header_form, operation_id):
    """A recorded delivery naming an operation the specs no longer hold, or one that documents no callback (page 003
    describes the webhooks of the submits that take one), has no schema to judge it by: drift names nothing and
    does not fail on it."""
    har = json.loads(header_form[0].read_text())
    for entry in har["log"]["entries"]:
        if entry.get("_fluxMock", {}).get("webhook"):
            entry["_fluxMock"]["operationId"] = operation_id
    renamed = tmp_path / "renamed.har"
    renamed.write_text(json.dumps(har))
    report = kit("drift", "--har", str(renamed))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stdout + report.stderr
    assert "webhook body" not in report.stdout, report.stdout


def test_a_delivery_whose_body_is_not_json_is_a_changed_content_type(tmp_path, header_form):
    """Page 003's webhooks POST the status answer as JSON: a recorded delivery of form text instead is drift,
    named at the webhook body with the Content-Type it came with."""
    har = json.loads(header_form[0].read_text())
    for entry in har["log"]["entries"]:
        if entry.get("_fluxMock", {}).get("webhook"):
            entry["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": "status=COMPLETED"}
            entry["request"]["headers"] = [{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}]
    formed = tmp_path / "formed.har"
    formed.write_text(json.dumps(har))
    report = kit("drift", "--har", str(formed))
    assert report.returncode == 1 and "Traceback" not in report.stderr, report.stdout + report.stderr
    assert "`fluxDevTextToImage` changed-content-type at webhook body: expected JSON, found " \
        "application/x-www-form-urlencoded" in report.stdout, report.stdout


def test_report_reads_recorded_deliveries_as_webhook_results(header_form):
    """The app never polled: its job's result came by webhook, which outcome coverage counts as met."""
    out = header_form[0]
    report = kit("report", "--har", str(out), "--coverage")
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stdout + report.stderr
    assert "no violations" in report.stdout, report.stdout
    assert "fluxDevTextToImage: met 202, job COMPLETED, webhook completed" in report.stdout, report.stdout


def test_a_recorded_delivery_is_journaled_at_its_own_moment_as_a_first_attempt(header_form):
    """report --har journals a delivery as the mock journals its own attempts: when it was sent (its HAR
    startedDateTime, so `--since` keeps it with the traffic of its time) and as attempt 1 (the recorder relays the
    API's delivery once)."""
    from contract_tests.recorded_journal import journal_of_recording
    from mock_server.har import read_har
    from mock_server.operations import load_operations

    out = header_form[0]
    (delivery,) = [entry for entry in journal_of_recording(list(read_har(str(out))), load_operations())
                   if entry.kind == "webhook"]
    written = deliveries_in(out)[0]
    assert (delivery.event, delivery.attempt, delivery.status) == ("completed", 1, 200)
    assert abs(delivery.epoch - moment_of(written["startedDateTime"])) < 0.001
    since = entries(out)[0]["startedDateTime"]  # the submit's moment: the delivery came after it
    report = kit("report", "--har", str(out), "--coverage", "--since", since)
    assert "fluxDevTextToImage: met 202, job COMPLETED, webhook completed" in report.stdout, report.stdout


def test_replay_delivers_the_recorded_webhooks_at_their_offsets_on_the_mocks_clock(header_form):
    out, _pages, recorded_answer, received, _ = header_form
    offset = deliveries_in(out)[0]["_fluxMock"]["offset"]

    async def scenario():
        async with InProcessMock(Settings(replay=(str(out),), replay_speed=1.0)) as mock:
            submitted = await mock.client.post(FLUX_DEV, json={"prompt": "a fox"},
                                               headers={**HEADERS, "X-Webhook-URL": "http://127.0.0.1:7/replayed"})
            minted = submitted.json()["request_id"]
            await mock.advance(offset * 0.5)
            await asyncio.sleep(0.2)
            early = list(mock.webhooks)
            await mock.advance(offset)
            [sent] = await mock.webhooks_sent(1)
            return minted, early, sent

    minted, early, sent = asyncio.run(scenario())
    assert early == [], "nothing before its recorded offset"
    assert str(sent.url) == "http://127.0.0.1:7/replayed", "to the replaying app's own URL"
    body = json.loads(sent.content)
    assert body["request_id"] == minted != recorded_answer["request_id"] and body["status"] == "COMPLETED"
    assert re.fullmatch(r"flux-dev_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{13}", minted), \
        "a replayed job's id is a gateway id (8-4-4-4-13), its UUID made fresh"
    assert sent.headers["Webhook-Id"] == f"{minted}:completed"
    assert all(recorded_answer["request_id"] not in url for url in body["output"]["media_url"])
    assert body["output"]["media_url"][0].startswith("http://mock.test/replayed-media/"), "media lead to the mock"


def test_replay_sends_no_webhook_to_an_app_that_asked_for_none(header_form):
    out = header_form[0]

    async def scenario():
        async with InProcessMock(Settings(replay=(str(out),), replay_speed=0)) as mock:
            await mock.client.post(FLUX_DEV, json={"prompt": "a fox"}, headers=HEADERS)
            await mock.advance(60)
            await asyncio.sleep(0.2)
            return list(mock.webhooks), await mock.state.stores.deliveries.list()

    sent, stored = asyncio.run(scenario())
    assert sent == [] and stored == []


def _kontext_recording(tmp_path, deliveries, started_with_offset: bool = True, offset_fact: bool = True):
    """A Kontext submit and its recorded deliveries, (event, offset) each (without `offset_fact`, the HAR holds
    no `_fluxMock.offset`, as one another tool wrote: only its startedDateTime tells when)."""
    from mock_server.har import HarWriter, RecordedExchange

    recorded_id = "flux-kontext-restore-image_019b76da-a800-7000-8000-00000000000aa"
    json_type = (("Content-Type", "application/json"),)
    status = {"request_id": recorded_id, "model_id": "flux-kontext-restore-image", "error": None, "output": None,
              "created_at": "2026-12-01T00:00:00.000Z", "updated_at": "2026-12-01T00:00:00.000Z",
              "completed_at": None}
    writer = HarWriter(tmp_path / "k.har", replace=True)
    writer.write(RecordedExchange("POST", "https://gateway.pixazo.ai" + KONTEXT, 202, json_type,
                                  json.dumps({"input_image": "https://example.com/a.png",
                                              "webhook": "https://app.example/hook"}).encode(), json_type,
                                  json.dumps({"request_id": recorded_id, "status": "QUEUED"}).encode(),
                                  started=1000.0).to_har({}))
    for event, offset in deliveries:
        writer.write(RecordedExchange("POST", "https://app.example/hook", 200, json_type,
                                      json.dumps({**status, "status": event}).encode(),
                                      started=1000.0 + (offset if started_with_offset else 0.0)).to_har(
            {"webhook": True, **({"offset": offset} if offset_fact else {})}))
    writer.close()
    return str(tmp_path / "k.har")


async def _submit_kontext(mock: InProcessMock) -> None:
    """A Kontext submit whose webhook goes to the app's own URL (the mock's transport takes it)."""
    await mock.client.post(KONTEXT, headers=HEADERS, json={"input_image": "https://example.com/a.png",
                                                           "webhook": "http://127.0.0.1:7/mine"})


async def _sent_before_and_after(recording: str, speed: float, before: float, after: float) -> int:
    """Replaying `recording` at `speed`: how many deliveries came in the first `before` seconds (the mock's clock)
    of a Kontext submit; waits for one to come within `after` seconds more."""
    async with InProcessMock(Settings(replay=(recording,), replay_speed=speed)) as mock:
        await _submit_kontext(mock)
        await mock.advance(before)
        await asyncio.sleep(0.2)
        early = len(mock.webhooks)
        await mock.advance(after)
        await mock.webhooks_sent(1)
        return early


def test_replay_times_a_delivery_by_its_recorded_offset_not_by_a_coarse_start_time(tmp_path):
    """`_fluxMock.offset` is the delivery's time from its submit as the recorder measured it; a HAR's
    startedDateTime (here the same as the submit's) is only the fallback."""
    recording = _kontext_recording(tmp_path, [("COMPLETED", 2.0)], started_with_offset=False)
    assert asyncio.run(_sent_before_and_after(recording, 1.0, 1.0, 1.5)) == 0, "not before its recorded offset of 2 s"


def test_a_delivery_without_a_recorded_offset_is_timed_from_its_start_and_scaled_by_the_replay_speed(tmp_path):
    """docs/guide/record-and-replay.md: a delivery is replayed at its offset from the submit, divided by
    --replay-speed; a HAR without `_fluxMock.offset` gives it by the startedDateTimes (3 s here: 1.5 s at speed 2)."""
    recording = _kontext_recording(tmp_path, [("COMPLETED", 3.0)], offset_fact=False)
    assert asyncio.run(_sent_before_and_after(recording, 2.0, 1.2, 0.6)) == 0, \
        "not before 1.5 s (3 s recorded, at twice the speed)"


@pytest.mark.parametrize("offset, due", [(86_399.5, 86_399.5), (86_400.0, 0.0), (-1.0, 0.0)])
def test_a_recorded_offset_is_taken_up_to_a_day_else_the_start_times_tell(tmp_path, offset, due):
    """docs/guide/record-and-replay.md: a delivery is replayed at its recorded `offset`; one that is no offset
    within a day (negative, or 86,400 s and more: a hand-edited file) is replaced by the startedDateTimes' (0 here)."""
    recording = _kontext_recording(tmp_path, [("COMPLETED", offset)], started_with_offset=False)
    assert asyncio.run(_sent_before_and_after(recording, 1.0, 1.0, due)) == (1 if due == 0.0 else 0)


def test_replay_delivers_each_recorded_event_once_in_any_order_they_came(tmp_path):
    """Kontext's events as recorded, out of order (completed, then queued: a network's habit) and the completed
    one twice (the API retried): each event is delivered once, in the recorded order of offsets."""
    recording = _kontext_recording(tmp_path, [("COMPLETED", 2.0), ("QUEUED", 2.5), ("COMPLETED", 3.0)])

    async def scenario():
        async with InProcessMock(Settings(replay=(recording,), replay_speed=0)) as mock:
            await _submit_kontext(mock)
            await mock.webhooks_sent(2)
            await mock.advance(10)
            await asyncio.sleep(0.2)
            return [json.loads(request.content)["status"] for request in mock.webhooks]

    assert asyncio.run(scenario()) == ["COMPLETED", "QUEUED"]


def test_an_app_answering_a_delivery_at_length_is_kept_to_its_first_mebibyte(tmp_path):
    """docs/reference/bounds.md: the recorder keeps at most 1 MiB of the app's answer to a delivery, never reading
    the rest."""
    from starlette.responses import Response

    from tests.support.foreign_server import serving

    async def talkative(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await Response(b"x" * (3 * 1024 * 1024), media_type="text/plain")(scope, receive, send)

    out = tmp_path / "long.har"
    with pages_gateway() as (pages, api, _cdn), serving(talkative) as app_url:
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            httpx.post(url + FLUX_DEV, json={"prompt": "a fox"}, timeout=10,
                       headers={**HEADERS, "X-Webhook-URL": app_url + "/hook"})
            wait_until(lambda: deliveries_in(out), timeout=15, what="the delivery written")
    [delivery] = deliveries_in(out)
    assert delivery["response"]["status"] == 200 and len(delivery["response"]["content"]["text"]) == 1024 * 1024
    assert pages.delivered == [("completed", 200)]
