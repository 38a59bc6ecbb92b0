"""A small gateway written only from the vendor's pages (shared/api-docs), independent of flux-mock's code: it
imports nothing of `mock_server` and reads no spec. It does what the pages say and nothing more, with the real
world's habits: it gzips what a client accepts gzipped, answers a method a path does not take with the pages'
404 `{"error": "Endpoint not found"}`, puts the request id inside its media URLs (page 003's
`v1/{request_id}/output.ext` layout), and takes what no page refuses (`num_steps: 0`, an empty X-Webhook-URL, a
body without Content-Type).

Operations (the pages that say how): Schnell getData (000), Flux Dev text to image and the universal status
poll (003, queue API), Flux 2 Klein generateImage (003), Flux 2 Dev /generateT2I (003, X-Secret-Key), Kontext
restore (003, with its own error messages). `wallets[key]` in USD: 0 makes a paid call answer 402 with the
pages' body. Jobs are QUEUED for `queued_for` s and PROCESSING for `processing_for` s (real time).

Webhooks as page 003 says: the `X-Webhook-URL` header of a queue submit gets a POST of the status body when the
job reaches COMPLETED; Kontext's `webhook` gets one at each event its `webhook_events_filter` names (queued,
processing, completed). Each POST is made once, from a task of the server's loop (`webhook_urls` keeps the URLs
it was given, `delivered` what each POST got back).

Where the real world differs, on request: `media_base` puts media on another host (a CDN: the same server on
another loopback address, 127.0.0.2), `polling_base` moves the polling URL to another host, and `drift` plants
drift inside a finished job's `output` (media_url renamed media_urls, a seed added), and `codings` answers JSON in
turn in each of these content codings the client accepts (gzip, deflate, br; "identity" too), chunked, with no
Content-Length, as a CDN or nginx does."""

import asyncio
import gzip
import io
import itertools
import json
import time
import zlib
import uuid

import brotli
import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

