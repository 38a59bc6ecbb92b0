"""Clocks. The app gets exactly one, so tests control time instead of sleeping."""

import asyncio
import time
from functools import lru_cache
from datetime import datetime, UTC
from typing import Protocol


class Clock(Protocol):
    offset: float  # what the admin API moved the clock by (from the runtime store)

    def now(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class OffsetClock:
    """Wall-clock time plus an offset the admin API moves forward (kept in the runtime store, so every
    instance sharing it agrees): the clock of `flux-mock serve`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Time that moves only when told to; `sleep` moves it at once, so waits cost no real time."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self.offset = 0.0  # what the admin API moved it by (as OffsetClock.offset)

    def now(self) -> float:
        return self._now + self.offset

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now += seconds


@lru_cache(maxsize=8192)
def iso(epoch: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, as the gateway writes it: 2026-03-31T10:00:15.000Z."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def moment_of(raw: str) -> float:
    """Epoch seconds of `since`-style text: epoch seconds, or an ISO 8601 / RFC 3339 time (UTC unless it says
    otherwise; RFC 3339's lower-case t and z and its leap second taken); ValueError for anything else."""
    try:
        return float(raw)
    except ValueError:
        pass
    moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00").replace(":60", ":59"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
