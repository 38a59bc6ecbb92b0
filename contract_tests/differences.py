"""One way a server's answers depart from the specs, as drift names it (live, against a recording, against a
baseline), and how much it matters to a client (its severity):

  breaking  a client written from the pages fails on it: a documented field gone or retyped, a required header
            gone, an answer no longer JSON, a job that never ends or a flow that breaks, media gone or not
            what the answer says, a documented status or error code no longer answered
  risky     a strict client may fail on it: a new status, a new enum value or error code, a header of another
            form, a URL moved (host or template), timing beyond tolerance, an exchange to an unknown path, a
            stale recording
  info      a client that ignores what it does not know is not touched: an added field

`drift --fail-on` says from which severity a difference fails the run (default risky: what may break a client,
never what only adds)."""

from dataclasses import dataclass

SEVERITIES = ("breaking", "risky", "info")
SEVERITY = {
    "missing-field": "breaking", "changed-type": "breaking", "changed-content-type": "breaking",
    "missing-header": "breaking", "invalid-flow": "breaking", "media-unavailable": "breaking",
    "media-mismatch": "breaking", "status-gone": "breaking", "field-gone": "breaking", "type-changed": "breaking",
    "error-codes-changed": "breaking",
    "undocumented-status": "risky", "unknown-value": "risky", "changed-header": "risky", "url-changed": "risky",
    "timing-changed": "risky", "status-added": "risky", "unknown-path": "risky", "stale-recording": "risky",
    "extra-field": "info", "field-added": "info",
}


@dataclass(frozen=True)
class Difference:
    operation_id: str
    kind: str  # undocumented-status, missing-field, extra-field, changed-type, unknown-value, changed-header,
    # missing-header, changed-content-type, invalid-flow, media-unavailable, media-mismatch, url-changed, and
    # against a baseline status-added, status-gone, field-added, field-gone, type-changed, error-codes-changed,
    # timing-changed
    where: str
    expected: str
    found: str
    status: int | None = None  # the status of the answer it was found in (None: not one answer's, e.g. media)

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.kind, "risky")  # a kind not graded yet: never silently info

    @property
    def place(self) -> tuple:
        """What makes two differences one: the operation, the answer's status and the path in it (the flow's
        `output.media_url` and the schema's `body.output.media_url` are one place)."""
        return self.operation_id, self.status, self.where.removeprefix("body.")

    def line(self) -> str:
        status = f" (in a {self.status} answer)" if self.status is not None else ""
        return f"{self.kind} at {self.where}: expected {self.expected}, found {self.found}{status}"


def _rank(difference: Difference) -> tuple[bool, int]:
    """Which of two differences at one place is kept: one that names the change (a field gone, a new value)
    before the status flow's broken rule there, then the more severe."""
    return difference.kind == "invalid-flow", SEVERITIES.index(difference.severity)


def one_per_place(differences) -> tuple[Difference, ...]:
    """One difference per (operation, status, path): the one that names the change best, first found first."""
    kept: dict[tuple, Difference] = {}
    for difference in differences:
        held = kept.get(difference.place)
        if held is None or _rank(difference) < _rank(held):
            kept[difference.place] = difference
    return tuple(kept.values())


def at_least(severity: str, threshold: str) -> bool:
    """Whether `severity` is `threshold` or worse."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)
