"""What `flux-mock check` prints and writes: one progress line per operation as soon as all its checks
have run (cases sent, checks passed and failed), every failure with what broke, a summary table, and
JUnit XML with one test case per operation and check (no statistics, no module paths).

It is a pytest plugin around the suite module; a test that could not reach the target is counted as
not reached, never as a contract failure.
"""

import http.client
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import requests
from schemathesis.core.failures import FailureGroup

from contract_tests.flow import ABOUT_THE_CALLER
from contract_tests.target import TARGET

NETWORK_ERRORS = (httpx.TransportError, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                  requests.exceptions.ChunkedEncodingError, http.client.IncompleteRead, ConnectionError, TimeoutError)
ALL_OPERATIONS = "(all operations)"
CALLER_STATUSES = frozenset(ABOUT_THE_CALLER)  # answers about the caller, not about the request


@dataclass
class Outcome:
    """The result of one check of one operation (several pytest items may add to it)."""

    operation_id: str
    check: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.failed:
            return "FAILED"
        if self.unreachable:
            return "NOT REACHED"
        return "skipped" if self.skipped and not self.passed else "passed"


def _skip_reason(report) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


def _case(report) -> tuple:
    """One test item's key: its nodeid and its (operation, check) (the nodeid alone is shared by operations)."""
    return report.nodeid, dict(report.user_properties).get("flux_mock")


