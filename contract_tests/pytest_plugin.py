"""The `flux_mock` fixture: a real flux-mock on an ephemeral loopback port, reset for every test.

    def test_my_client(flux_mock):
        app = MyApp(base_url=flux_mock.url)
        ...
        flux_mock.assert_no_violations()

Options: --flux-mock-config FILE (keys, scenarios...), --flux-mock-strict (reject undocumented fields).
`flux_mock_webhooks` is a webhook receiver on loopback for one test.
"""

import httpx
import pytest

from contract_tests.mock_client import FluxMock
from contract_tests.process import running_mock
from contract_tests.receiver import Webhooks, webhook_receiver


def pytest_addoption(parser):
    group = parser.getgroup("flux-mock")
    group.addoption("--flux-mock-config", metavar="FILE", help="config file for the flux_mock fixture's server")
    group.addoption("--flux-mock-strict", action="store_true", help="run the flux_mock fixture's server with --strict")


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
def flux_mock(flux_mock_server):
    """The session's flux-mock, reset before the test and after it (what a test sets, its rules, timing and
    wallets, is the test's alone): `.url`, `.rules`, `.clock`, `.wallets`, `.timing`, jobs, journal,
    verification, violations."""
    mock = FluxMock(flux_mock_server)
    mock.reset()
    yield mock
    try:
        mock.reset()
    finally:
        mock.close()


@pytest.fixture
def flux_mock_webhooks():
    """A webhook receiver on loopback for one test: `.url_for(name)` to give the API, `.wait_for(event,
    request_id)` for a delivery, `.deliveries(request_id)`, `.fail_next(n)`."""
    with webhook_receiver() as receiver:
        yield Webhooks(receiver)
