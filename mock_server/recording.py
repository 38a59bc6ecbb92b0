"""`flux-mock record`: a pass-through proxy in front of the real gateway that writes every exchange to a HAR
file and judges each real answer against the specs on the way.

An app reaches it as it reaches the mock:
- by base URL: each request goes on to `--upstream`, else to the server the specs name for its path; every
  absolute URL the answer holds (a polling URL, media, an output) is led back through the recorder, as `serve
  --public-url` leads them to the mock (the upstream's own as paths of the recorder; another host an answer
  named as `/__via/{scheme}/{host:port}/...`), so the app's polls and downloads are recorded too. The app gets
  that answer decoded; the file keeps the URLs the upstream really sent.
- unchanged, through HTTPS_PROXY: a CONNECT to a gateway host (or to a host an answer named) is terminated with
  the local CA, as the mock's proxy does; a request inside goes to the tunnel's own host (`--upstream` for a
  gateway host), whatever its Host header says. The app gets the answer unchanged, its encoding included.

Where a request may go is recording_hosts.py's to say. Upstream time is bounded (connect, each read, and in
total: a 504 in the gateway's shape); an app that leaves cancels its request upstream; each upstream host has
a connection pool of its own, so a slow one starves no other. A compressed answer is decoded within a bound
(encodings.py) before it is judged and written.

Webhooks are recorded too (recording_hooks.py): the API gets a relay URL of the recorder's in place of the app's
webhook URL, and each delivery is relayed to the app and written with its offset from the job's submit
(`_fluxMock.webhook`, `offset`), judged against the operation's callback schema.

Each exchange is judged (the kit's judge, passed in) and written before the app gets its answer, in one worker
thread: a recorder killed at any moment leaves a file that holds every exchange answered before it.
"""

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import orjson
from starlette.responses import Response

from mock_server.app import MockApp, create_state
from mock_server.bodies import read_body_bytes, read_within
from mock_server.connections import TUNNEL
from mock_server.encodings import MAX_DECODED, TooLarge, Undecodable, decode
from mock_server.errors import EndpointNotFound, UpstreamFailed
from mock_server.exchange import Exchange
from mock_server.har import HarWriter, RecordedExchange, json_value
from mock_server.journal_entry import JournalEntry
from mock_server.operations.documents import VENDOR_SPECS, absolute_servers, load_bundled
from mock_server.operations.facts import fact_values
from mock_server.operations.matcher import OperationMatcher
from mock_server.recorded_entries import Validators
from mock_server.recording_hooks import HOOK_PATH, Hook, HookRelay
from mock_server.recording_hosts import HostPolicy, authority
from mock_server.redaction import is_secret_name, mask_key, redacted_url
from mock_server.router import Route, Router, path_pattern
from mock_server.state import MockState

log = logging.getLogger("flux_mock.record")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
MEDIA_TYPES = ("image/", "application/octet-stream", "video/")
MAX_ANSWER_BYTES = 256 * 1024 * 1024  # an answer larger than this, as sent, is refused (502), not held in memory
VIA = "/__via/"  # base-URL mode: a URL on another host an answer named, led back through the recorder
PER_HOST_CONNECTIONS = 64
SHARDS = 8  # pools a host's connections are split over
RETRIED = frozenset({"GET", "HEAD"})  # methods asked again after a protocol error on a kept connection
MAX_CLIENTS = 300  # upstream hosts with a pool of their own (the gateway's, and the named ones)


# The recorder's UpstreamFailed (errors.py) never says why (refused, TLS, a plain port): that would make the
# recorder a port scanner.


class UpstreamTimedOut(UpstreamFailed):
    status = 504
    error = "Gateway Timeout"


class Misdirected(UpstreamFailed):
    """Inside a CONNECT tunnel, a request for another host than the tunnel's."""

    status = 421
    error = "Misdirected Request"


class NotForwarded(UpstreamFailed):
    """A request for a host neither the gateway nor any answer named."""

    status = 403
    error = "Forbidden"


