"""One typed record of traffic (as WireMock's ServeEvent): a request the mock answered, an exchange a recorder
forwarded or a recording holds, or a webhook attempt the mock made. The journal stores it; verification,
`report`, outcome coverage and the dashboard read it by attribute. admin.yaml's `JournalEntry` is its wire
form (`to_wire`, `from_wire`).

Each source has one constructor, beside what it reads: `Exchange.journal_entry` (a live request, exchange.py),
`recorded_entry` (an exchange of a recording, recorded_entries.py) and the webhook dispatcher's attempts.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

import orjson

from mock_server.clock import iso

REQUEST, WEBHOOK = "request", "webhook"
KIT_AGENT = "flux-mock-kit"  # the User-Agent prefix of check's and drift's own requests
MEDIA_DOWNLOAD = "media"  # the `answer` of an entry that downloaded a media file
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class JournalEntry(NamedTuple):
    """Immutable, and cheap to make: a NamedTuple (a frozen dataclass of these fields took 3x as long to build,
    once per request)."""


    kind: str = REQUEST  # REQUEST: a request to the mock (or a recorded exchange); WEBHOOK: an attempt by the mock
    seq: int = 0  # its place in the journal (from 1), given by the store
    epoch: float = 0.0  # the mock clock's moment the answer describes (a recording: when the request was sent)
    method: str = ""
    path: str = ""  # a webhook attempt's: the target URL
    status: int = 0  # a webhook attempt that got no answer: 0
    operation_id: str | None = None
    operation_kind: str | None = None  # the operation's x-flux-mock.kind
    variant: str | None = None
    key: str | None = None  # masked (abcd...wxyz) unless the mock shows keys
    request_id: str | None = None  # the job the exchange concerns
    job_status: str | None = None  # the status the answer reported, upper case
    retry_after: float | None = None  # the Retry-After of a 429 or 503
    webhook: bool = False  # the request asked for a webhook the operation documents
    arrived: float | None = None  # the clock when the request arrived (None: epoch)
    answered: float | None = None  # the clock when the answer had been sent whole (None: epoch)
    violations: tuple[str, ...] = ()
    undocumented_fields: tuple[str, ...] = ()
    leniencies: tuple[str, ...] = ()  # what was accepted as the real gateway does, though the pages do not allow it
    assumptions: tuple[str, ...] = ()  # the spec's assumptions (no page's constraint) a request the pages' constraints take broke
    rule: str | None = None  # the rule that applied
    answer: str | None = None  # where the answer came from when not the mock's own
    user_agent: str = ""
    body: object = None  # the request's JSON body, bounded
    headers: Mapping[str, str] = _NO_HEADERS  # by lower-case name, keys masked, credentials redacted
    duration_ms: float = 0.0
    drift: tuple[str, ...] = ()  # a recorded answer's departures from the specs
    sequence: int | None = None  # a recorded poll's place among its job's polls
    event: str | None = None  # a webhook attempt's event
    attempt: int | None = None
    error: str | None = None
    note: str | None = None
    left_after: float | None = None  # the client closed the connection this many seconds into the answer's wait
    # (in the gateway's seconds: times the timing's speed), before the answer

    @property
    def is_request(self) -> bool:
        return self.kind == REQUEST

    @property
    def is_kit_traffic(self) -> bool:
        """Sent by the kit itself (`flux-mock check`, `drift`), not by the client under test."""
        return self.user_agent.startswith(KIT_AGENT)

    @property
    def arrived_at(self) -> float:
        return self.epoch if self.arrived is None else self.arrived

    @property
    def answered_at(self) -> float:
        return self.epoch if self.answered is None else self.answered

    @property
    def where(self) -> str:
        """The operation it concerns, else its path."""
        return self.operation_id or self.path

    def numbered(self, seq: int) -> "JournalEntry":
        """This entry with its place in the journal (`seq` is the second field: set without `_replace`'s walk
        of every field, on every request)."""
        return tuple.__new__(JournalEntry, (self[0], seq, *self[2:]))

    def with_(self, **changes) -> "JournalEntry":
        return self._replace(**changes)

    def to_wire(self) -> dict:
        """admin.yaml's JournalEntry: every field, lists for tuples, and `time` (the epoch in RFC 3339)."""
        wire = self._asdict()
        for name in _TUPLES:
            wire[name] = list(wire[name])
        wire["headers"] = dict(self.headers)
        wire["time"] = iso(self.epoch)
        return wire

    @classmethod
    def from_wire(cls, data: Mapping) -> "JournalEntry":
        """From the wire form (the admin API's JSON, a shared store); unknown names are ignored and missing
        ones take their defaults, so older entries read too."""
        known = {name: data[name] for name in _FIELDS if name in data and data[name] is not None or
                 name in _NULLABLE and name in data}
        for name in _TUPLES:
            if name in known:
                known[name] = tuple(str(item) for item in known[name] or ())
        if "headers" in known:
            known["headers"] = dict(known["headers"] or {})
        return cls(**known)


_FIELDS = JournalEntry._fields
_TUPLES = ("violations", "undocumented_fields", "leniencies", "assumptions", "drift")
_NULLABLE = frozenset(name for name, default in JournalEntry._field_defaults.items() if default is None)


class Pending(Protocol):
    """An entry made only when it is read (a live request's: exchange.PendingEntry); the stores take either."""

    def entry(self) -> JournalEntry: ...

    def weight(self) -> int | None:
        """About the bytes it holds; None when it is best made at once."""


def entry_weight(entry: JournalEntry) -> int | None:
    """About the bytes an entry holds: a fixed part, its text fields, its headers and body as orjson writes them
    (in C: a walk in Python cost the hot path 20 us a request). None when orjson cannot write its body (nested past
    255 levels, an integer past 64 bits)."""
    try:
        body = len(orjson.dumps(entry.body)) if entry.body is not None else 0
    except TypeError:
        return None
    headers = entry.headers if type(entry.headers) is dict else dict(entry.headers)
    texts = (entry.path, entry.user_agent, entry.error, entry.key)
    return 400 + body + sum(len(text) for text in texts if text) + sum(
        len(item) for items in (entry.violations, entry.undocumented_fields) for item in items) + \
        len(orjson.dumps(headers))


def made(entry: "JournalEntry | Pending") -> JournalEntry:
    """The entry itself, made if it was pending."""
    return entry if isinstance(entry, JournalEntry) else entry.entry()


def webhook_attempt(epoch: float, url: str, status: int | None, request_id: str, event: str, attempt: int,
                    error: str | None, note: str | None, key: str | None) -> JournalEntry:
    """A webhook attempt of the mock's (the dispatcher's one constructor): journaled under the key of the job
    it reports, so `report --key` and coverage keep it."""
    return JournalEntry(kind=WEBHOOK, epoch=epoch, method="POST", path=url, status=status or 0, request_id=request_id,
                        event=event, attempt=attempt, error=error, note=note, key=key)
