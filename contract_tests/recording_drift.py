"""Drift against a recording: the exchanges of a HAR 1.2 file (recorded traffic, a browser's export,
schemathesis' HAR report) judged offline against the specs, with the same difference kinds as live drift:
each answer against its operation's documented statuses, headers and schemas, the pages' constraints for its
status, a job's statuses in the order they were recorded, each download of a media URL an answer named
against what that answer said of it, each webhook delivery `record` relayed (`_fluxMock.webhook`) against its
operation's callback schema, and a recording older than `max_age` named stale. Against a baseline
recording, what changed (baseline.py). Nothing is sent anywhere."""

from datetime import UTC, datetime, timedelta

from contract_tests.baseline import changes, shapes
from contract_tests.checks import SCHEMA, JobHistory, answer_problems
from contract_tests.assumptions import response_notes
from contract_tests.differences import Difference, one_per_place
from contract_tests.drift import ASSUMED_SPEC, OperationReport, body_differences, response_differences
from contract_tests.media import Expected, expectations, media_problems
from contract_tests.urls import url_differences
from mock_server.har import RecordedExchange
from mock_server.operations.assumptions import pages_only
from mock_server.redaction import redacted_url
from mock_server.operations import Operation
from mock_server.operations.matcher import OperationMatcher
from mock_server.recorded_entries import job_of

WEBHOOK_BODY = "webhook body"  # where a delivery's differences are (apart from the answers' "body")
UNKNOWN = "(no operation)"  # the report's heading for exchanges no operation of the specs has
# How a server says there is no such operation (a test tool's probes with other methods and paths get them):
# that agrees with the specs; an exchange no operation has that was answered otherwise is drift.
NO_SUCH_OPERATION = frozenset({404, 405})


def best_fit(candidates: list[Operation], exchange: RecordedExchange) -> tuple[Operation, list[Difference]]:
    """The candidate the answer belongs to, and how it departs from it: one that documents the answer's status
    before one that does not, then the fewest differences, then the path's default operation before its
    variants (a variant answers on its operation's path)."""
    body_known = not (exchange.content_omitted and not exchange.content)  # a body not recorded is not judged
    judged = [(op, response_differences(op, exchange.response(), body_known)) for op in candidates]
    return min(judged, key=lambda pair: (exchange.status not in pair[0].documented_statuses, len(pair[1]),
                                         pair[0].variant is not None))


Matched = tuple[RecordedExchange, Operation | None, list[Difference]]


def matched(recorded: list[RecordedExchange], operations) -> list[Matched]:
    """Each exchange with the operation it fits best (None: no operation has its method and path) and how its
    answer departs from that operation's."""
    matcher, found = OperationMatcher(operations), []
    for exchange in recorded:
        candidates = matcher.candidates(exchange.method, exchange.path)
        found.append((exchange, *best_fit(candidates, exchange)) if candidates else (exchange, None, []))
    return found


