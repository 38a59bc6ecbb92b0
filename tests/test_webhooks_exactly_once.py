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
from mock_server.store import open_stores

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


async def submit_and_finish(api: httpx.AsyncClient, prompt: str = "x", events: str | None = None) -> None:
    """A Flux Dev job asking for a webhook, polled once it is COMPLETED (0 s timing): its delivery is due now."""
    headers = {**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook", **({"X-Webhook-Events": events} if events else {})}
    answer = await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": prompt}, headers=headers)
    assert answer.is_success, answer.text
    await api.get(answer.json()["polling_url"], headers=KEY)


def two_instances(settings: Settings, first: httpx.AsyncBaseTransport, second: httpx.AsyncBaseTransport):
    """(clock, first app, second app): two mocks sharing one memory store and one manual clock, each with its own
    webhook transport, as two instances on one Redis."""
    clock, stores = ManualClock(), open_stores(None, 1000)
    return (clock, create_app(settings, clock=clock, stores=stores, transport=first),
            create_app(settings, clock=clock, stores=stores, transport=second))


async def test_a_delivery_queued_past_its_lease_is_sent_once(store):
    receiver = HeldReceiver()
    app = create_app(Settings(timing=Timing(queued_for=0, processing_for=0), store=store), clock=ManualClock(),
                     transport=receiver)
    await app.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
            await api.post("/__admin/reset")
            for number in range(JOBS):
                await submit_and_finish(api, f"job {number}", events="COMPLETED")

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


class CountingReceiver(httpx.AsyncBaseTransport):
    """Answers each POST 200 at once and counts them by Webhook-Id."""

    def __init__(self) -> None:
        self.posts: Counter = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.posts[request.headers["webhook-id"]] += 1
        return httpx.Response(200)


async def test_a_delivery_whose_instance_died_is_sent_by_another_once_its_lease_is_over():
    """docs/operations/redis.md: a claimed delivery is leased to its instance for twice the webhook timeout plus
    1 s (here 2 x 4 + 1 = 9 s); if that instance dies, another sends it after the lease, and not before. Two
    instances share one store and one clock: the first claims the delivery and never finishes it."""
    held, receiver = HeldReceiver(), CountingReceiver()
    clock, dying, other = two_instances(Settings(timing=Timing(queued_for=0, processing_for=0), webhook_timeout=4.0),
                                        held, receiver)
    await dying.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dying), base_url="http://mock.test") as api:
            await submit_and_finish(api)

            async def claimed():
                return sum(held.posts.values()) == 1
            await until(claimed, "the first instance's POST")
        await other.mock.start()
        try:
            clock.advance(8.5)  # within the lease
            other.mock.webhooks.wake()
            await asyncio.sleep(0.3)  # rounds of the other instance run
            assert not receiver.posts, "sent while the lease held"
            clock.advance(1.0)  # 9.5 s: past it

            async def sent_once():
                other.mock.webhooks.wake()
                return sum(receiver.posts.values()) == 1
            await until(sent_once, "the other instance's POST after the lease")
        finally:
            await other.mock.stop(grace=0)
    finally:
        held.released.set()
        await dying.mock.stop(grace=0)


class SlowReceiver(CountingReceiver):
    """Answers each POST 200 after 0.3 s."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return await super().handle_async_request(request)


async def test_stopping_finishes_a_delivery_being_sent_within_its_grace():
    """At shutdown the mock finishes what is being sent and what is due within the grace (the webhook timeout,
    app.py), and reports only what is left: a POST under way when it stops is answered, not cut off."""
    receiver = SlowReceiver()
    app = create_app(Settings(timing=Timing(queued_for=0, processing_for=0)), clock=ManualClock(), transport=receiver)
    await app.mock.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
        await submit_and_finish(api)
    left = await app.mock.stop(grace=5.0)
    assert left == [] and sum(receiver.posts.values()) == 1, (left, receiver.posts)


async def test_an_instance_claims_no_more_deliveries_than_it_has_free_slots_so_another_sends_the_rest():
    """docs/operations/redis.md: an instance claims only as many deliveries as it has free sending slots (16): the
    rest stay in the store for another instance, instead of waiting out their leases in this one's queue."""
    held, receiver = HeldReceiver(), CountingReceiver()
    _, busy, other = two_instances(Settings(timing=Timing(queued_for=0, processing_for=0)), held, receiver)
    await busy.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=busy), base_url="http://mock.test") as api:
            for number in range(JOBS):
                await submit_and_finish(api, f"job {number}", events="COMPLETED")

            async def slots_full():
                return sum(held.posts.values()) == 16
            await until(slots_full, "the busy instance's 16 POSTs")
        busy.mock.webhooks.wake()
        await asyncio.sleep(0.3)  # rounds of the busy instance run: with every slot taken they claim nothing
        await other.mock.start()
        try:
            async def rest_sent():
                return sum(receiver.posts.values()) == JOBS - 16
            await until(rest_sent, f"the other instance's {JOBS - 16} POSTs")
        finally:
            await other.mock.stop(grace=0)
    finally:
        held.released.set()
        await busy.mock.stop(grace=0)


async def test_a_post_the_http_client_fails_on_unexpectedly_is_a_failed_attempt_and_retried():
    """httpcore can fail a connection closed as it is made with an AttributeError (its socket is gone): that attempt
    failed like any other, the delivery is retried and arrives, and the journal names what went wrong."""
    posts = []

    def flaky(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        if len(posts) == 1:
            raise AttributeError("'NoneType' object has no attribute 'getpeername'")
        return httpx.Response(200)

    clock = ManualClock()
    app = create_app(Settings(timing=Timing(mode="time", queued_for=0, processing_for=0)), clock=clock,
                     transport=httpx.MockTransport(flaky))
    await app.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
            answer = await client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "a fox"},
                                       headers={**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook"})
            assert answer.status_code == 202
            for _ in range(200):
                clock.advance(1)
                app.mock.webhooks.wake()
                await asyncio.sleep(0.01)
                if len(posts) == 2:
                    break
        attempts = [entry for entry in await app.mock.journal.entries() if entry.kind == "webhook"]
    finally:
        await app.mock.stop(grace=0)
    assert len(posts) == 2, "retried after the client's own failure"
    assert [entry.status for entry in attempts] == [0, 200], attempts
    assert "AttributeError in the HTTP client" in (attempts[0].error or ""), attempts[0]
