"""Where a call's generated answer comes from: drawn here, from the server's seed, or drawn by a test
(the kit's `fuzz_client`) that the call's rule names in `draw_from`: the mock asks it, over loopback
HTTP, and the test's hypothesis draws the answer, so it can shrink it when the client fails."""

import httpx

from mock_server.answers.call import Call
from mock_server.operations import Operation

DRAW_TIMEOUT = 30.0  # seconds the test may take to draw one answer (it draws while the client waits)


class NoAnswerDrawn(RuntimeError):
    """No generated answer for this call: the mock gives its own (the reason says why)."""


class AnswerSource:
    """Hypothesis and the generator are loaded on the first generated answer, not at start-up."""

    def __init__(self, operations: tuple[Operation, ...], seed: int) -> None:
        self.operations, self.seed = operations, seed
        self._drawing = None
        self._client: httpx.AsyncClient | None = None

    def _drawer(self):
        if self._drawing is None:
            from mock_server.answers.flows import JobFlows
            from mock_server.answers.generator import AnswerGenerator
            from mock_server.answers.values import SeededDraws

            self._drawing = (AnswerGenerator(self.operations), JobFlows(), SeededDraws(self.seed))
        return self._drawing

    def drawn_here(self, call: Call) -> tuple[object, str | None]:
        """The call's answer body and the job status it shows, drawn from the server's seed."""
        from mock_server.answers.generator import GeneratorError
        from mock_server.answers.values import GeneratorUnavailable

        generator, flows, draws = self._drawer()
        try:
            return draws.run(lambda draw: generator.answer(call, draw, flows))
        except (GeneratorError, GeneratorUnavailable) as error:
            raise NoAnswerDrawn(str(error)) from None

    async def drawn_by(self, url: str, call: Call, method: str, path: str) -> tuple[object, str | None]:
        """The answer the test at `url` draws for the call (a loopback URL, checked when the rule was made)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DRAW_TIMEOUT, trust_env=False)
        try:
            response = await self._client.post(url, json={"operation_id": call.operation_id, "status": call.status,
                                                          "facts": call.facts, "variant": call.variant,
                                                          "method": method, "path": path})
            response.raise_for_status()
            drawn = response.json()
            return drawn["body"], drawn.get("job_status")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise NoAnswerDrawn(f"the test drawing answers at {url} did not answer: {error!r}") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
