"""The README's and the docs' commands and examples, run as written."""

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import httpx
import pytest
import yaml

from mock_server.settings import settings_from_mapping
from contract_tests.process import running_mock
from tests.support.pytest_run import run_pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [README, *(path.read_text() for path in sorted((ROOT / "docs").rglob("*.md")))]
README_BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
BLOCKS = [block for page in PAGES for block in re.findall(r"```(\w+)\n(.*?)```", page, re.S)]


def test_first_two_commands_set_up_and_serve_then_set_up_and_test():
    shell = [body.strip() for lang, body in README_BLOCKS if lang == "sh"]
    assert shell[0] == "pip install . && flux-mock serve"
    ci = (ROOT / ".ci" / "run").read_text()
    assert shell[1] in ci, ".ci/run runs exactly the README's test command"


def test_config_example_loads_and_behaves_as_described(tmp_path):
    config_text = next(body for lang, body in BLOCKS if lang == "yaml" and body.startswith("timing:"))
    settings = settings_from_mapping(yaml.safe_load(config_text))
    assert settings.keys["broke-key"].balance == 0 and settings.disabled_models == ("flux-fill-dev",)
    path = tmp_path / "flux-mock.yaml"
    path.write_text(config_text)
    with running_mock("--config", str(path)) as url:
        def post(key, body, route="/flux-1-schnell/v1/getData"):
            return httpx.post(url + route, json=body, headers={"Ocp-Apim-Subscription-Key": key})
        assert post("dev-key", {"prompt": "x"}).status_code == 500  # the once-only rule
        assert post("dev-key", {"prompt": "x"}).status_code == 200
        assert post("stranger", {"prompt": "x"}).status_code == 401
        assert post("broke-key", {"prompt": "x"}, "/flux-pro/v1/pro/textToImage").status_code == 402
        assert post("schnell-only", {"prompt": "x"}, "/flux-pro/v1/pro/textToImage").status_code == 403


def test_every_readme_shell_block_after_the_set_up_runs_as_pasted(tmp_path):
    """The README's shell blocks past its two set-up commands, each run whole by bash -e against a running
    mock (its URL for 127.0.0.1:8080, and for the gateway with a key in PIXAZO_KEY, as a user's would be)."""
    blocks = [body for lang, body in README_BLOCKS if lang == "sh"][2:]
    assert len(blocks) == 2, "the curl example and the kit's three commands"
    with running_mock() as url:
        for number, block in enumerate(blocks):
            httpx.post(f"{url}/__admin/reset").raise_for_status()  # each block on a fresh mock, as in its own session
            script = block.replace("http://127.0.0.1:8080", url).replace("https://gateway.pixazo.ai", url)
            ran = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                                 timeout=300, cwd=tmp_path, env={**os.environ, "PIXAZO_KEY": "readme-key"})
            assert ran.returncode == 0, f"block {number}:\n{block}\n{ran.stdout[-3000:]}{ran.stderr[-2000:]}"
            if number == 0:
                submitted, end = json.JSONDecoder().raw_decode(ran.stdout)  # curl prints two bodies back to back
                polled = json.loads(ran.stdout[end:])
                assert submitted["status"] == "QUEUED" and submitted["polling_url"].startswith(url)
                assert polled["request_id"] == submitted["request_id"]
            else:
                assert "no violations" in ran.stdout, "report after check and drift judges no kit traffic"
                assert f"flux-mock check: {url} (flux-mock)" in ran.stdout and (tmp_path / "drift.md").exists()
                suite = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite")
                assert int(suite.get("tests")) >= 40 and suite.get("failures") == "0" and suite.get("errors") == "0"
                assert httpx.get(f"{url}/__admin/timing").json() == {
                    "mode": "time", "queued_for": 1.0, "processing_for": 2.0, "sync_latency": 0.0, "speed": 1.0}, \
                    "check puts the server's own timing back"


@pytest.fixture(scope="module")
def examples_run(tmp_path_factory):
    """One pytest run, with the installed plugin, of the docs' five examples as written and of the fuzz
    example without its guard (one run: each pytest start and its flux-mock cost seconds)."""
    folder = tmp_path_factory.mktemp("readme-examples")
    # the fixture's examples (the containers page's needs a built image: test_container runs that API for real)
    examples = [body for lang, body in BLOCKS if lang == "python" and "flux_mock" in body]
    assert len(examples) == 6  # the client test, its own mock (marker, factory), scripted answers, webhooks,
    # verifying what it sent, fuzzing
    for number, example in enumerate(examples):
        (folder / f"test_client_example_{number}.py").write_text(example)
    (fuzzed,) = [body for body in examples if "fuzz_client" in body]
    guard = '                if status["status"] != "COMPLETED":\n                    raise GenerationFailed('
    broken = fuzzed.replace(guard, '                if False:\n                    raise GenerationFailed(')
    assert broken != fuzzed
    (folder / "test_fuzzed.py").write_text(broken)
    return run_pytest(folder, "-rA", timeout=300)


def test_client_test_examples_run_as_written_with_the_installed_plugin(examples_run):
    passed = set(re.findall(r"^PASSED (test_client_example_\d)\.py::", examples_run.stdout, re.M))
    assert passed == {f"test_client_example_{number}" for number in range(6)}, examples_run.stdout[-3000:]


def test_the_fuzz_example_without_its_guard_fails_as_the_readme_shows(examples_run):
    output = examples_run.stdout
    assert re.search(r"^FAILED test_fuzzed\.py::", output, re.M) and "1 failed, 7 passed" in output, output[-3000:]
    assert "flux-mock fuzz_client: the client failed on these answers (seed " in output
    assert re.search(r'call \d: GET /v2/requests/status/\S+ \(getRequestStatus\) -> 200 \{.*"status": "(FAILED|ERROR)"',
                     output)
