"""Where the mock's state lives: the store protocols, in memory (default) or in Redis (shared)."""

from mock_server.exit_codes import ConfigError
from mock_server.store.base import DeliveryStore, JobStore, JournalStore, RateStore, Stores, WalletStore
from mock_server.store.memory import MemoryJobStore, memory_stores


def open_stores(url: str | None, journal_size: int) -> Stores:
    """`memory://` (or None) or `redis://host:port/db`."""
    if url is None or url.startswith("memory:"):
        return memory_stores(journal_size)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mock_server.store.redis import redis_stores

        return redis_stores(url, journal_size)
    raise ConfigError(f"unknown store {url!r}: use memory:// or redis://HOST:PORT/DB (rediss:// and unix:// too)")


__all__ = ["DeliveryStore", "JobStore", "JournalStore", "MemoryJobStore", "RateStore", "Stores", "WalletStore",
           "open_stores"]
