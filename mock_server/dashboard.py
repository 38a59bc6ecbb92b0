"""/__admin/ui: a live dashboard of the mock in the browser, offline and without a build step.

The page is static (mock_server/static/dashboard/, shipped in the package): its script reads the admin
API every second and its buttons call it, so the admin API's access rules are the dashboard's: from
loopback only, or with the X-Admin-Token the page asks for when the mock has one.
"""

from pathlib import Path

from starlette.responses import Response

from mock_server.errors import UnknownPath
from mock_server.exchange import Exchange
from mock_server.router import Route

FILES = Path(__file__).parent / "static" / "dashboard"
TYPES = {"index.html": "text/html; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8",
         "dashboard.css": "text/css; charset=utf-8"}


def _file(name: str) -> Response:
    if name not in TYPES:
        raise UnknownPath(f"no dashboard file {name[:100]}; files: {', '.join(TYPES)}")
    return Response((FILES / name).read_bytes(), media_type=TYPES[name], headers={"Cache-Control": "no-cache"})


def routes(check_access) -> list[Route]:
    """The page and its two files, below the /__admin mount. Without a token, loopback only (as the API);
    with one, the page itself is served (it holds no data) and asks for the token."""
    async def page(exchange: Exchange) -> Response:
        check_access(exchange.scope, with_token=False)
        return _file("index.html")

    async def asset(exchange: Exchange) -> Response:
        check_access(exchange.scope, with_token=False)
        return _file(exchange.path_params["file"])
    return [Route("/ui", {"GET": page}, journaled=False), Route("/ui/{file}", {"GET": asset}, journaled=False)]
