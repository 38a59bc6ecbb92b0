"""Waiting for a condition, never for a fixed time: a loaded machine makes everything later, so every
wait in the tests is a condition polled until a generous deadline, and says what it waited for."""

import time

import httpx

DEADLINE = 30.0  # seconds: far beyond what any condition takes on a quiet machine


def wait_until(predicate, timeout: float = DEADLINE, what: str = "condition", every: float = 0.05):
    """Return the predicate's first truthy value; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout:g} s"
        time.sleep(every)
    return value


def answers(url: str, timeout: float = 5.0) -> bool:
    """Whether a GET of `url` answers 200 now; a connection not yet accepted is a no, not an error."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False
