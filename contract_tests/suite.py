"""The contract suites, as a pytest module: `flux-mock check` runs it with the target it was given (a `Target`
handed over in the config's stash, `TARGET`), and so can you, with the target read from the environment:

    FLUX_CHECK_BASE_URL=http://127.0.0.1:8080 python -m pytest --pyargs contract_tests.suite

Without FLUX_CHECK_BASE_URL it tests an in-process flux-mock. See contract_tests/target.py for the
other settings. Operations that cost money run only with FLUX_CHECK_ALLOW_PAID=1, within
FLUX_CHECK_MAX_SPEND at the documented prices; the rest are skipped, never paid for.

Nothing about the target is fixed when this module is imported: the schemas come from the specs alone, and a
session fixture aims them at the run's target (its URL, its in-process app, its keys), so two runs in one
process, against two servers, each test their own.

flux-mock calls only loopback (and configured) webhook targets and refuses the rest with a 400, so
against flux-mock the webhook URLs of generated and documented requests are pointed at a receiver
on this machine; a live gateway gets them as generated.
"""

import pytest
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.filters import FilterSet
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.pytest.plugin import SchemaHandleMark
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance, unsupported_method
from schemathesis.transport.requests import ManagedCookiesSession

from contract_tests import checks  # noqa: F401  (registers the async-aware schemathesis checks)
from contract_tests.assumptions import probes, refusal_notes, response_notes
from contract_tests.breaches import FOUND, Breaches
from contract_tests.budget import BudgetExceeded
from contract_tests.examples import request_example, with_webhook
from contract_tests.failures import raise_all
from contract_tests.flow import check_media, check_webhook, submit_and_follow
from contract_tests.links import links_of
from contract_tests.receiver import webhook_receiver
from contract_tests.target import KIT_USER_AGENT, TARGET, Target, spec_schema, variant_headers
from mock_server.operations import VENDOR_SPECS, load_operations
from mock_server.store.records import WEBHOOK_BODY_FIELDS, WEBHOOK_HEADER

pytest_plugins = ["contract_tests.breaches"]  # a test that collected breaches fails with all of them when it ends
OPERATIONS = {op.operation_id: op for op in load_operations()}
GENERATED = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck),
                     phases=[Phase.explicit, Phase.generate])  # max_examples: the run's target's (see `run`)

# The main spec, page 002's older shapes of its paths, and the endpoints public clients call undocumented.
MAIN_SPEC, VARIANT_SPEC, PUBLIC_CLIENTS_SPEC = VENDOR_SPECS
positive = spec_schema(MAIN_SPEC, "positive")
negative = spec_schema(MAIN_SPEC, "negative")


def _variant_schema(spec: str):
    """A spec of variants, positive, each request asking for its document's variant (Prefer)."""
    schema = spec_schema(spec, "positive")
    schema.config.update(headers={name: value for op in OPERATIONS.values() if op.spec == spec
                                  for name, value in variant_headers(op).items()})
    return schema


legacy = _variant_schema(VARIANT_SPEC)
public_clients = _variant_schema(PUBLIC_CLIENTS_SPEC)
SCHEMAS = (positive, negative, legacy, public_clients)
BY_ROUTE = {(op.spec, op.method, op.path): op.operation_id for op in OPERATIONS.values()}


class Run:
    """The run in progress: its target (for the schemas' auth, which takes no fixtures), the receiver of its
    webhooks and its HTTP session. Set by the `run` fixture for the session's length."""

    target: Target | None = None
    receiver = None
    session = None


def _target(config) -> Target:
    """The target `flux-mock check` handed over, else the one the environment describes."""
    return config.stash[TARGET] if TARGET in config.stash else Target.from_env()


