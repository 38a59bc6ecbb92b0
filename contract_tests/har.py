"""Drift against a recording: the exchanges of a HAR 1.2 file (recorded traffic, a browser's export,
schemathesis' HAR report) judged offline against the specs, with the same difference kinds as live drift:
each answer against its operation's documented statuses, headers and schemas, the pages' rules for its
status, a job's statuses in the order they were recorded, each download of a media URL an answer named
against what that answer said of it, and a recording older than `max_age` named stale. Against a baseline
recording, what changed between the two: statuses, fields, their types and error codes, per operation.
Nothing is sent anywhere."""

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


from contract_tests.checks import SCHEMA, JobHistory, answer_problems, is_final, normalised_status, request_id_of
from contract_tests.drift import Difference, OperationReport, response_differences, type_name
from contract_tests.media import Expected, expectations, media_problems
from mock_server.har import Recorded, redacted_url
from mock_server.operations import Operation, key_headers
from mock_server.redaction import mask_key
from mock_server.validation import OperationValidator

UNKNOWN = "(no operation)"  # the report's heading for exchanges no operation of the specs has
# How a server says there is no such operation (a test tool's probes with other methods and paths get them):
# that agrees with the specs; an exchange no operation has that was answered otherwise is drift.
NO_SUCH_OPERATION = frozenset({404, 405})
# Against a baseline, a job duration (median) is drift beyond this fraction of the baseline's and this many seconds.
TIMING_TOLERANCE, TIMING_SLACK = 0.5, 1.0


