"""Every store in this process's memory: the embedded default and the reference implementation."""

from collections import OrderedDict, deque
from dataclasses import replace
from itertools import count, islice

from mock_server.journal_entry import JournalEntry, Pending, entry_weight, made
from mock_server.redaction import json_size
from mock_server.store.records import Charge, Job, dump_record, load_record
from mock_server.store.base import Stores


RECENT = 1024  # decoded jobs a memory store keeps at hand


class MemoryJobStore:
    """Each job kept as its JSON text, its poll count and end time beside it: containers of atomic values
    only, which Python's garbage collector does not track. A million jobs held as objects would be walked
    by every young-generation collection that promotes them (a pause of 10-20 ms under load)."""

    def __init__(self, wallets: "MemoryWalletStore | None" = None,
                 deliveries: "MemoryDeliveryStore | None" = None) -> None:
        self._jobs: dict[str, str] = {}
        self._polls: dict[str, int] = {}
        self._ends: dict[str, float | None] = {}  # when each job is final: eviction reads no JSON
        self._recent: OrderedDict[str, Job] = OrderedDict()  # the last RECENT jobs read, decoded (a job is polled
        # again and again: decoding it each time was a fifth of a poll's cost); a write replaces its copy
        self._wallets = wallets or MemoryWalletStore()
        self._deliveries = deliveries or MemoryDeliveryStore()

    def _put(self, job: Job) -> None:
        record = job.to_dict()
        del record["polls"]
        self._jobs[job.request_id] = dump_record(record)
        self._ends[job.request_id] = job.transitions[1]
        self._recent.pop(job.request_id, None)

    def _job(self, request_id: str) -> Job | None:
        job = self._recent.get(request_id)
        if job is not None:
            self._recent.move_to_end(request_id)
            return job
        raw = self._jobs.get(request_id)
        if raw is None:
            return None
        job = Job.from_dict({**load_record(raw), "polls": self._polls.get(request_id, 0)})
        self._remember(job)
        return job

    def _remember(self, job: Job) -> None:
        self._recent[job.request_id] = job
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    async def create(self, job: Job, charge: Charge | None = None, deliveries=()) -> bool:
        if job.request_id in self._jobs:
            raise KeyError(f"duplicate request id {job.request_id}")
        if charge is not None and charge.amount and not await self._wallets.charge(charge.key, charge.amount,
                                                                                  charge.initial):
            return False
        self._put(job)
        self._polls[job.request_id] = job.polls
        for delivery in deliveries:
            await self._deliveries.add_if_absent(delivery)
        return True

    async def create_many(self, jobs: list[Job]) -> None:
        for job in jobs:
            await self.create(job)

    async def get(self, request_id: str) -> Job | None:
        return self._job(request_id)

    async def update_with(self, request_id, change):
        job = self._job(request_id)
        if job is None:
            return None
        job = change(job)
        self._put(job)
        return job

    async def count_poll(self, request_id: str, key: str | None = None) -> Job | None:
        job = self._job(request_id)
        if job is None or (key is not None and job.key != key):
            return None
        self._polls[request_id] += 1
        job = job.evolved(polls=job.polls + 1)
        self._remember(job)
        return job

    async def list(self) -> list[Job]:
        return sorted((self._job(request_id) for request_id in self._jobs), key=lambda job: job.created_at)

    async def page(self, offset: int, limit: int, newest_first: bool = False) -> "list[Job]":
        """In creation order, which is the dict's (a job's created_at is the clock's now, which never goes
        back); only the page's jobs are decoded."""
        ids = reversed(self._jobs) if newest_first else iter(self._jobs)
        return [self._job(request_id) for request_id in islice(ids, offset, offset + limit)]

    async def count(self) -> int:
        return len(self._jobs)

    async def evict_final(self, keep: int, now: float) -> int:
        excess = len(self._jobs) - keep
        if excess <= 0:
            return 0
        final = [request_id for request_id, end in self._ends.items()  # insertion order: oldest first
                 if end is not None and end <= now][:excess]
        for request_id in final:
            del self._jobs[request_id], self._polls[request_id], self._ends[request_id]
            self._recent.pop(request_id, None)
        return len(final)

    async def clear(self) -> None:
        self._recent.clear()
        self._jobs.clear()
        self._polls.clear()
        self._ends.clear()


def _claimable(delivery, now: float) -> bool:
    """Pending and due, or claimed by a sender whose lease ran out (it died, or its store call failed)."""
    if delivery.state == "pending":
        return delivery.due <= now
    return delivery.state == "sending" and delivery.lease_until is not None and delivery.lease_until <= now


