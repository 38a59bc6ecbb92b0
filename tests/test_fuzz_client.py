"""fuzz_client finds each sample client's bug within the default number of examples, reports the shrunk
answers that cause it with the seed, replays it from the seed, and passes the robust client."""

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

from contract_tests import strategies
from contract_tests.fuzzing import ClientDidNotFinish
from tests.clients.queue_clients import (CompletedAtClient, GenerationFailed, MediaOnAnyFinalClient, RobustClient,
                                         StrictFlowClient)
from tests.support.pytest_run import run_pytest

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


def test_after_fuzz_client_the_evidence_stays_and_the_tests_timing_and_rules_are_back(flux_mock):
    """Issue 39, item 1: the journal of the last run readable, the earlier runs' kept, the timing and the rules
    the test set before in force again."""
    flux_mock.timing.set(mode="time", queued_for=0, processing_for=0, sync_latency=0.25)
    flux_mock.rules.add({"status": 429}, operation="schnellGetData")
    client = RobustClient(flux_mock.url)
    flux_mock.fuzz_client(lambda: client.generate("a red fox"), expected_errors=(GenerationFailed,), max_examples=5,
                          seed=7)
    last = flux_mock.journal.entries()
    earlier = flux_mock.journal.of_fuzz_runs()
    assert [entry.operation_id for entry in last][:1] == ["fluxDevTextToImage"], "the last run's journal stays"
    submits = [entry for entry in earlier if entry.operation_id == "fluxDevTextToImage"]
    assert len(submits) >= 4, f"the 4 runs before the last are kept: {len(submits)} submits"
    assert flux_mock.timing.get()["sync_latency"] == 0.25, "the test's timing is in force again"
    assert [rule.outcome for rule in flux_mock.rules.list()] == [{"status": 429}], \
        "the test's rule is back, the drawing rule gone"


def test_a_fuzz_only_session_counts_coverage_and_keeps_traffic(tmp_path):
    """Coverage counts what fuzz_client's runs met (it said "no operation was called"), and the traffic file
    holds them."""
    (tmp_path / "test_fuzz_only.py").write_text(
        "from tests.clients.queue_clients import GenerationFailed, RobustClient\n\n"
        "def test_fuzz(flux_mock):\n"
        "    client = RobustClient(flux_mock.url)\n"
        "    flux_mock.fuzz_client(lambda: client.generate('x'), expected_errors=(GenerationFailed,),\n"
        "                          max_examples=5, seed=3)\n")
    root = Path(__file__).parents[1]  # the sample clients' package is imported from the checkout
    ran = run_pytest(tmp_path, "--flux-mock-coverage", "--flux-mock-traffic", str(tmp_path / "traffic.har"),
                     cwd=root, timeout=180)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert "fluxDevTextToImage: met 202" in ran.stdout and "no operation was called" not in ran.stdout, ran.stdout
    traffic = json.loads((tmp_path / "traffic.har").read_text())["log"]["entries"]
    assert sum(entry["request"]["method"] == "POST" for entry in traffic) >= 5, "every run's submit"
