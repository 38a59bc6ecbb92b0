"""Async-aware checks: what one response cannot show, but a job's history of answers can; and the body
against its schema, with the field path of every error.

Each `*_problems` function is pure and returns Problems (an empty list: none); `JobHistory` remembers the
last status of each job it sees. They are registered as one schemathesis check at the bottom, and
`check`, `drift` and the link-following suite call them directly.
"""

import json
from datetime import datetime
from functools import cache

import jsonschema_rs
import schemathesis
from schemathesis.specs.openapi.checks import unsupported_method

from contract_tests.failures import ContractFailure, Problem, curl, raise_all
from mock_server.bodies import job_status_in, request_id_in
from mock_server.jobs.lifecycle import NEXT, TERMINAL
from mock_server.operations import STATUS_KINDS, load_operations
from mock_server.operations.constraints import constraint_title, not_before_constraints

CONSISTENCY = "job-status-consistency"
FLOW = "job-status-flow"
SCHEMA = "response-schema"


def _moment(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def time_order_problems(schema: dict | None, body) -> list[Problem]:
    """The spec's `x-flux-mock-not-before` rules (JSON Schema cannot compare two fields): each field holding a
    time is not before the one it names."""
    if not isinstance(body, dict):
        return []
    problems = []
    for later, earlier in not_before_constraints(schema).items():
        before, after = _moment(body.get(earlier)), _moment(body.get(later))
        if before and after and after < before:
            problems.append(Problem(CONSISTENCY, later, f"not before {earlier} {body[earlier]}", body[later]))
    return problems


def answer_problems(schema: dict | None, body) -> list[Problem]:
    """Every rule the spec states for this answer: its schema, the per-status rules in it (checked as
    job-status-consistency), and the order of its times."""
    return schema_problems(schema, body) + time_order_problems(schema, body)


def is_final(body: dict) -> bool:
    return job_status_in(body) in TERMINAL


class JobHistory:
    """The last status seen of each job: a status only moves forward, and a final one never changes."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def clear(self) -> None:
        """Forget every job (a new run)."""
        self._last.clear()

    def observe(self, request_id: str, body: dict) -> list[Problem]:
        status = job_status_in(body)
        if status is None or status not in NEXT:
            return [Problem(FLOW, "status", "one of " + ", ".join(NEXT), json.dumps(body.get("status")))] \
                if status else []
        before = self._last.get(request_id)
        self._last[request_id] = status
        if before is None or before == status or status in NEXT[before]:
            return []
        if before in TERMINAL:
            return [Problem(FLOW, "status", f"{before} again (a final status never changes)", status)]
        allowed = ", ".join((before, *NEXT[before]))
        return [Problem(FLOW, "status", f"one of {allowed} after {before} (statuses only move forward)", status)]


@cache
def schema_validator(schema_text: str):
    """The compiled validator of a schema (given as its JSON text), formats checked: compiled once per schema."""
    return jsonschema_rs.validator_for(json.loads(schema_text), validate_formats=True)


def _keyword_node(schema: dict, schema_path):
    node = schema
    for part in schema_path:
        node = node[part] if isinstance(node, dict) else node[int(part)]
    return node


def _join(*parts) -> str:
    return ".".join(str(part) for part in parts if part != "")


def _closeness(problems: list[Problem]) -> tuple[int, int]:
    """Fewer problems first; on a tie, the branch whose required fields the value has."""
    return len(problems), sum(problem.expected == "present (required)" for problem in problems)


def _rule_of(schema: dict, schema_path) -> str | None:
    """The title of the spec's rule a breach is of: a titled part of an allOf on its schema path (StatusBody's
    per-status rules), else None (a plain schema breach)."""
    node, previous, title = schema, None, None
    for part in schema_path:
        try:
            node = node[part] if isinstance(node, dict) else node[int(part)]
        except (KeyError, IndexError, ValueError, TypeError):
            return title
        if previous == "allOf" and constraint_title(node):
            title = constraint_title(node)
        previous = part
    return title


def _context(body, rule: str | None) -> str:
    """How a rule's expectation is said: while the answer's status is what it is, and the rule's title."""
    if rule is None:
        return ""
    status = body.get("status") if isinstance(body, dict) else None
    return (f" while status is {status}" if isinstance(status, str) else "") + f" ({rule})"


