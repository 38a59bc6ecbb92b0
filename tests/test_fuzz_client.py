"""fuzz_client finds each sample client's bug within the default number of examples, reports the shrunk
answers that cause it with the seed, replays it from the seed, and passes the robust client."""

import json
import re
import time

import pytest
from hypothesis import given, settings

from contract_tests import strategies
from contract_tests.fuzzing import ClientDidNotFinish
from tests.clients.queue_clients import (CompletedAtClient, GenerationFailed, MediaOnAnyFinalClient, RobustClient,
                                         StrictFlowClient)

STATUS_FIELDS = {"request_id", "status", "model_id", "error", "output", "created_at", "updated_at", "completed_at",
                 "polling_url"}


def _report(error: BaseException) -> tuple[str, list[dict]]:
    """The fuzz_client note on a failure, and the answer bodies it lists, in order."""
    note = next(note for note in getattr(error, "__notes__", []) if note.startswith("flux-mock fuzz_client"))
    bodies = [json.loads(line.split(" -> ", 1)[1].split(" ", 1)[1]) for line in note.splitlines()[1:]]
    return note, bodies


def _fuzzed(flux_mock, client_class, **options) -> tuple[BaseException, str, list[dict]]:
    client = client_class(flux_mock.url)
    with pytest.raises(Exception) as failure:
        flux_mock.fuzz_client(lambda: client.generate("a red fox"), expected_errors=(GenerationFailed,), **options)
    return (failure.value, *_report(failure.value))


def test_the_robust_client_survives_every_answer_the_spec_allows(flux_mock):
    client = RobustClient(flux_mock.url)
    flux_mock.fuzz_client(lambda: client.generate("a red fox"), expected_errors=(GenerationFailed,), seed=20261123)


def test_reading_the_media_of_any_final_job_is_found_and_shrunk(flux_mock):
    error, note, bodies = _fuzzed(flux_mock, MediaOnAnyFinalClient, seed=1)
    assert isinstance(error, (TypeError, IndexError, KeyError))
    last = bodies[-1]
    assert last["status"] in ("COMPLETED", "FAILED", "ERROR") and not (last.get("output") or {}).get("media_url")
    assert len(bodies) <= 3 and set(last) <= STATUS_FIELDS  # shrunk: the shortest journey, no extra fields
    assert "seed 1; replay: flux_mock.fuzz_client(fn, max_examples=100, seed=1)" in note
    assert re.search(r"call 1: POST /flux-dev/v1/dev/textToImage \(fluxDevTextToImage\) -> 202 ", note)


def test_assuming_completed_at_is_never_null_is_found(flux_mock):
    error, note, bodies = _fuzzed(flux_mock, CompletedAtClient, seed=2)
    assert isinstance(error, (TypeError, KeyError))
    assert bodies[-1]["status"] == "COMPLETED" and bodies[-1].get("completed_at") is None
    assert set(bodies[-1]) <= STATUS_FIELDS


def test_assuming_processing_follows_queued_is_found(flux_mock):
    error, note, bodies = _fuzzed(flux_mock, StrictFlowClient, seed=3)
    assert isinstance(error, AssertionError) and "unexpected transition QUEUED ->" in str(error)
    assert [body["status"] for body in bodies][:1] == ["QUEUED"] and len(bodies) == 2
    assert bodies[1]["status"] in ("COMPLETED", "FAILED", "ERROR")


def test_a_random_seed_is_reported_and_replays_the_same_failure(flux_mock):
    error, note, bodies = _fuzzed(flux_mock, StrictFlowClient)
    seed = int(re.search(r"seed (\d+);", note).group(1))
    replayed, _, again = _fuzzed(flux_mock, StrictFlowClient, seed=seed)
    ids = re.compile(r"flux-dev_[0-9a-f-]{36,37}|:\d+/")  # the gateway's ids: 8-4-4-4-13
    assert ids.sub("", json.dumps(again)) == ids.sub("", json.dumps(bodies))
    assert str(replayed) == str(error)


def test_a_client_that_never_finishes_fails_as_such(flux_mock):
    def hangs():
        RobustClient(flux_mock.url).http.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"})
        time.sleep(3)
    with pytest.raises(ClientDidNotFinish, match=r"did not finish within 0.5 s \(1 calls answered\)"):
        flux_mock.fuzz_client(hangs, max_examples=1, timeout=0.5)


@settings(max_examples=50)
@given(strategies.answers("getRequestStatus"))
def test_strategies_give_spec_valid_answers_without_http(body):
    assert body["request_id"] == strategies.SAMPLE_FACTS["request_id"]
    assert body["status"] in ("QUEUED", "PROCESSING", "COMPLETED", "FAILED", "ERROR")


def test_strategies_name_the_operations_when_one_is_unknown():
    with pytest.raises(ValueError, match="getRequestStatus"):
        strategies.answers("getRequestStatu")
