"""HTTP content codings (gzip, deflate, br), decoded within a bound and encoded again: what the recorder does to a
real answer before it judges and records it (HAR holds answers decoded), what the HAR reader does to a body
another tool kept encoded, and what replay does for an app that accepts an encoding. A small compressed body
can expand a thousandfold (a "bomb"): decoding stops, with `TooLarge`, once `limit` bytes came out, whatever
went in."""

import gzip
import zlib

import brotli

MAX_DECODED = 64 * 1024 * 1024  # bytes a decoded body may take (answers, HAR bodies): beyond, TooLarge
CHUNK = 64 * 1024
IDENTITY = ("", "identity")
KNOWN = ("gzip", "x-gzip", "deflate", "br")


class Undecodable(ValueError):
    """The body is not what its Content-Encoding says (or names an encoding not known here)."""


class TooLarge(ValueError):
    """Decoded, the body would be larger than the limit."""


def codings(header: str | None) -> list[str]:
    """The codings a Content-Encoding header names, in the order they were applied."""
    return [part.strip().lower() for part in (header or "").split(",") if part.strip().lower() not in IDENTITY]


def decode(content: bytes, header: str | None, limit: int = MAX_DECODED) -> bytes:
    """The body with every coding of `header` undone (the last applied first); TooLarge past `limit` bytes,
    Undecodable for bytes that are not what the header says."""
    for coding in reversed(codings(header)):
        content = _decode_one(content, coding, limit)
    return content


def _decode_one(content: bytes, coding: str, limit: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(content, zlib.MAX_WBITS | 16, limit, coding)
    if coding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw deflate as some servers send it
        try:
            return _inflate(content, zlib.MAX_WBITS, limit, coding)
        except Undecodable:
            return _inflate(content, -zlib.MAX_WBITS, limit, coding)
    if coding == "br":
        return _unbrotli(content, limit)
    raise Undecodable(f"an unknown content coding {coding[:40]!r}")


def _inflate(content: bytes, window: int, limit: int, coding: str) -> bytes:
    decoder, out, size = zlib.decompressobj(window), [], 0
    pending = content
    try:
        while pending:
            piece = decoder.decompress(pending, CHUNK)
            size += len(piece)
            if size > limit:
                raise TooLarge(f"decoded ({coding}), the body is larger than {limit} bytes")
            out.append(piece)
            pending = decoder.unconsumed_tail
            if decoder.eof:
                break
        rest = decoder.flush(CHUNK)
    except zlib.error as error:
        raise Undecodable(f"not {coding}: {error}") from None
    if size + len(rest) > limit:
        raise TooLarge(f"decoded ({coding}), the body is larger than {limit} bytes")
    out.append(rest)
    return b"".join(out)


def _unbrotli(content: bytes, limit: int) -> bytes:
    decoder, out, size = brotli.Decompressor(), [], 0
    try:
        piece = decoder.process(content, output_buffer_limit=CHUNK)
        while True:
            size += len(piece)
            if size > limit:
                raise TooLarge(f"decoded (br), the body is larger than {limit} bytes")
            out.append(piece)
            if decoder.is_finished() or not piece:  # done, or the input ran out (a truncated body: as far as it goes)
                break
            piece = decoder.process(b"", output_buffer_limit=CHUNK)
    except brotli.error as error:
        raise Undecodable(f"not br: {error}") from None
    return b"".join(out)


def encode(content: bytes, coding: str) -> bytes:
    """The body in one coding (as replay answers an app that accepts it)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(content, compresslevel=5, mtime=0)
    if coding == "deflate":
        return zlib.compress(content, 5)
    if coding == "br":
        return brotli.compress(content, quality=5)
    raise Undecodable(f"an unknown content coding {coding[:40]!r}")


def accepted(accept_encoding: str | None, coding: str) -> bool:
    """Whether an Accept-Encoding header takes this coding (q=0 refuses it; * takes any)."""
    for part in (accept_encoding or "").split(","):
        name, _, parameters = part.strip().lower().partition(";")
        if name.strip() in (coding, "*"):
            quality = parameters.strip().removeprefix("q=")
            try:
                return not parameters or float(quality) > 0
            except ValueError:
                return True
    return False
