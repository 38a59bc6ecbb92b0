"""FluxMock: a running flux-mock, driven through its admin API. The pytest fixture hands one to tests.

One API, in typed parts: `rules` (rules: per-test answers, one outcome or a sequence, matched on operation,
path, key, prompt, body fields and headers; the pages' own rules are "constraints"), `clock`, `wallets`,
`timing`, `jobs` and `journal`; and the verbs of a test: `reset`, `requests`, `assert_called`,
`assert_called_in_order`, `client_report`, `assert_no_violations`, `fuzz_client`. The flat methods of earlier
releases (`set_timing`, `add_scenario`, `clear_scenarios`, `advance`, `advance_clock`, `set_balance`,
`entries`, `jobs()`, `journal()`) still work for one release and warn (DeprecationWarning) naming the part
that replaces them.
"""

import functools
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from contract_tests.verification import RecordedRequest, requests_of, verify_called, verify_order
from mock_server.journal_entry import JournalEntry


@dataclass(frozen=True)
class Rule:
    """A rule (a per-test answer) as the mock holds it."""

    id: str
    match: dict
    outcome: dict | None
    sequence: list | None
    times: int | None
    remaining: int | None
    source: str = "admin"  # admin: added at run time (a reset removes it); config: the config file's

    @classmethod
    def of(cls, data: dict) -> "Rule":
        return cls(data["id"], data.get("match") or {}, data.get("outcome"), data.get("sequence"), data.get("times"),
                   data.get("remaining"), data.get("source", "admin"))

    def as_added(self) -> dict:
        """The rule as the admin API takes it, to add it again (its `times` afresh)."""
        return {"match": self.match, **({"outcome": self.outcome} if self.outcome is not None else {}),
                **({"sequence": self.sequence} if self.sequence is not None else {}),
                **({"times": self.times} if self.times else {})}


class Rules:
    """`flux_mock.rules`: per-test answers ([rules](docs/guide/scenarios.md)), without hand-built JSON."""

    def __init__(self, call) -> None:
        self._call = call

    def add(self, outcome: dict | None = None, *, sequence: list | None = None, operation: str | None = None,
            path: str | None = None, key: str | None = None, prompt_contains: str | None = None,
            body: dict | None = None, headers: dict | None = None, times: int | None = None) -> Rule:
        """A rule: matching requests get `outcome` ({"status": 429}, {"job": "FAILED"}, ...), or each the next
        of `sequence` ([429, 429, 200]: a number is a status, 200 the mock's own answer), the last repeating.
        Every given match must hold: `operation` id, exact `path`, `key`, `prompt_contains`, `body` fields by
        dotted path, `headers`."""
        match = {name: value for name, value in (("operation_id", operation), ("path", path), ("key", key),
                                                  ("prompt_contains", prompt_contains), ("body", body),
                                                  ("headers", headers)) if value is not None}
        rule = {"match": match, **({"outcome": outcome} if outcome is not None else {}),
                **({"sequence": list(sequence)} if sequence is not None else {}), **({"times": times} if times else {})}
        return self.add_raw(rule)

    def add_raw(self, rule: dict) -> Rule:
        """A rule as the admin API takes it (`{"match": ..., "outcome": ...}`, admin.yaml's Rule)."""
        return Rule.of(self._call("POST", "/rules", json=rule))

    def list(self) -> list[Rule]:
        return [Rule.of(data) for data in self._call("GET", "/rules")["rules"]]

    def remove(self, rule_id: str) -> None:
        self._call("DELETE", f"/rules/{rule_id}")

    def clear(self) -> None:
        """Remove the rules added at run time (the config file's stay)."""
        self._call("DELETE", "/rules")


class ClockControl:
    """`flux_mock.clock`: the mock's clock, which every job's status follows."""

    def __init__(self, call) -> None:
        self._call = call

    def now(self) -> float:
        """The mock's time, in epoch seconds."""
        return self._call("GET", "/clock")["epoch_seconds"]

    def advance(self, seconds: float) -> float:
        """Move it forward (no waiting); the new time."""
        return self._call("POST", "/clock/advance", json={"seconds": seconds})["epoch_seconds"]


class Wallets:
    """`flux_mock.wallets`: each key's balance in USD (0 makes priced calls answer 402)."""

    def __init__(self, call) -> None:
        self._call = call

    def set(self, key: str, usd: float) -> None:
        self._call("PUT", f"/wallets/{key}", json={"balance": usd})

    def balance(self, key: str) -> float | None:
        """The key's balance; None for a key the mock has not met."""
        return self._call("GET", "/wallets")["wallets"].get(key)


