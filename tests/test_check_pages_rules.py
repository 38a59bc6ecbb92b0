"""`check` fails a server only on the pages' constraints (issue 32): a gateway written only from the pages
(tests/support/pages_server.py, none of flux-mock's code) passes for every operation it serves, what the spec
assumes beyond the pages is noted apart, a documented answer about the caller (402, 401) is never a rejection,
and every distinct breach of an operation is listed, not only the first."""

import json
import os
import re

import pytest

from mock_server import cli
from tests.support.foreign_server import serving
from tests.support.pages_server import PagesGateway, Refused

SERVED = ("schnellGetData", "fluxDevTextToImage", "getRequestStatus", "klein4bGenerateImage", "kontextRestoreImage")
# Flux 2 Dev's /generateT2I is served too, but the pages give it no price: check never calls it beyond flux-mock.


def check(capsys, url: str, *options: str, key: str = "pages-key", operations=SERVED) -> tuple[int, str]:
    chosen = [word for operation in operations for word in ("--operation", operation)]
    code = cli.main(["check", "--base-url", url, "--key", key, "--allow-paid", "--max-spend", "100",
                     "--max-examples", "15", *chosen, *options])
    return code, capsys.readouterr().out


def test_a_gateway_written_only_from_the_pages_passes_check_and_its_assumptions_are_notes(capsys, monkeypatch):
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    gateway = PagesGateway()
    with serving(gateway.app) as url:
        code, output = check(capsys, url)
    assert code == 0, output[-4000:]
    assert " 0 failed" in output.splitlines()[-1] and "not tested" not in output
    assert "\nFailures:" not in output and "\nNot tested:" not in output, "no heading over nothing"
    for operation in SERVED:
        assert f"  {operation} " in output and f"FAILED {operation}" not in output
    # each operation's line comes once its every check has ended, naming them all
    (schnell,) = [line for line in output.splitlines() if line.startswith("  schnellGetData ")]
    assert schnell.endswith("(positive, negative, assumptions)"), schnell
    notes = output.split("Notes (")[1]
    assert "- schnellGetData [assumptions]: accepts num_steps = 0: the spec assumes minimum 1, which no page states" \
        in notes
    assert "- fluxDevTextToImage [assumptions]: accepts X-Webhook-URL = \"not a URL!\"" in notes
    assert "- schnellGetData [assumptions]: accepts prompt = \"\" (empty): the spec assumes minLength 1" in notes
    assert any(method not in ("GET", "POST") for method, _ in gateway.requests), "undeclared methods were tried"


def test_an_assumed_type_of_list_items_is_probed_with_a_value_of_another_type(capsys, monkeypatch):
    """Flux General's loras are objects by the spec's assumption (the page shows none): the probe sends a list
    holding 1, and what the server did is a note. flux-mock takes it, as a gateway the pages describe may."""
    from mock_server.app import create_app
    from mock_server.settings import Settings

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(create_app(Settings()), lifespan="on") as url:
        code, output = check(capsys, url, "--max-examples", "1", operations=("fluxGeneralTextToImageRequest",))
    assert "- fluxGeneralTextToImageRequest [assumptions]: accepts loras[] = 1 (not an object): the spec assumes " \
        "type " in output, output[-3000:]


def test_a_dry_wallets_402_with_the_pages_body_is_never_a_rejected_request(capsys, monkeypatch, tmp_path):
    """Page 003: 402 {"error": "Insufficient Balance", ...}. Every positive case of a paid operation gets it: no
    failure, and the check says it tested nothing of the answers (not a pass either)."""
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(PagesGateway(wallets={"pages-key": 0}).app) as url:
        code, output = check(capsys, url, "--report", str(tmp_path / "junit.xml"),
                             operations=("fluxDevTextToImage", "klein4bGenerateImage"))
    assert "FAILED" not in output and code == 0, output[-3000:]
    assert "skipped fluxDevTextToImage [positive]" in output
    assert "not tested: every positive case was answered about the caller (" in output and "402 x" in output
    assert "the server answered its documented 402" in output and "no job to follow" in output
    # a skip is said by its reason alone, as the suite gave it (not pytest's record of where it was raised)
    assert re.search(r"^    the server answered its documented 402 \(", output, re.M), output[-3000:]
    # in JUnit too: the case is skipped (not passed, not failed), its message the first reason
    junit = (tmp_path / "junit.xml").read_text()
    (case,) = re.findall(r'<testcase classname="fluxDevTextToImage" name="positive".*?</testcase>', junit, re.S)
    assert '<skipped message="' in case and "<failure" not in case and "<error" not in case, case


