"""Request validation against the spec, with validators compiled once per operation at start-up.

A violation names the field and says what is wrong; where the spec gives the page's exact message
(`x-error-messages`, Kontext), that message is the answer's `error`, as the page documents it.
"""

import json
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qs

import jsonschema_rs

from mock_server.errors import BadRequest
from mock_server.operations import Operation
from mock_server.store.records import WEBHOOK_BODY_FIELDS, WEBHOOK_HEADER
from mock_server.webhooks.targets import url_problem


@dataclass(frozen=True)
class Violation:
    field: str
    keyword: str
    message: str
    documented_error: str | None = None

    def __str__(self) -> str:
        if self.keyword in ("required", "additionalProperties"):
            return f"{self.field} {self.message}"
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_error(self, others: "list[Violation]" = ()) -> BadRequest:
        """The 400 for this violation; with `others`, every violation is listed in the answer's `violations`."""
        listed = [str(violation) for violation in (self, *others)] if others else None
        if self.documented_error:
            return BadRequest(error=self.documented_error, violations=listed)
        return BadRequest(str(self), violations=listed)


def first_error(violations: "list[Violation]") -> BadRequest:
    """The 400 of a request with these violations: the first in `message`, all of them in `violations`."""
    return violations[0].to_error(violations[1:])


def _properties(schema: dict) -> dict:
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        found.update(_properties(part))
    return found


def documented_fields(operation: Operation) -> tuple[str, ...]:
    """The request body fields the spec documents for this operation."""
    return tuple(_properties(operation.request_schema or {}))


def _compile(schema: dict):
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def _widened_to_the_gateway(schema: dict, lenient: dict) -> dict:
    """The request schema the mock checks: the pages', with each x-flux-mock.lenient field's enum widened to
    the range the real gateway accepts (`OperationValidator.gateway_leniencies` rounds and journals it)."""
    if not lenient:
        return schema
    properties = dict(schema.get("properties", {}))
    for name, rule in lenient.items():
        documented = {key: value for key, value in properties.get(name, {}).items() if key != "enum"}
        properties[name] = {**documented, "minimum": rule["minimum"], "maximum": rule["maximum"]}
    return {**schema, "properties": properties}


