"""Values a JSON Schema admits, as a hypothesis strategy: schemathesis's own generator (the vendored successor of
hypothesis-jsonschema, which no longer runs on current hypothesis), reached through this one module.

`SeededDraws` draws from strategies outside a hypothesis test, for the server: the same seed and the same
sequence of calls give the same values.
"""

import itertools
import random
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.control import BuildContext
from hypothesis.errors import HypothesisException, StopTest
from hypothesis.internal.conjecture.data import ConjectureData

Draw = Callable[[st.SearchStrategy, str], Any]
DRAFT_2020_12 = 20  # schemathesis's number for the draft


class GeneratorUnavailable(RuntimeError):
    """The installed schemathesis lacks the generator this module uses."""


def _builder():
    try:
        from schemathesis.generation.jsonschema.builder import build
        from schemathesis.specs.openapi.formats import get_default_format_strategies
    except ImportError as error:  # a schemathesis release that moved its generator
        raise GeneratorUnavailable(f"generated answers need schemathesis's JSON Schema generator: {error}") from None
    return build, get_default_format_strategies


def strategy_for(schema: dict) -> st.SearchStrategy:
    """Every value `schema` admits (formats such as uri and date-time included)."""
    build, formats = _builder()
    return build(schema, draft=DRAFT_2020_12, formats=formats())


class SeededDraws:
    """Draws for the server: call `draws()` once per answer; the n-th answer of a seed is always the same."""

    ATTEMPTS = 3

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._answers = itertools.count()

    def run(self, make: Callable[[Draw], Any]) -> Any:
        """`make(draw)` with a fresh, seeded source of choices (a few tries if one runs out of choices)."""
        for _ in range(self.ATTEMPTS):
            data = ConjectureData(random=random.Random(f"{self.seed}:{next(self._answers)}"))
            try:
                with BuildContext(data, is_final=False, wrapped_test=None):
                    return make(lambda strategy, label=None: data.draw(strategy, label=label))
            except (HypothesisException, StopTest):  # StopTest: this draw ran out of choices
                continue
        raise GeneratorUnavailable(f"no answer could be drawn in {self.ATTEMPTS} tries")
