"""The cost guard: a run against the live gateway never spends more than it was allowed."""

import math

from mock_server.media import plan
from mock_server.operations import Operation


class BudgetExceeded(Exception):
    """Calling this operation would take the run over its --max-spend."""


class Budget:
    def __init__(self, limit_usd: float) -> None:
        self.limit = limit_usd
        self.spent = 0.0

    @staticmethod
    def price(operation: Operation, body) -> float:
        """The documented price of calling `operation` with `body` (0 for free and unpriced-free calls)."""
        try:
            media_plan = plan(body if isinstance(body, dict) else {}, operation.media)
        except (AttributeError, TypeError, ValueError, OverflowError):  # an invalid body: assume the dearest size
            return operation.pricing.price(10**6, 10**6)
        return operation.pricing.price(media_plan.width, media_plan.height)

    @staticmethod
    def may_cost(operation: Operation) -> bool:
        """True unless the operation is documented as free (unknown prices count as paid)."""
        if operation.is_status:
            return False
        pricing = operation.pricing
        return bool(pricing.by_resolution) or pricing.usd is None or pricing.usd > 0

    def spend(self, operation: Operation, body) -> None:
        """Reserve the call's price, or raise BudgetExceeded (unknown prices are never affordable)."""
        if not self.may_cost(operation) or math.isinf(self.limit):
            return
        price = self.price(operation, body)
        if operation.pricing.usd is None and not operation.pricing.by_resolution:
            raise BudgetExceeded(f"{operation.operation_id} has no documented price")
        if self.spent + price > self.limit + 1e-12:
            raise BudgetExceeded(f"{operation.operation_id} costs ${price:g}; spent ${self.spent:g} of ${self.limit:g}")
        self.spent += price
