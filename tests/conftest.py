import os
from contextlib import ExitStack

import pytest

from contract_tests.process import running_mock
from contract_tests.pytest_plugin import forget_pending_webhooks
from contract_tests.receiver import webhook_receiver
from tests.support.harness import reset_client
from tests.support.redis_server import running_redis


@pytest.fixture(scope="session")
def configured_mock(tmp_path_factory):
    """A factory: `configured_mock(config_text)` is the base URL of a real flux-mock started with that config
    file text (one process per distinct text for the whole session, each stopped by its PID at the end)."""
    started: dict[str, str] = {}
    with ExitStack() as stack:
        def start(config: str = "") -> str:
            if config not in started:
                options = []
                if config:
                    path = tmp_path_factory.mktemp("config") / "flux-mock.yaml"
                    path.write_text(config)
                    options = ["--config", str(path)]
                started[config] = stack.enter_context(running_mock(*options))
                stack.callback(forget_pending_webhooks, started[config])  # runs before the mock is stopped
            return started[config]
        yield start




@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A data directory of the module's own (FLUX_MOCK_HOME): the local CA is made there on first use."""
    path = tmp_path_factory.mktemp("flux-mock-home")
    previous = os.environ.get("FLUX_MOCK_HOME")
    os.environ["FLUX_MOCK_HOME"] = str(path)
    yield path
    if previous is None:
        del os.environ["FLUX_MOCK_HOME"]
    else:
        os.environ["FLUX_MOCK_HOME"] = previous


@pytest.fixture(scope="session")
def mock_url(configured_mock):
    """One real flux-mock for the session, with its embedded defaults."""
    return configured_mock()


@pytest.fixture
def api(mock_url):
    """A client of the session's mock, reset before each test so tests are isolated."""
    with reset_client(mock_url) as client:
        yield client


@pytest.fixture(scope="session")
def receiver():
    """A webhook receiver on loopback for the session; tests use their own paths on it."""
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server for the session."""
    with running_redis() as url:
        yield url
