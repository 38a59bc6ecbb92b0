"""Verifying what the client sent, from the mock's journal (as WireMock's `verify`): the requests made, with
their bodies and headers as the journal keeps them, how many matched, in which order, and the near misses a
failure names ("no call to X; closest: Y with body.z different")."""

from dataclasses import dataclass

from mock_server.bodies import ABSENT, field_at
from mock_server.journal_entry import JournalEntry
from mock_server.redaction import mask_key


@dataclass(frozen=True)
class RecordedRequest:
    """One request the mock answered, as its journal keeps it (the body bounded, keys masked)."""

    seq: int
    epoch: float  # on the mock's clock
    method: str
    path: str
    operation_id: str | None
    status: int
    body: object
    headers: dict
    key: str | None
    request_id: str | None

    @classmethod
    def of(cls, entry: JournalEntry) -> "RecordedRequest":
        return cls(entry.seq, entry.epoch, entry.method, entry.path, entry.operation_id, entry.status, entry.body,
                   dict(entry.headers), entry.key, entry.request_id)

    def line(self) -> str:
        return f"#{self.seq} {self.method} {self.path} -> {self.status} ({self.operation_id or 'no operation'})"


def requests_of(entries: list[JournalEntry], operation: str | None = None,
                key: str | None = None) -> list[RecordedRequest]:
    """The journaled requests (not webhook attempts), oldest first, of one operation and one key if given."""
    masked = mask_key(key) if key is not None else None
    return [RecordedRequest.of(entry) for entry in entries if entry.is_request
            and (operation is None or entry.operation_id == operation)
            and (key is None or entry.key in (key, masked))]


def mismatches(request: RecordedRequest, body: dict | None, headers: dict | None) -> list[str]:
    """How a request departs from what was expected of it: `body` fields (dotted paths) and headers."""
    found = []
    for path, expected in (body or {}).items():
        got = field_at(request.body, path)
        if got != expected:
            found.append(f"body.{path} was {'absent' if got is ABSENT else repr(got)} (expected {expected!r})")
    for name, expected in (headers or {}).items():
        got = request.headers.get(name.lower())
        if got != expected:
            found.append(f"header {name} was {'absent' if got is None else repr(got)} (expected {expected!r})")
    return found


def _wanted(operation: str, body: dict | None, headers: dict | None) -> str:
    parts = [f"body.{path} == {value!r}" for path, value in (body or {}).items()]
    parts += [f"header {name} == {value!r}" for name, value in (headers or {}).items()]
    return operation + (f" with {', '.join(parts)}" if parts else "")


def verify_called(entries: list[JournalEntry], operation: str, times: int | None = None, body: dict | None = None,
                  headers: dict | None = None, key: str | None = None) -> list[RecordedRequest]:
    """The calls to `operation` that match `body` and `headers`; AssertionError naming what was made, and the
    closest miss, unless there were `times` of them (None: at least one)."""
    calls = requests_of(entries, operation, key)
    matched = [call for call in calls if not mismatches(call, body, headers)]
    if (times is None and matched) or (times is not None and len(matched) == times):
        return matched
    expected = "at least one call" if times is None else f"{times} call{'' if times == 1 else 's'}"
    lines = [f"expected {expected} to {_wanted(operation, body, headers)}; got {len(matched)}"]
    lines += [f"  matched: {call.line()}" for call in matched[:10]]
    misses = sorted((call for call in calls if call not in matched),
                    key=lambda call: len(mismatches(call, body, headers)))
    if misses:
        lines.append(f"  closest: {misses[0].line()}: {'; '.join(mismatches(misses[0], body, headers))}")
    elif not calls:
        made = sorted({entry.where for entry in entries if entry.is_request})
        lines.append(f"  no call to {operation} at all; calls made to: {', '.join(made) or 'nothing'}")
    raise AssertionError("\n".join(lines))


def verify_order(entries: list[JournalEntry], operations: tuple[str, ...], key: str | None = None) -> None:
    """Each operation was called, each first called after the one before it; AssertionError naming the order
    the calls came in otherwise."""
    firsts = {}
    for request in requests_of(entries, key=key):
        if request.operation_id in operations and request.operation_id not in firsts:
            firsts[request.operation_id] = request
    missing = [operation for operation in operations if operation not in firsts]
    if missing:
        raise AssertionError(f"expected calls in the order {' -> '.join(operations)}; never called: "
                             f"{', '.join(missing)}")
    seen = sorted(operations, key=lambda operation: firsts[operation].seq)
    if tuple(seen) != tuple(operations):
        raise AssertionError(f"expected calls in the order {' -> '.join(operations)}; they came as "
                             + " -> ".join(f"{operation} ({firsts[operation].line()})" for operation in seen))
