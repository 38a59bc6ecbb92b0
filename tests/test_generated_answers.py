"""Generated answers (mock_server/answers/): every one valid against the spec, deliberately unusual, true to its
job; the same seed gives the same answers; named examples answer verbatim."""

import itertools
import json
import re
from collections import Counter
from datetime import datetime

import httpx
import jsonschema_rs
import pytest

from contract_tests.checks import answer_problems
from contract_tests.process import running_mock
from mock_server.answers.flows import MAX_REPEATS, JobFlows, documented_flow
from mock_server.answers.call import Call
from mock_server.answers.generator import AnswerGenerator
from mock_server.answers.shapes import reported_statuses
from mock_server.answers.values import SeededDraws
from mock_server.responses import JSONBody
from mock_server.operations import load_operations
from mock_server.operations.model import NOT_LIVE
from tests.support.harness import KEY

OPERATIONS = load_operations()
FACTS = {"request_id": "flux-dev_019d42ce-ae71-7999-a4c9-5d76447ecafb", "model_id": "flux-dev",
         "media_url": ["http://127.0.0.1:9/media/0123456789abcdef/64x64-0.png"],
         "polling_url": "http://127.0.0.1:9/v2/requests/status/flux-dev_019d42ce-ae71-7999-a4c9-5d76447ecafb",
         "media_type": "image/png", "media_width": 64, "media_height": 64}
SUBMIT = "/flux-dev/v1/dev/textToImage"
ANSWERS = [(op, int(code)) for op in OPERATIONS for code in op.responses
           if code.isdigit() and op.response_schema(int(code)) is not None]


def _answering(operation) -> str | None:
    """The variant that gives the operation's answers: a route the live gateway refuses (not-live) answers them
    only under its variants, the first of which the draws are made for."""
    return next(iter(operation.variants)) if operation.kind == NOT_LIVE else None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_generated_status_answers_are_unusual_in_every_documented_way():
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(11)
    statuses, absent, nulls, extra, non_ascii = Counter(), Counter(), Counter(), 0, 0
    documented = {"request_id", "status", "model_id", "error", "output", "created_at", "updated_at", "completed_at",
                  "polling_url"}
    for _ in range(300):
        body, status = draws.run(lambda draw: generator.answer(Call("getRequestStatus", 200, FACTS), draw,
                                                               JobFlows()))
        statuses[status] += 1
        absent.update(documented - set(body))
        nulls.update(name for name, value in body.items() if value is None)
        extra += bool(set(body) - documented)
        non_ascii += any(not text.isascii() for text in _strings(body))
        assert body["request_id"] == FACTS["request_id"] and body["model_id"] == FACTS["model_id"]
        media = (body.get("output") or {}).get("media_url") or []
        assert set(media) <= set(FACTS["media_url"])  # every media URL in an answer downloads
    assert set(statuses) == {"QUEUED", "PROCESSING", "COMPLETED", "FAILED", "ERROR"}
    assert {"created_at", "updated_at", "completed_at", "polling_url"} <= set(absent)  # optional fields left out
    assert {"error", "output", "completed_at"} <= set(nulls)  # nullable fields null
    assert extra > 10 and non_ascii > 10


def test_a_generated_job_only_moves_forward_and_does_not_stall():
    flow, order = documented_flow(), list(documented_flow())
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(3)
    for _ in range(30):
        flows, seen = JobFlows(), []
        for _ in range(12):
            _, status = draws.run(lambda draw: generator.answer(Call("getRequestStatus", 200, FACTS), draw, flows))
            seen.append(status)
        for before, after in zip(seen, seen[1:]):
            assert after == before or after in flow[before], seen
        assert seen[-1] in ("COMPLETED", "FAILED", "ERROR"), seen  # final within 12 polls: nothing stalls
        running = [len(list(group)) for status, group in itertools.groupby(seen) if status in order[:2]]
        assert max(running, default=0) <= MAX_REPEATS, seen


