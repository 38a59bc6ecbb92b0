"""Answers a rule forces: a status the operation documents (its first example), or the gateway's own
failure (502, 503, 504 in its shape, unless the operation documents that status)."""

from mock_server.errors import GATEWAY_FAILURES, BadRequest, gateway_body
from mock_server.operations import Operation
from mock_server.responses import JSONBody


def forceable_statuses(operation: Operation) -> frozenset[int]:
    """The statuses a rule may force on this operation: the error statuses it documents, and the
    gateway's own failures."""
    return frozenset(code for code in operation.documented_statuses if code >= 400) | frozenset(GATEWAY_FAILURES)


def forced_response(operation: Operation, status: int, retry_after: float | None = None) -> JSONBody:
    """The documented answer for `status`, as a rule asked for it; a 429 or 503 with Retry-After
    (`retry_after` seconds, else 1). A status the operation cannot answer is a 400 naming those it can."""
    headers = {"Retry-After": f"{retry_after or 1:g}"} if status in (429, 503) else {}
    if status in GATEWAY_FAILURES and status not in operation.documented_statuses:
        return JSONBody(gateway_body(status, GATEWAY_FAILURES[status]), status_code=status, headers=headers)
    if status not in operation.documented_statuses:
        allowed = sorted(forceable_statuses(operation))
        raise BadRequest(f"status {status} is not documented for {operation.operation_id}; it can answer: "
                         f"{', '.join(map(str, allowed))}")
    body = documented_body(operation, status)
    return JSONBody({"error": "Forced"} if body is None else body, status_code=status, headers=headers)


def documented_body(operation: Operation, status: int):
    """The first JSON example the operation documents for `status`, or None."""
    content = ((operation.responses.get(str(status)) or {}).get("content") or {}).get("application/json", {})
    examples = list((content.get("examples") or {}).values())
    return examples[0]["value"] if examples else None