def _template(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


class Operations:
    """The specs' operations by method and path template (several where variants share a path)."""

    def __init__(self, operations) -> None:
        self._routes = [(op.method, _template(op.path), op) for op in operations]

    def candidates(self, method: str, path: str) -> list[Operation]:
        return [op for verb, pattern, op in self._routes if verb == method and pattern.match(path)]


def _differences(candidates: list[Operation], recorded: Recorded) -> tuple[Operation, list[Difference]]:
    """The candidate the answer fits best (a variant answers on its operation's path), and how it departs."""
    judged = [(op, response_differences(op, recorded.response())) for op in candidates]
    return min(judged, key=lambda pair: len(pair[1]))


Matched = tuple[Recorded, Operation | None, list[Difference]]


def _matched(recorded: list[Recorded], operations) -> list[Matched]:
    """Each exchange with the operation it fits best (None: no operation has its method and path) and how its
    answer departs from that operation's: worked out once, for every use of a recording."""
    routes, matched = Operations(operations), []
    for exchange in recorded:
        candidates = routes.candidates(exchange.method, exchange.path)
        matched.append((exchange, *_differences(candidates, exchange)) if candidates else (exchange, None, []))
    return matched


def _job_of(recorded: Recorded, body) -> str:
    if isinstance(recorded.request_body, dict):
        named = request_id_of(recorded.request_body, "")
        if named:
            return named
    return request_id_of(body, recorded.path.rsplit("/", 1)[-1])


class RecordingJudge:
    """Judges a recording's exchanges one by one, in recorded order: what `drift --har` does over a file and
    `record` does on the way. Remembers each job's statuses and the media URLs answers named."""

    def __init__(self, operations) -> None:
        self._routes, self._history = Operations(operations), JobHistory()
        self._media: dict[str, tuple[str, Expected]] = {}  # a media URL an answer named -> (operation, what it said)

    def judge(self, exchange: Recorded) -> tuple[str, Operation | None, list[Difference]]:
        """(the report it belongs to: its operation id, the operation whose media it downloads, or UNKNOWN;
        the operation it fits best, if any; how it departs from the specs)."""
        candidates = self._routes.candidates(exchange.method, exchange.path)
        if not candidates:
            return self._unmatched(exchange)
        operation, differences = _differences(candidates, exchange)
        body = exchange.json()
        if operation.is_status and exchange.status == 200 and body is not None:
            problems = [p for p in answer_problems(operation.response_schema(200), body) if p.check != SCHEMA]
            problems += self._history.observe(_job_of(exchange, body), body)
            differences = differences + [Difference(operation.operation_id, "invalid-flow", p.field, p.expected,
                                                    p.got) for p in problems]
        self._media.update((redacted_url(url), (operation.operation_id, expected)) for url, expected in
                           expectations(body, image=operation.media == "image").items())
        return operation.operation_id, operation, differences

    def _unmatched(self, exchange: Recorded) -> tuple[str, None, list[Difference]]:
        named = self._media.get(redacted_url(exchange.url))
        if named is not None:  # the app downloading what an answer named
            operation_id, expected = named
            return operation_id, None, _media_differences(operation_id, exchange, expected)
        if exchange.status in NO_SUCH_OPERATION:  # the API's own "no such operation": agrees with the specs
            return UNKNOWN, None, []
        return UNKNOWN, None, [Difference(UNKNOWN, "unknown-path", f"{exchange.method} {exchange.path}",
                                          "an operation of the specs (or 404 / 405)", f"{exchange.status}")]


def drift_of_recording(recorded: list[Recorded], operations, max_age: timedelta | None = None,
                       now: datetime | None = None, baseline: list[Recorded] | None = None) -> list[OperationReport]:
    """One report per operation the recording reaches (in order of first use), and one for exchanges no
    operation has; a recording whose first exchange is older than `max_age` is stale; with a `baseline`
    recording, what changed since it is added to each operation's report."""
    judge, found, counts, matched = RecordingJudge(operations), {}, {}, []
    for exchange in recorded:
        heading, operation, differences = judge.judge(exchange)
        counts[heading] = counts.get(heading, 0) + 1
        found.setdefault(heading, []).extend(differences)
        matched.append((exchange, operation, differences))  # matched once, for the baseline's shapes too
    if baseline is not None:
        for difference in _changes(_shapes(_matched(baseline, operations)), _shapes(matched)):
            found.setdefault(difference.operation_id, []).append(difference)
    started = min((exchange.started for exchange in recorded if exchange.started), default=None)
    if max_age is not None and started is not None and started < (now or datetime.now(UTC)) - max_age:
        first = next(iter(found), UNKNOWN)
        found.setdefault(first, []).append(Difference(first, "stale-recording", "startedDateTime",
                                                      f"within {max_age.days} days", started.isoformat()))
    return [OperationReport(name, "checked", _exchanges(counts.get(name, 0)),
                            tuple(dict.fromkeys(differences))) for name, differences in found.items()]


def _media_differences(operation_id: str, exchange: Recorded, expected: Expected) -> list[Difference]:
    if exchange.content_omitted:  # recorded without its bytes: that it answered is all that can be judged
        return [] if exchange.status == 200 else [Difference(operation_id, "media-unavailable", exchange.url,
                                                             "200", str(exchange.status))]
    if exchange.status != 200 or not exchange.content:
        return [Difference(operation_id, "media-unavailable", exchange.url, "200 with content",
                           f"{exchange.status}, {len(exchange.content)} bytes")]
    content_type = exchange.header("content-type") or ""
    return [Difference(operation_id, "media-mismatch", f"{exchange.url} {problem.field}", problem.expected,
                       problem.got) for problem in media_problems(expected, content_type, exchange.content)]


def _exchanges(count: int) -> str:
    return f"{count} recorded exchange{'' if count == 1 else 's'}"


def _fields(value, path: str = "body"):
    """(field path, JSON type) of every value in an answer body, list items as `[]`."""
    yield path, type_name(value)
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _fields(item, f"{path}.{name}")
    elif isinstance(value, list):
        for item in value:
            yield from _fields(item, f"{path}[]")


@dataclass
class _Shape:
    """What one operation's recorded answers looked like: statuses, field types, error codes, and (a submit's)
    how long its jobs took from the submit to the first poll that saw them final."""

    statuses: set
    fields: dict
    codes: set
    durations: list = field(default_factory=list)


def _job_durations(matched: list[Matched], shapes: dict[str, _Shape]) -> None:
    submitted: dict[str, tuple[str, datetime]] = {}  # job -> (its submit operation, when it was sent)
    for exchange, operation, _ in matched:
        body = exchange.json()
        if operation is None or exchange.started is None or not isinstance(body, dict):
            continue
        job = _job_of(exchange, body)
        if operation.starts_job and job and job not in submitted:
            submitted[job] = (operation.operation_id, exchange.started)
        elif operation.is_status and job in submitted and is_final(body):
            name, started = submitted.pop(job)
            shapes[name].durations.append((exchange.started - started).total_seconds())


def _shapes(matched: list[Matched]) -> dict[str, _Shape]:
    shapes = {}
    for exchange, operation, _ in matched:
        if operation is None:
            continue
        shape = shapes.setdefault(operation.operation_id, _Shape(set(), {}, set()))
        shape.statuses.add(exchange.status)
        body = exchange.json()
        if body is None:
            continue
        for path, kind in _fields(body):
            shape.fields.setdefault(path, set()).add(kind)
        if exchange.status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), str):
            shape.codes.add(body["error"])
    _job_durations(matched, shapes)
    return shapes


def _timing_change(name: str, before: list[float], after: list[float]) -> list[Difference]:
    """A job duration whose median moved beyond TIMING_TOLERANCE (and TIMING_SLACK seconds) from the baseline's."""
    if not before or not after:
        return []
    was, now = statistics.median(before), statistics.median(after)
    if abs(now - was) <= max(TIMING_SLACK, was * TIMING_TOLERANCE):
        return []
    return [Difference(name, "timing-changed", "job duration (submit to the first final poll)",
                       f"{was:.1f} s (baseline median of {len(before)}, within {TIMING_TOLERANCE:.0%} or "
                       f"{TIMING_SLACK:g} s)", f"{now:.1f} s ({'slower' if now > was else 'faster'}, median of "
                       f"{len(after)})")]


