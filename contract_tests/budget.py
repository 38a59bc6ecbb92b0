"""The cost guard: a run against the live gateway never spends more than it was allowed. A call's price is
reserved before it is sent and given back when the answer shows nothing was charged (not a 2xx: a refusal, a
402, a fault), so `spent` is what the run's accepted calls cost at the documented prices."""

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

    def spend(self, operation: Operation, body) -> float:
        """Reserve the call's price (what `settle` needs), or raise BudgetExceeded (unknown prices are never
        affordable, except where nothing limits the run: flux-mock, whose calls cost nothing real)."""
        if not self.may_cost(operation):
            return 0.0
        unlimited = math.isinf(self.limit)
        if operation.pricing.usd is None and not operation.pricing.by_resolution:
            if unlimited:
                return 0.0
            raise BudgetExceeded(f"{operation.operation_id} has no documented price")
        price = self.price(operation, body)
        if not unlimited and self.spent + price > self.limit + 1e-12:
            raise BudgetExceeded(f"{operation.operation_id} costs ${price:g}; spent ${self.spent:g} of ${self.limit:g}")
        self.spent += price
        return price

    def settle(self, reserved: float, status: int) -> None:
        """The answer came: a call not accepted (no 2xx) was not charged, so its reservation is given back."""
        if not 200 <= status < 300:
            self.spent = max(0.0, self.spent - reserved)
