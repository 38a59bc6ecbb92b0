"""Where a job's webhook goes: the request's three documented forms, read into one WebhookRequest, and
the allow policy (only loopback and configured hosts are ever called).

Forms (spec: webhooks jobStatus, kontextEvent, schnellBatchResult):
  X-Webhook-URL header  the status body, once the job is final
  webhook_url (batch)   the checkStatus body, once the job is final
  webhook (Kontext)     the status body at each event webhook_events_filter selects

The API accepts any http(s) webhook URL (202), and so does the mock; it delivers only to loopback and
the configured hosts, never to its own admin API, and records every other delivery as `blocked`.

A leaf module: validation, the job records and the contract kit import it without the dispatcher.
"""

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

WEBHOOK_HEADER = "X-Webhook-URL"
MAX_URL_LENGTH = 2048
ADMIN_PREFIX = "/__admin"
WEBHOOK_BODY_FIELDS = ("webhook_url", "webhook")
HEADER_FORM, EVENTS_FORM, BATCH_FORM = WEBHOOK_HEADER, "webhook", "webhook_url"
DEFAULT_EVENTS = ("completed", "failed", "error")


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a submit asked for: the target, the form it used (which decides events and body), the base URL
    its answers name, and any misbehaviour a scenario asked of the delivery (`delay` seconds,
    `duplicate`, `out_of_order`, `first_attempt_timeout`)."""

    url: str
    form: str
    base: str
    events: tuple[str, ...] = ()
    misbehave: dict = field(default_factory=dict)

    @classmethod
    def of(cls, header: str | None, params: dict, base: str, misbehave: dict | None) -> "WebhookRequest | None":
        """The webhook a request asks for (header first, then the body fields), or None."""
        if header:
            url, form, events = header, HEADER_FORM, ()
        elif params.get("webhook"):
            url, form = params["webhook"], EVENTS_FORM
            events = tuple(params.get("webhook_events_filter") or DEFAULT_EVENTS)
        elif params.get("webhook_url"):
            url, form, events = params["webhook_url"], BATCH_FORM, ()
        else:
            return None
        return cls(url=url, form=form, base=base, events=events, misbehave=dict(misbehave or {}))

    def to_record(self) -> dict:
        return {"url": self.url, "form": self.form, "base": self.base, "events": list(self.events),
                "misbehave": self.misbehave}

    @classmethod
    def from_record(cls, data: dict | None) -> "WebhookRequest | None":
        if not data:
            return None
        return cls(url=data["url"], form=data["form"], base=data.get("base", ""),
                   events=tuple(data.get("events") or ()), misbehave=dict(data.get("misbehave") or {}))


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
    """The URL for logs: its query string (often a token) masked."""
    base, separator, _ = url.partition("?")
    return f"{base}?..." if separator else url


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
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    return any(_in_allowed(host, address, allowed) for allowed in allowed_hosts)
