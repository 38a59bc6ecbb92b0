"""`flux-mock run -- COMMAND` (issue 36): real clients of each kind installable here, their code unchanged and
their URLs the gateway's, run under `flux-mock run` alone: the environment it gives sends their traffic to a mock
of their own, the report comes after, on stderr and as JSON, and nothing is left running."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CLIENTS = Path(__file__).parent / "clients"
FAST = ("--queued-for", "0.05", "--processing-for", "0.1")
NODE = shutil.which("node")
MEDIA_HOST = "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/"  # x-evidence media-hosts-and-layouts
NODE_MODULES = Path(__file__).parent / "node" / "node_modules"

APPS = {
    "python requests": [sys.executable, str(CLIENTS / "python_requests_app.py")],
    "python httpx": [sys.executable, str(CLIENTS / "python_httpx_app.py")],
    "python urllib": [sys.executable, str(CLIENTS / "python_urllib_app.py")],
    "python http.client": [sys.executable, str(CLIENTS / "python_http_client_app.py")],
    "node fetch": [NODE or "node", str(CLIENTS / "node_fetch_app.js")],
    "node https": [NODE or "node", str(CLIENTS / "node_https_app.js")],
    "node axios": [NODE or "node", str(CLIENTS / "node_axios_app.js")],
    "curl": ["sh", str(CLIENTS / "curl_app.sh")],
}


def _environment(home: Path) -> dict[str, str]:
    """A user's plain shell: nothing of flux-mock but where its CA lives; SSL_CERT_DIR set, as on many systems."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**keep, "FLUX_MOCK_HOME": str(home), "SSL_CERT_DIR": "/etc/ssl/certs"}


def flux_mock_run(home: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**_environment(home), "NODE_PATH": str(NODE_MODULES)}  # where axios is, as an app has it
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "run", *arguments], capture_output=True,
                          text=True, timeout=120, env=environment)


@pytest.mark.parametrize("kind", APPS)
def test_an_unchanged_client_of_each_kind_reaches_the_mock_under_run_alone(kind, home, tmp_path):
    if kind.startswith("node") and NODE is None:
        pytest.fail("node is missing: the README's test command installs it") if os.environ.get("CI") else \
            pytest.skip("node is missing")
    report = tmp_path / "report.json"
    finished = flux_mock_run(home, *FAST, "--report-json", str(report), "--", *APPS[kind])
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.startswith(f"IMAGE {MEDIA_HOST}"), finished.stdout
    assert "flux-mock" not in finished.stdout, "the mock's and run's own output stay off the app's stdout"
    written = json.loads(report.read_text())
    assert written["exit_status"] == 0 and written["command"] == APPS[kind]
    operations = written["operations"]
    assert operations["media"] == {"count": 1, "statuses": {"200": 1}}
    submitted = operations.get("fluxDevTextToImage") or operations["schnellGetData"]
    assert submitted["count"] == 1 and set(submitted["statuses"]) <= {"200", "202"}
    assert "flux-mock run: the command exited 0; it called" in finished.stderr


def test_run_exits_with_the_commands_status_and_leaves_nothing_running(home, tmp_path):
    app = tmp_path / "app.py"
    app.write_text("import os, sys\nprint(os.environ['FLUX_MOCK_URL'])\nsys.exit(3)\n")
    report = tmp_path / "report.json"
    finished = flux_mock_run(home, "--report-json", str(report), "--", sys.executable, str(app))
    assert finished.returncode == 3, finished.stderr
    url = finished.stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/__admin/health", timeout=2)
    written = json.loads(report.read_text())
    assert written["exit_status"] == 3 and written["operations"] == {}
    assert "the command exited 3; it called nothing of the API" in finished.stderr


def test_serve_options_reach_the_mock_and_the_report_names_what_the_app_met(home, tmp_path):
    config = tmp_path / "flux-mock.yaml"
    config.write_text("keys:\n  app-key: {balance: 0}\n")
    report = tmp_path / "report.json"
    finished = flux_mock_run(home, "--config", str(config), "--report-json", str(report), "--",
                             sys.executable, str(CLIENTS / "python_requests_app.py"))
    assert finished.returncode == 1, "the app fails on its empty wallet, and run says so with its status"
    assert json.loads(report.read_text())["operations"]["fluxDevTextToImage"] == {"count": 1,
                                                                                 "statuses": {"402": 1}}


@pytest.mark.parametrize("arguments, status, said", [
    (("--", "no-such-command-here"), 127, "flux-mock: no-such-command-here: command not found"),
    ((), 2, "flux-mock: run needs a command after --"),
    (("--config", "/no/such/file.yaml", "--", "true"), 2, "flux-mock: the mock did not start: cannot read config"),
])
def test_run_errors_are_one_line_with_their_exit_status(arguments, status, said, home):
    finished = flux_mock_run(home, *arguments)
    assert finished.returncode == status and finished.stderr.startswith(said), finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1 and "Traceback" not in finished.stderr


def _namespaces_here() -> str | None:
    """Why --isolate cannot work on this machine, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no unshare(1)"
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    probe = subprocess.run([unshare, *user, "--net", "--mount", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else probe.stderr.strip()[-200:]


@pytest.mark.parametrize("kind, command", [
    ("python, its own socket and TLS", [sys.executable, str(CLIENTS / "python_raw_socket_app.py")]),
    ("node https", [NODE or "node", str(CLIENTS / "node_https_app.js")]),
])
def test_isolate_reaches_apps_that_ignore_every_proxy_variable_and_reports_them(kind, command, home, tmp_path):
    """In the private network namespace only loopback exists and gateway.pixazo.ai is the mock (TLS on 443): an
    app opening its own sockets gets there, and nothing can leave the machine whatever it does."""
    if (why := _namespaces_here()) is not None:
        pytest.skip(f"no private network namespaces here: {why}")
    if command[0] == "node" and NODE is None:
        pytest.skip("node is missing")
    report = tmp_path / "report.json"
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "run", "--isolate", *FAST, "--report-json",
                               str(report), "--", *command], capture_output=True, text=True, timeout=120,
                              env={**_environment(home), "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.startswith(f"IMAGE {MEDIA_HOST}"), finished.stdout
    operations = json.loads(report.read_text())["operations"]
    assert (operations.get("schnellGetData") or operations["fluxDevTextToImage"])["count"] == 1, operations


def test_isolate_without_unshare_is_one_line_naming_what_is_missing(home, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "run", "--isolate", "--", "true"],
                              capture_output=True, text=True, timeout=60, env={**_environment(home), "PATH": str(empty)})
    assert finished.returncode == 2 and finished.stderr == "flux-mock: --isolate needs unshare(1) on PATH (util-linux)\n"
