"""How long a job stays in each state and a sync call takes, and how a job's transitions become known (the
modes: jobs/lifecycle.py).

`observed` is `time` with the durations the live gateway was seen to take (x-evidence sync-latency and
job-duration in flux.yaml, handed in as `Observed`), drawn per call from the server's seed and divided by
`speed`, so a test can run the observed timing fast (speed 100: a 30 s getData answers in 0.3 s)."""

import random
from dataclasses import dataclass
from typing import NamedTuple

from mock_server.exit_codes import ConfigError

TIMING_MODES = ("time", "per-poll", "manual", "observed")
OBSERVED = "observed"


class Observed(NamedTuple):
    """The ranges (low, high seconds) the live gateway was seen to take."""

    sync: tuple[float, float]
    long_prompt: tuple[float, float]
    long_prompt_chars: int
    queued: tuple[float, float]
    processing: tuple[float, float]


@dataclass(frozen=True)
class Timing:
    mode: str = "time"
    queued_for: float = 1.0
    processing_for: float = 2.0
    sync_latency: float = 0.0
    speed: float = 1.0  # observed durations are divided by it

    def __post_init__(self):
        if self.mode not in TIMING_MODES:
            raise ConfigError(f"timing.mode must be one of {', '.join(TIMING_MODES)}, not {self.mode!r}")
        for name in ("queued_for", "processing_for", "sync_latency"):
            if getattr(self, name) < 0:
                raise ConfigError(f"timing.{name} must be >= 0")
        if not 0 < self.speed <= 10_000:
            raise ConfigError(f"timing.speed must be above 0 and at most 10000, not {self.speed}")

    @property
    def lifecycle_mode(self) -> str:
        """How a job's transitions become known: observed durations are kept by the clock."""
        return "time" if self.mode == OBSERVED else self.mode

    def job_durations(self, observed: Observed, draw: random.Random) -> tuple[float, float]:
        """Seconds QUEUED and PROCESSING of the next job."""
        if self.mode != OBSERVED:
            return self.queued_for, self.processing_for
        return draw.uniform(*observed.queued) / self.speed, draw.uniform(*observed.processing) / self.speed

    def sync_wait(self, observed: Observed, draw: random.Random, prompt: str) -> float:
        """Seconds the next sync call takes (a long prompt longer, as observed)."""
        if self.mode != OBSERVED:
            return self.sync_latency
        span = observed.long_prompt if len(prompt) >= observed.long_prompt_chars else observed.sync
        return draw.uniform(*span) / self.speed
