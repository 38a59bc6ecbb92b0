"""create_app: wires settings, clock, store and the spec's operations into a Starlette app. Wiring only."""

import contextlib
import os
import sys
import time

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_server import media
from mock_server.admin import AdminApi
from mock_server.clock import Clock, OffsetClock, iso
from mock_server.errors import ApiError, EndpointNotFound, InternalError, MethodNotAllowed
from mock_server.pipeline import OperationEndpoint, error_response
from mock_server.settings import Settings
from mock_server.spec import Operation, load_operations
from mock_server.state import MockState
from mock_server.store import Stores, open_stores


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


def api_routes(state: MockState) -> list[Route]:
    routes = []
    for (method, path), (operation, variants) in _routes_by_path(state.operations).items():
        variants = {name: op for name, op in variants.items() if op is not operation}
        routes.append(Route(path, OperationEndpoint(state, operation, variants).handle, methods=[method]))
    return routes


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
        headers = dict(scope.get("headers") or [])
        now = self.state.clock.now()
        await self.state.journal.record({
            "kind": "request", "time": iso(now), "epoch": now, "method": scope["method"], "path": scope["path"],
            "operation_id": info.get("operation_id"), "key": info.get("key"), "status": status or 500,
            "request_id": info.get("request_id"), "violations": info.get("violations", []),
            "undocumented_fields": info.get("undocumented_fields", []), "scenario": info.get("scenario"),
            "job_status": info.get("job_status"), "retry_after": _retry_after(info, status),
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1"),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        })


def _retry_after(info: dict, status: int | None) -> float | None:
    return info.get("retry_after") if status == 429 else None


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here; allowed: {allowed}",
                                               headers={"Allow": allowed}))
    if exc.status_code == 404:
        return error_response(EndpointNotFound())
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return error_response(InternalError())


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


SETTINGS_ENVIRONMENT = "FLUX_MOCK_SETTINGS"


def create_app_from_environment() -> Starlette:
    """The app of one `serve --workers N` worker: its settings come from the parent, as JSON."""
    return create_app(Settings.from_json(os.environ[SETTINGS_ENVIRONMENT]))


def create_app(settings: Settings | None = None, clock: Clock | None = None, stores: Stores | None = None,
               operations: tuple[Operation, ...] | None = None) -> Starlette:
    """The mock as an ASGI app. Every dependency can be passed in; the defaults are the embedded ones
    (the stores from settings.store: memory unless a redis:// URL is given)."""
    settings = settings or Settings()
    state = MockState(settings=settings, clock=clock or OffsetClock(),
                      stores=stores or open_stores(settings.store, settings.journal_size),
                      operations=operations or load_operations())
    routes = [*AdminApi(state).routes(), Route("/media/{path:path}", serve_media, methods=["GET"]),
              *api_routes(state)]
    app = Starlette(routes=routes, lifespan=_lifespan(state),
                    exception_handlers={HTTPException: _http_error, ApiError: _api_error, Exception: _unexpected})
    app.state.mock = state
    app.add_middleware(JournalMiddleware, state=state)
    return app


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc)
