"""Which operations of the specs a method and path reach: the one path-to-operation matcher (as starlette has one
`compile_path` for every route kind), used by the mock's router, replay, the recorder and the judging of
recordings. Exact paths are one dict lookup; templated ones (`{request_id}`: one segment) one regex each,
compiled by the router's `path_pattern`."""

from collections.abc import Iterable

from mock_server.operations.model import Operation
from mock_server.router import path_pattern


class OperationMatcher:
    def __init__(self, operations: Iterable[Operation]) -> None:
        self._by_template: dict[str, list[Operation]] = {}  # in document order
        for operation in operations:
            self._by_template.setdefault(operation.path, []).append(operation)
        self._exact = {path: found for path, found in self._by_template.items() if "{" not in path}
        self._templated = [(path_pattern(path), found) for path, found in self._by_template.items() if "{" in path]

    def at(self, path: str) -> list[Operation]:
        """Every operation on this path, of any method (several where variants share a path), in document order."""
        found = self._exact.get(path)
        if found is not None:
            return found
        return next((operations for pattern, operations in self._templated if pattern.match(path)), [])

    def candidates(self, method: str, path: str) -> list[Operation]:
        """The operations this method and path reach (the default operation first, then its variants)."""
        return sorted((op for op in self.at(path) if op.method == method), key=lambda op: op.variant is not None)

    def is_api(self, path: str) -> bool:
        """Some operation of the specs has this path."""
        return bool(self.at(path))

    def templates(self, method: str | None = None) -> list[str]:
        """Every path template (that `method` reaches, if given), in document order."""
        return [path for path, found in self._by_template.items()
                if method is None or any(op.method == method for op in found)]
