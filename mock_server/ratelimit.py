"""Per-key rate limits: a token bucket per key, refilled at the key's requests-per-second rate."""

import math

from mock_server.clock import Clock
from mock_server.errors import RateLimited
from mock_server.store.base import RateStore


class RateLimiter:
    def __init__(self, clock: Clock, store: RateStore) -> None:
        self._clock = clock
        self._store = store

    async def check(self, key: str, rate: float | None) -> None:
        """Take one token from the key's bucket, or raise RateLimited with the seconds to wait."""
        if not rate:
            return
        wait = await self._store.take(key, rate, self._clock.now())
        if wait is not None:
            raise RateLimited(retry_after=max(1, math.ceil(wait)))
