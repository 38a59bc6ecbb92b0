"""`flux-mock record`: a pass-through proxy in front of the real gateway that writes every exchange to a HAR
file and judges each real answer against the specs on the way, without changing what the app gets.

An app reaches it as it reaches the mock: by base URL (each request goes on to `--upstream`, else to the
server the specs name for its path), or unchanged through HTTPS_PROXY (a CONNECT to a gateway host is
terminated with the local CA, as the mock's proxy does, and goes on to `--upstream` or to the host the app
asked for). The hosts the recorded answers name (polling and media URLs) may be CONNECTed to as well, so
the app's polls and downloads work and are recorded; every other host is refused.

The answer goes back to the app first; judging (the kit's, passed in as `judge`), the journal entry and the
HAR entry follow in one worker thread, in the order exchanges end.
"""

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from starlette.responses import Response

from mock_server import tls
from mock_server.app import MockApp, create_state
from mock_server.bodies import read_body_bytes
from mock_server.errors import ApiError, gateway_body
from mock_server.exchange import Exchange
from mock_server.har import HarWriter, RecordedExchange
from mock_server.journal_entry import JournalEntry
from mock_server.operations.documents import VENDOR_SPECS, absolute_servers, load_bundled
from mock_server.redaction import mask_key
from mock_server.router import Route, Router, path_pattern
from mock_server.state import MockState

log = logging.getLogger("flux_mock.record")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
MEDIA_TYPES = ("image/", "application/octet-stream", "video/")
MAX_ANSWER_BYTES = 256 * 1024 * 1024  # an answer larger than this is refused (502), not held in memory
MAX_PENDING = 1_000  # exchanges waiting to be judged and written before a request waits for them


class UpstreamFailed(ApiError):
    """The recorder could not get an answer from the real host (a network failure: never drift), answered as
    the gateway (Azure APIM) answers its own failures on the way to the API."""

    status = 502
    error = "Bad Gateway"

    def body(self, profile: str = "pages") -> dict:
        return gateway_body(self.status, self.message or self.error)


@dataclass(frozen=True)
class RecordingOptions:
    out: str
    upstream: str | None = None  # every gateway request goes here instead of the host the app asked for
    upstream_ca: str | None = None  # a CA to trust besides the system's (a staging gateway, tests)
    record_media: bool = False  # write media downloads' bytes into the file (else only their size)
    media_max_bytes: int = 20 * 1024 * 1024
    force: bool = False  # write over an existing file
    timeout: float = 120.0  # seconds to wait for the real host's answer


def _servers() -> list[tuple[object, str]]:
    """(path pattern, server URL) for every path of the specs, and the first spec's server for any other."""
    found = []
    for name in VENDOR_SPECS:
        own, by_path = absolute_servers(load_bundled(name))
        found += [(path_pattern(path), (urls or own)[0]) for path, urls in by_path.items() if urls or own]
    return found