class RecordingJudge:
    """Judges a recording's exchanges one by one, in recorded order: what `drift --har` does over a file and
    `record` does on the way. Remembers each job's statuses and the media URLs answers named."""

    def __init__(self, operations) -> None:
        self._matcher, self._history = OperationMatcher(operations), JobHistory()
        self._by_id = {operation.operation_id: operation for operation in operations if operation.variant is None}
        self._media: dict[str, tuple[str, Expected]] = {}  # a media URL an answer named -> (operation, what it said)
        self.notes: list[tuple[str, str]] = []  # (heading, note): what departs only from the spec's assumptions

    def judge(self, exchange: RecordedExchange) -> tuple[str, Operation | None, list[Difference]]:
        """(the report it belongs to: its operation id, the operation whose media it downloads, or UNKNOWN;
        the operation it fits best, if any (None for a webhook delivery: no answer of it); how it departs from
        the specs)."""
        if exchange.flux.get("webhook"):
            return self._delivery(exchange)
        candidates = self._matcher.candidates(exchange.method, exchange.path)
        if not candidates:
            return self._unmatched(exchange)
        operation, differences = best_fit(candidates, exchange)
        body = exchange.json()
        differences = differences + url_differences(operation, exchange.status, body, exchange.url)
        if operation.is_status and exchange.status == 200 and body is not None:
            problems = [p for p in answer_problems(operation.response_schema(200), body) if p.check != SCHEMA]
            problems += self._history.observe(job_of(exchange, operation) or exchange.path, body)
            differences = differences + [Difference(operation.operation_id, "invalid-flow", p.field, p.expected,
                                                    p.got, exchange.status) for p in problems]
        self._media.update((redacted_url(url), (operation.operation_id, expected)) for url, expected in
                           expectations(body, image=operation.media == "image").items())
        return operation.operation_id, operation, differences

    def _delivery(self, exchange: RecordedExchange) -> tuple[str, None, list[Difference]]:
        """A webhook delivery `record` relayed: its body (what the API POSTed) against the callback schema of the
        operation whose job it reports. A callback the pages do not describe (an x-assumption) gives notes."""
        operation = self._by_id.get(str(exchange.flux.get("operationId")))
        if operation is None or operation.callback is None:
            return UNKNOWN, None, []
        schema = pages_only(operation.callback).get("requestBody", {}).get("content", {}).get(
            "application/json", {}).get("schema")
        body = exchange.request_body
        found = [Difference(operation.operation_id, kind, where, expected, got) for kind, where, expected, got in
                 body_differences(schema, body, WEBHOOK_BODY)] if schema and not isinstance(body, str) else \
            [Difference(operation.operation_id, "changed-content-type", WEBHOOK_BODY, "JSON",
                        (exchange.request_header("content-type") or "none")[:100])] if schema else []
        if "x-assumption" in operation.callback:
            self.notes += [(operation.operation_id, f"a webhook body the pages do not describe (an assumption of "
                                                    f"the spec): {difference.line()}") for difference in found]
            return operation.operation_id, None, []
        return operation.operation_id, None, found

    def _unmatched(self, exchange: RecordedExchange) -> tuple[str, None, list[Difference]]:
        named = self._media.get(redacted_url(exchange.url))
        if named is not None:  # the app downloading what an answer named
            operation_id, expected = named
            return operation_id, None, _media_differences(operation_id, exchange, expected)
        if exchange.status in NO_SUCH_OPERATION:  # the API's own "no such operation": agrees with the specs
            return UNKNOWN, None, []
        return UNKNOWN, None, [Difference(UNKNOWN, "unknown-path", f"{exchange.method} {exchange.path}",
                                          "an operation of the specs (or 404 / 405)", f"{exchange.status}")]


def drift_of_recording(recorded: list[RecordedExchange], operations, max_age: timedelta | None = None,
                       now: datetime | None = None,
                       baseline: list[RecordedExchange] | None = None) -> list[OperationReport]:
    """One report per operation the recording reaches (in order of first use), and one for exchanges no
    operation has; a recording whose first exchange is older than `max_age` is stale; with a `baseline`
    recording, what changed since it is added to each operation's report."""
    judge, found, counts, judged, notes = RecordingJudge(operations), {}, {}, [], {}
    assumed = {op.operation_id for op in operations if op.spec == ASSUMED_SPEC}
    for exchange in recorded:
        heading, operation, differences = judge.judge(exchange)
        counts[heading] = counts.get(heading, 0) + 1
        judged.append((exchange, operation, differences))  # matched once, for the baseline's shapes too
        if operation is not None:
            notes.setdefault(heading, []).extend(response_notes(operation, exchange.status,
                                                                exchange.response().headers))
        if heading in assumed:  # an endpoint on no page: how it departs from the assumption is a note
            notes.setdefault(heading, []).extend(f"an endpoint only public clients show (an assumption of the "
                                                 f"spec): {difference.line()}" for difference in differences)
            differences = []
        found.setdefault(heading, []).extend(differences)
    for heading, note in judge.notes:
        notes.setdefault(heading, []).append(note)
    if baseline is not None:
        for difference in changes(shapes(matched(baseline, operations)), shapes(judged)):
            found.setdefault(difference.operation_id, []).append(difference)
    started = min((exchange.started for exchange in recorded if exchange.started), default=None)
    if max_age is not None and started is not None and started < ((now or datetime.now(UTC)) - max_age).timestamp():
        first = next(iter(found), UNKNOWN)
        found.setdefault(first, []).append(Difference(first, "stale-recording", "startedDateTime",
                                                      f"within {max_age.days} days",
                                                      datetime.fromtimestamp(started, UTC).isoformat()))
    return [OperationReport(name, "checked", _exchanges(counts.get(name, 0)), one_per_place(differences),
                            tuple(dict.fromkeys(notes.get(name, ())))) for name, differences in found.items()]


def _media_differences(operation_id: str, exchange: RecordedExchange, expected: Expected) -> list[Difference]:
    if exchange.content_omitted and not exchange.content:  # kept without its bytes: only that it answered
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