def aim(target: Target) -> None:
    """Aim the suite at a target: its schemas (URL, keys) and the schemas each generated test was made from
    (schemathesis copies a schema per test when the module is imported: its checks' own probes send through
    that copy's transport). Before the tests are collected (`flux-mock check` does it when it configures pytest):
    schemathesis makes its coverage cases, keys included, as it collects them."""
    for schema in SCHEMAS:
        target.aim(schema)
        _forget_coverage(schema)
    for test in GENERATED_TESTS:
        schema = SchemaHandleMark.get(test)
        schema.app = target.app
        _forget_coverage(schema)
    positive.app = target.app  # the state machine's


def build_only(chosen: tuple[str, ...]) -> None:
    """Build the generated tests for the chosen operations only (`flux-mock check --operation`), or for all with
    none chosen: schemathesis builds a test for each operation as it collects (its coverage cases too), and a check
    of schnellGetData built all 42 of the four generated tests to keep two. Set before collection and put back
    after the run (the schemas outlive it: a later run in the same process collects from them too)."""
    for test in GENERATED_TESTS:
        filters = FilterSet()
        if chosen:
            filters.include(operation_id=list(chosen))
        SchemaHandleMark.get(test).filter_set = filters


def builds_nothing(test) -> bool:
    """A generated test whose spec holds none of the chosen operations: it is not collected (schemathesis would
    fail a test that matches no operation)."""
    schema = SchemaHandleMark.get(test) if test in GENERATED_TESTS else None
    return schema is not None and not schema.filter_set.is_empty() and next(schema.get_all_operations(), None) is None


def _forget_coverage(schema) -> None:
    """schemathesis sends each undeclared method of a path once per schema object, remembering which it sent: a
    second run in the same process (two `check`s, the pytest plugin after `check`) sent none, and never tested
    how the server refuses them."""
    seen = getattr(schema, "coverage_unexpected_methods_seen", None)
    if isinstance(seen, set):
        seen.clear()


def _with_max_examples(items, max_examples: int) -> None:
    """Every generated test of this run tries the target's number of examples (hypothesis reads a test's
    settings when it runs, so the module's decorators need not know the target)."""
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None:
            test._hypothesis_internal_use_settings = settings(current, max_examples=max_examples)


@pytest.fixture(scope="session", autouse=True)
def run(request):
    """The run's target: the schemas aimed at it, its wallets filled and jobs made fast on flux-mock (its timing
    put back after), a receiver for flux-mock's webhooks, one keep-alive session for calls over HTTP."""
    target = _target(request.config)
    aim(target)
    _with_max_examples(request.session.items, target.max_examples)
    checks.HISTORY.clear()
    Run.target = target
    # One keep-alive session for the generated calls over HTTP (schemathesis opens a connection per call
    # without one); its cookies are dropped after each call, as schemathesis does. In process: the ASGI app.
    Run.session = None if target.in_process else ManagedCookiesSession()
    if Run.session is not None:
        Run.session.headers["User-Agent"] = KIT_USER_AGENT
    try:
        with target.prepared():
            if not target.is_flux_mock:  # a live gateway keeps the URLs it is given
                yield target
                return
            with webhook_receiver() as receiver:
                Run.receiver = receiver
                yield target
    finally:
        Run.target = Run.receiver = Run.session = None


def _afford(target: Target, operation_id: str, body) -> float:
    """The call's price, reserved; a skip when the run cannot afford it."""
    try:
        return target.budget.spend(OPERATIONS[operation_id], body)
    except BudgetExceeded as reason:
        pytest.skip(f"cost guard: {reason}")


def _case_operation_id(case) -> str:
    return case.operation.definition.raw["operationId"]


def _redirect_webhooks(case, receiver, only_http: bool) -> None:
    """Point the case's webhook targets at the receiver; with `only_http`, only values that are http(s)
    URLs (in a negative case, the field that was made invalid stays invalid)."""
    if receiver is None:
        return

    def redirected(value):
        if not isinstance(value, str) or (only_http and not value.lower().startswith(("http://", "https://"))):
            return value
        return f"{receiver.url}/generated"

    if isinstance(case.body, dict):
        case.body = {k: redirected(v) if k in WEBHOOK_BODY_FIELDS else v for k, v in case.body.items()}
    if case.headers and WEBHOOK_HEADER in case.headers:
        case.headers[WEBHOOK_HEADER] = redirected(case.headers[WEBHOOK_HEADER])


