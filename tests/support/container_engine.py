"""Debian's podman, as these machines can run it, for the image test.

What it takes here: the runc runtime (crun refuses this machine's hybrid cgroups), no default ulimits
(raising them is not permitted in the sandbox), host networking, and builds in chroot isolation. No
registry can be reached, so the Dockerfile's base (python:3.11-slim) is stood in for by an image made
from Debian's own packages by the documented route, deploy/podman-offline.sh (debootstrap's minimal bookworm
with Debian's python3 in a venv at /usr/local, trusting this machine's CA bundle so pip reaches PyPI as the
host does). Made once per machine, then kept in podman's image store.
"""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from contract_tests.process import stop_process
from tests.support.waiting import wait_until

BASE = "localhost/flux-mock-test-base:bookworm"
OFFLINE_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "podman-offline.sh"
CONFIG = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'


class Podman:
    def __init__(self, workdir: Path) -> None:
        self.config = workdir / "containers.conf"
        self.config.write_text(CONFIG)

    @staticmethod
    def missing() -> list[str]:
        return [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]

    @property
    def environment(self) -> dict[str, str]:
        return {"CONTAINERS_CONF": str(self.config), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check,
                              env=self.environment)

    @contextmanager
    def api_service(self):
        """podman's Docker-compatible API on a socket of this work folder, for Docker clients (testcontainers):
        yield its DOCKER_HOST; stopped by its PID."""
        socket = self.config.parent / "podman.sock"
        service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                                   env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(socket.exists, timeout=30, what="podman's API socket")
            yield f"unix://{socket}"
        finally:
            stop_process(service)

    def python_base(self) -> str:
        """The stand-in base image's name: made by the documented route (deploy/podman-offline.sh base, from
        Debian's packages) unless podman has it already."""
        return self.offline_script("base", timeout=900).stdout.strip()

    def offline_script(self, *args: str, timeout: float = 900, env: dict[str, str] | None = None
                       ) -> subprocess.CompletedProcess:
        """deploy/podman-offline.sh, the documented route for machines without a registry, with this base."""
        return subprocess.run([str(OFFLINE_SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                              check=True, env={**os.environ, **self.environment, "FLUX_MOCK_BASE_IMAGE": BASE,
                                               **(env or {})})

    def cannot_run(self, image: str) -> str | None:
        """Why no container of `image` runs here, or None if one does."""
        probe = self("run", "--rm", "--network", "host", image, "python", "-c", "print('ran')", check=False)
        return None if probe.stdout.strip() == "ran" else f"podman cannot run a container here: {probe.stderr[-300:]}"
