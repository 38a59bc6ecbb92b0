"""Routing of the spec's operations: exact paths by one dict lookup, templated paths (`{request_id}`) by
one regex each; 404 and 405 (with Allow) in the gateway's JSON shape. The admin API and media go to
the Starlette app behind it. Unexpected exceptions become the documented 500 body, never a crash."""

import logging
import re

from starlette.requests import Request

from mock_server.errors import EndpointNotFound, InternalError, MethodNotAllowed
from mock_server.responses import error_response

log = logging.getLogger("flux_mock")
PASS_THROUGH = ("/__admin", "/media/")


def _template(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


class ApiRouter:
    def __init__(self, routes: dict[tuple[str, str], object], fallback) -> None:
        self._fallback = fallback
        self._exact: dict[str, dict[str, object]] = {}
        self._templated: list[tuple[re.Pattern, dict[str, object]]] = []
        templated: dict[str, dict[str, object]] = {}
        for (method, path), endpoint in routes.items():
            table = templated.setdefault(path, {}) if "{" in path else self._exact.setdefault(path, {})
            table[method] = endpoint
            if method == "GET":
                table["HEAD"] = endpoint
        self._templated = [(_template(path), table) for path, table in templated.items()]

    def match(self, path: str) -> tuple[dict[str, object] | None, dict[str, str]]:
        table = self._exact.get(path)
        if table is not None:
            return table, {}
        for pattern, table in self._templated:
            found = pattern.match(path)
            if found:
                return table, found.groupdict()
        return None, {}

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"]
        if scope["type"] != "http" or path.startswith(PASS_THROUGH):
            await self._fallback(scope, receive, send)
            return
        table, params = self.match(path)
        if table is None:
            response = error_response(EndpointNotFound())
        elif scope["method"] not in table:
            allowed = ", ".join(sorted(m for m in table if m != "HEAD"))
            response = error_response(MethodNotAllowed(f"{scope['method']} is not allowed here; allowed: {allowed}",
                                                       headers={"Allow": allowed}))
        else:
            scope["path_params"] = params
            try:
                response = await table[scope["method"]](Request(scope, receive))
            except Exception:
                log.exception("unexpected error answering %s %s", scope["method"], path)
                response = error_response(InternalError())
        await response(scope, receive, send)
