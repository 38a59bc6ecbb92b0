"""The contract-tests guide's recipe for the plain schemathesis CLI passes against a default `flux-mock serve`."""

import os
import re
import subprocess
from pathlib import Path

from contract_tests.process import stop_process
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide" / "contract-tests.md"


def recipe() -> str:
    """The guide's schemathesis recipe, as a user pastes it."""
    block = GUIDE.read_text().split("<!-- schemathesis-recipe -->")[1].split("```sh")[1].split("```")[0]
    return "\n".join(line.strip() for line in block.splitlines())


def test_the_plain_schemathesis_cli_passes_with_the_guides_recipe_pasted_whole(tmp_path):
    """The whole block in bash, as pasted (its `serve &`, its wait, its kill), on a free port the environment
    gives `serve` and `wait` (FLUX_MOCK_PORT); only schemathesis is told to draw fewer cases (it reads the pages'
    spec from the mock). Its own process group, stopped at the end whatever happened."""
    port = free_port()
    script = recipe().replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace(
        "--exclude-checks ignored_auth", "--exclude-checks ignored_auth --max-examples 3 --seed 1 "
                                         "--generation-database none")
    log = tmp_path / "output.txt"
    with log.open("w") as out:  # a file, not a pipe: a `serve &` left behind would hold a pipe open
        shell = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, text=True,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, "FLUX_MOCK_PORT": str(port)})
        try:
            shell.wait(timeout=300)
        finally:
            stop_process(shell, group=True)
    output = log.read_text()
    assert shell.returncode == 0, output[-4000:]
    assert re.search(r"\d+ generated, \d+ passed", output), output[-1000:]
    assert "failure" not in output.split("SUMMARY")[-1].lower()
    assert "Connection refused" not in output, "no call raced the mock's start"
