"""The job lifecycle's pure functions: status derived from the job and a moment."""

import pytest

from mock_server.jobs import lifecycle
from mock_server.jobs.lifecycle import COMPLETED, ERROR, FAILED, PROCESSING, QUEUED, Job


def job(**fields) -> Job:
    return Job(request_id="m_1", operation_id="op", model_id="m", key="k", created_at=100.0, **fields)


def test_time_mode_schedules_both_transitions():
    scheduled = lifecycle.scheduled(job(), queued_for=1, processing_for=2)
    assert scheduled.transitions == (101.0, 103.0)
    assert [lifecycle.status_at(scheduled, t) for t in (100, 100.99, 101, 102.99, 103, 1e9)] == [
        QUEUED, QUEUED, PROCESSING, PROCESSING, COMPLETED, COMPLETED]
    assert lifecycle.completed_at(scheduled, 102) is None and lifecycle.completed_at(scheduled, 104) == 103


@pytest.mark.parametrize("mode", ["per-poll", "manual"])
def test_other_modes_schedule_nothing(mode):
    assert lifecycle.scheduled(job(mode=mode), 1, 2).transitions == (None, None)


@pytest.mark.parametrize("outcome", [COMPLETED, FAILED, ERROR])
def test_per_poll_moves_one_state_a_poll_to_the_outcome(outcome):
    current = job(mode="per-poll", outcome=outcome)
    statuses = []
    for moment in (101, 102, 103):
        current = lifecycle.polled(current, moment)
        statuses.append(lifecycle.status_at(current, moment))
    assert statuses == [PROCESSING, outcome, outcome]
    assert current.transitions == (101, 102)


def test_manual_mode_moves_only_when_advanced():
    current = lifecycle.polled(job(mode="manual"), 150)
    assert lifecycle.status_at(current, 1e9) == QUEUED
    current = lifecycle.advanced(current, 151)
    assert lifecycle.status_at(current, 151) == PROCESSING
    current = lifecycle.advanced(current, 152)
    assert (lifecycle.status_at(current, 152), lifecycle.updated_at(current, 152)) == (COMPLETED, 152)


def test_advance_to_end_and_a_final_job_never_changes():
    final = lifecycle.advanced(job(mode="manual", outcome=FAILED), 120, to_end=True)
    assert lifecycle.status_at(final, 120) == FAILED and final.transitions == (120, 120)
    assert lifecycle.advanced(final, 130) == final and lifecycle.advanced(final, 130, to_end=True) == final


def test_status_only_moves_forward_along_the_documented_flow():
    current = lifecycle.scheduled(job(outcome=ERROR), 1, 1)
    seen = [lifecycle.status_at(current, t / 10) for t in range(990, 1040)]
    for before, after in zip(seen, seen[1:]):
        assert after == before or after in lifecycle.NEXT[before]


def test_a_job_survives_a_round_trip_through_a_dict():
    original = lifecycle.scheduled(job(media=("/media/a",), details={"seed": 1}), 1, 2)
    assert Job.from_dict(original.to_dict()) == original
