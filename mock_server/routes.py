"""The spec's operations grouped by method and path: each route's default operation, its named response
variants (from `x-flux-mock.variant` and `x-flux-mock.variants`), and their validators compiled once."""

from dataclasses import dataclass

from mock_server.spec import Operation
from mock_server.validation import OperationValidator


@dataclass(frozen=True)
class OperationRoute:
    operation: Operation
    variants: dict[str, Operation]
    validators: dict[str | None, OperationValidator]  # None: the default operation's

    @classmethod
    def of(cls, operation: Operation, variants: dict[str, Operation]) -> "OperationRoute":
        validators = {None: OperationValidator(operation)}
        validators.update((name, OperationValidator(op)) for name, op in variants.items())
        return cls(operation, variants, validators)


def operation_routes(operations: tuple[Operation, ...]) -> dict[tuple[str, str], OperationRoute]:
    """(method, path) -> its route. An operation marked `variant` answers only under that name; if a route
    has nothing else, the first such operation is also its default."""
    defaults: dict[tuple[str, str], Operation] = {}
    variants: dict[tuple[str, str], dict[str, Operation]] = {}
    for op in operations:
        route = (op.method, op.path)
        named = variants.setdefault(route, {})
        if op.variant:
            named[op.variant] = op
        else:
            defaults[route] = op
        named.update((name, op.as_variant(name)) for name in op.variants)
    return {route: OperationRoute.of(defaults.get(route) or next(iter(named.values())), named)
            for route, named in variants.items()}
