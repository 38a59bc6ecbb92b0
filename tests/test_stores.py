"""The store contract: every backend (memory, Redis) passes the same tests, races included."""

import asyncio

import pytest

from mock_server.errors import StoreUnavailable
from mock_server.journal_entry import JournalEntry
from mock_server.store import open_stores
from mock_server.store.records import Charge, Delivery, Job
from mock_server.store.redis import outage_is_unavailable
from mock_server.store.records import WebhookRequest

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    if request.param == "memory":
        shared = open_stores("memory://", journal_size=5)
        return lambda: shared  # "another instance" of memory is the same process's stores
    url = request.getfixturevalue("redis_url")
    return lambda: open_stores(url, journal_size=5)


@pytest.fixture
async def stores(backend):
    opened = backend()
    await opened.clear()
    yield opened
    await opened.clear()
    await opened.close()


def job(number: int, created: float = 100.0, **fields) -> Job:
    return Job(request_id=f"m_{number:04d}", operation_id="op", model_id="m", key="k", created_at=created + number,
               **fields)


async def test_jobs_create_get_list_count_clear(stores):
    hook = WebhookRequest(url="http://127.0.0.1/x", form="webhook", base="http://mock", events=("completed",),
                          misbehave={"delay": 1.5})
    for number in (2, 1, 3):
        await stores.jobs.create(job(number, details={"seed": number}, webhook=hook))
    assert await stores.jobs.get("m_0001") == job(1, details={"seed": 1}, webhook=hook)
    assert await stores.jobs.get("nope") is None
    assert [j.request_id for j in await stores.jobs.list()] == ["m_0001", "m_0002", "m_0003"]
    assert await stores.jobs.count() == 3
    with pytest.raises(KeyError):
        await stores.jobs.create(job(1))
    await stores.jobs.clear()
    assert await stores.jobs.count() == 0 and await stores.jobs.list() == []


async def test_a_page_of_jobs_reads_only_that_page_in_either_order(stores):
    await stores.jobs.create_many([job(n) for n in range(1, 8)])
    await stores.jobs.count_poll("m_0006")
    assert [j.request_id for j in await stores.jobs.page(2, 3)] == ["m_0003", "m_0004", "m_0005"]
    newest = await stores.jobs.page(0, 2, newest_first=True)
    assert [(j.request_id, j.polls) for j in newest] == [("m_0007", 0), ("m_0006", 1)]
    assert await stores.jobs.page(7, 5) == [] and len(await stores.jobs.page(5, 100)) == 2


async def test_create_many(stores):
    await stores.jobs.create_many([job(n) for n in range(1200)])
    assert await stores.jobs.count() == 1200 and (await stores.jobs.get("m_1199")).created_at == 1299.0


async def test_concurrent_updates_are_never_lost(stores, backend):
    await stores.jobs.create(job(1))
    others = [backend() for _ in range(3)]
    await asyncio.gather(*(s.jobs.update_with("m_0001", lambda j: j.evolved(charged_micros=j.charged_micros + 1))
                           for s in [stores, *others] for _ in range(15)))
    assert (await stores.jobs.get("m_0001")).charged_micros == 60
    await asyncio.gather(*(s.jobs.count_poll("m_0001") for s in [stores, *others] for _ in range(25)))
    assert (await stores.jobs.get("m_0001")).polls == 100
    assert [j.polls for j in await stores.jobs.list()] == [100]
    assert await stores.jobs.update_with("missing", lambda j: j) is None
    assert await stores.jobs.count_poll("missing") is None
    assert await stores.jobs.count_poll("m_0001", key="another") is None, "another key's job is not counted"
    assert (await stores.jobs.count_poll("m_0001", key="k")).polls == 101
    for other in others:
        if other is not stores:
            await other.close()