class OperationValidator:
    """The compiled checks of one operation: its JSON body and its header parameters."""

    def __init__(self, operation: Operation) -> None:
        schema = operation.request_schema
        self.has_body = schema is not None
        self._lenient = operation.lenient
        self._checked = _widened_to_the_gateway(schema, operation.lenient) if schema else {}
        self._body = _compile(self._checked) if schema else None
        self._schema = schema or {}
        self._fields = _properties(self._schema)
        # A header is text: a schema of {type: string} alone accepts every value, so it needs no check.
        self._headers = [(p["name"], _compile(p["schema"]), p.get("required", False))
                         for p in operation.parameters if p.get("in") == "header" and "schema" in p
                         and (p.get("required") or {k: v for k, v in p["schema"].items()
                                                    if not k.startswith("x-")} != {"type": "string"})]
        self.accepts_webhook_header = any(p.get("in") == "header" and p["name"] == WEBHOOK_HEADER
                                   for p in operation.parameters)
        self._webhook_fields = tuple(name for name in WEBHOOK_BODY_FIELDS if name in self._fields)
        self._defaults = {name: spec["default"] for name, spec in self._fields.items() if "default" in spec}
        self._query = [(p["name"], p["schema"], _compile(p["schema"])) for p in operation.parameters
                       if p.get("in") == "query" and "schema" in p]

    def _documented_message(self, field: str, keyword: str) -> str | None:
        messages = (self._fields.get(field, {}) if field else self._schema).get("x-error-messages") or {}
        return messages.get(keyword) or messages.get("*")

    def _violation(self, error) -> Violation:
        keyword = str(error.schema_path[-1]) if error.schema_path else ""
        path = [str(part) for part in error.instance_path]
        field = ".".join(path)
        if keyword == "required":
            missing = error.kind.as_dict().get("property") if hasattr(error.kind, "as_dict") else None
            missing = missing if isinstance(missing, str) else error.message.split('"')[1]
            documented = self._documented_message(missing, "required") or self._documented_message("", "required")
            return Violation(missing, keyword, "is required", documented)
        top = path[0] if path else ""
        message = error.message
        if keyword == "enum":  # name every allowed value, not "or 4 other candidates"
            allowed = self._schema_at(error.schema_path).get("enum", ())
            message = f"{json.dumps(error.instance)[:100]} is not one of {', '.join(json.dumps(v) for v in allowed)}"
        elif keyword in ("anyOf", "oneOf"):  # name each form it may take, not "any of the schemas listed"
            forms = [_form(branch) for branch in self._schema_at(error.schema_path).get(keyword, ())]
            if forms and all(forms):
                message = f"{json.dumps(error.instance)[:100]} is none of: {'; '.join(forms)}"
        return Violation(field, keyword, message, self._documented_message(top, keyword))

    def _schema_at(self, schema_path) -> dict:
        """The subschema an error's schema path leads to, minus the failing keyword."""
        node = self._checked
        for part in list(schema_path)[:-1]:
            try:
                node = node[int(part)] if isinstance(node, list) else node[str(part)]
            except (KeyError, IndexError, ValueError, TypeError):
                return {}
        return node if isinstance(node, dict) else {}

    def gateway_leniencies(self, body) -> list[str]:
        """A lenient field's value off the pages' list but in the range the real gateway takes: rounded down in
        `body` as the gateway does; what was taken so, for the journal."""
        taken = []
        if not self._lenient or not isinstance(body, dict):
            return taken
        for name, rule in self._lenient.items():
            value, allowed = body.get(name), self._fields.get(name, {}).get("enum", ())
            if type(value) is int and value not in allowed and rule["minimum"] <= value <= rule["maximum"]:
                body[name] = kept = value - value % rule.get("multiple_of", 1)
                taken.append(f"{name}: {value} is not one of {', '.join(map(str, allowed))} (the pages); the gateway "
                             f"accepts it and makes it {kept}")
        return taken

    def body_violations(self, body) -> list[Violation]:
        if self._body is None:
            return []
        if not isinstance(body, dict):
            return [Violation("", "type", "the request body must be a JSON object")]
        if self._body.is_valid(body):
            return []
        return [self._violation(error) for error in self._body.iter_errors(body)]

    def header_violations(self, headers) -> list[Violation]:
        found = []
        for name, validator, required in self._headers:
            value = headers.get(name.lower())
            if value is None:
                if required:
                    found.append(Violation(name, "required", "header is required"))
                continue
            if not validator.is_valid(value):
                found += [Violation(name, "header", error.message) for error in validator.iter_errors(value)]
        return found

    def webhook_violations(self, headers, body) -> list[Violation]:
        """Webhook URLs no API would take: not http(s), no host, or over 2,048 characters. Any other URL
        is accepted, as the API accepts it; whether the mock calls it is the dispatcher's decision."""
        if not (self.accepts_webhook_header or self._webhook_fields):
            return []
        targets = [(WEBHOOK_HEADER, headers.get(WEBHOOK_HEADER.lower()))] if self.accepts_webhook_header else []
        if isinstance(body, dict):
            targets += [(name, body.get(name)) for name in self._webhook_fields]
        return [Violation(name, "webhook-target", f"{url[:200]} {problem}", self._documented_message(name, "format"))
                for name, url in targets if isinstance(url, str) and (problem := url_problem(url))]

    def query_violations(self, query) -> list[Violation]:
        """Query parameters, read as the type their schema gives (a query string is text on the wire)."""
        found = []
        for name, schema, validator in self._query:
            raw = query.get(name)
            if raw is None:
                continue
            try:
                value = _from_query(raw, schema.get("type"))
            except ValueError:
                found.append(Violation(name, "type", f"{raw!r} is not a {schema.get('type')}"))
                continue
            if not validator.is_valid(value):
                found += [Violation(name, "query", error.message) for error in validator.iter_errors(value)]
        return found

    def webhook_url(self, headers, body) -> str | None:
        """The webhook URL the request asks for, where the operation documents one: the header first, then the
        documented body fields; None when it asks for none."""
        header = headers.get(WEBHOOK_HEADER.lower()) if self.accepts_webhook_header else None
        if header:
            return header
        if isinstance(body, dict):
            return next((body[name] for name in self._webhook_fields if isinstance(body.get(name), str)
                         and body[name]), None)
        return None

    def judge(self, headers, body, strict: bool = False) -> "RequestJudgement":
        """Every way the request breaks the spec (its headers, its body; in `strict`, its undocumented fields too;
        its webhook URLs once the rest holds), its undocumented fields, and what was accepted only as the
        gateway accepts it. The one judgement of a request: the mock's of a live one, and a recording's."""
        leniencies = self.gateway_leniencies(body)
        violations = self.header_violations(headers) + self.body_violations(body)
        undocumented = self.undocumented_fields(body)
        if strict:
            violations += [Violation(name, "additionalProperties", "is not a documented field") for name in undocumented]
        if not violations:
            violations += self.webhook_violations(headers, body)
        return RequestJudgement(violations, undocumented, leniencies)

    def undocumented_fields(self, body) -> list[str]:
        if not isinstance(body, dict) or not self._fields:
            return []
        return sorted(key for key in body if key not in self._fields)

    def with_defaults(self, body: dict) -> dict:
        """The body's documented fields over the spec's documented defaults. Undocumented fields are left
        out: they are journaled (or, in strict mode, rejected) but never change what the mock does."""
        return {**self._defaults, **{name: value for name, value in body.items() if name in self._fields}}


class RequestJudgement(NamedTuple):
    violations: list[Violation]
    undocumented: list[str]
    leniencies: list[str]


SUBSCRIPTION_KEY_HEADER = "ocp-apim-subscription-key"
QUERY_KEY_LENIENCY = ("query.subscription-key: the key as a query parameter (the pages document only the "
                      "Ocp-Apim-Subscription-Key header)")


def key_in_query(query: bytes | str) -> str | None:
    """The key a request carries in the `subscription-key` query parameter, as the gateway (APIM) takes it
    (the pages document only the header); None without one."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    if "subscription-key=" not in text:
        return None
    return next(iter(parse_qs(text).get("subscription-key") or ()), None) or None


def _from_query(raw: str, kind):
    if kind == "integer":
        if not raw.lstrip("-").isdigit():
            raise ValueError(raw)
        return int(raw)
    if kind == "number":
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(raw)
        return value
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(raw)
        return raw == "true"
    return raw


def _form(branch) -> str | None:
    """One alternative of an anyOf / oneOf in words, where it is a simple one (None otherwise)."""
    if not isinstance(branch, dict):
        return None
    if "enum" in branch:
        return "one of " + ", ".join(json.dumps(value) for value in branch["enum"])
    if "pattern" in branch:
        return f"a string matching {branch['pattern']}"
    if branch.get("format"):
        return {"uri": "a URI"}.get(branch["format"], f"a {branch['format']} string")
    return None
