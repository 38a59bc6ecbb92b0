"""The specs as the mock serves them, and an offline API reference of them.

    GET /openapi/{name}.yaml   a spec, bundled (no cross-file $refs), with this mock first in `servers`
    GET /docs                  Swagger UI over every spec; "Try it out" calls the mock itself
    GET /docs/assets/{file}    Swagger UI's files, shipped in the package (swagger-ui-dist, no CDN)
"""

import copy
from functools import cache
from pathlib import Path

import yaml
from starlette.responses import HTMLResponse, Response

from mock_server.errors import UnknownPath
from mock_server.exchange import Exchange
from mock_server.router import Route
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


@cache
def _bundled(name: str) -> dict:
    return load_bundled(name)


def spec_for(name: str, base: str) -> str:
    """The spec as YAML, this mock's base URL first among its servers (so "Try it out" calls the mock)."""
    mock = {"url": base, "description": "this flux-mock"}

    def first(servers: list) -> list:
        return [mock, *[server for server in servers if server.get("url") not in ("/", base)]]

    document = copy.deepcopy(_bundled(name))
    document["servers"] = first(document.get("servers", []))
    for item in document.get("paths", {}).values():  # path and operation servers override the document's
        for holder in (item, *[op for op in item.values() if isinstance(op, dict)]):
            if "servers" in holder:
                holder["servers"] = first(holder["servers"])
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


async def openapi(exchange: Exchange) -> Response:
    name = exchange.path_params["name"]
    if name not in SPECS:
        raise UnknownPath(f"no spec {name[:100]}; specs: {', '.join(SPECS)}")
    return Response(spec_for(name, exchange.base), media_type="application/yaml; charset=utf-8")


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
    return [Route("/openapi/{name}", {"GET": openapi}, journaled=False),
            Route("/docs", {"GET": page}, journaled=False),
            Route("/docs/assets/{file}", {"GET": asset}, journaled=False)]