def test_a_key_without_access_tests_nothing_and_says_every_answer_was_about_the_caller(capsys, monkeypatch):
    """Page 003: 403 Forbidden is an answer about the key (its access), as 401 and 402 are: no failure, nothing
    tested, and the check says so naming the 403s."""
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(PagesGateway(forbidden=("pages-key",)).app) as url:
        code, output = check(capsys, url, operations=("fluxDevTextToImage",))
    assert "FAILED" not in output and code == 4, output[-3000:]
    assert "not tested: every positive case was answered about the caller (403 x" in output, output[-3000:]


def test_a_wrong_key_tests_nothing_and_exits_4_saying_why(capsys):
    with serving(PagesGateway().app) as url:
        code, output = check(capsys, url, key="not-the-key", operations=("schnellGetData", "fluxDevTextToImage"))
    assert code == 4, output[-3000:]
    assert "FAILED" not in output and "answered about the caller (401 x" in output


class TwiceBroken(PagesGateway):
    """Schnell getData broken two ways: with a seed it answers 201 (no page has it), without one its output is a
    number. The positive check must name both, not stop at the first."""

    async def schnell(self, request):
        answer = await super().schnell(request)
        body = await self._body(request)
        if "seed" in body:
            raise Refused(201, {"output": "https://example.test/a.png"})
        if answer.status_code == 200:
            raise Refused(200, {"output": 5})
        return answer


class KeepsTheAssumption(PagesGateway):
    """Schnell getData refusing num_steps below 1, the minimum the spec assumes (page 000 gives only the maximum,
    8): a gateway may be stricter than the pages where they are silent. With `refuse_seed`, it also refuses what
    the pages allow and assume nothing of (a seed)."""

    def __init__(self, refuse_seed: bool = False) -> None:
        super().__init__()
        self.refuse_seed, self.refused_steps = refuse_seed, []

    async def schnell(self, request):
        body = await self._body(request)
        if isinstance(body.get("num_steps"), int) and body["num_steps"] < 1:
            self.refused_steps.append(body["num_steps"])
            raise Refused(400, {"error": "num_steps must be at least 1"})
        if self.refuse_seed and "seed" in body:
            raise Refused(400, {"error": "seed is not taken"})
        return await super().schnell(request)


def test_a_gateway_keeping_an_assumed_minimum_passes_and_what_it_refused_is_noted(capsys, monkeypatch):
    """The spec's `minimum: 1` of num_steps is an assumption (x-assumed): check's generated cases follow the pages
    (no minimum), so a gateway refusing num_steps -3 refuses a case the pages allow. That is a note naming the
    assumption, never a rejected request; and the probe of the assumption sends 0, one below it."""
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    gateway = KeepsTheAssumption()
    with serving(gateway.app) as url:
        code, output = check(capsys, url, operations=("schnellGetData",))
    assert code == 0 and "FAILED" not in output, output[-3000:]
    assert 0 in gateway.refused_steps, "the probe sent no num_steps of 0"
    assert "- schnellGetData [assumptions]: refuses (400: {\"error\":\"num_steps must be at least 1\"}) num_steps = 0: " \
        "the spec assumes minimum 1" in output, output[-3000:]
    refusals = [line for line in output.splitlines() if line.startswith("- schnellGetData [positive]: refuses (400)")]
    assert all("num_steps minimum 1" in line for line in refusals), refusals  # what the case broke, not a guess


def test_a_refused_case_is_noted_by_the_assumptions_it_broke_and_only_a_refusal_is():
    """How the note of the test above is worded, without hypothesis' draw: a 4xx refusing a case that breaks
    assumptions names each (it, or them); a case breaking none, an answer about the caller (429) and a server
    error (500) are no refusal of an assumption."""
    from contract_tests.assumptions import refusal_notes
    from mock_server.operations import load_operations

    schnell = next(op for op in load_operations() if op.operation_id == "schnellGetData")
    tail = "which no page states (a note, never a failure)"
    assert refusal_notes(schnell, {}, {"prompt": "a fox", "num_steps": 0}, 422) == [
        f"refuses (422) a generated case the pages allow but that breaks num_steps minimum 1: the spec assumes it, {tail}"]
    assert refusal_notes(schnell, {}, {"prompt": "", "num_steps": -3}, 400) == [
        "refuses (400) a generated case the pages allow but that breaks prompt minLength 1 and num_steps minimum 1: "
        f"the spec assumes them, {tail}"]
    for body, status in (({"prompt": "a fox", "num_steps": 3}, 400), ({"prompt": "a fox", "num_steps": 0}, 429),
                         ({"prompt": "a fox", "num_steps": 0}, 500)):
        assert refusal_notes(schnell, {}, body, status) == [], (body, status)