INVALID = {"error": "Invalid request parameters"}  # 000, 001, 002, 004's tables
UNAUTHORIZED = {"error": "Invalid or missing authentication"}
NOT_FOUND = {"error": "Endpoint not found"}
FORBIDDEN = {"error": "Forbidden"}  # 003's table names 403 Forbidden; no page shows its body
NO_BALANCE = {"error": "Insufficient Balance", "message": "Your wallet does not have enough balance."}  # 003
FAL_SIZES = ("square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
PRICES = {"flux-dev": 0.003, "flux-2-klein-4b": 0.0007, "flux-2-dev": 0.0}


def _is_int(value) -> bool:
    """An integer as JSON has it: a number without a fraction (4 and 4.0 alike: JSON has one number type)."""
    return _is_number(value) and float(value).is_integer()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Chunked:
    """Each JSON answer in the next of `codings` the client accepts, sent in two chunks with no Content-Length.
    Written with the standard library's zlib and the brotli package, not flux-mock's encoder."""

    def __init__(self, app, codings: tuple[str, ...]) -> None:
        self.app, self.turn = app, itertools.cycle(codings)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        accepts = dict(scope["headers"]).get(b"accept-encoding", b"").decode()
        start, chunks = {}, []

        async def buffered(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body, headers = b"".join(chunks), [(k, v) for k, v in start["headers"] if k != b"content-length"]
            coding = next(self.turn)
            if dict(headers).get(b"content-type", b"").startswith(b"application/json") and \
                    (coding == "identity" or coding in accepts):
                body = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes,
                        "br": brotli.compress}[coding](body)
                if coding != "identity":
                    headers.append((b"content-encoding", coding.encode()))
            await send({**start, "headers": headers})
            half = len(body) // 2
            await send({"type": "http.response.body", "body": body[:half], "more_body": True})
            await send({"type": "http.response.body", "body": body[half:]})

        await self.app(scope, receive, buffered)


class Refused(Exception):
    def __init__(self, status: int, body: dict) -> None:
        super().__init__(body)
        self.status, self.body = status, body


class PagesGateway:
    def __init__(self, keys=("pages-key",), queued_for: float = 0.2, processing_for: float = 0.3,
                 wallets: dict | None = None, media_base: str | None = None, polling_base: str | None = None,
                 drift: bool = False, codings: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()) -> None:
        self.keys = set(keys)
        self.forbidden = set(forbidden)  # known keys without access to the API: 403 Forbidden (page 003's table)
        self.media_base, self.polling_base, self.drift = media_base, polling_base, drift
        self.queued_for, self.processing_for = queued_for, processing_for
        self.wallets = dict(wallets or {})
        self.jobs: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.webhook_urls: list[str] = []  # the webhook URLs submits named
        self.delivered: list[tuple[str, int | str]] = []  # (event, the status the receiver answered, or an error)
        self._tasks: set[asyncio.Task] = set()
        paths = {
            "/flux-1-schnell/v1/getData": ("POST", self.schnell),
            "/flux-dev/v1/dev/textToImage": ("POST", self.flux_dev),
            "/flux-2-klein-4b/v1/generateImage": ("POST", self.klein),
            "/generateT2I": ("POST", self.flux_2_dev),
            "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate": ("POST", self.kontext),
            "/v2/requests/status/{request_id}": ("GET", self.status),
            "/v1/{request_id}/{name}": ("GET", self.media),
            "/sync/{model}/{name}": ("GET", self.media),
        }
        routes = [Route(path, self._guarded(method, handler), methods=["GET", "POST", "PUT", "PATCH", "DELETE",
                                                                        "HEAD", "OPTIONS", "TRACE"])
                  for path, (method, handler) in paths.items()]
        encoding = Middleware(Chunked, codings=codings) if codings else Middleware(GZipMiddleware, minimum_size=0)
        self.app = Starlette(routes=routes, middleware=[encoding],
                             exception_handlers={404: self._not_found, 405: self._not_found})

    async def _not_found(self, request, exc):
        return JSONResponse(NOT_FOUND, status_code=404)

    def _guarded(self, method: str, handler):
        async def endpoint(request: Request):
            self.requests.append((request.method, request.url.path))
            if request.method != method:  # the pages document 404 for what is not an endpoint, never 405
                return JSONResponse(NOT_FOUND, status_code=404)
            try:
                return await handler(request)
            except Refused as refused:
                return JSONResponse(refused.body, status_code=refused.status)
        return endpoint

    # --- what every call needs -----------------------------------------------------------------------------
    def _key(self, request: Request, header: str = "ocp-apim-subscription-key") -> str:
        key = request.headers.get(header)
        if key in self.forbidden:
            raise Refused(403, FORBIDDEN)
        if key not in self.keys:
            raise Refused(401, UNAUTHORIZED)
        return key

    async def _body(self, request: Request) -> dict:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Refused(400, INVALID) from None
        if not isinstance(body, dict) or not isinstance(body.get("prompt", ""), str):
            raise Refused(400, INVALID)
        return body

    def _charge(self, key: str, model: str) -> None:
        price = PRICES.get(model, 0.0)
        if price and self.wallets.get(key, 100.0) < price:
            raise Refused(402, NO_BALANCE)
        self.wallets[key] = self.wallets.get(key, 100.0) - price

    @staticmethod
    def _check(body: dict, rules: dict) -> None:
        for name, allowed in rules.items():
            if name in body and not allowed(body[name]):
                raise Refused(400, INVALID)

    def _sync_output(self, request: Request, model: str, width: int, height: int) -> JSONResponse:
        name = f"{int(time.time() * 1000)}-{uuid.uuid4().int % 1_000_000}-{width}x{height}.png"
        return JSONResponse({"output": f"{request.base_url}sync/{model}/{name}"})

    # --- the operations ------------------------------------------------------------------------------------
    async def schnell(self, request: Request):
        """000: prompt (required), num_steps (integer, maximum 8), seed, height, width (integers)."""
        self._key(request)
        body = await self._body(request)
        if "prompt" not in body:
            raise Refused(400, INVALID)
        self._check(body, {"num_steps": lambda v: _is_int(v) and v <= 8, "seed": _is_int, "height": _is_int,
                           "width": _is_int})
        return self._sync_output(request, "flux-schnell-cf", _side(body.get("width")), _side(body.get("height")))

    async def klein(self, request: Request):
        """003: prompt (required), steps (integer), width and height of 512, 1024, 1448, 2048."""
        key = self._key(request)
        body = await self._body(request)
        sizes = (512, 1024, 1448, 2048)
        if "prompt" not in body:
            raise Refused(400, INVALID)
        self._check(body, {"steps": _is_int, "width": lambda v: v in sizes, "height": lambda v: v in sizes})
        self._charge(key, "flux-2-klein-4b")
        return self._sync_output(request, "flux-2-klein-4b", int(body.get("width", 1024)),
                                 int(body.get("height", 1024)))

    async def flux_2_dev(self, request: Request):
        """003: X-Secret-Key; prompt (required), steps, width and height "Must be a positive integer"."""
        self._key(request, "x-secret-key")
        body = await self._body(request)
        if "prompt" not in body:
            raise Refused(400, INVALID)
        positive = lambda v: _is_int(v) and v > 0  # noqa: E731
        self._check(body, {"steps": _is_int, "width": positive, "height": positive})
        return self._sync_output(request, "flux-2-dev-cf", _side(body.get("width")), _side(body.get("height")))

    async def flux_dev(self, request: Request):
        """003, Flux Dev text to image (queue API): 202 QUEUED with a polling_url; X-Webhook-URL optional."""
        key = self._key(request)
        body = await self._body(request)
        if "prompt" not in body:
            raise Refused(400, INVALID)
        self._check(body, {"image_size": lambda v: v in FAL_SIZES, "num_inference_steps": _is_int,
                           "guidance_scale": _is_number, "num_images": _is_int,
                           "enable_safety_checker": lambda v: isinstance(v, bool),
                           "output_format": lambda v: v in ("jpeg", "png"),
                           "acceleration": lambda v: v in ("none", "regular", "high")})
        self._charge(key, "flux-dev")
        hook = request.headers.get("x-webhook-url")
        return self._queued(request, "flux-dev", body.get("output_format", "png"), hook, ("completed",))

    async def kontext(self, request: Request):
        """003, Kontext restore, with the page's own error messages."""
        key = self._key(request)
        body = await self._body(request)
        image = body.get("input_image")
        if not isinstance(image, str):
            raise Refused(400, {"error": "input_image is required and must be a string URL"})
        if not image.startswith(("http://", "https://")):
            raise Refused(400, {"error": "input_image must be a valid URL"})
        if "output_format" in body and body["output_format"] not in ("jpg", "png"):
            raise Refused(400, {"error": "output_format must be one of: jpg, png"})
        if "safety_tolerance" in body and not (_is_int(body["safety_tolerance"]) and 0 <= body["safety_tolerance"] <= 2):
            raise Refused(400, {"error": "safety_tolerance must be an integer in [0, 2]"})
        if "seed" in body and not (_is_int(body["seed"]) and body["seed"] >= 0):
            raise Refused(400, {"error": "seed must be a non-negative integer"})
        if "webhook" in body and not (isinstance(body["webhook"], str) and body["webhook"].startswith(("http://",
                                                                                                       "https://"))):
            raise Refused(400, {"error": "Invalid webhook URL"})
        events = body.get("webhook_events_filter", [])  # the page's example: a list of status names
        if not (isinstance(events, list) and all(isinstance(event, str) for event in events)):
            raise Refused(400, INVALID)
        self._charge(key, "flux-kontext-restore-image")
        hook, header = body.get("webhook"), request.headers.get("x-webhook-url")
        return self._queued(request, "flux-kontext-restore-image", body.get("output_format", "png"), hook or header,
                            tuple(events) if hook else ("completed",))

    def _queued(self, request: Request, model: str, extension: str, hook: str | None = None,
                events: tuple[str, ...] = ()) -> JSONResponse:
        ids = uuid.uuid4().hex
        request_id = f"{model}_{ids[:8]}-{ids[8:12]}-{ids[12:16]}-{ids[16:20]}-{ids[20:32]}{ids[0]}"  # 8-4-4-4-13
        self.jobs[request_id] = {"model": model, "created": time.time(), "extension": extension}
        polling = f"{self.polling_base or str(request.base_url).rstrip('/')}/v2/requests/status/{request_id}"
        if hook:
            self.webhook_urls.append(hook)
            task = asyncio.get_running_loop().create_task(self._deliver(hook, events, request_id,
                                                                        str(request.base_url).rstrip("/")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse({"request_id": request_id, "status": "QUEUED", "polling_url": polling}, status_code=202)

    async def _deliver(self, url: str, events: tuple[str, ...], request_id: str, base: str) -> None:
        """POST the status body at each event asked for, as the job reaches it (once each, no retry)."""
        moments = {"queued": 0.0, "processing": self.queued_for, "completed": self.queued_for + self.processing_for}
        created = self.jobs[request_id]["created"]
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            for event in sorted((e for e in events if e in moments), key=moments.get):
                await asyncio.sleep(max(0.0, created + moments[event] + 0.01 - time.time()))
                try:
                    answer = await client.post(url, json=self._status_body(request_id, base))
                    self.delivered.append((event, answer.status_code))
                except httpx.HTTPError as error:
                    self.delivered.append((event, type(error).__name__))

    async def status(self, request: Request):
        """003's universal status endpoint: QUEUED, PROCESSING, then COMPLETED with output.media_url."""
        self._key(request)
        request_id = request.path_params["request_id"]
        if request_id not in self.jobs:
            raise Refused(404, NOT_FOUND)
        return JSONResponse(self._status_body(request_id, str(request.base_url).rstrip("/")))

    def _status_body(self, request_id: str, base: str) -> dict:
        job = self.jobs[request_id]
        age = time.time() - job["created"]
        status = "QUEUED" if age < self.queued_for else "PROCESSING" if age < self.queued_for + \
            self.processing_for else "COMPLETED"
        done = status == "COMPLETED"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job["created"]))
        ended = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job["created"] + self.queued_for +
                                                                     self.processing_for))
        media = f"{self.media_base or base}/v1/{request_id}/output.{job['extension']}"
        output = {"media_url": [media], "media_type": f"image/{job['extension']}"}
        if self.drift:
            output = {"media_urls": output["media_url"], "media_type": output["media_type"], "seed": 42}
        return {"request_id": request_id, "status": status, "model_id": job["model"], "error": None,
                "output": output if done else None, "created_at": stamp, "updated_at": ended if done else stamp,
                "completed_at": ended if done else None}

    async def media(self, request: Request):
        name = request.path_params["name"]
        size = name.rsplit("-", 1)[-1].split(".")[0] if "x" in name else "1024x1024"
        width, height = (int(part) for part in size.split("x")) if "x" in size else (1024, 1024)
        extension = name.rsplit(".", 1)[-1]
        buffer = io.BytesIO()
        Image.new("RGB", (min(width, 2048), min(height, 2048)), (40, 90, 160)).save(
            buffer, format="JPEG" if extension in ("jpg", "jpeg") else "PNG")
        return Response(buffer.getvalue(), media_type="image/jpeg" if extension in ("jpg", "jpeg") else "image/png")


def _side(value) -> int:
    """A size the pages take (any integer), drawn within what an image can be."""
    return max(16, min(2048, int(value))) if _is_int(value) else 1024
