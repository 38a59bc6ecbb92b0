"""One way a server's answers depart from the specs, as drift names it (live, against a recording, against a
baseline)."""

from dataclasses import dataclass


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

    def line(self) -> str:
        return f"{self.kind} at {self.where}: expected {self.expected}, found {self.found}"
