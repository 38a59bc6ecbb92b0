"""Every distinct breach of one generated test, not only the first: hypothesis stops a test at its first failing
explicit example (the documented ones, schemathesis' coverage cases) and reports one failure per kind of
exception, so two fields breaking one check (num_steps, then width) or two checks failing on two inputs were
shown one at a time, each fix revealing the next. The suite hands each test a `Breaches`; a failed case adds to
it (the first example of each distinct breach is kept) and the test goes on; when the test ends, every breach it
collected fails it at once (`pytest_pyfunc_call`, registered by the suite module)."""

import re

import pytest
from schemathesis.core.failures import FailureGroup

FOUND = pytest.StashKey["Breaches"]()
MAX_LISTED = 10  # distinct breaches one test lists (a server failing everything needs no hundred of them)


def _identity(failure: Exception) -> tuple:
    """What makes a breach distinct: its check, the status it met, and its message with the values masked."""
    message = str(getattr(failure, "message", failure)).split("\n\n")[0]
    masked = re.sub(r"\d+|\"[^\"]*\"|'[^']*'|`[^`]*`", "_", message)[:300]
    return type(failure).__name__, getattr(failure, "status_code", None), masked


class ContractBreaches(AssertionError):
    """The distinct breaches one test collected, each as schemathesis reported it (with its reproduction)."""


class Breaches:
    def __init__(self) -> None:
        self._reports: dict[tuple, str] = {}
        self.seen = 0  # failing cases, distinct or not

    def add(self, group: FailureGroup) -> None:
        self.seen += 1
        key = tuple(sorted(_identity(failure) for failure in group.exceptions))
        if key not in self._reports and len(self._reports) < MAX_LISTED:
            self._reports[key] = (group.message or str(group)).strip()

    def __bool__(self) -> bool:
        return bool(self._reports)

    def error(self) -> ContractBreaches:
        count = len(self._reports)
        head = (f"{count} distinct breach{'es' if count > 1 else ''} in {self.seen} failing "
                f"case{'s' if self.seen > 1 else ''}:")
        return ContractBreaches("\n\n".join([head, *self._reports.values()]))


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A test that ran through but collected breaches fails with all of them, in its own call."""
    outcome = yield
    breaches = pyfuncitem.stash.get(FOUND, None)
    if breaches and outcome.excinfo is None:
        outcome.force_exception(breaches.error())
