"""Replay (`serve --replay FILE`): a request that was recorded gets its recorded answer, offline.

A request is matched by method, path and JSON body (keys and webhook URLs ignored; a job's id stands as
`{job}`). The same request recorded several times answers with each recorded answer in turn, then the last
again: a job's polls replay its recorded status sequence poll by poll, in order, and no poll runs ahead of
the recorded time since the submit on the mock's clock (divided by `replay_speed`; 0: no waiting).

A replayed submit gets a new request id (the recorded id with a fresh UUID); answers name it, and every URL
in them leads back to the mock: API paths as they are, media to `/replayed-media/N/NAME`, which serves the
recorded bytes, or an image rendered in the file's format where the recording kept none.

A recording's webhook deliveries (`record` relays and writes them: `_fluxMock.webhook`) are delivered again: a
replayed submit that names a webhook URL gets its recorded job's deliveries there, each at its recorded offset
from the submit on the mock's clock (divided by `replay_speed`), its body rewritten as answers are, by the
mock's webhook dispatcher (its policy, retries, `Webhook-Id` and journal). One delivery per event is replayed
(the first recorded): the API's retries are the dispatcher's to make again.

An unmatched request is the spec-driven mock's to answer, journaled as `unrecorded` with the closest
recorded request (`replay_strict`: a 404 naming it instead).
"""

import difflib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from mock_server.bodies import request_id_in
from mock_server.encodings import KNOWN, codings
from mock_server.ids import gateway_id
from mock_server.errors import EndpointNotFound
from mock_server.har import RecordedExchange, read_har
from mock_server.redaction import is_webhook_name, redacted_url
from mock_server.operations.matcher import OperationMatcher
from mock_server.store.records import Delivery

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12,13}", re.IGNORECASE)  # the gateway's: 13
URL = re.compile(r"https?://[^/\s\"'<>]+(?:/[^\s\"'<>]*)?")
LEFT_OUT_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
                              "date", "server", "set-cookie", "vary"})
JOB = "{job}"
CLOSEST_AMONG = 200  # recorded requests compared when naming the closest one (bounds an unmatched call's cost)


class NotRecorded(EndpointNotFound):
    """`--replay-strict`: no recorded request matches (the message names the closest one)."""

    error = "Not recorded"


@dataclass(frozen=True)
class Request:
    """A request as replay matches it: method, path and canonical JSON body, a job's id as {job}."""

    method: str
    path: str
    body: str

    def line(self) -> str:
        return f"{self.method} {self.path}" + (f" {self.body[:120]}" if self.body else "")


@dataclass(frozen=True)
class RecordedDelivery:
    """A webhook delivery a recording holds: its event, its offset from the job's submit (seconds) and body."""

    event: str
    offset: float
    content: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes  # decoded, as the recording holds it
    offset: float  # seconds after the submit of the job it concerns (0 for a request of no job)
    starts: str | None  # the recorded request id of the job this answer starts (a submit's)
    encoding: str | None = None  # the content coding it was sent in (gzip, br...): an app that accepts it gets it


def _job_id(body) -> str | None:
    named = request_id_in(body)
    return named if isinstance(named, str) else None


def _normalised(value, jobs, name: str = ""):
    """The body with job ids as {job} and webhook URLs ignored; (the value, the job id it names or None)."""
    if isinstance(value, dict):
        found, items = None, {}
        for key, item in value.items():
            items[key], named = _normalised(item, jobs, key)
            found = found or named
        return items, found
    if isinstance(value, list):
        pairs = [_normalised(item, jobs, name) for item in value]
        return [item for item, _ in pairs], next((named for _, named in pairs if named), None)
    if isinstance(value, str) and is_webhook_name(name):
        return "{webhook}", None
    if isinstance(value, str) and value in jobs:
        return JOB, value
    return value, None


def normalised_request(method: str, path: str, body, jobs) -> tuple[Request, str | None]:
    """The request as matched, and the job id it names (`jobs`: the ids that count as a job's)."""
    segments = [JOB if segment in jobs else segment for segment in path.split("/")]
    named = next((segment for segment in path.split("/") if segment in jobs), None)
    value, in_body = _normalised(body, jobs) if body is not None else (None, None)
    text = json.dumps(value, sort_keys=True, separators=(",", ":")) if value is not None else ""
    return Request(method, "/".join(segments), text), named or in_body


