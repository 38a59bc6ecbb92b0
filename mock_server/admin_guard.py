"""What the admin API asks of a request when it has no token (loopback clients only), so that a web page
cannot drive the mock through the user's browser:

- no cross-site request: `Sec-Fetch-Site` (sent by browsers) must be `same-origin` or `none`, and an
  `Origin` must be this mock's own (`null` is not): a page on any other origin, another port of localhost
  included, is refused before it can reset the mock, add rules or move the clock;
- no foreign host name: the `Host` must be a loopback address, `localhost` (or a name below it), the host
  of `public_url`, or the host the connection was made to (in process, the app's own base URL), so a name
  an attacker rebinds to 127.0.0.1 (DNS rebinding) reads and changes nothing.

Scripts and tests (curl, httpx, requests) send neither header and keep working. With --admin-token, the
token is the check: a page cannot send the header without knowing it.
"""

from urllib.parse import urlsplit

from mock_server.errors import Forbidden
from mock_server.loopback import is_loopback_name

BROWSER_SAME_ORIGIN = ("same-origin", "none")  # Sec-Fetch-Site values of the mock's own pages and the user


def _hostname(authority: str) -> str:
    """The host of a `Host` header or an origin's authority, lower case, without port or IPv6 brackets."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


def check_browser_request(scope, public_url: str | None) -> None:
    """403 for a cross-site browser request or a foreign Host (see above); nothing for any other request."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", ())}
    host = headers.get("host", "")
    name = _hostname(host)
    connected_to = str((scope.get("server") or ("",))[0]).lower()
    public = _hostname(urlsplit(public_url).netloc) if public_url else None
    if name and not (is_loopback_name(name) or name in (connected_to, public)):
        raise Forbidden(f"the admin API answers only loopback host names without --admin-token, not Host {host!r} "
                        "(a name that points at this machine from elsewhere: DNS rebinding)")
    site = headers.get("sec-fetch-site")
    if site is not None and site not in BROWSER_SAME_ORIGIN:
        raise Forbidden(f"the admin API refuses {site} browser requests without --admin-token (Sec-Fetch-Site: {site})")
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
        raise Forbidden(f"the admin API refuses requests from another origin without --admin-token (Origin {origin}, "
                        f"this mock is {host})")
