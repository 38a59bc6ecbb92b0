"""A submit followed to its end, judged: the submit is accepted, every poll answers 200 with a body that
fits its schema and agrees with itself, the job only moves forward and ends, its final status stays,
its media downloads, and its webhook POSTs the final status body. Every breach is a ContractFailure
naming operation, request id, field, expected, got, URL and a curl line."""

import json
from dataclasses import dataclass, field

import httpx

from contract_tests.checks import is_final, request_id_of
from contract_tests.failures import ContractFailure, Problem, curl
from contract_tests.links import Poll, follow, media_urls
from contract_tests.media import expectations, media_problems
from mock_server.operations import Operation


# Documented answers about the caller, not the request: the contract is kept, there is only no job to follow.
ABOUT_THE_CALLER = {401: "the key was refused (is it right?)", 402: "the key's wallet is empty (fill it to follow a job)",
                    403: "the key may not use this model", 429: "the key is rate-limited (follow a job later)"}


@dataclass
class Flow:
    """What one submit led to: its answer, every poll, and the failures found so far."""

    operation: Operation
    url: str
    headers: dict
    body: object
    submitted: httpx.Response | None = None
    polls: list[Poll] = field(default_factory=list)
    failures: list[ContractFailure] = field(default_factory=list)
    declined: str | None = None  # why there was no job to follow, though the server kept to the contract

    @property
    def request_id(self) -> str | None:
        answer = self.polls[-1].body if self.polls else None
        if self.submitted is not None and self.submitted.headers.get("content-type", "").startswith("application/json"):
            answer = self.submitted.json()
        found = request_id_of(answer, "")
        return found or None

    @property
    def final(self):
        return self.polls[-1].body if self.polls else None

    def fail(self, problem: Problem, operation: Operation | None = None, method: str = "POST", url: str | None = None,
             body=None, **extra) -> None:
        operation = operation or self.operation
        url = url or self.url
        if any(failure.problem == problem and failure.url == url for failure in self.failures):
            return  # the same breach seen again (the re-poll of a final status)
        self.failures.append(ContractFailure(problem, operation.operation_id, method, url, self.request_id,
                                             curl(method, url, self.headers if body is not False else {},
                                                  self.body if body is None else (body or None)), extra))


def submit_and_follow(client: httpx.Client, operations: dict[str, Operation], operation: Operation, body,
                      headers: dict, headers_for, polls: int, interval: float) -> Flow:
    url = str(client.base_url.join(operation.path))
    flow = Flow(operation, url, headers, body)
    flow.submitted = client.post(operation.path, json=body, headers=headers)
    status = flow.submitted.status_code
    if status in ABOUT_THE_CALLER and status in operation.documented_statuses:
        flow.declined = (f"the server answered its documented {status} ({flow.submitted.text[:120]}): "
                         f"{ABOUT_THE_CALLER[status]}; no job to follow")
        return flow
    if status not in operation.documented_statuses or status >= 300:
        flow.fail(Problem("submit-accepted", "status", "a documented 2xx", f"{status} {flow.submitted.text[:200]}"))
        return flow
    flow.polls = follow(client, operations, operation, status, flow.submitted.json(), headers_for,
                        polls=polls, interval=interval)
    if not flow.polls:
        flow.fail(Problem("links", "links", f"a link from {status} to a status operation", "none"))
    for poll in flow.polls:
        _judge_poll(flow, poll, headers_for)
    if flow.polls and not is_final(flow.final):
        last = flow.polls[-1]
        flow.fail(Problem("job-ends", "status", f"a final status within {polls} polls",
                          json.dumps(last.body)[:200]), last.operation, last.operation.method, last.url,
                  body=last.request or False)
    return flow


def _judge_poll(flow: Flow, poll: Poll, headers_for) -> None:
    problems = list(poll.problems)  # its schema and the pages' constraints (links.py), when it answered 200
    if poll.status_code != 200:
        problems.append(Problem("poll-answered", "status", "200", f"{poll.status_code} {str(poll.body)[:200]}"))
    for problem in problems:
        flow.fail(problem, poll.operation, poll.operation.method, poll.url, body=poll.request or False)


def check_media(flow: Flow, client: httpx.Client) -> None:
    """Every media URL of the final answer downloads (200, not empty) and is what the answer and the operation
    say it is (media.py: an image that decodes, of the stated type and size)."""
    said = expectations(flow.final, image=flow.operation.media == "image")
    for url in media_urls(flow.final):
        response = client.get(url)
        if response.status_code != 200 or not response.content:
            flow.fail(Problem("media-downloads", "output media", "200 with content",
                              f"{response.status_code}, {len(response.content)} bytes"), method="GET", url=url,
                      body=False)
        elif url in said:
            for problem in media_problems(said[url], response.headers.get("content-type", ""), response.content):
                flow.fail(problem, method="GET", url=url, body=False)


def differences(expected, got, path: str = "") -> list[tuple[str, str, str]]:
    """(field path, expected, got) for every leaf where two JSON values differ."""
    if isinstance(expected, dict) and isinstance(got, dict):
        found = []
        for name in dict.fromkeys([*expected, *got]):
            where = f"{path}.{name}" if path else name
            if name not in got:
                found.append((where, json.dumps(expected[name]), "absent"))
            elif name not in expected:
                found.append((where, "absent", json.dumps(got[name])))
            else:
                found += differences(expected[name], got[name], where)
        return found
    return [] if expected == got else [(path or "body", json.dumps(expected)[:200], json.dumps(got)[:200])]


def check_webhook(flow: Flow, delivered, hook_url: str) -> None:
    """The webhook POSTed the body of the final status answer."""
    for where, expected, got in differences(flow.final, delivered):
        flow.fail(Problem("webhook-equals-final-status", where, f"{expected} (as the final status answer)", got),
                  url=hook_url, method="POST", body=False, webhook=hook_url)
