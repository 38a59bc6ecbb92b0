"""Drift against a recording: the exchanges of a HAR 1.2 file (recorded traffic, a browser's export,
schemathesis' HAR report) judged offline against the specs, with the same difference kinds as live drift:
each answer against its operation's documented statuses, headers and schemas, the pages' rules for its
status, a job's statuses in the order they were recorded, each download of a media URL an answer named
against what that answer said of it, and a recording older than `max_age` named stale. Against a baseline
recording, what changed between the two: statuses, fields, their types and error codes, per operation.
Nothing is sent anywhere."""

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from contract_tests.checks import SCHEMA, JobHistory, answer_problems, normalised_status, request_id_of
from contract_tests.drift import Difference, OperationReport, response_differences, type_name
from contract_tests.media import Expected, expectations, media_problems
from mock_server.clock import moment_of
from mock_server.exit_codes import UsageError
from mock_server.operations import Operation, key_headers
from mock_server.redaction import mask_key
from mock_server.validation import OperationValidator

UNKNOWN = "(no operation)"  # the report's heading for exchanges no operation of the specs has
# How a server says there is no such operation (a test tool's probes with other methods and paths get them):
# that agrees with the specs; an exchange no operation has that was answered otherwise is drift.
NO_SUCH_OPERATION = frozenset({404, 405})


@dataclass(frozen=True)
class Recorded:
    """One exchange of the recording, as far as the judging needs it."""

    method: str
    url: str
    path: str
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    request_body: object
    started: datetime | None
    request_headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=list(self.headers), content=self.content)

    def header(self, name: str) -> str | None:
        """A response header by its name, any case."""
        return next((value for key, value in self.headers if key.lower() == name), None)


def _moment(text) -> datetime | None:
    try:
        return datetime.fromtimestamp(moment_of(str(text)), UTC)
    except ValueError:
        return None


def _content(response: dict) -> bytes:
    content = response.get("content") or {}
    text = content.get("text") or ""
    return base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()


def _request_body(request: dict):
    text = (request.get("postData") or {}).get("text")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def read_har(path: str | Path) -> list[Recorded]:
    """The recording's exchanges, in order; a UsageError (one line) for a file that is not a HAR."""
    try:
        entries = json.loads(Path(path).read_text())["log"]["entries"]
        return [Recorded(entry["request"]["method"].upper(), entry["request"]["url"],
                         urlsplit(entry["request"]["url"]).path,
                         int(entry["response"]["status"]),
                         tuple((h["name"], h["value"]) for h in entry["response"].get("headers") or ()),
                         _content(entry["response"]), _request_body(entry["request"]),
                         _moment(entry.get("startedDateTime")),
                         tuple((h["name"], h["value"]) for h in entry["request"].get("headers") or ()))
                for entry in entries]
    except OSError as error:
        raise UsageError(f"--har {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"--har {path} is not a HAR 1.2 file (log.entries with request and response): "
                         f"{type(error).__name__}: {error}"[:300]) from None


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


