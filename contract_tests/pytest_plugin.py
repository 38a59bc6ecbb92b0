"""The `flux_mock` fixture: a real flux-mock on an ephemeral loopback port, reset for every test.

    def test_my_client(flux_mock):
        app = MyApp(base_url=flux_mock.url)
        ...
        flux_mock.assert_no_violations()

Options: --flux-mock-config FILE (keys, rules...), --flux-mock-strict (reject undocumented fields),
--flux-mock-coverage (list, per operation called, the documented outcomes the tests met and never met;
without it one summary line), --flux-mock-coverage-min PERCENT (fail the session below that share),
--flux-mock-traffic FILE (write the requests the tests made of the mock, as a HAR 1.2 file: the client's own
traffic, for `flux-mock drift --client FILE`).
`flux_mock_webhooks` is a webhook receiver on loopback for one test.
"""

import contextlib
import json

import httpx
import pytest
import yaml

from contract_tests.coverage import OutcomeCoverage
from contract_tests.mock_client import FluxMock
from contract_tests.process import running_mock
from contract_tests.receiver import Webhooks, webhook_receiver
from mock_server.har import MAX_HAR_ENTRIES, HarWriter, RecordedExchange
from mock_server.journal_entry import REQUEST
from mock_server.operations import load_operations


COVERAGE = pytest.StashKey[OutcomeCoverage]()
TRAFFIC = pytest.StashKey[HarWriter]()


def pytest_configure(config):
    config.addinivalue_line("markers", "flux_mock(config=None, strict=False): the test's flux_mock fixture is a "
                                       "mock started with this config (YAML text or a dict) and strictness")


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


def _config_text(config: str | dict | None) -> str:
    return yaml.safe_dump(config) if isinstance(config, dict) else (config or "")


def _admin_token(config: str | dict | None, config_file: str | None = None) -> str | None:
    """The admin token a config sets (the fixture's calls need it)."""
    try:
        text = open(config_file).read() if config_file else _config_text(config)
        data = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError):
        return None  # the mock refuses such a config itself, saying why
    token = data.get("admin_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


class MockServers:
    """The mocks of a session, one process per distinct (config, strict), each started when first asked for
    and stopped by its PID at the end of the session (pending webhooks forgotten first)."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self._stack = contextlib.ExitStack()
        self._started: dict[tuple[str, bool], str] = {}
        self.admin_tokens: dict[str, str | None] = {}  # a started mock's URL -> the admin token its config sets

    def url(self, config: str | dict | None = None, strict: bool = False, config_file: str | None = None) -> str:
        """The base URL of the mock with this config (YAML text or a dict; or `config_file`, a path)."""
        text = _config_text(config)
        name = (f"file:{config_file}" if config_file else text, bool(strict))
        if name not in self._started:
            options = ["--strict"] if strict else []
            if config_file:
                options += ["--config", config_file]
            elif text:
                path = self.folder / f"flux-mock-{len(self._started)}.yaml"
                path.write_text(text)
                options += ["--config", str(path)]
            url = self._started[name] = self._stack.enter_context(running_mock(*options))
            self.admin_tokens[url] = _admin_token(config, config_file)
            self._stack.callback(forget_pending_webhooks, url, self.admin_tokens[url])  # before it stops
        return self._started[name]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def flux_mock_servers(tmp_path_factory):
    """Every mock process of the session, by configuration (what `make_flux_mock` and the marker use)."""
    servers = MockServers(tmp_path_factory.mktemp("flux-mock-configs"))
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session")
def flux_mock_server(flux_mock_servers, pytestconfig):
    """The session's flux-mock process (--flux-mock-config, --flux-mock-strict); its URL."""
    return flux_mock_servers.url(strict=pytestconfig.getoption("flux_mock_strict"),
                                 config_file=pytestconfig.getoption("flux_mock_config"))


def forget_pending_webhooks(url: str, admin_token: str | None = None) -> None:
    """Reset the mock before it stops: the retries of webhooks sent to receivers the tests have closed would
    hold up its graceful stop (it finishes the deliveries due within 5 s)."""
    mock = FluxMock(url, admin_token)
    try:
        mock.reset()
    except httpx.HTTPError:
        pass  # it is stopped anyway
    finally:
        mock.close()


def _observed(config, url: str):
    """What a FluxMock tells before each reset: the journal, for coverage and --flux-mock-traffic."""
    def observe(entries) -> None:
        _coverage(config).observe(entries)
        _keep_traffic(config, url, entries)
    return observe


@contextlib.contextmanager
def _test_mock(url: str, config, admin_token: str | None = None):
    """A FluxMock for one test, reset before and after (what a test sets is its own); what the test met, every
    fuzz_client run included, is counted before each reset."""
    mock = FluxMock(url, admin_token)
    mock.reset()
    mock.observers.append(_observed(config, url))
    try:
        yield mock
    finally:
        try:
            mock.reset()
        except httpx.HTTPError:
            pass  # coverage is information: a mock the test made unreachable costs it this test's share
        finally:
            mock.close()


@pytest.fixture
def make_flux_mock(flux_mock_servers, pytestconfig):
    """A factory: `make_flux_mock(config=..., strict=...)` is a FluxMock of a mock started with that config (YAML
    text or a dict; none: the embedded defaults) and strictness, reset for this test (one process per distinct
    configuration for the session)."""
    with contextlib.ExitStack() as stack:
        def make(config: str | dict | None = None, strict: bool = False) -> FluxMock:
            url = flux_mock_servers.url(config, strict)
            return stack.enter_context(_test_mock(url, pytestconfig, flux_mock_servers.admin_tokens[url]))
        yield make


@pytest.fixture
def flux_mock(request, pytestconfig, flux_mock_servers):
    """The session's flux-mock, reset before the test and after it (what a test sets, its rules, timing and
    wallets, is the test's alone): `.url`, `.rules`, `.clock`, `.wallets`, `.timing`, `.jobs`, `.journal`,
    verification, violations. `@pytest.mark.flux_mock(config=..., strict=...)`: a mock with that config."""
    marker = request.node.get_closest_marker("flux_mock")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.flux_mock takes keywords only: config=..., strict=...")
        unknown = set(marker.kwargs) - {"config", "strict"}
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.flux_mock: unknown keyword {sorted(unknown)[0]!r} (config, strict)")
        url = flux_mock_servers.url(**marker.kwargs)
    else:
        url = request.getfixturevalue("flux_mock_server")
    with _test_mock(url, pytestconfig, flux_mock_servers.admin_tokens[url]) as mock:
        yield mock


@pytest.fixture
def flux_mock_webhooks():
    """A webhook receiver on loopback for one test: `.url_for(name)` to give the API, `.wait_for(event,
    request_id)` for a delivery, `.deliveries(request_id)`, `.fail_next(n)`."""
    with webhook_receiver() as receiver:
        yield Webhooks(receiver)
