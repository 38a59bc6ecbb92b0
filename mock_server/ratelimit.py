"""Per-key rate limits: a token bucket per key, refilled at the key's requests-per-second rate."""

import math

from mock_server.clock import Clock
from mock_server.errors import RateLimited


class RateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str, rate: float | None) -> None:
        """Take one token from the key's bucket, or raise RateLimited with the seconds to wait."""
        if not rate:
            return
        now = self._clock.now()
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimited(retry_after=max(1, math.ceil((1.0 - tokens) / rate)))
        self._buckets[key] = (tokens - 1.0, now)

    def reset(self) -> None:
        self._buckets.clear()
