"""Answers drawn from an operation's response schema for one call: spec-valid, deliberately unusual (every
status, optional fields absent, nulls where allowed, extra fields, boundary numbers, long and non-ASCII
text), and true to the job (shapes.py says how). Every answer is checked against the spec before it goes
out: a generator that broke the spec would blame clients for the mock's fault."""

from functools import cache

import jsonschema_rs

from mock_server.answers.call import Call
from mock_server.answers.flows import JobFlows
from mock_server.answers.shapes import (documented_names, draw_schema, extra_fields, in_time_order, pin_facts,
                                        reported_statuses, without_rules)
from mock_server.answers.values import Draw, strategy_for
from mock_server.operations import Operation, load_operations


class GeneratorError(RuntimeError):
    """No spec-valid answer could be drawn (a schema the generator cannot satisfy)."""


class AnswerGenerator:
    """Strategies and validators are built once per operation, status and job status, and kept."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self._operations = {op.operation_id: op for op in operations}
        self._strategies: dict = {}
        self._validators: dict = {}
        self._extras: dict = {}

    def schema(self, operation_id: str, status: int) -> dict | None:
        operation = self._operations.get(operation_id)
        return operation.response_schema(status) if operation else None

    def generates(self, operation_id: str, status: int) -> bool:
        """Whether answers of this operation and status can be drawn (they have a JSON schema)."""
        return self.schema(operation_id, status) is not None

    def answer(self, call: Call, draw: Draw, flows: JobFlows) -> tuple[object, str | None]:
        """A drawn body for the call, and the job status it reports (None if it reports none)."""
        schema = self.schema(call.operation_id, call.status)
        if schema is None:
            raise GeneratorError(f"{call.operation_id} documents no JSON answer for status {call.status}")
        facts = call.known_facts
        reportable = [status for status in reported_statuses(schema)
                      if self._strategy(call, schema, status, facts) is not None]
        job_status = flows.next(call.facts.get("request_id"), reportable, draw) if reportable else None
        strategy = self._strategy(call, schema, job_status, facts)
        if strategy is None:
            raise GeneratorError(f"no shape of {call.operation_id}'s {call.status} answer carries "
                                 f"{job_status or 'these facts'}")
        body = pin_facts(draw(strategy, "answer"), call.facts)
        if not call.beyond_contract:
            body = in_time_order(schema, body, call.facts, draw)
        return self._with_extras(call, schema, body, draw), job_status

    def _strategy(self, call: Call, schema: dict, job_status: str | None, facts: frozenset[str]):
        key = (call.operation_id, call.status, call.variant, call.beyond_contract, job_status, facts)
        if key not in self._strategies:
            pinned = draw_schema(schema, job_status, facts, call.variant, call.beyond_contract)
            self._strategies[key] = None if pinned is None else strategy_for(pinned)
        return self._strategies[key]

    def _with_extras(self, call: Call, schema: dict, body, draw: Draw):
        valid = self._validator(call, schema).is_valid
        if not valid(body):
            raise GeneratorError(f"a drawn answer of {call.operation_id} ({call.status}) broke its schema: {body!r}")
        if not isinstance(body, dict):
            return body
        extended = {**body, **draw(self._extra_fields(call, schema), "extra fields")}
        return extended if valid(extended) else body

    def _extra_fields(self, call: Call, schema: dict):
        """The undocumented fields an answer may carry (a strategy made anew each answer was validated anew by
        hypothesis each time: two thirds of a draw's cost)."""
        key = (call.operation_id, call.status)
        if key not in self._extras:
            self._extras[key] = extra_fields(documented_names(schema))
        return self._extras[key]

    def _validator(self, call: Call, schema: dict):
        """The schema every answer is checked against before it goes out; beyond the contract, without the
        pages' constraints (what that mode may break), never without the schema itself."""
        key = (call.operation_id, call.status, call.beyond_contract)
        if key not in self._validators:
            checked = without_rules(schema) if call.beyond_contract else schema
            self._validators[key] = jsonschema_rs.validator_for(checked, validate_formats=True)
        return self._validators[key]


@cache
def spec_generator() -> AnswerGenerator:
    """The generator of the bundled specs, shared by the kit (fuzz_client, strategies): strategies built once."""
    return AnswerGenerator(load_operations())
