"""/__admin routes (openapi/admin.yaml): each translates one admin task into a call on the state."""

import asyncio
import gc
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server import __version__, dashboard, views
from mock_server.admin_guard import check_browser_request
from mock_server.client_checks import client_report, entries_of
from mock_server.clock import iso, moment_of
from mock_server.errors import BadRequest, EndpointNotFound, Forbidden, StoreUnavailable
from mock_server.exchange import Exchange
from mock_server.jobs import lifecycle
from mock_server.store.records import Job
from mock_server.redaction import mask_key
from mock_server.router import Endpoint, Route
from mock_server.jobs.timing import Timing
from mock_server.loopback import is_loopback
from mock_server.operations import Operation
from mock_server.operations.documents import ADMIN_SPEC, load_bundled
from mock_server.operations.model import operations_of
from mock_server.state import MockState
from mock_server.bodies import parse_json, read_body_bytes
from mock_server.validation import OperationValidator, first_error
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
            "sync_latency": timing.sync_latency, "speed": timing.speed}


def _moment(raw: str | None) -> float | None:
    """`since`: epoch seconds or an ISO 8601 time (UTC unless it says otherwise); 400 otherwise."""
    if raw is None:
        return None
    try:
        return moment_of(raw)
    except ValueError:
        raise BadRequest(f"since={raw!r} is neither epoch seconds nor an ISO 8601 time") from None


def _is_loopback_client(address: str | None) -> bool:
    """A client on this machine (Starlette's test client names itself `testclient`)."""
    return is_loopback(address) or address == "testclient"


PREFIX = "/__admin"
JOBS_PAGE = 1000
LATEST_MOMENT = 253_402_214_400.0 - 366 * 86400 * 100  # a century before year 9999 ends: every date stays valid