class ClientLeft(Exception):
    """The app went away before the answer came: its upstream request was cancelled."""


@dataclass(frozen=True)
class RecordingOptions:
    out: str
    upstream: str | None = None  # every gateway request goes here instead of the host the app asked for
    upstream_ca: str | None = None  # a CA to trust besides the system's (a staging gateway, tests)
    record_media: bool = False  # write media downloads' bytes into the file (else only their size)
    media_max_bytes: int = 20 * 1024 * 1024
    force: bool = False  # write over an existing file
    timeout: float = 120.0  # seconds to wait for each read of the real host's answer
    total_timeout: float = 300.0  # seconds an exchange may take upstream in all
    allow_hosts: tuple[str, ...] = ()  # special hosts (loopback, private) answers may name: a staging CDN
    webhook_base: str | None = None  # where the API reaches the recorder's webhook relay (None: as the app did)


@dataclass(frozen=True)
class Target:
    url: str  # where the request goes, as the HAR records it
    where: str  # its authority
    gateway: bool  # the gateway (or --upstream, or a host named as a polling URL's): the app's keys may go there
    rewrite: bool  # base-URL mode: URLs in the answer are led back through the recorder


def _servers() -> list[tuple[object, str]]:
    """(path pattern, server URL) for every path of the specs, and the first spec's server for any other."""
    found = []
    for name in VENDOR_SPECS:
        own, by_path = absolute_servers(load_bundled(name))
        found += [(path_pattern(path), (urls or own)[0]) for path, urls in by_path.items() if urls or own]
    return found


def _tls_context(options: RecordingOptions) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if options.upstream_ca:
        context.load_verify_locations(options.upstream_ca)
    return context


