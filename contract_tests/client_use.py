"""What of the API a client's own traffic touches (`drift --client FILE`): a difference is `used` when the
client met it: it called the difference's operation and, for a difference in an answer of some status, got an
answer of that status. A HAR of the client's own test run (`flux-mock record`, a browser's export) says that
much; it cannot say which fields the client reads, so a difference inside a body the client received is
`used` whether or not its code looks at that field, and one in an answer it never received is `unused`
even if its code would break on it."""

from dataclasses import dataclass

from contract_tests.differences import Difference
from mock_server.har import RecordedExchange
from mock_server.operations.matcher import OperationMatcher


@dataclass(frozen=True)
class ClientUse:
    met: frozenset[tuple[str, int]]  # (operation id, status) of every answer the client received
    called: frozenset[str]  # every operation it called

    @classmethod
    def of(cls, exchanges: list[RecordedExchange], operations) -> "ClientUse":
        matcher = OperationMatcher(operations)
        met: set[tuple[str, int]] = set()
        for exchange in exchanges:
            for operation in matcher.candidates(exchange.method, exchange.path):  # a path's variants alike
                met.add((operation.operation_id, exchange.status))
        return cls(frozenset(met), frozenset(operation_id for operation_id, _ in met))

    def uses(self, difference: Difference) -> bool:
        if difference.status is not None:
            return (difference.operation_id, difference.status) in self.met
        return difference.operation_id in self.called
