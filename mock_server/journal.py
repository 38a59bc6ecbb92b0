"""The request journal: the most recent requests with what the mock made of them, in a ring buffer."""

from collections import deque
from itertools import count


class Journal:
    def __init__(self, size: int) -> None:
        self._entries: deque[dict] = deque(maxlen=size)
        self._seq = count(1)

    def record(self, entry: dict) -> dict:
        entry = {"seq": next(self._seq), **entry}
        self._entries.append(entry)
        return entry

    def entries(self, operation_id: str | None = None, violations_only: bool = False,
                limit: int | None = None) -> list[dict]:
        found = [e for e in self._entries
                 if (operation_id is None or e.get("operation_id") == operation_id)
                 and (not violations_only or e.get("violations"))]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        self._entries.clear()