def test_the_batch_and_fal_shapes_report_their_own_spelling_of_a_status():
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(5)
    batch = {draws.run(lambda draw: generator.answer(Call("schnellCheckStatus", 200, FACTS), draw, JobFlows()))[0]
             ["status"] for _ in range(60)}
    assert batch == {"queued", "processing", "completed", "failed"}
    for _ in range(60):
        body, status = draws.run(lambda draw: generator.answer(Call("fluxGeneralGetStatus", 200, FACTS), draw,
                                                               JobFlows()))
        if status == "COMPLETED":
            assert "images" in body and "status" not in body and all(image["url"] in FACTS["media_url"]
                                                                     for image in body["images"])
        else:
            assert body["status"] == status and "images" not in body


def test_a_call_without_a_job_never_gets_a_job_id_it_could_poll():
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(9)
    facts = {"model_id": "flux-1-schnell", "media_url": FACTS["media_url"]}
    for _ in range(60):
        body, _ = draws.run(lambda draw: generator.answer(Call("schnellGetData", 200, facts), draw, JobFlows()))
        assert "requestId" not in body
        assert body.get("output", FACTS["media_url"][0]) == FACTS["media_url"][0]


def _masked(body: dict, ids: list[str]) -> str:
    """The answer with the job's ids masked, and its times: they follow the job's own clock (its creation and
    the moment of the poll), not the seed."""
    text = re.sub(r'"\d{4}-\d\d-\d\dT[\d:.]+Z"', '"<time>"', json.dumps(body, sort_keys=True))
    for number, value in enumerate(ids):
        text = text.replace(value, f"<id {number}>")
    return text


def _journey(url: str) -> list[str]:
    """Submit, then poll four times: every answer, with the job's id masked (it is random); the seed the mock
    picks for the image follows the server's --seed, so the media URLs are compared as they are."""
    with httpx.Client(base_url=url, headers=KEY, timeout=10) as client:
        submitted = client.post(SUBMIT, json={"prompt": "a red fox"}).json()
        ids = [submitted["request_id"], url]
        answers = [_masked(submitted, ids)]
        for _ in range(4):
            answers.append(_masked(client.get(f"/v2/requests/status/{submitted['request_id']}").json(), ids))
    return answers


def test_the_same_seed_gives_the_same_answers_and_completed_media_downloads():
    with running_mock("--responses", "generated", "--seed", "42") as first, \
            running_mock("--responses", "generated", "--seed", "42") as second, \
            running_mock("--responses", "generated", "--seed", "43") as other:
        assert _journey(first) == _journey(second)
        assert _journey(first) != _journey(other)
        with httpx.Client(base_url=first, headers=KEY, timeout=10) as client:
            request_id = client.post(SUBMIT, json={"prompt": "a fox"}).json()["request_id"]
            for _ in range(12):
                body = client.get(f"/v2/requests/status/{request_id}").json()
                for url in (body.get("output") or {}).get("media_url") or []:
                    image = client.get(url)
                    assert image.status_code == 200 and image.content
            journal = client.get("/__admin/journal").json()["entries"]
        assert {entry["answer"] for entry in journal if entry["path"].startswith("/v2/")} == {"generated"}


def test_prefer_dynamic_draws_one_answer_and_the_journal_says_so(api):
    submitted = api.post(SUBMIT, json={"prompt": "a fox"}, headers={**KEY, "Prefer": "dynamic=true"})
    own = api.post(SUBMIT, json={"prompt": "a fox"}, headers=KEY)
    assert submitted.status_code == 202 and submitted.json()["status"] == "QUEUED"
    entries = api.get("/__admin/journal").json()["entries"]
    assert [entry["answer"] for entry in entries] == ["generated", None]
    assert set(own.json()) == {"request_id", "status", "polling_url"}
    bad = api.get("/v2/requests/status/x", headers={**KEY, "Prefer": "dynamic=maybe"})
    assert bad.status_code == 400 and "dynamic=maybe is not a valid value" in bad.json()["message"]


