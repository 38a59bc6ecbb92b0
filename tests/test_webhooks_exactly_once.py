"""Every webhook delivery is POSTed once unless a retry or a scenario asks for more (issue 34, item 7): with
more due deliveries than the dispatcher sends at a time and a receiver slower than the claim's lease, no
delivery waits out its lease in a queue and is claimed, and sent, a second time. In process: the receiver is
the transport create_app is given (it holds every POST until released), the mock's clock is moved past the
lease instead of waiting for it; on each store."""

import asyncio
from collections import Counter

import httpx
import pytest

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.jobs.timing import Timing
from mock_server.settings import Settings

pytestmark = pytest.mark.anyio
KEY = {"Ocp-Apim-Subscription-Key": "k"}
JOBS = 40  # more than the dispatcher sends at a time (16)


class HeldReceiver(httpx.AsyncBaseTransport):
    """Counts each POST by its Webhook-Id and answers none until released."""

    def __init__(self) -> None:
        self.posts: Counter = Counter()
        self.released = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.posts[request.headers["webhook-id"]] += 1
        await self.released.wait()
        return httpx.Response(200)


async def until(condition, what: str, timeout: float = 20.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout:g} s") from None


@pytest.fixture(params=["memory", "redis"])
def store(request):
    return None if request.param == "memory" else request.getfixturevalue("redis_url")


async def test_a_delivery_queued_past_its_lease_is_sent_once(store):
    receiver = HeldReceiver()
    app = create_app(Settings(timing=Timing(queued_for=0, processing_for=0), store=store), clock=ManualClock(),
                     transport=receiver)
    await app.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
            await api.post("/__admin/reset")
            for number in range(JOBS):
                answer = await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": f"job {number}"},
                                        headers={**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook",
                                                 "X-Webhook-Events": "COMPLETED"})
                assert answer.is_success, answer.text
                await api.get(answer.json()["polling_url"], headers=KEY)  # its COMPLETED delivery is due now

            async def sending():
                return sum(receiver.posts.values()) >= 16
            await until(sending, "the first 16 POSTs")
            for _ in range(3):  # the lease (2 x 5 s + 1 s) runs out for every claimed delivery, three times over
                assert (await api.post("/__admin/clock/advance", json={"seconds": 30})).is_success
                await asyncio.sleep(0.2)  # rounds run: nothing new is claimed while every slot is taken
            assert sum(receiver.posts.values()) == 16, receiver.posts
            receiver.released.set()

            async def delivered():
                deliveries = (await api.get("/__admin/webhooks", params={"limit": 1000})).json()["deliveries"]
                return len(deliveries) == JOBS and {d["state"] for d in deliveries} == {"delivered"}
            await until(delivered, "every delivery")
            await asyncio.sleep(0.3)  # anything claimed twice would be sent now
            deliveries = (await api.get("/__admin/webhooks", params={"limit": 1000})).json()["deliveries"]
    finally:
        await app.mock.stop(grace=0)
    assert len(receiver.posts) == JOBS and set(receiver.posts.values()) == {1}, \
        f"POSTs per Webhook-Id: {sorted(Counter(receiver.posts.values()).items())}"
    assert sum(d["attempts"] for d in deliveries) == sum(receiver.posts.values()) == JOBS
    assert {d["state"] for d in deliveries} == {"delivered"}
