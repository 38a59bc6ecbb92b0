"""The stages every API request goes through, listed once, in order (the order is the contract: a 401
comes before a 429, a 429 before validation). Each stage is `async (Exchange) -> Response | None`:
it answers, raises an ApiError, or fills the exchange and lets the next stage go on. Adding a stage
(a gateway profile, a TLS or proxy front) is one entry in STAGES.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from starlette.responses import Response

from mock_server.answers.examples import named_example
from mock_server.answers.call import Call
from mock_server.answers.source import NoAnswerDrawn
from mock_server.bodies import read_json_body
from mock_server.encodings import accepted, encode
from mock_server.errors import ApiError, BadRequest, ModelNotFound
from mock_server.exchange import Exchange
from mock_server.forced import documented_body, forced_response
from mock_server.handlers import HANDLERS
from mock_server.operations.evidence import ANSWERED_BY, MODEL_NOT_FOUND_ROUTES
from mock_server.operations.model import NOT_LIVE
from mock_server.outcome import merged
from mock_server.redaction import clipped
from mock_server.replay import NotRecorded
from mock_server.responses import DroppedConnection, JSONBody, SlowBody
from mock_server.validation import QUERY_KEY_LENIENCY, SUBSCRIPTION_KEY_HEADER, Violation, first_error, key_in_query

if TYPE_CHECKING:
    from mock_server.routes import OperationRoute
    from mock_server.state import MockState

Stage = Callable[[Exchange], Awaitable[Response | None]]


async def take_up_shared_state(exchange: Exchange) -> None:
    """Read what another process may have changed (clock offset, timing, rules), unless this instance's
    copy is known current (memory; Redis while following the changes)."""
    if await exchange.mock.refresh_unless_current():
        exchange.tick()


async def authenticate(exchange: Exchange) -> None:
    """401 unless a security alternative's headers carry a known key. The gateway (APIM) also takes the key
    as the `subscription-key` query parameter: accepted, and journaled as a leniency the pages lack."""
    headers = exchange.headers
    if SUBSCRIPTION_KEY_HEADER not in headers and (key := key_in_query(exchange.scope.get("query_string", b""))):
        headers = {**headers, SUBSCRIPTION_KEY_HEADER: key}
        exchange.leniencies.append(QUERY_KEY_LENIENCY)
    exchange.principal = exchange.mock.auth.authenticate(exchange.operation, headers)


async def limit_rate(exchange: Exchange) -> None:
    """429 with Retry-After when the key's bucket is empty."""
    config = exchange.principal.config
    await exchange.mock.rate_limiter.check(exchange.key, config.rate_limit or exchange.mock.settings.default_rate_limit)


async def check_model_enabled(exchange: Exchange) -> None:
    """400 Model not found for a model the config disables."""
    model = exchange.operation.model_id
    if model and model in exchange.mock.settings.disabled_models:
        raise ModelNotFound(model)


async def authorize(exchange: Exchange) -> None:
    """403 if the key may not use this model."""
    exchange.mock.auth.authorize(exchange.principal, exchange.operation.model_id)


async def read_body(exchange: Exchange) -> None:
    """413 beyond the size limit; 400 for a wrong Content-Type or malformed JSON."""
    if exchange.validator.has_body:
        settings = exchange.mock.settings
        exchange.body = await read_json_body(exchange.receive, exchange.headers, settings.max_body_bytes,
                                             settings.body_timeout)


def _prompt(body) -> str | None:
    prompt = body.get("prompt") if isinstance(body, dict) else None
    return prompt if isinstance(prompt, str) else None


def _prefer(exchange: Exchange) -> str | None:
    """Every Prefer header of the request as one list, as RFC 7240 reads several (None: none sent)."""
    if "prefer" not in exchange.headers:
        return None
    return ", ".join(value.decode("latin-1") for name, value in exchange.scope["headers"] if name.lower() == b"prefer")


async def select_rule(exchange: Exchange) -> None:
    """What a rule and the Prefer header ask of this call (Prefer wins)."""
    mock, prefer = exchange.mock, _prefer(exchange)
    if not mock.rules.active and prefer is None:
        return
    selected = await mock.rules.select(exchange.operation.operation_id, exchange.path, exchange.key,
                                           _prompt(exchange.body), exchange.body, exchange.headers)
    rule, outcome = selected or (None, None)
    exchange.rule = rule.id if rule else None
    exchange.outcome = merged(outcome, prefer)


