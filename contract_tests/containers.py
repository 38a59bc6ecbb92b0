"""flux-mock in a container, for testcontainers-python (`pip install "flux-mock[containers]"`), as WireMock,
MockServer and Microcks have theirs:

    with FluxMockContainer("flux-mock:latest") as mock:
        client = MyClient(base_url=mock.get_base_url())
        mock.admin.rules.add({"status": 429}, operation="fluxDevTextToImage")

It is ready when its health page answers; the admin API is reached with a token made for the run (a
container's admin API answers other clients only with one); `admin` is the fixture's typed client wired to
it. Its port is published on a free loopback port of the engine's machine (on every interface for a remote
engine, DOCKER_HOST tcp://...); `host_network_port=N` runs it on the host's network on port N instead, for engines
that cannot map ports. Ryuk, testcontainers' reaper, runs where the engine can start it (its image comes from a
registry); without it the container is still removed when the block ends.
"""

import os
import secrets

from contract_tests.mock_client import FluxMock
from contract_tests.process import wait_for_mock

try:
    from testcontainers.core.container import DockerContainer
except ImportError as missing:  # an optional dependency: say how to get it
    raise ImportError('FluxMockContainer needs testcontainers: pip install "flux-mock[containers]"') from missing

PORT = 8080  # where the image's mock listens (its FLUX_MOCK_PORT)


def _local_engine() -> bool:
    """The container engine runs on this machine (DOCKER_HOST a unix socket, or unset): published ports are on
    its loopback."""
    return os.environ.get("DOCKER_HOST", "unix://").startswith(("unix://", "npipe://"))


class FluxMockContainer(DockerContainer):
    """flux-mock in a container (testcontainers): published on a free loopback port, waited for until it
    answers; `get_base_url()`, `admin` (a FluxMock of it), `with_option(...)` for `serve` options."""

    def __init__(self, image: str = "flux-mock:latest", *, host_network_port: int | None = None,
                 admin_token: str | None = None, ready_timeout: float = 60.0, **kwargs) -> None:
        super().__init__(image, **kwargs)
        self.admin_token = admin_token or secrets.token_urlsafe(16)
        self.ready_timeout = ready_timeout
        self._host_port = host_network_port
        self._admin: FluxMock | None = None
        self.with_env("FLUX_MOCK_ADMIN_TOKEN", self.admin_token)
        if host_network_port is not None:
            self.with_kwargs(network_mode="host")
            self.with_env("FLUX_MOCK_PORT", str(host_network_port))
        elif _local_engine():
            self.ports[PORT] = ("127.0.0.1",)  # a free host port, on loopback only (docker-py: HostPort "")
        else:
            self.with_exposed_ports(PORT)

    def with_option(self, name: str, value) -> "FluxMockContainer":
        """A `serve` option, as its FLUX_MOCK_* variable: with_option("queued-for", 0), ("responses", "generated")."""
        return self.with_env("FLUX_MOCK_" + name.lstrip("-").replace("-", "_").upper(), str(value))

    def get_base_url(self) -> str:
        if self._host_port is not None:
            return f"http://127.0.0.1:{self._host_port}"
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(PORT)}"

    def get_container_host_ip(self) -> str:
        """Loopback for an engine on this machine (the port is published there); else testcontainers' answer.
        testcontainers' own asks the engine's container list for HostConfig, which podman's Docker API leaves
        out (KeyError 'HostConfig' on a mapped port)."""
        if self._host_port is not None or (_local_engine() and PORT in self.ports):
            return "127.0.0.1"
        return super().get_container_host_ip()

    def start(self) -> "FluxMockContainer":
        super().start()
        wait_for_mock(self.get_base_url(), self.ready_timeout, headers={"X-Admin-Token": self.admin_token})
        return self

    @property
    def admin(self) -> FluxMock:
        """The admin API's typed client (rules, clock, wallets, timing, journal, verification), with the token."""
        if self._admin is None:
            self._admin = FluxMock(self.get_base_url(), self.admin_token)
        return self._admin

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        super().stop(force=force, delete_volume=delete_volume)