def _beyond_the_gateways_leniency(case) -> None:
    """In a negative case, a field the pages restrict to a list but the real gateway takes in a range
    (x-flux-mock.lenient) is moved beyond that range: a value the gateway accepts is no negative case."""
    operation = OPERATIONS.get(_case_operation_id(case))
    if operation is None or not operation.lenient or not isinstance(case.body, dict):
        return
    documented = (operation.request_schema or {}).get("properties", {})
    for name, rule in operation.lenient.items():
        value = case.body.get(name)
        if type(value) is int and value not in documented.get(name, {}).get("enum", ()) \
                and rule["minimum"] <= value <= rule["maximum"]:
            case.body = {**case.body, name: rule["maximum"] + rule.get("multiple_of", 1)}


# HTTP's own framing, set by the client library: a generated value (content-length: "ajWG5") is refused by
# any server's HTTP parser before the API sees it, which says nothing of the API's contract.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection", "expect", "te", "upgrade",
                             "trailer", "keep-alive", "proxy-connection"})


def _without_framing_headers(case) -> None:
    if case.headers:
        for name in [name for name in case.headers if name.lower() in FRAMING_HEADERS]:
            del case.headers[name]


def _excluded_checks(target: Target) -> list:
    """schemathesis' `unsupported_method` (a 405 only), whose place `undeclared_method_is_refused` takes (a 404, as
    the pages document, too). flux-mock's embedded default accepts any non-empty key on purpose, so "API accepts
    invalid authentication" is expected there; everywhere else (live gateway, configured mock) it is checked."""
    return [unsupported_method, *([ignored_auth] if target.accepts_any_key else [])]


def _skip_unless_chosen(target: Target, operation_id: str) -> None:
    if target.operations and operation_id not in target.operations:
        pytest.skip("not one of the chosen operations (--operation, FLUX_CHECK_OPERATIONS)")


def _call(case, run: Target, breaches: Breaches, only_http: bool = False, positive: bool = True,
          assumed: bool = False) -> None:
    """Send one generated case and judge its answer. `assumed`: the operation is itself an assumption of the
    spec (an endpoint only public clients show): how its answer departs is a note, never a failure."""
    operation_id = _case_operation_id(case)
    _skip_unless_chosen(run, operation_id)
    _without_framing_headers(case)
    reserved = _afford(run, operation_id, case.body)
    run.cases[operation_id] += 1
    _redirect_webhooks(case, Run.receiver, only_http)
    case.headers = {**(case.headers or {}), "User-Agent": KIT_USER_AGENT}  # report leaves the kit's calls out
    transport = _transport(run, case)
    response = case.call(session=Run.session, **transport)
    run.budget.settle(reserved, response.status_code)
    if case.method.upper() == OPERATIONS[operation_id].method.upper():  # a probe of an undeclared method judges the
        # routing, not the operation: it neither makes nor unmakes "every case was answered about the caller"
        run.answers[(operation_id, "positive" if positive else "negative")][response.status_code] += 1
    try:
        case.validate_response(response, excluded_checks=_excluded_checks(run), transport_kwargs=transport)
    except FailureGroup as group:
        if assumed:
            run.note(operation_id, "positive", _assumed_endpoint(str(group.message)))
            return
        refusals = refusal_notes(OPERATIONS[operation_id], case.headers, case.body, response.status_code) \
            if positive and any(isinstance(failure, RejectedPositiveData) for failure in group.exceptions) else []
        if not refusals:
            breaches.add(group)  # every distinct one is listed when the test ends (breaches.py)
            return
        for note in refusals:  # the server keeps an assumption of the spec: judged by every other check still
            run.note(operation_id, "positive", note)
        try:
            case.validate_response(response, excluded_checks=[*_excluded_checks(run), positive_data_acceptance],
                                   transport_kwargs=transport)
        except FailureGroup as rest:
            breaches.add(rest)
        return
    for note in response_notes(OPERATIONS[operation_id], response.status_code, response.headers):
        run.note(operation_id, "positive" if positive else "negative", note)