def answer_forced(exchange: Exchange, status: int, retry_after: float | None = None) -> JSONBody:
    """The answer a rule or a fault forces on this exchange, its Retry-After (if any) noted for the journal."""
    forced = forced_response(exchange.operation, status, retry_after)
    if "retry-after" in forced.headers:
        exchange.retry_after = float(forced.headers["retry-after"])
    return forced


class ExchangeFaults:
    """The port a chaos fault acts through (chaos.FaultInjector), onto one exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def drop(self) -> Response:
        return DroppedConnection()

    def answer(self, status: int, retry_after: float | None) -> Response:
        return answer_forced(self._exchange, status, retry_after)

    def trickle(self, seconds: float) -> None:
        self._exchange.slow_for = seconds

    async def delay(self, seconds: float) -> None:
        await self._exchange.mock.clock.sleep(seconds)
        self._exchange.tick()


async def meet_chaos(exchange: Exchange) -> Response | None:
    """A network fault, when the call's rule, Prefer or the config asks for chaos (chaos.py)."""
    mock, wanted = exchange.mock, exchange.outcome.chaos
    wanted = mock.settings.chaos if wanted is None else wanted
    fault = mock.chaos.fault(wanted, exchange.key, exchange.now) if wanted else None
    if fault is None:
        return None
    exchange.answer = f"chaos:{fault.kind}"
    return await fault.apply(ExchangeFaults(exchange))


async def add_latency(exchange: Exchange) -> None:
    if exchange.outcome.latency:
        await exchange.mock.clock.sleep(exchange.outcome.latency)
        exchange.tick()


async def drop_connection(exchange: Exchange) -> Response | None:
    return DroppedConnection() if exchange.outcome.drop else None


async def force_status(exchange: Exchange) -> Response | None:
    """The documented answer of the status a rule forces (its named example, if one is asked for), as the
    operation answers it under the chosen variant. A success status the pages give no example of is the mock's
    own answer (it fits the spec; a made-up body would not)."""
    status = exchange.outcome.status
    if not status or exchange.outcome.example:
        return None
    if status < 400 and status in exchange.operation.documented_statuses \
            and documented_body(exchange.operation, status) is None:
        return None
    return answer_forced(exchange, status)


async def choose_variant(exchange: Exchange) -> None:
    """The named response variant asked for (Prefer, rule), else the first the config turns on."""
    own = exchange.route.variants
    wanted = exchange.outcome.variant
    if wanted and wanted in exchange.route.already and wanted not in own:  # already answers as that variant
        return
    if wanted and wanted not in own:  # a rule's variant always fits (checked when made): this is Prefer's
        raise BadRequest(f"Prefer: variant={wanted} is not a variant of {exchange.operation.operation_id}; its "
                         f"variants: {', '.join(sorted(own)) or 'none'}")
    if not wanted:
        wanted = next((name for name in exchange.mock.settings.variants if name in own), None)
    if wanted in own:
        exchange.use_variant(wanted)


async def refuse_not_live(exchange: Exchange) -> None:
    """A route public clients call that the live gateway answers 400 Model not found (x-evidence
    model-not-found-routes): so by default, the working answer only under a variant."""
    if exchange.operation.kind == NOT_LIVE:
        exchange.answer = ANSWERED_BY + MODEL_NOT_FOUND_ROUTES
        raise ModelNotFound(exchange.operation.path.split("/")[1])


def _judge_request(exchange: Exchange) -> list[Violation]:
    """Every way the request breaks the spec, journaled with its undocumented fields and leniencies."""
    judged = exchange.validator.judge(exchange.headers, exchange.body, exchange.mock.settings.strict)
    exchange.leniencies += judged.leniencies
    exchange.assumptions = judged.assumptions
    exchange.violations = [str(v) for v in judged.violations]
    exchange.undocumented_fields = judged.undocumented
    return judged.violations


