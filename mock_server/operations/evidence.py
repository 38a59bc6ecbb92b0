"""What public code shows of the live gateway beyond the pages: flux.yaml's `x-evidence` list, read once.

Each entry names its sources, strength and what it concerns, and how the mock reads it (`reading`). The
figures the mock follows live there and nowhere else: the routes that answer 400 Model not found, the
observed durations of `--timing observed`, Klein's media type."""

import re
from functools import lru_cache
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from functools import cache

from mock_server.jobs.timing import Observed
from mock_server.operations.documents import gateway_hosts, load_bundled

STRENGTHS = ("captured", "observed", "assumed")
MODEL_NOT_FOUND_ROUTES = "model-not-found-routes"
SYNC_LATENCY = "sync-latency"
JOB_DURATION = "job-duration"
MEDIA_LAYOUTS = "media-hosts-and-layouts"
ANSWERED_BY = "evidence:"  # an exchange's `answer` when the mock answered as evidence says the gateway does


@dataclass(frozen=True)
class Evidence:
    id: str
    strength: str
    seen: str
    sources: tuple[str, ...]
    says: str
    where: tuple[str, ...]
    reading: str
    why: str
    data: dict = field(default_factory=dict, repr=False)  # what the mock follows: paths, answer, timing, ...

    @classmethod
    def from_spec(cls, entry: dict) -> "Evidence":
        known = {"id", "strength", "seen", "sources", "says", "where", "reading", "why"}
        return cls(id=entry["id"], strength=entry["strength"], seen=str(entry["seen"]),
                   sources=tuple(entry["sources"]), says=entry["says"], where=tuple(entry["where"]),
                   reading=entry["reading"], why=entry["why"],
                   data={name: value for name, value in entry.items() if name not in known})

    def cited(self) -> str:
        """One line a finding quotes: what was seen, how strongly, and where."""
        return f"{self.says} ({self.strength}, {self.seen}: {'; '.join(self.sources)}; x-evidence {self.id})"


@cache
def load_evidence(directory: str | None = None) -> dict[str, Evidence]:
    """flux.yaml's x-evidence entries by id, in document order."""
    return {entry["id"]: Evidence.from_spec(entry) for entry in load_bundled("flux.yaml", directory).get(
        "x-evidence", [])}


class UnknownModelPaths:
    """The paths the live gateway answers 400 Model not found (x-evidence model-not-found-routes): shaped as a
    model's (`/MODEL/vN/...`, `/MODEL-polling/...`) with a first segment that is no model of the specs. A path
    under a model the specs have stays a 404 (Endpoint not found): only the model is known to be refused."""

    def __init__(self, evidence: Evidence, served_paths) -> None:
        self.evidence = evidence
        self._patterns = tuple(re.compile(pattern) for pattern in evidence.data["paths"])
        self._served = frozenset(path.split("/")[1] for path in served_paths if path.count("/") > 1)

    def model_in(self, path: str) -> str | None:
        """The model this path names that the specs do not have, or None."""
        for pattern in self._patterns:
            found = pattern.match(path)
            if found and found["model"] not in self._served:
                return found["model"]
        return None


@cache
def observed_timing(directory: str | None = None) -> Observed:
    """The durations `--timing observed` draws from (x-evidence sync-latency and job-duration)."""
    evidence = load_evidence(directory)
    sync, jobs = evidence[SYNC_LATENCY].data["timing"], evidence[JOB_DURATION].data["timing"]
    return Observed(sync=tuple(sync["sync_seconds"]), long_prompt=tuple(sync["long_prompt_seconds"]),
                    long_prompt_chars=int(sync["long_prompt_chars"]), queued=tuple(jobs["queued_seconds"]),
                    processing=tuple(jobs["processing_seconds"]))


def media_host() -> str:
    """The host the gateway's media URLs name (x-evidence media-hosts-and-layouts)."""
    return load_evidence()[MEDIA_LAYOUTS].data["host"]


@lru_cache(maxsize=64)
def media_base(base: str) -> str:
    """The base an answer's media URLs start with: the gateway's media host for an answer given as the gateway
    (https and one of its hosts: through the HTTPS proxy, `run`), else `base` itself (the mock's host, by base
    URL or --public-url)."""
    parts = urlsplit(base)
    if parts.scheme == "https" and parts.hostname in gateway_hosts() and parts.port is None and not parts.path:
        return f"https://{media_host()}"
    return base