def drift_of_recording(recorded: list[Recorded], operations, max_age: timedelta | None = None,
                       now: datetime | None = None, baseline: list[Recorded] | None = None) -> list[OperationReport]:
    """One report per operation the recording reaches (in order of first use), and one for exchanges no
    operation has; a recording whose first exchange is older than `max_age` is stale; with a `baseline`
    recording, what changed since it is added to each operation's report."""
    history, matched = JobHistory(), _matched(recorded, operations)
    found: dict[str, list[Difference]] = {}
    counts: dict[str, int] = {}
    media: dict[str, tuple[str, Expected]] = {}  # a media URL an answer named -> (its operation, what it said)
    for exchange, operation, differences in matched:
        if operation is None and exchange.url in media:  # the app downloading what an answer named
            operation_id, expected = media[exchange.url]
            counts[operation_id] = counts.get(operation_id, 0) + 1
            found.setdefault(operation_id, []).extend(_media_differences(operation_id, exchange, expected))
            continue
        if operation is None:
            counts[UNKNOWN] = counts.get(UNKNOWN, 0) + 1
            found.setdefault(UNKNOWN, [])
            if exchange.status not in NO_SUCH_OPERATION:  # answered: an operation the specs do not have
                found[UNKNOWN].append(Difference(UNKNOWN, "unknown-path", f"{exchange.method} {exchange.path}",
                                                 "an operation of the specs (or 404 / 405)", f"{exchange.status}"))
            continue
        counts[operation.operation_id] = counts.get(operation.operation_id, 0) + 1
        body = _json(exchange)
        if operation.is_status and exchange.status == 200 and body is not None:
            problems = [p for p in answer_problems(operation.response_schema(200), body) if p.check != SCHEMA]
            problems += history.observe(_job_of(exchange, body), body)
            differences = differences + [Difference(operation.operation_id, "invalid-flow", p.field, p.expected,
                                                    p.got) for p in problems]
        found.setdefault(operation.operation_id, []).extend(differences)
        media.update((url, (operation.operation_id, expected)) for url, expected in
                     expectations(body, image=operation.media == "image").items())
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
    if exchange.status != 200 or not exchange.content:
        return [Difference(operation_id, "media-unavailable", exchange.url, "200 with content",
                           f"{exchange.status}, {len(exchange.content)} bytes")]
    content_type = exchange.header("content-type") or ""
    return [Difference(operation_id, "media-mismatch", f"{exchange.url} {problem.field}", problem.expected,
                       problem.got) for problem in media_problems(expected, content_type, exchange.content)]


def _exchanges(count: int) -> str:
    return f"{count} recorded exchange{'' if count == 1 else 's'}"


def _json(exchange: Recorded):
    if "json" not in (exchange.header("content-type") or ""):
        return None
    try:
        return json.loads(exchange.content)
    except ValueError:
        return None


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
    """What one operation's recorded answers looked like: statuses, field types, error codes."""

    statuses: set
    fields: dict
    codes: set


def _shapes(matched: list[Matched]) -> dict[str, _Shape]:
    shapes = {}
    for exchange, operation, _ in matched:
        if operation is None:
            continue
        shape = shapes.setdefault(operation.operation_id, _Shape(set(), {}, set()))
        shape.statuses.add(exchange.status)
        body = _json(exchange)
        if body is None:
            continue
        for path, kind in _fields(body):
            shape.fields.setdefault(path, set()).add(kind)
        if exchange.status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), str):
            shape.codes.add(body["error"])
    return shapes


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
        if before.codes and after.codes and before.codes != after.codes:
            found.append(Difference(name, "error-codes-changed", "error", f"{_listed(before.codes)} (baseline)",
                                    _listed(after.codes)))
    return found


def journal_entries(recorded: list[Recorded], operations) -> list[dict]:
    """The recording as the mock's journal would have it (what `report` judges): each request's operation,
    key (masked), status, violations and undocumented fields (validated as the mock validates them), the
    job it concerns and the status it was told, and a 429's or 503's Retry-After."""
    validators, entries, keys = {}, [], key_headers(operations)
    for number, (exchange, operation, _) in enumerate(_matched(recorded, operations), 1):
        headers = {name.lower(): value for name, value in exchange.request_headers}
        body, answered = exchange.request_body, _json(exchange)
        entry = {"kind": "request", "seq": number, "epoch": exchange.started.timestamp() if exchange.started else 0.0,
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
            validator = validators.setdefault(operation.operation_id, OperationValidator(operation))
            entry["violations"] = [str(v) for v in validator.header_violations(headers) +
                                   validator.body_violations(body)]
            entry["undocumented_fields"] = validator.undocumented_fields(body)
        entries.append(entry)
    return entries


def _retry_after(exchange: Recorded) -> float | None:
    if exchange.status not in (429, 503):
        return None
    raw = exchange.header("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
