"""The job lifecycle as data and pure functions: no I/O, no clock of its own.

A job is QUEUED from `created_at`, PROCESSING from `transitions[0]` and in its final state (its
`outcome`: COMPLETED, FAILED or ERROR) from `transitions[1]`. A transition time is None until it is
known. Its status at any moment is therefore derived from the job and that moment alone, so every
reader (and every instance sharing a store) answers the same.

Timing modes decide when transition times become known:
  time      - both are scheduled at submit: queued_for, then processing_for seconds;
  per-poll  - each status poll sets the next one to the poll's time;
  manual    - only an explicit advance (admin API) sets them.
"""

from mock_server.store.records import COMPLETED, ERROR, FAILED, PROCESSING, QUEUED, TERMINAL, Job

__all__ = ["COMPLETED", "ERROR", "FAILED", "NEXT", "PROCESSING", "QUEUED", "TERMINAL", "Job", "advanced",
           "completed_at", "ending", "final_time", "is_final", "polled", "scheduled", "stage", "status_at", "updated_at"]
# The documented flow (spec: JobStatus x-status-flow): which statuses may follow each status.
NEXT = {QUEUED: (PROCESSING, *TERMINAL), PROCESSING: TERMINAL, COMPLETED: (), FAILED: (), ERROR: ()}


def scheduled(job: Job, queued_for: float, processing_for: float) -> Job:
    """The job with its transition times set, if its mode is `time`."""
    if job.mode != "time":
        return job
    started = job.created_at + queued_for
    return job.evolved(transitions=(started, started + processing_for))


def stage(job: Job, now: float) -> int:
    """0 while QUEUED, 1 while PROCESSING, 2 once final."""
    return sum(1 for moment in job.transitions if moment is not None and moment <= now)


def status_at(job: Job, now: float) -> str:
    return (QUEUED, PROCESSING, job.outcome)[stage(job, now)]


def is_final(job: Job, now: float) -> bool:
    return stage(job, now) == 2


def updated_at(job: Job, now: float) -> float:
    passed = [moment for moment in job.transitions if moment is not None and moment <= now]
    return max(passed, default=job.created_at)


def completed_at(job: Job, now: float) -> float | None:
    return job.transitions[1] if is_final(job, now) else None


def advanced(job: Job, now: float, to_end: bool = False) -> Job:
    """The job moved one state forward at `now` (or to its final state); a final job stays as it is."""
    current = stage(job, now)
    if current == 2:
        return job
    times = list(job.transitions)
    for index in range(current, 2 if to_end else current + 1):
        times[index] = now
    return job.evolved(transitions=(times[0], times[1]))


def ending(job: Job, now: float, outcome: str | None, error: str | None = None) -> Job:
    """The job to end as `outcome` (with `error`, for FAILED and ERROR), unless it is final already."""
    if outcome is None or is_final(job, now):
        return job
    return job.evolved(outcome=outcome, error=None if outcome == COMPLETED else (error or f"{outcome.title()} "
                                                                                  "(set from the admin API)"))


def polled(job: Job, now: float) -> Job:
    """The job after one status poll: one state further in per-poll mode (the poll is counted apart)."""
    return advanced(job, now) if job.mode == "per-poll" else job


def final_time(job: Job) -> float | None:
    """When the job will be final, if that is known yet."""
    return job.transitions[1]
