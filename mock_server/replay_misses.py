"""`serve --replay FILE --on-miss upstream --upstream URL`: a replay that learns (as vcrpy's new_episodes, Keploy's
--on-miss record). A request the recording does not hold goes to the upstream; its answer is given to the app,
judged as `record` judges (the kit's judge, when serving hands one in), redacted as `record` redacts (one
policy: har.RecordedExchange.to_har) and added to the first --replay file, which stays a whole HAR after each
(written to a temporary file, then moved over it). The next such request is answered from the recording."""

import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
from starlette.responses import Response

from mock_server.bodies import read_within
from mock_server.errors import UpstreamFailed
from mock_server.har import RecordedExchange

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer",
                        "upgrade", "proxy-authorization", "proxy-connection", "accept-encoding"})
SENT_BACK_WITHOUT = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"})
TIMEOUT = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class MissLearner:
    def __init__(self, upstream: str, path: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.upstream, self.path = upstream.rstrip("/"), Path(path)
        self._client = httpx.AsyncClient(base_url=self.upstream, trust_env=False, timeout=TIMEOUT,
                                         follow_redirects=False, transport=transport)
        self._lock = threading.Lock()
        self.learned = 0

    async def forward(self, method: str, target: str, headers: dict[str, str], content: bytes) -> RecordedExchange:
        """The upstream's answer to the request, as a recorded exchange (its body decoded, as HAR keeps it)."""
        sent = {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}
        started, clock = time.time(), time.perf_counter()
        try:
            answer = await self._client.send(self._client.build_request(method, target, headers=sent,
                                                                         content=content), stream=True)
            try:
                body = await read_within(answer.aiter_bytes(), MAX_ANSWER_BYTES)  # decoded, as HAR keeps it
            finally:
                await answer.aclose()
        except (httpx.HTTPError, OverflowError) as error:
            raise UpstreamFailed(f"Bad Gateway: the upstream did not answer: {type(error).__name__}: "
                                 f"{error or 'no answer'}") from None
        return RecordedExchange(method, f"{self.upstream}{target}", answer.status_code, tuple(sent.items()), content,
                                tuple((k, v) for k, v in answer.headers.multi_items()
                                      if k.lower() != "content-encoding"),
                                body, answer.reason_phrase, started,
                                (time.perf_counter() - clock) * 1000)

    async def keep(self, exchange: RecordedExchange, facts: dict) -> None:
        """Add the exchange (redacted) to the recording file, in a worker thread."""
        await asyncio.get_running_loop().run_in_executor(None, self._append, exchange.to_har(facts))

    def _append(self, entry: dict) -> None:
        with self._lock:
            document = json.loads(self.path.read_bytes())
            document.setdefault("log", {}).setdefault("entries", []).append(entry)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(handle, "w") as written:
                json.dump(document, written)
            os.replace(temporary, self.path)
            self.learned += 1

    @staticmethod
    def answer(exchange: RecordedExchange) -> Response:
        headers = {k: v for k, v in exchange.response_headers if k.lower() not in SENT_BACK_WITHOUT}
        return Response(exchange.content, status_code=exchange.status, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()