async def replay_recorded(exchange: Exchange) -> Response | None:
    """`serve --replay`: the recorded answer of a recorded request (replay.py), the request judged and
    journaled as any; an unrecorded one goes on to the mock (or, strict, is a 404 naming the closest)."""
    replay = exchange.mock.replay
    if replay is None:
        return None
    request, minted, answers = replay.find(exchange.method, exchange.path, exchange.body)
    if answers is None and exchange.mock.misses is not None:
        return await _learned_from_upstream(exchange)
    if answers is None:
        closest = replay.recording.closest(request)
        if replay.strict:
            raise NotRecorded(f"no recorded request matches {request.line()}; closest recorded: {closest}")
        exchange.answer = clipped(f"unrecorded (closest: {closest})", 300)
        return None
    _judge_request(exchange)
    place, answer = replay.next_answer(request, minted, answers, exchange.now)
    body, exchange.request_id = replay.rewritten(answer, minted, exchange.base, exchange.now)
    if answer.starts and exchange.request_id:  # a replayed submit: its recorded webhooks, to this app's URL
        url = exchange.validator.webhook_url(exchange.headers, exchange.body)
        if url:
            await exchange.mock.webhooks.scheduled(replay.deliveries_of(exchange.request_id, url, exchange.base,
                                                                        exchange.now))
    exchange.answer = f"replayed ({place} of {len(answers)})"
    if exchange.mock.replay_judge is not None:  # an answer the specs have since changed under: stale-recording
        exchange.drift = replay.stale(answer, exchange.operation, exchange.mock.replay_judge)
    exchange.job_status = _status_of(body)
    headers = dict(answer.headers)
    if answer.encoding and accepted(exchange.headers.get("accept-encoding"), answer.encoding):
        body, headers["Content-Encoding"] = encode(body, answer.encoding), answer.encoding  # as it was sent
    return Response(body, status_code=answer.status, headers=headers)


async def _learned_from_upstream(exchange: Exchange) -> Response:
    """--on-miss upstream: the upstream's answer to an unrecorded request, judged, kept in the recording and
    answered; the next such request is answered from the recording."""
    misses, query = exchange.mock.misses, exchange.scope.get("query_string", b"").decode("latin-1")
    content = orjson.dumps(exchange.body) if exchange.body is not None else b""
    recorded = await misses.forward(exchange.method, exchange.path + (f"?{query}" if query else ""), exchange.headers,
                                    content)
    _judge_request(exchange)
    judge = exchange.mock.replay_judge
    exchange.drift = tuple(judge(exchange.operation, recorded.status, recorded.response_headers, recorded.content)) \
        if judge is not None else ()
    await misses.keep(recorded, {"operationId": exchange.operation.operation_id, "drift": list(exchange.drift),
                                 "note": "learned on a replay miss"})
    exchange.mock.replay.learn(recorded)
    exchange.answer = "learned from upstream (unrecorded)"
    exchange.job_status = _status_of(recorded.content)
    return misses.answer(recorded)


def _status_of(body: bytes) -> str | None:
    try:
        status = orjson.loads(body).get("status")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return status.upper() if isinstance(status, str) else None


async def validate(exchange: Exchange) -> None:
    """400 naming the first field that breaks the spec; every violation and undocumented field journaled."""
    violations = _judge_request(exchange)
    if violations:
        raise first_error(violations)
    exchange.params = exchange.validator.with_defaults(exchange.body or {})


async def answer_example(exchange: Exchange) -> Response | None:
    """`Prefer: example=NAME` (or a rule's `example`): that documented example, verbatim, with its status."""
    name = exchange.outcome.example
    if not name:
        return None
    example = named_example(exchange.operation, name, exchange.outcome.status)
    exchange.answer = f"example:{name}"
    if example.media_type == "application/json":
        return JSONBody(example.value, status_code=example.status)
    return Response(str(example.value), status_code=example.status, media_type=example.media_type)


async def handle(exchange: Exchange) -> Response:
    """The operation's handler, by its kind (x-flux-mock.kind): wallet, job, answer; drawn anew from the
    response schema when the call asks for generated answers."""
    answer = await draw_answer(exchange, await HANDLERS[exchange.operation.kind](exchange))
    return SlowBody(answer, exchange.slow_for, exchange.mock.clock) if exchange.slow_for else answer


