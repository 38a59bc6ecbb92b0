"""The contract suites, as a pytest module: `flux-mock check` runs it, and so can you:

    FLUX_CHECK_BASE_URL=http://127.0.0.1:8080 python -m pytest --pyargs contract_tests.suite

Without FLUX_CHECK_BASE_URL it tests an in-process flux-mock. See contract_tests/target.py for the
other settings. Operations that cost money run only with FLUX_CHECK_ALLOW_PAID=1, within
FLUX_CHECK_MAX_SPEND at the documented prices; the rest are skipped, never paid for.

flux-mock calls only loopback (and configured) webhook targets and refuses the rest with a 400, so
against flux-mock the webhook URLs of generated and documented requests are pointed at a receiver
on this machine; a live gateway gets them as generated.
"""

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import ignored_auth

from contract_tests import checks  # noqa: F401  (registers the async-aware schemathesis checks)
from contract_tests.budget import BudgetExceeded
from contract_tests.examples import request_example, with_webhook
from contract_tests.links import follow, links_of, media_urls
from contract_tests.receiver import webhook_receiver
from contract_tests.target import Target, variant_headers
from mock_server.spec import VENDOR_SPECS, load_operations
from mock_server.webhooks.targets import WEBHOOK_BODY_FIELDS, WEBHOOK_HEADER

TARGET = Target.from_env()
OPERATIONS = {op.operation_id: op for op in load_operations()}
GENERATED = settings(max_examples=TARGET.max_examples, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])

MAIN_SPEC, VARIANT_SPEC = VENDOR_SPECS  # the second holds page 002's older shapes of flux.yaml's paths
positive = TARGET.schema(MAIN_SPEC, "positive")
negative = TARGET.schema(MAIN_SPEC, "negative")
legacy = TARGET.schema(VARIANT_SPEC, "positive")
legacy.config.update(headers={name: value for op in OPERATIONS.values() if op.spec == VARIANT_SPEC
                              for name, value in variant_headers(op).items()})
# flux-mock's embedded default accepts any non-empty key on purpose, so "API accepts invalid
# authentication" is expected there; everywhere else (live gateway, configured mock) it is checked.
EXCLUDED_CHECKS = [ignored_auth] if TARGET.accepts_any_key else []


def _afford(operation_id: str, body) -> None:
    try:
        TARGET.budget.spend(OPERATIONS[operation_id], body)
    except BudgetExceeded as reason:
        pytest.skip(f"cost guard: {reason}")


def _case_operation_id(case) -> str:
    return case.operation.definition.raw["operationId"]


RECEIVERS = []  # the session's receiver, for the state machine (which takes no fixtures)


@pytest.fixture(scope="session", autouse=True)
def prepared_target():
    """Wallets filled and jobs made fast on flux-mock for the run; its timing put back after."""
    with TARGET.prepared():
        yield TARGET


@pytest.fixture(scope="session", autouse=True)
def receiver(prepared_target):
    """Where flux-mock targets send webhooks (a live gateway keeps the URLs it is given)."""
    if not TARGET.is_flux_mock:
        yield None
        return
    with webhook_receiver() as running:
        RECEIVERS.append(running)
        yield running
        RECEIVERS.remove(running)


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


def _call(case, receiver, only_http: bool = False) -> None:
    _afford(_case_operation_id(case), case.body)
    _redirect_webhooks(case, receiver, only_http)
    case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)


@positive.parametrize()
@GENERATED
def test_positive_requests_get_documented_answers(case, receiver):
    _call(case, receiver)


@negative.parametrize()
@GENERATED
def test_negative_requests_are_rejected_with_documented_answers(case, receiver):
    _call(case, receiver, only_http=True)


@legacy.parametrize()
@GENERATED
def test_older_flux_pro_api_gets_documented_answers(case, receiver):
    _call(case, receiver)


SUBMITS = sorted(op.operation_id for op in OPERATIONS.values()
                 if any(links_of(op, code) for code in op.documented_statuses))


def _webhook_form(operation, body) -> str | None:
    if isinstance(body, dict) and ("webhook" in body or "webhook_url" in body):
        return "body"
    return "header" if any(p["name"] == WEBHOOK_HEADER for p in operation.parameters) else None


@pytest.mark.parametrize("operation_id", SUBMITS)
def test_submit_is_followed_through_its_links_to_a_final_status(operation_id, receiver):
    operation, body = OPERATIONS[operation_id], request_example(operation_id)
    _afford(operation_id, body)
    extra = variant_headers(operation)
    form = _webhook_form(operation, body) if receiver else None
    hook = f"{receiver.url}/{operation_id}" if receiver else None
    if form == "body":
        body = with_webhook(body, hook)
    elif form == "header":
        extra = {**extra, WEBHOOK_HEADER: hook}
    with TARGET.client() as client:
        submitted = client.post(operation.path, json=body, headers={**TARGET.headers_for(operation), **extra})
        assert submitted.status_code in operation.documented_statuses and submitted.status_code < 300, submitted.text
        polls = follow(client, OPERATIONS, operation, submitted.status_code, submitted.json(), TARGET.headers_for,
                       polls=TARGET.polls, interval=TARGET.pause_between_polls)
        assert polls, f"no link of {operation_id} leads to a status operation"
        for poll in polls:
            assert poll.status_code == 200, poll.body
            schema = poll.operation.response_schema(200)
            errors = [e.message for e in jsonschema_rs.validator_for(schema, validate_formats=True).iter_errors(poll.body)]
            assert errors == [] and poll.problems == (), (errors, poll.problems)
        assert checks.is_final(polls[-1].body), f"no final status after {len(polls)} polls: {polls[-1].body}"
        for url in media_urls(polls[-1].body):
            media = client.get(url)
            assert media.status_code == 200 and len(media.content) > 0, url
    if form and not TARGET.in_process:  # in-process, no server runs the webhook dispatcher
        delivered = receiver.wait_for(1, f"/{operation_id}")[-1]
        assert delivered == polls[-1].body, "the webhook body equals the final status body"


class StatefulLinks(positive.as_state_machine()):
    """Schemathesis' state machine over the spec's links, with this target's excluded checks."""

    def before_call(self, case):
        _redirect_webhooks(case, RECEIVERS[0] if RECEIVERS else None, only_http=False)

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, additional_checks=additional_checks, excluded_checks=EXCLUDED_CHECKS,
                               transport_kwargs=kwargs)


TestStatefulLinks = StatefulLinks.TestCase
TestStatefulLinks.settings = settings(max_examples=10, stateful_step_count=6, deadline=None, database=None,
                                      suppress_health_check=list(HealthCheck))
