"""The specs as the mock serves them, and an offline API reference of them.

    GET /openapi/{name}.yaml   a spec, bundled (no cross-file $refs), with this mock first in `servers`
    GET /openapi/pages/{name}.yaml   the same without what the spec assumes beyond the pages (x-assumed): the
                               pages' constraints, for a tool that should judge by them alone (the schemathesis CLI)
    GET /docs                  Swagger UI over every spec; "Try it out" calls the mock itself
    GET /docs/assets/{file}    Swagger UI's files, shipped in the package (swagger-ui-dist, no CDN)
"""

import asyncio
import copy
import json
from functools import cache
from pathlib import Path

import yaml
from starlette.responses import HTMLResponse, Response

from mock_server.errors import UnknownPath
from mock_server.exchange import Exchange
from mock_server.router import Route
from mock_server.operations.assumptions import pages_only
from mock_server.operations.documents import ADMIN_SPEC, VENDOR_SPECS, load_bundled

SPECS = (*VENDOR_SPECS, ADMIN_SPEC)
ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>flux-mock API reference</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <style>#specs { font: 14px sans-serif; margin: 12px 20px; } #specs select { font-size: 14px; }</style>
</head>
<body>
  <label id="specs">Spec: <select id="spec">%(options)s</select></label>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    function show(url) {
      window.ui = SwaggerUIBundle({url: url, dom_id: "#swagger-ui", deepLinking: true,
                                   presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", tryItOutEnabled: true});
    }
    const choice = document.getElementById("spec");
    choice.addEventListener("change", () => show(choice.value));
    show(choice.value);
  </script>
</body>
</html>
"""


PLACEHOLDER = "flux-mock-base-url-placeholder"  # where each answer's base URL goes in a rendered spec


def _holders(document: dict) -> list[dict]:
    """The document and every path and operation object of it, which may each list `servers`."""
    paths = document.get("paths", {}).values()
    return [document, *[holder for item in paths for holder in (item, *[op for op in item.values()
                                                                           if isinstance(op, dict)])]]


@cache
def _server_urls(name: str) -> frozenset[str]:
    return frozenset(server.get("url") for holder in _holders(load_bundled(name))
                     for server in holder.get("servers", []))


@cache
def _rendered(name: str, listed_base: str | None, pages: bool = False) -> str:
    """The spec as YAML (`pages`: its pages' constraints alone), a placeholder first among its servers: rendered once
    (about 0.4 s for flux.yaml) per spec, and once more for each of its own server URLs a mock may be reached by
    (that one is not repeated)."""
    mock = {"url": PLACEHOLDER, "description": "this flux-mock"}
    document = pages_only(load_bundled(name)) if pages else copy.deepcopy(load_bundled(name))
    for holder in _holders(document):  # path and operation servers override the document's
        if "servers" in holder or holder is document:
            holder["servers"] = [mock, *[server for server in holder.get("servers", [])
                                         if server.get("url") not in ("/", listed_base)]]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def spec_for(name: str, base: str, pages: bool = False) -> str:
    """The spec as YAML, this mock's base URL first among its servers (so "Try it out" calls the mock): the
    rendered spec with the base put in as a quoted scalar (JSON's strings are YAML's)."""
    template = _rendered(name, base if base in _server_urls(name) else None, pages)
    return template.replace(PLACEHOLDER, json.dumps(base))


MAX_SERVED = 64  # (spec, base URL, pages) answers kept encoded
_SERVED: dict[tuple[str, str, bool], bytes] = {}


async def openapi(exchange: Exchange) -> Response:
    return await _spec(exchange, pages=False)


async def pages_openapi(exchange: Exchange) -> Response:
    return await _spec(exchange, pages=True)


async def _spec(exchange: Exchange, pages: bool) -> Response:
    name = exchange.path_params["name"]
    if name not in SPECS:
        raise UnknownPath(f"no spec {name[:100]}; specs: {', '.join(SPECS)}")
    served = (name, exchange.base, pages)
    body = _SERVED.get(served)
    if body is None:  # a first render stays off the event loop; then each base's bytes are served from memory
        body = (await asyncio.to_thread(spec_for, name, exchange.base, pages)).encode()
        if len(_SERVED) >= MAX_SERVED:  # bounded: a client naming many Hosts cannot grow it
            _SERVED.pop(next(iter(_SERVED)))
        _SERVED[served] = body
    return Response(body, media_type="application/yaml; charset=utf-8")


async def page(exchange: Exchange) -> Response:
    options = "".join(f'<option value="/openapi/{name}">{name}</option>' for name in SPECS)
    return HTMLResponse(PAGE % {"options": options})


async def asset(exchange: Exchange) -> Response:
    name = exchange.path_params["file"]
    if name not in ASSET_TYPES:
        raise UnknownPath(f"no docs asset {name[:100]}")
    return Response((ASSETS / name).read_bytes(), media_type=ASSET_TYPES[name],
                    headers={"Cache-Control": "public, max-age=86400"})


def routes() -> list[Route]:
    """Not journaled: they are the mock's, not the API's."""
    return [Route("/openapi/pages/{name}", {"GET": pages_openapi}, journaled=False),
            Route("/openapi/{name}", {"GET": openapi}, journaled=False),
            Route("/docs", {"GET": page}, journaled=False),
            Route("/docs/assets/{file}", {"GET": asset}, journaled=False)]