def _assumed_endpoint(report: str) -> str:
    return ("an endpoint only public clients show (an assumption of the spec, on no page) answered otherwise than "
            "assumed: " + " ".join(report.split())[:1500])


def _transport(target: Target, case=None) -> dict:
    """Where a case goes: the target's URL, and in process its app (the schemas' tests are built before the
    run's target is known, so each call names it). The case's operation is pointed there too: schemathesis
    keeps the app an operation was first made with (APIOperation.app) and sends there before any other, so a
    second check in one process sent its cases to the first one's in-process app."""
    if case is not None:
        case.operation.app = target.app if target.in_process else None
    return {"base_url": target.url, **({"app": target.app} if target.in_process else {})}


@pytest.fixture
def breaches(request) -> Breaches:
    """The distinct breaches of this test's cases (breaches.py: all listed when it ends, not only the first)."""
    found = Breaches()
    request.node.stash[FOUND] = found
    return found


@positive.parametrize()
@GENERATED
def test_positive_requests_get_documented_answers(case, run, breaches):
    _call(case, run, breaches)


@negative.parametrize()
@GENERATED
def test_negative_requests_are_rejected_with_documented_answers(case, run, breaches):
    _beyond_the_gateways_leniency(case)
    _call(case, run, breaches, only_http=True, positive=False)


@legacy.parametrize()
@GENERATED
def test_older_flux_pro_api_gets_documented_answers(case, run, breaches):
    _call(case, run, breaches)


@public_clients.parametrize()
@GENERATED
def test_endpoints_public_clients_call_get_the_assumed_answers(case, run, breaches):
    _call(case, run, breaches, assumed=True)


GENERATED_TESTS = (test_positive_requests_get_documented_answers,
                   test_negative_requests_are_rejected_with_documented_answers,
                   test_older_flux_pro_api_gets_documented_answers,
                   test_endpoints_public_clients_call_get_the_assumed_answers)


SUBMITS = sorted(op.operation_id for op in OPERATIONS.values() if any(links_of(op, code)
                                                                      for code in op.documented_statuses))
PROBED = sorted(op.operation_id for op in OPERATIONS.values()
                if op.spec != PUBLIC_CLIENTS_SPEC and request_example(op.operation_id) is not None
                and probes(op, request_example(op.operation_id)))


@pytest.mark.parametrize("operation_id", PROBED)
def test_what_the_spec_assumes_beyond_the_pages_is_noted_never_failed(operation_id, run):
    """One request per assumption of the spec (x-assumed), breaking it alone: what the server did is a note."""
    _skip_unless_chosen(run, operation_id)
    operation = OPERATIONS[operation_id]
    with run.client() as client:
        for probe in probes(operation, request_example(operation_id)):
            reserved = _afford(run, operation_id, probe.body)
            answer = client.request(operation.method, operation.path, json=probe.body, headers={
                **run.headers_for(operation), **variant_headers(operation), **probe.headers})
            run.budget.settle(reserved, answer.status_code)
            run.cases[operation_id] += 1
            run.answers[(operation_id, "assumptions")][answer.status_code] += 1
            run.note(operation_id, "assumptions", probe.note(answer.status_code, answer.text))


def _webhook_form(operation, body) -> str | None:
    if isinstance(body, dict) and ("webhook" in body or "webhook_url" in body):
        return "body"
    return "header" if any(p["name"] == WEBHOOK_HEADER for p in operation.parameters) else None


