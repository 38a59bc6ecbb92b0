"""The kit's commands share one exit-code contract (0 clean, 1 contract failure or drift, 2 usage, 3 not
reached) and say what went wrong in one line, never a traceback; a network failure is never drift."""

import asyncio
import subprocess
import sys

import pytest

from contract_tests.budget import Budget, BudgetExceeded
from mock_server.app import create_app
from mock_server.operations import load_operations
from mock_server.settings import Settings
from tests.support.foreign_server import Rewriting, serving
from tests.support.ports import closed_port_url
from tests.support.pytest_run import run_pytest


def flux_mock(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", *args], capture_output=True, text=True,
                          timeout=120)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("command", ["check", "drift", "report"])
def test_an_unreachable_target_exits_3_in_one_line(command):
    url = closed_port_url()
    result = flux_mock(command, "--base-url", url)
    assert result.returncode == 3
    assert one_line(result).startswith(f"flux-mock: cannot reach {url}: ") and "refused" in result.stderr


@pytest.mark.parametrize("command", ["check", "drift", "report"])
def test_a_base_url_that_is_not_a_url_is_a_usage_error(command):
    result = flux_mock(command, "--base-url", "not-a-url")
    assert result.returncode == 2 and one_line(result) == "flux-mock: --base-url must be an http(s) URL, not 'not-a-url'"


def test_an_unknown_operation_is_a_usage_error_listing_the_documented_ones(mock_url):
    for command in ("check", "drift"):
        result = flux_mock(command, "--base-url", mock_url, "--operation", "fluxDevTextToImag")
        assert result.returncode == 2
        line = one_line(result)
        assert "unknown --operation fluxDevTextToImag; documented: schnellGetData," in line
        assert "fluxDevTextToImage" in line


def test_a_target_that_is_not_flux_mock_needs_a_key():
    with serving(Rewriting(create_app(Settings()))) as url:
        for key in ([], ["--key", " "]):
            result = flux_mock("drift", "--base-url", url, *key)
            assert result.returncode == 2 and "--key is needed" in one_line(result)
        report = flux_mock("report", "--base-url", url)
    assert report.returncode == 2 and "is not flux-mock" in one_line(report)


def test_report_without_the_admin_token_is_a_usage_error(tmp_path, make_flux_mock):
    url = make_flux_mock("admin_token: sesame-1234\n").url
    result = flux_mock("report", "--base-url", url)
    assert result.returncode == 2 and "pass its --admin-token" in one_line(result)
    let_in = flux_mock("report", "--base-url", url, "--admin-token", "sesame-1234")
    assert let_in.returncode == 4 and "nothing was judged" in let_in.stderr, "let in: its journal holds nothing yet"


def test_a_dropped_connection_is_not_reached_never_drift(api, mock_url):
    api.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                         "outcome": {"drop_connection": True}}).raise_for_status()
    result = flux_mock("drift", "--base-url", mock_url, "--operation", "schnellGetData", "--operation",
                       "klein4bGenerateImage")
    assert result.returncode == 3, result.stdout
    assert "## schnellGetData: NOT REACHED (not reached: RemoteProtocolError" in result.stdout
    assert "## klein4bGenerateImage: ok" in result.stdout
    assert "0 of 2 operations drifted; 1 not reached (network, not drift)" in result.stderr


def test_the_cost_guard_prices_klein_by_resolution():
    klein = next(op for op in load_operations() if op.operation_id == "klein4bGenerateImage")
    assert Budget.price(klein, {"prompt": "x", "width": 512, "height": 512}) == 0.0003
    assert Budget.price(klein, {"prompt": "x", "width": 1024, "height": 1024}) == 0.0007
    budget = Budget(0.0005)
    with pytest.raises(BudgetExceeded, match=r"costs \$0.0007"):
        budget.spend(klein, {"prompt": "x", "width": 1024, "height": 1024})
    budget.spend(klein, {"prompt": "x", "width": 512, "height": 512})
    assert budget.spent == 0.0003
    with pytest.raises(BudgetExceeded):
        budget.spend(klein, {"prompt": "x", "width": 512, "height": 512})


FIXTURE_TESTS = '''
import httpx

KEY = {"Ocp-Apim-Subscription-Key": "k"}

def test_one_makes_a_job(flux_mock):
    httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)
    assert len(flux_mock.jobs.list()) == 1

def test_two_starts_clean(flux_mock):
    assert flux_mock.jobs.list() == [] and flux_mock.journal.entries() == []
'''


def test_the_flux_mock_fixture_resets_between_tests(tmp_path):
    (tmp_path / "test_fixture_reset.py").write_text(FIXTURE_TESTS)
    result = run_pytest(tmp_path)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout


def test_a_server_start_up_error_reaches_the_test_output_with_its_own_message(tmp_path):
    (tmp_path / "test_fixture_reset.py").write_text(FIXTURE_TESTS)
    missing = tmp_path / "nope.yaml"
    result = run_pytest(tmp_path, "--flux-mock-config", str(missing))
    assert result.returncode == 1
    assert f"flux-mock did not start (exit 2): flux-mock: cannot read config file {missing}" in result.stdout


def test_check_counts_a_dropped_connection_as_not_reached_never_as_a_contract_failure(api, mock_url, tmp_path):
    api.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                         "outcome": {"drop_connection": True}}).raise_for_status()
    junit = tmp_path / "check.xml"
    result = flux_mock("check", "--base-url", mock_url, "--operation", "schnellGetData", "--max-examples", "2",
                       "--report", str(junit))
    assert result.returncode == 3, result.stdout[-2000:]
    assert "NOT REACHED schnellGetData [positive]" in result.stdout and "not reached (network)" in result.stdout
    assert "0 failed" in result.stdout.splitlines()[-1]
    assert '<error message="target not reached"' in junit.read_text()


class Unhurried:
    """ASGI middleware: every API answer 0.3 s late, as a distant gateway's (the admin API at once)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith("/__admin"):
            await asyncio.sleep(0.3)
        await self.app(scope, receive, send)


def test_check_shows_its_lines_as_it_goes_not_only_when_it_ends():
    """A CI log follows a long check as it runs: its first line (what it checks) is out while the check still
    waits on the server, though its output is a pipe, which Python buffers unless each line is flushed."""
    with serving(Unhurried(create_app(Settings())), lifespan="on") as url:
        running = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "check", "--base-url", url,
                                    "--operation", "getRequestStatus", "--max-examples", "2"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = running.stdout.readline()
            still_running = running.poll() is None
        finally:
            running.kill()
            running.wait(timeout=30)
        assert first.startswith(f"flux-mock check: {url}") and still_running, first
