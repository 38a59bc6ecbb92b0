"""Network chaos (mock_server/chaos.py): each fault as a client meets it, the same seed giving the same faults,
and `report` judging how the client took them."""

import asyncio

import httpx
import pytest

from contract_tests.process import running_mock
from mock_server.chaos import Drop, Jitter, ServerError, Slow, Throttle
from mock_server.redaction import mask_key
from tests.support.kit_runs import kit

SUBMIT = "/flux-dev/v1/dev/textToImage"
PROMPT = {"prompt": "a red fox"}


def _key(name: str) -> dict:
    return {"Ocp-Apim-Subscription-Key": f"chaos-{name}"}


def _shown(name: str) -> str:
    return mask_key(f"chaos-{name}", False)


def _advance(api, seconds: float) -> None:
    api.post("/__admin/clock/advance", json={"seconds": seconds}).raise_for_status()


def test_prefer_chaos_error_answers_a_503_with_retry_after_and_journals_it(api):
    answer = api.post(SUBMIT, json=PROMPT, headers={**_key("e"), "Prefer": "chaos=error"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    entry = api.get("/__admin/journal").json()["entries"][-1]
    assert entry["answer"] == "chaos:error" and entry["retry_after"] == 1 and entry["status"] == 503


def test_prefer_chaos_throttle_answers_the_documented_429_with_retry_after(api):
    answer = api.get("/v2/requests/status/abc", headers={**_key("t"), "Prefer": "chaos=throttle"})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1" and answer.json()["error"]


def test_prefer_chaos_drop_closes_the_connection_mid_answer(api, mock_url):
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(mock_url + SUBMIT, json=PROMPT, headers={**_key("d"), "Prefer": "chaos=drop"}, timeout=5)
    assert api.get("/__admin/journal").json()["entries"][-1]["answer"] == "chaos:drop"


def test_a_slow_body_arrives_whole_in_pieces(api):
    api.post("/__admin/rules", json={"outcome": {"chaos": {"slow": 1, "slow_seconds": 0.2}}}).raise_for_status()
    with api.stream("POST", SUBMIT, json=PROMPT, headers=_key("s")) as answer:
        pieces = [piece for piece in answer.iter_raw() if piece]
    assert answer.status_code == 202 and len(pieces) >= 2
    assert b"".join(pieces).startswith(b'{"request_id"')


def test_an_unknown_fault_is_a_400_naming_the_faults(api):
    answer = api.post(SUBMIT, json=PROMPT, headers={**_key("u"), "Prefer": "chaos=earthquake"})
    assert answer.status_code == 400
    assert "chaos=earthquake is not a fault flux-mock knows; faults: drop, error, throttle, slow, jitter" in \
        answer.json()["message"]


def test_a_chaos_rule_with_an_unknown_rate_is_refused(api):
    answer = api.post("/__admin/rules", json={"outcome": {"chaos": {"erors": 0.5}}})
    assert answer.status_code == 400 and "erors" in answer.json()["message"]


def _faults(url: str, calls: int = 40) -> list:
    """Each call from a key of its own (no burst or storm carries over): its status, and drops as 'drop'."""
    seen = []
    with httpx.Client(base_url=url, timeout=5) as client:
        for number in range(calls):
            try:
                seen.append(client.post(SUBMIT, json=PROMPT, headers=_key(f"seeded-{number}")).status_code)
            except httpx.RemoteProtocolError:
                seen.append("drop")
    return seen


def test_the_same_chaos_seed_gives_the_same_faults(tmp_path):
    config = tmp_path / "chaos.yaml"
    config.write_text("chaos: {seed: 5, errors: 0.25, throttles: 0.15, drops: 0.1}\n")
    other = tmp_path / "other.yaml"
    other.write_text("chaos: {seed: 6, errors: 0.25, throttles: 0.15, drops: 0.1}\n")
    with running_mock("--config", str(config)) as first, running_mock("--config", str(config)) as second, \
            running_mock("--config", str(other)) as third:
        faults = _faults(first)
        assert faults == _faults(second) and faults != _faults(third)
    assert {429, 202, "drop"} <= set(faults) and {500, 502, 503, 504} & set(faults)


def _verdicts(api) -> dict:
    report = api.get("/__admin/client-report").json()
    first = {}
    for verdict in report["chaos"]:  # the first fault of each key (keys as the journal shows them)
        first.setdefault(verdict["key"], verdict)
    return first, report


def test_report_judges_how_the_client_took_each_fault(api, mock_url):
    # honoured: a 429, then a retry once Retry-After has passed
    api.post(SUBMIT, json=PROMPT, headers={**_key("patient"), "Prefer": "chaos=throttle"})
    _advance(api, 1.5)
    api.post(SUBMIT, json=PROMPT, headers=_key("patient"))
    # ignored: a retry straight after the 503's Retry-After: 1
    api.post(SUBMIT, json=PROMPT, headers={**_key("eager"), "Prefer": "chaos=error"})
    api.post(SUBMIT, json=PROMPT, headers=_key("eager"))
    # backed off: a drop, then a retry a little later
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(mock_url + SUBMIT, json=PROMPT, headers={**_key("calm"), "Prefer": "chaos=drop"}, timeout=5)
    _advance(api, 0.5)
    api.post(SUBMIT, json=PROMPT, headers=_key("calm"))
    # gave up: a drop and nothing more
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(mock_url + SUBMIT, json=PROMPT, headers={**_key("quitter"), "Prefer": "chaos=drop"}, timeout=5)
    # hammered: a 503 burst answered by a tight retry loop
    api.post("/__admin/rules", json={"match": {"key": "chaos-hammer"},
                                         "outcome": {"chaos": {"errors": 1, "burst": 10}}}).raise_for_status()
    for _ in range(6):
        api.post(SUBMIT, json=PROMPT, headers=_key("hammer"))
    verdicts, report = _verdicts(api)
    assert verdicts[_shown("patient")]["verdict"] == "honoured Retry-After"
    assert verdicts[_shown("eager")]["verdict"] == "ignored Retry-After"
    assert verdicts[_shown("calm")]["verdict"] == "backed off"
    assert verdicts[_shown("quitter")]["verdict"] == "gave up cleanly"
    assert verdicts[_shown("hammer")]["verdict"] == "hammered"
    kinds = {(finding["kind"], finding["key"]) for finding in report["findings"]}
    assert ("hammered", _shown("hammer")) in kinds and ("ignored-retry-after", _shown("eager")) in kinds
    assert ("hammered", _shown("patient")) not in kinds and report["summary"]["chaos"]["hammered"] == 1
    printed = kit("report", "--base-url", mock_url)
    assert printed.returncode == 1 and "network faults met:" in printed.stdout
    assert "hammered: " in printed.stdout and "gave up cleanly: no retry of the operation" in printed.stdout


class _Port:
    """A FaultInjector that only notes what a fault asked of it: the faults need nothing else of a call."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def drop(self):
        self.asked.append(("drop",))
        return "dropped"

    def answer(self, status, retry_after):
        self.asked.append(("answer", status, retry_after))
        return f"answered {status}"

    def trickle(self, seconds):
        self.asked.append(("trickle", seconds))

    async def delay(self, seconds):
        self.asked.append(("delay", seconds))


def test_each_fault_acts_only_through_its_port():
    port = _Port()
    results = [asyncio.run(fault.apply(port)) for fault in (Drop(), ServerError(502), Throttle(retry_after=3.0),
                                                            Slow(2.5), Jitter(0.25))]
    assert results == ["dropped", "answered 502", "answered 429", None, None]
    assert port.asked == [("drop",), ("answer", 502, None), ("answer", 429, 3.0), ("trickle", 2.5), ("delay", 0.25)]
