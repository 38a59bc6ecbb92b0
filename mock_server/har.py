"""HAR 1.2, the one open format of recorded traffic: read (a recording of `flux-mock record`, a browser's
export, mitmproxy's, schemathesis' HAR report) and written (`flux-mock record`), with flux-mock's own facts
under `_fluxMock` in each entry.

One class, `RecordedExchange`, is an exchange of a recording: what the recorder saw (the real values, which
are what is judged) and what a file holds (read back). As HAR 1.2 says, `content.text` is the answer's body
decoded (no Content-Encoding; `encoding: base64` for bytes), `content.size` its decoded length and
`bodySize` the bytes that crossed the wire.

Writing is incremental: after each entry the file is a whole, valid HAR (the closing `]}}` is written after
every entry and overwritten by the next); a file whose writer was killed mid-entry is read up to its torn last
entry. Reading is entry by entry and bounded (MAX_HAR_BYTES, MAX_HAR_ENTRIES, MAX_JSON_DEPTH): a file past a
bound, or holding what HAR 1.2 does not allow, is a one-line UsageError.

Secrets never reach the file: everything written goes through the one redaction policy (redaction.py).
"""

import base64
import binascii
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import ijson
import orjson

from mock_server import __version__
from mock_server.clock import moment_of
from mock_server.encodings import TooLarge, Undecodable, decode
from mock_server.exit_codes import UsageError
from mock_server.redaction import REDACTED, redacted_form, redacted_headers, redacted_json, redacted_url

TRAILER = b"\n]}}\n"
# What an answer rebuilt from a recording must not carry: its body is decoded, and its length is its own.
_ENCODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# Bounds of what is read (docs/reference/bounds.md): past them, a one-line error, never a traceback.
MAX_HAR_BYTES = 512 * 1024 * 1024  # a HAR file
MAX_HAR_ENTRIES = 100_000  # exchanges in one file
PROGRESS_BYTES = 32 * 1024 * 1024  # a file larger than this says how far reading it got, every 10,000 entries
READ_BUFFER = 1024 * 1024  # bytes read at a time: with yajl's 64 KiB default an 8 MiB body read 8x slower
MAX_JSON_DEPTH = 64  # levels of a body judged as JSON: a deeper one is judged as text (and written as it came)
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z: a moment past it is no date
__all__ = ["REDACTED", "HarWriter", "RecordedExchange", "header_in", "iter_har", "json_value", "read_har"]


def header_in(headers, name: str) -> str | None:
    """A header's value from (name, value) pairs, by its lower-case name, any case; None if absent."""
    return next((value for key, value in headers if key.lower() == name), None)


def json_value(content: bytes):
    """A body as JSON (orjson: strict RFC 8259, at most 1,024 levels), None if it is not JSON or nests deeper
    than MAX_JSON_DEPTH levels (the walkers that judge and redact bodies go no deeper)."""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return value if depth_within(value, MAX_JSON_DEPTH) else None


