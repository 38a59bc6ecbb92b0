"""create_app: wires settings, clock, stores and the spec's operations into one ASGI app. Wiring only.

    JournalMiddleware -> ApiRouter -> OperationEndpoint per method + path (the spec's operations)
                                   -> Starlette: /__admin (AdminApi), /media, lifespan (webhooks)
"""

import contextlib
import os
import sys
import time

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_server import media
from mock_server.admin import AdminApi
from mock_server.clock import Clock, OffsetClock
from mock_server.errors import EndpointNotFound, InternalError, MethodNotAllowed
from mock_server.pipeline import OperationEndpoint
from mock_server.responses import error_response
from mock_server.router import ApiRouter
from mock_server.settings import Settings
from mock_server.spec import Operation, load_operations
from mock_server.state import MockState
from mock_server.store import Stores, open_stores

SETTINGS_ENVIRONMENT = "FLUX_MOCK_SETTINGS"


def _routes_by_path(operations: tuple[Operation, ...]) -> dict[tuple[str, str], tuple[Operation, dict]]:
    """(method, path) -> the default operation and the scenario variants sharing that route."""
    table: dict[tuple[str, str], tuple[Operation | None, dict]] = {}
    for op in operations:
        default, variants = table.get((op.method, op.path), (None, {}))
        if op.scenario:
            variants[op.scenario] = op
        else:
            default = op
        table[(op.method, op.path)] = (default, variants)
    return {route: (default or next(iter(variants.values())), variants) for route, (default, variants) in table.items()}


def api_endpoints(state: MockState) -> dict[tuple[str, str], object]:
    endpoints = {}
    for route, (operation, variants) in _routes_by_path(state.operations).items():
        variants = {name: op for name, op in variants.items() if op is not operation}
        endpoints[route] = OperationEndpoint(state, operation, variants).handle
    return endpoints


async def serve_media(request: Request) -> Response:
    found = await anyio.to_thread.run_sync(media.media_file, request.path_params["path"])
    if found is None:
        return error_response(EndpointNotFound("no such media file"))
    body, content_type = found
    return Response(body, media_type=content_type, headers={"Cache-Control": "public, max-age=31536000, immutable"})


class JournalMiddleware:
    """Records every request outside /__admin in the journal, whatever became of it."""

    def __init__(self, app, state: MockState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        started, answered = time.perf_counter(), {"status": None}

        async def recording_send(message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            await self._record(scope, answered["status"], started)

    async def _record(self, scope, status: int | None, started: float) -> None:
        info = scope["state"]
        now = self.state.clock.now()
        user_agent = next((value for name, value in scope.get("headers") or () if name == b"user-agent"), b"")
        await self.state.journal.record({
            "kind": "request", "epoch": now, "method": scope["method"], "path": scope["path"],
            "operation_id": info.get("operation_id"), "key": info.get("key"), "status": status or 500,
            "request_id": info.get("request_id"), "violations": info.get("violations", []),
            "undocumented_fields": info.get("undocumented_fields", []), "scenario": info.get("scenario"),
            "job_status": info.get("job_status"), "retry_after": info.get("retry_after") if status == 429 else None,
            "user_agent": user_agent.decode("latin-1"), "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        })


def _lifespan(state: MockState):
    """Start the webhook dispatcher with the server; at shutdown finish or report pending deliveries."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await state.webhooks.start()
        try:
            yield
        finally:
            left = await state.webhooks.stop(grace=state.settings.webhook_timeout)
            await state.stores.close()
            if left:
                print(f"flux-mock: {len(left)} webhook deliveries not finished at shutdown: "
                      + ", ".join(f"{d.id} -> {d.url} ({d.state}, {d.attempts} attempts)" for d in left),
                      file=sys.stderr, flush=True)

    return lifespan


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(InternalError())


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here; allowed: {allowed}",
                                               headers={"Allow": allowed}))
    return error_response(EndpointNotFound() if exc.status_code == 404 else InternalError())


class MockApp:
    """The ASGI app `flux-mock serve` runs; `.state.mock` is its MockState (for tests and tools)."""

    def __init__(self, state: MockState) -> None:
        self._admin = Starlette(routes=[*AdminApi(state).routes(),
                                        Route("/media/{path:path}", serve_media, methods=["GET"])],
                                lifespan=_lifespan(state),
                                exception_handlers={HTTPException: _http_error, Exception: _unexpected})
        self._admin.state.mock = state
        self.state = self._admin.state
        self._api = JournalMiddleware(ApiRouter(api_endpoints(state), self._admin), state)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._admin(scope, receive, send)
        else:
            await self._api(scope, receive, send)


def create_app_from_environment() -> MockApp:
    """The app of one `serve --workers N` worker: its settings come from the parent, as JSON."""
    return create_app(Settings.from_json(os.environ[SETTINGS_ENVIRONMENT]))


def create_app(settings: Settings | None = None, clock: Clock | None = None, stores: Stores | None = None,
               operations: tuple[Operation, ...] | None = None) -> MockApp:
    """The mock as an ASGI app. Every dependency can be passed in; the defaults are the embedded ones
    (the stores from settings.store: memory unless a redis:// URL is given)."""
    settings = settings or Settings()
    state = MockState(settings=settings, clock=clock or OffsetClock(),
                      stores=stores or open_stores(settings.store, settings.journal_size),
                      operations=operations or load_operations())
    return MockApp(state)