class Recording:
    """What the HAR files recorded, indexed for replay (read once at start)."""

    def __init__(self, exchanges: list[RecordedExchange], matcher: OperationMatcher) -> None:
        self._matcher, self.exchanges = matcher, exchanges
        answers = [exchange.json() for exchange in exchanges]  # each answer parsed once
        jobs = {job for answered in answers if (job := _job_id(answered))}
        self.sequences: dict[tuple[str | None, Request], list[Answer]] = {}
        self.media: dict[str, int] = {}  # a media URL an answer named -> its number
        self.downloads: dict[int, RecordedExchange] = {}
        self.deliveries: dict[str, list[RecordedDelivery]] = {}  # recorded job -> its webhooks, by offset
        started: dict[str, float] = {}  # recorded job -> when its submit was sent
        downloads = {}
        for exchange, answered in zip(exchanges, answers):
            if exchange.flux.get("webhook"):
                continue
            if not self.is_api(exchange.path):
                downloads.setdefault(redacted_url(exchange.url), exchange)
                continue
            request, job = normalised_request(exchange.method, exchange.path, exchange.request_body, jobs)
            starts = _job_id(answered) if job is None else None
            moment = exchange.started or 0.0
            if starts:
                started.setdefault(starts, moment)
            offset = max(0.0, moment - started.get(job, moment)) if job else 0.0
            headers = tuple((k, v) for k, v in exchange.headers if k.lower() not in LEFT_OUT_HEADERS)
            coding = next((c for c in codings(exchange.header("content-encoding")) if c in KNOWN), None)
            self.sequences.setdefault((job, request), []).append(
                Answer(exchange.status, headers, exchange.content, offset, starts, coding))
            for url in URL.findall(exchange.content.decode("utf-8", "replace")) if answered is not None else ():
                if not self.is_api(urlsplit(url).path):
                    self.media.setdefault(url, len(self.media))
        self._index_deliveries(exchanges, started)
        for url, number in self.media.items():
            recorded = downloads.get(redacted_url(url))
            if recorded is not None and recorded.status == 200 and not recorded.content_omitted:
                self.downloads[number] = recorded

    def _index_deliveries(self, exchanges: list[RecordedExchange], started: dict[str, float]) -> None:
        """The recorded deliveries of each job (the first of each event), in the order of their offsets."""
        for exchange in exchanges:
            body = exchange.request_body if exchange.flux.get("webhook") else None
            job = _job_id(body) or exchange.flux.get("requestId")
            status = body.get("status") if isinstance(body, dict) else None
            if not isinstance(job, str) or not isinstance(status, str):
                continue
            offset = exchange.flux.get("offset")
            if not isinstance(offset, (int, float)) or isinstance(offset, bool) or not 0 <= offset < 86_400:
                offset = max(0.0, (exchange.started or 0.0) - started.get(job, exchange.started or 0.0))
            for url in URL.findall(exchange.request_content.decode("utf-8", "replace")):
                if not self.is_api(urlsplit(url).path):
                    self.media.setdefault(url, len(self.media))  # media a webhook named: served as an answer's
            held = self.deliveries.setdefault(job, [])
            if all(delivery.event != status.lower() for delivery in held):
                held.append(RecordedDelivery(status.lower(), float(offset), exchange.request_content))
        for held in self.deliveries.values():
            held.sort(key=lambda delivery: delivery.offset)

    def is_api(self, path: str) -> bool:
        return self._matcher.is_api(path)

    def with_exchange(self, exchange: RecordedExchange) -> "Recording":
        """This recording with one more exchange (learned on a miss), indexed again as a whole."""
        return Recording([*self.exchanges, exchange], self._matcher)

    def closest(self, request: Request) -> str:
        """The recorded request nearest `request` (the same path with the fewest differing body fields, else the
        most alike path), and what differs."""
        candidates = [recorded for _, recorded in self.sequences if recorded.method == request.method] or \
            [recorded for _, recorded in self.sequences]
        if not candidates:
            return "nothing was recorded"
        same_path = [recorded for recorded in candidates if recorded.path == request.path][:CLOSEST_AMONG]
        if same_path:
            asked = _fields(request.body)
            best = min(same_path, key=lambda recorded: len(_differing(_fields(recorded.body), asked)))
            return f"{best.method} {best.path} with {_body_difference(best.body, request.body)}"
        paths = list(dict.fromkeys(recorded.path for recorded in candidates))[:CLOSEST_AMONG]
        nearest = max(paths, key=lambda path: difflib.SequenceMatcher(None, path, request.path).ratio())
        method = next(recorded.method for recorded in candidates if recorded.path == nearest)
        return f"{method} {nearest} (another path)"


def _fields(body: str) -> dict:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {"(body)": body}
    return value if isinstance(value, dict) else {"(body)": value}


def _differing(old: dict, new: dict) -> list[str]:
    return [f"body.{name}" for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]


def _body_difference(recorded: str, asked: str) -> str:
    differing = _differing(_fields(recorded), _fields(asked))
    return f"{', '.join(differing[:5])} different" if differing else "the same body"


def read_recordings(paths, operations) -> Recording:
    exchanges = [exchange for path in paths for exchange in read_har(path, option="--replay")]
    return Recording(exchanges, OperationMatcher(operations))


@dataclass
class _Job:
    recorded: str  # the recorded request id it replays
    submitted: float  # on the mock's clock