@pytest.mark.parametrize("operation_id", SUBMITS)
def test_submit_is_followed_through_its_links_to_a_final_status(operation_id, run):
    _skip_unless_chosen(run, operation_id)
    operation, body, receiver = OPERATIONS[operation_id], request_example(operation_id), Run.receiver
    reserved = _afford(run, operation_id, body)
    extra = variant_headers(operation)
    form = _webhook_form(operation, body) if receiver else None
    hook = f"{receiver.url}/{operation_id}" if receiver else None
    if form == "body":
        body = with_webhook(body, hook)
    elif form == "header":
        extra = {**extra, WEBHOOK_HEADER: hook}
    with run.client() as client:
        flow = submit_and_follow(client, OPERATIONS, operation, body, {**run.headers_for(operation), **extra},
                                 run.headers_for, polls=run.polls, interval=run.pause_between_polls)
        check_media(flow, client)
    run.budget.settle(reserved, flow.submitted.status_code)
    if flow.declined:
        pytest.skip(flow.declined)
    if operation.spec == PUBLIC_CLIENTS_SPEC and flow.failures:  # an assumed endpoint: notes, never failures
        for failure in flow.failures:
            run.note(operation_id, "links", _assumed_endpoint(str(failure)))
        return
    run.cases[operation_id] += 1 + len(flow.polls)
    if form and flow.polls and not flow.failures and not run.in_process:  # in-process: no webhook dispatcher
        check_webhook(flow, receiver.wait_for(1, f"/{operation_id}")[-1], hook)
    raise_all(flow.failures)


class StatefulLinks(positive.as_state_machine()):
    """Schemathesis' state machine over the spec's links, with this target's excluded checks (the run's, as the
    state machine takes no fixtures)."""

    def setup(self):
        if Run.target is not None and Run.target.operations:
            pytest.skip("--operation given: the state machine spans all operations")

    def get_call_kwargs(self, case):
        return {**super().get_call_kwargs(case), **_transport(Run.target, case), "session": Run.session}

    def before_call(self, case):
        Run.target.cases[_case_operation_id(case)] += 1
        _without_framing_headers(case)
        _redirect_webhooks(case, Run.receiver, only_http=False)
        case.headers = {**(case.headers or {}), "User-Agent": KIT_USER_AGENT}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, additional_checks=additional_checks,
                               excluded_checks=_excluded_checks(Run.target), transport_kwargs=kwargs)


TestStatefulLinks = StatefulLinks.TestCase
TestStatefulLinks.settings = settings(max_examples=10, stateful_step_count=6, deadline=None, database=None,
                                      suppress_health_check=list(HealthCheck))


# What each test function checks, and of which spec (flux-mock check's progress lines and JUnit).
CHECKS = {
    test_positive_requests_get_documented_answers.__name__: ("positive", MAIN_SPEC),
    test_negative_requests_are_rejected_with_documented_answers.__name__: ("negative", MAIN_SPEC),
    test_older_flux_pro_api_gets_documented_answers.__name__: ("positive", VARIANT_SPEC),
    test_endpoints_public_clients_call_get_the_assumed_answers.__name__: ("positive", PUBLIC_CLIENTS_SPEC),
    test_submit_is_followed_through_its_links_to_a_final_status.__name__: ("links", None),
    test_what_the_spec_assumes_beyond_the_pages_is_noted_never_failed.__name__: ("assumptions", None),
}


def classify(item) -> tuple[str, str]:
    """(operationId, check) of one collected test."""
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    if name not in CHECKS:
        return "(all operations)", "stateful"
    check, spec = CHECKS[name]
    if spec is None:
        return item.callspec.params["operation_id"], check
    method, _, path = item.name.split("[", 1)[1].rstrip("]").partition(" ")
    return BY_ROUTE.get((spec, method, path), f"{method} {path}"), check


# A run of this module on its own (`python -m pytest --pyargs contract_tests.suite`) tests the target its
# environment describes: aimed at it before collection, as `flux-mock check` aims the suite at the one it is given.
aim(Target.from_env())
