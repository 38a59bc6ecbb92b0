"""The one in-process harness: a mock built by `create_app` with a manual clock, its calls through
httpx.ASGITransport and its webhooks through httpx.MockTransport (answered by `webhook_answer`), so no socket
is opened and no test waits on real time. Each exchange a test makes is also kept as a RecordedExchange, as a
browser's or proxy's HAR would keep it (`recorded`): the same traffic, for judging as a recording."""

import json

import anyio
import httpx

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.har import RecordedExchange
from mock_server.journal_entry import JournalEntry
from mock_server.settings import Settings

BASE_URL = "http://mock.test"


class InProcessMock:
    def __init__(self, settings: Settings | None = None, webhook_answer: int = 200, **options) -> None:
        self.clock = ManualClock()
        self.webhooks: list[httpx.Request] = []  # every POST the mock made, in order
        self.webhook_answer = webhook_answer
        self.recorded: list[RecordedExchange] = []
        self.app = create_app(settings or Settings(**options), clock=self.clock,
                              transport=httpx.MockTransport(self._receive_webhook))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL,
                                        event_hooks={"request": [self._stamp], "response": [self._keep]})

    @property
    def state(self):
        return self.app.mock

    def _receive_webhook(self, request: httpx.Request) -> httpx.Response:
        self.webhooks.append(request)
        return httpx.Response(self.webhook_answer)

    async def _stamp(self, request: httpx.Request) -> None:
        request.extensions["sent_at"] = self.clock.now()

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        if request.url.path.startswith("/__admin"):
            return  # the admin API is not traffic of the API
        started = request.extensions["sent_at"]
        self.recorded.append(RecordedExchange(
            request.method, str(request.url), response.status_code, tuple(request.headers.multi_items()),
            request.content, tuple(response.headers.multi_items()), response.content, response.reason_phrase,
            started, (self.clock.now() - started) * 1000))

    async def __aenter__(self) -> "InProcessMock":
        await self.app.mock.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()
        await self.app.mock.stop(grace=0)

    async def entries(self) -> list[JournalEntry]:
        return await self.app.mock.journal.entries()

    async def advance(self, seconds: float) -> None:
        """Move the clock; due webhooks go out (the dispatcher is woken and given a moment to send)."""
        self.clock.advance(seconds)
        self.app.mock.webhooks.wake()
        await anyio.sleep(0)

    async def webhooks_sent(self, count: int, timeout: float = 10.0) -> list[httpx.Request]:
        """The first `count` webhook POSTs, once made (the dispatcher sends in the background)."""
        with anyio.fail_after(timeout):
            while len(self.webhooks) < count:
                self.app.mock.webhooks.wake()
                await anyio.sleep(0.01)
        return self.webhooks[:count]

    def webhook_bodies(self) -> list[dict]:
        return [json.loads(request.content) for request in self.webhooks]