def depth_within(value, limit: int) -> bool:
    """Whether a JSON value nests at most `limit` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return False
            stack.extend((item, depth + 1) for item in (node.values() if isinstance(node, dict) else node))
    return True


def _parsed(content: bytes, content_type: str | None):
    return json_value(content) if "json" in (content_type or "") else None


@dataclass(frozen=True)
class RecordedExchange:
    """One exchange of a recording: the request (its body as sent) and the answer (its body decoded)."""

    method: str
    url: str
    status: int
    request_headers: tuple[tuple[str, str], ...] = ()
    request_content: bytes = b""
    response_headers: tuple[tuple[str, str], ...] = ()
    content: bytes = b""  # decoded (no Content-Encoding), as HAR's content.text holds it
    reason: str = ""
    started: float | None = None  # epoch seconds the request was sent
    waited_ms: float = 0.0  # from the request sent to the answer read
    content_omitted: bool = False  # the file holds none of the answer's bytes (media without --record-media)
    omitted_because: str = ""  # why, if not for that (a body that decodes past the bound, or does not decode)
    body_size: int | None = None  # the answer's bytes on the wire (compressed); None: as `content`
    flux: dict = field(default_factory=dict)  # the entry's _fluxMock facts (empty in another tool's HAR)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The answer's headers (the request's are `request_headers`)."""
        return self.response_headers

    def header(self, name: str) -> str | None:
        """A response header by its (lower-case) name, any case."""
        return header_in(self.response_headers, name)

    def request_header(self, name: str) -> str | None:
        return header_in(self.request_headers, name)

    @property
    def request_body(self):
        """The request's JSON body, its text if it is not JSON; None without one."""
        if not self.request_content:
            return None
        value = json_value(self.request_content)
        return value if value is not None else self.request_content.decode("utf-8", "replace")

    def json(self):
        """The answer's JSON body, or None (not JSON, or not decodable)."""
        return _parsed(self.content, self.header("content-type"))

    def response(self) -> httpx.Response:
        """The answer as httpx has it (its body already decoded, so without Content-Encoding)."""
        headers = [(name, value) for name, value in self.response_headers if name.lower() not in _ENCODING_HEADERS]
        return httpx.Response(self.status, headers=headers, content=self.content)

    # --- HAR 1.2 ---------------------------------------------------------------------------------------
    @classmethod
    def from_har(cls, entry: dict) -> "RecordedExchange":
        """An entry of a HAR file, whoever wrote it; NotAnEntry (saying what) for one that is not a HAR 1.2 entry
        (a status that is no HTTP status, a header name that is no text...)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
                or not isinstance(entry.get("response"), dict):
            raise NotAnEntry("no request and response objects")
        request, response = entry["request"], entry["response"]
        content = response.get("content") if isinstance(response.get("content"), dict) else {}
        headers = _pairs(response.get("headers"))
        body, omitted = _content(content, header_in(headers, "content-encoding"))
        flux = entry.get("_fluxMock")
        return cls(_text(request.get("method"), "request.method").upper(), _text(request.get("url"), "request.url"),
                   _status(response.get("status")), _pairs(request.get("headers")), _post_data(request), headers,
                   body, str(response.get("statusText") or "")[:200], _moment(entry.get("startedDateTime")),
                   _number(entry.get("time")), content_omitted=omitted,
                   flux=dict(flux) if isinstance(flux, dict) else {})

    def to_har(self, facts: dict) -> dict:
        """The HAR entry, every secret redacted; `facts` become its `_fluxMock`."""
        url = redacted_url(self.url)
        request = {"method": self.method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                   "headers": redacted_headers(self.request_headers), "queryString": _query(url),
                   "headersSize": -1, "bodySize": len(self.request_content)}
        if self.request_content:
            content_type = self.request_header("content-type") or ""
            text, encoding = _body_text(self.request_content, content_type)
            request["postData"] = {"mimeType": content_type, "text": text,
                                   **({"encoding": encoding} if encoding else {})}
        content_type = self.header("content-type") or ""
        content = {"size": len(self.content), "mimeType": content_type}
        on_wire = len(self.content) if self.body_size is None else self.body_size
        if self.content_omitted and not self.content and on_wire:  # never decoded: its decoded size is unknown
            content["size"] = on_wire
        elif on_wire != len(self.content):
            content["compression"] = len(self.content) - on_wire
        if self.content_omitted:
            content["comment"] = self.omitted_because or \
                "not recorded (media without --record-media, or beyond --media-max-bytes)"
        else:
            text, encoding = _body_text(self.content, content_type)
            content.update(text=text, **({"encoding": encoding} if encoding else {}))
        response = {"status": self.status, "statusText": self.reason, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": redacted_headers(self.response_headers), "content": content,
                    "redirectURL": self.header("location") or "", "headersSize": -1, "bodySize": on_wire}
        started = datetime.fromtimestamp(min(max(self.started or 0.0, 0.0), LATEST), UTC).isoformat(
            timespec="milliseconds")
        entry = {"startedDateTime": started.replace("+00:00", "Z"), "time": round(self.waited_ms, 3),
                 "request": request, "response": response, "cache": {},
                 "timings": {"send": 0, "wait": round(self.waited_ms, 3), "receive": 0}}
        if facts:
            entry["_fluxMock"] = facts
        return entry


class NotAnEntry(ValueError):
    """A value of a HAR entry that HAR 1.2 does not allow (what, in the message)."""


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise NotAnEntry(f"{where} is {type(value).__name__}, not text")
    return value


def _status(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not 100 <= value <= 599 \
            or value != int(value):
        raise NotAnEntry(f"response.status {str(value)[:40]} is no HTTP status (100-599)")
    return int(value)


def _number(value) -> float:
    """A HAR duration in milliseconds (-1 and absent: unknown, 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e12:
        return 0.0
    return float(value)


def _pairs(headers) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if not isinstance(headers, list):
        raise NotAnEntry("headers is not a list")
    found = []
    for header in headers:
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise NotAnEntry("a header whose name is no text")
        value = header.get("value")
        found.append((header["name"], value if isinstance(value, str) else str(value)))
    return tuple(found)


def _moment(text) -> float | None:
    """Epoch seconds of startedDateTime; None where it is missing or no date (past year 9999, before 1970)."""
    try:
        moment = moment_of(str(text))
    except (ValueError, OverflowError):
        return None
    return moment if 0 <= moment <= LATEST else None


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise NotAnEntry("a body marked base64 that is not") from None


def _content(content: dict, encoding: str | None) -> tuple[bytes, bool]:
    """(the answer's bytes, decoded as HAR 1.2 has them; whether the file holds none of them). A body another
    tool kept still encoded (its Content-Encoding's bytes) is decoded here, within MAX_DECODED."""
    text = content.get("text")
    if not isinstance(text, str) or not text:
        return b"", bool(content.get("size"))
    body = _base64(text) if content.get("encoding") == "base64" else text.encode("utf-8", "surrogatepass")
    if encoding:
        try:
            body = decode(body, encoding)
        except Undecodable:
            pass  # decoded already, as HAR 1.2 says
        except TooLarge:
            return b"", True  # a body past the bound is read as one the file does not hold
    return body, False


def _post_data(request: dict) -> bytes:
    post = request.get("postData") if isinstance(request.get("postData"), dict) else {}
    text = post.get("text")
    if not isinstance(text, str):
        return b""
    return _base64(text) if post.get("encoding") == "base64" else text.encode("utf-8", "surrogatepass")


def say(line: str) -> None:
    """A line for the person running the command (stderr): a warning or progress, never the result."""
    print(f"flux-mock: {line}", file=sys.stderr, flush=True)


def read_har(path: str | Path, option: str = "--har", progress: Callable[[int], None] | None = None,
             warn: Callable[[str], None] = say) -> list[RecordedExchange]:
    """The recording's exchanges, in order (iter_har's, in a list)."""
    return list(iter_har(path, option, progress, warn))


def iter_har(path: str | Path, option: str = "--har", progress: Callable[[int], None] | None = None,
             warn: Callable[[str], None] = say) -> Iterator[RecordedExchange]:
    """The recording's exchanges, read entry by entry (bounded: MAX_HAR_BYTES, MAX_HAR_ENTRIES); a UsageError
    (one line) for a file that is not a HAR, an entry HAR 1.2 does not allow, or a bound passed. A file whose last
    entry is torn (its writer killed mid-write) gives the entries before it, and `warn` says so (on stderr unless
    told otherwise). `progress(n)` hears every 10,000 entries (by default, a file of more than PROGRESS_BYTES
    says so on stderr)."""
    try:
        size = Path(path).stat().st_size
        file = open(path, "rb")
    except OSError as error:
        raise UsageError(f"{option} {path}: {error.strerror or error}") from None
    if size > MAX_HAR_BYTES:
        file.close()
        raise UsageError(f"{option} {path} is {size / 2**20:,.0f} MiB, more than the {MAX_HAR_BYTES // 2**20} MiB a "
                         "HAR may take here: record shorter sessions, or split the file")
    if progress is None and size > PROGRESS_BYTES:
        progress = lambda count: say(f"{option} {path}: {count:,} entries read")  # noqa: E731
    number = 0
    with file:
        try:
            for number, entry in enumerate(ijson.items(file, "log.entries.item", use_float=True,
                                                                buf_size=READ_BUFFER), 1):
                if number > MAX_HAR_ENTRIES:
                    raise UsageError(f"{option} {path} holds more than {MAX_HAR_ENTRIES:,} entries: split it")
                try:
                    yield RecordedExchange.from_har(entry)
                except NotAnEntry as error:
                    raise UsageError(f"{option} {path}: entry {number} is not a HAR 1.2 entry: {error}"[:300]) from None
                if progress is not None and number % 10_000 == 0:
                    progress(number)
        except ijson.IncompleteJSONError as error:
            if "premature EOF" in str(error) and (number or _has_entries(path)):
                warn(f"{option} {path} ends in a torn entry (its writer stopped mid-write): the {number} entries "
                     "before it are read")
                return
            raise UsageError(f"{option} {path} is not a HAR 1.2 file: {' '.join(str(error).split())}"[:300]) from None
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as error:
            raise UsageError(f"{option} {path} is not a HAR 1.2 file: {type(error).__name__}: "
                             f"{' '.join(str(error).split())}"[:300]) from None
    if number == 0 and not _has_entries(path):
        raise UsageError(f"{option} {path} is not a HAR 1.2 file (log.entries with request and response)")


def _has_entries(path) -> bool:
    """Whether the file has a log.entries list at all (an empty one is an empty recording)."""
    with open(path, "rb") as file:
        try:
            return any(prefix == "log.entries" and event == "start_array" for prefix, event, _ in
                       ijson.parse(file, buf_size=READ_BUFFER))
        except (ijson.JSONError, UnicodeDecodeError, ValueError):
            return False


# --- what may be written -----------------------------------------------------------------------------------

def _body_text(content: bytes, content_type: str) -> tuple[str, str | None]:
    """(text, encoding) of a body for the file: JSON and forms with their secrets redacted, other text as it
    is, binary as base64."""
    if "json" in content_type:
        value = json_value(content)
        if value is not None:
            redacted = redacted_json(value)
            if redacted != value:
                return json.dumps(redacted), None
    if "x-www-form-urlencoded" in content_type:
        try:
            return redacted_form(content.decode()), None
        except UnicodeDecodeError:
            pass
    if content_type.startswith("text/") or "json" in content_type or "yaml" in content_type:
        try:
            return content.decode(), None
        except UnicodeDecodeError:
            pass
    return base64.b64encode(content).decode(), "base64"


def _query(url: str) -> list[dict]:
    return [{"name": name, "value": value} for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


class HarWriter:
    """Appends entries to a HAR file, which is whole and valid after every entry. Thread-safe."""

    def __init__(self, path: str | Path, replace: bool = False) -> None:
        self.path = Path(path)
        self.count = 0
        self._lock = threading.Lock()
        try:
            self._file = open(self.path, "wb" if replace else "xb")
        except FileExistsError:
            raise UsageError(f"--out {path} exists already (pass --force to write over it)") from None
        except OSError as error:
            raise UsageError(f"--out {path}: {error.strerror or error}") from None
        head = {"version": "1.2", "creator": {"name": "flux-mock", "version": __version__}, "pages": []}
        self._file.write(json.dumps({"log": head})[:-2].encode() + b', "entries": [')
        self._end = self._file.tell()
        self._finish()

    def _finish(self) -> None:
        self._file.write(TRAILER)
        self._file.truncate()
        self._file.flush()  # a crash of this process loses nothing written (the page cache keeps it)

    def write(self, entry: dict) -> None:
        line = json.dumps(entry).encode()  # ASCII escapes: a lone surrogate in an answer is still written
        with self._lock:
            self._file.seek(self._end)
            self._file.write((b"\n" if self.count == 0 else b",\n") + line)
            self._end = self._file.tell()
            self.count += 1
            self._finish()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()
