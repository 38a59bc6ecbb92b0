"""Follow the spec's OpenAPI links from a submit answer to its status operation, until a final status."""

import time
from dataclasses import dataclass

from contract_tests.checks import JobHistory, answer_problems, is_final
from contract_tests.failures import Problem
from mock_server.operations import Operation


@dataclass(frozen=True)
class Poll:
    operation: Operation
    status_code: int
    body: object
    problems: tuple[Problem, ...]
    url: str = ""
    request: object = None  # the poll's JSON body, if it had one


def _resolve(expression, body):
    """A runtime expression's value: `$response.body#/request_id` -> body["request_id"]."""
    if not isinstance(expression, str) or not expression.startswith("$response.body#"):
        return expression
    value = body
    for part in expression.split("#", 1)[1].lstrip("/").split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def links_of(operation: Operation, status_code: int) -> list[dict]:
    response = operation.responses.get(str(status_code)) or {}
    return list((response.get("links") or {}).values())


def poll_request(link: dict, body) -> tuple[str, dict, object]:
    """(operationId, path parameters, request body) of the call a link describes."""
    params = {name: _resolve(value, body) for name, value in (link.get("parameters") or {}).items()}
    request_body = link.get("requestBody")
    if isinstance(request_body, dict):
        request_body = {name: _resolve(value, body) for name, value in request_body.items()}
    return link["operationId"], params, request_body


def _poll(client, operation: Operation, path: str, headers: dict, request_body, job: str,
          history: JobHistory) -> Poll:
    response = client.request(operation.method, path, headers=headers, json=request_body)
    answer = response.json() if response.headers.get("content-type", "").startswith("application/json") \
        else response.text
    problems = []
    if response.status_code == 200:
        problems = answer_problems(operation.response_schema(200), answer) + history.observe(job, answer)
    return Poll(operation, response.status_code, answer, tuple(problems), str(response.request.url), request_body)


def follow(client, operations: dict[str, Operation], submitted: Operation, status_code: int, body, headers_for,
           polls: int, interval: float, history: JobHistory | None = None) -> list[Poll]:
    """Poll the linked status operation until a final status (or `polls` answers), then once more: a final
    status never changes. Every answer is checked."""
    history = history or JobHistory()
    answers = []
    for link in links_of(submitted, status_code):
        op_id, params, request_body = poll_request(link, body)
        operation = operations[op_id]
        path, job = operation.path.format(**params), str(params or request_body)
        for attempt in range(polls):
            answers.append(_poll(client, operation, path, headers_for(operation), request_body, job, history))
            if answers[-1].status_code != 200 or is_final(answers[-1].body):
                break
            if interval and attempt + 1 < polls:
                time.sleep(interval)
        if answers and answers[-1].status_code == 200 and is_final(answers[-1].body):
            answers.append(_poll(client, operation, path, headers_for(operation), request_body, job, history))
    return answers


def media_urls(answer) -> list[str]:
    """The media URLs of a final answer of any shape."""
    if not isinstance(answer, dict):
        return []
    if isinstance(answer.get("output"), dict):
        return list(answer["output"].get("media_url") or [])
    if isinstance(answer.get("output"), str):
        return [answer["output"]]
    return [image.get("url") for image in answer.get("images", []) if isinstance(image, dict)]