class Upstream:
    """The recorder's clients: one connection pool per upstream host (a slow host fills its own), the system's
    CAs (and --upstream-ca), no proxy from the environment (the recorder may be the app's HTTPS_PROXY itself),
    redirects handed back to the app, every read bounded."""

    def __init__(self, options: RecordingOptions, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.options, self.transport = options, transport
        self._context = _tls_context(options)
        self._clients: dict[str, list[httpx.AsyncClient]] = {}
        self._turn = itertools.count()

    def client(self, where: str) -> httpx.AsyncClient:
        """One of the host's clients, in turn. A host's PER_HOST_CONNECTIONS are split over SHARDS pools: httpcore's
        pool scans every connection for every waiting request, so one pool of 64 under 500 clients spent most of
        the recorder's time choosing a connection (36 answers/s; sharded, see docs/reference/bounds.md)."""
        shards = self._clients.get(where)
        if shards is None:
            if len(self._clients) >= MAX_CLIENTS:
                raise UpstreamFailed(f"flux-mock record: more than {MAX_CLIENTS} upstream hosts")
            each = PER_HOST_CONNECTIONS // SHARDS
            shards = self._clients[where] = [httpx.AsyncClient(
                verify=self._context, trust_env=False, follow_redirects=False, transport=self.transport,
                timeout=httpx.Timeout(self.options.timeout, connect=10.0, pool=self.options.timeout),
                limits=httpx.Limits(max_connections=each, max_keepalive_connections=each)) for _ in range(SHARDS)]
        return shards[next(self._turn) % SHARDS]

    async def send(self, target: Target, method: str, headers, body: bytes) -> "_Answer":
        """The upstream's answer. A GET or HEAD that meets a protocol error is asked once more, on a new
        connection: a kept connection can hold what an earlier answer sent beyond its Content-Length. Nothing
        else is sent twice (a submit costs money)."""
        try:
            return await self._send_once(target, method, headers, body)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            if method not in RETRIED:
                raise
            log.info("record: %s %s: the kept connection answered nonsense; asking once more",
                     method, redacted_url(target.url))
            return await self._send_once(target, method, headers, body)

    async def _send_once(self, target: Target, method: str, headers, body: bytes) -> "_Answer":
        client = self.client(target.where)
        request = client.build_request(method, target.url, headers=headers, content=body)
        answer = await client.send(request, stream=True)
        try:
            content = await read_within(answer.aiter_raw(), MAX_ANSWER_BYTES)
        except OverflowError as error:
            raise httpx.DecodingError(str(error)) from None
        finally:
            await answer.aclose()
        return _Answer(answer.status_code, answer.reason_phrase, answer.headers, content)

    async def close(self) -> None:
        for client in (client for shards in self._clients.values() for client in shards):
            await client.aclose()


@dataclass(frozen=True)
class _Answer:
    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content_raw: bytes


async def _until_the_client_leaves(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Recorder:
    """Forwards, has each exchange judged and written, then answers."""

    def __init__(self, state: MockState, options: RecordingOptions, judge: Callable[..., JournalEntry],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.mock, self.options, self.judge = state, options, judge
        self.writer = HarWriter(options.out, replace=options.force)
        self.upstream = Upstream(options, transport)
        self.servers = _servers()
        self.matcher = OperationMatcher(state.operations)
        self.hosts = HostPolicy(authority(options.upstream) if options.upstream else None,
                                frozenset(host.lower() for host in options.allow_hosts))
        self.hooks = HookRelay(options.webhook_base, transport)
        self._validators = Validators()
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-mock-record")

    # --- the proxy's question -------------------------------------------------------------------------
    def connect_policy(self, host: str, port: int) -> str | None:
        return self.hosts.connect_policy(host, port)

    # --- where a request goes -------------------------------------------------------------------------
    def target_of(self, exchange: Exchange) -> Target:
        tunnel = (exchange.scope.get("extensions") or {}).get(TUNNEL)
        raw_path = exchange.scope.get("raw_path", exchange.path.encode()).decode("latin-1").split("?", 1)[0]
        query = exchange.scope.get("query_string", b"").decode("latin-1")
        suffix = f"?{query}" if query else ""
        if tunnel is not None:
            return self._in_tunnel(tunnel, exchange.headers.get("host", ""), raw_path + suffix)
        if raw_path.startswith(VIA):
            return self._via(raw_path[len(VIA):] + suffix)
        if self.options.upstream:
            base = self.options.upstream
        else:
            base = next((url for pattern, url in self.servers if pattern.match(exchange.path)), self.servers[0][1])
        url = base.rstrip("/") + raw_path + suffix
        return Target(url, authority(url), True, True)

    def _in_tunnel(self, tunnel: tuple[str, int], host_header: str, path: str) -> Target:
        host, port = tunnel
        asked = authority(f"https://{host_header}")
        if asked != f"{host}:{port}":
            raise Misdirected(f"flux-mock record: this tunnel is for {host}:{port}, not for "
                              f"{host_header[:100] or 'no Host'}")
        if self.options.upstream and self.hosts.is_gateway(f"{host}:{port}"):
            url = self.options.upstream.rstrip("/") + path
            return Target(url, authority(url), True, False)
        url = f"https://{host}{'' if port == 443 else f':{port}'}{path}"
        return Target(url, f"{host}:{port}", self.hosts.takes_keys(f"{host}:{port}"), False)

    def _via(self, rest: str) -> Target:
        scheme, _, rest = rest.partition("/")
        where, _, path = rest.partition("/")
        url = f"{scheme}://{where}/{path}"
        at = authority(url)
        if scheme not in ("http", "https") or at is None or not self.hosts.may_reach(at):
            raise NotForwarded(f"flux-mock record forwards only to the gateway and the hosts its answers named, "
                               f"not to {where[:100]}")
        return Target(url, at, self.hosts.takes_keys(at), True)

    # --- one exchange ---------------------------------------------------------------------------------
    async def forward(self, exchange: Exchange) -> Response:
        body = await read_body_bytes(exchange.receive, exchange.headers, self.mock.settings.max_body_bytes,
                                     self.mock.settings.body_timeout)
        target = self.target_of(exchange)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in exchange.scope["headers"]
                   if name.decode("latin-1").lower() not in HOP_BY_HOP]
        sent = headers if target.gateway else [(name, value) for name, value in headers if not is_secret_name(name)]
        sent, sent_body = self._with_relay(exchange, target, sent, body) if target.gateway else (sent, body)
        started, began = time.time(), asyncio.get_running_loop().time()  # real traffic: the wall clock
        answer = await self._answer(exchange, target, sent, sent_body)
        waited = (asyncio.get_running_loop().time() - began) * 1000
        decoded, note, defect = self._decoded(answer)
        media = answer.headers.get("content-type", "").startswith(MEDIA_TYPES)
        keep = decoded is not None and (not media or (self.options.record_media
                                                      and len(decoded) <= self.options.media_max_bytes))
        record = RecordedExchange(exchange.method, target.url, answer.status_code, tuple(headers), body,
                                  tuple(answer.headers.multi_items()), decoded or b"", answer.reason_phrase, started,
                                  waited, content_omitted=not keep, body_size=len(answer.content_raw),
                                  omitted_because=note or "")
        parsed = json_value(decoded) if decoded is not None and "json" in answer.headers.get("content-type", "") \
            else None
        if target.gateway and parsed is not None:
            self.hosts.name(self._named_urls(exchange.method, target, answer.status_code, parsed, {"polling_url"}),
                            api=True)
            self.hosts.name(self._named_urls(exchange.method, target, answer.status_code, parsed, {"media_url"}))
        await self._judged_and_written(record, mask_key(exchange.claimed_key(), self.mock.settings.show_keys), note,
                                       defect)
        if target.rewrite and parsed is not None:
            return self._led_back(exchange, target, answer, parsed)
        return self._as_sent(answer)

    def _with_relay(self, exchange: Exchange, target: Target, headers, body: bytes) -> tuple[list, bytes]:
        """The request with each webhook URL it carries replaced by a relay URL of the recorder's (the file keeps
        what the app sent)."""
        if exchange.method != "POST":
            return headers, body
        operation = next((op for op in self.matcher.candidates("POST", urlsplit(target.url).path)
                          if op.delivers_webhooks), None)
        if operation is None:
            return headers, body
        validator = self._validators.of(operation)
        tunnel = (exchange.scope.get("extensions") or {}).get(TUNNEL) is not None
        base = self.options.webhook_base or ("" if tunnel else exchange.base)
        if not base:
            return headers, body  # inside a tunnel, in-process, with no address of its own: nowhere to relay
        return self.hooks.substituted(operation.operation_id, base, headers, body,
                                      (validator.accepts_webhook_header, validator.webhook_fields))

    async def delivered(self, exchange: Exchange) -> Response:
        """A webhook the API POSTed to a relay URL: relayed to the app's URL, written, the app's answer returned
        to the API (502 in the gateway's shape if the app did not answer)."""
        hook = self.hooks.hook(exchange.path_params.get("token", ""))
        if hook is None:
            raise EndpointNotFound("no webhook relay of this recorder has that token")
        body = await read_body_bytes(exchange.receive, exchange.headers, self.mock.settings.max_body_bytes,
                                     self.mock.settings.body_timeout)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in exchange.scope["headers"]
                   if name.decode("latin-1").lower() not in HOP_BY_HOP]
        started, began = time.time(), asyncio.get_running_loop().time()
        status, reason, answered, content, note = await self._relayed(hook, headers, body)
        record = RecordedExchange("POST", hook.app_url, status, tuple(headers), body, answered, content, reason,
                                  started, (asyncio.get_running_loop().time() - began) * 1000,
                                  flux={"webhook": True, "operationId": hook.operation_id,
                                        "offset": round(max(0.0, started - hook.submitted), 3)})
        await self._judged_and_written(record, None, note, False)
        if note:
            raise UpstreamFailed(f"flux-mock record: the app's webhook URL {redacted_url(hook.app_url)} did not "
                                 "answer")
        response = Response(content, status_code=status)
        response.raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answered
                                if name.lower() not in HOP_BY_HOP and name.lower() != "content-encoding"]
        response.raw_headers.append((b"content-length", str(len(content)).encode()))
        return response

    async def _relayed(self, hook: Hook, headers, body: bytes) -> tuple[int, str, tuple, bytes, str | None]:
        """(status, reason, headers, body, None) of the app's answer; a 502 and why where it gave none."""
        try:
            answer, content = await self.hooks.relay(hook, headers, body)
        except httpx.HTTPError as error:
            log.warning("record: webhook for %s not relayed (%s)", redacted_url(hook.app_url), type(error).__name__)
            return 502, "Bad Gateway", (), b"", f"not relayed: the app's webhook URL gave no answer " \
                                                 f"({type(error).__name__})"
        return answer.status_code, answer.reason_phrase, tuple(answer.headers.multi_items()), content, None

    async def _answer(self, exchange: Exchange, target: Target, headers, body: bytes) -> _Answer:
        """The upstream's answer, within the total timeout, cancelled if the app leaves first."""
        sending = asyncio.get_running_loop().create_task(self._send(target, exchange.method, headers, body))
        leaving = asyncio.get_running_loop().create_task(_until_the_client_leaves(exchange.receive))
        try:
            done, _ = await asyncio.wait({sending, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        if sending not in done:
            sending.cancel()
            raise ClientLeft
        return sending.result()

    async def _send(self, target: Target, method: str, headers, body: bytes) -> _Answer:
        shown = redacted_url(target.url)
        try:
            async with asyncio.timeout(self.options.total_timeout):
                return await self.upstream.send(target, method, headers, body)
        except (TimeoutError, httpx.TimeoutException):
            log.warning("record: %s %s: no answer in time", method, shown)
            raise UpstreamTimedOut(f"flux-mock record: {shown} did not answer in time") from None
        except httpx.HTTPError as error:
            log.warning("record: %s %s: unreachable (%s)", method, shown, type(error).__name__)
            raise UpstreamFailed(f"flux-mock record: {shown} is unreachable") from None

    def _decoded(self, answer: _Answer) -> tuple[bytes | None, str | None, bool]:
        """The answer's body as HAR holds it (decoded); why it is not there (None: it is); and whether that is the
        upstream's fault (bytes that are not what its Content-Encoding says: no app could read them), not only a
        bound of the recorder's (a body that decodes past MAX_DECODED)."""
        try:
            return decode(answer.content_raw, answer.headers.get("content-encoding"), MAX_DECODED), None, False
        except TooLarge as error:
            return None, f"not recorded: {error}", False
        except Undecodable as error:
            return None, (f"not recorded: its Content-Encoding says {answer.headers.get('content-encoding')}, "
                          f"{error}"), True

    def _named_urls(self, method: str, target: Target, status: int, body, facts: set[str]) -> list[str]:
        """The URLs a gateway's answer holds in these documented URL fields (the operation's schema says where)."""
        urls = []
        for operation in self.matcher.candidates(method, urlsplit(target.url).path):
            urls += fact_values(operation.response_schema(status), body, facts)
        return urls

    def _as_sent(self, answer: _Answer) -> Response:
        response = Response(answer.content_raw, status_code=answer.status_code)
        response.raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in answer.headers.multi_items() if name.lower() not in HOP_BY_HOP]
        response.raw_headers.append((b"content-length", str(len(answer.content_raw)).encode()))
        return response

    def _led_back(self, exchange: Exchange, target: Target, answer: _Answer, body) -> Response:
        """The answer decoded, every absolute URL of the upstream or of a host an answer named leading back
        through the recorder."""
        base = exchange.base.rstrip("/")
        upstream = self.hosts.upstream or target.where

        def back(url: str) -> str:
            where = authority(url)
            if where is None:
                return url
            parts = urlsplit(url)
            rest = parts.path + (f"?{parts.query}" if parts.query else "")
            if where == upstream:
                return base + rest
            if self.hosts.may_reach(where):
                return f"{base}{VIA}{parts.scheme}/{parts.netloc}{rest}"
            return url

        content = orjson.dumps(_mapped(body, back))
        response = Response(content, status_code=answer.status_code)
        response.raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in answer.headers.multi_items()
                                if name.lower() not in HOP_BY_HOP and name.lower() != "content-encoding"]
        response.raw_headers.append((b"content-length", str(len(content)).encode()))
        return response

    # --- judged and written, before the answer --------------------------------------------------------
    async def _judged_and_written(self, exchange: RecordedExchange, key: str | None, note: str | None,
                                  defect: bool) -> None:
        """Judged (the real exchange) and written (its redacted copy) in the worker thread; journaled with the key
        masked as the mock masks it (the file has it redacted). An exchange that cannot be judged is still
        written, and journaled saying why."""
        try:
            entry = await asyncio.get_running_loop().run_in_executor(self._work, self._judge_and_write, exchange, note,
                                                                     defect)
            await self.mock.journal.record(entry._replace(key=key))
        except Exception:  # noqa: BLE001 - one exchange not written is logged; the recorder goes on
            log.exception("record: %s %s was not written", exchange.method, redacted_url(exchange.url))

    def _judge_and_write(self, exchange: RecordedExchange, note: str | None, defect: bool) -> JournalEntry:
        try:
            entry = self.judge(exchange, "recorded upstream")
        except RecursionError:
            entry = JournalEntry(epoch=exchange.started or 0.0, method=exchange.method, path=exchange.path,
                                 status=exchange.status, answer="recorded upstream",
                                 drift=("not judged: the answer nests too deep",))
        if defect:
            entry = entry._replace(drift=(*entry.drift, note))
        facts = {"operationId": entry.operation_id, "kind": entry.operation_kind, "requestId": entry.request_id or None,
                 "jobStatus": entry.job_status, "event": entry.event, "sequence": entry.sequence,
                 "drift": list(entry.drift), "note": note}
        self.writer.write(exchange.to_har({**exchange.flux, **{name: value for name, value in facts.items()
                                                               if value is not None}}))
        return entry

    async def close(self) -> None:
        await self.upstream.close()
        await self.hooks.close()
        self._work.shutdown(wait=True)
        self.writer.close()


