"""The base URL written into answers (polling_url, media URLs, webhook bodies): --public-url if set, else
the scheme and host the client used, and behind a trusted proxy (--trust-forwarded) the ones it forwards
(RFC 7239 `Forwarded`, else `X-Forwarded-Proto` / `X-Forwarded-Host`)."""

import re

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")  # a host[:port] fit for a URL
_SCHEMES = ("http", "https")


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


def forwarded_pairs(value: str) -> dict[str, str]:
    """The first element of a Forwarded header as {parameter: value} (quotes removed)."""
    pairs = {}
    for part in _first(value).split(";"):
        name, separator, item = part.partition("=")
        if separator:
            pairs[name.strip().lower()] = item.strip().strip('"')
    return pairs


def base_url(scope, public_url: str | None, trust_forwarded: bool) -> str:
    if public_url:
        return public_url.rstrip("/")
    headers = {name: value.decode("latin-1") for name, value in scope["headers"]
               if name in (b"host", b"forwarded", b"x-forwarded-proto", b"x-forwarded-host")}
    scheme, host = scope["scheme"], headers.get(b"host")
    if trust_forwarded:
        forwarded = forwarded_pairs(headers.get(b"forwarded", ""))
        scheme = forwarded.get("proto") or _first(headers.get(b"x-forwarded-proto", "")) or scheme
        host = forwarded.get("host") or _first(headers.get(b"x-forwarded-host", "")) or host
    if scheme not in _SCHEMES:
        scheme = scope["scheme"]
    if host is None or not _HOST.match(host):
        server = scope.get("server") or ("localhost", 80)
        host = f"[{server[0]}]:{server[1]}" if ":" in str(server[0]) else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{scope.get('root_path', '')}".rstrip("/")


class BaseUrls:
    """base_url for one server's settings, remembered per (scheme, Host, root path, server address): worked out
    once a call it was, though a mock's clients use a handful of hosts. At most `size` remembered; forwarded
    headers (--trust-forwarded) vary per request and are read each time."""

    def __init__(self, public_url: str | None, trust_forwarded: bool, size: int = 256) -> None:
        self._public_url, self._trust_forwarded, self._size = public_url, trust_forwarded, size
        self._known: dict[tuple, str] = {}

    def __call__(self, scope) -> str:
        if self._public_url or self._trust_forwarded:
            return base_url(scope, self._public_url, self._trust_forwarded)
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        server = scope.get("server")
        key = (scope["scheme"], host, scope.get("root_path", ""), server and tuple(server))  # ASGI allows a list
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= self._size:
                self._known.clear()
            found = self._known[key] = base_url(scope, None, False)
        return found