def _wants_generated(exchange: Exchange) -> bool:
    dynamic = exchange.outcome.dynamic
    return exchange.mock.settings.responses != "documented" if dynamic is None else dynamic


async def draw_answer(exchange: Exchange, response: Response) -> Response:
    """The handler's answer, or one drawn from its schema (answers/): by the server, from its seed, or by the
    test the rule's `draw_from` names. Where none can be drawn, the mock's own answer stands."""
    answers, operation = exchange.mock.answers, exchange.operation
    if not _wants_generated(exchange) or not isinstance(response, JSONBody) \
            or operation.response_schema(response.status_code) is None:
        return response
    beyond = exchange.outcome.beyond_contract or exchange.mock.settings.responses == "beyond-contract"
    call = Call(operation.operation_id, response.status_code, {**exchange.known_facts(), "answered_at": exchange.now},
                exchange.variant, beyond)
    url = exchange.outcome.draw_from
    try:
        body, job_status = (await answers.drawn_by(url, call, exchange.method, exchange.path) if url
                            else answers.drawn_here(call))
    except NoAnswerDrawn as error:
        exchange.answer = f"own (none drawn: {error})"
        return response
    exchange.answer = "generated (beyond contract)" if beyond else "generated"
    exchange.job_status = job_status or exchange.job_status
    headers = {name: value for name, value in response.headers.items() if name not in ("content-length",
                                                                                     "content-type")}
    return JSONBody(body, status_code=response.status_code, headers=headers)


STAGES: tuple[Stage, ...] = (
    take_up_shared_state,
    authenticate,          # 401
    limit_rate,            # 429
    check_model_enabled,   # 400 Model not found
    authorize,             # 403
    read_body,             # 413, 400 malformed
    select_rule,       # rule or Prefer -> outcome
    choose_variant,        # before anything answers: a forced status is the variant's own
    refuse_not_live,       # 400 Model not found where the evidence says the live gateway answers so
    meet_chaos,            # drop, 5xx burst, 429 storm, slow body, jitter
    add_latency,
    drop_connection,
    force_status,          # a documented status, forced
    replay_recorded,       # serve --replay: a recorded request's recorded answer
    validate,              # 400 naming the field
    answer_example,        # Prefer: example=NAME
    handle,                # 402, 404 unknown id, the answer (or one drawn from its schema)
)


# The stages that act only on what a rule or the Prefer header asks of a call (its outcome): a call neither touches
# meets none of them.
ONLY_WHEN_ASKED = frozenset({select_rule, add_latency, drop_connection, force_status, answer_example})


def plain_stages(stages: tuple[Stage, ...], route: "OperationRoute", mock: "MockState") -> tuple[Stage, ...]:
    """`stages` without those that cannot act on a call to `route` that no rule and no Prefer header touch, under
    this mock's settings (no chaos configured, no recordings replayed, no variant turned on for the route, its model
    not disabled): each would only pass the call on. The plain path of a route, compiled once (is_plain)."""
    settings = mock.settings
    idle = {*ONLY_WHEN_ASKED, take_up_shared_state}  # a plain call's run-time state is known current (is_plain)
    if not settings.chaos:
        idle.add(meet_chaos)
    if mock.replay is None:
        idle.add(replay_recorded)
    if not (route.operation.model_id and route.operation.model_id in settings.disabled_models):
        idle.add(check_model_enabled)
    if not any(name in route.variants for name in settings.variants):
        idle.add(choose_variant)  # the default operation answers: refused as not live only if it is so
        if route.operation.kind != NOT_LIVE:
            idle.add(refuse_not_live)
    return tuple(stage for stage in stages if stage not in idle)


def is_plain(exchange: Exchange) -> bool:
    """No rule exists and no Prefer header asks anything of the call, on a run-time state known current (another
    instance's rule is not missed): the route's plain stages answer it as all the stages would."""
    mock = exchange.mock
    return mock.stores.runtime.current and not mock.rules.active and "prefer" not in exchange.headers


async def run(exchange: Exchange, stages: tuple[Stage, ...] = STAGES) -> Response:
    """The first answer a stage gives (the last stage always answers)."""
    for stage in stages:
        response = await stage(exchange)
        if response is not None:
            return response
    raise ApiError("no stage answered")  # a pipeline without a final handler: a programming error
