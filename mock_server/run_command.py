"""`flux-mock run [--report-json FILE] [serve options] -- COMMAND [ARGS...]`: an unchanged app against a mock
of its own.

A mock starts on a free loopback port (`serve --port 0` with the options given, and --trust-forwarded), COMMAND
runs with the environment that sends its gateway traffic there, then the report of that traffic is printed (on
stderr, as `flux-mock report` prints it, so the app's stdout stays its own), written as JSON if asked, the mock
is stopped by its PID and `run` exits with COMMAND's exit status. The environment, per kind of client:

  HTTPS_PROXY, https_proxy       the mock's proxy: curl, Python requests, httpx, urllib, Node's axios
  NO_PROXY, no_proxy             loopback goes direct (FLUX_MOCK_URL, webhook receivers)
  SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE
                                 the system's CAs and the mock's, in one file (the app's other https calls keep
                                 working; curl too where SSL_CERT_DIR is set)
  NODE_EXTRA_CA_CERTS            the mock's CA (Node adds it to its own)
  NODE_OPTIONS --require         preload/node.js: Node's built-in fetch and `https` module, which ignore the proxy
  PYTHONPATH                     preload/python: Python's `http.client`, which ignores the proxy
  FLUX_MOCK_URL                  the mock's base URL (its admin API, for tests that want it)

Nothing is left running: the mock is stopped however COMMAND ends (Ctrl-C is passed to COMMAND first).

`--isolate` (Linux: root, or unprivileged user namespaces) is for apps that ignore every variable: `run` runs
again inside a private network and mount namespace (unshare(1)), where only loopback exists, /etc/hosts names
the gateway's hosts 127.0.0.1 and the mock answers TLS on port 443 (the proxy and preloads are not needed there;
the CA variables still are, for the apps to trust it)."""

import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

from contract_tests.mock_client import FluxMock, format_chaos, format_notes, format_report
from contract_tests.process import MockProcess
from mock_server import tls
from mock_server.exit_codes import ConfigError, UsageError

PRELOAD = Path(__file__).parent / "preload"
NOT_FOUND, NOT_RUNNABLE = 127, 126  # a shell's statuses for a command it cannot find or run
LOOPBACK = "127.0.0.1,localhost,::1"
ISOLATED = "FLUX_MOCK_RUN_ISOLATED"  # set in the `run` that runs inside the namespace --isolate made
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def ca_bundle(directory: Path) -> Path:
    """The system's CA certificates and the mock's, in one file: trusted for the gateway's hosts and every other."""
    bundle = directory / "ca-bundle.pem"
    system = ssl.get_default_verify_paths().cafile
    parts = [Path(system).read_text()] if system and Path(system).is_file() else []
    bundle.write_text("\n".join(parts + [tls.ca_path().read_text()]))
    return bundle