def test_prefer_example_answers_that_documented_example_verbatim(api):
    request_id = api.post(SUBMIT, json={"prompt": "a fox"}, headers=KEY).json()["request_id"]
    answer = api.get(f"/v2/requests/status/{request_id}", headers={**KEY, "Prefer": "example=fluxDevError"})
    assert answer.status_code == 200
    assert answer.json() == {"request_id": "flux-dev_019dxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "status": "ERROR",
                             "model_id": "flux-dev", "error": "Description of the error", "output": None}
    html = api.get(f"/v2/requests/status/{request_id}", headers={**KEY, "Prefer": "example=cloudflareChallenge"})
    assert html.status_code == 403 and html.headers["content-type"].startswith("text/html")
    entries = api.get("/__admin/journal").json()["entries"]
    assert entries[-1]["answer"] == "example:cloudflareChallenge"


def test_an_unknown_example_name_is_a_400_listing_the_names(api):
    answer = api.get("/v2/requests/status/abc", headers={**KEY, "Prefer": "example=fluxDevEror"})
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "example=fluxDevEror is not an example of getRequestStatus" in message and "fluxDevError" in message
    with_code = api.get("/v2/requests/status/abc", headers={**KEY, "Prefer": "code=404, example=fluxDevError"})
    assert with_code.status_code == 400 and "for status 404" in with_code.json()["message"]


def test_rules_with_an_unknown_example_or_a_remote_draw_url_are_refused(api):
    unknown = api.post("/__admin/rules", json={"match": {"operation_id": "getRequestStatus"},
                                                   "outcome": {"example": "nope"}})
    assert unknown.status_code == 400 and "outcome.example 'nope'" in unknown.json()["message"]
    assert "fluxDevError" in unknown.json()["message"]
    remote = api.post("/__admin/rules", json={"outcome": {"dynamic": True, "draw_from": "http://10.0.0.1/x"}})
    assert remote.status_code == 400 and "draw_from" in remote.json()["message"]
    rule = api.post("/__admin/rules", json={"match": {"operation_id": "getRequestStatus"},
                                                "outcome": {"example": "fluxDevError"}})
    assert rule.status_code == 201
    assert api.get("/v2/requests/status/abc", headers=KEY).json()["status"] == "ERROR"


TIMED_FACTS = {**FACTS, "created_at": 1_780_000_000.0, "answered_at": 1_780_000_042.5}


@pytest.mark.parametrize("operation, status", ANSWERS, ids=[f"{op.operation_id}-{code}" for op, code in ANSWERS])
def test_every_generated_answer_is_valid_and_keeps_every_rule_the_kits_checks_judge(operation, status):
    """50 draws per operation and status, each job status among them, are valid against the spec (formats
    included), render, and pass the checks `check` and `drift` run (the spec's per-status rules and the order of
    its times): the generator reads the same rules from the spec, so a client that fails on a drawn answer has a
    bug, not a fuzzer's false alarm. Each ten draws share their job flows, as ten polls of one job do: its later
    answers are drawn too. (The draws are seeded: the same 50 each run; 100 covered no line or branch of
    mock_server/answers more.)"""
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(3)
    schema, seen = operation.response_schema(status), Counter()
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    for number in range(50):
        if number % 10 == 0:
            flows = JobFlows()  # a new job every ten draws
        body, job_status = draws.run(lambda draw: generator.answer(Call(operation.operation_id, status, TIMED_FACTS,
                                                                         _answering(operation)), draw, flows))
        seen[job_status] += 1
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, f"{operation.operation_id} {status}: {errors} in {body!r}"
        assert answer_problems(schema, body) == [], f"{operation.operation_id} {status} ({job_status}): {body!r}"
        JSONBody(body)  # renders (integers beyond 64 bits too)
        text = json.dumps(body)
        assert "request_id" not in text or FACTS["request_id"] in text or "requestId" in text or status != 200
        for name in ("created_at", "updated_at", "completed_at"):
            moment = _epoch(body.get(name)) if isinstance(body, dict) else None
            assert moment is None or TIMED_FACTS["created_at"] <= moment <= TIMED_FACTS["answered_at"], (name, body)
    if reported_statuses(schema):
        assert len(seen) > 1 or len(reported_statuses(schema)) == 1, seen


