"""create_app: wires settings, clock, stores and the spec's operations into one ASGI app. Wiring only.

    MockApp: one Router (the spec's operations; /__admin and /media mounted beside them)
             -> an Exchange per request -> the endpoint (for operations: the pipeline's stages)
             -> one error path (ApiError in the gateway's shape; anything else a logged 500)
             -> the journal entry, from the exchange (every request but the admin API's)
"""

import asyncio
import logging
import os
import sys
from types import SimpleNamespace

import httpx
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from mock_server import access_log, connections, docs, media, pipeline
from mock_server.admin import AdminApi
from mock_server.clock import Clock, OffsetClock
from mock_server.errors import ApiError, EndpointNotFound, InternalError, ModelNotFound, StoreUnavailable
from mock_server.exchange import Exchange
from mock_server.journal_entry import MEDIA_DOWNLOAD
from mock_server.responses import error_response
from mock_server.router import Route, Router, endpoint_for
from mock_server.routes import OperationRoute, operation_routes
from mock_server.settings import Settings
from mock_server.operations import Operation, load_operations
from mock_server.operations.evidence import ANSWERED_BY, MODEL_NOT_FOUND_ROUTES
from mock_server.state import MockState
from mock_server.store import Stores, open_stores
from mock_server.webhooks.targets import ADMIN_PREFIX, masked_url

SETTINGS_ENVIRONMENT = "FLUX_MOCK_SETTINGS"
log = logging.getLogger("flux_mock")


async def serve_media(exchange: Exchange) -> Response:
    return await _rendered(exchange, exchange.path_params["path"])


