"""The command line: help, the start-up line, clear errors for bad configuration."""

import os
import subprocess
import sys

import httpx
import pytest

from contract_tests.process import running_mock, stop_process
from tests.support.waiting import answers, wait_until


def flux_mock(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_serve_help_documents_every_option():
    result = flux_mock("serve", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--config", "--public-url", "--queued-for", "--processing-for", "--timing",
                   "--sync-latency", "--admin-token", "--strict"):
        assert option in result.stdout


@pytest.mark.parametrize("config, words", [
    ("timing: {mode: sometimes}", "timing.mode"),
    ("keys: {k: {balance: -1}}", "keys.k.balance"),
    ("bogus: 1", "bogus"),
    ("- just\n- a list", "top level must be a mapping"),
    ("rules: [{outcome: {status: 200}}]", "rule"),
    ("timing: {queued_for: [", "not valid YAML"),
    ("webhooks: {allowed_hosts: ['*']}", "webhooks.allowed_hosts: '*' is not a host name, a *.suffix"),
    ("webhooks: {allowed_hosts: ['https://hooks.example.com/x']}", "a URL? give its host only"),
    ("rules: [{match: {operation_id: getDta}, outcome: {status: 429}}]", "'getDta' is no operation"),
    ("store: memory://\nprofile: apim", "profile"),
])
def test_bad_config_exits_2_naming_the_problem(tmp_path, config, words):
    path = tmp_path / "bad.yaml"
    path.write_text(config)
    result = flux_mock("serve", "--port", "0", "--config", str(path))
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_an_unknown_store_url_is_one_line_and_exit_2():
    result = flux_mock("serve", "--port", "0", "--store", "http://x")
    assert result.returncode == 2 and result.stderr == ("flux-mock: unknown store 'http://x': use memory:// or "
                                                        "redis://HOST:PORT/DB (rediss:// and unix:// too)\n")


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = flux_mock("serve", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read config file" in result.stderr


def test_start_up_line_and_options_reach_the_server():
    with running_mock("--timing", "manual", "--public-url", "https://flux.test", "--sync-latency", "0") as url:
        timing = httpx.get(f"{url}/__admin/timing").json()
        health = httpx.get(f"{url}/__admin/health").json()
    assert timing["mode"] == "manual"
    assert health["public_url"] == "https://flux.test"


def test_listening_beyond_loopback_without_a_token_says_the_admin_api_is_loopback_only():
    process = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "serving" in process.stdout.readline()
        assert "admin API answers loopback clients only" in process.stderr.readline()
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_listener_is_ipproto_tcp_so_asyncio_sets_tcp_nodelay_on_connections():
    import socket

    from mock_server.serving import listening_socket

    listener = listening_socket("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # with 0, every answer waited ~40 ms for a delayed ACK
    finally:
        listener.close()


def test_every_serve_option_comes_from_a_flux_mock_environment_variable_and_the_command_line_wins(monkeypatch):
    import httpx

    from contract_tests.process import MockProcess
    from mock_server.cli import _parser, environment_name

    serve = next(action for action in _parser()._actions if action.dest == "command").choices["serve"]
    names = {environment_name(action) for action in serve._actions if action.option_strings and action.dest != "help"}
    assert {"FLUX_MOCK_PORT", "FLUX_MOCK_STORE", "FLUX_MOCK_TLS", "FLUX_MOCK_CORS", "FLUX_MOCK_ADMIN_TOKEN",
            "FLUX_MOCK_TIMING", "FLUX_MOCK_PROFILE"} <= names
    monkeypatch.setenv("FLUX_MOCK_PROFILE", "gateway")
    monkeypatch.setenv("FLUX_MOCK_STRICT", "true")
    from_environment = MockProcess()
    overridden = MockProcess("--profile", "pages")
    try:
        assert httpx.get(f"{from_environment.url}/nope").json() == {"statusCode": 404, "message": "Resource not found"}
        assert httpx.get(f"{overridden.url}/nope").json() == {"error": "Endpoint not found"}
    finally:
        from_environment.stop()
        overridden.stop()
    monkeypatch.setenv("FLUX_MOCK_PORT", "eighty")
    result = flux_mock("serve")
    assert result.returncode == 2 and result.stderr == "flux-mock: FLUX_MOCK_PORT='eighty' is not a valid port\n"


@pytest.mark.parametrize("workers", [1, 2])
def test_the_access_log_never_shows_a_secret_sent_in_a_url(workers, redis_url):
    """At --log-level info uvicorn logs each request line: the values of key, token and secret query parameters
    are redacted there, in one process and in each --workers worker (which needs the shared store)."""
    options = ["--log-level", "info"] + (["--workers", str(workers), "--store", redis_url] if workers > 1 else [])
    process = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = process.stdout.readline().split(" on ")[1].split(" ")[0]
        secrets = {"subscription-key": "sk-live-0123456789abcdef", "admin_token": "tok-9f8e7d6c5b4a",
                   "X-Secret-Key": "s3cr3t-value-42"}
        query = "&".join(f"{name}={value}" for name, value in secrets.items())
        wait_until(lambda: answers(f"{url}/__admin/health?{query}&page=2"), what=f"{url} answering")
        stop_process(process, group=True)
        logged = process.stdout.read() + process.stderr.read()
    finally:
        stop_process(process, group=True)
        process.stdout.close()
        process.stderr.close()
    assert "/__admin/health?subscription-key=redacted&admin_token=redacted&X-Secret-Key=redacted&page=2" \
        in logged, logged[-2000:]
    assert not any(value in logged for value in secrets.values()), logged[-2000:]


def test_wait_returns_once_the_mock_answers_and_exits_3_in_one_line_when_it_does_not(mock_url):
    from tests.support.ports import closed_port_url

    up = subprocess.run([sys.executable, "-m", "mock_server.cli", "wait", "--url", mock_url], capture_output=True,
                        text=True, timeout=60)
    assert up.returncode == 0 and up.stderr == ""
    nowhere = closed_port_url()
    down = subprocess.run([sys.executable, "-m", "mock_server.cli", "wait", "--url", nowhere, "--timeout", "0.5"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 3 and down.stderr.count("\n") == 1
    assert down.stderr.startswith(f"flux-mock: {nowhere} did not answer /__admin/health within 0.5 s")
    bad = subprocess.run([sys.executable, "-m", "mock_server.cli", "wait", "--url", "not a url"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_wait_sends_the_admin_token_a_mock_with_one_asks_for():
    from contract_tests.process import MockProcess

    token = {"FLUX_MOCK_ADMIN_TOKEN": "wait-token-123"}
    mock = MockProcess(env=token)
    try:
        told = subprocess.run([sys.executable, "-m", "mock_server.cli", "wait", "--url", mock.url],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **token})
        untold = subprocess.run([sys.executable, "-m", "mock_server.cli", "wait", "--url", mock.url, "--timeout",
                                 "0.5"], capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in os.environ.items() if k != "FLUX_MOCK_ADMIN_TOKEN"})
    finally:
        mock.stop()
    assert told.returncode == 0, told.stderr
    assert untold.returncode == 3 and "answered 403" in untold.stderr


def test_a_mock_and_the_light_commands_start_without_the_test_frameworks_or_x509():
    """Start-up weight (every `serve`, `wait` and `report` pays it): pytest, schemathesis and hypothesis load only
    for check, drift and a recording judged; trustme's X.509 only where a certificate is made; httpx's transport
    (httpcore, trio, a TLS context) at the first webhook sent."""
    started = ("import asyncio, sys\n"
               "from mock_server import cli, serving\n"
               "from mock_server.app import create_app\n"
               "import contract_tests.runner\n"
               "app = create_app()\n"
               "async def start_and_stop():\n"
               "    await app.mock.start()\n"
               "    await app.mock.stop(grace=0)\n"
               "asyncio.run(start_and_stop())\n"
               "print(sorted(set(sys.modules) & {'pytest', 'schemathesis', 'hypothesis', 'trustme', 'httpcore'}))\n")
    loaded = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr[-2000:]
