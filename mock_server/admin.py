"""/__admin routes (openapi/admin.yaml): each translates one admin task into a call on the state."""

import gc
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_server import __version__, views
from mock_server.client_checks import client_findings
from mock_server.clock import iso
from mock_server.errors import ApiError, BadRequest, EndpointNotFound, Forbidden
from mock_server.jobs import lifecycle
from mock_server.jobs.lifecycle import Job
from mock_server.settings import ConfigError, Timing
from mock_server.state import MockState
from mock_server.validation import parse_json
from mock_server.wallet import MICROS


def _job_view(state: MockState, job: Job, base: str) -> dict:
    now = state.clock.now()
    return {
        "request_id": job.request_id, "operation_id": job.operation_id, "model_id": job.model_id,
        "status": lifecycle.status_at(job, now), "outcome": job.outcome, "error": job.error,
        "created_at": iso(job.created_at), "transitions": [iso(t) for t in job.transitions], "polls": job.polls,
        "charged_usd": job.charged_micros / MICROS, "media_url": views.media_urls(job, base),
        "status_body": views.status_body(job, now, base),
    }


def _clock(state: MockState) -> dict:
    now = state.clock.now()
    return {"now": iso(now), "epoch_seconds": now}


def _timing(timing: Timing) -> dict:
    return {"mode": timing.mode, "queued_for": timing.queued_for, "processing_for": timing.processing_for,
            "sync_latency": timing.sync_latency}


async def _json_body(request: Request, default=None):
    raw = await request.body()
    if not raw:
        if default is None:
            raise BadRequest("a JSON body is required")
        return default
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"


