"""Helpers for tests that talk to a mock over HTTP: the default key, a client reset to a clean mock, and the
timing put through the admin API. (Fixtures live in conftest.py; tests import helpers from here, never from
conftest.)"""

from contextlib import contextmanager

import httpx

KEY = {"Ocp-Apim-Subscription-Key": "test-key"}


@contextmanager
def reset_client(url: str):
    """A client of the mock at `url`, reset first so each test starts from a clean mock."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        client.post("/__admin/reset").raise_for_status()
        yield client


def set_timing(client: httpx.Client, **timing) -> None:
    client.put("/__admin/timing", json=timing).raise_for_status()
