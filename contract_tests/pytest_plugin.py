"""The `flux_mock` fixture: a real flux-mock on an ephemeral loopback port, reset for every test.

    def test_my_client(flux_mock):
        app = MyApp(base_url=flux_mock.url)
        ...
        flux_mock.assert_no_violations()

Options: --flux-mock-config FILE (keys, scenarios...), --flux-mock-strict (reject undocumented fields),
--flux-mock-coverage (list, per operation called, the documented outcomes the tests met and never met;
without it one summary line), --flux-mock-coverage-min PERCENT (fail the session below that share),
--flux-mock-traffic FILE (write the requests the tests made of the mock, as a HAR 1.2 file: the client's own
traffic, for `flux-mock drift --client FILE`).
`flux_mock_webhooks` is a webhook receiver on loopback for one test.
"""

import json

import httpx
import pytest

from contract_tests.coverage import OutcomeCoverage
from contract_tests.mock_client import FluxMock
from contract_tests.process import running_mock
from contract_tests.receiver import Webhooks, webhook_receiver
from mock_server.har import MAX_HAR_ENTRIES, HarWriter, RecordedExchange
from mock_server.journal_entry import REQUEST
from mock_server.operations import load_operations


COVERAGE = pytest.StashKey[OutcomeCoverage]()
TRAFFIC = pytest.StashKey[HarWriter]()


def pytest_addoption(parser):
    group = parser.getgroup("flux-mock")
    group.addoption("--flux-mock-config", metavar="FILE", help="config file for the flux_mock fixture's server")
    group.addoption("--flux-mock-strict", action="store_true", help="run the flux_mock fixture's server with --strict")
    group.addoption("--flux-mock-coverage", action="store_true",
                    help="at the end, list per operation called the documented outcomes the tests met and never met")
    group.addoption("--flux-mock-coverage-min", type=float, metavar="PERCENT",
                    help="fail the session when the tests met less than this share of the documented outcomes")
    group.addoption("--flux-mock-traffic", metavar="FILE",
                    help="write the requests the tests made of the mock into FILE (HAR 1.2), for `flux-mock drift "
                         "--client FILE`: which operations and statuses your client met")


def _coverage(config) -> OutcomeCoverage:
    if COVERAGE not in config.stash:
        config.stash[COVERAGE] = OutcomeCoverage(load_operations())
    return config.stash[COVERAGE]


def _keep_traffic(config, url: str, entries) -> None:
    """--flux-mock-traffic: the test's requests (not the mock's webhooks) appended to the HAR file, at most
    MAX_HAR_ENTRIES in all (the bound a HAR is read within)."""
    path = config.getoption("flux_mock_traffic")
    if not path:
        return
    if TRAFFIC not in config.stash:
        config.stash[TRAFFIC] = HarWriter(path, replace=True)
    writer = config.stash[TRAFFIC]
    for entry in entries:
        if entry.kind != REQUEST or writer.count >= MAX_HAR_ENTRIES:
            continue
        body = json.dumps(entry.body).encode() if entry.body is not None else b""
        headers = (("Content-Type", "application/json"),) if body else ()
        exchange = RecordedExchange(entry.method, url.rstrip("/") + entry.path, entry.status, headers, body,
                                    started=entry.epoch, waited_ms=entry.duration_ms or 0.0)
        writer.write(exchange.to_har({"operationId": entry.operation_id, "note": "the flux_mock fixture's journal"}
                                     if entry.operation_id else {"note": "the flux_mock fixture's journal"}))


def _below_minimum(config) -> str | None:
    wanted = config.getoption("flux_mock_coverage_min")
    if wanted is None or COVERAGE not in config.stash:
        return None
    share = config.stash[COVERAGE].share()
    return None if share >= wanted else f"outcome coverage {share:.0f}% is below --flux-mock-coverage-min {wanted:g}%"


def pytest_sessionfinish(session, exitstatus):
    if TRAFFIC in session.config.stash:
        session.config.stash[TRAFFIC].close()
    if _below_minimum(session.config) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if COVERAGE not in config.stash:
        return
    for line in config.stash[COVERAGE].lines(detail=config.getoption("flux_mock_coverage")):
        terminalreporter.write_line(line)
    if (below := _below_minimum(config)) is not None:
        terminalreporter.write_line(f"FAILED flux-mock: {below}", red=True)


@pytest.fixture(scope="session")
def flux_mock_server(pytestconfig):
    """One flux-mock process for the session; its URL."""
    options = []
    if pytestconfig.getoption("flux_mock_config"):
        options += ["--config", pytestconfig.getoption("flux_mock_config")]
    if pytestconfig.getoption("flux_mock_strict"):
        options.append("--strict")
    with running_mock(*options) as url:
        yield url
        forget_pending_webhooks(url)


def forget_pending_webhooks(url: str) -> None:
    """Reset the mock before it stops: the retries of webhooks sent to receivers the tests have closed would
    hold up its graceful stop (it finishes the deliveries due within 5 s)."""
    mock = FluxMock(url)
    try:
        mock.reset()
    except httpx.HTTPError:
        pass  # it is stopped anyway
    finally:
        mock.close()


@pytest.fixture
def flux_mock(flux_mock_server, pytestconfig):
    """The session's flux-mock, reset before the test and after it (what a test sets, its rules, timing and
    wallets, is the test's alone): `.url`, `.rules`, `.clock`, `.wallets`, `.timing`, jobs, journal,
    verification, violations."""
    mock = FluxMock(flux_mock_server)
    mock.reset()
    yield mock
    try:
        try:
            entries = mock.entries()  # what this test met, before the reset forgets it
            _coverage(pytestconfig).observe(entries)
            _keep_traffic(pytestconfig, mock.url, entries)
        except httpx.HTTPError:
            pass  # coverage is information: a mock the test made unreachable costs it this test's share
        mock.reset()
    finally:
        mock.close()


@pytest.fixture
def flux_mock_webhooks():
    """A webhook receiver on loopback for one test: `.url_for(name)` to give the API, `.wait_for(event,
    request_id)` for a delivery, `.deliveries(request_id)`, `.fail_next(n)`."""
    with webhook_receiver() as receiver:
        yield Webhooks(receiver)
