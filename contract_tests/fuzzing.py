"""`fuzz_client`: a property-based test of a client, against every answer the spec allows.

    def test_my_client_survives(flux_mock):
        client = MyClient(base_url=flux_mock.url, key="any-key")
        flux_mock.fuzz_client(lambda: client.generate("a red fox"), max_examples=100)

Each example resets the mock, adds the test's own rules again, then one rule: every answer is generated, and
drawn by this test. After the reset the timing the test set (`flux_mock.timing.set`) is put back; what it did
not set is fast: jobs end at once on the mock's own clock (queued and processing for 0 s), so when hypothesis
ends an example early, the client's remaining calls get the mock's own answers, which are final at the
first poll (and its webhook is sent), and the client finishes at once instead of polling a queued job.
The mock posts each call (operation, status, the job's facts) to a loopback server here; hypothesis
draws the body in the test's own thread (its draws are only valid there), so when the client raises,
hypothesis shrinks the drawn answers to the smallest set that still breaks it. The failure names
every answer the client got, in order, and the seed that replays the run.

When it returns, the evidence stays: the journal holds the last example's entries (`flux_mock.journal`), the
earlier examples' are kept too (`flux_mock.journal.of_fuzz_runs()`, at most 10,000 entries), outcome coverage
counted every example (each reset tells the fixture's observers first), and the timing and rules in force
before the call are in force again.

The client runs in a worker thread meanwhile: an example that takes longer than `timeout` fails as a
client that never finished (its thread is left to end on its own; it cannot be killed).
"""

import itertools
import json
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st

from mock_server.answers.flows import JobFlows
from mock_server.answers.call import Call
from mock_server.answers.generator import AnswerGenerator, spec_generator

DEFAULT_EXAMPLES = 100
DEFAULT_TIMEOUT = 30.0
_SHOWN_BODY = 2000  # characters of each answer body the failure report shows


class ClientDidNotFinish(AssertionError):
    """The client was still running when its example's time was up."""


