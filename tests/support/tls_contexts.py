"""One TLS context per kind for the test process's httpx clients.

httpx builds a TLS context for every client it makes, for http:// URLs too: the default one loads certifi's
bundle, 27 ms of CPU (3.8 ms unverified). The suite makes about 2,400 clients in its own processes (a client
per test, per fuzzed call, per concurrent load client), a minute of its CPU. `share_default_contexts()` has
them share one context per (verify, trust_env, SSL_CERT_FILE, SSL_CERT_DIR): the same trust as a fresh one, made
once. A context a caller passes in (a test's own CA) is used as given; processes the tests start are unchanged.
"""

import functools
import os

from httpx._transports import default

_made_by_httpx = getattr(default, "create_ssl_context", None)  # httpx's private seam (0.28-0.29): if it moves, the
# tests only run slower


@functools.cache
def _shared(verify: bool, trust_env: bool, cert_file: str | None, cert_dir: str | None):
    return _made_by_httpx(verify=verify, trust_env=trust_env)


def _context(verify=True, cert=None, trust_env=True):
    if cert is None and isinstance(verify, bool):
        environment = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
        return _shared(verify, trust_env, *environment)
    return _made_by_httpx(verify=verify, cert=cert, trust_env=trust_env)


def share_default_contexts() -> None:
    if _made_by_httpx is not None:
        default.create_ssl_context = _context