async def test_each_due_delivery_is_claimed_exactly_once(stores, backend):
    for number in range(20):
        assert await stores.deliveries.add_if_absent(Delivery(f"m_{number}", "completed", "http://127.0.0.1/h", 10.0))
    assert not await stores.deliveries.add_if_absent(Delivery("m_0", "completed", "http://127.0.0.1/h", 99.0))
    await stores.deliveries.add_if_absent(Delivery("later", "completed", "http://127.0.0.1/h", 50.0))
    instances = [stores, backend(), backend()]
    claims = await asyncio.gather(*(s.deliveries.claim_due(20.0) for s in instances for _ in range(3)))
    claimed = [d.id for claim in claims for d in claim]
    assert sorted(claimed) == sorted(f"m_{n}:completed" for n in range(20)), "each claimed once, none twice"
    assert await stores.deliveries.next_due() == 50.0
    (first,) = [d for claim in claims for d in claim if d.id == "m_0:completed"]
    assert first.state == "sending" and first.due == 10.0
    first.state, first.due, first.attempts = "pending", 30.0, 1
    await stores.deliveries.save(first)
    assert await stores.deliveries.next_due() == 30.0
    assert [d.id for d in await stores.deliveries.claim_due(40.0)] == ["m_0:completed"]
    assert len(await stores.deliveries.list()) == 21
    for other in instances[1:]:
        if other is not stores:
            await other.close()


async def test_charges_are_atomic_and_never_overdraw(stores, backend):
    other = backend()
    results = await asyncio.gather(*(s.wallets.charge("k", 1, initial=50) for s in (stores, other) for _ in range(60)))
    assert results.count(True) == 50
    assert await stores.wallets.balance("k", initial=50) == 0
    assert await stores.wallets.balance("fresh", initial=7) == 7
    await stores.wallets.set("fresh", 3)
    assert await stores.wallets.all() == {"k": 0, "fresh": 3}
    if other is not stores:
        await other.close()


async def test_rate_buckets(stores):
    assert [await stores.rates.take("k", 2.0, 100.0) for _ in range(2)] == [None, None]
    assert await stores.rates.take("k", 2.0, 100.0) == pytest.approx(0.5)
    assert await stores.rates.take("k", 2.0, 100.5) is None
    assert await stores.rates.take("other", 2.0, 100.0) is None


async def test_journal_is_a_numbered_ring_buffer(stores):
    for number in range(8):
        await stores.journal.record(JournalEntry(path=f"/{number}", undocumented_fields=("x",)))
    entries = await stores.journal.entries()
    assert [e.path for e in entries] == ["/3", "/4", "/5", "/6", "/7"]
    assert entries[0].violations == () and entries[0].undocumented_fields == ("x",)
    assert [e.seq for e in entries] == sorted(e.seq for e in entries) and entries[0].seq > 0
    await stores.journal.clear()
    assert await stores.journal.entries() == []


async def test_runtime_state_rules_uses_timing_and_offset(stores, backend):
    first = await stores.runtime.snapshot()
    assert first["offset"] == 0 and first["timing"] is None
    await stores.runtime.add_rule({"id": "admin-a", "match": {}, "outcome": {"status": 500}, "times": 3,
                                   "source": "admin"})
    await stores.runtime.add_rule({"id": "admin-b", "match": {}, "outcome": {"status": 429}, "times": None,
                                   "source": "admin"})
    assert [r["id"] for r in await stores.runtime.rules()] == ["admin-a", "admin-b"]
    assert (await stores.runtime.snapshot())["version"] != first["version"]
    other = backend()
    taken = await asyncio.gather(*(s.runtime.take("admin-a", 3) for s in (stores, other) for _ in range(5)))
    assert sorted(taken) == [0] * 7 + [1, 2, 3], "three uses in all, numbered, whichever instance takes them"
    assert [await stores.runtime.take("admin-b", None) for _ in range(4)] == [1, 2, 3, 4]
    assert await stores.runtime.uses() == {"admin-a": 3, "admin-b": 4}
    assert await stores.runtime.delete_rule("admin-a") and not await stores.runtime.delete_rule("admin-a")
    await stores.runtime.add_offset(30)
    await other.runtime.add_offset(12.5)
    await stores.runtime.set_timing({"mode": "manual", "queued_for": 1, "processing_for": 2, "sync_latency": 0})
    snapshot = await other.runtime.snapshot()
    assert snapshot["offset"] == 42.5 and snapshot["timing"]["mode"] == "manual"
    await stores.runtime.clear()
    cleared = await other.runtime.snapshot()
    assert (cleared["offset"], cleared["timing"], await other.runtime.rules()) == (0, None, [])
    if other is not stores:
        await other.close()


