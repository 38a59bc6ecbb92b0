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
from tests.support.waiting import answers, wait_until

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


def test_the_image_builds_runs_as_non_root_healthy_and_answers(tmp_path):
    if Podman.missing():
        if os.environ.get("CI"):
            raise AssertionError(f"CI needs {', '.join(Podman.missing())} (the README's test command installs them)")
        pytest.skip(f"no {', '.join(Podman.missing())} here (apt-get install podman runc debootstrap)")
    podman = Podman(tmp_path)
    base = podman.python_base()
    if reason := podman.cannot_run(base):
        pytest.skip(reason)
    podman("build", "--format", "docker", "--isolation", "chroot", "--network", "host", "--build-arg",
           f"PYTHON_IMAGE={base}", "-t", IMAGE, str(ROOT), timeout=900)
    port = free_port()
    name = f"flux-mock-test-{port}"
    podman("run", "-d", "--name", name, "--network", "host", "-e", f"FLUX_MOCK_PORT={port}", IMAGE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(url)
        assert podman("healthcheck", "run", name, check=False).returncode == 0, "the Dockerfile's HEALTHCHECK"
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001", "never root"
        key = {"Ocp-Apim-Subscription-Key": "k"}
        job = httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=key, timeout=30)
        assert job.status_code == 202 and job.json()["polling_url"].startswith(url)
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)  # stops the container's processes
        podman("rmi", "-f", IMAGE, check=False)
        podman("image", "prune", "-f", check=False)  # the build's layers (the base image is kept)


def _wait_until_serving(url: str, seconds: float = 60) -> None:
    wait_until(lambda: answers(f"{url}/__admin/health", timeout=2), timeout=seconds,
               what=f"the container answering on {url}", every=0.25)
