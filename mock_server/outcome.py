"""What a call is asked to do beyond the mock's own answer: the matching rule's `outcome` (admin.yaml's
Rule.outcome) and the request's `Prefer` header, merged once into one typed, frozen `Outcome` (Prefer wins,
field by field). The pipeline's stages and the handlers read its fields; nothing reads the dicts.
"""

from dataclasses import dataclass

from mock_server.chaos import FAULTS
from mock_server.errors import BadRequest

JOB_ENDINGS = ("COMPLETED", "FAILED", "ERROR")
MAX_LATENCY = 600.0  # seconds, as admin.yaml bounds a rule's latency


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None = None  # answer this documented (or gateway) status at once
    job: str | None = None  # how the job it creates ends: COMPLETED, FAILED or ERROR (None: COMPLETED)
    error: str | None = None  # the job's error, with FAILED or ERROR
    latency: float = 0.0  # extra seconds before answering
    drop: bool = False  # close the connection without an answer
    variant: str | None = None  # answer as this named response variant
    example: str | None = None  # answer this documented example, verbatim
    dynamic: bool | None = None  # answers drawn from the schema; None: as the config's `responses` says
    beyond_contract: bool = False  # drawn from the schema alone, past the pages' constraints on purpose
    draw_from: str | None = None  # with dynamic: the loopback URL of the test that draws them
    chaos: dict | str | None = None  # a Chaos setting, or the one fault Prefer forces; None: the config's
    webhook: dict | None = None  # how the job's webhook delivery misbehaves

    @classmethod
    def of(cls, wishes: dict) -> "Outcome":
        """From wishes in a rule's vocabulary (admin.yaml's Rule.outcome, checked when the rule was made)."""
        known = {name: value for name, value in wishes.items() if name in _FIELDS and value is not None}
        if "drop_connection" in known:
            known["drop"] = bool(known.pop("drop_connection"))
        return cls(**known)


_FIELDS = frozenset(Outcome.__dataclass_fields__) - {"drop"} | {"drop_connection"}
NOTHING = Outcome()


def merged(rule_outcome: dict | None, prefer: str | None) -> Outcome:
    """The outcome of one call: its rule's, with what its Prefer header names put over it."""
    return Outcome.of({**(rule_outcome or {}), **parse_prefer(prefer)})


def _flag(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError(raw)
    return raw.lower() == "true"


BEYOND_CONTRACT = "beyond-contract"


def _dynamic(raw: str) -> bool | str:
    """`dynamic=true`, `false`, or `beyond-contract` (drawn, past the pages' constraints on purpose)."""
    return BEYOND_CONTRACT if raw.lower() == BEYOND_CONTRACT else _flag(raw)


_PREFER_FIELDS = {"code": ("status", int), "job": ("job", str.upper), "latency": ("latency", float),
                  "variant": ("variant", str), "error": ("error", str), "webhook": ("webhook", str),
                  "example": ("example", str), "dynamic": ("dynamic", _dynamic), "chaos": ("chaos", str)}
_WEBHOOK_PREFERENCES = {"duplicate": "duplicate", "out-of-order": "out_of_order",
                        "timeout-first": "first_attempt_timeout"}

# RFC 7240's registered preferences: an app may send them to the real gateway, which ignores them; so does
# the mock. Any other unknown token is a 400: a typo in a test's Prefer would otherwise do nothing, silently.
REGISTERED_PREFERENCES = frozenset({"respond-async", "return", "wait", "handling"})


def parse_prefer(value: str | None) -> dict:
    """The wishes a `Prefer` header names (`code=429, latency=1.5`; several headers read as one list, as RFC 7240
    has it), in a rule's vocabulary. RFC 7240's own preferences are ignored; any other unknown one, a value the
    mock cannot honour, or one preference given twice with different values, is a 400 saying why."""
    wishes, given = {}, {}
    for part in (value or "").replace(";", ",").split(","):
        name, _, raw = part.strip().partition("=")
        if name and name.lower() not in _PREFER_FIELDS and name.lower() not in REGISTERED_PREFERENCES:
            raise BadRequest(f"Prefer: {name[:50]} is not a preference flux-mock knows; supported: "
                             f"{', '.join(f'{known}=' for known in _PREFER_FIELDS)} (RFC 7240's "
                             f"{', '.join(sorted(REGISTERED_PREFERENCES))} are ignored)")
        if name.lower() in _PREFER_FIELDS and raw:
            earlier = given.setdefault(name.lower(), raw.strip())
            if earlier != raw.strip():
                raise BadRequest(f"Prefer: {name.lower()}={earlier[:40]} and {name.lower()}={raw.strip()[:40]} "
                                 "conflict: ask for one")
            target, convert = _PREFER_FIELDS[name.lower()]
            try:
                wishes[target] = convert(raw.strip().strip('"'))
            except ValueError:
                raise BadRequest(f"Prefer: {name}={raw.strip()} is not a valid value") from None
    _check(wishes)
    if wishes.get("dynamic") == BEYOND_CONTRACT:
        wishes.update(dynamic=True, beyond_contract=True)
    if "webhook" in wishes:
        wishes["webhook"] = {_WEBHOOK_PREFERENCES[wishes["webhook"]]: True}
    return wishes


def _check(wishes: dict) -> None:
    if wishes.get("job") not in (None, *JOB_ENDINGS):
        raise BadRequest("Prefer: job= must be COMPLETED, FAILED or ERROR")
    if not 0 <= wishes.get("latency", 0) <= MAX_LATENCY:
        raise BadRequest("Prefer: latency= must be between 0 and 600 seconds")
    if wishes.get("chaos") not in (None, *FAULTS):
        raise BadRequest(f"Prefer: chaos={wishes['chaos'][:40]} is not a fault flux-mock knows; faults: "
                         f"{', '.join(FAULTS)}")
    if wishes.get("webhook") not in (None, *_WEBHOOK_PREFERENCES):
        raise BadRequest(f"Prefer: webhook= must be one of {', '.join(_WEBHOOK_PREFERENCES)}")