async def _rendered(exchange: Exchange, path: str | None) -> Response:
    """The file a /media path (below /media/) names, drawn again; 404 if it names none."""
    exchange.answer = MEDIA_DOWNLOAD
    found = None if path is None else await asyncio.get_running_loop().run_in_executor(media.RENDERING,
                                                                                        media.media_file, path)
    if found is None:
        raise EndpointNotFound("no such media file")
    body, content_type = found
    return Response(body, media_type=content_type, headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def serve_job_media(exchange: Exchange) -> Response:
    """/v1/{request_id}/output[_i].{ext}: a job's file where the gateway keeps it (found through the job)."""
    exchange.answer = MEDIA_DOWNLOAD
    named = media.job_media_index(exchange.path_params["name"])
    job = await exchange.mock.jobs.store.get(exchange.path_params["request_id"]) if named else None
    path = None
    if job is not None and named[0] < len(job.media) and job.media[named[0]].endswith("." + named[1]):
        path = job.media[named[0]].removeprefix("/media/")
    return await _rendered(exchange, path)


async def serve_sync_media(exchange: Exchange) -> Response:
    """A sync call's file in its model's folder (x-flux-mock media_layout): its name says what to draw."""
    return await _rendered(exchange, media.sync_media_file(exchange.path_params["name"]))


async def serve_replayed_media(exchange: Exchange) -> Response:
    """A media file a replayed answer names: the recorded bytes, or one rendered in the file's format."""
    replay, number = exchange.mock.replay, exchange.path_params["number"]
    recorded = replay.download(int(number)) if number.isdigit() else None
    if recorded is not None:
        return Response(recorded.content, media_type=recorded.header("content-type"))
    name = exchange.path_params["name"]
    found = await asyncio.get_running_loop().run_in_executor(media.RENDERING, media.rendered_for_name, name,
                                                              f"replayed-{number}")
    if found is None:
        raise EndpointNotFound("no such replayed media file")
    body, content_type = found
    return Response(body, media_type=content_type)


def operation_endpoint(route: OperationRoute, stages: tuple[pipeline.Stage, ...], state: MockState):
    """The endpoint of one method + path of the specs: the exchange enters the route, then the stages run; a call no
    rule and no Prefer header touch runs only the route's plain stages (pipeline.plain_stages, compiled here once)."""
    plain = pipeline.plain_stages(stages, route, state)

    async def endpoint(exchange: Exchange) -> Response:
        exchange.enter(route)
        return await pipeline.run(exchange, plain if pipeline.is_plain(exchange) else stages)
    return endpoint


def build_router(state: MockState, stages: tuple[pipeline.Stage, ...] = pipeline.STAGES) -> Router:
    by_path: dict[str, dict] = {}
    for (method, path), route in operation_routes(state.operations).items():
        by_path.setdefault(path, {})[method] = operation_endpoint(route, stages, state)
    router = Router([*(Route(path, endpoints) for path, endpoints in by_path.items()), *docs.routes()])
    router.mount("/__admin", AdminApi(state).routes())
    router.mount("/media", [Route("/{path:path}", {"GET": serve_media})])
    router.add(Route("/v1/{request_id}/{name}", {"GET": serve_job_media}))  # the gateway's layouts (media.py)
    for folder in sorted({op.media_layout.split("/", 1)[0] for op in state.operations if op.media_layout}):
        router.add(Route(f"/{folder}/{{name}}", {"GET": serve_sync_media}))
    if state.replay is not None:
        router.mount("/replayed-media", [Route("/{number}/{name}", {"GET": serve_replayed_media})])
    return router


VARY_ORIGIN = (b"vary", b"Origin")  # as Starlette's CORS sends it: the answer differs for a cross-origin caller


class MockApp:
    """The ASGI app `flux-mock serve` runs; `.state.mock` is its MockState (for tests and tools)."""

    def __init__(self, state: MockState, stages: tuple[pipeline.Stage, ...] = pipeline.STAGES) -> None:
        self.mock, self.stages = state, stages
        self.state = SimpleNamespace(mock=state)
        self.router = self.build_router()
        origins = state.settings.cors_origins
        # Starlette's CORS: preflights answered, headers added; the admin API never takes part.
        self._cors = CORSMiddleware(self._http, allow_origins=list(origins), allow_methods=["*"], allow_headers=["*"],
                                    expose_headers=["Retry-After", "Location"], max_age=600) if origins else None

    def build_router(self) -> Router:
        """What this app answers: the spec's operations, the admin API, media and the API reference."""
        return build_router(self.mock, self.stages)

    def admin_routes(self) -> list[Route]:
        return AdminApi(self.mock).routes()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if self._cors is None or scope["path"].startswith(ADMIN_PREFIX):
                await self._http(scope, receive, send)
            elif any(name == b"origin" for name, _ in scope["headers"]):
                await self._cors(scope, receive, send)
            else:  # no browser asked: only the Vary a cache needs, without wrapping every send (10% of a call)
                await self._http(scope, receive, send, vary_origin=True)

    async def _http(self, scope, receive, send, vary_origin: bool = False) -> None:
        route, params = self.router.match(scope["path"], scope["method"])
        exchange = Exchange.start(scope, receive, self.mock, params)
        try:
            response = await self._respond(route, exchange)
            if vary_origin:
                response.raw_headers.append(VARY_ORIGIN)
            exchange.status = response.status_code
            await response(scope, receive, send)
        finally:
            if route is None or route.journaled:
                await self._journal(exchange)

    async def _journal(self, exchange: Exchange) -> None:
        """The exchange's journal entry; while the store is down the entry is dropped (the answer was a 503)."""
        try:
            await self.mock.journal.record(exchange.journal_entry())
        except StoreUnavailable:
            self.mock.journal.lost_one()

    async def _respond(self, route: Route | None, exchange: Exchange) -> Response:
        """The one error path: 404, 405 and every ApiError in the gateway's shape; anything else a 500. A path
        shaped as a model's that names no model is a 400 Model not found, as the live gateway answers it."""
        try:
            if route is None and (model := self.mock.unknown_models.model_in(exchange.path)):
                exchange.answer = ANSWERED_BY + MODEL_NOT_FOUND_ROUTES
                raise ModelNotFound(model)
            return await endpoint_for(route, exchange.method)(exchange)
        except ApiError as error:
            if "Retry-After" in error.headers:
                exchange.retry_after = float(error.headers["Retry-After"])
            return error_response(error, self.mock.settings.profile)
        except Exception:
            log.exception("unexpected error answering %s %s", exchange.method, exchange.path)
            return error_response(InternalError())

    async def _lifespan(self, receive, send) -> None:
        """Start the background work with the server; at shutdown finish or report pending deliveries."""
        await receive()  # lifespan.startup
        try:
            await self.mock.start()
        except Exception as error:  # noqa: BLE001 - reported to the server, which stops
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self._shut_down()
        await send({"type": "lifespan.shutdown.complete"})

    async def _shut_down(self) -> None:
        try:
            left = await self.mock.stop(grace=self.mock.settings.webhook_timeout)
        except StoreUnavailable as error:
            left = []
            print(f"flux-mock: the store did not answer at shutdown ({error.reason}): pending webhook deliveries "
                  "stay in it for the next instance", file=sys.stderr, flush=True)
        await self.mock.stores.close()
        if left:
            print(f"flux-mock: {len(left)} webhook deliveries not finished at shutdown: "
                  + ", ".join(f"{d.id} -> {masked_url(d.url)} ({d.state}, {d.attempts} attempts)" for d in left),
                  file=sys.stderr, flush=True)


def create_app_from_environment() -> MockApp:
    """The app of one `serve --workers N` worker: its settings come from the parent, as JSON."""
    settings = Settings.from_json(os.environ[SETTINGS_ENVIRONMENT])
    access_log.install()
    connections.configure(settings.header_timeout, settings.max_connections, (settings.tls_cert, settings.tls_key),
                          direct_tls=settings.tls)
    return create_app(settings)


def create_app(settings: Settings | None = None, clock: Clock | None = None, stores: Stores | None = None,
               operations: tuple[Operation, ...] | None = None,
               stages: tuple[pipeline.Stage, ...] = pipeline.STAGES,
               transport: httpx.AsyncBaseTransport | None = None, replay_judge=None) -> MockApp:
    """The mock as an ASGI app. Every dependency can be passed in; the defaults are the embedded ones
    (the stores from settings.store: memory unless a redis:// URL is given; the pipeline's STAGES; webhooks
    sent over the network, or through `transport`, as httpx's `transport=`, e.g. httpx.MockTransport)."""
    return MockApp(create_state(settings, clock, stores, operations, transport, replay_judge), stages)


def create_state(settings: Settings | None = None, clock: Clock | None = None, stores: Stores | None = None,
                 operations: tuple[Operation, ...] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, replay_judge=None) -> MockState:
    """Everything a request handler may use, from the settings (defaults as create_app's)."""
    settings = settings or Settings()
    return MockState(settings=settings, clock=clock or OffsetClock(),
                     stores=stores or open_stores(settings.store, settings.journal_size),
                     operations=operations or load_operations(), webhook_transport=transport,
                     replay_judge=replay_judge)
