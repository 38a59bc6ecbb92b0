"""parse_prefer: what a request's Prefer header asks of one call, and the clear 400s for what it cannot."""

import pytest

from mock_server.errors import BadRequest
from mock_server.scenarios import parse_prefer


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
])
def test_prefer_values_it_cannot_honour_are_a_400_that_says_why(header, words):
    with pytest.raises(BadRequest) as refused:
        parse_prefer(header)
    assert words in refused.value.message
