"""The one router of the app: the spec's operations, and the /__admin and /media groups mounted beside
them. Exact paths match by one dict lookup, templated ones (`{request_id}`, `{path:path}`) by one regex
each. A match answers one question, as in starlette: no route (404), route but not this method (405,
with Allow), or the endpoint. Every endpoint is `async (Exchange) -> Response`."""

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.responses import Response

from mock_server.errors import MethodNotAllowed, UnknownPath

Endpoint = Callable[..., Awaitable[Response]]


@dataclass
class Route:
    """A path and its endpoint by method. `journaled`: its requests go to the journal (the API and media;
    not the admin API)."""

    path: str
    endpoints: dict[str, Endpoint]
    journaled: bool = True
    allowed: str = field(init=False)

    def __post_init__(self) -> None:
        if "GET" in self.endpoints:
            self.endpoints.setdefault("HEAD", self.endpoints["GET"])
        self.allowed = ", ".join(sorted(m for m in self.endpoints if m != "HEAD"))

    def endpoint(self, method: str) -> Endpoint:
        found = self.endpoints.get(method)
        if found is None:
            raise MethodNotAllowed(f"{method} is not allowed here; allowed: {self.allowed}",
                                   headers={"Allow": self.allowed})
        return found


def path_pattern(path: str) -> re.Pattern:
    """The regex of a path template: `{name}` one segment, `{name:path}` the rest."""
    pattern = re.sub(r"\\{(\w+):path\\}", r"(?P<\1>.+)", re.escape(path))
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", pattern) + "$")


class Router:
    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._exact: dict[str, Route] = {}
        self._templated: list[tuple[re.Pattern, Route]] = []
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        if "{" in route.path:
            self._templated.append((path_pattern(route.path), route))
        else:
            self._exact[route.path] = route

    def mount(self, prefix: str, routes: Iterable[Route]) -> None:
        """A group of routes below `prefix` (each route's path is relative to it)."""
        for route in routes:
            route.path = prefix + route.path
            self.add(route)

    def match(self, path: str, method: str | None = None) -> tuple[Route | None, dict[str, str]]:
        """The route for this path: the exact one, else the first template that matches; with `method`, one that
        takes it before one that does not (`GET /__admin/jobs/seed` is the job named "seed", not a 405 from the
        seed route, which takes POST only)."""
        fallback: tuple[Route | None, dict[str, str]] = (None, {})
        route = self._exact.get(path)
        if route is not None:
            if method is None or method in route.endpoints:
                return route, {}
            fallback = (route, {})
        for pattern, route in self._templated:
            found = pattern.match(path)
            if found:
                if method is None or method in route.endpoints:
                    return route, found.groupdict()
                fallback = fallback if fallback[0] is not None else (route, found.groupdict())
        return fallback


def endpoint_for(route: Route | None, method: str) -> Endpoint:
    """The endpoint that answers; EndpointNotFound or MethodNotAllowed (raised into the app's one error path)."""
    if route is None:
        raise UnknownPath()
    return route.endpoint(method)
