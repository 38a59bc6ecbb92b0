"""Every stage of the request pipeline on its own: an Exchange made for one operation, one stage run, and
what it answered, raised or wrote on the exchange. Plus the runner's order and the one-moment rule."""

import dataclasses

import httpx
import orjson
import pytest

from mock_server import pipeline
from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.errors import BadRequest, Forbidden, ModelNotFound, PayloadTooLarge, RateLimited, Unauthorized
from mock_server.exchange import Exchange
from mock_server.outcome import Outcome
from mock_server.responses import DroppedConnection
from mock_server.routes import operation_routes
from mock_server.jobs.timing import Timing
from mock_server.settings import KeyConfig, Settings
from mock_server.operations import load_operations
from mock_server.store import open_stores
from mock_server.store.records import WEBHOOK_HEADER
from mock_server.validation import OperationValidator

pytestmark = pytest.mark.anyio
SCHNELL = ("POST", "/flux-1-schnell/v1/getData")
FLUX_DEV = ("POST", "/flux-dev/v1/dev/textToImage")
FLUX_PRO = ("POST", "/flux-pro/v1/pro/textToImage")
STATUS = ("GET", "/v2/requests/status/{request_id}")
KEY = {"ocp-apim-subscription-key": "k"}


def mock_state(clock=None, **settings):
    return create_app(Settings(**settings), clock=clock or ManualClock()).mock


def exchange(mock, route=SCHNELL, headers=None, body=None, path_params=None, path=None) -> Exchange:
    """An Exchange for one of the spec's routes, as the app makes it, entered into that route."""
    raw = orjson.dumps(body) if body is not None else b""
    headers = {"content-type": "application/json", **KEY, **(headers or {})}
    scope = {"type": "http", "method": route[0], "path": path or route[1], "scheme": "http", "root_path": "",
             "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 5000), "query_string": b"",
             "headers": [(name.encode(), value.encode()) for name, value in headers.items()]}

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    made = Exchange.start(scope, receive, mock, path_params or {})
    made.enter(operation_routes(mock.operations)[route])
    return made


async def test_taking_up_shared_state_moves_the_exchange_to_the_shared_clock():
    mock = mock_state()
    await mock.stores.runtime.add_offset(100)
    local = exchange(mock)
    await pipeline.take_up_shared_state(local)
    assert mock.clock.offset == 0, "a copy known current (memory's) is not read again"
    mock.stores.runtime.current = False  # a Redis store's copy while it does not follow the changes
    shared = exchange(mock)
    await pipeline.take_up_shared_state(shared)
    assert mock.clock.offset == 100 and shared.now == pytest.approx(local.now + 100)


async def test_authenticate_names_the_key_or_answers_401():
    mock = mock_state(keys={"k": KeyConfig()})
    known = exchange(mock)
    await pipeline.authenticate(known)
    assert known.key == "k"
    with pytest.raises(Unauthorized):
        await pipeline.authenticate(exchange(mock, headers={"ocp-apim-subscription-key": "stranger"}))


async def test_limit_rate_answers_429_with_the_seconds_to_wait():
    mock = mock_state(keys={"k": KeyConfig(rate_limit=1)})
    first = exchange(mock)
    await pipeline.authenticate(first)
    await pipeline.limit_rate(first)
    second = exchange(mock)
    await pipeline.authenticate(second)
    with pytest.raises(RateLimited) as limited:
        await pipeline.limit_rate(second)
    assert limited.value.headers == {"Retry-After": "1"}


async def test_a_disabled_model_is_400_model_not_found():
    with pytest.raises(ModelNotFound, match="flux-1-schnell"):
        await pipeline.check_model_enabled(exchange(mock_state(disabled_models=("flux-1-schnell",))))
    await pipeline.check_model_enabled(exchange(mock_state(disabled_models=("flux-dev",))))


async def test_authorize_refuses_a_model_the_key_may_not_use():
    mock = mock_state(keys={"k": KeyConfig(models=("flux-dev",))})
    allowed, refused = exchange(mock, FLUX_DEV), exchange(mock, SCHNELL)
    for made in (allowed, refused):
        await pipeline.authenticate(made)
    await pipeline.authorize(allowed)
    with pytest.raises(Forbidden):
        await pipeline.authorize(refused)


async def test_read_body_decodes_json_and_refuses_what_is_not():
    mock = mock_state(max_body_bytes=1024)
    read = exchange(mock, body={"prompt": "x"})
    await pipeline.read_body(read)
    assert read.body == {"prompt": "x"}
    with pytest.raises(PayloadTooLarge):
        await pipeline.read_body(exchange(mock, body={"prompt": "x" * 2000}))
    plain = exchange(mock, body={"prompt": "x"}, headers={"content-type": "text/plain"})
    await pipeline.read_body(plain)
    assert plain.body == {"prompt": "x"}, "JSON sent as text/plain is read as a lenient gateway would (journaled)"
    garbled = exchange(mock, body={"prompt": "x"}, headers={"content-type": "text/plain"})

    async def form_body():
        return {"type": "http.request", "body": b"prompt=x", "more_body": False}

    garbled.receive = form_body
    with pytest.raises(BadRequest, match="Content-Type must be application/json, not text/plain"):
        await pipeline.read_body(garbled)
    without_body = exchange(mock, STATUS, path="/v2/requests/status/x", path_params={"request_id": "x"})
    await pipeline.read_body(without_body)
    assert without_body.body is None


