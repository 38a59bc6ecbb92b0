"""The storage protocols: all the mock knows of where its state lives. Every backend implements all of
them and passes the same contract suite (tests/test_stores.py). Each operation that must not race
between instances is one atomic call here: update_with, claim_due, charge, take."""

from dataclasses import dataclass
from typing import Protocol
from collections.abc import Callable

from mock_server.journal_entry import JournalEntry, Pending
from mock_server.store.records import Charge, Delivery, Job


class JobStore(Protocol):
    async def create(self, job: Job, charge: Charge | None = None, deliveries: "list[Delivery]" = ()) -> bool:
        """Store a new job (its request_id is unique), take `charge` from its wallet and add its webhook
        `deliveries` in one atomic step; False, and nothing stored or taken, if the wallet cannot pay. An
        outage can never leave a charge without its job, nor a job without its charge or its webhooks."""

    async def create_many(self, jobs: list[Job]) -> None:
        """Store many new jobs at once."""

    async def get(self, request_id: str) -> Job | None:
        """The job, or None."""

    async def update_with(self, request_id: str, change: Callable[[Job], Job]) -> Job | None:
        """Atomically replace the job with change(job); the new job, or None if there is no such job."""

    async def count_poll(self, request_id: str, key: str | None = None) -> Job | None:
        """Atomically count one status poll of the job; the job with its new count, or None if there is no such
        job (or, given `key`, it is another key's: nothing is counted then)."""

    async def list(self) -> list[Job]:
        """Every job, oldest first."""

    async def page(self, offset: int, limit: int, newest_first: bool = False) -> "list[Job]":
        """`limit` jobs from `offset`, oldest first (or newest first), reading only those."""

    async def count(self) -> int: ...

    async def evict_final(self, keep: int, now: float) -> int:
        """While more than `keep` jobs are stored, delete the oldest that are final at `now`; how many went."""

    async def clear(self) -> None: ...


class DeliveryStore(Protocol):
    async def add_if_absent(self, delivery) -> bool:
        """Store a new delivery unless one with its id exists; True if it was added."""

    async def claim_due(self, now: float, lease: float = 60.0, limit: int | None = None) -> list:
        """The pending deliveries due by `now`, and the `sending` ones whose lease ran out, each claimed by
        exactly one caller (state `sending`) for `lease` seconds; at most `limit` of them, the earliest due."""

    async def save(self, delivery) -> None:
        """Its new state, if the delivery still exists: one cleared while it was being sent is not re-created."""

    async def next_due(self) -> float | None: ...

    async def list(self) -> list: ...

    async def clear(self) -> None: ...


class WalletStore(Protocol):
    async def balance(self, key: str, initial: int) -> int:
        """The key's balance in micro-dollars (`initial` if it has none yet)."""

    async def charge(self, key: str, amount: int, initial: int) -> bool:
        """Atomically take `amount` if the balance covers it; False (and nothing taken) if not."""

    async def set(self, key: str, amount: int) -> None: ...

    async def all(self) -> dict[str, int]: ...

    async def clear(self) -> None: ...


class RateStore(Protocol):
    async def take(self, key: str, rate: float, now: float) -> float | None:
        """Atomically take a token from the key's bucket (capacity max(1, rate), refilled at `rate`/s);
        None if there was one, else the seconds until there will be."""

    async def clear(self) -> None: ...


class JournalStore(Protocol):
    async def record(self, entry: "JournalEntry | Pending") -> None:
        """Append an entry (numbered with `seq`; a pending one made now or when read), dropping the oldest beyond
        the journal's size."""

    async def entries(self) -> list[JournalEntry]:
        """Every kept entry, oldest first."""

    async def clear(self) -> None: ...


@dataclass
class Stores:
    jobs: JobStore
    deliveries: DeliveryStore
    wallets: WalletStore
    rates: RateStore
    journal: JournalStore
    runtime: "RuntimeStore"
    shared: bool = False  # other processes change these stores too (Redis); memory is this process's alone

    async def clear(self) -> None:
        for store in (self.jobs, self.deliveries, self.wallets, self.rates, self.journal, self.runtime):
            await store.clear()

    async def ping(self) -> None:
        """Return once the store answers; StoreUnavailable if it does not."""
        await self.runtime.ping()

    async def close(self) -> None:
        closer = getattr(self.jobs, "close", None)
        if closer is not None:
            await closer()


class RuntimeStore(Protocol):
    """What the admin API changes at run time and every instance must agree on: rules added
    at run time and how often each rule was used, the timing of new jobs, the clock offset.

    An instance keeps a copy of this state; `current` says whether that copy is known to be up to date
    (always, in memory; while following the other instances' changes, in Redis)."""

    current: bool

    def follow(self, take_up) -> None:
        """Start calling `await take_up()` whenever another instance changes the state."""

    async def stop_following(self) -> None: ...

    async def ping(self) -> None:
        """Return once the store answers; StoreUnavailable if it does not."""

    async def snapshot(self) -> dict:
        """{"offset": seconds, "timing": dict or None, "version": n}; `version` changes with every change."""

    async def add_offset(self, seconds: float) -> None: ...

    async def set_timing(self, timing: dict | None) -> None: ...

    async def rules(self) -> list[dict]:
        """The rules added at run time, in the order they were added."""

    async def add_rule(self, rule: dict) -> None: ...

    async def delete_rule(self, rule_id: str) -> bool: ...

    async def take(self, rule_id: str, times: int | None) -> int:
        """Atomically use the rule once: which use this is (from 1), or 0 if it has been used `times` times
        already."""

    async def uses(self) -> dict[str, int]: ...

    async def clear(self) -> None:
        """Forget the run-time rules, every rule's uses, the timing and the clock offset."""
