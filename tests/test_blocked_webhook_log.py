"""Blocked webhooks are logged by target, not one line per delivery (issue 39, item 5): a schemathesis run against
the mock printed 552 `webhook blocked` lines of 605. Every blocked delivery is still journaled."""

import logging

import pytest

from tests.support.harness import KEY
from tests.support.inprocess import InProcessMock

BLOCKED = "https://hooks.example.com/flux"  # not loopback, not allowed: never called (nothing leaves the machine)


@pytest.mark.anyio
async def test_many_blocked_deliveries_to_one_target_log_a_few_lines_with_their_count(caplog):
    caplog.set_level(logging.WARNING, logger="flux_mock.webhooks")
    async with InProcessMock() as mock:
        for number in range(120):
            answer = await mock.client.post("/flux-dev/v1/dev/textToImage", json={"prompt": f"p{number}"},
                                            headers={**KEY, "X-Webhook-URL": BLOCKED})
            assert answer.status_code == 202
        await mock.advance(10)
        for _ in range(5):  # the final statuses become known to the dispatcher when polled (or due)
            await mock.advance(1)
        journaled = [entry for entry in await mock.entries() if entry.note == "blocked"]
    lines = [record.getMessage() for record in caplog.records if "webhook blocked" in record.getMessage()]
    assert len(journaled) == 120, "each blocked delivery is journaled"
    assert len(lines) == 4, lines  # the first in full, at 10 and 100, and the total at shutdown
    assert "add the host to the config's webhooks.allowed_hosts" in lines[0]
    assert lines[1] == "webhook blocked: 10 deliveries so far to https://hooks.example.com/flux (the first said why; " \
                       "one line at each tenfold)"
    assert lines[-1] == "webhook blocked: 120 deliveries in all to https://hooks.example.com/flux"
