"""`flux-mock drift --har FILE`: a recording judged offline against the specs. The recording is real traffic
with the mock (HAR 1.2, written here from each httpx exchange), then drifted on purpose: the report names
each planted drift and nothing else, an unchanged recording is clean, an old one is stale."""

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.harness import KEY, set_timing
from tests.support.kit_runs import kit

SUBMIT = "/flux-dev/v1/dev/textToImage"


def _entry(response: httpx.Response, started: datetime) -> dict:
    request, text = response.request, response.content
    binary = not response.headers.get("content-type", "").startswith(("application/json", "text/"))
    return {"startedDateTime": started.isoformat(), "time": 1,
            "request": {"method": request.method, "url": str(request.url), "httpVersion": "HTTP/1.1",
                        "headers": [{"name": k, "value": v} for k, v in request.headers.items()],
                        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": len(request.content),
                        **({"postData": {"mimeType": "application/json", "text": request.content.decode()}}
                           if request.content else {})},
            "response": {"status": response.status_code, "statusText": response.reason_phrase,
                         "httpVersion": "HTTP/1.1", "cookies": [], "headersSize": -1, "bodySize": len(text),
                         "redirectURL": "", "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
                         "content": {"size": len(text), "mimeType": response.headers.get("content-type", ""),
                                     **({"text": base64.b64encode(text).decode(), "encoding": "base64"} if binary
                                        else {"text": text.decode()})}},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


def _recording(api, started: datetime) -> list[dict]:
    """A real session: a submit polled to its end, the image downloaded, and a sync call."""
    set_timing(api, mode="per-poll")
    answers = [api.post(SUBMIT, json={"prompt": "a red fox", "image_size": "square"}, headers=KEY)]
    for _ in range(3):
        answers.append(api.get(answers[0].json()["polling_url"], headers=KEY))
    answers.append(api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY))
    answers.append(api.get(answers[3].json()["output"]["media_url"][0]))
    return [_entry(answer, started) for answer in answers]


def _write(tmp_path, entries, name="session.har"):
    path = tmp_path / name
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "tests", "version": "1"},
                                        "entries": entries}}))
    return path


def _drift(*args):
    return kit("drift", *args)


def _body(entry) -> dict:
    return json.loads(entry["response"]["content"]["text"])


def _set_body(entry, body) -> None:
    entry["response"]["content"]["text"] = json.dumps(body)


def test_a_recording_of_the_mock_is_clean_and_each_planted_drift_is_named(api, tmp_path):
    entries = _recording(api, datetime.now(UTC))
    clean = _drift("--har", str(_write(tmp_path, entries)))
    assert clean.returncode == 0, clean.stdout
    assert "0 of 3 operations drifted" in clean.stderr and "nothing called (a recording)" in clean.stdout
    submit, first, second, final, sync, image = entries
    _set_body(submit, {**_body(submit), "eta_seconds": 3})                   # an extra field
    _set_body(sync, {"output": 42})                                          # a changed type
    _set_body(second, {**_body(first), "status": "QUEUED"} if _body(first)["status"] == "PROCESSING"
              else {**_body(second), "status": "QUEUED"})                    # the job goes back
    final["response"]["status"] = 418                                        # an undocumented status
    image["response"]["content"]["text"] = base64.b64encode(b"not an image").decode()  # broken media
    drifted = _drift("--har", str(_write(tmp_path, entries, "drifted.har")))
    report = drifted.stdout
    assert drifted.returncode == 1 and "3 of 3 operations drifted" in drifted.stderr, report
    assert "`fluxDevTextToImage` extra-field at body.eta_seconds" in report
    assert "`schnellGetData` changed-type at body.output: expected string, found integer" in report
    assert "`getRequestStatus` invalid-flow at status" in report and "found QUEUED" in report
    assert "`getRequestStatus` undocumented-status at status" in report and "found 418" in report
    assert "`getRequestStatus` media-mismatch at http://" in report and "a image" not in report
    assert report.count("\n- [") == 5, report  # the planted drifts, and nothing else (each with its severity)


def test_a_sync_images_download_that_is_no_image_type_is_a_media_mismatch(api, tmp_path):
    """Page 000: getData answers the URL of the image it made; a recorded download of that URL served as
    text/plain is a media-mismatch naming the image type it should have, the sync operation's own."""
    entries = _recording(api, datetime.now(UTC))
    sync = entries[4]
    url = json.loads(sync["response"]["content"]["text"])["output"]
    download = _entry(api.get(url), datetime.now(UTC))
    download["response"]["headers"] = [{"name": "content-type", "value": "text/plain"}]
    download["response"]["content"] = {"size": 5, "mimeType": "text/plain", "text": "hello"}
    drifted = _drift("--har", str(_write(tmp_path, [sync, download], "sync.har")))
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "`schnellGetData` media-mismatch at " in drifted.stdout and \
        "an image type (the operation makes images)" in drifted.stdout, drifted.stdout


def test_an_answer_said_to_be_json_that_is_none_is_named_changed_type(api, tmp_path):
    """Page 000 answers getData with a JSON body: a recorded answer whose Content-Type says JSON but whose bytes
    are not JSON (a gateway's truncated or HTML error page) is changed-type at body, not skipped."""
    sync = _recording(api, datetime.now(UTC))[4]
    sync["response"]["content"]["text"] = '{"output": "http://x/y.png"'
    drifted = _drift("--har", str(_write(tmp_path, [sync], "cut.har")))
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "`schnellGetData` changed-type at body: expected JSON (nested at most 64 levels), found not JSON" \
        in drifted.stdout, drifted.stdout


