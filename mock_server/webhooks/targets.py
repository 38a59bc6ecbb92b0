"""Where a job's webhook may go: the allow policy (only loopback and configured hosts are ever called).
The request's three forms, read into one WebhookRequest, are a record (store/records.py).

The API accepts any http(s) webhook URL (202), and so does the mock; it delivers only to loopback and
the configured hosts, never to its own admin API, and records every other delivery as `blocked`.

Below the dispatcher: settings, validation and the app import it too.
"""

import ipaddress
import posixpath
import re
from urllib.parse import unquote, urlsplit

from mock_server.loopback import is_loopback
from mock_server.redaction import redacted_url

MAX_URL_LENGTH = 2048
ADMIN_PREFIX = "/__admin"


def _in_allowed(host: str, address, allowed: str) -> bool:
    allowed = allowed.lower()
    if "/" in allowed:
        if address is None:
            return False
        try:
            return address in ipaddress.ip_network(allowed, strict=False)
        except ValueError:
            return False
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def allow_list_problem(entry: str) -> str | None:
    """Why an allowed_hosts entry can match nothing as meant (a URL, `*`, a bad CIDR), or None."""
    entry = entry.lower()
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
            return None
        except ValueError:
            return "is neither a host name nor a CIDR network (a URL? give its host only)"
    name = entry[2:] if entry.startswith("*.") else entry
    try:
        ipaddress.ip_address(name)
        return None if name == entry else "is a wildcard of an address"
    except ValueError:
        pass
    if not _HOST_NAME.match(name):
        return "is not a host name, a *.suffix (such as *.example.test) or a CIDR network (such as 10.0.0.0/8)"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook target at all (the API refuses it: 400), or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host"
    return None


def masked_url(url: str) -> str:
    """The URL for logs and views: as a webhook URL is written anywhere (redaction.py: no query, fragment, user
    info or token-like path segment)."""
    return redacted_url(url, webhook=True)


def reaches_admin_api(url: str) -> bool:
    """The URL's path, decoded and normalised, is the mock's own admin API (on any host: the mock may
    answer on many addresses, and a webhook must never drive it)."""
    decoded = unquote(unquote(urlsplit(url).path)).replace("\\", "/")
    path = posixpath.normpath(re.sub("/+", "/", "/" + decoded)).lower()
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def is_allowed_target(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """http(s) only, never the admin API; loopback addresses and `localhost` always, other hosts only if
    listed (a name, a `*.suffix` or a CIDR). Names are never resolved, so a listed name cannot be turned
    into another host."""
    if url_problem(url) or reaches_admin_api(url):
        return False
    parts = urlsplit(url)
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if is_loopback(host):
        return True
    return any(_in_allowed(host, address, allowed) for allowed in allowed_hosts)
