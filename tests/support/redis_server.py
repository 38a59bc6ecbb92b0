"""A real redis-server on a free loopback port, for the tests that need one; stopped by its PID."""

import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager

import pytest
import redis

from contract_tests.process import stop_process
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (the README's test command installs it)")
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    return binary


def _wait_ready(port: int, process: subprocess.Popen) -> None:
    client = redis.Redis(port=port)

    def answering() -> bool:
        assert process.poll() is None, f"redis-server exited at start-up (exit {process.returncode})"
        try:
            return client.ping()
        except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
            return False
    try:
        wait_until(answering, what=f"redis-server answering PING on port {port}", every=0.02)
    finally:
        client.close()


class RedisProcess:
    """A redis-server that can be killed (SIGKILL, as a crash) and started again on the same port. With
    `durable`, every write is fsynced to an append-only file first, so a kill loses nothing."""

    def __init__(self, folder, durable: bool = True) -> None:
        self.port, self.folder, self.durable = free_port(), str(folder), durable
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisProcess":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen([_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--dir", self.folder, *persistence, "--daemonize", "no"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_ready(self.port, self.process)
        return self

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@contextmanager
def running_redis():
    folder = tempfile.mkdtemp(prefix="flux-mock-redis-")
    server = RedisProcess(folder, durable=False).start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
