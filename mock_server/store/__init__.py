"""Where jobs live: the JobStore protocol and its reference implementation in memory."""

from mock_server.store.base import JobStore
from mock_server.store.memory import MemoryJobStore

__all__ = ["JobStore", "MemoryJobStore"]
