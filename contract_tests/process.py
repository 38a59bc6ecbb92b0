"""Start a real `flux-mock serve` process on an ephemeral loopback port, and stop it by its PID."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx

from mock_server.exit_codes import Unreachable

READY = re.compile(r"(?:serving \d+ operations|recording) on (https?://127\.0\.0\.1:\d+)")


class MockProcess:
    """`flux-mock serve --port 0 OPTIONS...` (or `record`: `command="record"`), started and waited for: `.url`
    answers once this returns. A server that does not start raises RuntimeError with what it printed (its own
    error message)."""

    def __init__(self, *options: str, timeout: float = 60.0, env: dict[str, str] | None = None,
                 command: str = "serve") -> None:
        command = [sys.executable, "-m", "mock_server.cli", command, "--port", "0", *options]
        # Its own process group: stopping it stops `--workers` children too, so nothing outlives it.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                                        start_new_session=True)
        self._stderr: list[str] = []
        self._drains: list[threading.Thread] = []
        try:
            self.url = self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        # Read what it writes from now on, so a full pipe can never block the server (kept for terminate()).
        for stream, kept in ((self.process.stdout, None), (self.process.stderr, self._stderr)):
            self._drains.append(threading.Thread(target=_drain, args=(stream, kept), daemon=True))
            self._drains[-1].start()

    def _wait_ready(self, timeout: float) -> str:
        line = self.process.stdout.readline()
        match = READY.search(line)
        if not match:
            self.process.wait(timeout=timeout)
            said = (line + self.process.stderr.read()).strip()
            raise RuntimeError(f"flux-mock did not start (exit {self.process.returncode}): {said or 'no output'}")
        url, deadline = match.group(1), time.monotonic() + timeout
        # Not verified: a --tls server answers with its own CA's certificate; this asks only that it answers.
        with httpx.Client(verify=False) as client:  # one client for every try (each client sets up TLS)
            while True:
                try:
                    client.get(f"{url}/__admin/health", timeout=max(1.0, deadline - time.monotonic()))
                    return url
                except httpx.TransportError as error:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"flux-mock said it serves on {url} but did not answer /__admin/health "
                                           f"within {timeout:g} s: {error!r}") from None
                    time.sleep(0.05)

    def terminate(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM to the server, as a supervisor stops it; its exit code and everything it wrote to stderr."""
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        finally:  # stop() joins the drain threads: everything written last is read
            self.stop()
        return self.process.returncode, "".join(self._stderr)

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        return "".join(self._stderr)

    def stop(self) -> None:
        """Stop its whole process group (SIGTERM, then SIGKILL), then close the pipes once nothing writes to
        them (closing a pipe a drain thread is reading would wait for ever)."""
        stop_process(self.process, group=True)
        for drain in self._drains:
            drain.join(timeout=5)
        if any(drain.is_alive() for drain in self._drains):
            return  # a stray writer holds the pipe; the daemon threads end with it
        for stream in (self.process.stdout, self.process.stderr):
            if stream and not stream.closed:
                stream.close()


def _drain(stream, kept: list[str] | None) -> None:
    try:
        for line in stream:
            if kept is not None:
                kept.append(line)
    except (ValueError, OSError):  # closed by stop()
        pass


def wait_for_mock(url: str, timeout: float, headers: dict | None = None) -> None:
    """Return once `url`/__admin/health answers 200 (a flux-mock or recorder, started in the background or in a
    container); Unreachable after `timeout` seconds. A --tls mock's own certificate is not checked: this asks
    only that it answers."""
    deadline, last = time.monotonic() + timeout, "no answer"
    with httpx.Client(headers=headers or {}, verify=False, trust_env=False) as client:  # one for every try
        while True:
            try:
                answer = client.get(f"{url}/__admin/health", timeout=max(0.5, min(5.0, deadline - time.monotonic())))
                if answer.status_code == 200:
                    return
                last = f"answered {answer.status_code}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            if time.monotonic() >= deadline:
                raise Unreachable(f"{url} did not answer /__admin/health within {timeout:g} s ({last})")
            time.sleep(0.1)


@contextmanager
def running_mock(*options: str, timeout: float = 60.0, env: dict[str, str] | None = None):
    """Yield the base URL of a `flux-mock serve --port 0 OPTIONS...` process (`env`: added to its environment)."""
    mock = MockProcess(*options, timeout=timeout, env=env)
    try:
        yield mock.url
    finally:
        mock.stop()


def stop_process(process: subprocess.Popen, grace: float = 10.0, group: bool = False) -> None:
    """SIGTERM by PID (or to its process group), then SIGKILL if it has not exited within `grace` seconds."""
    if process.poll() is not None:
        if group:
            _signal_group(process, signal.SIGKILL)  # children it left behind
        return
    _signal(process, signal.SIGTERM, group)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL, group)
        process.wait(timeout=5)
    if group:
        _signal_group(process, signal.SIGKILL)


def _signal(process: subprocess.Popen, number: int, group: bool) -> None:
    if group:
        _signal_group(process, number)
    else:
        os.kill(process.pid, number)


def _signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass
