"""HTTPS for apps that cannot be pointed at another base URL: a local certificate authority, made on first
use and kept in the user's data directory, and one server certificate it signs for the gateway's hosts
(those the specs' `servers` name) and this machine's loopback names. `serve --tls` answers https with it;
the forward proxy (proxy.py) terminates CONNECT to a gateway host with it. trustme does the X.509 work.
"""

import atexit
import ipaddress
import os
import shutil
import ssl
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mock_server.exit_codes import ConfigError

from mock_server.operations.documents import gateway_hosts
from mock_server.operations.evidence import media_host

if TYPE_CHECKING:
    import trustme

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def data_directory() -> Path:
    """$FLUX_MOCK_HOME, else $XDG_DATA_HOME/flux-mock, else ~/.local/share/flux-mock."""
    if os.environ.get("FLUX_MOCK_HOME"):
        return Path(os.environ["FLUX_MOCK_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "flux-mock"


@lru_cache(maxsize=1)
def served_hosts() -> frozenset[str]:
    """The hosts the mock answers for through its HTTPS proxy (and `run`): the gateway's, and the media host
    its answers name as the gateway's do (x-evidence media-hosts-and-layouts)."""
    return gateway_hosts() | {media_host()}


def local_ca(directory: Path | None = None) -> "trustme.CA":
    """The local CA: read from `directory`, or made there on first use (key readable by the user only)."""
    import trustme  # only where a certificate is made: its X.509 imports were a tenth of every start's imports
    directory = directory or data_directory()
    cert, key = directory / CA_CERT, directory / CA_KEY
    if cert.exists() and key.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    ca = trustme.CA(organization_name="flux-mock local CA")
    partial = key.with_suffix(".tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(ca.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(cert))
        os.replace(partial, key)
    except OSError as error:
        raise ConfigError(f"cannot make the local CA in {directory}: {error.strerror or error} (set FLUX_MOCK_HOME "
                          "to a folder you can write, or pass --cert and --key)") from None
    return ca


def ca_path(directory: Path | None = None) -> Path:
    """The CA certificate's path (the CA is made if there is none yet)."""
    directory = directory or data_directory()
    local_ca(directory)
    return directory / CA_CERT


def certificate_names(extra_names: tuple[str, ...] = ()) -> list[str]:
    """The names the mock's certificate holds: the gateway's hosts, loopback, and `extra_names`."""
    return sorted(set(served_hosts()) | set(LOOPBACK_NAMES) | {name for name in extra_names if nameable(name)})


def server_files(extra_names: tuple[str, ...] = (), directory: Path | None = None) -> tuple[str, str]:
    """A certificate (with its chain) and key the local CA signs: what `serve --tls` hands to the server. They
    are this run's own, written to a private temporary folder (removed at exit), so the data directory holding
    the CA may be read-only."""
    leaf = local_ca(directory or data_directory()).issue_cert(*certificate_names(extra_names))
    folder = Path(tempfile.mkdtemp(prefix="flux-mock-tls-"))  # mode 0700
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    cert, key = folder / "server.pem", folder / "server-key.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(leaf.private_key_pem.bytes())
    return str(cert), str(key)


def _server_side() -> ssl.SSLContext:
    """A server TLS context as the mock answers with: TLS 1.2 or newer, HTTP/1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def server_context(cert_file: str | None = None, key_file: str | None = None, extra_names: tuple[str, ...] = (),
                   directory: Path | None = None) -> ssl.SSLContext:
    """A server TLS context: the given certificate and key, else one the local CA signs for
    `certificate_names`."""
    context = _server_side()
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
        return context
    local_ca(directory).issue_cert(*certificate_names(extra_names)).configure_cert(context)
    return context


def host_context(host: str, directory: Path | None = None) -> ssl.SSLContext:
    """A server TLS context whose certificate, signed by the local CA, names `host` alone: what the recording
    proxy answers a CONNECT to a media host with (`flux-mock record`)."""
    context = _server_side()
    local_ca(directory).issue_cert(host).configure_cert(context)
    return context


def nameable(host: str) -> bool:
    """A host a certificate can name: not the any-address a server listens on."""
    try:
        return not ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return bool(host)


def trust_instructions(path: Path) -> str:
    return "\n".join([
        f"flux-mock's local CA certificate: {path}",
        "Trust it in the app's environment (nothing is installed system-wide):",
        f"  Python requests:      REQUESTS_CA_BUNDLE={path}",
        f"  Python httpx, urllib: SSL_CERT_FILE={path}",
        f"  Node.js:              NODE_EXTRA_CA_CERTS={path}",
        f"  curl:                 curl --cacert {path} ...",
        "With an unchanged app whose URLs say https://gateway.pixazo.ai, add HTTPS_PROXY=http://127.0.0.1:8080",
        "(the mock's address): it answers CONNECT to the gateway's hosts itself, and refuses any other host.",
    ])
