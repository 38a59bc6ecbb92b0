"""Bodies read within a size limit: a request's (decoded as strict RFC 8259 JSON, with a 4xx that names the
problem for anything else), and an upstream's answer (`read_within`)."""

import asyncio
from collections.abc import AsyncIterator

import orjson

from mock_server.errors import BadRequest, PayloadTooLarge

JSON_TYPES = ("application/json",)


async def read_within(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """An answer's body read from its chunks, stopped (OverflowError) as soon as it passes `limit` bytes: never
    held whole beyond the bound."""
    kept, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise OverflowError(f"an answer larger than {limit} bytes")
        kept.append(chunk)
    return b"".join(kept)


async def read_up_to(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The first `limit` bytes of an answer; the rest is never read (the answer is closed by its caller)."""
    kept, size = [], 0
    async for chunk in chunks:
        kept.append(chunk[:limit - size])
        size += len(kept[-1])
        if size >= limit:
            break
    return b"".join(kept)


async def read_body_bytes(receive, headers: dict[str, str], limit: int, timeout: float | None = None) -> bytes:
    """The raw body; 413 beyond `limit` bytes (declared or sent), 400 if it does not arrive within `timeout` s
    (a body that never ends holds no connection for ever)."""
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge(limit) if declared.isdigit() else BadRequest("Content-Length is not a number")
    first = await receive()  # almost always the whole body, already read: no timer for it
    if first["type"] == "http.request" and not first.get("more_body", False):
        body = first.get("body", b"")
        if len(body) > limit:
            raise PayloadTooLarge(limit)
        return body
    try:
        async with asyncio.timeout(timeout):
            return await _chunks(receive, limit, first)
    except TimeoutError:
        raise BadRequest(f"the request body did not arrive within {timeout:g} s") from None


async def _chunks(receive, limit: int, first: dict) -> bytes:
    chunks, size, message = [], 0, first
    while True:
        if message["type"] == "http.disconnect":
            raise BadRequest("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


async def read_json_body(receive, headers: dict[str, str], limit: int, timeout: float | None = None):
    """The decoded JSON body; 413 beyond `limit` bytes, 400 for malformed JSON. A body sent with another
    Content-Type (or none) is read as JSON all the same, as a lenient gateway would (the pages only ever send
    application/json): the validation journals it; one that is no JSON is a 400 naming the Content-Type."""
    raw = await read_body_bytes(receive, headers, limit, timeout)
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        try:
            return parse_json(raw)
        except BadRequest:
            raise BadRequest(f"Content-Type must be application/json, not {media_type or 'missing'}") from None
    return parse_json(raw)


def parse_json(raw: bytes):
    """The decoded body; BadRequest naming the problem for anything that is not RFC 8259 JSON in UTF-8
    (orjson refuses NaN, Infinity, numbers out of range, lone surrogates, a BOM, nesting beyond 1024)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        message = str(error)
        if "UTF-8" in message and "BOM" not in message:
            raise BadRequest(f"the request body is not valid UTF-8 ({message})") from None
        raise BadRequest(f"malformed JSON: {message}") from None


ABSENT = object()  # what field_at finds where a body has no such field


def field_at(body, path: str):
    """The value at a dotted path of a JSON body (`output.format`), or ABSENT."""
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return ABSENT
        body = body[part]
    return body


def request_id_in(body):
    """The request id a JSON body names (`request_id`, or `requestId` as Batch and the polling APIs spell it),
    or None."""
    if isinstance(body, dict):
        return body.get("request_id") or body.get("requestId") or None
    return None


def job_status_in(body) -> str | None:
    """The job status an answer of any polling API reports, in the queue API's vocabulary (upper case): its
    `status`, else, for a fal-style result (`images` and no status), COMPLETED. The status said wins: a FAILED
    answer carrying an undocumented `images` field is FAILED (it was read as COMPLETED, a final status changing)."""
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(status, str):
        return status.upper()
    return "COMPLETED" if "images" in body else None
