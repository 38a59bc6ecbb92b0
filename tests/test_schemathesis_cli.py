"""The contract-tests guide's recipe for the plain schemathesis CLI passes against a default `flux-mock serve`."""

import re
import shlex
import subprocess
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide" / "contract-tests.md"


def recipe() -> list[str]:
    """The shell lines of the guide's schemathesis recipe (after `flux-mock serve`)."""
    block = GUIDE.read_text().split("<!-- schemathesis-recipe -->")[1].split("```sh")[1].split("```")[0]
    lines = [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert lines[0].startswith("flux-mock serve")
    return lines[1:]


def test_the_plain_schemathesis_cli_passes_with_the_guides_recipe(api, mock_url, tmp_path):
    for line in recipe():
        words = shlex.split(line.split(" #")[0].replace("http://127.0.0.1:8080", mock_url))
        if words[0] == "schemathesis":  # from a scratch folder: its cache stays out of the checkout
            words = [str(ROOT / word) if word.startswith("openapi/") else word for word in words]
            words += ["--max-examples", "3", "--seed", "1", "--generation-database", "none"]
        result = subprocess.run(words, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", result.stdout), result.stdout[-1000:]
    assert "failure" not in result.stdout.split("SUMMARY")[-1].lower()
    timing = httpx.get(f"{mock_url}/__admin/timing").json()
    assert timing["queued_for"] == 0
