"""The container files. No container engine runs on these machines (the docker client is here, no daemon;
no podman or buildah), so the image itself is built and started only where one does. What is checked
everywhere: the Dockerfile's health check and the compose file's configuration, against real processes."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from contract_tests.process import MockProcess

ROOT = Path(__file__).resolve().parents[1]


def _health_check() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return shlex.split(re.search(r"HEALTHCHECK .*? CMD (.+)", text).group(1))


def _engine_runs() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


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


@pytest.mark.skipif(not _engine_runs(), reason="no container engine runs here (docker client only, no daemon)")
def test_the_image_builds_starts_healthy_and_answers(tmp_path):
    tag = "flux-mock-test:latest"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ROOT)], check=True, timeout=900)
    container = subprocess.run(["docker", "run", "-d", "-p", "127.0.0.1::8080", tag], check=True, capture_output=True,
                               text=True, timeout=60).stdout.strip()
    try:
        port = subprocess.run(["docker", "port", container, "8080"], capture_output=True, text=True,
                              check=True).stdout.strip().rsplit(":", 1)[1]
        for _ in range(60):
            state = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                                   capture_output=True, text=True).stdout.strip()
            if state == "healthy":
                break
            subprocess.run([sys.executable, "-c", "import time; time.sleep(1)"])
        assert state == "healthy"
        answer = httpx.post(f"http://127.0.0.1:{port}/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                            headers={"Ocp-Apim-Subscription-Key": "k"}, timeout=30)
        assert answer.status_code == 202
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