async def test_wallets_are_exact_integer_micro_dollars_at_the_largest_allowed_balance(stores):
    top = 10**18  # $1e12, the most the config allows
    await stores.wallets.set("rich", top)
    assert await stores.wallets.charge("rich", 25_000, initial=0)
    assert await stores.wallets.balance("rich", initial=0) == top - 25_000
    assert await stores.wallets.all() == {"rich": top - 25_000}
    assert not await stores.wallets.charge("poor", 1, initial=0) and await stores.wallets.balance("poor", 0) == 0
    assert await stores.wallets.charge("new", 5, initial=7) and await stores.wallets.balance("new", 0) == 2


async def test_a_job_and_its_charge_are_created_together_or_not_at_all(stores):
    assert await stores.jobs.create(job(1), Charge("payer", 300, initial=500))
    assert await stores.wallets.balance("payer", initial=0) == 200
    assert not await stores.jobs.create(job(2), Charge("payer", 300, initial=500)), "the wallet cannot pay"
    assert await stores.jobs.get("m_0002") is None and await stores.wallets.balance("payer", initial=0) == 200
    with pytest.raises(KeyError):
        await stores.jobs.create(job(1), Charge("payer", 100, initial=500))
    assert await stores.wallets.balance("payer", initial=0) == 200, "a duplicate id takes nothing"
    assert await stores.jobs.create(job(3)) and await stores.jobs.count() == 2


async def test_a_delivery_cleared_while_it_was_being_sent_is_not_brought_back(stores):
    await stores.deliveries.add_if_absent(Delivery("m_7", "completed", "http://127.0.0.1/h", due=10.0))
    (sending,) = await stores.deliveries.claim_due(10.0)
    await stores.deliveries.clear()  # a reset, while the attempt is under way
    sending.state, sending.due = "pending", 20.0  # its attempt failed: a retry is planned
    await stores.deliveries.save(sending)
    assert await stores.deliveries.list() == [] and await stores.deliveries.next_due() is None
    assert await stores.deliveries.claim_due(100.0) == []


async def test_a_claimed_delivery_whose_sender_died_is_claimed_again_after_its_lease(stores):
    await stores.deliveries.add_if_absent(Delivery("m_9", "completed", "http://127.0.0.1/h", due=10.0))
    (first,) = await stores.deliveries.claim_due(10.0, lease=5.0)
    assert first.state == "sending" and first.lease_until == 15.0
    assert await stores.deliveries.claim_due(14.9, lease=5.0) == [], "still leased to its claimer"
    (again,) = await stores.deliveries.claim_due(15.0, lease=5.0)
    assert again.id == first.id and again.lease_until == 20.0
    again.state = "delivered"
    await stores.deliveries.save(again)
    assert await stores.deliveries.claim_due(100.0, lease=5.0) == []


async def test_a_claim_takes_at_most_its_limit_the_earliest_due_first(stores):
    for number in range(5):
        await stores.deliveries.add_if_absent(Delivery(f"m_{number}", "completed", "http://127.0.0.1/h",
                                                       due=10.0 - number))
    assert [d.id for d in await stores.deliveries.claim_due(10.0, lease=5.0, limit=2)] == [
        "m_4:completed", "m_3:completed"]
    assert [d.id for d in await stores.deliveries.claim_due(10.0, lease=5.0, limit=10)] == [
        "m_2:completed", "m_1:completed", "m_0:completed"], "the rest stayed pending, unclaimed"
    assert await stores.deliveries.claim_due(10.0, lease=5.0, limit=10) == []


