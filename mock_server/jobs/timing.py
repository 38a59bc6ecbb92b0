"""How long a job stays in each state, and how its transitions become known (the modes: jobs/lifecycle.py)."""

from dataclasses import dataclass

from mock_server.exit_codes import ConfigError

TIMING_MODES = ("time", "per-poll", "manual")


@dataclass(frozen=True)
class Timing:
    mode: str = "time"
    queued_for: float = 1.0
    processing_for: float = 2.0
    sync_latency: float = 0.0

    def __post_init__(self):
        if self.mode not in TIMING_MODES:
            raise ConfigError(f"timing.mode must be one of {', '.join(TIMING_MODES)}, not {self.mode!r}")
        for name in ("queued_for", "processing_for", "sync_latency"):
            if getattr(self, name) < 0:
                raise ConfigError(f"timing.{name} must be >= 0")
