"""The request journal: the most recent requests and webhook attempts, with what the mock made of them."""

from mock_server.journal_entry import JournalEntry, Pending
from mock_server.store.base import JournalStore


class Journal:
    def __init__(self, store: JournalStore) -> None:
        self._store = store
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Entries lost while the store was down (here, or in the store's own write queue)."""
        return self._dropped + getattr(self._store, "dropped", 0)

    def lost_one(self) -> None:
        """An entry could not be written (the store was down)."""
        self._dropped += 1

    async def record(self, entry: JournalEntry | Pending) -> None:
        """Keep an entry: a live request's is pending (exchange.PendingEntry), made when it is read."""
        await self._store.record(entry)

    async def entries(self, operation_id: str | None = None, violations_only: bool = False,
                      limit: int | None = None) -> list[JournalEntry]:
        """The entries asked for, oldest first: the last `limit` of them."""
        found = [entry for entry in await self._store.entries()
                 if (operation_id is None or entry.operation_id == operation_id)
                 and (not violations_only or entry.violations)]
        return found[-limit:] if limit else found

    async def clear(self) -> None:
        await self._store.clear()
