"""flux-mock check and drift: they pass against flux-mock, and they name what differs elsewhere."""

import asyncio
import json
import os
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest

from contract_tests.drift import body_differences, submit_operations
from mock_server.app import create_app
from mock_server.jobs.timing import Timing
from mock_server.settings import KeyConfig, Settings
from tests.support.foreign_server import Rewriting, serving
from tests.support.kit_runs import kit
from tests.support.pages_server import PagesGateway

KEY = "contract-test-key"


# The proxied mocks' jobs end within 0.1 s: poll them at flux-mock's own fast pace, not a live gateway's 0.5 s.
FAST_POLLS = {"FLUX_CHECK_POLL_INTERVAL": "0.02"}


def flux_mock(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A kit command in this process (a verdict's test: tests/support/kit_runs.py)."""
    return kit(*args, env={**FAST_POLLS, **(env or {})})


def flux_mock_process(*args: str) -> subprocess.CompletedProcess:
    """A kit command as a user runs it: its own process, its exit code."""
    return subprocess.run([sys.executable, "-m", "mock_server.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **FAST_POLLS})


def mock_behind_proxy(rewrite=None):
    """A mock that answers like the gateway but is not recognisable as flux-mock; and its state."""
    app = create_app(Settings(keys={KEY: KeyConfig(balance=1000)}, timing=Timing(mode="time", queued_for=0,
                                                                                  processing_for=0.1)))
    return Rewriting(app, rewrite), app.state.mock


def test_suite_passes_in_process():
    # --assert=plain as `flux-mock check` runs it: the suite has no bare assert to rewrite
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--assert=plain",
                             "--pyargs", "contract_tests.suite"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "FLUX_CHECK_MAX_EXAMPLES": "3"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_check_fails_and_names_the_failure_against_a_server_that_breaks_the_contract():
    def rename(path, status, body):
        if isinstance(body, dict) and "polling_url" in body:
            body["pollingUrl"] = body.pop("polling_url")
        return status, body

    app, _ = mock_behind_proxy(rename)
    with serving(app) as url:
        result = flux_mock("check", "--base-url", url, "--key", KEY, "--max-examples", "3",
                           "--operation", "fluxDevTextToImage", "--allow-paid", "--max-spend", "5")
    assert result.returncode == 1
    assert "polling_url" in result.stdout and "FAILED" in result.stdout


def test_cost_guard_skips_paid_operations_unless_allowed_and_stays_within_max_spend():
    app, state = mock_behind_proxy()
    with serving(app) as url:
        free_only = flux_mock("drift", "--base-url", url, "--key", KEY)
        free = ("schnellGetData", "schnellGetDataBatch", "schnellCheckStatus", "fluxPreviewTextToImage",
                "getRequestStatus", None)  # None: media downloads
        journal = asyncio.run(state.journal.entries())  # memory stores: readable from any event loop
        paid_calls_without_permission = [e for e in journal if e.operation_id not in free]
        asyncio.run(state.journal.clear())
        allowed = flux_mock("drift", "--base-url", url, "--key", KEY, "--allow-paid", "--max-spend", "0.1")
    assert paid_calls_without_permission == []
    assert "## fluxPro11UltraGenerate: skipped (cost guard" in free_only.stdout
    assert "## schnellGetData: ok" in free_only.stdout and "spent $0." in free_only.stdout
    spent = 1000 - asyncio.run(state.wallets.balance(KEY))  # the wallet tells what was really charged
    assert 0 < spent <= 0.1 + 1e-9
    assert "has no documented price" in allowed.stdout


def test_drift_reports_nothing_against_flux_mock_serve(tmp_path, api, mock_url):
    result = flux_mock("drift", "--base-url", mock_url, "--report-json", str(tmp_path / "drift.json"))
    assert result.returncode == 0, result.stdout
    submits = len(submit_operations())  # every operation with a documented example that starts something
    assert f"0 of {submits} operations drifted" in result.stderr
    reports = json.loads((tmp_path / "drift.json").read_text())
    assert len(reports) == submits and all(r["outcome"] == "checked" and r["differences"] == [] for r in reports)


def test_drift_names_each_seeded_difference(tmp_path):
    def differ(path, status, body):
        if path == "/flux-1-schnell/v1/getData" and status == 200:
            return 201, body                                      # a changed code
        if isinstance(body, dict) and "polling_url" in body:
            body["pollingUrl"] = body.pop("polling_url")           # a renamed field
        if path.startswith("/v2/requests/status/") and body.get("status") == "COMPLETED":
            body["status"] = "SUCCEEDED"                          # a new status value
        if path == "/flux-2-klein-4b/v1/generateImage" and status == 200:
            body["output"] = [body["output"]]                     # a changed type
        return status, body

    app, _ = mock_behind_proxy(differ)
    with serving(app) as url:
        result = flux_mock("drift", "--base-url", url, "--key", KEY, "--allow-paid", "--max-spend", "100",
                           "--report-md", str(tmp_path / "drift.md"))
    assert result.returncode == 1
    report = (tmp_path / "drift.md").read_text()
    assert "## schnellGetData: DRIFT" in report and "undocumented-status at status: expected" in report
    assert "found 201" in report
    assert "missing-field at body.polling_url" in report and "extra-field at body.pollingUrl" in report
    assert "`klein4bGenerateImage` changed-type at body.output: expected string, found array" in report
    assert "## fluxGeneralTextToImageRequest: ok" in report


def test_drift_names_an_unknown_status_value():
    def differ(path, status, body):
        if path.startswith("/v2/requests/status/") and body.get("status") == "COMPLETED":
            body["status"] = "SUCCEEDED"
        return status, body

    app, _ = mock_behind_proxy(differ)
    with serving(app) as url:
        result = flux_mock("drift", "--base-url", url, "--key", KEY, "--allow-paid", "--max-spend", "100",
                           "--operation", "fluxDevTextToImage")
    assert result.returncode == 1
    assert '`getRequestStatus` unknown-value at body.status: expected one of "QUEUED"' in result.stdout
    assert 'found "SUCCEEDED"' in result.stdout


def test_drift_names_changed_headers():
    def differ(path, status, body):
        if path == "/flux-1-schnell/v1/getData":
            return 429, {"error": "Rate limit exceeded, please retry later"}, {"Retry-After": "soon"}
        if path == "/flux-2-klein-4b/v1/generateImage":
            return status, body, {"Content-Type": "text/plain"}
        return status, body

    app, _ = mock_behind_proxy(differ)
    with serving(app) as url:
        result = flux_mock("drift", "--base-url", url, "--key", KEY, "--allow-paid", "--max-spend", "1",
                           "--operation", "schnellGetData", "--operation", "klein4bGenerateImage")
    assert result.returncode == 1
    assert "`schnellGetData` changed-header at header Retry-After: expected integer, found soon" in result.stdout
    assert ("`klein4bGenerateImage` changed-content-type at Content-Type: expected application/json, found text/plain"
            in result.stdout)


@pytest.mark.parametrize("schema, body, expected", [
    ({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}, {}, [
        ("missing-field", "body.a", "present", "absent")]),
    ({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": "x", "b": 1}, [
        ("extra-field", "body.b", "not present", "integer")]),
    ({"type": "object", "properties": {"a": {"type": "integer"}}}, {"a": "1"}, [
        ("changed-type", "body.a", "integer", "string")]),
    ({"type": "object", "properties": {"a": {"enum": ["X"]}}}, {"a": "Y"}, [
        ("unknown-value", "body.a", 'one of "X"', '"Y"')]),
    ({"anyOf": [{"type": "object", "required": ["output"]}, {"type": "object", "required": ["msg"]}]},
     {"msg": "hi"}, []),
    ({"type": "array", "items": {"type": "integer"}}, [1, 2.0, 3], []),
])
def test_body_differences(schema, body, expected):
    assert body_differences(schema, body) == expected


def test_a_run_that_tests_nothing_exits_4_and_says_why(tmp_path):
    """Every selected operation skipped (paid, without --allow-paid; an empty recording): exit 4, not 0."""
    app, _ = mock_behind_proxy()
    with serving(app) as url:
        drift = flux_mock_process("drift", "--base-url", url, "--key", KEY, "--operation", "fluxPro11UltraGenerate")
        check = flux_mock_process("check", "--base-url", url, "--key", KEY, "--operation", "fluxPro11UltraGenerate",
                                  "--max-examples", "1")
        some = flux_mock_process("drift", "--base-url", url, "--key", KEY, "--operation", "schnellGetData",
                                 "--operation", "fluxPro11UltraGenerate")
    assert drift.returncode == 4, drift.stdout + drift.stderr
    assert "nothing was tested: all 1 selected operations were skipped (fluxPro11UltraGenerate: cost guard" in \
        drift.stderr and "--allow-paid" in drift.stderr
    assert check.returncode == 4, check.stdout + check.stderr
    assert "flux-mock check: nothing was tested" in check.stderr
    assert some.returncode == 0, "one operation compared is a test"
    empty = tmp_path / "empty.har"
    empty.write_text('{"log": {"version": "1.2", "entries": []}}')
    recording = flux_mock_process("drift", "--har", str(empty))
    assert recording.returncode == 4 and "the recording holds no exchanges" in recording.stderr


def test_two_checks_in_one_process_each_test_their_own_server_and_count_what_they_spent(capsys):
    """`check` hands its suite a target object: a second run in the same process (the suite module imported
    once) tests the second server, with its own traffic, verdict and spending."""
    from mock_server import cli

    first_app, first = mock_behind_proxy()
    second_app, second = mock_behind_proxy()
    with serving(first_app) as first_url, serving(second_app) as second_url:
        assert cli.main(["check", "--base-url", first_url, "--key", KEY, "--operation", "schnellGetData",
                         "--max-examples", "2"]) == 0
        first_out = capsys.readouterr().out
        first_calls = len(asyncio.run(first.journal.entries()))
        assert cli.main(["check", "--base-url", second_url, "--key", KEY, "--operation", "fluxDevTextToImage",
                         "--max-examples", "2", "--allow-paid", "--max-spend", "20"]) == 0
        second_out = capsys.readouterr().out
    assert f"flux-mock check: {first_url}" in first_out and f"flux-mock check: {second_url}" in second_out
    assert len(asyncio.run(first.journal.entries())) == first_calls, "the second run sent nothing to the first"
    second_calls = asyncio.run(second.journal.entries())
    assert second_calls and {entry.operation_id for entry in second_calls} >= {"fluxDevTextToImage"}
    assert "spent $0 of unlimited" not in second_out
    charged = 1000 - asyncio.run(second.wallets.balance(KEY))
    assert f"spent ${charged:g} of $20 at documented prices" in second_out, (charged, second_out[-600:])
    assert charged > 0


def test_a_check_of_chosen_operations_leaves_the_next_run_in_the_process_building_every_operation(
        capsys, monkeypatch, tmp_path):
    """`--operation` has only the chosen operations' tests built (here an operation of page 002's older spec: the
    main spec's generated tests are then not collected at all, not failed for matching nothing); the suite run
    next in the same process, as a user runs it (pytest, FLUX_CHECK_*), builds the generated tests of the
    operations it chooses again."""
    from mock_server import cli

    with serving(create_app(Settings(timing=Timing(mode="time", queued_for=0, processing_for=0.1))),
                 lifespan="on") as url:
        assert cli.main(["check", "--base-url", url, "--operation", "fluxProLegacyTextToImage",
                         "--max-examples", "1"]) == 0
        chosen = capsys.readouterr().out
        for name, value in {"FLUX_CHECK_BASE_URL": url, "FLUX_CHECK_OPERATIONS": "schnellGetData",
                            "FLUX_CHECK_MAX_EXAMPLES": "1"}.items():
            monkeypatch.setenv(name, value)
        code = pytest.main(["--pyargs", "contract_tests.suite", "-q", "-p", "no:cacheprovider", "--assert=plain",
                            "-W", "ignore", "--junitxml", str(tmp_path / "next.xml")])
    assert re.search(r"; \d+ checks on 1 operations\n", chosen) and "  fluxProLegacyTextToImage " in chosen, chosen
    assert code == 0, capsys.readouterr().out[-3000:]
    passed = {case.get("name") for case in ElementTree.parse(tmp_path / "next.xml").iter("testcase")
              if not len(case)}
    generated = {"test_positive_requests_get_documented_answers",
                 "test_negative_requests_are_rejected_with_documented_answers"}
    assert generated <= passed, sorted(passed)  # schnellGetData's generated cases (every other operation's skipped)


def test_a_pytest_plugin_installed_beside_the_kit_takes_no_part_in_check(tmp_path, monkeypatch):
    """check's suite runs on its own plugins: one a user has installed (here: deselecting every test, as a plugin
    choosing tests by a marker would) changes nothing of the verdict."""
    (tmp_path / "deselect_everything.py").write_text("def pytest_collection_modifyitems(items):\n    items.clear()\n")
    installed = tmp_path / "deselect_everything-1.0.dist-info"
    installed.mkdir()
    (installed / "METADATA").write_text("Metadata-Version: 2.1\nName: deselect-everything\nVersion: 1.0\n")
    (installed / "entry_points.txt").write_text("[pytest11]\ndeselect_everything = deselect_everything\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with serving(PagesGateway().app) as url:  # a gateway written from the pages, none of flux-mock's code
        said = flux_mock("check", "--base-url", url, "--key", "pages-key", "--operation", "schnellGetData",
                         "--max-examples", "1")
    assert said.returncode == 0 and "nothing was tested" not in said.stderr, said.stdout[-2000:] + said.stderr
