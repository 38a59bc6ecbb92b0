"""What the spec assumes beyond the pages, judged as notes, never as failures (the pages are the contract): each
assumed constraint of a request is probed (one request breaking only it, made from the operation's documented
example) and the server's answer noted ("accepts num_steps 0; the pages state no minimum"); an answer that
keeps the pages' constraints but not an assumption of the spec (a 429 without Retry-After) is noted too, and so is a
server refusing a generated case the pages allow but an assumption rules out (num_steps -3: keeping an assumption
is a server's right).

Pure where it can be: `probes` makes the requests, `probe_note`, `response_notes` and `refusal_notes` word what
came back."""

import copy
import json
from dataclasses import dataclass

from contract_tests.checks import schema_validator
from contract_tests.flow import ABOUT_THE_CALLER
from mock_server.operations import Operation
from mock_server.operations.assumptions import ASSUMED, Assumed, assumed_constraints

UNSET = object()


@dataclass(frozen=True)
class Probe:
    """One request that breaks one assumption of the spec and nothing else."""

    assumed: Assumed
    body: object
    headers: dict
    breaking: str  # the value sent, in words

    def note(self, status: int, answer: str = "") -> str:
        if status in ABOUT_THE_CALLER:  # the key was answered, not the value: nothing was learnt of the assumption
            return (f"could not probe {self.assumed.field} {self.breaking}: answered {status} about the caller "
                    f"({ABOUT_THE_CALLER[status]}); the spec assumes {self.assumed.keyword} "
                    f"{_shown(self.assumed.value)}, which no page states (a note, never a failure)")
        taken = 200 <= status < 300
        what = "accepts" if taken else f"refuses ({status}{': ' + answer[:120] if answer else ''})"
        return (f"{what} {self.assumed.field} {self.breaking}: the spec assumes {self.assumed.keyword} "
                f"{_shown(self.assumed.value)}, which no page states (a note, never a failure)")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def breaking_value(keyword: str, value):
    """A value that breaks `keyword: value` of the spec (UNSET where none is made), and it in words."""
    if keyword == "minimum" and isinstance(value, (int, float)):
        return value - 1, f"= {value - 1!r}"
    if keyword == "exclusiveMinimum" and isinstance(value, (int, float)):
        return value, f"= {value!r}"
    if keyword == "minLength" and isinstance(value, int) and value > 0:
        return "", '= "" (empty)'
    if keyword in ("format", "anyOf", "pattern"):
        return "not a URL!", '= "not a URL!"'
    if keyword == "enum":
        return "not-a-listed-value", '= "not-a-listed-value"'
    if keyword == "type":
        return 1, "= 1 (not an object)"
    return UNSET, ""


def _with_field(body, path: str, value):
    """`body` with the field at a dotted path (`[]`: a list's items, made one item) set to `value`."""
    body = copy.deepcopy(body) if isinstance(body, dict) else {}
    node, parts = body, path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part.removesuffix("[]"), {})
    last = parts[-1]
    if last.endswith("[]"):
        node[last.removesuffix("[]")] = [value]
    else:
        node[last] = value
    return body


def probes(operation: Operation, example) -> list[Probe]:
    """One probe per assumed constraint of the operation's request (body fields and header parameters)."""
    found = []
    for assumed in assumed_constraints(operation.request_schema or {}):
        value, words = breaking_value(assumed.keyword, assumed.value)
        if value is not UNSET and assumed.field:
            found.append(Probe(assumed, _with_field(example, assumed.field, value), {}, words))
    for parameter in operation.parameters:
        if parameter.get("in") != "header":
            continue
        for assumed in assumed_constraints(parameter.get("schema") or {}, parameter["name"]):
            value, words = breaking_value(assumed.keyword, assumed.value)
            if value is not UNSET:
                found.append(Probe(assumed, copy.deepcopy(example), {parameter["name"]: str(value)}, words))
    return found


def _values_at(node, path: str) -> list:
    """The values at a dotted field path of a body (`[]`: each item of a list); none where it is absent."""
    values = [node]
    for part in path.split("."):
        name, each = part.removesuffix("[]"), part.endswith("[]")
        values = [value[name] for value in values if isinstance(value, dict) and name in value]
        if each:
            values = [item for value in values if isinstance(value, list) for item in value]
    return values


def broken_assumptions(operation: Operation, headers, body) -> list[Assumed]:
    """The assumed constraints of the operation's request (body fields and header parameters) a request breaks."""
    sent = {str(name).lower(): value for name, value in (headers or {}).items()}
    found = [(assumed, _values_at(body, assumed.field))
             for assumed in assumed_constraints(operation.request_schema or {}) if assumed.field]
    for parameter in operation.parameters:
        if parameter.get("in") == "header" and parameter["name"].lower() in sent:
            found += [(assumed, [sent[parameter["name"].lower()]])
                      for assumed in assumed_constraints(parameter.get("schema") or {}, parameter["name"])]
    return [assumed for assumed, values in found
            if any(not schema_validator(json.dumps({assumed.keyword: assumed.value}, sort_keys=True)).is_valid(value)
                   for value in values)]


def refusal_notes(operation: Operation, headers, body, status: int) -> list[str]:
    """A generated case the pages allow, refused (4xx) where it breaks assumptions of the spec: a server keeping what
    the spec assumes is no breach of the pages, so it is a note naming what the case broke, not a rejected request."""
    broken = broken_assumptions(operation, headers, body) \
        if 400 <= status < 500 and status not in ABOUT_THE_CALLER else []
    if not broken:
        return []
    what = " and ".join(f"{assumed.field} {assumed.keyword} {_shown(assumed.value)}" for assumed in broken)
    return [f"refuses ({status}) a generated case the pages allow but that breaks {what}: the spec assumes "
            f"{'it' if len(broken) == 1 else 'them'}, which no page states (a note, never a failure)"]


def response_notes(operation: Operation, status: int, headers) -> list[str]:
    """What an answer keeps of the pages' constraints but not of the spec's assumptions: an assumed required header
    left out (a 429's Retry-After)."""
    documented = (operation.responses.get(str(status)) or {}).get("headers") or {}
    sent = {str(name).lower() for name in headers.keys()}  # httpx's headers, or schemathesis' (lower-case names)
    return [f"a {status} without {name}: the spec assumes it ({' '.join(str(header.get('x-assumption', '')).split())}"
            f"), which no page states (a note, never a failure)"
            for name, header in documented.items() if "required" in (header.get(ASSUMED) or ())
            and header.get("required") and name.lower() not in sent]