class TimingControl:
    """`flux_mock.timing`: how new jobs move. Set in a test, it holds for the test, `fuzz_client`'s runs
    included."""

    def __init__(self, call) -> None:
        self._call = call
        self.chosen: dict | None = None  # what the test set through this client

    def get(self) -> dict:
        return self._call("GET", "/timing")

    def set(self, mode: str | None = None, queued_for: float | None = None, processing_for: float | None = None,
            sync_latency: float | None = None, speed: float | None = None) -> dict:
        """mode: "time", "per-poll", "manual" or "observed"; the seconds for the time mode and sync calls; under
        observed, `speed` divides the observed durations."""
        given = {"mode": mode, "queued_for": queued_for, "processing_for": processing_for,
                 "sync_latency": sync_latency, "speed": speed}
        self.chosen = {**(self.chosen or {}), **{k: v for k, v in given.items() if v is not None}}
        return self._call("PUT", "/timing", json={k: v for k, v in given.items() if v is not None})

    def observed(self, speed: float = 1.0) -> dict:
        """Sync calls and jobs take as long as the live gateway was seen to (28-39 s a getData, 12 s to 3 min a
        job: flux.yaml x-evidence), divided by `speed`: `observed(100)` keeps the proportions in a fast test."""
        return self.set(mode="observed", speed=speed)

    def fast(self) -> dict:
        """Jobs final at once (QUEUED and PROCESSING for no time), sync calls without latency."""
        return self.set(mode="time", queued_for=0, processing_for=0, sync_latency=0)

    def put(self, timing: dict) -> dict:
        """Put a timing back as `get()` gave it."""
        return self._call("PUT", "/timing", json=timing)

    def again_after_reset(self) -> dict:
        """After a reset: the timing the test chose, else fast (what `fuzz_client` does before each run)."""
        fast = {"mode": "time", "queued_for": 0, "processing_for": 0, "sync_latency": 0, "speed": 1}
        return self._call("PUT", "/timing", json={**fast, **(self.chosen or {})})


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"flux_mock.{old} is deprecated and goes in the next release: use flux_mock.{new}",
                  DeprecationWarning, stacklevel=3)


class Jobs:
    """`flux_mock.jobs`: the jobs the mock holds, and moving one on by hand."""

    def __init__(self, call) -> None:
        self._call = call

    def list(self) -> list[dict]:
        """Every job, as the admin API sends it (request id, operation, status, outcome...)."""
        return self._call("GET", "/jobs")["jobs"]

    def advance(self, request_id: str, to_end: bool = False) -> dict:
        """Move one job a state forward (or to its end); the job."""
        return self._call("POST", f"/jobs/{request_id}/advance", json={"to_end": to_end})

    def __call__(self) -> "list[dict]":
        _deprecated("jobs()", "jobs.list()")
        return self.list()


class Journal:
    """`flux_mock.journal`: every request the mock answered and every webhook it sent, with each one's
    violations and findings, oldest first (the newest 500 unless the mock is configured otherwise)."""

    def __init__(self, call, observed: Callable[[], list[JournalEntry]]) -> None:
        self._call, self._observed = call, observed

    def entries(self, operation_id: str | None = None) -> list[JournalEntry]:
        """The journal's entries, typed (read by attribute)."""
        return [JournalEntry.from_wire(entry) for entry in self.as_json(operation_id)]

    def as_json(self, operation_id: str | None = None) -> list[dict]:
        """The entries as the admin API sends them (admin.yaml's JournalEntry)."""
        params = {"operation_id": operation_id} if operation_id else {}
        return self._call("GET", "/journal", params=params)["entries"]

    def of_fuzz_runs(self) -> list[JournalEntry]:
        """After `fuzz_client`: the entries of its examples before the last (the journal holds the last one's),
        at most FUZZ_ENTRIES_KEPT, oldest first."""
        return self._observed()

    def __call__(self, operation_id: str | None = None) -> list[dict]:
        _deprecated("journal()", "journal.as_json() (or journal.entries(), typed)")
        return self.as_json(operation_id)


# The flat methods of earlier releases, each kept one release more and warning (their parts' calls replace them).
DEPRECATED = ("set_timing", "add_scenario", "clear_scenarios", "advance", "advance_clock", "set_balance", "entries")
FUZZ_ENTRIES_KEPT = 10_000  # journal entries of earlier fuzz examples a FluxMock keeps


