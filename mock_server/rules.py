"""Rules (per-test answers; the pages' own rules are constraints): match a request (path, operation, key, prompt text, body fields, headers) -> an outcome, or a
sequence of outcomes in turn (the last repeating), once, N times or always.

Outcomes: `status` (answer that documented error now), `job` (COMPLETED / FAILED / ERROR final state
of the job it creates) with `error`, `latency` (extra seconds), `drop_connection`, and `variant`
(another documented answer shape: one of the response variants the specs name). Rules come from the config file
and the admin API; a request's `Prefer` header (Prism-compatible `code=429`, plus `job=`,
`latency=`, `variant=`) overrides them for that request: outcome.py merges the two into one `Outcome`.
"""

import itertools
import uuid
from dataclasses import dataclass
from functools import cache, cached_property

import jsonschema_rs

from mock_server.answers.examples import named_examples
from mock_server.bodies import field_at
from mock_server.errors import BadRequest
from mock_server.forced import forceable_statuses
from mock_server.routes import named_variants
from mock_server.exit_codes import ConfigError
from mock_server.operations.documents import ADMIN_SPEC, load_bundled

MAX_RULES = 1000  # rules added at run time (every request is matched against each)


def _rule_validator():
    return jsonschema_rs.validator_for(load_bundled(ADMIN_SPEC)["components"]["schemas"]["Rule"])


def _outcome(item) -> dict:
    """A sequence item as an outcome: a number is a status (200: the mock's own answer)."""
    if isinstance(item, (int, float)) and not isinstance(item, bool):  # 429.0 is JSON's 429 too
        return {} if int(item) == 200 else {"status": int(item)}
    return item


@dataclass(frozen=True)
class Rule:
    id: str
    match: dict
    outcome: dict | None
    times: int | None
    source: str
    sequence: tuple | None = None  # outcomes for the matching requests in turn, the last repeating

    @cached_property
    def needle(self) -> str | None:
        """`prompt_contains` in lower case (matching ignores case), made once per rule."""
        wanted = self.match.get("prompt_contains")
        return None if wanted is None else wanted.lower()

    @cached_property
    def outcomes(self) -> tuple[dict, ...]:
        """Every outcome it can give: its one outcome, or each of its sequence."""
        return tuple(map(_outcome, self.sequence)) if self.sequence else (self.outcome,)

    def outcome_of_use(self, use: int) -> dict:
        """The outcome of its `use`-th application (from 1): the sequence's, the last repeating."""
        return self.outcomes[min(use, len(self.outcomes)) - 1]

    def matches(self, operation_id: str, path: str, key: str | None, lowered_prompt, body=None,
                headers: dict | None = None) -> bool:
        """`lowered_prompt()`: the request's prompt in lower case or None, computed once per request by the
        caller (lowering a 1 MB prompt for each of 1,000 rules took 0.4 s)."""
        wanted = self.match
        return (
            wanted.get("operation_id", operation_id) == operation_id
            and wanted.get("path", path) == path
            and wanted.get("key", key) == key
            and (self.needle is None or ((prompt := lowered_prompt()) is not None and self.needle in prompt))
            and all(field_at(body, field) == value for field, value in (wanted.get("body") or {}).items())
            and all((headers or {}).get(name.lower()) == value for name, value in (wanted.get("headers") or {}).items())
        )

    def to_record(self) -> dict:
        return {"id": self.id, "source": self.source, "match": self.match, "outcome": self.outcome,
                "times": self.times, "sequence": list(self.sequence) if self.sequence else None}

    def to_dict(self, used: int) -> dict:
        remaining = None if self.times is None else max(0, self.times - used)
        record = {name: value for name, value in self.to_record().items() if value is not None or name == "times"}
        return {**record, "remaining": remaining}


