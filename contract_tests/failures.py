"""What a broken contract looks like, as data: every failure the kit reports says what broke, where
(operation, request id, field path, URL), what was expected and what came back, and how to reproduce it.

    Problem            one finding of a pure check: field, expected, got (no I/O, no request)
    ContractFailure    a Problem placed on a request: an AssertionError, so pytest and schemathesis
                       report it as a failed check, with the reproduction line
"""

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

SECRET_HEADERS = ("ocp-apim-subscription-key", "x-secret-key", "x-admin-token")


@dataclass(frozen=True)
class Problem:
    check: str      # the check's name, e.g. job-status-consistency
    field: str      # a field path in the body (output.media_url), or header / status / media
    expected: str
    got: str

    def line(self) -> str:
        return f"{self.check} at {self.field or 'body'}: expected {self.expected}, got {self.got}"


def curl(method: str, url: str, headers: Mapping[str, str] | None = None, body=None) -> str:
    """A shell line that sends the same request again; secret headers name an environment variable
    (`"X-Secret-Key: $X_SECRET_KEY"`) instead of the value."""
    parts = ["curl", "-X", method.upper(), shlex.quote(url)]
    for name, value in (headers or {}).items():
        if name.lower() in SECRET_HEADERS:
            parts += ["-H", f'"{name}: ${name.upper().replace("-", "_")}"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body is not None:
        parts += ["-H", shlex.quote("Content-Type: application/json"),
                  "-d", shlex.quote(json.dumps(body, separators=(",", ":")))]
    return " ".join(parts)


@dataclass(eq=False)
class ContractFailure(AssertionError):
    """One broken contract on one request. `str()` is the readable report; the fields are for tools."""

    problem: Problem
    operation_id: str
    method: str
    url: str
    request_id: str | None = None
    reproduce: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        AssertionError.__init__(self, str(self))

    def __str__(self) -> str:
        lines = [f"{self.problem.check} failed for {self.operation_id}: {self.method} {self.url}"]
        if self.request_id:
            lines.append(f"  request id: {self.request_id}")
        lines += [f"  at:         {self.problem.field or 'body'}",
                  f"  expected:   {self.problem.expected}",
                  f"  got:        {self.problem.got}"]
        lines += [f"  {name}: {value}" for name, value in self.extra.items()]
        if self.reproduce:
            lines.append(f"  reproduce:  {self.reproduce}")
        return "\n".join(lines)


class ContractFailures(AssertionError):
    """Several failures of one step (all are reported, not just the first)."""

    def __init__(self, failures: list[ContractFailure]) -> None:
        self.failures = failures
        super().__init__("\n".join(str(failure) for failure in failures))


def raise_all(failures: list[ContractFailure]) -> None:
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ContractFailures(failures)
