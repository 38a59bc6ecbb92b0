"""The operation model: what the server needs to know of each operation, read from the bundled specs."""

from dataclasses import dataclass, field, replace
from functools import cache

from mock_server.operations.documents import VENDOR_SPECS, load_bundled

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# The kinds (x-flux-mock.kind) whose operations report a job's status, and those that start a job.
STATUS_KINDS = frozenset({"status", "batch-status", "poll-status", "poll-status-queue"})
JOB_KINDS = frozenset({"queue", "poll-submit", "batch-submit", "sync-job", "instant-job"})
# A route public clients call that the live gateway does not serve (400 Model not found, x-evidence
# model-not-found-routes); its working answer is a variant's.
NOT_LIVE = "not-live"


@dataclass(frozen=True)
class Pricing:
    """USD a job: a flat price, a price by resolution tier, or unknown (the page had no data)."""

    usd: float | None = None
    by_resolution: tuple[tuple[int, float], ...] = ()

    @classmethod
    def from_spec(cls, data: dict | None) -> "Pricing":
        if not data:
            return cls()
        tiers = data.get("by_resolution") or {}
        by_side = sorted((int(size.split("x")[0]), float(price)) for size, price in tiers.items())
        return cls(usd=data.get("usd"), by_resolution=tuple(by_side))

    def price(self, width: int, height: int) -> float:
        """The price of one job at this size (0 where the page gave no price): by resolution, the tier nearest
        the larger side (a tie goes to the larger tier)."""
        if self.by_resolution:
            side = max(width, height)
            return min(self.by_resolution, key=lambda tier: (abs(tier[0] - side), -tier[0]))[1]
        return float(self.usd or 0)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    spec: str
    kind: str
    model_id: str | None
    media: str | None
    media_format: str | None  # the format its media come in when the request names none (x-flux-mock format)
    media_layout: str | None  # a sync call's media path, as the gateway lays it out (x-flux-mock media_layout)
    pricing: Pricing
    variant: str | None  # this operation is the named response variant of its method and path
    variants: dict = field(repr=False)  # name -> what that variant changes of this operation ({"kind": ...})
    lenient: dict = field(repr=False)  # body field -> the range the real gateway accepts beyond the pages' enum
    waits_for: str | None  # a body field that, when true, makes the submit answer once the job is final
    security: tuple[tuple[str, ...], ...]
    request_schema: dict | None
    body_required: bool
    parameters: tuple[dict, ...]
    responses: dict = field(repr=False)
    delivers_webhooks: bool = False  # the spec gives it callbacks: its jobs' statuses may be POSTed
    callback: dict | None = field(default=None, repr=False)  # what its webhook POSTs (the callback's post object)
    evidence: tuple[str, ...] = ()  # ids of the x-evidence entries (operations/evidence.py) that concern it

    @property
    def is_status(self) -> bool:
        """It reports a job's status (a poll), rather than starting or answering a generation; a route the live
        gateway refuses (not-live) is one if its working answers are."""
        if self.kind == NOT_LIVE:
            return any(change.get("kind") in STATUS_KINDS for change in self.variants.values())
        return self.kind in STATUS_KINDS

    @property
    def starts_job(self) -> bool:
        return self.kind in JOB_KINDS

    def as_variant(self, name: str) -> "Operation":
        """This operation as its named variant `name` answers (the spec's `variants`)."""
        return replace(self, variant=name, variants={}, **self.variants[name])

    @property
    def documented_statuses(self) -> frozenset[int]:
        return frozenset(int(code) for code in self.responses if code.isdigit())

    def response_schema(self, status: int) -> dict | None:
        response = self.responses.get(str(status)) or {}
        return (response.get("content") or {}).get("application/json", {}).get("schema")


def _security_headers(document: dict, requirements: list[dict]) -> tuple[tuple[str, ...], ...]:
    schemes = document.get("components", {}).get("securitySchemes", {})
    return tuple(tuple(schemes[name]["name"] for name in requirement) for requirement in requirements)


def _callback(callbacks: dict | None) -> dict | None:
    """The post object of an operation's (first) callback: what its webhook POSTs."""
    for expressions in (callbacks or {}).values():
        for path_item in expressions.values():
            if isinstance(path_item, dict) and isinstance(path_item.get("post"), dict):
                return path_item["post"]
    return None


def _operation(document: dict, spec: str, path: str, method: str, data: dict, path_item: dict) -> Operation:
    mock = data.get("x-flux-mock") or {}
    body = (data.get("requestBody") or {}).get("content", {}).get("application/json", {})
    requirements = data.get("security", document.get("security", []))
    return Operation(
        operation_id=data["operationId"],
        method=method.upper(),
        path=path,
        spec=spec,
        kind=mock.get("kind", "static"),
        model_id=mock.get("model_id"),
        media=mock.get("media"),
        media_format=mock.get("format"),
        media_layout=mock.get("media_layout"),
        pricing=Pricing.from_spec(mock.get("pricing")),
        variant=mock.get("variant"),
        variants=dict(mock.get("variants") or {}),
        lenient={name: rule for name, rule in (mock.get("lenient") or {}).items() if not name.startswith("x-")},
        waits_for=mock.get("waits_for"),
        security=_security_headers(document, requirements),
        request_schema=body.get("schema"),
        body_required=bool((data.get("requestBody") or {}).get("required")),
        parameters=tuple(path_item.get("parameters", [])) + tuple(data.get("parameters", [])),
        responses=data.get("responses", {}),
        delivers_webhooks=bool(data.get("callbacks")),
        callback=_callback(data.get("callbacks")),
        evidence=tuple(data.get("x-evidence", ())),
    )


def operations_of(document: dict, spec: str) -> list[Operation]:
    found = []
    for path, path_item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in path_item:
                found.append(_operation(document, spec, path, method, path_item[method], path_item))
    return found


def key_headers(operations) -> tuple[str, ...]:
    """The headers the operations' security schemes carry keys in (lower case), in document order."""
    return tuple(dict.fromkeys(name.lower() for op in operations for alternative in op.security
                               for name in alternative))


def variant_names(operations) -> tuple[str, ...]:
    """Every response variant the specs name, in document order."""
    names = [name for op in operations for name in (op.variant, *op.variants) if name]
    return tuple(dict.fromkeys(names))


@cache
def load_operations(directory: str | None = None) -> tuple[Operation, ...]:
    """Every operation of the vendor specs, in document order."""
    return tuple(op for spec in VENDOR_SPECS for op in operations_of(load_bundled(spec, directory), spec))
