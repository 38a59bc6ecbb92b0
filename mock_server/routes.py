"""The spec's operations grouped by method and path: each route's default operation, its named response
variants (from `x-flux-mock.variant` and `x-flux-mock.variants`), and their validators compiled once."""

from dataclasses import dataclass

from mock_server.operations import Operation
from mock_server.validation import OperationValidator


@dataclass(frozen=True)
class OperationRoute:
    operation: Operation
    variants: dict[str, Operation]
    validators: dict[str | None, OperationValidator]  # None: the default operation's
    # variant names its default operation already answers as: those its own document stands for (page
    # 002's getFluxProStatus exists only in the flux-pro-legacy document; asking it for that variant is no change)
    already: frozenset[str] = frozenset()

    @classmethod
    def of(cls, operation: Operation, variants: dict[str, Operation], already=frozenset()) -> "OperationRoute":
        validators = {None: OperationValidator(operation)}
        validators.update((name, OperationValidator(op)) for name, op in variants.items())
        return cls(operation, variants, validators, frozenset(already))


def named_variants(operations: tuple[Operation, ...]) -> dict[tuple[str, str], dict[str, Operation]]:
    """(method, path) -> its named response variants: the operations marked `variant`, and each operation's
    own `variants` (the operation as that variant answers)."""
    variants: dict[tuple[str, str], dict[str, Operation]] = {}
    for op in operations:
        named = variants.setdefault((op.method, op.path), {})
        if op.variant:
            named[op.variant] = op
        named.update((name, op.as_variant(name)) for name in op.variants)
    return variants


def operation_routes(operations: tuple[Operation, ...]) -> dict[tuple[str, str], OperationRoute]:
    """(method, path) -> its route. An operation marked `variant` answers only under that name; if a route
    has nothing else, the first such operation is also its default."""
    defaults = {(op.method, op.path): op for op in operations if not op.variant}
    by_document: dict[str, set[str]] = {}
    for op in operations:
        if op.variant:
            by_document.setdefault(op.spec, set()).add(op.variant)
    routes = {}
    for route, named in named_variants(operations).items():
        default = defaults.get(route) or next(iter(named.values()))
        routes[route] = OperationRoute.of(default, named, by_document.get(default.spec, ()))
    return routes
