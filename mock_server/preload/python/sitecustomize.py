"""`flux-mock run` puts this directory first on PYTHONPATH, so a Python app's `http.client` (which, unlike
urllib, requests and httpx, ignores HTTPS_PROXY) reaches the mock for the gateway's hosts with no change to the
app: an HTTPSConnection to one of them is tunnelled through the mock's proxy (CONNECT, as urllib does it), its
certificate checked against the CA bundle `run` gives (SSL_CERT_FILE). Any sitecustomize the environment had
before is imported after it."""

import os
import sys


def _tunnel_gateway_connections() -> None:
    import http.client
    from urllib.parse import urlsplit

    mock, hosts = os.environ.get("FLUX_MOCK_URL"), set(filter(None, os.environ.get("FLUX_MOCK_GATEWAY_HOSTS", "")
                                                             .split(",")))
    if not mock or not hosts:
        return
    proxy = urlsplit(mock)
    original = http.client.HTTPSConnection.__init__

    def __init__(self, host, port=None, *args, **kwargs):
        original(self, host, port, *args, **kwargs)
        if self.host in hosts and getattr(self, "_tunnel_host", None) is None:
            meant = (self.host, self.port)
            self.host, self.port = proxy.hostname, proxy.port
            self.set_tunnel(*meant)

    http.client.HTTPSConnection.__init__ = __init__


def _chain_to_the_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    kept = sys.path[:]
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    ours = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 - the environment's own, if any
    except ImportError:
        pass
    finally:
        sys.path[:] = kept
        if ours is not None and "sitecustomize" not in sys.modules:
            sys.modules["sitecustomize"] = ours


_tunnel_gateway_connections()
_chain_to_the_next_sitecustomize()
