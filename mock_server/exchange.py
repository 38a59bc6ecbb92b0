"""One request and its answer, as the mock sees them: made once by the app for every journaled request,
filled by the pipeline's stages and the handler, and read once by the journal.

`now` is the moment the answer describes: read from the clock when the exchange is made, and moved
only by a stage that lets time pass (taking up the shared clock, a forced latency, a batch wait), so
the status a client is given and the one the journal records are the same.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from mock_server.journal_entry import JournalEntry
from mock_server.redaction import SHORT_FIELD, clipped, clipped_json, clipped_list, journaled_headers, mask_key
from mock_server.operations import Operation
from mock_server.outcome import NOTHING, Outcome

if TYPE_CHECKING:
    from mock_server.auth import Principal
    from mock_server.routes import OperationRoute
    from mock_server.state import MockState
    from mock_server.validation import OperationValidator


def header_dict(scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones), decoded as HTTP/1.1 text."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


@dataclass(eq=False, slots=True)
class Exchange:
    scope: dict
    receive: Any
    mock: "MockState"
    now: float
    headers: dict[str, str]
    path_params: dict[str, str] = field(default_factory=dict)
    route: "OperationRoute | None" = None
    started: float = field(default_factory=time.perf_counter)
    # who is calling, and with what
    principal: "Principal | None" = None
    body: Any = None
    params: dict = field(default_factory=dict)  # documented fields over the spec's defaults, once validated
    # what the mock made of it
    operation: Operation | None = None
    validator: "OperationValidator | None" = None
    variant: str | None = None
    outcome: Outcome = NOTHING  # the rule's and Prefer's wishes for this call
    rule: str | None = None  # id of the rule that applied
    violations: list[str] = ()
    undocumented_fields: list[str] = ()
    leniencies: list[str] = field(default_factory=list)  # what the mock accepted as the gateway does, not the pages
    assumptions: list[str] = ()  # the spec's assumptions the request broke (taken: no page states them)
    request_id: str | None = None
    job_status: str | None = None
    retry_after: float | None = None
    status: int | None = None
    webhook: bool = False  # the request asked for a webhook
    facts: Any = field(default_factory=dict)  # request_id, model_id, media_url, polling_url... of the answer's job,
    # or a function that works them out (only a generated answer reads them: not every call pays for them)
    slow_for: float = 0.0  # seconds the answer's body takes to send (chaos: slow)
    answer: str | None = None  # where the answer came from when not the mock's own: example:NAME, generated, chaos
    arrived: float = 0.0  # the clock when the request arrived (`now` moves on with waits)
    left_after: float | None = None  # the client left this many seconds (gateway time) into the answer's wait
    drift: tuple[str, ...] = ()  # a replayed answer's departures from the current specs (stale-recording)
    _base: str | None = None

    @classmethod
    def start(cls, scope, receive, mock: "MockState", path_params: dict) -> "Exchange":
        now = mock.clock.now()
        return cls(scope=scope, receive=receive, mock=mock, now=now, headers=header_dict(scope),
                   path_params=path_params, arrived=now)

    def enter(self, route: "OperationRoute") -> None:
        """This request is for one of the spec's operations: its default operation, until a variant is chosen."""
        self.route, self.operation, self.validator = route, route.operation, route.validators[None]

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def key(self) -> str | None:
        return self.principal.key if self.principal is not None else None

    def claimed_key(self) -> str | None:
        """The authenticated key; else the key the request carries, unchecked (a 401, an unknown path)."""
        if self.principal is not None:
            return self.principal.key
        return next((self.headers[name] for name in self.mock.key_headers if self.headers.get(name)), None)

    @property
    def base(self) -> str:
        """The public base URL the answer's links start with (worked out once)."""
        if self._base is None:
            self._base = self.mock.base_url(self.scope)
        return self._base

    def known_facts(self) -> dict:
        """What the answer must keep true (views.facts), worked out now if it was left for later."""
        if callable(self.facts):
            self.facts = self.facts()
        return self.facts

    def tick(self) -> None:
        """Time passed during this exchange (a wait): the answer describes the moment after it."""
        self.now = self.mock.clock.now()

    async def wait_for_client(self, seconds: float, speed: float = 1.0) -> None:
        """Wait `seconds` by the mock's clock, as a slow gateway makes its client wait; a client that closes the
        connection first ends the wait, and when it left is noted (`left_after`, times `speed`: the gateway's
        seconds)."""
        started = self.mock.clock.now()
        sleeping = asyncio.ensure_future(self.mock.clock.sleep(seconds))
        leaving = asyncio.ensure_future(_disconnected(self.receive))
        try:
            await asyncio.wait((sleeping, leaving), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            leaving.cancel()
        if leaving.done() and not leaving.cancelled() and not sleeping.done():
            self.left_after = round((self.mock.clock.now() - started) * speed, 3)
        self.tick()

    def use_variant(self, name: str) -> None:
        """Answer as the route's named variant: its operation and validator from here on."""
        self.variant = name
        self.operation = self.route.variants[name]
        self.validator = self.route.validators[name]

    def journal_entry(self) -> "PendingEntry":
        """The journal's record of this exchange, as it ended: its values packed now, bounded and masked when it is
        read (PendingEntry.entry)."""
        operation = self.operation
        return PendingEntry.of((  # in PACKED_FIELDS' order
            self.now, self.method, self.path, operation.operation_id if operation else None,
            operation.kind if operation else None, self.variant, self.claimed_key(), self.status or 500, self.webhook,
            self.request_id or self.path_params.get("request_id"), self.arrived, self.mock.clock.now(),
            self.violations, self.undocumented_fields, self.leniencies, self.assumptions, self.rule, self.answer,
            self.left_after, self.drift, self.job_status, self.retry_after if self.status in (429, 503) else None,
            self.headers.get("user-agent", ""), self.body, self.headers,
            round((time.perf_counter() - self.started) * 1000, 3)), self.mock.key_headers, self.mock.settings.show_keys)


# The fields of its journal entry an exchange fills, in the order of its packed record.
PACKED_FIELDS = ("epoch", "method", "path", "operation_id", "operation_kind", "variant", "key", "status", "webhook",
                 "request_id", "arrived", "answered", "violations", "undocumented_fields", "leniencies", "assumptions",
                 "rule", "answer", "left_after", "drift", "job_status", "retry_after", "user_agent", "body", "headers",
                 "duration_ms")
PACKED_WEIGHT = 150  # a packed entry's bytes beside its record's (the tuple and the ring's cell)


class PendingEntry(NamedTuple):
    """A request's journal entry as its exchange ended: the values as they were (unbounded, the key unmasked, the
    headers unredacted), packed by orjson into one string, made into the journal's bounded, masked entry only
    when it is read. Most entries leave the memory journal's ring unread: bounding each on the hot path was a sixth
    of a call's cost, and keeping each one's objects (its header dict, its parsed body, its lists) alive another
    tenth of a served call's; one string is quick to keep, to free and to weigh."""

    record: str | tuple  # the values in PACKED_FIELDS' order, packed; as they were where orjson cannot write them
    key_headers: tuple[str, ...]
    show_keys: bool
    size: int | None = None  # the packed record's size in UTF-8, never less than the string holds

    @classmethod
    def of(cls, values: tuple, key_headers: tuple[str, ...], show_keys: bool) -> "PendingEntry":
        try:
            packed = orjson.dumps(values)
        except TypeError:  # a body nested past 255 levels: kept as it is (made and weighed by the store at once)
            return cls(values, key_headers, show_keys)
        # kept as a str of its own size: the bytes orjson returns each keep a 4 KiB buffer
        return cls(packed.decode(), key_headers, show_keys, len(packed))

    def taken(self) -> JournalEntry:
        """The entry as the exchange ended, unbounded."""
        record = self.record
        taken = dict(zip(PACKED_FIELDS, orjson.loads(record) if type(record) is str else record, strict=True))
        taken["drift"] = tuple(taken["drift"])
        return JournalEntry(**taken)

    def entry(self) -> JournalEntry:
        """The journal entry: every field bounded, the key masked unless show_keys, secret headers redacted."""
        taken = self.taken()
        return taken._replace(
            path=clipped(taken.path), key=mask_key(clipped(taken.key, SHORT_FIELD), self.show_keys),
            request_id=clipped(taken.request_id, SHORT_FIELD), violations=clipped_list(taken.violations),
            undocumented_fields=clipped_list(taken.undocumented_fields), leniencies=clipped_list(taken.leniencies),
            assumptions=clipped_list(taken.assumptions), user_agent=clipped(taken.user_agent, SHORT_FIELD),
            body=clipped_json(taken.body) if taken.body is not None else None,
            headers=journaled_headers(taken.headers, self.key_headers, self.show_keys))

    def weight(self) -> int | None:
        """The bytes it holds (None where its values are kept unpacked: the store weighs the made entry)."""
        return self.size + PACKED_WEIGHT if self.size is not None else None


async def _disconnected(receive) -> None:
    """Returns once the client has closed the connection (the request's body read, the next message is that)."""
    while (await receive())["type"] != "http.disconnect":
        pass