def _listed(values) -> str:
    return ", ".join(sorted(map(str, values))) or "none"


def _changes(old: dict[str, _Shape], new: dict[str, _Shape]) -> list[Difference]:
    """What changed from the baseline recording's shapes to this one's, operation by operation (an operation
    only one of them reaches is not compared: a recording of other traffic is no drift)."""
    found = []
    for name in [name for name in new if name in old]:
        before, after = old[name], new[name]
        found += [Difference(name, "status-added", "status", f"one of {_listed(before.statuses)} (baseline)",
                             str(status)) for status in sorted(after.statuses - before.statuses)]
        found += [Difference(name, "status-gone", "status", f"{status} (baseline)", "never answered")
                  for status in sorted(before.statuses - after.statuses)]
        for path in dict.fromkeys([*before.fields, *after.fields]):
            was, now = before.fields.get(path), after.fields.get(path)
            if was is None:
                found.append(Difference(name, "field-added", path, "absent (baseline)", _listed(now)))
            elif now is None:
                found.append(Difference(name, "field-gone", path, f"{_listed(was)} (baseline)", "absent"))
            elif was != now:
                found.append(Difference(name, "type-changed", path, f"{_listed(was)} (baseline)", _listed(now)))
        found += _timing_change(name, before.durations, after.durations)
        if before.codes and after.codes and before.codes != after.codes:
            found.append(Difference(name, "error-codes-changed", "error", f"{_listed(before.codes)} (baseline)",
                                    _listed(after.codes)))
    return found


def journal_entries(recorded: list[Recorded], operations) -> list[dict]:
    """The recording as the mock's journal would have it (what `report` judges)."""
    entries, keys, validators = [], key_headers(operations), Validators()
    for number, (exchange, operation, _) in enumerate(_matched(recorded, operations), 1):
        entries.append({"seq": number, **journal_entry(exchange, operation, keys, validators)})
    return entries


class Validators(dict):
    """One compiled validator per operation (and variant), made when first needed."""

    def of(self, operation: Operation) -> OperationValidator:
        name = (operation.operation_id, operation.variant)
        if name not in self:
            self[name] = OperationValidator(operation)
        return self[name]


def journal_entry(exchange: Recorded, operation: Operation | None, keys: tuple[str, ...],
                  validators: Validators) -> dict:
    """One recorded exchange as the mock's journal would have it: its operation, key (masked), status,
    violations and undocumented fields (validated as the mock validates them), the job it concerns and the
    status it was told, and a 429's or 503's Retry-After."""
    headers = {name.lower(): value for name, value in exchange.request_headers}
    body, answered = exchange.request_body, exchange.json()
    entry = {"kind": "request", "epoch": exchange.started.timestamp() if exchange.started else 0.0,
             "method": exchange.method, "path": exchange.path, "status": exchange.status,
             "operation_id": operation.operation_id if operation else None,
             "operation_kind": operation.kind if operation else None,
             "key": mask_key(next((headers[name] for name in keys if headers.get(name)), None)),
             "violations": [], "undocumented_fields": [], "leniencies": [],
             "webhook": bool(headers.get("x-webhook-url")) or (isinstance(body, dict) and bool(
                 body.get("webhook") or body.get("webhook_url"))),
             "job_status": normalised_status(answered) if isinstance(answered, dict) else None,
             "request_id": _job_of(exchange, answered) if operation else None,
             "retry_after": _retry_after(exchange)}
    if operation is not None:
        validator = validators.of(operation)
        entry["violations"] = [str(v) for v in validator.header_violations(headers) +
                               validator.body_violations(body)]
        entry["undocumented_fields"] = validator.undocumented_fields(body)
    return entry


class OnTheWay:
    """What `flux-mock record` asks of the kit for each exchange it forwards, in the order they end: the
    journal entry the mock would have written for it, with `drift` (how the real answer departs from the
    specs) and `sequence` (a poll's place among its job's polls)."""

    def __init__(self, operations) -> None:
        self._judge, self._keys, self._validators = RecordingJudge(operations), key_headers(operations), Validators()
        self._polls: Counter = Counter()

    def __call__(self, exchange: Recorded) -> dict:
        _, operation, differences = self._judge.judge(exchange)
        entry = journal_entry(exchange, operation, self._keys, self._validators)
        entry["drift"] = [difference.line() for difference in dict.fromkeys(differences)]
        if operation is not None and operation.is_status and entry["request_id"]:
            self._polls[entry["request_id"]] += 1
            entry["sequence"] = self._polls[entry["request_id"]]
        return entry


def _retry_after(exchange: Recorded) -> float | None:
    if exchange.status not in (429, 503):
        return None
    raw = exchange.header("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