def _epoch(value) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if isinstance(value, str) else None


def test_schnell_getdata_draws_its_image_url_by_default_and_the_status_table_shapes_only_as_their_variants():
    """Every getData example answers {"output": url}; the status tables' {"success": true} and "msg" bodies are
    recorded contradictions, drawn only under their named variants (half the draws had no image URL before)."""
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(5)

    def drawn(variant):
        call = Call("schnellGetData", 200, {"model_id": "flux-1-schnell", "media_url": FACTS["media_url"]}, variant)
        return [draws.run(lambda draw: generator.answer(call, draw, JobFlows()))[0] for _ in range(40)]
    assert all(isinstance(body.get("output"), str) for body in drawn(None))
    assert all(body.get("success") is True and "output" not in body for body in drawn("success-flag"))


def test_prefer_variant_success_flag_answers_the_status_tables_body(api):
    answer = api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"},
                      headers={**KEY, "Prefer": "variant=success-flag"})
    assert answer.status_code == 200 and answer.json() == {"success": True}
    entry = api.get("/__admin/journal", params={"operation_id": "schnellGetData"}).json()["entries"][-1]
    assert entry["variant"] == "success-flag"


def test_beyond_contract_answers_break_the_rules_on_purpose_and_the_journal_says_which():
    """Past the contract is a named mode: drawn from the schemas alone, the rules of the spec can break (here:
    media, error or times against their status), and each answer is journaled as such; generated answers
    from the same draws never break them."""
    generator, draws = AnswerGenerator(OPERATIONS), SeededDraws(3)
    schema = next(op for op in OPERATIONS if op.operation_id == "getRequestStatus").response_schema(200)

    def breaches(beyond: bool) -> int:
        call = Call("getRequestStatus", 200, TIMED_FACTS, beyond_contract=beyond)
        bodies = [draws.run(lambda draw: generator.answer(call, draw, JobFlows()))[0] for _ in range(60)]
        return sum(bool([p for p in answer_problems(schema, body) if p.check != "response-schema"]) for body in bodies)
    assert breaches(beyond=True) > 0 and breaches(beyond=False) == 0
    with running_mock("--responses", "beyond-contract") as url:
        with httpx.Client(base_url=url, headers=KEY, timeout=10) as client:
            client.post(SUBMIT, json={"prompt": "x"})
            entries = client.get("/__admin/journal").json()["entries"]
    assert [entry["answer"] for entry in entries if entry["kind"] == "request"][-1] == "generated (beyond contract)"


def test_prefer_dynamic_beyond_contract_draws_one_answer_past_the_rules_and_the_journal_says_so(api):
    answer = api.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "dynamic=beyond-contract"})
    assert answer.status_code == 202
    entry = api.get("/__admin/journal", params={"operation_id": "fluxDevTextToImage"}).json()["entries"][-1]
    assert entry["answer"] == "generated (beyond contract)"


def test_a_job_shown_failed_stays_failed_once_its_media_is_known():
    """A final status never changes (page 003's status flow): a job a generated answer showed FAILED while the
    mock's own job was still running is shown FAILED again after that job completed and its media URLs became
    facts."""
    generator, flows, draws = AnswerGenerator(OPERATIONS), JobFlows(), SeededDraws(3)
    running = {name: value for name, value in FACTS.items() if not name.startswith("media")}
    flows.shown(FACTS["request_id"], "FAILED")
    for facts in (running, FACTS, FACTS):
        body, status = draws.run(lambda draw: generator.answer(Call("getRequestStatus", 200, facts), draw, flows))
        assert status == body["status"] == "FAILED", body
        assert not (body.get("output") or {}).get("media_url")
