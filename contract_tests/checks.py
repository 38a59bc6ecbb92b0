"""Async-aware checks: what one response cannot show, but a job's history of answers can.

Each `*_problems` function returns readable problems (an empty list: none); `JobHistory` remembers
the last status of each job it sees. They are registered as schemathesis checks at the bottom, and
`check`, `drift` and the link-following suite call them directly.
"""

from datetime import datetime

import schemathesis

from mock_server.jobs.lifecycle import NEXT, TERMINAL

BATCH_TERMINAL = ("completed", "failed")


def _moment(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


def status_body_problems(body: dict) -> list[str]:
    """The queue status body (and the webhook body) is consistent with its own status."""
    if not isinstance(body, dict) or "status" not in body:
        return []
    status, output, problems = body["status"], body.get("output"), []
    has_media = isinstance(output, dict) and bool(output.get("media_url"))
    if has_media != (status == "COMPLETED"):
        problems.append(f"output.media_url is {'present' if has_media else 'absent'} while status is {status}")
    has_error = body.get("error") is not None
    if has_error != (status in ("FAILED", "ERROR")):
        problems.append(f"error is {'set' if has_error else 'null'} while status is {status}")
    created, completed = _moment(body.get("created_at")), _moment(body.get("completed_at"))
    if created and completed and completed < created:
        problems.append(f"completed_at {body['completed_at']} is before created_at {body['created_at']}")
    if (completed is not None) != (status in TERMINAL) and "completed_at" in body:
        problems.append(f"completed_at is {'set' if completed else 'null'} while status is {status}")
    return problems


def batch_body_problems(body: dict) -> list[str]:
    if not isinstance(body, dict) or "status" not in body:
        return []
    has_output = bool(body.get("output"))
    if has_output != (body["status"] == "completed"):
        return [f"output is {'present' if has_output else 'absent'} while status is {body['status']}"]
    return []


def fal_body_problems(body: dict) -> list[str]:
    if not isinstance(body, dict):
        return []
    if "images" in body and not body["images"]:
        return ["a finished result has no images"]
    if "images" not in body and body.get("status") in ("FAILED", "ERROR") and not body.get("error"):
        return [f"status {body['status']} without an error"]
    return []


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

    def observe(self, request_id: str, body: dict) -> list[str]:
        status = normalised_status(body)
        if status is None or status not in NEXT:
            return [f"{request_id}: unknown status {body.get('status')!r}"] if status else []
        before = self._last.get(request_id)
        self._last[request_id] = status
        if before is None or before == status or status in NEXT[before]:
            return []
        if before in TERMINAL:
            return [f"{request_id}: final status {before} changed to {status}"]
        return [f"{request_id}: status went back from {before} to {status}"]


HISTORY = JobHistory()
# The body checks of each status operation kind (x-flux-mock.kind in the spec).
BODY_PROBLEMS = {"status": status_body_problems, "batch-status": batch_body_problems,
                 "poll-status": fal_body_problems}


def _operation_kind(case) -> str:
    return (case.operation.definition.raw.get("x-flux-mock") or {}).get("kind", "")


@schemathesis.check
def job_status_consistency(ctx, response, case):
    """A status answer agrees with itself: output exactly when COMPLETED, error exactly on FAILED / ERROR,
    completed_at after created_at; and the job's status only moves forward."""
    finder = BODY_PROBLEMS.get(_operation_kind(case))
    if finder is None or response.status_code != 200:
        return None
    body = response.json()
    problems = finder(body)
    request_id = body.get("request_id") or body.get("requestId") or str(case.path_parameters or case.body)
    problems += HISTORY.observe(request_id, body)
    if problems:
        raise AssertionError("; ".join(problems))
    return None