class Rules:
    """Config-file rules (the same on every instance, numbered config-1, config-2, ...) and rules added
    at run time, which live in the runtime store with every rule's uses: one mock, however many
    instances."""

    def __init__(self, config_rules, store, operations=()) -> None:
        self._validator = _rule_validator()
        self._store = store
        self._answers = _answers(operations)
        self._config = [self._rule(data, f"config-{number}", "config", ConfigError)
                        for number, data in enumerate(config_rules, 1)]
        self._runtime: list[Rule] = []
        self._version: int | None = None

    def _rule(self, data, rule_id: str, source: str, error=BadRequest) -> Rule:
        problems = [f"{'.'.join(map(str, e.instance_path)) or 'rule'}: {e.message}"
                    for e in self._validator.iter_errors(data)]
        if problems:
            raise error(f"invalid rule: {'; '.join(problems)}")
        sequence = tuple(data["sequence"]) if data.get("sequence") else None
        rule = Rule(id=rule_id, match=data.get("match") or {}, outcome=data.get("outcome") if not sequence else None,
                    times=data.get("times"), source=source, sequence=sequence)
        self._check_answerable(rule, error)
        return rule

    def _check_answerable(self, rule: Rule, error) -> None:
        """Refuse, when the rule is made, a status or variant that no operation it matches can answer (never
        at call time). A rule matching several operations applies to those that can answer it."""
        if not self._answers:
            return
        wanted = rule.match.get("operation_id")
        if wanted is not None and wanted not in self._answers:
            raise error(f"invalid rule: match.operation_id {wanted!r} is no operation; operations: "
                        f"{', '.join(sorted(self._answers))}")
        matched = [op_id for op_id, answers in self._answers.items()
                   if wanted in (None, op_id) and rule.match.get("path", answers.path) == answers.path]
        if not matched:
            raise error(f"invalid rule: match.path {rule.match.get('path')!r} is no operation's path")
        for number, outcome in enumerate(rule.outcomes):
            where = f"sequence[{number}]" if rule.sequence else "outcome"
            for name, kept_in in ANSWERABLE:
                value = outcome.get(name)
                allowed = sorted(set().union(*(getattr(self._answers[op_id], kept_in) for op_id in matched)), key=str)
                if value is not None and value not in allowed:
                    scope = f"operation {wanted}" if wanted else f"the {len(matched)} operations the rule matches"
                    raise error(f"invalid rule: {where}.{name} {value!r} cannot be answered by {scope}; "
                                f"allowed: {', '.join(map(str, allowed)) or 'none'}")

    def _applies(self, rule: Rule, operation_id: str) -> bool:
        answers = self._answers.get(operation_id)
        if answers is None:
            return True
        return all(outcome.get(name) is None or outcome[name] in getattr(answers, kept_in)
                   for outcome in rule.outcomes for name, kept_in in ANSWERABLE)

    async def refresh(self, version: int) -> None:
        """Re-read the run-time rules if they changed since the last look."""
        if version != self._version:
            self._runtime = [Rule(**record) for record in await self._store.rules()]
            self._version = version

    @property
    def active(self) -> bool:
        """True while any rule exists (a cheap test for the request hot path)."""
        return bool(self._config or self._runtime)

    async def add(self, data) -> Rule:
        if len(self._runtime) >= MAX_RULES:
            raise BadRequest(f"invalid rule: the mock already holds {MAX_RULES:,} rules added at run time, "
                             "its bound; delete some (DELETE /__admin/rules) first")
        rule = self._rule(data, f"admin-{uuid.uuid4().hex[:12]}", "admin")
        await self._store.add_rule(rule.to_record())
        return rule

    async def select(self, operation_id: str, path: str, key: str | None, prompt: str | None, body=None,
                     headers: dict | None = None) -> tuple[Rule, dict] | None:
        """The first rule matching this request that has a use left, with that use taken, and the outcome of
        that use (a sequence's next)."""
        lowered = cache(lambda: None if prompt is None else prompt.lower())
        for rule in itertools.chain(self._config, self._runtime):
            if rule.matches(operation_id, path, key, lowered, body, headers) and self._applies(rule, operation_id):
                use = await self._store.take(rule.id, rule.times)
                if use:
                    return rule, rule.outcome_of_use(use)
        return None

    async def rules(self) -> list[dict]:
        uses = await self._store.uses()
        runtime = [Rule(**record) for record in await self._store.rules()]
        return [rule.to_dict(uses.get(rule.id, 0)) for rule in (*self._config, *runtime)]

    async def delete(self, rule_id: str) -> bool:
        return await self._store.delete_rule(rule_id)

    async def clear(self) -> None:
        for record in await self._store.rules():
            await self._store.delete_rule(record["id"])


# What a rule's outcome may ask that an operation must be able to answer, and the _Answers field holding
# what it can.
ANSWERABLE = (("status", "statuses"), ("variant", "variants"), ("example", "examples"))


@dataclass(frozen=True)
class _Answers:
    path: str
    statuses: frozenset[int]  # forceable_statuses
    variants: frozenset[str]
    examples: frozenset[str]  # its named examples (Prefer: example=)


def _answers(operations) -> dict[str, _Answers]:
    """Per operation a request can reach: its path, the statuses and the variants it can answer with."""
    variants = named_variants(operations)
    # A `variant` operation is no target of its own: it answers under its name on another operation's path.
    return {op.operation_id: _Answers(op.path, forceable_statuses(op), frozenset(variants[(op.method, op.path)]),
                                      frozenset(named_examples(op)))
            for op in operations if not op.variant}
