"""The kit's commands run in the test's own process: `cli.main` with what it prints captured, as a
CompletedProcess. For tests of a verdict, not of the process (a `python -m mock_server.cli` start costs
0.65 s of CPU before it reads anything); exit codes, one-line errors and signals are tested on real processes."""

import contextlib
import io
import os
import subprocess
from unittest import mock

from mock_server import cli


def kit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`flux-mock ARGS...`, in process: its exit code, stdout and stderr (`env`: set while it runs)."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code if isinstance(exit.code, int) else 2
    return subprocess.CompletedProcess(["flux-mock", *args], code, out.getvalue(), err.getvalue())

