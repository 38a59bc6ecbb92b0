"""`flux-mock check`, `drift` and `report`: options in, a run out, one exit code back, the same for all three:

    0  clean            1  contract failure or drift
    2  usage error      3  target unreachable (one line: `cannot reach URL: reason`)

A network failure is never a contract failure and never drift. Errors are one line, never a traceback.
"""

import os
import re
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from contract_tests.coverage import OutcomeCoverage
from contract_tests.mock_client import FluxMock, format_chaos, format_notes, format_report
from contract_tests.process import wait_for_mock
from mock_server.har import read_har
from mock_server.exit_codes import CLEAN, FAILED, NOTHING_TESTED, UNREACHABLE, Unreachable, UsageError
from mock_server.client_checks import client_report, entries_of
from mock_server.clock import moment_of
from mock_server.operations import load_operations
from mock_server.redaction import mask_key
from mock_server.settings import Settings

# What schemathesis and pytest take part in (check, drift, a recording judged) is imported by the command that needs
# it: `wait` and `report` of a running mock start in a third of the time without them.
if TYPE_CHECKING:
    from contract_tests.target import Target


def _reason(error: Exception) -> str:
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    return str(cause) or str(error) or type(error).__name__


def reach(url: str) -> str:
    """The URL without a trailing slash, once it answers anything over HTTP; UsageError / Unreachable if not.
    It asks for flux-mock's health page: the admin API is not journaled, and any other server answers too."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url must be an http(s) URL, not {url!r}")
    try:
        httpx.get(f"{url.rstrip('/')}/__admin/health", timeout=10)
    except httpx.TransportError as error:
        raise Unreachable(f"cannot reach {url}: {_reason(error)}") from None
    return url.rstrip("/")


def chosen_operations(wanted: list[str] | None) -> list[str] | None:
    """The --operation ids, each a documented operationId (else a usage error listing them)."""
    if not wanted:
        return None
    known = [op.operation_id for op in load_operations()]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UsageError(f"unknown --operation {', '.join(unknown)}; documented: {', '.join(known)}")
    return wanted


def target_of(args, environ=os.environ) -> "Target":
    """The target the options describe (what they leave out, as the environment says: polls, their pace)."""
    from contract_tests.target import DEFAULT_KEY, Target

    given = Target.from_env(environ)
    return replace(given, base_url=args.base_url, key=args.key or DEFAULT_KEY, secret_key=args.secret_key,
                   allow_paid=args.allow_paid, max_spend=args.max_spend,
                   max_examples=getattr(args, "max_examples", None) or given.max_examples,
                   operations=tuple(getattr(args, "operation", None) or ()))


def _prepare_target(args) -> "Target":
    """Check the target answers and the options fit it: the target, handed to the suite as an object."""
    chosen_operations(args.operation)
    args.base_url = reach(args.base_url)
    target = target_of(args)
    if not target.is_flux_mock and not (args.key or "").strip():
        raise UsageError(f"--key is needed: {args.base_url} is not flux-mock (no /__admin/health), so calls need "
                         "a real key")
    return target


# The plugins the suite runs on, and no other: a plugin installed beside the kit (one that reorders, reruns or times
# tests, or starts processes of its own when it loads) takes no part in a verdict, and costs a check no start-up.
SUITE_PLUGINS = ("schemathesis.pytest.plugin", "_hypothesis_pytestplugin")


def run_check(args) -> int:
    import pytest

    from contract_tests.check_report import CheckReporter

    target = _prepare_target(args)
    reporter = CheckReporter(target, sys.stdout)
    options = ["--pyargs", "contract_tests.suite", "-p", "no:cacheprovider", "-p", "no:terminal", "--assert=plain",
               "-W", "ignore", "--disable-plugin-autoload",
               *(word for plugin in SUITE_PLUGINS for word in ("-p", plugin))]
    code = pytest.main(options, plugins=[reporter])
    if args.report:
        reporter.write_junit(Path(args.report))
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise UsageError(f"the suite could not run (pytest exit {int(code)})")
    if reporter.failed:
        return FAILED
    if reporter.unreachable:
        return UNREACHABLE
    if (why := reporter.nothing_tested()) is not None:
        print(f"flux-mock check: nothing was tested: every selected case was skipped: {why}", file=sys.stderr)
        return NOTHING_TESTED
    return CLEAN


def run_drift_command(args) -> int:
    from contract_tests.acceptance import judge, read_accepted
    from contract_tests.client_use import ClientUse
    from contract_tests.drift import run_drift, to_json, to_junit, to_markdown
    from contract_tests.recording_drift import drift_of_recording

    accept, client, fail_on = (getattr(args, name, None) for name in ("accept", "client", "fail_on"))
    fail_on, only_used = fail_on or "risky", bool(getattr(args, "fail_on_used", False))  # callers' own Namespaces
    accepted = read_accepted(accept) if accept else []  # a bad file is a usage error before any call
    if only_used and not client:
        raise UsageError("--fail-on-used needs --client FILE (the client's own traffic, as a HAR)")
    use = ClientUse.of(read_har(client, "--client"), load_operations()) if client else None
    if args.baseline and not args.har:
        raise UsageError("--baseline compares two recordings: give it with --har")
    if args.har:
        if args.base_url:
            raise UsageError("--har judges a recording offline: give it without --base-url")
        max_age = timedelta(days=args.max_age) if args.max_age is not None else None
        baseline = read_har(args.baseline) if args.baseline else None
        reports = drift_of_recording(read_har(args.har), load_operations(), max_age, baseline=baseline)
        source, spent = args.har, None
    elif args.base_url:
        target = _prepare_target(args)
        reports = run_drift(target, args.operation or None)
        source, spent = target.url, target.budget.spent
    else:
        raise UsageError("drift needs --base-url (a server to call) or --har (a recording to judge)")
    verdict = judge([d for report in reports for d in report.differences], accepted, fail_on, date.today(),
                    use.uses if use else None, only_used)
    markdown = to_markdown(reports, source, spent, verdict, fail_on)
    print(markdown)
    if args.report_md:
        Path(args.report_md).write_text(markdown)
    if args.report_json:
        Path(args.report_json).write_text(to_json(reports, verdict))
    if getattr(args, "report_junit", None):
        Path(args.report_junit).write_text(to_junit(reports, verdict, source))
    drifted = sum(bool(report.differences) for report in reports)
    unreachable = sum(report.outcome == "unreachable" for report in reports)
    print(f"flux-mock drift: {drifted} of {len(reports)} operations drifted"
          + (f"; {unreachable} not reached (network, not drift)" if unreachable else ""), file=sys.stderr)
    if drifted or accepted:
        print(f"flux-mock drift: {verdict.summary(fail_on)}", file=sys.stderr)
    for entry in verdict.expired:
        print(f"flux-mock drift: accept entry expired on {entry.expires}: {entry.line()}", file=sys.stderr)
    if verdict.fails:
        return FAILED
    if unreachable:
        return UNREACHABLE
    if (why := _nothing_drift_tested(reports, bool(args.har))) is not None:
        print(f"flux-mock drift: nothing was tested: {why}", file=sys.stderr)
        return NOTHING_TESTED
    return CLEAN


def _nothing_drift_tested(reports, recording: bool) -> str | None:
    """Why no operation was compared with the specs (None if one was)."""
    if any(report.outcome != "skipped" for report in reports):
        return None
    if not reports:
        return "the recording holds no exchanges" if recording else "no operation was selected"
    shown = "; ".join(f"{report.operation_id}: {report.note}" for report in reports[:2])
    more = f"; and {len(reports) - 2} more" if len(reports) > 2 else ""
    return (f"all {len(reports)} selected operations were skipped ({shown}{more}); to call paid operations pass "
            "--allow-paid with --max-spend USD")


def _recorded_report(args) -> tuple[dict, list[dict]]:
    """`report --har FILE`: the recording judged as the mock judges its journal (and the entries judged)."""
    from contract_tests.recorded_journal import journal_of_recording

    if args.base_url:
        raise UsageError("--har judges a recording offline: give it without --base-url")
    entries = _selected(args, journal_of_recording(read_har(args.har), load_operations()))
    interval = args.min_poll_interval if args.min_poll_interval is not None else Settings().min_poll_interval
    return client_report(entries, interval, load_operations(), allow_undocumented=args.allow_undocumented,
                         include_kit=args.include_kit), entries


def _since(raw: str) -> float:
    try:
        return moment_of(raw)
    except ValueError:
        raise UsageError(f"--since {raw!r} is neither epoch seconds nor an ISO 8601 time") from None


def run_wait(args) -> int:
    if not re.fullmatch(r"https?://[^/\s]+/?", args.url):
        raise UsageError(f"--url {args.url!r} is not a base URL (http(s)://host[:port])")
    wait_for_mock(args.url.rstrip("/"), args.timeout,
                  headers={"X-Admin-Token": args.admin_token} if args.admin_token else None)
    return CLEAN


def run_report(args) -> int:
    if args.coverage_min is not None and not 0 <= args.coverage_min <= 100:
        raise UsageError(f"--coverage-min {args.coverage_min:g}: give a share from 0 to 100")
    if args.har:
        report, entries = _recorded_report(args)
        if _nothing_judged(report, f"the recording {args.har} holds no request of the client's", args):
            return NOTHING_TESTED
        return _with_coverage(args, entries, _print_report(report, "recorded"))
    if not args.base_url:
        raise UsageError("report needs --base-url (a running flux-mock) or --har (a recording to judge)")
    url = reach(args.base_url)
    mock = FluxMock(url, args.admin_token)
    try:
        report = mock.client_report(args.min_poll_interval, key=args.key, since=args.since,
                                    allow_undocumented=args.allow_undocumented, include_kit=args.include_kit)
        entries = mock.journal.entries() if args.coverage or args.coverage_min is not None else []
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        if status == 403:
            raise UsageError(f"the admin API of {url} refused the report: pass its --admin-token") from None
        if status == 404:
            raise UsageError(f"{url} is not flux-mock (it has no /__admin/client-report)") from None
        raise UsageError(f"{url}/__admin/client-report answered {status}: {error.response.text[:200]}") from None
    except httpx.TransportError as error:
        raise Unreachable(f"cannot reach {url}: {_reason(error)}") from None
    finally:
        mock.close()
    if _nothing_judged(report, f"the journal of {url} holds no request of the client's", args):
        return NOTHING_TESTED
    return _with_coverage(args, _selected(args, entries), _print_report(report, "journaled"))


def _nothing_judged(report: dict, where: str, args) -> bool:
    """No request was judged: say why in one line (exit 4, as check and drift do when nothing was tested)."""
    if report["summary"].get("judged", 1):
        return False
    narrowed = [option for option, given in (("--key", args.key), ("--since", args.since)) if given]
    why = f"{where}{' that ' + ' and '.join(narrowed) + ' select' if narrowed else ''}"
    kit = "" if args.include_kit else " (the kit's own check and drift traffic is left out: --include-kit judges it)"
    print(f"flux-mock report: nothing was judged: {why}{kit}", file=sys.stderr)
    return True


def _selected(args, entries: list[dict]) -> list[dict]:
    """The entries --key and --since select (the key masked, as journals and recordings hold it, or whole, as
    a mock with --show-keys holds it)."""
    return entries_of(entries, (mask_key(args.key), args.key) if args.key else None,
                      _since(args.since) if args.since else None)


def _with_coverage(args, entries: list[dict], code: int) -> int:
    """With --coverage (or --coverage-min): which documented outcomes the traffic met; below --coverage-min,
    exit 1."""
    if not args.coverage and args.coverage_min is None:
        return code
    coverage = OutcomeCoverage(load_operations())
    coverage.observe(entries)
    print("\n".join(coverage.lines()))
    if args.coverage_min is not None and coverage.share() < args.coverage_min:
        print(f"flux-mock report: outcome coverage {coverage.share():.0f}% is below --coverage-min "
              f"{args.coverage_min:g}%", file=sys.stderr)
        return FAILED
    return code


def _print_report(report: dict, where: str) -> int:
    lines = format_report(report)
    print("\n".join(lines) if lines else f"no violations: every {where} request kept to the contract")
    if chaos := format_chaos(report):
        print("\n".join(chaos))
    if notes := format_notes(report):
        print("\n".join(notes))
    return FAILED if lines else CLEAN