async def test_the_oldest_final_jobs_are_evicted_beyond_the_bound(stores):
    # job 1 runs with no end known yet (manual timing), job 2 runs under the default timing: its end is known
    # but still to come (300.0). Running jobs stay whatever their age.
    ends = {1: None, 2: 300.0}
    for number in range(7):
        await stores.jobs.create(job(number, transitions=(101.0, ends.get(number, 102.0))))
    assert await stores.jobs.evict_final(keep=3, now=200.0) == 4
    assert [j.request_id for j in await stores.jobs.list()] == ["m_0001", "m_0002", "m_0006"]
    assert await stores.jobs.evict_final(keep=3, now=200.0) == 0


async def test_a_job_its_charge_and_its_deliveries_are_created_in_one_step(stores):
    due = [Delivery("m_0001", "queued", "http://127.0.0.1/h", 101.0),
           Delivery("m_0001", "completed", "http://example.com/h", 102.0, state="blocked", last_error="blocked: x")]
    assert await stores.jobs.create(job(1), Charge("payer", 300, initial=500), due)
    assert {d.id: d.state for d in await stores.deliveries.list()} == {"m_0001:queued": "pending",
                                                                       "m_0001:completed": "blocked"}
    assert [d.id for d in await stores.deliveries.claim_due(now=200.0)] == ["m_0001:queued"], "blocked: never sent"
    assert not await stores.jobs.create(job(2), Charge("payer", 300, initial=500),
                                        [Delivery("m_0002", "queued", "http://127.0.0.1/h", 101.0)])
    assert sorted(d.id for d in await stores.deliveries.list()) == ["m_0001:completed", "m_0001:queued"], \
        "a job the wallet cannot pay leaves no delivery"
    later = Delivery("m_0001", "processing", "http://example.com/h", 101.5, state="blocked", last_error="blocked: x")
    assert await stores.deliveries.add_if_absent(later) and not await stores.deliveries.add_if_absent(later)
    assert await stores.deliveries.claim_due(now=250.0) == [], "a blocked delivery added later: never sent"


async def test_a_journal_batch_larger_than_one_script_call_keeps_every_entry_in_order(redis_url):
    stores = open_stores(redis_url, journal_size=2500)  # Redis writes queued entries a script call per 1,000
    await stores.journal.clear()
    for number in range(2300):
        await stores.journal.record(JournalEntry(path=f"/{number}"))
    entries = await stores.journal.entries()
    assert [e.path for e in entries] == [f"/{n}" for n in range(2300)]
    assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + 2300))
    await stores.journal.clear()
    await stores.close()


async def test_a_change_returns_only_once_every_following_instance_took_it_up(stores, backend):
    seen = []

    async def take_up():
        seen.append((await stores.runtime.snapshot())["offset"])

    stores.runtime.follow(take_up)
    try:
        for _ in range(100):
            if stores.runtime.current:
                break
            await asyncio.sleep(0.05)
        assert stores.runtime.current, "following within 5 s"
        other = backend()
        for offset in (7, 14, 21):
            await other.runtime.add_offset(7)
            if other is not stores:  # memory: one process, nothing to follow
                assert seen[-1] == offset, "taken up before the change returned"
        if other is not stores:
            await other.close()
    finally:
        await stores.runtime.stop_following()
    assert not stores.runtime.current or other is stores


async def test_a_connection_closed_under_uvloop_is_an_outage_and_any_other_runtime_error_a_bug():
    """uvloop raises a RuntimeError, not an OSError, when the client writes to a connection Redis has just
    closed (a kill between connecting and the first PING): a 503 like any outage, seen in test_faults as
    a 500. Another RuntimeError is a bug and stays one (a 500, logged)."""

    @outage_is_unavailable
    class Store:
        def __init__(self, error: BaseException) -> None:
            self.error = error

        async def get(self) -> None:
            raise self.error

    closed = RuntimeError("unable to perform operation on <TCPTransport closed=True reading=False 0x5649ab89c010>; "
                          "the handler is closed")
    with pytest.raises(StoreUnavailable, match="the handler is closed"):
        await Store(closed).get()
    with pytest.raises(RuntimeError, match="a bug"):
        await Store(RuntimeError("a bug")).get()