class AdminApi:
    def __init__(self, state: MockState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        table = [
            ("/health", self.health, ["GET"]), ("/reset", self.reset, ["POST"]),
            ("/jobs", self.list_jobs, ["GET"]), ("/jobs/{request_id}", self.get_job, ["GET"]),
            ("/jobs/{request_id}/advance", self.advance_job, ["POST"]), ("/jobs/seed", self.seed_jobs, ["POST"]),
            ("/clock", self.get_clock, ["GET"]), ("/clock/advance", self.advance_clock, ["POST"]),
            ("/timing", self.get_timing, ["GET"]), ("/timing", self.set_timing, ["PUT"]),
            ("/scenarios", self.list_scenarios, ["GET"]), ("/scenarios", self.add_scenario, ["POST"]),
            ("/scenarios", self.clear_scenarios, ["DELETE"]),
            ("/scenarios/{scenario_id}", self.delete_scenario, ["DELETE"]),
            ("/wallets", self.list_wallets, ["GET"]), ("/wallets/{key}", self.set_wallet, ["PUT"]),
            ("/journal", self.get_journal, ["GET"]), ("/journal", self.clear_journal, ["DELETE"]),
            ("/client-report", self.client_report, ["GET"]), ("/webhooks", self.list_webhooks, ["GET"]),
        ]
        return [Route("/__admin" + path, self._guarded(handler), methods=methods) for path, handler, methods in table]

    def _guarded(self, handler):
        async def endpoint(request: Request) -> Response:
            try:
                self._check_access(request)
                return await handler(request)
            except ApiError as error:
                return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
        return endpoint

    def _check_access(self, request: Request) -> None:
        token = self.state.settings.admin_token
        if token:
            if request.headers.get("x-admin-token") != token:
                raise Forbidden("the admin API needs the X-Admin-Token header")
        elif not _is_loopback(request.client.host if request.client else None):
            raise Forbidden("the admin API answers only loopback clients unless --admin-token is set")

    async def health(self, request):
        return JSONResponse({"status": "ok", "version": __version__, "jobs": await self.state.stores.jobs.count(),
                             "now": iso(self.state.clock.now()), "public_url": self.state.base_url(request),
                             "auth": "any-key" if self.state.settings.accepts_any_key else "configured-keys"})

    async def reset(self, request):
        await self.state.reset()
        return Response(status_code=204)

    async def list_jobs(self, request):
        wanted_status, wanted_model = request.query_params.get("status"), request.query_params.get("model_id")
        base, now = self.state.base_url(request), self.state.clock.now()
        jobs = [job for job in await self.state.stores.jobs.list()
                if (wanted_model is None or job.model_id == wanted_model)
                and (wanted_status is None or lifecycle.status_at(job, now) == wanted_status)]
        return JSONResponse({"jobs": [_job_view(self.state, job, base) for job in jobs]})

    async def get_job(self, request):
        job = await self.state.jobs.find(request.path_params["request_id"])
        return JSONResponse(_job_view(self.state, job, self.state.base_url(request)))

    async def seed_jobs(self, request):
        body = await _json_body(request)
        count, key = body.get("count"), body.get("key")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 2_000_000:
            raise BadRequest("count: must be an integer from 1 to 2000000")
        if not isinstance(key, str) or not key:
            raise BadRequest("key: the API key that owns the jobs is required")
        sample = await self.state.jobs.seed(count, key, "flux-dev", "fluxDevTextToImage",
                                            ("/media/0123456789abcdef/1024x1024-0.png",))
        gc.freeze()  # the seeded jobs live as long as the server: keep them out of every collection
        return JSONResponse({"seeded": count, "sample_request_id": sample}, status_code=201)

    async def advance_job(self, request):
        body = await _json_body(request, default={})
        job = await self.state.jobs.advance(request.path_params["request_id"], bool(body.get("to_end")))
        return JSONResponse(_job_view(self.state, job, self.state.base_url(request)))

    async def get_clock(self, request):
        return JSONResponse(_clock(self.state))

    async def advance_clock(self, request):
        seconds = (await _json_body(request)).get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 31_536_000:
            raise BadRequest("seconds: must be a number from 0 to 31536000")
        self.state.clock.advance(float(seconds))
        self.state.webhooks.wake()
        return JSONResponse(_clock(self.state))

    async def get_timing(self, request):
        return JSONResponse(_timing(self.state.timing))

    async def set_timing(self, request):
        body = await _json_body(request)
        unknown = set(body) - {"mode", "queued_for", "processing_for", "sync_latency"}
        if unknown:
            raise BadRequest(f"unknown timing fields: {', '.join(sorted(unknown))}")
        try:
            self.state.timing = Timing(**{**_timing(self.state.timing), **body})
        except (ConfigError, TypeError) as exc:
            raise BadRequest(str(exc)) from None
        return JSONResponse(_timing(self.state.timing))

    async def list_scenarios(self, request):
        return JSONResponse({"scenarios": [rule.to_dict() for rule in self.state.scenarios.rules()]})

    async def add_scenario(self, request):
        rule = self.state.scenarios.add(await _json_body(request))
        return JSONResponse(rule.to_dict(), status_code=201)

    async def clear_scenarios(self, request):
        self.state.scenarios.clear()
        return Response(status_code=204)

    async def delete_scenario(self, request):
        if not self.state.scenarios.delete(request.path_params["scenario_id"]):
            raise EndpointNotFound(f"no scenario rule {request.path_params['scenario_id']}")
        return Response(status_code=204)

    async def list_wallets(self, request):
        return JSONResponse({"wallets": await self.state.wallets.all()})

    async def set_wallet(self, request):
        balance = (await _json_body(request)).get("balance")
        if not isinstance(balance, (int, float)) or isinstance(balance, bool) or balance < 0:
            raise BadRequest("balance: must be a number >= 0")
        key = request.path_params["key"]
        await self.state.wallets.set(key, float(balance))
        return JSONResponse({"key": key, "balance": await self.state.wallets.balance(key)})

    async def get_journal(self, request):
        query = request.query_params
        limit = query.get("limit")
        if limit is not None and (not limit.isdigit() or int(limit) < 1):
            raise BadRequest("limit: must be a positive integer")
        entries = await self.state.journal.entries(operation_id=query.get("operation_id"),
                                             violations_only=query.get("violations_only") in ("true", "1"),
                                             limit=int(limit) if limit else None)
        return JSONResponse({"entries": entries})

    async def client_report(self, request):
        """Every request that broke the spec, and what the client did that the docs ask it not to."""
        raw = request.query_params.get("min_poll_interval")
        try:
            interval = float(raw) if raw is not None else self.state.settings.min_poll_interval
        except ValueError:
            raise BadRequest("min_poll_interval: must be a number of seconds") from None
        entries = await self.state.journal.entries()
        return JSONResponse({"violations": [e for e in entries if e.get("violations")],
                             "findings": client_findings(entries, interval)})

    async def list_webhooks(self, request):
        deliveries = await self.state.webhooks.deliveries.list()
        return JSONResponse({"deliveries": [delivery.to_dict() for delivery in deliveries]})

    async def clear_journal(self, request):
        await self.state.journal.clear()
        return Response(status_code=204)

