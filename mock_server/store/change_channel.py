"""How instances sharing a Redis store keep a current copy of the run-time state without reading it on
every request.

Each instance follows one Pub/Sub channel. A change (clock, timing, rules, reset) is written to
Redis, then announced; every following instance reads the state again and acknowledges (a counter in
Redis, so the announcer need not follow), and `announce` returns only once every instance that
received the announcement acknowledged it (or ACK_WAIT passed, for an instance that hangs). So when
an admin call answers, every live instance already applies the change: a request sent after it, to
any instance, sees it. An instance that is not following (starting,
Redis down, the subscription lost) says so in `current`, and its requests read the state themselves
until it follows again: the channel is a speed-up, never a source of truth.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

log = logging.getLogger("flux_mock.store")

ACK_WAIT = 2.0
ACK_POLL = 0.002


class ChangeChannel:
    """`changed` is the Pub/Sub channel; an acknowledgement of announcement N is an INCR of `acks` + N."""

    def __init__(self, client, changed: str, acks: str) -> None:
        self.client = client
        self.changed, self.acks = changed, acks
        self.current = False  # True while following: this instance's copy is up to date
        self._take_up: Callable[[], Awaitable[None]] | None = None
        self._follower: asyncio.Task | None = None

    async def announce(self) -> None:
        """Tell every instance the state changed; return once each acknowledged (at most ACK_WAIT s)."""
        nonce = uuid.uuid4().hex
        receivers = await self.client.publish(self.changed, nonce)
        deadline = time.monotonic() + ACK_WAIT
        try:
            while (acked := int(await self.client.get(self.acks + nonce) or 0)) < receivers:
                if time.monotonic() > deadline:
                    log.warning("runtime change: %d of %d instances acknowledged in %.0f s", acked, receivers, ACK_WAIT)
                    return
                await asyncio.sleep(ACK_POLL)
        finally:
            await self.client.unlink(self.acks + nonce)

    def follow(self, take_up: Callable[[], Awaitable[None]]) -> None:
        """Start following: `take_up()` reads the state again (after subscribing, and on every change)."""
        self._take_up = take_up
        self._follower = asyncio.create_task(self._follow(), name="flux-mock runtime changes")

    async def stop(self) -> None:
        self.current = False
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.wait([self._follower], timeout=2.0)  # shutdown never hangs on the subscription
            self._follower = None

    async def _follow(self) -> None:
        """Subscribe, take the state up, then take up every announced change; on any error (Redis down), stop
        being current, log once per outage, and subscribe again with backoff."""
        failing_since, backoff = None, 0.0
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.changed)
                await self._take_up()
                self.current = True
                if failing_since is not None:
                    log.warning("runtime changes: followed again after %.1f s", time.monotonic() - failing_since)
                failing_since, backoff = None, 0.0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._take_up()
                        async with self.client.pipeline(transaction=False) as pipe:
                            await pipe.incr(self.acks + message["data"]).expire(self.acks + message["data"],
                                                                                 60).execute()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the loop outlives every error; each outage is logged
                self.current = False
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("runtime changes: %s: %s; requests read the shared state themselves until "
                                "followed again", type(error).__name__, error)
                backoff = min(5.0, max(0.1, backoff * 2))
                await asyncio.sleep(backoff)
            finally:
                self.current = False
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - a connection already gone
                    pass