def _is_network_error(excinfo) -> bool:
    error = excinfo.value if excinfo is not None else None
    while error is not None:
        if isinstance(error, NETWORK_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


class CheckReporter:
    def __init__(self, target, out) -> None:
        self.target = target
        self.out = out
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.skip_reasons: list[str] = []
        self.pending: Counter = Counter()
        # by _case(report): schemathesis gives every operation's case of one test the same nodeid, so a nodeid
        # alone let one operation's network error make another's contract failure "not reached"
        self._network: set[tuple] = set()
        self._messages: dict[tuple, str] = {}
        self.started = time.monotonic()

    # -- pytest hooks
    def pytest_configure(self, config) -> None:
        """Hand the suite its target (no environment variable, no module state), and aim the suite at it before
        its tests are collected."""
        from contract_tests import suite

        config.stash[TARGET] = self.target
        suite.aim(self.target)
        suite.build_only(self.target.operations)

    def pytest_unconfigure(self, config) -> None:
        from contract_tests import suite

        suite.build_only(())

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)  # around schemathesis's own, which makes the test's items
    def pytest_pycollect_makeitem(self, collector, name, obj):
        from contract_tests import suite

        made = yield
        if suite.builds_nothing(obj):
            made.force_result([])

    def pytest_collection_modifyitems(self, config, items) -> None:
        from contract_tests import suite

        chosen = self.target.operations
        if chosen:  # --operation: only those operations' checks (the state machine spans them all)
            kept = [item for item in items if suite.classify(item)[0] in chosen]
            config.hook.pytest_deselected(items=[item for item in items if item not in kept])
            items[:] = kept
        for item in items:
            operation_id, check = suite.classify(item)
            item.user_properties.append(("flux_mock", (operation_id, check)))
            self.outcomes.setdefault((operation_id, check), Outcome(operation_id, check))
            self.pending[operation_id] += 1
        self._write(f"flux-mock check: {self.target.url} ({self._kind()}); {len(items)} checks on "
                    f"{len(self.pending)} operations")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        made = yield
        report = made.get_result()
        if call.excinfo is not None and _is_network_error(call.excinfo):
            self._network.add(_case(report))
        if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
            self._messages[_case(report)] = _message(call.excinfo)

    def pytest_runtest_logreport(self, report) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        operation_id, check = dict(report.user_properties)["flux_mock"]
        outcome = self.outcomes[(operation_id, check)]
        outcome.seconds += report.duration
        message = self._messages.get(_case(report)) or report.longreprtext.strip()
        if _case(report) in self._network:
            outcome.unreachable += 1
            outcome.messages.append(f"not reached (network): {message}")
        elif report.failed:
            outcome.failed += 1
            outcome.messages.append(message)
        elif report.skipped:
            outcome.skipped += 1
            reason = _skip_reason(report)
            self.skip_reasons.append(reason)
            if reason not in outcome.messages and len(outcome.messages) < 5:
                outcome.messages.append(reason)
        elif untested := self._untested(operation_id, check):  # a call that passed (the first line let no other by)
            outcome.skipped += 1
            outcome.messages.append(untested)
            self.skip_reasons.append(untested)
        else:
            outcome.passed += 1
        self._done_one(operation_id)

    def _untested(self, operation_id: str, check: str) -> str | None:
        """Why a check that passed tested nothing: every case was answered about the caller (a wrong key, a dry
        wallet, a rate limit), so no answer of the operation's own to the request was judged. None if one was."""
        answers = self.target.answers.get((operation_id, check))
        if not answers or set(answers) - CALLER_STATUSES:
            return None
        seen = ", ".join(f"{status} x{count}" for status, count in sorted(answers.items()))
        return (f"not tested: every {check} case was answered about the caller ({seen}); is the key right, its "
                "wallet filled, its rate not exceeded?")

    def nothing_tested(self) -> str | None:
        """Why no case was tested (each selected one skipped, or none selected); None if any was."""
        if any(o.passed or o.failed or o.unreachable for o in self.outcomes.values()):
            return None
        reasons = Counter(self.skip_reasons)
        return "; ".join(f"{reason} ({count}x)" for reason, count in reasons.most_common(3)) or "no case ran"

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self._write(f"flux-mock check: the suite could not be collected:\n{report.longreprtext}")

    def pytest_sessionfinish(self, session) -> None:
        for title, verdicts in (("Failures", ("FAILED", "NOT REACHED")), ("Not tested", ("skipped", "passed"))):
            shown = [o for o in self.outcomes.values() if o.messages and o.verdict in verdicts]
            if shown:
                self._write(f"\n{title}:")
            for outcome in shown:
                for message in outcome.messages:
                    self._write(f"\n{outcome.verdict} {outcome.operation_id} [{outcome.check}]\n"
                                + _indent(message))
        if self.target.notes:
            self._write("\nNotes (what the server did of the spec's assumptions beyond the pages: information, "
                        "never failures):")
            for operation_id, check, text in self.target.notes:
                self._write(f"- {operation_id} [{check}]: {text}")
        self._write("\n" + self.summary())

    # -- output
    def _kind(self) -> str:
        if not self.target.is_flux_mock:
            return "not flux-mock: cost guard on"
        return "flux-mock; jobs made fast for the run" if self.target.jobs_made_fast else "flux-mock"

    def _done_one(self, operation_id: str) -> None:
        self.pending[operation_id] -= 1
        if self.pending[operation_id] == 0:
            self._write(self._progress_line(operation_id))

    def _progress_line(self, operation_id: str) -> str:
        mine = [o for o in self.outcomes.values() if o.operation_id == operation_id]
        passed, failed = sum(o.passed for o in mine), sum(o.failed for o in mine)
        extra = "".join(f", {count} {word}" for count, word in ((sum(o.skipped for o in mine), "skipped"),
                                                                (sum(o.unreachable for o in mine), "not reached"))
                        if count)
        return (f"  {operation_id:<34} {self.target.cases[operation_id]:>4} cases  {passed:>2} passed  {failed:>2} "
                f"failed{extra}  ({', '.join(o.check for o in mine)})")

    def summary(self) -> str:
        rows = defaultdict(Counter)
        for outcome in self.outcomes.values():
            rows[outcome.check].update(passed=outcome.passed, failed=outcome.failed, skipped=outcome.skipped,
                                       unreachable=outcome.unreachable)
        lines = [f"{'check':<12} {'passed':>7} {'failed':>7} {'skipped':>8} {'not reached':>12}"]
        lines += [f"{check:<12} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8} {c['unreachable']:>12}"
                  for check, c in rows.items()]
        total = sum((c for c in rows.values()), Counter())
        limit = "unlimited" if self.target.budget.limit == float("inf") else f"${self.target.budget.limit:g}"
        notes = f", {len(self.target.notes)} notes" if self.target.notes else ""
        lines.append(f"flux-mock check: {self.target.url}: {total['passed']} passed, {total['failed']} failed, "
                     f"{total['skipped']} skipped, {total['unreachable']} not reached{notes} in "
                     f"{time.monotonic() - self.started:.1f} s; spent ${self.target.budget.spent:g} of {limit} at "
                     f"documented prices")
        return "\n".join(lines)

    def _write(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @property
    def failed(self) -> int:
        return sum(o.failed for o in self.outcomes.values())

    @property
    def unreachable(self) -> int:
        return sum(o.unreachable for o in self.outcomes.values())

    def write_junit(self, path: Path) -> None:
        """One <testcase> per operation and check: classname the operationId, name the check."""
        outcomes = sorted(self.outcomes.values(), key=lambda o: (o.operation_id, o.check))
        suite = ElementTree.Element("testsuite", name="flux-mock check", tests=str(len(outcomes)),
                                    failures=str(sum(o.verdict == "FAILED" for o in outcomes)),
                                    errors=str(sum(o.verdict == "NOT REACHED" for o in outcomes)),
                                    skipped=str(sum(o.verdict == "skipped" for o in outcomes)),
                                    time=f"{sum(o.seconds for o in outcomes):.3f}")
        for outcome in outcomes:
            case = ElementTree.SubElement(suite, "testcase", classname=outcome.operation_id, name=outcome.check,
                                          time=f"{outcome.seconds:.3f}")
            text = "\n\n".join(outcome.messages)
            if outcome.verdict == "FAILED":
                ElementTree.SubElement(case, "failure", message=text.splitlines()[0][:200]).text = text
            elif outcome.verdict == "NOT REACHED":
                ElementTree.SubElement(case, "error", message="target not reached").text = text
            elif outcome.verdict == "skipped":
                ElementTree.SubElement(case, "skipped", message=(outcome.messages or [""])[0][:200])
            notes = [text for operation_id, check, text in self.target.notes
                     if (operation_id, check) == (outcome.operation_id, outcome.check)]
            if notes:
                ElementTree.SubElement(case, "system-out").text = "\n".join(f"note: {text}" for text in notes)
        root = ElementTree.Element("testsuites")
        root.append(suite)
        ElementTree.indent(root)
        path.write_text(ElementTree.tostring(root, encoding="unicode", xml_declaration=True))


def _message(excinfo) -> str:
    """What broke, without a traceback: a contract failure's own text (schemathesis prints each failure with
    its curl line); anything else as its type, message and the line of the kit it came from."""
    error = excinfo.value
    if isinstance(error, BaseExceptionGroup) and not isinstance(error, FailureGroup):
        # hypothesis' "found N distinct failures": each one, as it reports itself
        return "\n\n".join(_text_of(sub) for sub in error.exceptions)
    if isinstance(error, BaseExceptionGroup):
        parts = [error.message.strip()] if error.message.strip() else [str(sub).strip() for sub in error.exceptions]
        return "\n".join(parts)
    text = str(error).strip()
    if isinstance(error, AssertionError):
        return text
    entry = excinfo.traceback[-1]
    return f"{type(error).__name__}: {text} (at {entry.path.name}:{entry.lineno + 1})"


def _text_of(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup) and error.message.strip():
        return error.message.strip()
    return str(error).strip()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
