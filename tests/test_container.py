"""The container files: the image built and run with Debian's podman (tests/support/container_engine.py says how
it runs here, with a base image made from Debian's packages since no registry can be reached); the
Dockerfile's health check and the compose file's configuration, against real processes."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from contract_tests.process import MockProcess
from tests.support.container_engine import Podman
from tests.support.ports import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/flux-mock:test"


def _health_check() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return shlex.split(re.search(r"HEALTHCHECK .*? CMD (.+)", text).group(1))


def test_the_dockerfiles_health_check_passes_on_a_serving_mock_and_fails_without_one(monkeypatch):
    assert re.search(r"^USER flux$", (ROOT / "Dockerfile").read_text(), re.M), "never root"
    mock = MockProcess()
    try:
        port = mock.url.rsplit(":", 1)[1]
        healthy = subprocess.run(_health_check(), env={**os.environ, "FLUX_MOCK_PORT": port}, capture_output=True,
                                 timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        mock.stop()
    down = subprocess.run(_health_check(), env={**os.environ, "FLUX_MOCK_PORT": port}, capture_output=True, timeout=30)
    assert down.returncode != 0


def test_the_health_check_sends_the_admin_token_a_mock_with_one_asks_for():
    token = {"FLUX_MOCK_ADMIN_TOKEN": "health-check-token"}  # as compose.yaml sets one
    mock = MockProcess(env=token)
    try:
        port = mock.url.rsplit(":", 1)[1]
        healthy = subprocess.run(_health_check(), env={**os.environ, **token, "FLUX_MOCK_PORT": port},
                                 capture_output=True, timeout=30)
        wrong = subprocess.run(_health_check(), env={**os.environ, "FLUX_MOCK_ADMIN_TOKEN": "another-token",
                                                     "FLUX_MOCK_PORT": port}, capture_output=True, timeout=30)
    finally:
        mock.stop()
    assert healthy.returncode == 0, healthy.stderr
    assert wrong.returncode != 0, "the check is a real one: a wrong token is refused"


def test_the_compose_files_instances_answer_as_one_mock(monkeypatch, redis_url):
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert {"redis", "mock-a", "mock-b"} <= set(services)
    environment = services["mock-a"]["environment"]
    assert environment == services["mock-b"]["environment"]
    for name, value in environment.items():
        monkeypatch.setenv(name, redis_url if name == "FLUX_MOCK_STORE" else str(value))
    first, second = MockProcess(), MockProcess()
    try:
        key = {"Ocp-Apim-Subscription-Key": "k"}
        request_id = httpx.post(f"{first.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=key,
                                timeout=30).json()["request_id"]
        answer = httpx.get(f"{second.url}/v2/requests/status/{request_id}", headers=key, timeout=30)
        assert answer.status_code == 200 and answer.json()["request_id"] == request_id
        token = {"X-Admin-Token": environment["FLUX_MOCK_ADMIN_TOKEN"]}
        assert httpx.get(f"{second.url}/__admin/health", headers=token, timeout=10).json()["store"]["kind"] == "redis"
    finally:
        first.stop()
        second.stop()


def test_the_image_builds_runs_as_non_root_healthy_and_answers(tmp_path, monkeypatch):
    if Podman.missing():
        if os.environ.get("CI"):
            raise AssertionError(f"CI needs {', '.join(Podman.missing())} (the README's test command installs them)")
        pytest.skip(f"no {', '.join(Podman.missing())} here (apt-get install podman runc debootstrap)")
    podman = Podman(tmp_path)
    base = podman.python_base()
    if reason := podman.cannot_run(base):
        pytest.skip(reason)
    podman.offline_script("build", IMAGE)  # the documented route: deploy/podman-offline.sh
    port = free_port()
    token = {"FLUX_MOCK_ADMIN_TOKEN": "image-test-token"}  # a mapped port is not loopback to the mock
    name = podman.offline_script("run", IMAGE, str(port), timeout=120, env=token).stdout.strip()
    try:
        assert name == f"flux-mock-{port}"
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(url, token["FLUX_MOCK_ADMIN_TOKEN"])
        assert podman("healthcheck", "run", name, check=False).returncode == 0, "the Dockerfile's HEALTHCHECK"
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001", "never root"
        key = {"Ocp-Apim-Subscription-Key": "k"}
        job = httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=key, timeout=30)
        assert job.status_code == 202 and job.json()["polling_url"].startswith(url)
        podman("rm", "-f", "-t", "5", name, check=False)
        _through_testcontainers(podman, monkeypatch)
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)  # stops the container's processes
        podman("rmi", "-f", IMAGE, check=False)
        podman("image", "prune", "-f", check=False)  # the build's layers (the base image is kept)


def _through_testcontainers(podman: Podman, monkeypatch) -> None:
    """The same image as testcontainers-python starts it (FluxMockContainer), through podman's Docker API, on a
    mapped port and on the host's network: no registry here, so no Ryuk reaper image; each container is removed
    when its block ends."""
    from testcontainers.core.config import testcontainers_config

    from contract_tests.containers import FluxMockContainer

    with podman.api_service() as docker_host:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
        monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
        with FluxMockContainer(IMAGE) as mapped:  # a mapped port (podman's API lists no HostConfig)
            url = mapped.get_base_url()
            assert url.startswith("http://127.0.0.1:"), "published on loopback only"
            answer = httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "x"},
                                headers={"Ocp-Apim-Subscription-Key": "k"}, timeout=30)
            assert answer.status_code == 200 and answer.json()["output"].startswith(url)
            mapped.admin.assert_called("schnellGetData", times=1)
            mapped_name = mapped.get_wrapped_container().name
        assert podman("container", "exists", mapped_name, check=False).returncode != 0, "removed when it ended"
        container = FluxMockContainer(IMAGE, host_network_port=free_port()).with_option("queued-for", 0)
        with container:
            url, key = container.get_base_url(), {"Ocp-Apim-Subscription-Key": "k"}
            container.admin.rules.add({"status": 429}, operation="schnellGetData", times=1)
            assert httpx.post(f"{url}/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=key).status_code == 429
            container.admin.assert_called("schnellGetData", times=1)
            assert container.admin.timing.get()["queued_for"] == 0, "with_option reached serve"
            assert httpx.get(f"{url}/__admin/health").status_code == 403, "the admin API wants the run's token"
            name = container.get_wrapped_container().name
        assert podman("container", "exists", name, check=False).returncode != 0, "removed when the block ended"


def _wait_until_serving(url: str, token: str, seconds: float = 180) -> None:
    """A liveness bound, not a speed one: a container starts in seconds, but in minutes on a machine the suite
    and CPU hogs share (60 s was once too short there)."""
    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/__admin/health", headers={"X-Admin-Token": token}, timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    wait_until(healthy, timeout=seconds, what=f"the container answering on {url}", every=0.25)
