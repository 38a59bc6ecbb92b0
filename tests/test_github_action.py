"""The GitHub Action (action.yml, composite) run here as a runner runs it: each step's `run` in order with bash,
its `if` and `${{ inputs.* }}` read as GitHub reads them, RUNNER_TEMP, GITHUB_ENV and GITHUB_OUTPUT as files.
Starting it leaves a mock answering at FLUX_MOCK_URL; the `stop: true` step stops it by its PID."""

import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.ports import free_port

ACTION = Path(__file__).resolve().parents[1] / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")
CONDITION = re.compile(r"^inputs\.([\w-]+) (==|!=) '([^']*)'$")


def _holds(condition: str | None, inputs: dict[str, str]) -> bool:
    if condition is None:
        return True
    name, operator, value = CONDITION.match(condition.strip()).groups()  # the only forms action.yml uses
    return (inputs[name] == value) == (operator == "==")


def run_action(given: dict[str, str], runner_temp: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """Run action.yml's steps with these inputs: (what it exported to GITHUB_ENV, its outputs, what it printed)."""
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | given
    env_file, output_file = runner_temp / "env", runner_temp / "output"
    env_file.touch()
    output_file.write_text("")
    printed = ""
    for step in action["runs"]["steps"]:
        if not _holds(step.get("if"), inputs):
            continue
        assert step["shell"] == "bash"
        step_env = {name: EXPRESSION.sub(lambda m: inputs[m[1]], str(value)) for name, value in
                    step.get("env", {}).items()}
        finished = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, **step_env, "RUNNER_TEMP": str(runner_temp),
                                       "GITHUB_ENV": str(env_file), "GITHUB_OUTPUT": str(output_file)})
        assert finished.returncode == 0, f"step {step['name']!r}: {finished.stdout}{finished.stderr}"
        printed += finished.stdout
    lines = lambda path: dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return lines(env_file), lines(output_file), printed


def test_the_action_starts_the_mock_exports_its_url_and_its_stop_step_stops_it(tmp_path):
    port = free_port()
    exported, outputs, _ = run_action({"port": str(port), "options": "--timing per-poll --seed 7"}, tmp_path)
    url = f"http://127.0.0.1:{port}"
    assert exported == {"FLUX_MOCK_URL": url} and outputs == {"url": url}
    pid = int((tmp_path / "flux-mock.pid").read_text())
    try:
        assert httpx.get(f"{url}/__admin/health", timeout=5).status_code == 200
        assert httpx.get(f"{url}/__admin/timing", timeout=5).json()["mode"] == "per-poll", "its options reach serve"
    finally:
        _, _, printed = run_action({"stop": "true"}, tmp_path)
    assert "serving" in printed, "the stop step prints what the mock logged"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/__admin/health", timeout=2)


def test_a_mock_that_does_not_start_fails_the_step_with_its_own_message(tmp_path):
    with pytest.raises(AssertionError, match="cannot read config file"):
        run_action({"port": str(free_port()), "options": "--config /no/such/file.yaml", "timeout": "5"}, tmp_path)
