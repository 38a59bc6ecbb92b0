"""Where a job's webhook goes: the request's three documented forms, read into one WebhookRequest, and
the allow policy (only loopback and configured hosts are ever called).

Forms (spec: webhooks jobStatus, kontextEvent, schnellBatchResult):
  X-Webhook-URL header  the status body, once the job is final
  webhook_url (batch)   the checkStatus body, once the job is final
  webhook (Kontext)     the status body at each event webhook_events_filter selects

A leaf module: validation, the job records and the contract kit import it without the dispatcher.
"""

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WEBHOOK_HEADER = "X-Webhook-URL"
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


def is_allowed_target(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """http(s) only; loopback addresses and `localhost` always, other hosts only if listed (a name, a
    `*.suffix` or a CIDR). Names are never resolved, so a listed name cannot be turned into another host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    return any(_in_allowed(host, address, allowed) for allowed in allowed_hosts)
