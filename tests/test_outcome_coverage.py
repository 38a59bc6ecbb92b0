"""Outcome coverage: which documented outcomes a client's traffic met per operation it called, and which it
never met, from `flux-mock report --coverage` and at the end of a pytest session with the plugin; a
threshold fails below it."""

import subprocess
import sys

from contract_tests.coverage import OutcomeCoverage
from mock_server.journal_entry import JournalEntry
from mock_server.operations import load_operations
from tests.support.harness import KEY, set_timing
from tests.support.pytest_run import run_pytest

SUBMIT = "/flux-dev/v1/dev/textToImage"


def _report(url: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "report", "--base-url", url, *options],
                          capture_output=True, text=True, timeout=60)


def test_report_coverage_names_what_was_met_and_what_never_was(api, mock_url, receiver):
    set_timing(api, queued_for=0, processing_for=0)
    done = api.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/cov"}).json()
    api.get(done["polling_url"], headers=KEY)
    failed = api.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "job=FAILED"}).json()
    api.get(failed["polling_url"], headers=KEY)
    api.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "code=429"})
    receiver.wait_for(1, "/cov")
    shown = _report(mock_url, "--coverage", "--allow-undocumented")
    lines = shown.stdout
    met = next(line for line in lines.splitlines() if line.startswith("  fluxDevTextToImage: met"))
    for outcome in ("202", "429 with Retry-After", "job COMPLETED", "job FAILED", "webhook completed"):
        assert outcome in met, met
    assert "never met: your tests never saw an ERROR job for fluxDevTextToImage" in lines
    assert "never met: your tests never got a 402 from fluxDevTextToImage" in lines
    assert "never met: your tests never received a failed webhook for fluxDevTextToImage" in lines
    assert "  getRequestStatus: met 200" in lines
    below = _report(mock_url, "--coverage-min", "95", "--allow-undocumented")
    assert below.returncode == 1 and "outcome coverage" in below.stderr and "below --coverage-min 95%" in below.stderr


def test_a_variant_and_a_chaos_fault_are_counted():
    coverage = OutcomeCoverage(load_operations())
    coverage.observe([
        JournalEntry(operation_id="schnellGetData", status=200, variant="success-flag"),
        JournalEntry(operation_id="schnellGetData", status=429, retry_after=None, answer="chaos:throttle"),
    ])
    (row,) = coverage.operations()
    assert "variant success-flag" in row.met and "200" in row.met and "429" not in row.met
    assert "429 with Retry-After" in row.missing, "a 429 without Retry-After does not count as the documented one"
    assert coverage.chaos == {"throttle": 1} and "network faults met: throttle x1" in "\n".join(coverage.lines())


def test_the_pytest_plugin_prints_coverage_and_fails_below_the_minimum(tmp_path):
    (tmp_path / "test_client.py").write_text(
        "import httpx\n\n"
        "def test_one_job(flux_mock):\n"
        "    flux_mock.timing.fast()\n"
        "    headers = {'Ocp-Apim-Subscription-Key': 'k'}\n"
        "    job = httpx.post(flux_mock.url + '/flux-dev/v1/dev/textToImage', json={'prompt': 'x'},\n"
        "                     headers=headers).json()\n"
        "    assert httpx.get(job['polling_url'], headers=headers).json()['status'] == 'COMPLETED'\n")

    def run(*options):
        return run_pytest(tmp_path, *options)

    summary = run()
    assert summary.returncode == 0 and "flux-mock outcome coverage:" in summary.stdout
    assert "never met" not in summary.stdout, "one line without --flux-mock-coverage"
    detailed = run("--flux-mock-coverage", "--flux-mock-coverage-min", "90")
    assert "your tests never saw a FAILED job for fluxDevTextToImage" in detailed.stdout
    assert detailed.returncode == 1, detailed.stdout[-2000:]
    assert "FAILED flux-mock: outcome coverage" in detailed.stdout and "1 passed" in detailed.stdout