def test_a_gateway_refusing_what_no_assumption_touches_still_fails_as_rejecting_valid_requests(capsys, monkeypatch):
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(KeepsTheAssumption(refuse_seed=True).app) as url:
        code, output = check(capsys, url, operations=("schnellGetData",))
    assert code == 1, output[-3000:]
    section = output.split("FAILED schnellGetData [positive]")[1].split("\ncheck ")[0]
    assert "Schema-valid request rejected" in section and "seed is not taken" in section, section[:3000]


def _batch_status_gateway():
    """Only Schnell batch's checkStatus (page 003), from a gateway that keeps every job: a requestId it is asked for
    is one job whose status never changes, completed or still processing as its id falls. The answer names no id
    (as the page's example): check tells the jobs apart by the request that asked."""
    import zlib

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.support.pages_server import INVALID, NOT_FOUND, UNAUTHORIZED

    async def check_status(request):
        if request.method != "POST":
            return JSONResponse(NOT_FOUND, status_code=404)
        if "pages-key" not in (request.headers.get("ocp-apim-subscription-key"), request.headers.get("x-secret-key")):
            return JSONResponse(UNAUTHORIZED, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        job = body.get("requestId") if isinstance(body, dict) else None
        if not isinstance(job, str) or not job:
            return JSONResponse(INVALID, status_code=400)
        if zlib.crc32(job.encode()) % 2:
            return JSONResponse({"status": "processing"})
        return JSONResponse({"status": "completed", "output": "https://media.example.test/batch/kite.png",
                             "completedAt": 1768311019767})

    return Starlette(routes=[Route("/flux-1-schnell/v1/checkStatus", check_status,
                                   methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])],
                     exception_handlers={404: lambda request, exc: JSONResponse(NOT_FOUND, status_code=404)})


def test_jobs_polled_by_an_id_in_the_body_are_each_followed_apart(capsys, monkeypatch):
    """A status only moves forward, per job (page 003's checkStatus answers no id, the request names it in its
    body): one job completed and another still processing is no status going back."""
    with serving(_batch_status_gateway()) as url:
        code, output = check(capsys, url, operations=("schnellCheckStatus",))
    assert code == 0 and "FAILED" not in output, output[-3000:]
    assert "  schnellCheckStatus " in output


class Throttled(PagesGateway):
    """Schnell getData always rate limited: 429 with the pages' body, with or without a Retry-After header."""

    def __init__(self, retry_after: bool) -> None:
        super().__init__()
        self.retry_after = retry_after

    async def schnell(self, request):
        from starlette.responses import JSONResponse

        self._key(request)
        return JSONResponse({"error": "Rate limit exceeded, please retry later"}, status_code=429,
                            headers={"Retry-After": "1"} if self.retry_after else {})


@pytest.mark.parametrize("retry_after", [True, False])
def test_a_429_without_retry_after_is_a_note_and_one_with_it_says_nothing(capsys, retry_after):
    """No page documents Retry-After; the spec assumes the gateway's 429 carries it (Azure API Management sends it
    with every 429): a 429 without it is a note, never a failure, and a 429 with it is nothing to note (schemathesis
    hands check its headers with lower-case names: a 429 with Retry-After was noted as without it)."""
    with serving(Throttled(retry_after).app) as url:
        code, output = check(capsys, url, operations=("schnellGetData",))
    assert "FAILED" not in output, output[-3000:]
    assert ("a 429 without Retry-After: the spec assumes it" in output) is not retry_after, output[-3000:]
    # a probe answered about the caller learnt nothing of its assumption: it says so, not that the value was refused
    assert "- schnellGetData [assumptions]: could not probe num_steps = 0: answered 429 about the caller (the key is " \
        "rate-limited" in output and "refuses (429" not in output, output[-3000:]


def test_every_distinct_breach_of_an_operation_is_listed(capsys):
    with serving(TwiceBroken().app) as url:
        code, output = check(capsys, url, operations=("schnellGetData",))
    assert code == 1
    assert output.index("\nFailures:\n") < output.index("FAILED schnellGetData [positive]"), output[-3000:]
    section = output.split("FAILED schnellGetData [positive]")[1].split("\ncheck ")[0]
    assert "Undocumented HTTP status code" in section or "Undocumented status code" in section, section[:3000]
    assert "Response violates schema" in section or "violates schema" in section.lower(), section[:3000]


