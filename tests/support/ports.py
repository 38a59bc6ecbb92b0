"""Loopback ports for the tests: one free now, and a URL nothing listens on."""

import socket


def free_port() -> int:
    """A loopback port free at this moment (the caller binds it soon after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_url(path: str = "") -> str:
    """An http URL on loopback where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}{path}"