@functools.cache
def _default_trust() -> ssl.SSLContext:
    """httpx's default TLS context, made once: httpx makes one for every client (27 ms of CPU), and the pytest
    plugin makes a FluxMock for every test."""
    return httpx.create_ssl_context()


class FluxMock:
    """A running flux-mock driven through its admin API (its `admin_token`, if it has one): what the `flux_mock`
    fixture is. Parts: `rules`, `clock`, `wallets`, `timing`, `jobs`, `journal`; verbs: `reset`, `requests`,
    `assert_called`, `assert_called_in_order`, `client_report`, `assert_no_violations`, `fuzz_client`."""

    def __init__(self, url: str, admin_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._admin = httpx.Client(base_url=f"{self.url}/__admin", timeout=30, verify=_default_trust(),
                                   headers={"X-Admin-Token": admin_token} if admin_token else {})
        self._fuzz_entries: list[JournalEntry] = []
        self.observers: list[Callable[[list[JournalEntry]], None]] = []  # each told the journal before a reset
        self.rules, self.clock = Rules(self._call), ClockControl(self._call)
        self.wallets, self.timing = Wallets(self._call), TimingControl(self._call)
        self.jobs, self.journal = Jobs(self._call), Journal(self._call, lambda: list(self._fuzz_entries))

    def _call(self, method: str, path: str, **kwargs):
        response = self._admin.request(method, path, **kwargs)
        if response.is_error:  # say what the mock refused, and why (its message), not only the status
            raise httpx.HTTPStatusError(f"{method} {self.url}/__admin{path} answered {response.status_code}: "
                                        f"{response.text[:500]}", request=response.request, response=response)
        return response.json() if response.content else None

    def reset(self) -> None:
        """Forget jobs, journal, run-time rules, wallets and timing (the config file's stay); each observer (the
        plugin's coverage, its traffic file) is given the journal first."""
        if self.observers:
            entries = self.journal.entries()
            for observe in self.observers:
                observe(entries)
        self._call("POST", "/reset")

    def kept_from_fuzzing(self, entries: list[JournalEntry]) -> None:
        """`fuzz_client`: an example's entries, kept before the next example's reset (bounded)."""
        self._fuzz_entries = (self._fuzz_entries + entries)[-FUZZ_ENTRIES_KEPT:]

    def requests(self, operation: str | None = None, key: str | None = None) -> list[RecordedRequest]:
        """The requests the client made (of one operation id, one key), oldest first, with body and headers."""
        return requests_of(self.journal.entries(), operation, key)

    # --- the flat API of earlier releases: one release more, warning ---------------------------------------
    def set_timing(self, mode: str | None = None, queued_for: float | None = None,
                   processing_for: float | None = None, sync_latency: float | None = None,
                   speed: float | None = None) -> dict:
        _deprecated("set_timing()", "timing.set()")
        return self.timing.set(mode, queued_for, processing_for, sync_latency, speed)

    def add_scenario(self, outcome: dict, match: dict | None = None, times: int | None = None) -> dict:
        _deprecated("add_scenario()", "rules.add()")
        rule = {"outcome": outcome, "match": match or {}, **({"times": times} if times else {})}
        return self._call("POST", "/rules", json=rule)

    def clear_scenarios(self) -> None:
        _deprecated("clear_scenarios()", "rules.clear()")
        self.rules.clear()

    def advance(self, request_id: str, to_end: bool = False) -> dict:
        _deprecated("advance()", "jobs.advance()")
        return self.jobs.advance(request_id, to_end)

    def advance_clock(self, seconds: float) -> dict:
        _deprecated("advance_clock()", "clock.advance()")
        return self._call("POST", "/clock/advance", json={"seconds": seconds})

    def set_balance(self, key: str, usd: float) -> None:
        _deprecated("set_balance()", "wallets.set()")
        self.wallets.set(key, usd)

    def entries(self, operation_id: str | None = None) -> list[JournalEntry]:
        _deprecated("entries()", "journal.entries()")
        return self.journal.entries(operation_id)

    def assert_called(self, operation: str, times: int | None = None, body: dict | None = None,
                      headers: dict | None = None, key: str | None = None) -> list[RecordedRequest]:
        """Fail unless `operation` was called `times` times (None: at least once) with these `body` fields
        (dotted paths: {"prompt": ..., "output.format": ...}) and headers, naming the closest miss; the
        matching calls."""
        return verify_called(self.journal.entries(), operation, times, body, headers, key)

    def assert_called_in_order(self, *operations: str, key: str | None = None) -> None:
        """Fail unless each operation was first called after the one before it, naming the order they came in."""
        verify_order(self.journal.entries(), operations, key)

    def client_report(self, min_poll_interval: float | None = None, key: str | None = None, since: str | None = None,
                      allow_undocumented: bool = False, include_kit: bool = False) -> dict:
        """The mock's judgement of the client's traffic: violations, findings and a summary (the kit's own
        check and drift traffic left out unless `include_kit`)."""
        given = {"min_poll_interval": min_poll_interval, "key": key, "since": since,
                 "allow_undocumented": "true" if allow_undocumented else None,
                 "include_kit": "true" if include_kit else None}
        return self._call("GET", "/client-report", params={k: v for k, v in given.items() if v is not None})

    def assert_no_violations(self, min_poll_interval: float | None = None, allow_undocumented: bool = False) -> None:
        """Fail, naming each one, if the client sent a request the spec does not allow or misbehaved
        (undocumented fields included, unless `allow_undocumented`)."""
        problems = format_report(self.client_report(min_poll_interval, allow_undocumented=allow_undocumented))
        if problems:
            raise AssertionError("the client broke the API contract:\n" + "\n".join(problems))

    def fuzz_client(self, fn, max_examples: int = 100, seed: int | None = None,
                    expected_errors: tuple[type[BaseException], ...] = (), timeout: float = 30.0) -> None:
        """Call `fn()` `max_examples` times with every answer drawn by hypothesis from the spec; a failure is
        shrunk to the smallest answers that cause it and reported with each answer and the seed. The mock is
        reset before each run, the test's timing and rules put back (contract_tests/fuzzing.py); afterwards the
        journal holds the last run's entries (`journal.of_fuzz_runs()` the earlier ones), coverage counts
        every run, and the test's own timing and rules are in force again."""
        from contract_tests.fuzzing import fuzz_client

        fuzz_client(self, fn, max_examples=max_examples, seed=seed, expected_errors=expected_errors, timeout=timeout)

    def close(self) -> None:
        self._admin.close()


def format_report(report: dict) -> list[str]:
    """One line per violation and finding, then the summary; nothing when the client kept to the contract."""
    lines = [f"- #{e['seq']} violation: {e['method']} {e['path']} -> {e['status']} ({e.get('operation_id')}, key "
             f"{e.get('key')}): {'; '.join(e['violations'])}" for e in report["violations"]]
    lines += [f"- #{f['seq']} {f['kind']}: {f['path']} ({_key_shown(f)}): {f['detail']}"
              for f in report["findings"]]
    summary = report.get("summary") or {}
    if lines and summary:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(summary["by_kind"].items()))
        operations = ", ".join(f"{name} {count}" for name, count in sorted(summary["by_operation"].items()))
        lines += ["", f"summary: {summary['total']} in all: {kinds}", f"by operation: {operations}"]
    return lines


