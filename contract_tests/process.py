"""Start a real `flux-mock serve` process on an ephemeral loopback port, and stop it by its PID."""

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

READY = re.compile(r"serving \d+ operations on (http://127\.0\.0\.1:\d+)")


@contextmanager
def running_mock(*options: str, timeout: float = 20.0):
    """Yield the base URL of a `flux-mock serve --port 0 OPTIONS...` process."""
    command = [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + timeout
        line = process.stdout.readline()
        match = READY.search(line)
        if not match:
            raise RuntimeError(f"flux-mock did not start: {line!r} {process.stderr.read() if process.poll() else ''}")
        url = match.group(1)
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/__admin/health", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        stop_process(process)
        process.stdout.close()
        process.stderr.close()


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL if it has not exited within `grace` seconds."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
