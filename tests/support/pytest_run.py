"""A pytest session of a folder of a user's tests, in a subprocess with the installed plugin, as a user runs
them (bounded in time); the finished process."""

import subprocess
import sys
from pathlib import Path


def run_pytest(folder: Path, *options: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m pytest -q OPTIONS FOLDER`, in `cwd` (the folder itself unless given)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(folder)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or folder)