def _mapped(value, change: Callable[[str], str], depth: int = 0):
    """A JSON value with every absolute http(s) URL string changed (at most 64 levels deep)."""
    if depth > 64:
        return value
    if isinstance(value, dict):
        return {key: _mapped(item, change, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_mapped(item, change, depth + 1) for item in value]
    if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
        return change(value)
    return value


class RecordingApp(MockApp):
    """The recorder as the ASGI app `flux-mock record` serves: its admin API (journal, client report) under
    /__admin as the mock's, every other request forwarded."""

    def __init__(self, state: MockState, recorder: Recorder) -> None:
        self.recorder = recorder
        super().__init__(state)

    def build_router(self) -> Router:
        router = Router()
        router.mount("/__admin", self.admin_routes())
        router.add(Route(HOOK_PATH + "{token}", {"POST": self._delivered}, journaled=False))
        router.add(Route("/{path:path}", {method: self._forward for method in METHODS}, journaled=False))
        return router

    async def _forward(self, exchange: Exchange) -> Response:
        try:
            return await self.recorder.forward(exchange)
        except ClientLeft:
            return Response(status_code=499)  # nobody is left to answer

    async def _delivered(self, exchange: Exchange) -> Response:
        if (exchange.scope.get("extensions") or {}).get(TUNNEL) is not None:  # the gateway's own path, tunnelled
            return await self._forward(exchange)
        return await self.recorder.delivered(exchange)

    async def _shut_down(self) -> None:
        await self.recorder.close()
        await super()._shut_down()


def create_recorder(settings, options: RecordingOptions, judge: Callable[..., JournalEntry], clock=None,
                    transport: httpx.AsyncBaseTransport | None = None) -> RecordingApp:
    """The recording proxy as an ASGI app. `judge(recorded exchange, answer) -> journal entry` is the kit's
    (contract_tests.recorded_journal.OnTheWay); `transport` the upstream clients' (tests)."""
    state = create_state(settings, clock)
    return RecordingApp(state, Recorder(state, options, judge, transport))