def schema_problems(schema: dict | None, body, where: str = "") -> list[Problem]:
    """Every way `body` breaks `schema`, each with its field path (from jsonschema-rs), the keyword it
    breaks and its value, and the value found there. Where a value matches none of an anyOf / oneOf,
    the problems are those of the branch it comes closest to. A breach of one of the spec's titled rules
    (allOf parts: output exactly when COMPLETED, ...) is a job-status-consistency problem naming the rule."""
    if not schema:
        return []
    validator = schema_validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in validator.iter_errors(body):
        path = _join(where, *error.instance_path)
        keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
        rule = _rule_of(schema, error.schema_path)
        check, context = (CONSISTENCY if rule else SCHEMA), _context(body, rule)
        try:
            value = _keyword_node(schema, error.schema_path)
        except (KeyError, IndexError, ValueError, TypeError):
            value = None
        if keyword in ("anyOf", "oneOf") and isinstance(value, list) and value:
            problems += min((schema_problems(branch, error.instance, path) for branch in value), key=_closeness) or [
                Problem(check, path, f"exactly one {keyword} branch{context}", "several match")]
        elif keyword == "required":
            missing = error.message.split('"')[1] if '"' in error.message else ""
            problems.append(Problem(check, _join(path, missing), f"present (required){context}", "absent"))
        elif keyword == "not" and isinstance(value, dict) and isinstance(value.get("required"), list):
            problems += [Problem(check, _join(path, name), f"absent{context}", "present")
                         for name in value["required"] if isinstance(error.instance, dict) and name in error.instance]
        else:
            expected = f"{keyword}: {value if isinstance(value, str) else json.dumps(value)}" \
                if value is not None else error.message
            problems.append(Problem(check, path, expected + context, json.dumps(error.instance)[:200]))
    return problems


HISTORY = JobHistory()


def _operation_kind(case) -> str:
    return (case.operation.definition.raw.get("x-flux-mock") or {}).get("kind", "")


def request_id_of(body, fallback: str) -> str:
    return request_id_in(body) or fallback


def asked_for(case) -> str:
    """The job a status request asks about, for an answer naming none (Schnell batch's checkStatus): the id in
    its path, or the one its body names ({"requestId": ...}); else the request's parameters as they were."""
    named = next(iter((case.path_parameters or {}).values()), None) or request_id_in(case.body)
    return named if isinstance(named, str) and named else str(case.path_parameters or case.body)


@schemathesis.check
def job_status_consistency(ctx, response, case):
    """An answer keeps the pages' constraints beyond its shape (schemathesis checks the shape itself): the per-status
    rules (output exactly when COMPLETED, error exactly on FAILED / ERROR, ...), the order of its times, and,
    for a status answer, the job's status only moving forward."""
    if response.status_code != 200 or "json" not in response.headers.get("content-type", [""])[0]:
        return None
    raw = case.operation.definition.raw
    schema = _response_schema(raw.get("operationId", ""))
    body = response.json()
    request_id = request_id_of(body, asked_for(case))
    problems = [problem for problem in answer_problems(schema, body) if problem.check != SCHEMA]
    if _operation_kind(case) in STATUS_KINDS:
        problems += HISTORY.observe(request_id, body)
    request = response.request
    raise_all([ContractFailure(problem, raw.get("operationId", ""), request.method,
                               str(request.url), request_id,
                               curl(request.method, str(request.url), dict(request.headers),
                                    case.body if isinstance(case.body, (dict, list)) else None))
               for problem in problems])
    return None


@schemathesis.check
def undeclared_method_is_refused(ctx, response, case):
    """A method the spec does not declare for a path is refused: with 405 (schemathesis' own check, with Allow),
    or with the 404 `{"error": "Endpoint not found"}` the pages document for what is not an endpoint (they never
    mention 405). The suites run this in place of schemathesis' `unsupported_method`."""
    if response.status_code == 404:
        return None
    return unsupported_method(ctx, response, case)


@cache
def _response_schema(operation_id: str) -> dict | None:
    operation = next((op for op in load_operations() if op.operation_id == operation_id), None)
    return operation.response_schema(200) if operation else None