async def test_select_rule_takes_the_rule_and_lets_prefer_win():
    rule = {"match": {"prompt_contains": "fail me"}, "outcome": {"job": "FAILED", "latency": 1}}
    mock = mock_state(rules=(rule,))
    made = exchange(mock, headers={"prefer": "latency=3"})
    made.body = {"prompt": "please fail me"}
    await pipeline.authenticate(made)
    await pipeline.select_rule(made)
    assert made.rule == "config-1" and made.outcome == Outcome(job="FAILED", latency=3.0)
    quiet = exchange(mock_state())
    await pipeline.select_rule(quiet)
    assert (quiet.rule, quiet.outcome) == (None, Outcome())


async def test_add_latency_waits_on_the_clock_and_the_answer_describes_the_moment_after():
    mock = mock_state()
    made = exchange(mock)
    made.outcome = Outcome(latency=2.5)
    before = made.now
    await pipeline.add_latency(made)
    assert made.now == pytest.approx(before + 2.5) == mock.clock.now()


async def test_drop_connection_answers_with_an_unfinished_response():
    made = exchange(mock_state())
    assert await pipeline.drop_connection(made) is None
    made.outcome = Outcome(drop=True)
    assert isinstance(await pipeline.drop_connection(made), DroppedConnection)


async def test_force_status_answers_the_documented_example_or_refuses_an_undocumented_status():
    made = exchange(mock_state())
    assert await pipeline.force_status(made) is None
    made.outcome = Outcome(status=429)
    forced = await pipeline.force_status(made)
    assert forced.status_code == 429 and forced.headers["retry-after"] == "1" and made.retry_after == 1.0
    made.outcome = Outcome(status=418)
    with pytest.raises(BadRequest, match="status 418 is not documented"):
        await pipeline.force_status(made)


async def test_choose_variant_by_prefer_then_by_config_and_refuse_another_routes():
    asked = exchange(mock_state(), FLUX_PRO)
    asked.outcome = Outcome(variant="flux-pro-legacy")
    await pipeline.choose_variant(asked)
    assert (asked.variant, asked.operation.operation_id) == ("flux-pro-legacy", "fluxProLegacyTextToImage")
    configured = exchange(mock_state(variants=("getdata-job",)))
    await pipeline.choose_variant(configured)
    assert (configured.variant, configured.operation.kind) == ("getdata-job", "sync-job")
    unknown = exchange(mock_state(), FLUX_PRO)
    unknown.outcome = Outcome(variant="getdata-job")  # a variant of another route
    with pytest.raises(BadRequest, match="not a variant of fluxProTextToImage; its variants: flux-pro-legacy"):
        await pipeline.choose_variant(unknown)


async def test_validate_names_the_field_and_journals_what_it_found():
    made = exchange(mock_state())
    made.body = {"prompt": "x", "num_steps": 50, "negative_promt": "y"}
    with pytest.raises(BadRequest, match="num_steps"):
        await pipeline.validate(made)
    assert made.violations and "num_steps" in made.violations[0] and made.undocumented_fields == ["negative_promt"]
    valid = exchange(mock_state())
    valid.body = {"prompt": "x", "negative_promt": "y"}
    await pipeline.validate(valid)
    assert valid.params["prompt"] == "x" and "negative_promt" not in valid.params and valid.violations == []
    strict = exchange(mock_state(strict=True))
    strict.body = {"prompt": "x", "negative_promt": "y"}
    with pytest.raises(BadRequest, match="negative_promt is not a documented field"):
        await pipeline.validate(strict)


async def test_handle_dispatches_by_the_operation_kind_and_names_the_job():
    made = exchange(mock_state(), FLUX_DEV)
    await pipeline.authenticate(made)
    made.body = {"prompt": "x"}
    await pipeline.validate(made)
    answer = await pipeline.handle(made)
    assert answer.status_code == 202 and made.request_id.startswith("flux-dev_")
    assert orjson.loads(answer.body)["polling_url"].endswith(made.request_id)


async def test_the_runner_answers_with_the_first_stage_that_answers():
    calls = []

    async def record(exchange):
        calls.append("record")

    async def answer(exchange):
        calls.append("answer")
        return pipeline.JSONBody({"ok": True})

    async def never(exchange):
        calls.append("never")

    response = await pipeline.run(exchange(mock_state()), (record, answer, never))
    assert calls == ["record", "answer"] and response.status_code == 200


