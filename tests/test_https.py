"""Real apps unchanged: `serve --tls`, and the forward proxy that answers CONNECT to the gateway's hosts
with a certificate from the local CA. Each app runs in its own process with only environment variables
set (HTTPS_PROXY and the CA), its URLs hard-coded to https://gateway.pixazo.ai; loopback only."""

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract_tests.process import MockProcess

CLIENTS = Path(__file__).parent / "clients"
NODE = Path(__file__).parent / "node"
FAST = ("--queued-for", "0.05", "--processing-for", "0.1")


@pytest.fixture(scope="module")
def proxy(home):
    from mock_server import tls

    tls.ca_path()  # made now: an app reads its CA variables as it starts, before the mock's first CONNECT makes it
    mock = MockProcess(*FAST)
    yield mock
    mock.stop()


def app_environment(proxy_url: str, home: Path) -> dict:
    """What a user sets for an unchanged app: the proxy and the CA, nothing else of flux-mock."""
    ca = str(home / "ca.pem")
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT", "PYTHONPATH") if name in os.environ}
    return {**keep, "HTTPS_PROXY": proxy_url, "https_proxy": proxy_url, "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca, "NODE_EXTRA_CA_CERTS": ca}


def run_app(command: list[str], environment: dict) -> str:
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, f"{command}: {finished.stderr[-2000:]}"
    return finished.stdout


def test_ca_prints_its_path_alone_and_how_to_trust_it(home):
    path = subprocess.run([sys.executable, "-m", "mock_server.cli", "ca", "--path"], capture_output=True, text=True,
                          check=True).stdout
    assert path == f"{home / 'ca.pem'}\n" and (home / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE")
    assert oct((home / "ca-key.pem").stat().st_mode & 0o777) == "0o600", "the CA key is the user's alone"
    guide = subprocess.run([sys.executable, "-m", "mock_server.cli", "ca"], capture_output=True, text=True,
                           check=True).stdout
    for hint in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "--cacert", "HTTPS_PROXY"):
        assert hint in guide
    again = subprocess.run([sys.executable, "-m", "mock_server.cli", "ca", "--path"], capture_output=True, text=True,
                           check=True).stdout
    assert again == path and (home / "ca.pem").read_text() == Path(path.strip()).read_text(), "made once, then kept"


@pytest.mark.parametrize("app", ["python_requests_app.py", "python_httpx_app.py", "python_urllib_app.py"])
def test_an_unchanged_python_app_with_https_gateway_urls_gets_its_image_through_the_proxy(app, proxy, home):
    output = run_app([sys.executable, str(CLIENTS / app)], app_environment(proxy.url, home))
    assert output.startswith("IMAGE https://pub-582b7213209642b9b995c96c95a30381.r2.dev/"), \
        "media on the gateway's media host (x-evidence media-hosts-and-layouts), which the proxy serves"


def test_curl_through_the_proxy_with_the_ca(proxy, home):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    answer = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(home / "ca.pem"), "-X", "POST",
                             "-H", "Ocp-Apim-Subscription-Key: k", "-H", "Content-Type: application/json",
                             "-d", '{"prompt": "x"}', "https://gateway.appypie.com/flux-dev/v1/dev/textToImage"],
                            env=app_environment(proxy.url, home), capture_output=True, text=True, timeout=30)
    assert answer.returncode == 0, answer.stderr
    assert '"polling_url":"https://gateway.appypie.com/v2/requests/status/' in answer.stdout


def test_node_fetch_through_undicis_proxy_agent_preloaded(proxy, home):
    if shutil.which("node") is None or not (NODE / "node_modules" / "undici").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and tests/node/node_modules (npm ci --prefix tests/node) are needed: the README's "
                        "test command installs them")
        pytest.skip("node or tests/node/node_modules is missing: npm ci --prefix tests/node")
    environment = {**app_environment(proxy.url, home), "NODE_PATH": str(NODE / "node_modules")}
    output = run_app(["node", "--require", str(NODE / "proxy-preload.js"), str(CLIENTS / "node_fetch_app.js")],
                     environment)
    assert output.startswith("IMAGE https://pub-582b7213209642b9b995c96c95a30381.r2.dev/")


def test_the_proxy_never_tunnels_to_another_host(proxy):
    import socket

    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        answer = connection.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 403") and "never tunnels" in answer
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"CONNECT nonsense HTTP/1.1\r\n\r\n")
        assert connection.recv(4096).startswith(b"HTTP/1.1 400")
    assert httpx.get(f"{proxy.url}/__admin/health").status_code == 200, "plain requests still answered"


def test_serve_tls_answers_https_and_names_https_urls(home):
    mock = MockProcess("--tls", *FAST)
    try:
        assert mock.url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(home / "ca.pem"))
        with httpx.Client(base_url=mock.url, verify=trusting, timeout=30) as client:
            job = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                              headers={"Ocp-Apim-Subscription-Key": "k"}).json()
            assert job["polling_url"].startswith(f"{mock.url}/v2/requests/status/")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{mock.url}/__admin/health", verify=True, timeout=10)  # the system store does not know the CA
    finally:
        mock.stop()


def test_serve_tls_with_a_missing_certificate_is_one_line_and_exit_2(tmp_path):
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--tls", "--cert",
                               str(tmp_path / "nope.pem"), "--key", str(tmp_path / "nope-key.pem")],
                              capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2 and finished.stderr.count("\n") == 1, finished.stderr
    assert "nope.pem does not exist" in finished.stderr


def test_serve_tls_writes_nothing_to_a_data_directory_whose_ca_exists(home):
    """The CA's folder may be read-only (a mounted secret, a shared home): with the CA there, serve --tls only
    reads it; this run's own server certificate goes to a private temporary folder."""
    from mock_server import tls

    tls.local_ca(home)
    before = {path.name: path.stat().st_mtime_ns for path in home.iterdir()}
    mock = MockProcess("--tls", *FAST)
    try:
        trusting = ssl.create_default_context(cafile=str(home / "ca.pem"))
        assert httpx.get(f"{mock.url}/__admin/health", verify=trusting, timeout=30).status_code == 200
    finally:
        mock.stop()
    assert {path.name: path.stat().st_mtime_ns for path in home.iterdir()} == before


def test_serve_tls_where_no_ca_can_be_made_is_one_line_and_exit_2(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--tls"],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, "FLUX_MOCK_HOME": str(blocked / "flux-mock")})
    assert finished.returncode == 2 and finished.stderr.count("\n") == 1, finished.stderr
    assert f"cannot make the local CA in {blocked / 'flux-mock'}: Not a directory" in finished.stderr
    assert "FLUX_MOCK_HOME" in finished.stderr
