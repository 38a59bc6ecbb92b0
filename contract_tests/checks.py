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

from contract_tests.failures import ContractFailure, Problem, curl, raise_all
from mock_server.jobs.lifecycle import NEXT, TERMINAL

CONSISTENCY = "job-status-consistency"
FLOW = "job-status-flow"
SCHEMA = "response-schema"


def _moment(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _present(present: bool) -> str:
    return "present" if present else "absent"


def status_body_problems(body: dict) -> list[Problem]:
    """The queue status body (and the webhook body) is consistent with its own status."""
    if not isinstance(body, dict) or "status" not in body:
        return []
    status, output, problems = body["status"], body.get("output"), []
    has_media = isinstance(output, dict) and bool(output.get("media_url"))
    if has_media != (status == "COMPLETED"):
        problems.append(Problem(CONSISTENCY, "output.media_url", f"{_present(status == 'COMPLETED')} while status "
                                f"is {status}", _present(has_media)))
    has_error = body.get("error") is not None
    if has_error != (status in ("FAILED", "ERROR")):
        problems.append(Problem(CONSISTENCY, "error", f"{'set' if status in ('FAILED', 'ERROR') else 'null'} while "
                                f"status is {status}", json.dumps(body.get("error"))))
    created, completed = _moment(body.get("created_at")), _moment(body.get("completed_at"))
    if created and completed and completed < created:
        problems.append(Problem(CONSISTENCY, "completed_at", f"not before created_at {body['created_at']}",
                                body["completed_at"]))
    if (completed is not None) != (status in TERMINAL) and "completed_at" in body:
        problems.append(Problem(CONSISTENCY, "completed_at", f"{'set' if status in TERMINAL else 'null'} while "
                                f"status is {status}", json.dumps(body.get("completed_at"))))
    return problems


def batch_body_problems(body: dict) -> list[Problem]:
    if not isinstance(body, dict) or "status" not in body:
        return []
    has_output = bool(body.get("output"))
    if has_output != (body["status"] == "completed"):
        return [Problem(CONSISTENCY, "output", f"{_present(body['status'] == 'completed')} while status is "
                        f"{body['status']}", _present(has_output))]
    return []


def fal_body_problems(body: dict) -> list[Problem]:
    if not isinstance(body, dict):
        return []
    if "images" in body and not body["images"]:
        return [Problem(CONSISTENCY, "images", "at least one image in a finished result", "[]")]
    if "images" not in body and body.get("status") in ("FAILED", "ERROR") and not body.get("error"):
        return [Problem(CONSISTENCY, "error", f"set while status is {body['status']}", json.dumps(body.get("error")))]
    return []


# The body checks of each status operation kind (x-flux-mock.kind in the spec).
BODY_PROBLEMS = {"status": status_body_problems, "batch-status": batch_body_problems,
                 "poll-status": fal_body_problems}


def body_problems(kind: str, body) -> list[Problem]:
    finder = BODY_PROBLEMS.get(kind)
    return finder(body) if finder else []


def normalised_status(body: dict) -> str | None:
    """The job status an answer of any polling API reports, in the queue API's vocabulary."""
    if not isinstance(body, dict):
        return None
    if "images" in body:
        return "COMPLETED"
    status = body.get("status")
    return status.upper() if isinstance(status, str) else None


def is_final(body: dict) -> bool:
    return normalised_status(body) in TERMINAL


class JobHistory:
    """The last status seen of each job: a status only moves forward, and a final one never changes."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def observe(self, request_id: str, body: dict) -> list[Problem]:
        status = normalised_status(body)
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
def _validator(schema_text: str):
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


def schema_problems(schema: dict | None, body, where: str = "") -> list[Problem]:
    """Every way `body` breaks `schema`, each with its field path (from jsonschema-rs), the keyword it
    breaks and its value, and the value found there. Where a value matches none of an anyOf / oneOf,
    the problems are those of the branch it comes closest to."""
    if not schema:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in validator.iter_errors(body):
        path = _join(where, *error.instance_path)
        keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
        try:
            value = _keyword_node(schema, error.schema_path)
        except (KeyError, IndexError, ValueError, TypeError):
            value = None
        if keyword in ("anyOf", "oneOf") and isinstance(value, list) and value:
            problems += min((schema_problems(branch, error.instance, path) for branch in value), key=_closeness) or [
                Problem(SCHEMA, path, f"exactly one {keyword} branch", "several match")]
        elif keyword == "required":
            missing = error.message.split('"')[1] if '"' in error.message else ""
            problems.append(Problem(SCHEMA, _join(path, missing), "present (required)", "absent"))
        else:
            expected = f"{keyword}: {value if isinstance(value, str) else json.dumps(value)}" \
                if value is not None else error.message
            problems.append(Problem(SCHEMA, path, expected, json.dumps(error.instance)[:200]))
    return problems


HISTORY = JobHistory()


def _operation_kind(case) -> str:
    return (case.operation.definition.raw.get("x-flux-mock") or {}).get("kind", "")


def request_id_of(body, fallback: str) -> str:
    if isinstance(body, dict):
        return body.get("request_id") or body.get("requestId") or fallback
    return fallback


@schemathesis.check
def job_status_consistency(ctx, response, case):
    """A status answer agrees with itself: output exactly when COMPLETED, error exactly on FAILED / ERROR,
    completed_at after created_at; and the job's status only moves forward."""
    kind = _operation_kind(case)
    if kind not in BODY_PROBLEMS or response.status_code != 200:
        return None
    body = response.json()
    request_id = request_id_of(body, str(case.path_parameters or case.body))
    problems = body_problems(kind, body) + HISTORY.observe(request_id, body)
    request = response.request
    raise_all([ContractFailure(problem, case.operation.definition.raw.get("operationId", ""), request.method,
                               str(request.url), request_id,
                               curl(request.method, str(request.url), dict(request.headers),
                                    case.body if isinstance(case.body, (dict, list)) else None))
               for problem in problems])
    return None
