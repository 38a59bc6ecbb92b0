"""Drift detection: send each operation's documented example, follow jobs to their end, and name every
way the answers differ from the specs (status, fields, types, values, headers)."""

import contextlib
import json
from dataclasses import asdict, dataclass

import httpx

from contract_tests.assumptions import response_notes
from contract_tests.budget import BudgetExceeded
from contract_tests.checks import SCHEMA, is_final
from contract_tests.examples import request_example, with_webhook
from contract_tests.links import follow, media_urls
from contract_tests.acceptance import Verdict
from contract_tests.differences import Difference, one_per_place
from contract_tests.media import expectations, media_problems
from contract_tests.urls import url_differences
from contract_tests.receiver import webhook_receiver
from contract_tests.target import Target, variant_headers
from mock_server.har import MAX_JSON_DEPTH, json_value
from mock_server.operations import VENDOR_SPECS, Operation, load_operations
from mock_server.operations.assumptions import pages_only

ASSUMED_SPEC = VENDOR_SPECS[2]  # public-clients.yaml: every operation of it an assumption of the spec
JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def type_name(value) -> str:
    """The JSON type of a value, as drift names it (1.0 is an integer, as JSON has it)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    return next((name for name, kind in JSON_TYPES.items() if isinstance(value, kind)), type(value).__name__)


def _type_matches(types, value) -> bool:
    found = type_name(value)
    return found in types or (found == "integer" and "number" in types)


def _merged(schema: dict) -> dict:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf", []):
        part = _merged(part)
        properties = dict(merged.get("properties", {}))
        for name, sub in part.get("properties", {}).items():  # a part's keywords join the property's, never replace
            properties[name] = {**properties.get(name, {}), **sub} if isinstance(sub, dict) else sub
        merged["properties"] = properties
        merged["required"] = [*merged.get("required", []), *part.get("required", [])]
        for key in ("type", "enum", "const", "items"):
            if key in part:
                merged.setdefault(key, part[key])
    return merged


def _types_of(schema: dict) -> set[str] | None:
    """The JSON types a schema admits at its top (None: any)."""
    schema = _merged(schema) if isinstance(schema, dict) else {}
    if "type" in schema:
        return set([schema["type"]] if isinstance(schema["type"], str) else schema["type"])
    if "const" in schema:
        return {type_name(schema["const"])}
    if "enum" in schema:
        return {type_name(value) for value in schema["enum"]}
    if "properties" in schema or "required" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        found = [_types_of(branch) for branch in branches]
        return None if any(types is None for types in found) else set().union(*found)
    return None


def _admits(schema: dict, value) -> bool:
    types = _types_of(schema)
    return types is None or _type_matches(types, value)


def body_differences(schema: dict | None, body, where: str = "body") -> list[tuple[str, str, str, str]]:
    """(kind, where, expected, found) for every way `body` departs from `schema`."""
    if not schema:
        return []
    schema = _merged(schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:  # compared with the branches of the value's own type (an object with an object's, not null's)
        fitting = [branch for branch in branches if _admits(branch, body)] or branches
        candidates = [body_differences(branch, body, where) for branch in fitting]
        return min(candidates, key=len)
    if "const" in schema and body != schema["const"]:
        return [("unknown-value", where, json.dumps(schema["const"]), json.dumps(body))]
    if "enum" in schema and body not in schema["enum"]:
        return [("unknown-value", where, "one of " + ", ".join(map(json.dumps, schema["enum"])), json.dumps(body))]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not _type_matches(types, body):
            return [("changed-type", where, " or ".join(types), type_name(body))]
    found = []
    if isinstance(body, dict) and ("properties" in schema or "required" in schema):
        properties = schema.get("properties", {})
        found += [("missing-field", f"{where}.{name}", "present", "absent")
                  for name in schema.get("required", []) if name not in body]
        if "properties" in schema:
            found += [("extra-field", f"{where}.{name}", "not present", type_name(body[name]))
                      for name in body if name not in properties]
        for name, sub in properties.items():
            if name in body:
                found += body_differences(sub, body[name], f"{where}.{name}")
    if isinstance(body, list) and isinstance(schema.get("items"), dict):
        for item in body:
            found += [d for d in body_differences(schema["items"], item, f"{where}[]") if d not in found]
    return found


def response_differences(operation: Operation, response: httpx.Response, body_known: bool = True) -> list[Difference]:
    """How an answer departs from the pages' constraints for its operation (the spec without its assumptions:
    `response_notes` words what it does of those); `body_known=False`: its body was not kept (a recording that
    holds only its size), so only its status and headers are judged."""
    op_id, status = operation.operation_id, response.status_code
    if status not in operation.documented_statuses:
        return [Difference(op_id, "undocumented-status", "status", ", ".join(map(str, sorted(
            operation.documented_statuses))), str(status), status)]
    documented = pages_only(operation.responses[str(status)])
    found = []
    for name, header in (documented.get("headers") or {}).items():
        value = response.headers.get(name)
        if value is None and header.get("required"):
            found.append(Difference(op_id, "missing-header", f"header {name}", "present (required)", "absent", status))
        if value is not None and header.get("schema", {}).get("type") == "integer" and not value.strip().isdigit():
            found.append(Difference(op_id, "changed-header", f"header {name}", "integer", value, status))
    if "application/json" in (documented.get("content") or {}) and body_known:
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            return found + [Difference(op_id, "changed-content-type", "Content-Type", "application/json",
                                       content_type or "none", status)]
        body = json_value(response.content)
        if body is None:
            return found + [Difference(op_id, "changed-type", "body", f"JSON (nested at most {MAX_JSON_DEPTH} "
                                       "levels)", "not JSON, or nested deeper", status)]
        found += [Difference(op_id, *d, status) for d in body_differences(operation.response_schema(status), body)]
    return found


@dataclass
class OperationReport:
    operation_id: str
    outcome: str  # checked, skipped, unreachable (a network failure: never drift)
    note: str = ""
    differences: tuple[Difference, ...] = ()
    # what the server did of the spec's assumptions (a rule no page states; or the whole operation, an endpoint
    # only public clients show): information, never drift
    notes: tuple[str, ...] = ()


def _check_operation(target: Target, client: httpx.Client, operations: dict, operation: Operation,
                     webhook_url: str | None) -> OperationReport:
    body = request_example(operation.operation_id)
    if webhook_url:  # flux-mock delivers only to loopback; a live gateway gets the URLs as documented
        body = with_webhook(body, webhook_url)
    try:
        reserved = target.budget.spend(operation, body)
    except BudgetExceeded as reason:
        return OperationReport(operation.operation_id, "skipped", f"cost guard: {reason}")
    try:
        return _compare(target, client, operations, operation, body, reserved)
    except httpx.TransportError as error:  # a network failure is never drift
        return OperationReport(operation.operation_id, "unreachable", f"not reached: {type(error).__name__}: "
                               f"{error or 'no answer'}")


def _compare(target: Target, client: httpx.Client, operations: dict, operation: Operation, body,
             reserved: float = 0.0) -> OperationReport:
    response = client.post(operation.path, json=body,
                           headers={**target.headers_for(operation), **variant_headers(operation)})
    target.budget.settle(reserved, response.status_code)
    differences = response_differences(operation, response)
    differences += _url_differences(operation, response)
    polls = []
    if not differences and response.status_code < 300:
        polls = follow(client, operations, operation, response.status_code, response.json(), target.headers_for,
                       polls=target.polls, interval=target.pause_between_polls)
    for poll in polls:
        differences += [Difference(poll.operation.operation_id, "invalid-flow", problem.field, problem.expected,
                                   problem.got, poll.status_code) for problem in poll.problems if problem.check != SCHEMA]
        # (a poll's plain schema breaches are named by body_differences below, as changed-type, missing-field...)
        if poll.status_code not in poll.operation.documented_statuses:
            differences.append(Difference(poll.operation.operation_id, "undocumented-status", "status",
                                          "documented", str(poll.status_code), poll.status_code))
        elif isinstance(poll.body, (dict, list)):
            schema = poll.operation.response_schema(poll.status_code)
            differences += [Difference(poll.operation.operation_id, *d, poll.status_code)
                            for d in body_differences(schema, poll.body)]
            differences += url_differences(poll.operation, poll.status_code, poll.body, poll.url)
    if polls and polls[-1].status_code == 200 and not is_final(polls[-1].body):
        differences.append(Difference(polls[-1].operation.operation_id, "invalid-flow", "status",
                                      f"a final status within {target.polls} polls",
                                      json.dumps(polls[-1].body)[:200]))
    final = polls[-1].body if polls else (response.json() if response.status_code < 300 else None)
    said = expectations(final, image=operation.media == "image")
    for url in media_urls(final):
        media = client.get(url)
        if media.status_code != 200 or not media.content:
            differences.append(Difference(operation.operation_id, "media-unavailable", url, "200 with content",
                                          f"{media.status_code}, {len(media.content)} bytes"))
        elif url in said:
            differences += [Difference(operation.operation_id, "media-mismatch", f"{url} {problem.field}",
                                       problem.expected, problem.got)
                            for problem in media_problems(said[url], media.headers.get("content-type", ""),
                                                          media.content)]
    note = f"{len(polls)} status answers" if polls else ""
    notes = response_notes(operation, response.status_code, response.headers)
    if operation.spec == ASSUMED_SPEC:  # an endpoint on no page: how it departs from the assumption is a note
        notes += [f"an endpoint only public clients show (an assumption of the spec): {d.line()}"
                  for d in dict.fromkeys(differences)]
        differences = []
    return OperationReport(operation.operation_id, "checked", note, one_per_place(differences),
                           tuple(dict.fromkeys(notes)))


def _url_differences(operation: Operation, response: httpx.Response) -> list[Difference]:
    try:
        body = response.json()
    except ValueError:
        return []
    return url_differences(operation, response.status_code, body, str(response.request.url))


def submit_operations() -> list[Operation]:
    """Operations with a documented example request that starts something (status operations are reached by links)."""
    return [op for op in load_operations() if not op.is_status and request_example(op.operation_id) is not None]


def run_drift(target: Target, selected: list[str] | None = None) -> list[OperationReport]:
    operations = {op.operation_id: op for op in load_operations()}
    chosen = [op for op in submit_operations() if not selected or op.operation_id in selected]
    with target.prepared(), target.client() as client, contextlib.ExitStack() as stack:
        receiver = stack.enter_context(webhook_receiver()) if target.is_flux_mock else None
        return [_check_operation(target, client, operations, op, receiver and f"{receiver.url}/{op.operation_id}")
                for op in chosen]


def _difference(difference: Difference, verdict: "Verdict | None") -> dict:
    entry = verdict.accepted_by(difference) if verdict else None
    return {**asdict(difference), "severity": difference.severity,
            "accepted": {"reason": entry.reason, "expires": entry.expires.isoformat()} if entry else None,
            "used": verdict.use_of(difference) if verdict else None}


def to_json(reports: list[OperationReport], verdict: "Verdict | None" = None) -> str:
    """The reports, each difference with its severity and, if an accept entry matched it, why and until when."""
    return json.dumps([{**asdict(r), "differences": [_difference(d, verdict) for d in r.differences]}
                       for r in reports], indent=2)


def to_markdown(reports: list[OperationReport], source: str, spent: float | None = None,
                verdict: "Verdict | None" = None, fail_on: str = "risky") -> str:
    """The report, grouped by operation: `source` is the server's URL or the recording's file; `spent` what the
    run spent at documented prices (None: nothing was called); `verdict` what of it fails the run."""
    drifted = [r for r in reports if r.differences]
    cost = f"; spent ${spent:g}" if spent is not None else "; nothing called (a recording)"
    lines = [f"# API drift report: {source}", "",
             f"{len(reports)} operations, {len(drifted)} drifted, "
             f"{sum(r.outcome == 'skipped' for r in reports)} skipped, "
             f"{sum(r.outcome == 'unreachable' for r in reports)} not reached{cost}.", ""]
    if verdict is not None:
        lines += [verdict.summary(fail_on) + ".", ""]
    for report in reports:
        mark = "DRIFT" if report.differences else {"skipped": "skipped", "unreachable": "NOT REACHED"}.get(
            report.outcome, "ok")
        lines.append(f"## {report.operation_id}: {mark}" + (f" ({report.note})" if report.note else ""))
        for difference in report.differences:
            entry = verdict.accepted_by(difference) if verdict else None
            accepted = f" (accepted until {entry.expires}: {entry.reason})" if entry else ""
            use = verdict.use_of(difference) if verdict else None
            met = "" if use is None else " (the client met it)" if use else " (the client never met it)"
            lines.append(f"- [{difference.severity}] `{difference.operation_id}` {difference.line()}{met}{accepted}")
        lines += [f"- note: {note}" for note in report.notes]
        lines.append("")
    if verdict is not None and verdict.expired:
        lines += ["## Accept entries past their expiry (they accept nothing and fail the run)", ""]
        lines += [f"- {entry.line()}" for entry in verdict.expired] + [""]
    if verdict is not None and verdict.unused:
        lines += ["## Accept entries that matched nothing (remove them)", ""]
        lines += [f"- {entry.line()}" for entry in verdict.unused] + [""]
    return "\n".join(lines)


def to_junit(reports: list[OperationReport], verdict: "Verdict", source: str) -> str:
    """JUnit XML: a test case per operation, failed by its failing differences (accepted ones and those below
    --fail-on in its output), skipped when skipped, an error when not reached (never a failure)."""
    from xml.etree import ElementTree

    failing = {id(d) for d in verdict.failing}
    suite = ElementTree.Element("testsuite", name=f"flux-mock drift {source}", tests=str(len(reports)))
    counts = {"failures": 0, "skipped": 0, "errors": 0}
    for report in reports:
        case = ElementTree.SubElement(suite, "testcase", classname="flux-mock.drift", name=report.operation_id)
        bad = [d for d in report.differences if id(d) in failing]
        if report.outcome == "unreachable":
            ElementTree.SubElement(case, "error", message=report.note)
            counts["errors"] += 1
        elif report.outcome == "skipped":
            ElementTree.SubElement(case, "skipped", message=report.note)
            counts["skipped"] += 1
        elif bad:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(bad)} differences: {bad[0].line()}")
            failure.text = "\n".join(f"[{d.severity}] {d.line()}" for d in bad)
            counts["failures"] += 1
        others = [d for d in report.differences if id(d) not in failing]
        if others:
            ElementTree.SubElement(case, "system-out").text = "\n".join(
                f"[{d.severity}] {d.line()}" + (" (accepted)" if verdict.accepted_by(d) else " (below --fail-on)")
                for d in others)
    suite.attrib.update({name: str(count) for name, count in counts.items()})
    return ElementTree.tostring(suite, encoding="unicode")