def format_notes(report: dict) -> list[str]:
    """The spec's assumptions the client's requests broke: information, never failures (no page states them)."""
    notes = report.get("notes") or []
    lines = [f"- #{note['seq']} {note['path']} ({_key_shown(note)}): {note['detail']}" for note in notes[:50]]
    more = [f"- ... and {len(notes) - 50} more"] if len(notes) > 50 else []
    return [f"notes (the spec's assumptions, not the pages' constraints: never failures): {len(notes)}", *lines, *more] \
        if notes else []


def format_chaos(report: dict) -> list[str]:
    """One line per network fault the client met (chaos) and how it took it: information, not failures (the
    bad ones are findings too: hammered, ignored-retry-after)."""
    verdicts = report.get("chaos") or []
    lines = [f"- #{v['seq']} {v['fault']} ({v.get('status') or 'no answer'}, {v.get('operation_id')}, key "
             f"{v.get('key')}): {v['verdict']}: {v['detail']}" for v in verdicts]
    return [f"network faults met: {len(verdicts)}", *lines] if verdicts else []


def _key_shown(item: dict) -> str:
    """The key a finding concerns, as the report prints it (a recording that redacted keys has none to show)."""
    return f"key {item['key']}" if item.get("key") else "key not known: redacted or none sent"