class MemoryDeliveryStore:
    def __init__(self) -> None:
        self._deliveries = {}

    async def add_if_absent(self, delivery) -> bool:
        if delivery.id in self._deliveries:
            return False
        self._deliveries[delivery.id] = delivery
        return True

    async def claim_due(self, now: float, lease: float = 60.0, limit: int | None = None) -> list:
        due = sorted((d for d in self._deliveries.values() if _claimable(d, now)), key=lambda d: d.due)[:limit]
        for delivery in due:
            delivery.state, delivery.lease_until = "sending", now + lease
        return [replace(d, history=list(d.history)) for d in due]

    async def save(self, delivery) -> None:
        if delivery.id in self._deliveries:  # one a reset forgot while it was being sent stays forgotten
            self._deliveries[delivery.id] = delivery

    async def next_due(self) -> float | None:
        moments = [d.due if d.state == "pending" else d.lease_until for d in self._deliveries.values()
                   if d.state == "pending" or (d.state == "sending" and d.lease_until is not None)]
        return min(moments, default=None)

    async def list(self) -> list:
        return list(self._deliveries.values())

    async def clear(self) -> None:
        self._deliveries.clear()


class MemoryWalletStore:
    def __init__(self) -> None:
        self._balances: dict[str, int] = {}

    async def balance(self, key: str, initial: int) -> int:
        return self._balances.get(key, initial)

    async def charge(self, key: str, amount: int, initial: int) -> bool:
        balance = self._balances.get(key, initial)
        if amount > balance:
            return False
        self._balances[key] = balance - amount
        return True

    async def set(self, key: str, amount: int) -> None:
        self._balances[key] = amount

    async def all(self) -> dict[str, int]:
        return dict(self._balances)

    async def clear(self) -> None:
        self._balances.clear()


class MemoryRateStore:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, rate: float, now: float) -> float | None:
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[key] = (tokens - 1.0, now)
        return None

    async def clear(self) -> None:
        self._buckets.clear()


def _weight(entry: JournalEntry) -> int:
    """entry_weight, or for a body orjson cannot write measured the slow way (json_size)."""
    found = entry_weight(entry)
    return found if found is not None else entry_weight(entry._replace(body=None)) + json_size(entry.body)


class MemoryJournalStore:
    """A ring buffer: the newest `size` entries, and no more than `max_bytes` of them (as JSON)."""

    def __init__(self, size: int, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._entries: deque[list] = deque()  # [entry (made, or pending until read), seq, weight]
        self._size, self._max_bytes, self._bytes = size, max_bytes, 0
        self._seq = count(1)

    async def record(self, entry: "JournalEntry | Pending") -> None:
        """Keep an entry; a pending one (a request's) is made when it is read, and kept made."""
        seq = next(self._seq)
        weight = entry.weight() if not isinstance(entry, JournalEntry) else None
        if weight is None:
            entry = made(entry).numbered(seq)
            weight = _weight(entry)
        self._entries.append([entry, seq, weight])
        self._bytes += weight
        while len(self._entries) > self._size or (self._bytes > self._max_bytes and len(self._entries) > 1):
            self._bytes -= self._entries.popleft()[2]

    async def entries(self) -> list[JournalEntry]:
        kept = list(self._entries)  # one C-level copy: a server thread may append meanwhile (tests read across loops)
        for cell in kept:
            if not isinstance(cell[0], JournalEntry):
                cell[0] = cell[0].entry().numbered(cell[1])
        return [entry for entry, _, _ in kept]

    @property
    def bytes(self) -> int:
        return self._bytes

    async def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


class MemoryRuntimeStore:
    current = True  # only this process changes it, and the admin API takes each change up at once

    def __init__(self) -> None:
        self._offset, self._timing, self._version = 0.0, None, 0
        self._rules: list[dict] = []
        self._uses: dict[str, int] = {}

    def follow(self, take_up) -> None:
        """Nothing to follow: no other process changes this state."""

    async def stop_following(self) -> None:
        """Nothing to stop."""

    async def ping(self) -> None:
        """Memory always answers."""

    async def snapshot(self) -> dict:
        return {"offset": self._offset, "timing": self._timing, "version": self._version}

    async def add_offset(self, seconds: float) -> None:
        self._offset += seconds

    async def set_timing(self, timing: dict | None) -> None:
        self._timing = timing

    async def rules(self) -> list[dict]:
        return list(self._rules)

    async def add_rule(self, rule: dict) -> None:
        self._rules.append(rule)
        self._version += 1

    async def delete_rule(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [rule for rule in self._rules if rule["id"] != rule_id]
        self._version += 1
        return len(self._rules) < before

    async def take(self, rule_id: str, times: int | None) -> int:
        used = self._uses.get(rule_id, 0)
        if times is not None and used >= times:
            return 0
        self._uses[rule_id] = used + 1
        return used + 1

    async def uses(self) -> dict[str, int]:
        return dict(self._uses)

    async def clear(self) -> None:
        self._offset, self._timing = 0.0, None
        self._rules.clear()
        self._uses.clear()
        self._version += 1


def memory_stores(journal_size: int) -> Stores:
    wallets, deliveries = MemoryWalletStore(), MemoryDeliveryStore()
    return Stores(MemoryJobStore(wallets, deliveries), deliveries, wallets, MemoryRateStore(),
                  MemoryJournalStore(journal_size), MemoryRuntimeStore())