def app_environment(mock_url: str, directory: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment COMMAND runs in: `base` (the caller's) with the variables that send its gateway traffic to
    the mock at `mock_url`."""
    environment = dict(os.environ if base is None else base)
    bundle = str(ca_bundle(directory))
    node_options = environment.get("NODE_OPTIONS", "")
    python_path = environment.get("PYTHONPATH", "")
    environment.update({
        "HTTPS_PROXY": mock_url, "https_proxy": mock_url,
        "NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK,
        "SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "CURL_CA_BUNDLE": bundle,
        "NODE_EXTRA_CA_CERTS": str(tls.ca_path()),
        "NODE_OPTIONS": f"--require {PRELOAD / 'node.js'} {node_options}".strip(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PRELOAD / "python"), python_path])),
        "FLUX_MOCK_URL": mock_url,
        "FLUX_MOCK_GATEWAY_HOSTS": ",".join(sorted(tls.served_hosts())),
    })
    return environment


def isolated_environment(mock_url: str, directory: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Inside --isolate's namespace: the gateway's hosts are the mock itself; only its CA needs trusting."""
    environment = {name: value for name, value in dict(os.environ if base is None else base).items()
                   if name not in PROXY_VARIABLES}
    bundle = str(ca_bundle(directory))
    environment.update({"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "CURL_CA_BUNDLE": bundle,
                        "NODE_EXTRA_CA_CERTS": str(tls.ca_path()), "FLUX_MOCK_URL": mock_url})
    return environment


def isolate(argv: list[str]) -> int:
    """This `flux-mock run` again, inside a private network and mount namespace; its exit status."""
    if not sys.platform.startswith("linux"):
        raise UsageError("--isolate works on Linux only (network namespaces)")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise UsageError("--isolate needs unshare(1) on PATH (util-linux)")
    namespaces = [unshare, *([] if os.geteuid() == 0 else ["--user", "--map-root-user"]), "--net", "--mount"]
    probe = subprocess.run([*namespaces, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise UsageError(f"--isolate cannot make a private network namespace ({said}): it needs root, or "
                         "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                         "user.max_user_namespaces > 0)")
    process = subprocess.Popen([*namespaces, "--fork", sys.executable, "-m", "mock_server.cli", *argv],
                               env={**os.environ, ISOLATED: "1"})
    return _waited(process)


def _loopback_up() -> None:
    """The namespace's `lo` up (a new network namespace starts with it down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        flags = struct.unpack("16sh", fcntl.ioctl(handle, siocgifflags, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(handle, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def _gateway_hosts_on_loopback(directory: Path) -> None:
    """/etc/hosts, in this mount namespace only, with the gateway's hosts on 127.0.0.1."""
    hosts = directory / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 " + " ".join(sorted(tls.served_hosts())) + "\n")
    libc, ms_bind = ctypes.CDLL(None, use_errno=True), 4096
    if libc.mount(str(hosts).encode(), b"/etc/hosts", None, ms_bind, None) != 0:
        raise ConfigError(f"--isolate cannot mount its /etc/hosts: {os.strerror(ctypes.get_errno())}")


def _waited(process: subprocess.Popen) -> int:
    while True:
        try:
            status = process.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C reached us and the child alike: wait for it to end as it chooses
            process.send_signal(signal.SIGINT)
    return 128 - status if status < 0 else status


def _run(command: list[str], environment: dict[str, str]) -> int:
    """COMMAND's exit status (as a shell gives it: 128 + N for a signal, 127 not found, 126 not runnable)."""
    if shutil.which(command[0], path=environment.get("PATH")) is None and os.sep not in command[0]:
        raise CommandNotRunnable(f"{command[0]}: command not found", NOT_FOUND)
    try:
        process = subprocess.Popen(command, env=environment)
    except FileNotFoundError:
        raise CommandNotRunnable(f"{command[0]}: no such file", NOT_FOUND) from None
    except PermissionError:
        raise CommandNotRunnable(f"{command[0]}: not executable", NOT_RUNNABLE) from None
    return _waited(process)


class CommandNotRunnable(UsageError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _print_report(report: dict, status: int) -> None:
    """The report, as `flux-mock report` prints it, on stderr (the app's stdout stays its own)."""
    operations = report.get("operations", {})
    called = ", ".join(f"{where} x{seen['count']} ({', '.join(f'{code} x{n}' for code, n in seen['statuses'].items())})"
                       for where, seen in operations.items())
    with redirect_stdout(sys.stderr):
        print(f"flux-mock run: the command exited {status}; it called {called or 'nothing of the API'}")
        lines = format_report(report)
        print("\n".join(lines) if lines else "no violations: every request kept to the contract")
        for more in (format_chaos(report), format_notes(report)):
            if more:
                print("\n".join(more))


def run_command(serve_options: list[str], command: list[str], report_json: str | None, isolated: bool = False) -> int:
    if not command:
        raise UsageError("run needs a command after --: flux-mock run [options] -- python app.py")
    if report_json and not Path(report_json).resolve().parent.is_dir():
        raise UsageError(f"--report-json {report_json}: no such directory")
    for name in PROXY_VARIABLES:  # the user's own proxies: run is offline, and its calls to the mock go direct
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="flux-mock-run-") as directory:
        if isolated:
            _loopback_up()
            _gateway_hosts_on_loopback(Path(directory))
        try:
            mock = MockProcess(*(("--tls", "--port", "443") if isolated else ("--trust-forwarded",)), *serve_options)
        except RuntimeError as error:  # "flux-mock did not start (exit 2): flux-mock: <its own one line>"
            said = str(error).split("): ", 1)[-1].removeprefix("flux-mock: ")
            raise ConfigError(f"the mock did not start: {said}") from None
        try:
            environment = (isolated_environment if isolated else app_environment)(mock.url, Path(directory))
            status = _run(command, environment)
            report = _report(mock.url, environment["SSL_CERT_FILE"])
        finally:
            mock.stop()
    _print_report(report, status)
    if report_json:
        Path(report_json).write_text(json.dumps({"command": command, "exit_status": status, **report}, indent=2))
    return status


def _report(url: str, ca_file: str) -> dict:
    """The client report of the mock at `url` (an https one, inside --isolate, is trusted by `ca_file`)."""
    os.environ["SSL_CERT_FILE"] = ca_file  # httpx's trust, for the mock's own certificate
    client = FluxMock(url)
    try:
        return client.client_report()
    finally:
        client.close()
