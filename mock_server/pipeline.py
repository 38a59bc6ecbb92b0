"""The stages every API request goes through, in order, for any operation:

route -> auth (401) -> rate limit (429) -> model enabled (400) and allowed (403) -> read body
(413, 400) -> scenario (forced status, latency, dropped connection, variant) -> validate (400)
-> wallet and handler by operation kind.
"""

from starlette.requests import Request
from starlette.responses import Response

from mock_server.errors import ApiError, BadRequest, ModelNotFound, PayloadTooLarge
from mock_server.handlers import HANDLERS, Call
from mock_server.responses import JSONBody, error_response
from mock_server.scenarios import parse_prefer
from mock_server.spec import Operation
from mock_server.state import MockState
from mock_server.validation import OperationValidator, Violation, parse_json

JSON_TYPES = ("application/json",)


class DroppedConnection(Response):
    """Starts an answer and never finishes it: the server closes the connection mid-response."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


async def read_json_body(receive, headers: dict[str, str], limit: int):
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge(limit) if declared.isdigit() else BadRequest("Content-Length is not a number")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise BadRequest(f"Content-Type must be application/json, not {media_type or 'missing'}")
    return parse_json(b"".join(chunks))


def forced_response(operation: Operation, status: int) -> JSONBody:
    """The documented answer for `status` (its first example), as a scenario asked for it."""
    if status not in operation.documented_statuses:
        raise BadRequest(f"status {status} is not documented for {operation.operation_id}; "
                         f"documented: {sorted(operation.documented_statuses)}")
    content = (operation.responses[str(status)].get("content") or {}).get("application/json", {})
    examples = list((content.get("examples") or {}).values())
    body = examples[0]["value"] if examples else {"error": "Scenario"}
    headers = {"Retry-After": "1"} if status == 429 else {}
    return JSONBody(body, status_code=status, headers=headers)


class OperationEndpoint:
    """Serves one method + path: its default operation and, by variant name, the other documented shapes."""

    def __init__(self, state: MockState, operation: Operation, variants: dict[str, Operation]) -> None:
        self.state = state
        self.operation = operation
        self.variants = variants
        self.validators = {op.operation_id: OperationValidator(op) for op in (operation, *variants.values())}
        self.own_variants = set(variants) | set(operation.variants)

    def _variant(self, outcome: dict) -> str | None:
        wanted = outcome.get("variant")
        if wanted:
            return wanted if wanted in self.own_variants else None
        return next((name for name in self.state.settings.variants if name in self.own_variants), None)

    async def _outcome(self, scope, headers: dict, operation: Operation, key: str, body) -> dict:
        prefer = headers.get("prefer")
        if not self.state.scenarios.active and prefer is None:
            return {}
        prompt = body.get("prompt") if isinstance(body, dict) and isinstance(body.get("prompt"), str) else None
        rule = await self.state.scenarios.select(operation.operation_id, scope["path"], key, prompt)
        scope["state"]["scenario"] = rule.id if rule else None
        return {**(rule.outcome if rule else {}), **parse_prefer(prefer)}

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except ApiError as error:
            if "Retry-After" in error.headers:
                request.scope.setdefault("state", {})["retry_after"] = float(error.headers["Retry-After"])
            return error_response(error)

    async def _handle(self, request: Request) -> Response:
        state, operation, scope = self.state, self.operation, request.scope
        await state.refresh_if_shared()
        info = scope.setdefault("state", {})
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        info["operation_id"] = operation.operation_id
        principal = state.auth.authenticate(operation, headers)
        info["key"] = principal.key
        await state.rate_limiter.check(principal.key, principal.config.rate_limit or state.settings.default_rate_limit)
        if operation.model_id and operation.model_id in state.settings.disabled_models:
            raise ModelNotFound(operation.model_id)
        state.auth.authorize(principal, operation.model_id)
        validator = self.validators[operation.operation_id]
        body = await read_json_body(request.receive, headers, state.settings.max_body_bytes) \
            if validator.has_body else None

        outcome = await self._outcome(scope, headers, operation, principal.key, body)
        if outcome.get("latency"):
            await state.clock.sleep(outcome["latency"])
        if outcome.get("drop_connection"):
            return DroppedConnection()
        if outcome.get("status"):
            forced = forced_response(operation, outcome["status"])
            if "retry-after" in forced.headers:
                info["retry_after"] = float(forced.headers["retry-after"])
            return forced

        variant = self._variant(outcome)
        if variant in self.variants:
            operation = self.variants[variant]
            info["operation_id"] = operation.operation_id
            validator = self.validators[operation.operation_id]
        violations = validator.header_violations(headers) + validator.body_violations(body)
        undocumented = validator.undocumented_fields(body)
        if state.settings.strict:
            violations += [Violation(name, "additionalProperties", "is not a documented field") for name in undocumented]
        if not violations:
            violations += validator.webhook_violations(headers, body, state.settings.webhook_allowed_hosts)
        info["violations"] = [str(v) for v in violations]
        info["undocumented_fields"] = undocumented
        if violations:
            raise violations[0].to_error()
        call = Call(operation, request, state, principal.key, validator.with_defaults(body or {}), outcome, variant)
        return await HANDLERS[operation.kind](call)