class Replay:
    """Answers from a Recording for one mock: which replayed job is which, and where each sequence stands.
    Bounded: beyond `max_jobs` replayed jobs the oldest is forgotten."""

    def __init__(self, recording: Recording, speed: float = 1.0, strict: bool = False, max_jobs: int = 100_000):
        self.recording, self.speed, self.strict, self.max_jobs = recording, speed, strict, max_jobs
        self._stale: dict[int, tuple[str, ...]] = {}  # id of a recorded answer -> how the specs now reject it
        self.reset()

    def reset(self) -> None:
        self._jobs: OrderedDict[str, _Job] = OrderedDict()  # minted id -> the job it replays
        self._cursors: dict[tuple[str | None, Request], int] = {}

    def find(self, method: str, path: str, body) -> tuple[Request, str | None, list[Answer] | None]:
        """The request as matched, the replayed job it names (a minted id) and its recorded answers (None:
        not recorded)."""
        request, minted = normalised_request(method, path, body, self._jobs)
        recorded = self._jobs[minted].recorded if minted else None
        return request, minted, self.recording.sequences.get((recorded, request))

    def next_answer(self, request: Request, minted: str | None, answers: list[Answer],
                    now: float) -> tuple[int, Answer]:
        """(its place, 1-based; the answer) for this call: the next of the sequence once its recorded time
        has come, else the current one again; the last once the sequence is over."""
        key = (minted, request)
        current = self._cursors.get(key, -1)
        following = min(current + 1, len(answers) - 1)
        if current >= 0 and following > current and minted and self.speed > 0:
            due = self._jobs[minted].submitted + answers[following].offset / self.speed
            if now < due:
                following = current
        self._cursors[key] = following
        return following + 1, answers[following]

    def mint(self, recorded: str, now: float) -> str:
        """A new request id for a replayed job of `recorded` (its UUID, or a suffix, made fresh)."""
        fresh = gateway_id(now)
        minted = UUID.sub(fresh, recorded, count=1) if UUID.search(recorded) else f"{recorded}-{fresh[-8:]}"
        self._jobs[minted] = _Job(recorded, now)
        while len(self._jobs) > self.max_jobs:
            forgotten, _ = self._jobs.popitem(last=False)
            self._cursors = {key: value for key, value in self._cursors.items() if key[0] != forgotten}
        return minted

    def learn(self, exchange: RecordedExchange) -> None:
        """--on-miss upstream: what the upstream answered an unrecorded request is recorded from now on."""
        self.recording = self.recording.with_exchange(exchange)

    def stale(self, answer: Answer, operation, judge) -> tuple[str, ...]:
        """How a recorded answer departs from the current specs (judged once per answer: the recording and the
        specs do not change while serving)."""
        found = self._stale.get(id(answer))
        if found is None:
            found = self._stale[id(answer)] = tuple(judge(operation, answer.status, answer.headers, answer.content))
        return found

    def rewritten(self, answer: Answer, minted: str | None, base: str, now: float) -> tuple[bytes, str | None]:
        """The answer's body for this mock: every URL leading back to the mock (looked up as recorded, before any
        id in it changes: a media URL may hold the job's id), then the replayed job's id for the recorded one (a
        submit's job minted now); and the request id the answer names."""
        try:
            text = answer.content.decode()
        except UnicodeDecodeError:
            return answer.content, minted
        text = URL.sub(lambda found: self._local(found.group(0), base), text)
        if minted:
            text = text.replace(self._jobs[minted].recorded, minted)
        if answer.starts:
            minted = self.mint(answer.starts, now)
            text = text.replace(answer.starts, minted)
        return text.encode(), minted

    def deliveries_of(self, minted: str, url: str, base: str, now: float) -> list[Delivery]:
        """The recorded webhook deliveries of the job `minted` replays, to `url` at their offsets from `now`
        (its submit), their bodies naming the replayed job and leading back to the mock as answers do."""
        job = self._jobs.get(minted)
        found = []
        for delivery in self.recording.deliveries.get(job.recorded, ()) if job else ():
            text = URL.sub(lambda match: self._local(match.group(0), base), delivery.content.decode("utf-8", "replace"))
            try:
                body = json.loads(text.replace(job.recorded, minted))
            except ValueError:
                continue
            due = now + (delivery.offset / self.speed if self.speed > 0 else 0.0)
            found.append(Delivery(minted, delivery.event, url, due, body=body))
        return found

    def _local(self, url: str, base: str) -> str:
        parts = urlsplit(url)
        if self.recording.is_api(parts.path):
            return base + parts.path + (f"?{parts.query}" if parts.query else "")
        number = self.recording.media.get(url)
        if number is None:
            return url
        name = parts.path.rsplit("/", 1)[-1] or "media"
        return f"{base}/replayed-media/{number}/{name}"

    def download(self, number: int) -> RecordedExchange | None:
        return self.recording.downloads.get(number)
