"""Where `flux-mock record` may send a request: it is a trust boundary, not an open proxy.

- A request goes to the gateway (its hosts, or `--upstream`), or to a host a gateway's answer named in a
  documented URL field (a polling URL, a media URL: `operations.facts`), and to nothing else: inside a CONNECT
  tunnel only to the tunnel's own host, whatever the request's Host says.
- A named host that is a loopback, private, link-local or otherwise special address (or a name for one, such
  as localhost) is refused unless `--upstream` or `--allow-host` names it: an answer cannot point the recorder
  at the machine it runs on, or at the network behind it.
- At most MAX_NAMED hosts join; beyond, the answers name no more (the first ones stay).
- The app's keys (any secret-named header) go only to the gateway and to a host an answer named in a polling
  URL (the API moved there), never to a media host.
"""

import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from mock_server import tls
from mock_server.loopback import is_loopback_name

log = logging.getLogger("flux_mock.record")
MAX_NAMED = 256


def authority(url: str) -> str | None:
    """`host:port` of an absolute http(s) URL (lower-case host, the scheme's port if none), else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.hostname.lower()}:{port or (443 if parts.scheme == 'https' else 80)}"


def is_special(host: str) -> bool:
    """A host the recorder never reaches on an answer's word: loopback, private, link-local, multicast, reserved or
    unspecified addresses, and the names of loopback."""
    if is_loopback_name(host.lower()):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


@dataclass
class HostPolicy:
    upstream: str | None  # --upstream's authority
    allowed: frozenset[str]  # --allow-host: hosts (host or host:port) an answer may name though they are special

    def __post_init__(self) -> None:
        self.named: set[str] = set()  # authorities gateway answers named
        self.api: set[str] = set()  # of those, the ones named as a polling URL's host: the API answers there
        self._told_full = False

    @property
    def gateways(self) -> frozenset[str]:
        return frozenset({f"{host}:443" for host in tls.gateway_hosts()} | ({self.upstream} if self.upstream else set()))

    def is_gateway(self, where: str) -> bool:
        return where in self.gateways

    def _explicit(self, where: str) -> bool:
        host = where.rpartition(":")[0]
        return where == self.upstream or where in self.allowed or host in self.allowed

    def name(self, urls, api: bool = False) -> None:
        """Let the app follow these URLs of a gateway's answer (its documented URL fields only); `api`: they are
        polling URLs, so the app's keys may follow too."""
        for url in urls:
            where = authority(url)
            if where is None or self.is_gateway(where):
                continue
            if where in self.named:
                if api and where not in self.api and len(self.api) < MAX_NAMED:
                    self.api.add(where)
                continue
            if is_special(where.rpartition(":")[0].strip("[]")) and not self._explicit(where):
                log.warning("record: an answer named %s, a special address (loopback, private, link-local): not "
                            "followed (--allow-host names one to follow)", where)
                continue
            if len(self.named) >= MAX_NAMED:
                if not self._told_full:
                    log.warning("record: answers named more than %d hosts: no more are followed", MAX_NAMED)
                    self._told_full = True
                continue
            self.named.add(where)
            if api:
                self.api.add(where)

    def may_reach(self, where: str) -> bool:
        """A request may go to this authority: the gateway, or a host an answer named."""
        return self.is_gateway(where) or where in self.named

    def takes_keys(self, where: str) -> bool:
        """The app's keys may go to this authority: the gateway, or a host an answer named as a polling URL's."""
        return self.is_gateway(where) or where in self.api

    def connect_policy(self, host: str, port: int) -> str | None:
        """Why a CONNECT is refused (None: taken)."""
        if self.may_reach(f"{host.lower()}:{port}"):
            return None
        return (f"the recorder forwards only to the gateway ({', '.join(sorted(tls.gateway_hosts()))}, --upstream) and "
                "to the hosts its answers named in their URL fields")
