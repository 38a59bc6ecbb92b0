"""Scenario rules: match a request (path, operation, key, prompt text) -> an outcome, once, N times or always.

Outcomes: `status` (answer that documented error now), `job` (COMPLETED / FAILED / ERROR final state
of the job it creates) with `error`, `latency` (extra seconds), `drop_connection`, and `variant`
(another documented answer shape: flux-pro-legacy, getdata-job). Rules come from the config file
and the admin API; a request's `Prefer` header (Prism-compatible `code=429`, plus `job=`,
`latency=`, `variant=`) overrides them for that request.
"""

import itertools
from dataclasses import dataclass, field

import jsonschema_rs

from mock_server.errors import BadRequest
from mock_server.settings import ConfigError
from mock_server.spec.loader import ADMIN_SPEC, load_bundled


def _rule_validator():
    return jsonschema_rs.validator_for(load_bundled(ADMIN_SPEC)["components"]["schemas"]["Scenario"])


@dataclass
class Rule:
    id: str
    match: dict
    outcome: dict
    times: int | None
    source: str
    remaining: int | None = field(default=None)

    def __post_init__(self):
        self.remaining = self.times

    def matches(self, operation_id: str, path: str, key: str | None, prompt: str | None) -> bool:
        wanted = self.match
        return (
            self.remaining != 0
            and wanted.get("operation_id", operation_id) == operation_id
            and wanted.get("path", path) == path
            and wanted.get("key", key) == key
            and ("prompt_contains" not in wanted
                 or (prompt is not None and wanted["prompt_contains"].lower() in prompt.lower()))
        )

    def to_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "match": self.match, "outcome": self.outcome,
                "times": self.times, "remaining": self.remaining}


class Scenarios:
    def __init__(self, config_rules=()) -> None:
        self._validator = _rule_validator()
        self._ids = itertools.count(1)
        self._config_data = tuple(config_rules)
        self._config = [self._rule(data, "config", ConfigError) for data in config_rules]
        self._runtime: list[Rule] = []

    def _rule(self, data, source: str, error=BadRequest) -> Rule:
        problems = [f"{'.'.join(map(str, e.instance_path)) or 'rule'}: {e.message}"
                    for e in self._validator.iter_errors(data)]
        if problems:
            raise error(f"invalid scenario rule: {'; '.join(problems)}")
        return Rule(id=f"{source}-{next(self._ids)}", match=data.get("match") or {}, outcome=data["outcome"],
                    times=data.get("times"), source=source)

    def add(self, data) -> Rule:
        rule = self._rule(data, "admin")
        self._runtime.append(rule)
        return rule

    def select(self, operation_id: str, path: str, key: str | None, prompt: str | None) -> Rule | None:
        """The first rule matching this request, with one use taken from it."""
        for rule in itertools.chain(self._config, self._runtime):
            if rule.matches(operation_id, path, key, prompt):
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None

    @property
    def active(self) -> bool:
        """True while any rule might still apply (a cheap test for the request hot path)."""
        return bool(self._config or self._runtime)

    def rules(self) -> list[Rule]:
        return [*self._config, *self._runtime]

    def delete(self, rule_id: str) -> bool:
        before = len(self._runtime)
        self._runtime = [rule for rule in self._runtime if rule.id != rule_id]
        return len(self._runtime) < before

    def clear(self) -> None:
        self._runtime.clear()

    def reset(self) -> None:
        self._runtime.clear()
        for rule in self._config:
            rule.remaining = rule.times


_PREFER_FIELDS = {"code": ("status", int), "job": ("job", str.upper), "latency": ("latency", float),
                  "variant": ("variant", str), "error": ("error", str), "webhook": ("webhook", str)}
_WEBHOOK_PREFERENCES = {"duplicate": "duplicate", "out-of-order": "out_of_order",
                        "timeout-first": "first_attempt_timeout"}


def parse_prefer(value: str | None) -> dict:
    """The outcome a `Prefer` header asks for: `code=429, latency=1.5`; unknown preferences are ignored."""
    outcome = {}
    for part in (value or "").replace(";", ",").split(","):
        name, _, raw = part.strip().partition("=")
        if name.lower() in _PREFER_FIELDS and raw:
            target, convert = _PREFER_FIELDS[name.lower()]
            try:
                outcome[target] = convert(raw.strip().strip('"'))
            except ValueError:
                raise BadRequest(f"Prefer: {name}={raw.strip()} is not a valid value") from None
    if outcome.get("job") not in (None, "COMPLETED", "FAILED", "ERROR"):
        raise BadRequest("Prefer: job= must be COMPLETED, FAILED or ERROR")
    if not 0 <= outcome.get("latency", 0) <= 600:
        raise BadRequest("Prefer: latency= must be between 0 and 600 seconds")
    if "webhook" in outcome:
        name = outcome["webhook"]
        if name not in _WEBHOOK_PREFERENCES:
            raise BadRequest(f"Prefer: webhook= must be one of {', '.join(_WEBHOOK_PREFERENCES)}")
        outcome["webhook"] = {_WEBHOOK_PREFERENCES[name]: True}
    return outcome
