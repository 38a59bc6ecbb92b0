"""Waiting for a condition, never for a fixed time: a loaded machine makes everything later, so every
wait in the tests is a condition polled until a generous deadline, and says what it waited for."""

import time

DEADLINE = 30.0  # seconds: far beyond what any condition takes on a quiet machine


def wait_until(predicate, timeout: float = DEADLINE, what: str = "condition", every: float = 0.05):
    """Return the predicate's first truthy value; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout:g} s"
        time.sleep(every)
    return value
