"""Answers scripted per test through the fixture's typed admin client: a sequence of outcomes (the last
repeating), rules matched on body fields and headers, the clock, wallets and timing, and a timing set in a
test that survives fuzz_client's resets."""


import httpx
import pytest

from tests.support.pytest_run import run_pytest

KEY = {"Ocp-Apim-Subscription-Key": "author-key"}
GET_DATA = "/flux-1-schnell/v1/getData"


def _statuses(flux_mock, times: int, body=None, headers=None) -> list[int]:
    return [httpx.post(flux_mock.url + GET_DATA, json=body or {"prompt": "x"}, headers={**KEY, **(headers or {})}
                       ).status_code for _ in range(times)]


def test_a_sequence_answers_each_outcome_in_turn_then_the_last_again(flux_mock):
    rule = flux_mock.rules.add(sequence=[429, 429, 200], operation="schnellGetData")
    assert rule.sequence == [429, 429, 200] and rule.outcome is None
    assert _statuses(flux_mock, 5) == [429, 429, 200, 200, 200]
    throttled = flux_mock.requests("schnellGetData")[0]
    assert throttled.status == 429
    (listed,) = flux_mock.rules.list()
    assert listed.id == rule.id and listed.remaining is None


def test_a_sequence_of_outcomes_with_times_stops_applying_when_used_up(flux_mock):
    flux_mock.rules.add(sequence=[{"status": 503}, {"latency": 0}], operation="schnellGetData", times=2)
    assert _statuses(flux_mock, 3) == [503, 200, 200]


def test_rules_match_on_body_fields_and_headers(flux_mock):
    flux_mock.rules.add({"status": 400}, operation="schnellGetData", body={"prompt": "forbidden words"})
    flux_mock.rules.add({"status": 429}, operation="schnellGetData", headers={"X-Tenant": "noisy"})
    assert _statuses(flux_mock, 1, {"prompt": "forbidden words"}) == [400]
    assert _statuses(flux_mock, 1, {"prompt": "fine"}) == [200]
    assert _statuses(flux_mock, 1, headers={"x-tenant": "noisy"}) == [429]
    assert _statuses(flux_mock, 1, headers={"X-Tenant": "quiet"}) == [200]


def test_a_rule_a_sequence_item_cannot_answer_is_refused_naming_it(flux_mock):
    with pytest.raises(httpx.HTTPStatusError) as refused:
        flux_mock.rules.add(sequence=[429, {"status": 418}], operation="schnellGetData")
    assert refused.value.response.status_code == 400
    assert "sequence[1]" in refused.value.response.text or "418" in refused.value.response.text


def test_clock_wallets_and_timing_are_typed(flux_mock):
    before = flux_mock.clock.now()
    assert flux_mock.clock.advance(30) == pytest.approx(before + 30, abs=1)
    flux_mock.wallets.set("author-key", 0)
    assert flux_mock.wallets.balance("author-key") == 0
    paid = httpx.post(f"{flux_mock.url}/flux-pro/v1/pro/textToImage", json={"prompt": "x"}, headers=KEY)
    assert paid.status_code == 402
    assert flux_mock.timing.set(mode="per-poll")["mode"] == "per-poll"
    assert flux_mock.timing.get()["mode"] == "per-poll"


def test_the_fixture_resets_after_each_test_too(tmp_path):
    """A test's rules do not outlive it, even for a client of the session's mock that skips the fixture."""
    (tmp_path / "test_scoped.py").write_text(
        "import httpx\n\n"
        "def test_sets(flux_mock):\n"
        "    flux_mock.rules.add({'status': 500})\n\n"
        "def test_after(flux_mock_server):\n"
        "    assert httpx.get(flux_mock_server + '/__admin/rules').json()['rules'] == []\n")
    run = run_pytest(tmp_path)
    assert "2 passed" in run.stdout, run.stdout[-2000:]


def test_the_timing_a_test_set_survives_fuzz_clients_resets(flux_mock):
    flux_mock.timing.set(mode="per-poll")
    seen = []

    def client():
        seen.append(flux_mock.timing.get()["mode"])
        httpx.post(flux_mock.url + GET_DATA, json={"prompt": "x"}, headers=KEY, timeout=30)

    flux_mock.fuzz_client(client, max_examples=3, seed=7)
    assert seen and set(seen) == {"per-poll"}, seen


def test_schnell_batchs_wait_follows_the_timing_a_test_set(flux_mock):
    """The API waits up to 60 s for a Batch job without webhook_url: per poll, the mock's own polls move the job
    on without pausing; manual, nothing but the admin API moves it, so it answers at once that the job is
    being processed (before: a 60 s wait per call, minutes for a fuzzed Batch client)."""
    batch = f"{flux_mock.url}/flux-1-schnell/v1/getDataBatch"
    flux_mock.timing.set(mode="per-poll")
    final = httpx.post(batch, json={"prompt": "x"}, headers=KEY, timeout=10)
    assert final.status_code == 200 and final.json()["status"] == "completed", final.text
    flux_mock.timing.set(mode="manual")
    waiting = httpx.post(batch, json={"prompt": "x"}, headers=KEY, timeout=10)  # not 60 s
    assert waiting.status_code == 202 and "checkStatus" in waiting.text, waiting.text
