"""Network chaos: the faults real networks and gateways have, drawn call by call from a seed.

A chaos setting (the config's `chaos`, a rule's `outcome.chaos`: admin.yaml's Chaos schema) gives rates;
`Prefer: chaos=NAME` forces one fault on one call. Faults:

  drop      the connection closes mid-answer
  error     a burst of 5xx answers (`burst` calls of that key; 503 with Retry-After, as the gateway sends it)
  throttle  a 429 storm: every call of that key answers 429 with Retry-After until `storm` seconds pass
  slow      the answer's body trickles in over `slow_seconds`
  jitter    up to `jitter` extra seconds before an answer

Each fault applies itself through a narrow port, `FaultInjector` (as WireMock's `Fault.apply(FaultInjector)`):
what a fault may do to a call is only what the port offers (drop it, answer it with a status, trickle its body,
delay it); the pipeline supplies the port for each exchange. Each instance keeps its own random stream per
setting and its own bursts and storms (bounded); every fault is journaled as `answer: chaos:NAME`, and
client_checks judges what the client did next.
"""

import math
import random
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import ClassVar, Protocol

from starlette.responses import Response

BURST_STATUSES = (500, 502, 503, 504)
REMEMBERED = 10_000  # keys and settings an instance keeps chaos state for
PREFERRED_JITTER = 1.0  # seconds of `Prefer: chaos=jitter`


@dataclass(frozen=True)
class ChaosSetting:
    seed: int = 0
    jitter: float = 0.0
    errors: float = 0.0
    burst: int = 3
    throttles: float = 0.0
    storm: float = 2.0
    drops: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0

    @classmethod
    def of(cls, data: dict, seed: int) -> "ChaosSetting":
        known = {field.name for field in fields(cls)}
        return cls(**{"seed": seed, **{name: value for name, value in data.items() if name in known}})


class FaultInjector(Protocol):
    """What a fault may do to the call it meets (the pipeline's port onto one exchange)."""

    def drop(self) -> Response:
        """An answer that starts and never finishes: the connection closes mid-answer."""

    def answer(self, status: int, retry_after: float | None) -> Response:
        """The operation's answer for this status (the gateway's own for 502-504), with Retry-After if given."""

    def trickle(self, seconds: float) -> None:
        """The call's answer, when it comes, sends its body over this many seconds."""

    async def delay(self, seconds: float) -> None:
        """The call goes on this much later (on the mock's clock)."""


@dataclass(frozen=True)
class Fault:
    """One fault a call meets. `apply` makes the call meet it through the port: the answer it gets instead,
    or None when the call goes on (late, or with a body that will trickle)."""

    kind: ClassVar[str]

    async def apply(self, injector: FaultInjector) -> Response | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Drop(Fault):
    kind = "drop"

    async def apply(self, injector: FaultInjector) -> Response:
        return injector.drop()


@dataclass(frozen=True)
class ServerError(Fault):
    kind = "error"
    status: int = 503
    retry_after: float | None = None

    async def apply(self, injector: FaultInjector) -> Response:
        return injector.answer(self.status, self.retry_after)


@dataclass(frozen=True)
class Throttle(ServerError):
    kind = "throttle"
    status: int = 429


@dataclass(frozen=True)
class Slow(Fault):
    kind = "slow"
    seconds: float = 0.0  # how long the body takes

    async def apply(self, injector: FaultInjector) -> None:
        injector.trickle(self.seconds)


@dataclass(frozen=True)
class Jitter(Fault):
    kind = "jitter"
    seconds: float = 0.0  # the delay

    async def apply(self, injector: FaultInjector) -> None:
        await injector.delay(self.seconds)


def _bounded_put(mapping: OrderedDict, key, value) -> None:
    mapping.pop(key, None)
    mapping[key] = value
    while len(mapping) > REMEMBERED:
        mapping.popitem(last=False)


class Chaos:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: OrderedDict[ChaosSetting, random.Random] = OrderedDict()
        self._bursts: OrderedDict = OrderedDict()  # key -> (answers left, status)
        self._storms: OrderedDict = OrderedDict()  # key -> the moment the storm ends

    def fault(self, wanted: dict | str, key: str | None, now: float) -> Fault | None:
        """The fault this call meets, if any: `wanted` is a rule's or the config's chaos setting, or the name of
        the fault Prefer forces (checked by outcome.parse_prefer)."""
        if isinstance(wanted, str):
            return FORCED[wanted]
        return self._ongoing(key, now) or self._drawn(ChaosSetting.of(wanted, self.seed), key, now)

    def _ongoing(self, key, now: float) -> Fault | None:
        until = self._storms.get(key)
        if until is not None and now < until:
            return Throttle(retry_after=max(1.0, math.ceil(until - now)))
        left, status = self._bursts.get(key, (0, None))
        if left > 0:
            _bounded_put(self._bursts, key, (left - 1, status))
            return _error(status)
        return None

    def _drawn(self, setting: ChaosSetting, key, now: float) -> Fault | None:
        stream = self._streams.get(setting)
        if stream is None:
            stream = random.Random(setting.seed)
            _bounded_put(self._streams, setting, stream)
        roll = stream.random()
        for rate, kind in ((setting.drops, "drop"), (setting.errors, "error"), (setting.throttles, "throttle"),
                           (setting.slow, "slow")):
            if roll < rate:
                return self._started(kind, setting, stream, key, now)
            roll -= rate
        return Jitter(stream.uniform(0, setting.jitter)) if setting.jitter else None

    def _started(self, kind: str, setting: ChaosSetting, stream: random.Random, key, now: float) -> Fault:
        if kind == "error":
            status = stream.choice(BURST_STATUSES)
            _bounded_put(self._bursts, key, (setting.burst - 1, status))
            return _error(status)
        if kind == "throttle":
            _bounded_put(self._storms, key, now + setting.storm)
            return Throttle(retry_after=max(1.0, math.ceil(setting.storm)))
        if kind == "slow":
            return Slow(setting.slow_seconds)
        return Drop()


def _error(status: int) -> ServerError:
    return ServerError(status, retry_after=1.0 if status == 503 else None)


FORCED = {"drop": Drop(), "error": _error(503), "throttle": Throttle(retry_after=1.0),
          "slow": Slow(ChaosSetting.slow_seconds), "jitter": Jitter(PREFERRED_JITTER)}  # by Prefer: chaos=NAME
FAULTS = tuple(FORCED)
