"""Request validation against the spec, with validators compiled once per operation at start-up.

A violation names the field and says what is wrong; where the spec gives the page's exact message
(`x-error-messages`, Kontext), that message is the answer's `error`, as the page documents it.

Only the pages' constraints refuse a request: a constraint the spec assumes (`x-assumed`, operations/assumptions.py)
is checked apart, and a request that breaks only assumptions is taken, as a lenient gateway would take it,
with each broken assumption journaled (`RequestJudgement.assumptions`).
"""

import json
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qs

import jsonschema_rs

from mock_server.errors import BadRequest
from mock_server.operations import Operation
from mock_server.operations.assumptions import ASSUMED, has_assumptions, pages_only
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
        widened = _widened_to_the_gateway(schema, operation.lenient) if schema else {}
        self._checked = pages_only(widened)  # the pages' constraints: what refuses a request
        self._body = _compile(self._checked) if schema else None
        # with the spec's assumptions too (None where it assumes nothing): a body it refuses but the pages' constraints
        # take breaks only assumptions
        self._assumed = _compile(widened) if schema and has_assumptions(widened) else None
        self._widened = widened
        self._schema = schema or {}
        self._fields = _properties(self._schema)
        self._headers = [_HeaderCheck.of(p) for p in operation.parameters if p.get("in") == "header" and "schema" in p]
        self._headers = [check for check in self._headers if check.checks_anything]
        self.accepts_webhook_header = any(p.get("in") == "header" and p["name"] == WEBHOOK_HEADER
                                   for p in operation.parameters)
        self.webhook_fields = tuple(name for name in WEBHOOK_BODY_FIELDS if name in self._fields)
        # webhook targets whose URL form is this spec's assumption (a non-URL is taken, and noted), not a page's
        self._assumed_webhook_forms = frozenset(
            [WEBHOOK_HEADER] * any(p.get("name") == WEBHOOK_HEADER and "format" in (p["schema"].get(ASSUMED) or ())
                                   for p in operation.parameters if "schema" in p)
            + [name for name in self.webhook_fields if "format" in (self._fields[name].get(ASSUMED) or ())])
        self._defaults = {name: spec["default"] for name, spec in self._fields.items() if "default" in spec}
        self._query = [(p["name"], p["schema"], _compile(p["schema"])) for p in operation.parameters
                       if p.get("in") == "query" and "schema" in p]
        # no body, no header to check and no webhook header: every request is judged alike, with nothing found
        self._judges_nothing = not self.has_body and not self._headers and not self.accepts_webhook_header

    def _documented_message(self, field: str, keyword: str) -> str | None:
        messages = (self._fields.get(field, {}) if field else self._schema).get("x-error-messages") or {}
        return messages.get(keyword) or messages.get("*")

    def _violation(self, error, schema: dict | None = None) -> Violation:
        """The violation an error of a validator of `schema` (the pages' constraints unless given) reports."""
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
            allowed = self._schema_at(error.schema_path, schema).get("enum", ())
            message = f"{json.dumps(error.instance)[:100]} is not one of {', '.join(json.dumps(v) for v in allowed)}"
        elif keyword in ("anyOf", "oneOf"):  # name each form it may take, not "any of the schemas listed"
            forms = [_form(branch) for branch in self._schema_at(error.schema_path, schema).get(keyword, ())]
            if forms and all(forms):
                message = f"{json.dumps(error.instance)[:100]} is none of: {'; '.join(forms)}"
        return Violation(field, keyword, message, self._documented_message(top, keyword))

    def _schema_at(self, schema_path, schema: dict | None = None) -> dict:
        """The subschema an error's schema path leads to, minus the failing keyword."""
        node = self._checked if schema is None else schema
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

    def _fits_assumptions(self, body) -> bool:
        """Valid by the stricter schema, the spec's assumptions included (the common case: then valid by the
        pages' constraints too, with nothing to note)."""
        return isinstance(body, dict) and (self._assumed or self._body).is_valid(body)

    def body_violations(self, body, fits: bool | None = None) -> list[Violation]:
        if self._body is None:
            return []
        if not isinstance(body, dict):
            return [Violation("", "type", "the request body must be a JSON object")]
        if self._fits_assumptions(body) if fits is None else fits:
            return []
        return [self._violation(error) for error in self._body.iter_errors(body)]

    def assumption_breaches(self, headers, body, fits: bool | None = None) -> list[str]:
        """What a request the pages' constraints take breaks of this spec's assumptions (each field and rule)."""
        found = []
        fits = (self._body is None or self._fits_assumptions(body)) if fits is None else fits
        if self._assumed is not None and isinstance(body, dict) and not fits:
            found += [str(self._violation(error, self._widened))[:300] for error in self._assumed.iter_errors(body)]
        for check in self._headers:
            value = headers.get(check.name.lower())
            if check.name in self._assumed_webhook_forms:
                continue  # said, better, by webhook_assumption_breaches
            if value is not None and check.assumed is not None and not check.assumed.is_valid(value):
                found += [f"{check.name}: {error.message[:200]}" for error in check.assumed.iter_errors(value)]
        return [f"{breach} (this spec's assumption; no page states it)" for breach in found]

    def header_violations(self, headers) -> list[Violation]:
        found = []
        for check in self._headers:
            value = headers.get(check.name.lower())
            if value is None:
                if check.required:
                    found.append(Violation(check.name, "required", "header is required"))
                continue
            if check.pages is not None and not check.pages.is_valid(value):
                found += [Violation(check.name, "header", error.message) for error in check.pages.iter_errors(value)]
        return found

    def _webhook_targets(self, headers, body) -> list[tuple[str, object]]:
        targets = [(WEBHOOK_HEADER, headers.get(WEBHOOK_HEADER.lower()))] if self.accepts_webhook_header else []
        if isinstance(body, dict):
            targets += [(name, body.get(name)) for name in self.webhook_fields]
        return targets

    def webhook_violations(self, targets: list[tuple[str, object]]) -> list[Violation]:
        """Webhook URLs (of `_webhook_targets`) no API would take: not http(s), no host, or over 2,048 characters,
        where a page states the rule (Kontext's "Invalid webhook URL"). Any other URL is accepted, as the API
        accepts it; whether the mock calls it is the dispatcher's decision."""
        return [Violation(name, "webhook-target", f"{url[:200]} {problem}", self._documented_message(name, "format"))
                for name, url in targets if name not in self._assumed_webhook_forms
                and isinstance(url, str) and (problem := url_problem(url))]

    def webhook_assumption_breaches(self, targets: list[tuple[str, object]]) -> list[str]:
        """Webhook targets (of `_webhook_targets`) no API would take where their form is only this spec's
        assumption: taken (an empty one as none), never called, noted."""
        return [f"{name}: {url[:200] or 'empty'} {problem}: taken, never called (this spec's assumption; no page "
                "states it)" for name, url in targets
                if name in self._assumed_webhook_forms and isinstance(url, str) and (problem := url_problem(url))]

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
            return next((body[name] for name in self.webhook_fields if isinstance(body.get(name), str)
                         and body[name]), None)
        return None

    def judge(self, headers, body, strict: bool = False) -> "RequestJudgement":
        """Every way the request breaks the pages' constraints (its headers, its body; in `strict`, its undocumented
        fields too; its webhook URLs once the rest holds), its undocumented fields, what was accepted only as the
        gateway accepts it, and, for a request the rules take, the spec's assumptions it breaks. The one
        judgement of a request: the mock's of a live one, and a recording's."""
        if self._judges_nothing and body is None:  # a status poll: nothing it sends is judged
            return NOTHING_FOUND
        leniencies = self.gateway_leniencies(body)
        fits = self._body is not None and self._fits_assumptions(body)  # validated once for both questions
        violations = self.header_violations(headers) + self.body_violations(body, fits)
        undocumented = self.undocumented_fields(body)
        if strict:
            violations += [Violation(name, "additionalProperties", "is not a documented field") for name in undocumented]
        targets = self._webhook_targets(headers, body)
        if not violations:
            violations += self.webhook_violations(targets)
        assumptions = []
        if not violations:
            assumptions = self.assumption_breaches(headers, body, fits or self._body is None) + \
                self.webhook_assumption_breaches(targets)
            if self.has_body and body is not None and _media_type(headers) not in JSON_MEDIA_TYPES:
                assumptions.append(f"Content-Type: {_media_type(headers) or 'none'}: read as JSON (every page sends "
                                   "application/json; none says what a server does without it)")
        return RequestJudgement(violations, undocumented, leniencies, assumptions)

    def undocumented_fields(self, body) -> list[str]:
        if not isinstance(body, dict) or not self._fields or self._fields.keys() >= body.keys():
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
    assumptions: list[str] = []  # the spec's assumptions a request the pages' constraints take breaks


NOTHING_FOUND = RequestJudgement((), (), (), ())


@dataclass(frozen=True)
class _HeaderCheck:
    """One header parameter's checks: by the pages' constraints (None: text of any value), and with the spec's
    assumptions (None: it assumes nothing of it)."""

    name: str
    required: bool
    pages: object
    assumed: object

    @classmethod
    def of(cls, parameter: dict) -> "_HeaderCheck":
        schema = parameter["schema"]
        pages = pages_only(schema)
        # A header is text: a schema of {type: string} alone accepts every value, so it needs no check.
        checked = {key: value for key, value in pages.items() if not key.startswith("x-")} != {"type": "string"}
        return cls(parameter["name"], parameter.get("required", False), _compile(pages) if checked else None,
                   _compile(schema) if has_assumptions(schema) else None)

    @property
    def checks_anything(self) -> bool:
        return self.required or self.pages is not None or self.assumed is not None


JSON_MEDIA_TYPES = ("application/json",)


def _media_type(headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


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
