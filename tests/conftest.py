import os

import pytest

from contract_tests.receiver import webhook_receiver
from tests.support.harness import reset_client
from tests.support.redis_server import running_redis
from tests.support.tls_contexts import share_default_contexts

# The processes the tests start (pytest runs of users' test folders, the mock, the recorder, the CLI) keep Python's
# bytecode caches: where PYTHONDONTWRITEBYTECODE is set (this project's CI machines set it), each child pytest
# compiled and rewrote the package's ~300 modules again, 0.9 s a start.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
share_default_contexts()  # the test process's httpx clients share their TLS contexts (tls_contexts.py: a minute of CPU)


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
def mock_url(flux_mock_server):
    """One real flux-mock for the session, with its embedded defaults: the plugin's session mock (a test that
    needs another configuration asks `make_flux_mock(config=...)` or `@pytest.mark.flux_mock(config=...)`)."""
    return flux_mock_server


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