def test_the_stages_are_listed_once_in_their_documented_order():
    names = [stage.__name__ for stage in pipeline.STAGES]
    order = [names.index(name) for name in ("authenticate", "limit_rate", "read_body", "select_rule", "validate")]
    assert order == sorted(order) and len(set(names)) == len(names) and names[-1] == "handle"


class TickingClock(ManualClock):
    """A clock that moves 0.4 s every time it is read: any second reading within one request shows."""

    def now(self) -> float:
        self.advance(0.4)
        return super().now()


async def test_the_status_a_poll_answers_is_the_status_the_journal_records():
    app = create_app(Settings(timing=Timing(queued_for=1, processing_for=1)), clock=TickingClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
        submitted = (await api.post(FLUX_DEV[1], json={"prompt": "x"}, headers=KEY)).json()
        answered = [(await api.get(submitted["polling_url"], headers=KEY)).json()["status"] for _ in range(6)]
    journaled = [e.job_status for e in await app.mock.journal.entries() if e.operation_kind == "status"]
    assert journaled == answered and set(answered) >= {"QUEUED", "COMPLETED"}


# The plain path: a call no rule and no Prefer header touch runs only its route's plain stages (compiled once per
# route from the settings); everything the settings ask of such a call must still happen.

async def test_a_call_no_rule_touches_still_meets_the_configured_variant_and_a_disabled_model():
    app = create_app(Settings(variants=("getdata-job",), disabled_models=("flux-fill-dev",)), clock=ManualClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
        variant = await api.post(SCHNELL[1], json={"prompt": "x"}, headers=KEY)
        disabled = await api.post("/flux-fill-dev/v1/flux-fill/generate", headers=KEY, json={
            "prompt": "x", "image": "https://media.test/a.png", "mask": "https://media.test/m.png"})
        plain = await api.post(FLUX_DEV[1], json={"prompt": "x"}, headers=KEY)
    assert variant.status_code == 200 and variant.json()["msg"] == "Image Getting Created", "getdata-job's answer"
    assert disabled.status_code == 400 and disabled.json()["error"] == "Model not found"
    assert plain.status_code == 202
    journal = app.mock.journal
    assert [entry.variant for entry in await journal.entries()] == ["getdata-job", None, None]
    route = operation_routes(app.mock.operations)[FLUX_DEV]
    assert pipeline.plain_stages(pipeline.STAGES, route, app.mock) == (
        pipeline.authenticate, pipeline.limit_rate, pipeline.authorize, pipeline.read_body, pipeline.validate,
        pipeline.handle), "nothing else can act on flux-dev's plain calls"


async def test_a_rule_another_instance_added_applies_to_an_instance_not_following_changes(redis_url):
    """An instance that does not follow the shared store's changes (its runtime state not known current) reads
    them on each call before it decides the call is plain: another instance's new rule is not missed."""
    adding, answering = (create_app(Settings(), clock=ManualClock(), stores=open_stores(redis_url, 100))
                         for _ in range(2))
    await adding.mock.stores.clear()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=adding), base_url="http://a.test") as one, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=answering), base_url="http://b.test") as other:
            assert (await other.post(FLUX_DEV[1], json={"prompt": "x"}, headers=KEY)).status_code == 202
            rule = await one.post("/__admin/rules", json={"match": {"operation_id": "fluxDevTextToImage"},
                                                          "outcome": {"status": 503}})
            assert rule.status_code == 201, rule.text
            assert not answering.mock.stores.runtime.current
            assert (await other.post(FLUX_DEV[1], json={"prompt": "x"}, headers=KEY)).status_code == 503
    finally:
        await adding.mock.stores.clear()
        for app in (adding, answering):
            await app.mock.stores.close()


def test_a_request_without_a_body_is_still_judged_by_its_headers():
    """A bodiless poll is judged alike each time (nothing found, at once); an operation without a body whose spec
    checks a header, or takes a webhook header, is judged by them all the same."""
    status = next(op for op in load_operations() if op.operation_id == "getRequestStatus")
    assert [list(found) for found in OperationValidator(status).judge({}, None)] == [[], [], [], []]
    traced = dataclasses.replace(status, parameters=(*status.parameters, {
        "name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string", "pattern": "^t-"}}))
    assert [str(v) for v in OperationValidator(traced).judge({}, None).violations] == ["X-Trace header is required"]
    assert [str(v) for v in OperationValidator(traced).judge({"x-trace": "u"}, None).violations] == [
        'X-Trace: "u" does not match "^t-"']
    hooked = dataclasses.replace(status, parameters=(*status.parameters, {
        "name": WEBHOOK_HEADER, "in": "header", "schema": {"type": "string"}}))
    judged = OperationValidator(hooked).judge({WEBHOOK_HEADER.lower(): "ftp://hooks.test/x"}, None)
    assert [str(v) for v in judged.violations] == [
        f"{WEBHOOK_HEADER}: ftp://hooks.test/x is not an http(s) URL with a host"]