def upstream_client(options: RecordingOptions, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The client the recorder forwards with: the system's CAs (and --upstream-ca), no proxy from the
    environment (the recorder may be the app's HTTPS_PROXY itself), redirects handed back to the app."""
    context = ssl.create_default_context()
    if options.upstream_ca:
        context.load_verify_locations(options.upstream_ca)
    return httpx.AsyncClient(verify=context, trust_env=False, follow_redirects=False, transport=transport,
                             timeout=httpx.Timeout(options.timeout, connect=10.0),
                             limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


def _authority(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def named_hosts(value, found: set[str]) -> None:
    """Add the host:port of every absolute http(s) URL in a JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            named_hosts(item, found)
    elif isinstance(value, list):
        for item in value:
            named_hosts(item, found)
    elif isinstance(value, str) and value.startswith(("https://", "http://")):
        try:
            found.add(_authority(value))
        except ValueError:
            pass


class Recorder:
    """Forwards, answers, then has each exchange judged and written."""

    def __init__(self, state: MockState, options: RecordingOptions, judge: Callable[..., JournalEntry],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.mock, self.options, self.judge = state, options, judge
        self.writer = HarWriter(options.out, replace=options.force)
        self.client = upstream_client(options, transport)
        self.servers = _servers()
        self.allowed: set[str] = {_authority(options.upstream)} if options.upstream else set()
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-mock-record")
        self._pending: set[asyncio.Task] = set()

    # --- the proxy's question -------------------------------------------------------------------------
    def connect_policy(self, host: str, port: int) -> str | None:
        """Why a CONNECT is refused (None: taken): gateway hosts, the upstream, and hosts answers named."""
        if host in tls.gateway_hosts() or f"{host}:{port}" in self.allowed:
            return None
        return (f"the recorder forwards only the gateway's hosts ({', '.join(sorted(tls.gateway_hosts()))}), "
                "--upstream and the hosts its recorded answers named")

    # --- one exchange ---------------------------------------------------------------------------------
    def upstream_url(self, exchange: Exchange) -> str:
        """Where this request goes: through a tunnel, the host the app asked for (a gateway host: --upstream
        instead, if given); by base URL, --upstream, else the server the specs name for the path."""
        host = exchange.headers.get("host", "")
        tunneled = exchange.scope.get("scheme") == "https"
        gateway = urlsplit(f"//{host}").hostname in tls.gateway_hosts()
        if tunneled and not (gateway and self.options.upstream):
            base = f"https://{host}"
        elif self.options.upstream:
            base = self.options.upstream
        else:
            base = next((url for pattern, url in self.servers if pattern.match(exchange.path)), self.servers[0][1])
        query = exchange.scope.get("query_string", b"").decode("latin-1")
        path = exchange.scope.get("raw_path", exchange.path.encode()).decode("latin-1").split("?", 1)[0]
        return base.rstrip("/") + path + (f"?{query}" if query else "")

    async def forward(self, exchange: Exchange) -> Response:
        body = await read_body_bytes(exchange.receive, exchange.headers, self.mock.settings.max_body_bytes,
                                     self.mock.settings.body_timeout)
        url = self.upstream_url(exchange)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in exchange.scope["headers"]
                   if name.decode("latin-1").lower() not in HOP_BY_HOP]
        started, began = time.time(), asyncio.get_running_loop().time()  # real traffic: the wall clock
        try:
            answer = await self._send(exchange.method, url, headers, body)
        except httpx.HTTPError as error:
            log.warning("record: %s %s: %s", exchange.method, url, error)
            raise UpstreamFailed(f"flux-mock record could not reach {url}: {type(error).__name__}: {error}"[:500])
        raw, waited = answer.content_raw, (asyncio.get_running_loop().time() - began) * 1000
        decoded = httpx.Response(answer.status_code, headers=answer.headers, content=raw).content
        if "json" in answer.headers.get("content-type", ""):
            try:
                named_hosts(json.loads(decoded), self.allowed)  # before the app can follow them
            except ValueError:
                pass
        media = answer.headers.get("content-type", "").startswith(MEDIA_TYPES)
        keep = not media or (self.options.record_media and len(decoded) <= self.options.media_max_bytes)
        self._later(RecordedExchange(exchange.method, url, answer.status_code, tuple(headers), body,
                                     tuple(answer.headers.multi_items()), decoded, answer.reason_phrase, started,
                                     waited, content_omitted=not keep, body_size=len(raw)),
                    mask_key(exchange.claimed_key(), self.mock.settings.show_keys))
        response = Response(raw, status_code=answer.status_code)
        response.raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in answer.headers.multi_items() if name.lower() not in HOP_BY_HOP]
        response.raw_headers.append((b"content-length", str(len(raw)).encode()))
        return response

    async def _send(self, method: str, url: str, headers, body: bytes) -> "_Answer":
        request = self.client.build_request(method, url, headers=headers, content=body)
        answer = await self.client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in answer.aiter_raw():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise httpx.DecodingError(f"an answer larger than {MAX_ANSWER_BYTES} bytes")
                chunks.append(chunk)
        finally:
            await answer.aclose()
        return _Answer(answer.status_code, answer.reason_phrase, answer.headers, b"".join(chunks))

    # --- judged and written, after the answer ---------------------------------------------------------
    def _later(self, exchange: RecordedExchange, key: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self._record(exchange, key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record(self, exchange: RecordedExchange, key: str | None) -> None:
        """Judged and written in the worker thread; journaled with the key masked as the mock masks it (the
        file has it redacted)."""
        try:
            entry = await asyncio.get_running_loop().run_in_executor(self._work, self._judged_and_written, exchange)
            await self.mock.journal.record(entry._replace(key=key))
        except Exception:  # noqa: BLE001 - one exchange not written is logged; the recorder goes on
            log.exception("record: %s %s was not written", exchange.method, exchange.url)

    def _judged_and_written(self, exchange: RecordedExchange) -> JournalEntry:
        """The real exchange judged (its redacted copy is what is written)."""
        entry = self.judge(exchange, "recorded upstream")
        facts = {"operationId": entry.operation_id, "kind": entry.operation_kind, "requestId": entry.request_id,
                 "jobStatus": entry.job_status, "sequence": entry.sequence, "drift": list(entry.drift)}
        self.writer.write(exchange.to_har({name: value for name, value in facts.items() if value is not None}))
        return entry

    @property
    def backlog(self) -> int:
        """Exchanges answered but not yet judged and written."""
        return len(self._pending)

    async def wait_for_pending(self) -> None:
        """Every exchange answered so far judged and written (back-pressure, and at shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.wait_for_pending()
        await self.client.aclose()
        self._work.shutdown(wait=True)
        self.writer.close()


@dataclass(frozen=True)
class _Answer:
    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content_raw: bytes


class RecordingApp(MockApp):
    """The recorder as the ASGI app `flux-mock record` serves: its admin API (journal, client report) under
    /__admin as the mock's, every other request forwarded."""

    def __init__(self, state: MockState, recorder: Recorder) -> None:
        self.recorder = recorder
        super().__init__(state)

    def build_router(self) -> Router:
        router = Router()
        router.mount("/__admin", self.admin_routes())
        router.add(Route("/{path:path}", {method: self._forward for method in METHODS}, journaled=False))
        return router

    async def _forward(self, exchange: Exchange) -> Response:
        if self.recorder.backlog >= MAX_PENDING:
            await self.recorder.wait_for_pending()
        return await self.recorder.forward(exchange)

    async def _shut_down(self) -> None:
        await self.recorder.close()
        await super()._shut_down()


def create_recorder(settings, options: RecordingOptions, judge: Callable[..., JournalEntry], clock=None,
                    transport: httpx.AsyncBaseTransport | None = None) -> RecordingApp:
    """The recording proxy as an ASGI app. `judge(recorded exchange, answer) -> journal entry` is the kit's
    (contract_tests.recorded_journal.OnTheWay); `transport` the upstream client's (tests)."""
    state = create_state(settings, clock)
    return RecordingApp(state, Recorder(state, options, judge, transport))
