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

from dataclasses import asdict, dataclass, field, fields

QUEUED, PROCESSING, COMPLETED, FAILED, ERROR = "QUEUED", "PROCESSING", "COMPLETED", "FAILED", "ERROR"
TERMINAL = (COMPLETED, FAILED, ERROR)
# The documented flow (spec: JobStatus x-status-flow): which statuses may follow each status.
NEXT = {QUEUED: (PROCESSING, *TERMINAL), PROCESSING: TERMINAL, COMPLETED: (), FAILED: (), ERROR: ()}


@dataclass(frozen=True, slots=True)
class Job:
    request_id: str
    operation_id: str
    model_id: str
    key: str
    created_at: float
    outcome: str = COMPLETED
    error: str | None = None
    mode: str = "time"
    transitions: tuple[float | None, float | None] = (None, None)
    polls: int = 0
    media: tuple[str, ...] = ()
    media_type: str = "image/png"
    details: dict = field(default_factory=dict)
    charged_micros: int = 0
    webhook: dict | None = None

    def evolved(self, **changes) -> "Job":
        """A copy with `changes`: dataclasses.replace, without its per-call field checks (hot path)."""
        return Job(*[changes[name] if name in changes else getattr(self, name) for name in _FIELDS])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        return cls(**{**data, "transitions": tuple(data["transitions"]), "media": tuple(data["media"])})


_FIELDS = tuple(f.name for f in fields(Job))


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


def polled(job: Job, now: float) -> Job:
    """The job after one status poll: one state further in per-poll mode (the poll is counted apart)."""
    return advanced(job, now) if job.mode == "per-poll" else job


def final_time(job: Job) -> float | None:
    """When the job will be final, if that is known yet."""
    return job.transitions[1]