class AdminApi:
    """The routes and request checks come from openapi/admin.yaml; each handler is keyed by its operationId
    and receives the request and its validated JSON body ({} when there is none)."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.operations = operations_of(load_bundled(ADMIN_SPEC), ADMIN_SPEC)
        # operations admin.yaml marks deprecated -> the path that replaces them (its x-successor)
        self.deprecated = {method_item["operationId"]: method_item.get("x-successor", "")
                           for item in load_bundled(ADMIN_SPEC)["paths"].values() for method_item in item.values()
                           if isinstance(method_item, dict) and method_item.get("deprecated")}
        self.validators = {op.operation_id: OperationValidator(op) for op in self.operations}
        # Seeded jobs (benchmarks, large-store tests) are finished image jobs of the specs' first queue operation.
        self.seed_operation = next(op for op in state.operations if op.kind == "queue" and op.media == "image")
        self.handlers = {
            "adminHealth": self.health, "adminReset": self.reset, "adminListJobs": self.list_jobs,
            "adminSeedJobs": self.seed_jobs, "adminGetJob": self.get_job, "adminAdvanceJob": self.advance_job,
            "adminGetClock": self.get_clock, "adminAdvanceClock": self.advance_clock,
            "adminGetTiming": self.get_timing, "adminSetTiming": self.set_timing,
            "adminListRules": self.list_rules, "adminAddRule": self.add_rule,
            "adminClearRules": self.clear_rules, "adminDeleteRule": self.delete_rule,
            # the paths of earlier releases (/__admin/scenarios), deprecated: one release more
            "adminListScenarios": self.list_scenarios, "adminAddScenario": self.add_rule,
            "adminClearScenarios": self.clear_rules, "adminDeleteScenario": self.delete_rule,
            "adminListWallets": self.list_wallets, "adminSetWallet": self.set_wallet,
            "adminGetJournal": self.get_journal, "adminClearJournal": self.clear_journal,
            "adminListWebhooks": self.list_webhooks, "adminClientReport": self.client_report,
        }

    def routes(self) -> list[Route]:
        """One route a path (so a wrong method gets 405 with the full Allow), below the /__admin mount; not
        journaled."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for operation in self.operations:
            by_path.setdefault(operation.path.removeprefix(PREFIX), {})[operation.method] = self._endpoint(operation)
        return [*(Route(path, endpoints, journaled=False) for path, endpoints in by_path.items()),
                *dashboard.routes(self.check_access)]

    def _endpoint(self, operation: Operation) -> Endpoint:
        handler = self.handlers[operation.operation_id]

        async def endpoint(exchange: Exchange) -> Response:
            request = Request({**exchange.scope, "path_params": exchange.path_params}, exchange.receive)
            self._check_access(request)
            if handler == self.health:  # health must answer while the store is down: it reports that
                return await handler(request, {})
            await self.state.refresh()
            body = await self._checked_body(operation, request, exchange.headers)
            response = await handler(request, body)
            await self.state.refresh()  # what this request changed applies from the next request on
            if operation.operation_id in self.deprecated:  # RFC 9745; its successor in the Link header
                response.headers["Deprecation"] = "true"
                response.headers["Link"] = f'<{self.deprecated[operation.operation_id]}>; rel="successor-version"'
            return response
        return endpoint

    async def _checked_body(self, operation: Operation, request: Request, headers: dict[str, str]) -> dict:
        validator = self.validators[operation.operation_id]
        violations = validator.query_violations(request.query_params)
        body = {}
        if validator.has_body:
            raw = await read_body_bytes(request.receive, headers, self.state.settings.max_body_bytes)
            if raw or operation.body_required:
                body = parse_json(raw)
            violations += validator.body_violations(body)
        if violations:
            raise first_error(violations)
        return body

    def _check_access(self, request: Request) -> None:
        self.check_access(request.scope)

    def check_access(self, scope, with_token: bool = True) -> None:
        """403 unless the client may use the admin API: its X-Admin-Token if the mock has one (`with_token`:
        checked; else a page that asks for it is served), else loopback only, and no cross-site browser request
        nor foreign host name (admin_guard.py)."""
        token = self.state.settings.admin_token
        if token:
            sent = dict(scope["headers"]).get(b"x-admin-token", b"")
            if with_token and not hmac.compare_digest(sent, token.encode()):
                raise Forbidden("the admin API needs the X-Admin-Token header")
        elif not _is_loopback_client(scope["client"][0] if scope.get("client") else None):
            raise Forbidden("the admin API answers only loopback clients unless --admin-token is set")
        else:
            check_browser_request(scope, self.state.settings.public_url)

    async def health(self, request, body):
        """200 while the mock and its store answer; 503, naming the store's problem, while the store is down."""
        stores = self.state.stores
        store = {"kind": "redis" if stores.shared else "memory", "ok": True,
                 "journal_entries_dropped": self.state.journal.dropped, "runtime_current": stores.runtime.current}
        try:
            await stores.ping()
            jobs = await stores.jobs.count()
        except StoreUnavailable as error:
            store.update(ok=False, error=error.reason)
            jobs = None
        answer = {"status": "ok" if store["ok"] else "store-unavailable", "version": __version__, "jobs": jobs,
                  "store": store, "now": iso(self.state.clock.now()), "public_url": self.state.base_url(request.scope),
                  "auth": "any-key" if self.state.settings.accepts_any_key else "configured-keys"}
        return JSONResponse(answer, status_code=200 if store["ok"] else 503)

    async def reset(self, request, body):
        await self.state.reset()
        return Response(status_code=204)

    async def list_jobs(self, request, body):
        """One page of the jobs, oldest first (`order=newest`: newest first): `limit` (default 1,000) from
        `offset`, with the total. Unfiltered (the dashboard's read), only the page is read from the store; a
        `status` or `model_id` filter reads every job."""
        query = request.query_params
        wanted_status, wanted_model = query.get("status"), query.get("model_id")
        limit, offset = int(query.get("limit", JOBS_PAGE)), int(query.get("offset", 0))
        newest = query.get("order") == "newest"
        base, now, store = self.state.base_url(request.scope), self.state.clock.now(), self.state.stores.jobs
        if wanted_status is None and wanted_model is None:
            page, total = await store.page(offset, limit, newest), await store.count()
        else:
            jobs = [job for job in await store.list()
                    if (wanted_model is None or job.model_id == wanted_model)
                    and (wanted_status is None or lifecycle.status_at(job, now) == wanted_status)]
            if newest:
                jobs.reverse()
            page, total = jobs[offset:offset + limit], len(jobs)
        following = offset + limit if offset + limit < total else None
        return JSONResponse({"jobs": [_job_view(self.state, job, base) for job in page], "total": total,
                             "next_offset": following})

    async def get_job(self, request, body):
        job = await self.state.jobs.find(request.path_params["request_id"])
        return JSONResponse(_job_view(self.state, job, self.state.base_url(request.scope)))

    async def seed_jobs(self, request, body):
        count, key = body["count"], body["key"]
        operation = self.seed_operation
        sample = await self.state.jobs.seed(count, key, operation.model_id, operation.operation_id,
                                            ("/media/0123456789abcdef/1024x1024-0.png",))
        gc.freeze()  # the seeded jobs live as long as the server: keep them out of every collection
        return JSONResponse({"seeded": count, "sample_request_id": sample}, status_code=201)

    async def advance_job(self, request, body):
        job = await self.state.jobs.advance(request.path_params["request_id"], bool(body.get("to_end")),
                                            outcome=body.get("outcome"), error=body.get("error"))
        return JSONResponse(_job_view(self.state, job, self.state.base_url(request.scope)))

    async def get_clock(self, request, body):
        return JSONResponse(_clock(self.state))

    async def advance_clock(self, request, body):
        seconds = float(body["seconds"])
        if self.state.clock.now() + seconds > LATEST_MOMENT:
            raise BadRequest(f"the clock stops at {iso(LATEST_MOMENT)}: advancing {seconds:g} s would pass it "
                             "(POST /__admin/reset sets it back)")
        await self.state.stores.runtime.add_offset(seconds)
        await self.state.refresh()  # the answer shows the moved clock
        self.state.webhooks.wake()
        return JSONResponse(_clock(self.state))

    async def get_timing(self, request, body):
        return JSONResponse(_timing(self.state.timing))

    async def set_timing(self, request, body):
        timing = Timing(**{**_timing(self.state.timing), **body})
        await self.state.stores.runtime.set_timing(_timing(timing))
        await self.state.refresh()  # the answer shows the timing in force
        return JSONResponse(_timing(self.state.timing))

    async def list_rules(self, request, body):
        return JSONResponse({"rules": await self.state.rules.rules()})

    async def list_scenarios(self, request, body):
        return JSONResponse({"scenarios": await self.state.rules.rules()})

    async def add_rule(self, request, body):
        rule = await self.state.rules.add(body)
        return JSONResponse(rule.to_dict(used=0), status_code=201)

    async def clear_rules(self, request, body):
        await self.state.rules.clear()
        return Response(status_code=204)

    async def delete_rule(self, request, body):
        named = request.path_params.get("rule_id") or request.path_params.get("scenario_id")
        if not await self.state.rules.delete(named):
            raise EndpointNotFound(f"no rule {named}")
        return Response(status_code=204)

    async def list_wallets(self, request, body):
        return JSONResponse({"wallets": await self.state.wallets.all()})

    async def set_wallet(self, request, body):
        key = request.path_params["key"]
        await self.state.wallets.set(key, float(body["balance"]))
        return JSONResponse({"key": key, "balance": await self.state.wallets.balance(key)})

    async def get_journal(self, request, body):
        query = request.query_params
        limit = query.get("limit")
        entries = await self.state.journal.entries(operation_id=query.get("operation_id"),
                                                   violations_only=query.get("violations_only") == "true",
                                                   limit=int(limit) if limit else None)
        return JSONResponse({"entries": [entry.to_wire() for entry in entries]})

    async def client_report(self, request, body):
        """Every request that broke the spec, what the client did that the docs ask it not to, and counts."""
        query = request.query_params
        raw = query.get("min_poll_interval")
        interval = float(raw) if raw is not None else self.state.settings.min_poll_interval
        since = _moment(query.get("since"))
        wanted_key = mask_key(query.get("key"), self.state.settings.show_keys)
        entries = entries_of(await self.state.journal.entries(), None if wanted_key is None else (wanted_key,), since)
        report = await asyncio.to_thread(client_report, entries, interval, self.state.operations,
                                         allow_undocumented=query.get("allow_undocumented") == "true",
                                         include_kit=query.get("include_kit") == "true")
        return JSONResponse(report)  # judged off the event loop: 10,000 entries take about 50 ms

    async def list_webhooks(self, request, body):
        """The deliveries by due time; with `limit`, only the last that many are rendered (the store still lists
        them all: deliveries are bounded by the jobs)."""
        deliveries = sorted(await self.state.webhooks.deliveries.list(), key=lambda delivery: delivery.due)
        limit = request.query_params.get("limit")
        shown = deliveries[-int(limit):] if limit else deliveries
        return JSONResponse({"deliveries": [delivery.to_dict() for delivery in shown]})

    async def clear_journal(self, request, body):
        await self.state.journal.clear()
        return Response(status_code=204)