class _DrawRequests(ThreadingHTTPServer):
    """The loopback server the mock asks for answers; each request waits until the test thread drew it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _DrawHandler)
        self.pending: queue.Queue = queue.Queue()

    def url(self, example: int) -> str:
        """Where the mock asks for the answers of one example (a late call of an earlier one is refused)."""
        return f"http://127.0.0.1:{self.server_address[1]}/draw/{example}"


class _DrawHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        asked = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        answer: Future = Future()
        self.server.pending.put((self.path, asked, answer))
        try:
            body = json.dumps(answer.result(timeout=DEFAULT_TIMEOUT), ensure_ascii=False).encode()
            status = 200
        except BaseException as error:  # no draw for it: the mock falls back to its own answer
            body, status = json.dumps({"error": repr(error)}).encode(), 503
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Example:
    """One run of the client: its calls, the answers drawn for them, and how it ended."""

    def __init__(self, generator: AnswerGenerator, data, path: str) -> None:
        self.generator, self.data, self.flows, self.path = generator, data, JobFlows(), path
        self.calls: list[tuple[dict, object]] = []
        self.error: BaseException | None = None

    def draw(self, asked: dict) -> dict:
        number = len(self.calls) + 1
        call = Call(asked["operation_id"], int(asked["status"]), asked.get("facts") or {}, asked.get("variant"))

        def draw(strategy, label=None):
            return self.data.draw(strategy, label=f"call {number} ({asked['operation_id']}): {label}")
        body, job_status = self.generator.answer(call, draw, self.flows)
        self.calls.append((asked, body))
        return {"body": body, "job_status": job_status}

    def transcript(self) -> str:
        lines = []
        for number, (asked, body) in enumerate(self.calls, 1):
            shown = json.dumps(body, ensure_ascii=False)
            shown = shown if len(shown) <= _SHOWN_BODY else shown[:_SHOWN_BODY] + f"... ({len(shown)} characters)"
            lines.append(f"  call {number}: {asked.get('method')} {asked.get('path')} ({asked['operation_id']}) -> "
                         f"{asked['status']} {shown}")
        return "\n".join(lines) or "  (the client made no call the mock answered with a generated body)"


def _run_client(fn: Callable[[], object], example: _Example, done: queue.Queue) -> None:
    try:
        fn()
    except BaseException as error:  # handed to the test thread, which raises it there
        example.error = error
    finally:
        done.put(None)  # wakes the test thread at once, instead of at its next look


def fuzz_client(mock, fn: Callable[[], object], max_examples: int = DEFAULT_EXAMPLES, seed: int | None = None,
                expected_errors: tuple[type[BaseException], ...] = (), timeout: float = DEFAULT_TIMEOUT) -> None:
    """Call `fn` `max_examples` times, every answer of the mock drawn by hypothesis; raise the client's first
    failure, shrunk, with every answer it got and the seed to replay it. `expected_errors`: the exceptions
    the client is meant to raise on a bad answer (its own clean errors), which are no failure."""
    seed = random.randrange(2**32) if seed is None else seed
    generator = spec_generator()
    server = _DrawRequests()
    serving = threading.Thread(target=server.serve_forever, name="flux-mock fuzz draws", daemon=True)
    serving.start()
    replay = f"replay: flux_mock.fuzz_client(fn, max_examples={max_examples}, seed={seed})"
    examples = itertools.count(1)

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=max_examples, database=None, deadline=None, print_blob=False, report_multiple_bugs=False,
                         phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run_client(data) -> None:
        url = server.url(next(examples))
        state.fresh(url)
        example = _Example(generator, data, urlsplit(url).path)
        worker = threading.Thread(target=_run_client, args=(fn, example, server.pending),
                                  name="flux-mock fuzzed client", daemon=True)
        worker.start()
        _serve_draws(server, example, worker, timeout)
        if example.error is not None and not isinstance(example.error, expected_errors):
            hypothesis.note(f"flux-mock fuzz_client: the client failed on these answers (seed {seed}; {replay}):\n"
                            + example.transcript())
            raise example.error

    state = _MockBetweenExamples(mock)
    try:
        run_client()
    finally:
        server.shutdown()
        server.server_close()
        serving.join(timeout=5)
        state.restore()


class _MockBetweenExamples:
    """The mock as each example finds it (reset, the test's timing and rules, a rule that draws every answer) and
    as the test finds it afterwards (the last example's journal and jobs, its own timing and rules)."""

    def __init__(self, mock) -> None:
        self.mock = mock
        self.timing = mock.timing.get()
        self.rules = [rule for rule in mock.rules.list() if rule.source == "admin"]  # a reset removes them
        self.drawing = None
        mock.reset()  # the test's own entries go to the fixture's observers (coverage) first
        mock.observers.append(mock.kept_from_fuzzing)
        self.first = True

    def fresh(self, url: str) -> None:
        if not self.first:
            self.mock.reset()  # the previous example's entries are kept (observers) first
        self.first = False
        self.mock.timing.again_after_reset()  # the test's own timing survives the reset; else jobs end at once
        for rule in self.rules:
            self.mock.rules.add_raw(rule.as_added())
        self.drawing = self.mock.rules.add_raw({"match": {}, "outcome": {"dynamic": True, "draw_from": url}})

    def restore(self) -> None:
        self.mock.observers.remove(self.mock.kept_from_fuzzing)
        try:
            if self.drawing is not None:
                self.mock.rules.remove(self.drawing.id)
            self.mock.timing.put(self.timing)
        except httpx.HTTPError:
            pass  # a mock the client made unreachable: nothing left to put back


def _serve_draws(server: _DrawRequests, example: _Example, worker: threading.Thread, timeout: float) -> None:
    """Draw each answer the mock asks for, in this (hypothesis's) thread, until the client is done. When
    hypothesis ends the example early (it ran out of choices), the client's remaining calls get the mock's
    own answers, so its thread is done before the next example starts."""
    deadline = time.monotonic() + timeout
    try:
        while worker.is_alive():
            if time.monotonic() > deadline:
                example.error = ClientDidNotFinish(f"the client did not finish within {timeout:g} s "
                                                   f"({len(example.calls)} calls answered)")
                return
            for path, asked, answer in _asked(server):
                answer.set_result(example.draw(asked)) if path == example.path else answer.set_exception(
                    LookupError(f"{path} is an earlier example's"))
    except BaseException:
        while worker.is_alive() and time.monotonic() < deadline:
            for _, _, answer in _asked(server):
                answer.set_exception(LookupError("this example has ended"))
        raise


def _asked(server: _DrawRequests):
    """The next draw the mock asks for, if one comes within a moment (a future is answered, whatever happens);
    nothing when a client thread says it is done."""
    try:
        pending = server.pending.get(timeout=0.02)
    except queue.Empty:
        return
    if pending is None:
        return
    path, asked, answer = pending
    try:
        yield path, asked, answer
    finally:
        if not answer.done():
            answer.set_exception(LookupError("no draw"))
