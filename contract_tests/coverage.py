"""Outcome coverage: which of the outcomes the specs document a client's tests met, for each operation they
called, and which they never met ("your tests never saw a FAILED job for flux2ProTextToImage"). Read from
the mock's journal: each status code answered (a 429 counts with its Retry-After), each final status of the
operation's jobs (by poll, sync answer or webhook), each webhook event delivered, each named variant; and,
apart from the documented outcomes, the network faults (chaos) met. A webhook counts once the client received
it (its answer was a 2xx); a final one also counts as that final status of the job."""

from collections import Counter
from dataclasses import dataclass

from mock_server.journal_entry import JournalEntry
from mock_server.operations import STATUS_KINDS
from mock_server.routes import named_variants

FINAL = ("COMPLETED", "FAILED", "ERROR")
RATE_LIMITED = "429 with Retry-After"


def documented_outcomes(operation, variants) -> tuple[str, ...]:
    """What an operation can answer, as coverage names it."""
    outcomes = [RATE_LIMITED if code == 429 else str(code) for code in sorted(operation.documented_statuses)]
    if operation.starts_job:
        outcomes += [f"job {status}" for status in FINAL]
    if operation.delivers_webhooks:
        outcomes += [f"webhook {status.lower()}" for status in FINAL]
    outcomes += [f"variant {name}" for name in sorted(variants) if name != operation.variant]
    return tuple(outcomes)


@dataclass(frozen=True)
class OperationCoverage:
    operation_id: str
    met: tuple[str, ...]
    missing: tuple[str, ...]


class OutcomeCoverage:
    """Fed journal entries (any number of times: a pytest session feeds it each test's), it tells what was met."""

    def __init__(self, operations) -> None:
        variants = named_variants(tuple(operations))
        defaults = {(op.method, op.path): op for op in operations if not op.variant}
        self._documented = {}
        self._base = {}  # an operation id (a variant's too) -> the operation id coverage counts it under
        for route, named in variants.items():
            default = defaults.get(route) or next(iter(named.values()))
            self._documented[default.operation_id] = documented_outcomes(default, named)
            self._base.update({op.operation_id: default.operation_id for op in (default, *named.values())})
        self.met: dict[str, set[str]] = {}
        self.chaos: Counter = Counter()
        self._jobs: dict[str, str] = {}  # request id -> the operation that started it

    def observe(self, entries: list[JournalEntry]) -> None:
        for entry in entries:
            if not entry.is_request:
                self._delivered(entry)
                continue
            operation = self._base.get(entry.operation_id)
            if operation is None:
                continue
            status = entry.status
            self._meet(operation, RATE_LIMITED if status == 429 and entry.retry_after else str(status))
            if entry.variant:
                self._meet(operation, f"variant {entry.variant}")
            if (answer := entry.answer or "").startswith("chaos:"):
                self.chaos[answer.removeprefix("chaos:")] += 1
            request_id, job_status = entry.request_id, entry.job_status
            if request_id and request_id not in self._jobs and entry.operation_kind not in STATUS_KINDS:
                self._jobs[request_id] = operation
            if job_status in FINAL:
                self._meet(self._jobs.get(request_id, operation), f"job {job_status}")

    def _delivered(self, attempt: JournalEntry) -> None:
        """A webhook the client received (a 2xx answered it): its event, and, for a final one, the job's final
        status (a result that came by webhook counts as one seen by a poll)."""
        if attempt.error is not None or not 200 <= attempt.status < 300:
            return
        operation = self._jobs.get(attempt.request_id)
        self._meet(operation, f"webhook {attempt.event}")
        if (attempt.event or "").upper() in FINAL:
            self._meet(operation, f"job {attempt.event.upper()}")

    def _meet(self, operation: str | None, outcome: str) -> None:
        if operation is not None:
            self.met.setdefault(operation, set()).add(outcome)

    def operations(self) -> list[OperationCoverage]:
        """Per operation called, in name order: what was met and what was never met."""
        found = []
        for operation in sorted(self.met):
            documented = self._documented.get(operation, ())
            met = self.met[operation]
            found.append(OperationCoverage(operation, tuple(o for o in documented if o in met),
                                           tuple(o for o in documented if o not in met)))
        return found

    def share(self) -> float:
        """The share (0-100) of the called operations' documented outcomes met; 100 when nothing was called."""
        rows = self.operations()
        total = sum(len(row.met) + len(row.missing) for row in rows)
        return 100.0 if total == 0 else 100.0 * sum(len(row.met) for row in rows) / total

    def lines(self, detail: bool = True) -> list[str]:
        rows = self.operations()
        if not rows:
            return ["flux-mock outcome coverage: no operation was called"]
        met, total = sum(len(r.met) for r in rows), sum(len(r.met) + len(r.missing) for r in rows)
        lines = [f"flux-mock outcome coverage: {met} of {total} documented outcomes met ({self.share():.0f}%) "
                 f"across {len(rows)} operation{'' if len(rows) == 1 else 's'} called"]
        if detail:
            for row in rows:
                lines.append(f"  {row.operation_id}: met {', '.join(row.met) or 'nothing documented'}")
                lines += [f"    never met: {_never(row.operation_id, outcome)}" for outcome in row.missing]
            if self.chaos:
                lines.append("  network faults met: " + ", ".join(f"{fault} x{count}"
                                                                  for fault, count in sorted(self.chaos.items())))
        return lines


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def _never(operation: str, outcome: str) -> str:
    if outcome.startswith("job "):
        return f"your tests never saw {_a(outcome.removeprefix('job '))} job for {operation}"
    if outcome.startswith("webhook "):
        return f"your tests never received {_a(outcome.removeprefix('webhook '))} webhook for {operation}"
    if outcome.startswith("variant "):
        return f"your tests never met {operation}'s {outcome.removeprefix('variant ')} variant"
    return f"your tests never got a {outcome} from {operation}"
