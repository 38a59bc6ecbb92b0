"""The records the stores keep: a job, the webhook it asked for and a delivery, with how each is written to
a shared store. They live beside the store protocols, so `store/` depends on nothing above it; the
lifecycle (`jobs/`) and the dispatcher (`webhooks/`) work on these records."""

import json
from dataclasses import asdict, dataclass, field, fields

import orjson

from mock_server.clock import iso

# The three documented forms of a webhook request (spec: webhooks jobStatus, kontextEvent, schnellBatchResult):
#   X-Webhook-URL header  the status body, once the job is final
#   webhook_url (batch)   the checkStatus body, once the job is final
#   webhook (Kontext)     the status body at each event webhook_events_filter selects
WEBHOOK_HEADER = "X-Webhook-URL"
WEBHOOK_BODY_FIELDS = ("webhook_url", "webhook")
HEADER_FORM, EVENTS_FORM, BATCH_FORM = WEBHOOK_HEADER, "webhook", "webhook_url"
DEFAULT_EVENTS = ("completed", "failed", "error")


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a submit asked for: the target, the form it used (which decides events and body), the base URL
    its answers name, and any misbehaviour a rule asked of the delivery (`delay` seconds,
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


QUEUED, PROCESSING, COMPLETED, FAILED, ERROR = "QUEUED", "PROCESSING", "COMPLETED", "FAILED", "ERROR"
TERMINAL = (COMPLETED, FAILED, ERROR)


@dataclass(frozen=True, slots=True)
class Job:
    """A job: QUEUED from `created_at`, PROCESSING from `transitions[0]`, `outcome` from `transitions[1]`
    (a time is None until known). See jobs/lifecycle.py for what follows from that."""

    request_id: str
    operation_id: str
    model_id: str
    key: str
    created_at: float
    outcome: str = COMPLETED
    error: str | None = None
    mode: str = "time"
    transitions: tuple[float | None, float | None] = (None, None)
    polls: int = 0
    media: tuple[str, ...] = ()
    media_type: str = "image/png"
    details: dict = field(default_factory=dict)
    charged_micros: int = 0
    webhook: WebhookRequest | None = None

    def evolved(self, **changes) -> "Job":
        """A copy with `changes`: dataclasses.replace, without its per-call field checks (hot path)."""
        return Job(*[changes[name] if name in changes else getattr(self, name) for name in _JOB_FIELDS])

    def to_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in _JOB_FIELDS},
                "webhook": self.webhook.to_record() if self.webhook else None}

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        return cls(**{**data, "transitions": tuple(data["transitions"]), "media": tuple(data["media"]),
                      "webhook": WebhookRequest.from_record(data.get("webhook"))})


_JOB_FIELDS = tuple(f.name for f in fields(Job))


@dataclass(frozen=True)
class Charge:
    """What creating a job takes from a wallet, in the same atomic step: `amount` micro-dollars from `key`
    (whose balance is `initial` until first touched)."""

    key: str
    amount: int
    initial: int


@dataclass
class Delivery:
    """One webhook delivery: where, which event, when due, and every attempt so far."""

    request_id: str
    event: str
    url: str
    due: float
    attempts: int = 0
    state: str = "pending"  # pending, sending, delivered, failed, blocked (a target the mock may not call)
    last_error: str | None = None
    history: list = field(default_factory=list)
    lease_until: float | None = None  # while `sending`: the claimer's, until then
    body: dict | None = None  # what it POSTs, where no job of the store says it (a replayed recorded delivery)

    @property
    def id(self) -> str:
        return f"{self.request_id}:{self.event}"

    def to_dict(self) -> dict:
        return {"id": self.id, "request_id": self.request_id, "event": self.event, "url": self.url,
                "due": iso(self.due), "attempts": self.attempts, "state": self.state, "last_error": self.last_error,
                "history": self.history}

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict) -> "Delivery":
        return cls(**data)


def dump_record(data: dict) -> str:
    """A record as compact JSON text: orjson's, or, for what orjson refuses (an integer beyond 64 bits, which
    a client may send as a seed), the json module's behind one leading space, so `load_record` reads it back
    exactly (orjson would read such an integer as a float)."""
    try:
        return orjson.dumps(data).decode()  # decoded: a str of its own size (orjson's bytes keep an 8 KiB buffer)
    except TypeError:
        return " " + json.dumps(data, separators=(",", ":"))


def load_record(text: str | bytes) -> dict:
    return json.loads(text) if text[:1] in (" ", b" ") else orjson.loads(text)
