"""`flux-mock check` and `flux-mock drift`: options in, suite or drift run out, an exit code back."""

import os
import sys
from pathlib import Path

import pytest

from contract_tests.drift import run_drift, to_json, to_markdown
from contract_tests.mock_client import FluxMock, format_report
from contract_tests.target import Target


def target_environment(args) -> dict[str, str]:
    values = {
        "FLUX_CHECK_BASE_URL": args.base_url, "FLUX_CHECK_KEY": args.key, "FLUX_CHECK_SECRET_KEY": args.secret_key,
        "FLUX_CHECK_ALLOW_PAID": "1" if args.allow_paid else "0", "FLUX_CHECK_MAX_SPEND": str(args.max_spend),
        "FLUX_CHECK_MAX_EXAMPLES": str(getattr(args, "max_examples", None) or ""),
    }
    return {name: value for name, value in values.items() if value}


class _Summary:
    """Adds the target and the money spent to pytest's closing summary."""

    def pytest_terminal_summary(self, terminalreporter):
        from contract_tests import suite

        target = suite.TARGET
        kind = "flux-mock" if target.is_flux_mock else "not flux-mock: cost guard on"
        limit = "unlimited" if target.budget.limit == float("inf") else f"${target.budget.limit:g}"
        terminalreporter.write_line(f"flux-mock check: {target.url} ({kind}); spent ${target.budget.spent:g} "
                                    f"of {limit} at documented prices")


def run_check(args) -> int:
    os.environ.update(target_environment(args))
    options = ["--pyargs", "contract_tests.suite", "-p", "no:cacheprovider", "-o", "console_output_style=count",
               "-rfEs", "--tb=short", "--no-header"]
    if args.report:
        options += ["--junitxml", str(Path(args.report).resolve())]
    code = pytest.main(options, plugins=[_Summary()])
    return 0 if code == pytest.ExitCode.OK else 1


def run_drift_command(args) -> int:
    os.environ.update(target_environment(args))
    target = Target.from_env()
    reports = run_drift(target, args.operation or None)
    markdown = to_markdown(reports, target)
    print(markdown)
    if args.report_md:
        Path(args.report_md).write_text(markdown)
    if args.report_json:
        Path(args.report_json).write_text(to_json(reports))
    drifted = sum(bool(report.differences) for report in reports)
    print(f"flux-mock drift: {drifted} of {len(reports)} operations drifted", file=sys.stderr)
    return 1 if drifted else 0


def run_report(args) -> int:
    mock = FluxMock(args.base_url, args.admin_token)
    lines = format_report(mock.client_report(args.min_poll_interval))
    print("\n".join(lines) if lines else "no violations: every journaled request kept to the contract")
    return 1 if lines else 0
