"""Whether a host is this machine: the one loopback test the CLI, the admin API and the webhook targets share."""

import ipaddress


def is_loopback(host: str | None) -> bool:
    """A loopback IP address (127.0.0.0/8, ::1), or the name `localhost`."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def is_loopback_name(host: str) -> bool:
    """`is_loopback`, or a name below `localhost` (RFC 6761: it always resolves to loopback)."""
    return is_loopback(host) or host.endswith(".localhost")
