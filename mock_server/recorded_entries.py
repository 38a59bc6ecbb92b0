"""An exchange of a recording as the mock's journal would have it: the one constructor of a `JournalEntry` from
a recording (what `report --har` judges, and what `flux-mock record` journals on the way). The request is
judged as the mock judges a live one (`OperationValidator.judge`), where the mock would have judged it (not
behind a 401, 403, 413, 429 or 5xx), so the same traffic makes the same entry whether the mock answered it or
a recording holds it."""

from functools import cache
from urllib.parse import urlsplit

from mock_server.bodies import job_status_in, request_id_in
from mock_server.har import REDACTED, RecordedExchange
from mock_server.journal_entry import JournalEntry
from mock_server.operations import Operation
from mock_server.redaction import (SHORT_FIELD, clipped, clipped_json, clipped_list, journaled_headers, mask_key,
                                   redacted_form, redacted_header, redacted_json)
from mock_server.router import path_pattern
from mock_server.validation import QUERY_KEY_LENIENCY, SUBSCRIPTION_KEY_HEADER, OperationValidator, key_in_query

RETRY_AFTER_STATUSES = (429, 503)
# Answers a gateway gives before it reads the body (as the mock's pipeline does: authentication, authorization,
# the size limit): the entry keeps no body. Those, a 429 and the gateway's own failures come before the request
# is judged: the entry holds no verdict.
BODY_UNREAD = frozenset({401, 403, 413})
NOT_JUDGED = BODY_UNREAD | {429}


class Validators(dict):
    """One compiled validator per operation (and variant), made when first needed."""

    def of(self, operation: Operation) -> OperationValidator:
        name = (operation.operation_id, operation.variant, operation.kind)
        if name not in self:
            self[name] = OperationValidator(operation)
        return self[name]


@cache
def _pattern(template: str):
    return path_pattern(template)


def job_of(exchange: RecordedExchange, operation: Operation | None) -> str | None:
    """The job an exchange concerns: the id its request body names (a poll by body), else the one its answer
    names, else its path's `{request_id}`."""
    named = request_id_in(exchange.request_body) or request_id_in(exchange.json())
    if named or operation is None or "{" not in operation.path:
        return named if isinstance(named, str) else None
    found = _pattern(operation.path).match(exchange.path)
    return found.groupdict().get("request_id") if found else None


def retry_after_of(exchange: RecordedExchange) -> float | None:
    if exchange.status not in RETRY_AFTER_STATUSES:
        return None
    try:
        return float(exchange.header("retry-after"))
    except (TypeError, ValueError):
        return None


def _key(headers: dict[str, str], key_headers: tuple[str, ...], query: str, show_keys: bool) -> str | None:
    """The key the request carried (masked), None where the recording redacted it (no key can be told)."""
    key = next((headers[name] for name in key_headers if headers.get(name)), None) or key_in_query(query)
    return None if key in (None, REDACTED) else mask_key(clipped(key, SHORT_FIELD), show_keys)


def _shown_body(exchange: RecordedExchange):
    """The request's body as a recording may show it: real traffic, so webhook URLs lose their secrets too (the
    verdicts are the real body's)."""
    body = exchange.request_body
    if isinstance(body, str):
        form = "x-www-form-urlencoded" in (exchange.request_header("content-type") or "")
        return redacted_form(body) if form else body
    return redacted_json(body)


def recorded_entry(exchange: RecordedExchange, operation: Operation | None, validators: Validators,
                   key_headers: tuple[str, ...], *, drift=(), sequence: int | None = None, answer: str | None = None,
                   show_keys: bool = False) -> JournalEntry:
    """The journal entry of one recorded exchange, judged against `operation` (None: no operation has its
    method and path)."""
    headers = {name.lower(): value for name, value in exchange.request_headers}
    query = urlsplit(exchange.url).query
    started = exchange.started or 0.0
    entry = JournalEntry(
        epoch=started, method=exchange.method, path=clipped(exchange.path), status=exchange.status,
        operation_id=operation.operation_id if operation else None,
        operation_kind=operation.kind if operation else None, variant=operation.variant if operation else None,
        key=_key(headers, key_headers, query, show_keys), arrived=started,
        answered=started + exchange.waited_ms / 1000, retry_after=retry_after_of(exchange),
        job_status=job_status_in(exchange.json()) if operation else None,
        request_id=clipped(job_of(exchange, operation), SHORT_FIELD),
        user_agent=clipped(headers.get("user-agent", ""), SHORT_FIELD),
        body=None if exchange.request_body is None or exchange.status in BODY_UNREAD else clipped_json(
            _shown_body(exchange)),
        headers=journaled_headers({name: value if name in key_headers else redacted_header(name, value)
                                   for name, value in headers.items()}, key_headers, show_keys),
        duration_ms=round(exchange.waited_ms, 3),
        drift=tuple(drift), sequence=sequence, answer=answer)
    if operation is None:
        return entry
    leniencies = [QUERY_KEY_LENIENCY] if SUBSCRIPTION_KEY_HEADER not in headers and key_in_query(query) else []
    if exchange.status in NOT_JUDGED or exchange.status >= 500:
        return entry._replace(leniencies=tuple(leniencies))
    validator = validators.of(operation)
    body = exchange.request_body
    judged = validator.judge(headers, body)
    return entry._replace(violations=clipped_list([str(violation) for violation in judged.violations]),
                          undocumented_fields=clipped_list(judged.undocumented),
                          leniencies=clipped_list([*leniencies, *judged.leniencies]),
                          assumptions=clipped_list(judged.assumptions),
                          webhook=exchange.status < 300 and validator.webhook_url(headers, body) is not None)