def test_an_old_recording_is_stale_and_a_file_that_is_no_har_is_a_one_line_usage_error(api, tmp_path):
    old = _write(tmp_path, _recording(api, datetime.now(UTC) - timedelta(days=40)))
    stale = _drift("--har", str(old), "--max-age", "30")
    assert stale.returncode == 1 and "stale-recording at startedDateTime: expected within 30 days" in stale.stdout
    assert _drift("--har", str(old)).returncode == 0  # without --max-age, age is no drift
    (tmp_path / "nope.har").write_text("{}")
    refused = _drift("--har", str(tmp_path / "nope.har"))
    assert refused.returncode == 2 and refused.stderr.startswith("flux-mock: --har ") and \
        refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    both = _drift("--har", str(old), "--base-url", "http://127.0.0.1:9")
    assert both.returncode == 2 and "without --base-url" in both.stderr
    neither = _drift()
    assert neither.returncode == 2 and "--base-url" in neither.stderr and "--har" in neither.stderr


def test_against_a_baseline_recording_what_changed_is_named(api, tmp_path):
    """Two recordings of the same traffic: nothing changed; then the new one answers a new field, another type,
    a new status and other error codes, and each is named against the baseline."""
    started = datetime.now(UTC)
    baseline = _recording(api, started)
    refused = api.post(SUBMIT, json={"prompt": 7}, headers=KEY)  # a documented 400 with its error code
    baseline.append(_entry(refused, started))
    old = _write(tmp_path, baseline, "baseline.har")
    same = _drift("--har", str(_write(tmp_path, _recording(api, started) + [_entry(refused, started)], "same.har")),
                  "--baseline", str(old))
    assert same.returncode == 0, same.stdout
    changed = _recording(api, started) + [_entry(refused, started)]
    submit, sync, error = changed[0], changed[4], changed[-1]
    _set_body(submit, {**_body(submit), "eta_seconds": 3})
    _set_body(sync, {"output": ["http://x/a.png"]})
    _set_body(error, {**_body(error), "error": "Something else"})
    changed[1]["response"]["status"] = 429
    report = _drift("--har", str(_write(tmp_path, changed, "new.har")), "--baseline", str(old)).stdout
    assert "`fluxDevTextToImage` field-added at body.eta_seconds: expected absent (baseline), found integer" in report
    assert "`schnellGetData` type-changed at body.output: expected string (baseline), found array" in report
    assert "`getRequestStatus` status-added at status" in report and "found 429" in report
    assert "`fluxDevTextToImage` error-codes-changed at error" in report and "found Something else" in report
    refusal = _drift("--baseline", str(old), "--base-url", "http://127.0.0.1:9")
    assert refusal.returncode == 2 and "give it with --har" in refusal.stderr


def _report(*args):
    return kit("report", *args)


def test_report_judges_a_recorded_clients_traffic_as_it_judges_the_journal(api, tmp_path):
    """`report --har`: the same findings as over the journal, from a recording alone."""
    started = datetime.now(UTC)
    calm = _recording(api, started)
    for number, entry in enumerate(calm):  # polls 6 s apart: the docs ask for every 5 s or more
        entry["startedDateTime"] = (started + timedelta(seconds=6 * number)).isoformat()
    clean = _report("--har", str(_write(tmp_path, calm, "calm.har")))
    assert clean.returncode == 0 and "no violations: every recorded request kept to the contract" in clean.stdout, \
        clean.stdout
    hasty = _recording(api, started)  # every poll at the same moment
    misspelled = api.post(SUBMIT, json={"prompt": "x", "num_image": 2}, headers=KEY)
    unknown = api.get("/v2/requests/status/flux-dev_nope", headers=KEY)
    hasty += [_entry(misspelled, started), _entry(unknown, started)]
    found = _report("--har", str(_write(tmp_path, hasty, "hasty.har")))
    assert found.returncode == 1, found.stdout
    assert "polled-too-fast" in found.stdout and "unknown-id" in found.stdout
    assert "`num_image` is not a documented field of fluxDevTextToImage: did you mean `num_images`?" in found.stdout
    other = _report("--har", str(tmp_path / "hasty.har"), "--key", "someone-else")
    assert other.returncode == 4 and "that --key select" in other.stderr, "no request of that key: nothing judged"
    neither = _report()
    assert neither.returncode == 2 and "--har" in neither.stderr


def test_a_har_that_schemathesis_writes_against_the_mock_is_read_and_shows_no_drift(mock_url, api, tmp_path):
    """Another tool's HAR (schemathesis --report har, its probes with other methods included) is read as
    recorded, and every exchange agrees with the specs: answered ones by their operation, refused ones (404 /
    405 where no operation is) as the API's own "no such operation"."""
    api.put("/__admin/wallets/k", json={"balance": 1_000_000})
    api.put("/__admin/timing", json={"queued_for": 0, "processing_for": 0.05})
    run = subprocess.run(["schemathesis", "run", f"{mock_url}/openapi/pages/flux.yaml", "--url", mock_url,
                          "-H", "Ocp-Apim-Subscription-Key: k", "-H", "X-Secret-Key: k",
                          "--exclude-checks", "ignored_auth", "--max-examples", "2", "--seed", "1",
                          "--generation-database", "none", "--report", "har", "--report-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    (har,) = tmp_path.glob("har-*.json")
    judged = _drift("--har", str(har))
    assert judged.returncode == 0 and "0 of " in judged.stderr, judged.stdout[-3000:]
    assert "## fluxDevTextToImage: ok" in judged.stdout and "recorded exchanges" in judged.stdout
