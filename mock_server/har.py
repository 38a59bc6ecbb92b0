"""HAR 1.2, the one open format of recorded traffic: read (a recording of `flux-mock record`, a browser's
export, mitmproxy's, schemathesis' HAR report) and written (`flux-mock record`), with flux-mock's own facts
under `_fluxMock` in each entry.

One class, `RecordedExchange`, is an exchange of a recording: what the recorder saw (the real values, which
are what is judged) and what a file holds (read back). As HAR 1.2 says, `content.text` is the answer's body
decoded (no Content-Encoding; `encoding: base64` for bytes), `content.size` its decoded length and
`bodySize` the bytes that crossed the wire.

Writing is incremental: after each entry the file is a whole, valid HAR (the closing `]}}` is written after
every entry and overwritten by the next), so a crash loses at most the exchange in flight.

Secrets never reach the file: the key headers, `Authorization`, cookies, the `subscription-key` query
parameter (and any key-, token- or secret-named one) and the query strings of webhook URLs, in headers and
JSON bodies alike, are written as `[redacted]`.
"""

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from mock_server import __version__
from mock_server.clock import moment_of
from mock_server.exit_codes import UsageError

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"ocp-apim-subscription-key", "x-secret-key", "authorization", "proxy-authorization",
                            "cookie", "set-cookie", "x-admin-token"})
SECRET_PARAMETER = re.compile(r"key|token|secret|signature|password", re.IGNORECASE)
WEBHOOK_FIELD = re.compile(r"webhook|callback", re.IGNORECASE)
TRAILER = b"\n]}}\n"
# What an answer rebuilt from a recording must not carry: its body is decoded, and its length is its own.
_ENCODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def header_in(headers, name: str) -> str | None:
    """A header's value from (name, value) pairs, by its lower-case name, any case; None if absent."""
    return next((value for key, value in headers if key.lower() == name), None)


def _parsed(content: bytes, content_type: str | None):
    if "json" not in (content_type or ""):
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


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
        """The request's JSON body; its text if it is not JSON; None without one."""
        if not self.request_content:
            return None
        try:
            return json.loads(self.request_content)
        except ValueError:
            return self.request_content.decode("utf-8", "replace")

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
        request, response = entry["request"], entry["response"]
        content = response.get("content") or {}
        return cls(request["method"].upper(), request["url"], int(response["status"]),
                   _pairs(request.get("headers")), _post_data(request), _pairs(response.get("headers")),
                   _content(content), str(response.get("statusText") or ""), _moment(entry.get("startedDateTime")),
                   float(entry.get("time") or 0), content_omitted=bool(content.get("size")) and not content.get("text"),
                   flux=dict(entry.get("_fluxMock") or {}))

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
        if on_wire != len(self.content):
            content["compression"] = len(self.content) - on_wire
        if self.content_omitted:
            content["comment"] = "not recorded (media without --record-media, or beyond --media-max-bytes)"
        else:
            text, encoding = _body_text(self.content, content_type)
            content.update(text=text, **({"encoding": encoding} if encoding else {}))
        response = {"status": self.status, "statusText": self.reason, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": redacted_headers(self.response_headers), "content": content,
                    "redirectURL": self.header("location") or "", "headersSize": -1, "bodySize": on_wire}
        started = datetime.fromtimestamp(self.started or 0.0, UTC).isoformat(timespec="milliseconds")
        entry = {"startedDateTime": started.replace("+00:00", "Z"), "time": round(self.waited_ms, 3),
                 "request": request, "response": response, "cache": {},
                 "timings": {"send": 0, "wait": round(self.waited_ms, 3), "receive": 0}}
        if facts:
            entry["_fluxMock"] = facts
        return entry


def _pairs(headers) -> tuple[tuple[str, str], ...]:
    return tuple((h["name"], h["value"]) for h in headers or ())


def _moment(text) -> float | None:
    try:
        return moment_of(str(text))
    except ValueError:
        return None


def _content(content: dict) -> bytes:
    text = content.get("text") or ""
    return base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()


def _post_data(request: dict) -> bytes:
    post = request.get("postData") or {}
    text = post.get("text") or ""
    return base64.b64decode(text) if post.get("encoding") == "base64" else text.encode()


def read_har(path: str | Path, option: str = "--har") -> list[RecordedExchange]:
    """The recording's exchanges, in order; a UsageError (one line) for a file that is not a HAR."""
    try:
        return [RecordedExchange.from_har(entry) for entry in json.loads(Path(path).read_text())["log"]["entries"]]
    except OSError as error:
        raise UsageError(f"{option} {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"{option} {path} is not a HAR 1.2 file (log.entries with request and response): "
                         f"{type(error).__name__}: {error}"[:300]) from None


# --- what may be written -----------------------------------------------------------------------------------

def redacted_url(url: str, whole_query: bool = False) -> str:
    """The URL with secret-named query parameters (or, for a webhook URL, the whole query) redacted."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    if whole_query:
        return urlunsplit(parts._replace(query=REDACTED))
    pairs = [(name, REDACTED if SECRET_PARAMETER.search(name) else value)
             for name, value in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="[]")))


def redacted_headers(headers) -> list[dict]:
    """HAR name/value pairs, secret headers redacted, a webhook URL header's query redacted."""
    return [{"name": name, "value": REDACTED if name.lower() in SECRET_HEADERS else
             redacted_url(value, whole_query=True) if WEBHOOK_FIELD.search(name) else value}
            for name, value in headers]


def redacted_json(value, name: str = ""):
    """A JSON value with each webhook URL's query string redacted (at any depth)."""
    if isinstance(value, dict):
        return {key: redacted_json(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted_json(item, name) for item in value]
    if isinstance(value, str) and WEBHOOK_FIELD.search(name) and "://" in value:
        return redacted_url(value, whole_query=True)
    return value


def _body_text(content: bytes, content_type: str) -> tuple[str, str | None]:
    """(text, encoding) of a body for the file: JSON with webhook URLs redacted, other text as it is, binary
    as base64."""
    if "json" in content_type:
        try:
            value = json.loads(content)
            redacted = redacted_json(value)
            if redacted != value:
                return json.dumps(redacted, ensure_ascii=False), None
        except ValueError:
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
        line = json.dumps(entry, ensure_ascii=False).encode()
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
