"""Accepted differences (`drift --accept FILE`): a committed YAML file of known drift, each entry with why and
until when, so a nightly run fails only on what is new.

    accepted:
      - kind: extra-field                  # the difference's kind (drift's names)
        operation: getRequestStatus        # its operation id
        status: 200                        # optional: only in answers of this status
        path: body.output.seed             # optional: only at this path (a trailing * takes what starts so)
        reason: the gateway adds the seed; our client ignores it
        expires: 2027-03-01                # after this day the entry fails the run, and says so

A difference an entry matches is listed as accepted and never fails; an entry past its expiry accepts nothing
and fails the run; an entry that matched nothing is reported unused (a stale exception to remove)."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from contract_tests.differences import SEVERITIES, Difference, at_least
from mock_server.exit_codes import UsageError

FIELDS = {"kind", "operation", "status", "path", "reason", "expires"}


@dataclass(frozen=True)
class Acceptance:
    kind: str
    operation: str
    reason: str
    expires: dt.date
    status: int | None = None
    path: str | None = None

    def matches(self, difference: Difference) -> bool:
        if (difference.kind, difference.operation_id) != (self.kind, self.operation):
            return False
        if self.status is not None and difference.status != self.status:
            return False
        if self.path is None:
            return True
        return difference.where.startswith(self.path[:-1]) if self.path.endswith("*") else difference.where == self.path

    def line(self) -> str:
        where = "".join(f" {part}" for part in (f"status {self.status}" if self.status else "", self.path or "") if part)
        return f"{self.kind} of {self.operation}{where} (until {self.expires}: {self.reason})"


def read_accepted(path: str) -> list[Acceptance]:
    """The entries of an accept file; UsageError (one line, naming the entry and field) for one it cannot read."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise UsageError(f"--accept {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"--accept {path}: not YAML ({str(error).splitlines()[0]})") from None
    entries = (data or {}).get("accepted") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"--accept {path}: give a list under `accepted:` (kind, operation, reason, expires)")
    return [_entry(path, number, entry) for number, entry in enumerate(entries, 1)]


def _entry(path: str, number: int, entry) -> Acceptance:
    where = f"--accept {path}: entry {number}"
    if not isinstance(entry, dict):
        raise UsageError(f"{where} is not a mapping")
    if unknown := sorted(set(entry) - FIELDS):
        raise UsageError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(FIELDS))})")
    for name in ("kind", "operation", "reason", "expires"):
        if not entry.get(name):
            raise UsageError(f"{where}: `{name}` is required (why the difference is accepted, and until when)")
    expires = entry["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise UsageError(f"{where}: expires {expires!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(expires, dt.date):
        raise UsageError(f"{where}: expires must be a date (YYYY-MM-DD)")
    status = entry.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise UsageError(f"{where}: status {status!r} is not an HTTP status")
    return Acceptance(kind=str(entry["kind"]), operation=str(entry["operation"]), reason=str(entry["reason"]),
                      expires=expires, status=status, path=entry.get("path"))


@dataclass
class Verdict:
    """What of a run's differences fails it: those at or above `fail_on` that no live entry accepts."""

    failing: list[Difference]
    tolerated: list[Difference]  # below --fail-on (or, with --fail-on-used, not met by the client): never failing
    accepted: list[tuple[Difference, Acceptance]]
    expired: list[Acceptance]
    unused: list[Acceptance]
    used: Callable[[Difference], bool] | None = None  # whether the client's own traffic met it (--client)

    def use_of(self, difference: Difference) -> bool | None:
        return None if self.used is None else self.used(difference)

    @property
    def fails(self) -> bool:
        return bool(self.failing or self.expired)

    def accepted_by(self, difference: Difference) -> Acceptance | None:
        return next((entry for found, entry in self.accepted if found == difference), None)

    def summary(self, fail_on: str) -> str:
        every = self.failing + self.tolerated + [found for found, _ in self.accepted]
        counts = ", ".join(f"{sum(d.severity == severity for d in every)} {severity}" for severity in SEVERITIES)
        met = f"; {sum(map(self.used, every))} met by the client" if self.used is not None else ""
        return (f"{len(every)} difference{'s' * (len(every) != 1)} ({counts}){met}; {len(self.accepted)} accepted; "
                f"{len(self.failing)} failing "
                f"(--fail-on {fail_on})" + (f"; {len(self.expired)} accept entries expired" if self.expired else "")
                + (f"; {len(self.unused)} accept entries unused" if self.unused else ""))


def judge(differences: list[Difference], accepted: list[Acceptance], fail_on: str, today: dt.date,
          used: Callable[[Difference], bool] | None = None, only_used: bool = False) -> Verdict:
    """`used`: whether the client met a difference (--client); `only_used`: only those can fail (--fail-on-used)."""
    live = [entry for entry in accepted if entry.expires >= today]
    verdict = Verdict([], [], [], [entry for entry in accepted if entry.expires < today], [], used)
    matched: set[Acceptance] = set()
    for difference in differences:
        entry = next((entry for entry in live if entry.matches(difference)), None)
        if entry is not None:
            verdict.accepted.append((difference, entry))
            matched.add(entry)
        elif at_least(difference.severity, fail_on) and not (only_used and used and not used(difference)):
            verdict.failing.append(difference)
        else:
            verdict.tolerated.append(difference)
    verdict.unused = [entry for entry in live if entry not in matched]
    return verdict
