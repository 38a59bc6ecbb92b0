"""The outcome of one call: what its Prefer header asks (and the clear 400s for what it cannot), merged over its
scenario rule's outcome."""

import pytest

from mock_server.errors import BadRequest
from mock_server.outcome import NOTHING, Outcome, merged, parse_prefer


@pytest.mark.parametrize("header, outcome", [
    (None, {}),
    ("", {}),
    ("code=429", {"status": 429}),
    ("code=429, latency=1.5", {"status": 429, "latency": 1.5}),
    ("job=failed; error=\"NSFW content\"", {"job": "FAILED", "error": "NSFW content"}),
    ("variant=flux-pro-legacy", {"variant": "flux-pro-legacy"}),
    ("webhook=duplicate", {"webhook": {"duplicate": True}}),
    ("webhook=out-of-order", {"webhook": {"out_of_order": True}}),
    ("webhook=timeout-first", {"webhook": {"first_attempt_timeout": True}}),
    ("CODE=404", {"status": 404}),
    ("respond-async, wait=5, code=400", {"status": 400}),  # other RFC 7240 preferences are not flux-mock's
    ("dynamic=true", {"dynamic": True}),
    ("dynamic=beyond-contract", {"dynamic": True, "beyond_contract": True}),
])
def test_prefer_header_becomes_an_outcome(header, outcome):
    assert parse_prefer(header) == outcome


@pytest.mark.parametrize("header, words", [
    ("code=abc", "code=abc is not a valid value"),
    ("latency=soon", "latency=soon is not a valid value"),
    ("latency=601", "between 0 and 600"),
    ("latency=-1", "between 0 and 600"),
    ("job=DONE", "COMPLETED, FAILED or ERROR"),
    ("webhook=lost", "duplicate, out-of-order, timeout-first"),
    ("dynamic=maybe", "dynamic=maybe is not a valid value"),
])
def test_prefer_values_it_cannot_honour_are_a_400_that_says_why(header, words):
    with pytest.raises(BadRequest) as refused:
        parse_prefer(header)
    assert words in refused.value.message


def test_prefer_wins_over_the_rule_field_by_field_and_the_merge_is_typed():
    rule = {"job": "FAILED", "error": "NSFW", "latency": 2, "drop_connection": True, "webhook": {"delay": 5}}
    outcome = merged(rule, "latency=0, webhook=duplicate, code=503")
    assert outcome == Outcome(status=503, job="FAILED", error="NSFW", latency=0.0, drop=True,
                              webhook={"duplicate": True})
    assert merged(None, None) == NOTHING == Outcome()
    assert merged({"chaos": {"drops": 1}}, "chaos=slow").chaos == "slow"


def test_an_outcome_cannot_be_changed_once_merged():
    with pytest.raises(AttributeError):
        merged({"job": "FAILED"}, None).job = "COMPLETED"
