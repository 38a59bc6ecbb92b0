"""HAR 1.2, the one open format of recorded traffic: read (a recording of `flux-mock record`, a browser's
export, schemathesis' HAR report) and written (`flux-mock record`), with flux-mock's own facts under
`_fluxMock` in each entry.

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


@dataclass(frozen=True)
class Recorded:
    """One exchange of a recording, as replay and the judging need it."""

    method: str
    url: str
    path: str
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    request_body: object
    started: datetime | None
    request_headers: tuple[tuple[str, str], ...] = ()
    flux: dict = field(default_factory=dict)  # the entry's _fluxMock facts (empty in another tool's HAR)
    content_omitted: bool = False  # the answer's bytes were not recorded (media without --record-media)

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=list(self.headers), content=self.content)

    def header(self, name: str) -> str | None:
        """A response header by its (lower-case) name, any case."""
        return header_in(self.headers, name)

    def json(self):
        """The answer's JSON body, or None (not JSON, or not decodable)."""
        if "json" not in (self.header("content-type") or ""):
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            return None


def _moment(text) -> datetime | None:
    try:
        return datetime.fromtimestamp(moment_of(str(text)), UTC)
    except ValueError:
        return None


def _content(response: dict) -> bytes:
    content = response.get("content") or {}
    text = content.get("text") or ""
    return base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()


def _request_body(request: dict):
    text = (request.get("postData") or {}).get("text")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _recorded(entry: dict) -> Recorded:
    request, response = entry["request"], entry["response"]
    content = response.get("content") or {}
    return Recorded(request["method"].upper(), request["url"], urlsplit(request["url"]).path,
                    int(response["status"]), tuple((h["name"], h["value"]) for h in response.get("headers") or ()),
                    _content(response), _request_body(request), _moment(entry.get("startedDateTime")),
                    tuple((h["name"], h["value"]) for h in request.get("headers") or ()),
                    dict(entry.get("_fluxMock") or {}),
                    content_omitted=bool(content.get("size")) and not content.get("text"))


def read_har(path: str | Path, option: str = "--har") -> list[Recorded]:
    """The recording's exchanges, in order; a UsageError (one line) for a file that is not a HAR."""
    try:
        return [_recorded(entry) for entry in json.loads(Path(path).read_text())["log"]["entries"]]
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


def header_in(headers, name: str) -> str | None:
    """A header's value from (name, value) pairs, by its lower-case name, any case; None if absent."""
    return next((value for key, value in headers if key.lower() == name), None)


def _query(url: str) -> list[dict]:
    return [{"name": name, "value": value} for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


@dataclass(frozen=True)
class Exchange:
    """What a recorder saw of one exchange, before anything is redacted."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes  # decoded (no Content-Encoding), as HAR's content.text holds it
    started: float  # epoch seconds
    waited_ms: float  # from the request sent to the answer read
    keep_body: bool = True  # False: the answer's bytes are left out (its size is kept)

    def recorded(self) -> Recorded:
        """As a reader of the file will see it (what the judging is given)."""
        return _recorded(self.entry({}))

    def entry(self, facts: dict) -> dict:
        """The HAR entry, every secret redacted; `facts` become its `_fluxMock`."""
        url = redacted_url(self.url)
        request = {"method": self.method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                   "headers": redacted_headers(self.request_headers), "queryString": _query(url),
                   "headersSize": -1, "bodySize": len(self.request_body)}
        if self.request_body:
            content_type = header_in(self.request_headers, "content-type") or ""
            text, encoding = _body_text(self.request_body, content_type)
            request["postData"] = {"mimeType": content_type, "text": text,
                                   **({"encoding": encoding} if encoding else {})}
        content_type = header_in(self.response_headers, "content-type") or ""
        content = {"size": len(self.response_body), "mimeType": content_type}
        if self.keep_body:
            text, encoding = _body_text(self.response_body, content_type)
            content.update(text=text, **({"encoding": encoding} if encoding else {}))
        else:
            content["comment"] = "not recorded (media without --record-media, or beyond --media-max-bytes)"
        response = {"status": self.status, "statusText": self.reason, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": redacted_headers(self.response_headers), "content": content,
                    "redirectURL": header_in(self.response_headers, "location") or "", "headersSize": -1,
                    "bodySize": len(self.response_body)}
        started = datetime.fromtimestamp(self.started, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = {"startedDateTime": started, "time": round(self.waited_ms, 3), "request": request,
                 "response": response, "cache": {},
                 "timings": {"send": 0, "wait": round(self.waited_ms, 3), "receive": 0}}
        if facts:
            entry["_fluxMock"] = facts
        return entry


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