@pytest.mark.parametrize("operation", SERVED)
def test_the_stand_in_answers_what_the_pages_refuse_with_the_pages_error(operation):
    """The stand-in is no pushover: a body without its required field is a 400 on each paid and free path."""
    import httpx

    paths = {"schnellGetData": "/flux-1-schnell/v1/getData", "fluxDevTextToImage": "/flux-dev/v1/dev/textToImage",
             "klein4bGenerateImage": "/flux-2-klein-4b/v1/generateImage",
             "kontextRestoreImage": "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"}
    if operation not in paths:
        pytest.skip("a poll takes no body")
    with serving(PagesGateway().app) as url:
        answer = httpx.post(url + paths[operation], json={}, headers={"Ocp-Apim-Subscription-Key": "pages-key"})
    assert answer.status_code == 400 and "error" in answer.json()


def test_a_second_check_in_the_same_process_still_tries_the_undeclared_methods(capsys, monkeypatch):
    """schemathesis sends each undeclared method of a path once per schema object and remembers it: the second
    `check` of a process (two checks, or the pytest plugin after one) sent none, so how a server refuses them
    went untested."""
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    tried = []
    for _ in range(2):
        gateway = PagesGateway()
        with serving(gateway.app) as url:
            code, output = check(capsys, url, operations=("getRequestStatus",))
        assert code == 0, output[-3000:]
        tried.append(sorted({method for method, _ in gateway.requests if method not in ("GET", "POST")}))
    assert tried[0] == tried[1] == ["DELETE", "OPTIONS", "PATCH", "PUT", "TRACE"], tried


def test_a_check_over_http_after_one_in_process_sends_its_cases_to_its_own_server(capsys, monkeypatch):
    """schemathesis keeps the app an operation was first made with: a check of an in-process mock, then one of a
    server by URL in the same process, sent the second's cases to the first's app (401 there: every case
    "answered about the caller"). Each check's cases reach its own server."""
    import asyncio

    import pytest as runner

    from contract_tests.check_report import CheckReporter
    from contract_tests.target import DEFAULT_KEY, Target
    from mock_server.app import create_app
    from mock_server.jobs.timing import Timing
    from mock_server.settings import KeyConfig, Settings

    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    first = create_app(Settings(keys={DEFAULT_KEY: KeyConfig(balance=1_000)},  # its jobs end at once: no real wait
                                timing=Timing(mode="time", queued_for=0, processing_for=0)))
    target = Target(max_examples=2, operations=("fluxDevTextToImage",))
    target.__dict__["app"] = first  # in process, as the kit tests flux-mock's own app
    runner.main(["--pyargs", "contract_tests.suite", "-p", "no:cacheprovider", "-p", "no:terminal",
                 "--assert=plain", "-W", "ignore"], plugins=[CheckReporter(target, open(os.devnull, "w"))])
    capsys.readouterr()
    before = len(asyncio.run(first.mock.journal.entries()))
    gateway = PagesGateway()
    with serving(gateway.app) as url:
        code, output = check(capsys, url, operations=("fluxDevTextToImage",))
    assert code == 0 and "answered about the caller" not in output, output[-3000:]
    assert len(asyncio.run(first.mock.journal.entries())) == before, "none of the second check's cases went to the first"
    assert any(path == "/flux-dev/v1/dev/textToImage" for _, path in gateway.requests)


class TakesEveryMethod(PagesGateway):
    """A gateway that answers an undeclared method on Schnell's path (a PUT, a DELETE) as if it were the POST."""

    def _guarded(self, method: str, handler):
        guard = super()._guarded  # the stand-in's own guard, told that each request's method is the declared one

        async def endpoint(request):
            return await guard(request.method, handler)(request)
        return endpoint


def test_an_undeclared_method_taken_as_a_declared_one_fails_and_only_404_or_405_refuse_it(capsys, monkeypatch):
    """The pages answer 404 {"error": "Endpoint not found"} for what is not an endpoint, and never mention 405: an
    undeclared method must be refused with one of those two. A gateway that answers it (2xx, 400 for its body) is
    named."""
    monkeypatch.setenv("FLUX_CHECK_POLL_INTERVAL", "0.05")
    with serving(TakesEveryMethod().app) as url:
        code, output = check(capsys, url, operations=("schnellGetData",))
    assert code == 1 and "FAILED schnellGetData [negative]" in output, output[-3000:]
    section = output.split("FAILED schnellGetData [negative]")[1].split("\ncheck ")[0]
    assert "Unsupported methods" in section or "Unsupported method" in section, section[:3000]
