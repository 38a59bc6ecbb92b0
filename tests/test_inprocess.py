"""Behaviour that depends on waiting, checked in-process with a manual clock so no test sleeps."""

import anyio
import httpx
import orjson
import pytest

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.jobs.timing import Timing
from mock_server.settings import Settings

pytestmark = pytest.mark.anyio
KEY = {"Ocp-Apim-Subscription-Key": "k"}
BATCH = "/flux-1-schnell/v1/getDataBatch"


@pytest.fixture
def clock():
    return ManualClock()


def client(clock, **settings) -> httpx.AsyncClient:
    app = create_app(Settings(**settings), clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")


async def test_batch_without_webhook_waits_on_the_clock_until_done(clock):
    async with client(clock, timing=Timing(queued_for=5, processing_for=10)) as api:
        started = clock.now()
        response = await api.post(BATCH, json={"prompt": "x"}, headers=KEY)
    assert response.status_code == 200 and response.json()["status"] == "completed"
    assert clock.now() - started == pytest.approx(15)
    assert response.json()["completedAt"] == int((started + 15) * 1000)


async def test_batch_without_webhook_gives_up_after_60_seconds_with_a_job_to_poll(clock):
    async with client(clock, timing=Timing(queued_for=50, processing_for=50)) as api:
        started = clock.now()
        response = await api.post(BATCH, json={"prompt": "x"}, headers=KEY)
    assert response.status_code == 202 and response.json()["status"] in ("queued", "processing")
    assert clock.now() - started == pytest.approx(60), "the API's own wait, on the mock's clock"


async def test_batch_without_webhook_in_manual_timing_answers_at_once_with_a_job_to_poll(clock):
    """Nothing but the admin API moves a manual job: waiting 60 s could not change the answer (and cost real
    tests a minute a call), so the 202 comes at once."""
    async with client(clock, timing=Timing(mode="manual")) as api:
        started = clock.now()
        response = await api.post(BATCH, json={"prompt": "x"}, headers=KEY)
        assert response.status_code == 202 and response.json()["status"] == "queued"
        assert clock.now() == started
        request_id = response.json()["requestId"]
        await api.post(f"/__admin/jobs/{request_id}/advance", json={"to_end": True})
        done = await api.post("/flux-1-schnell/v1/checkStatus", json={"requestId": request_id}, headers=KEY)
    assert done.json()["status"] == "completed"


async def test_sync_latency_and_scenario_latency_pass_on_the_clock(clock):
    async with client(clock, timing=Timing(sync_latency=2.5)) as api:
        started = clock.now()
        response = await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"},
                                  headers={**KEY, "Prefer": "latency=4"})
    assert response.status_code == 200
    assert clock.now() - started == pytest.approx(6.5)


@pytest.mark.parametrize("mode", ["time", "per-poll", "manual"])
async def test_a_sync_call_takes_the_timings_own_latency_in_every_mode_but_observed(clock, mode):
    """docs/guide/scenarios.md, pick the timing: --sync-latency S makes sync calls take S seconds; only `observed`
    draws the live gateway's 28-39 s instead."""
    async with client(clock, timing=Timing(mode=mode, sync_latency=1.5)) as api:
        started = clock.now()
        response = await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
    assert response.status_code == 200
    assert clock.now() - started == pytest.approx(1.5)


async def test_time_mode_follows_the_clock(clock):
    async with client(clock) as api:
        submitted = (await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)).json()
        statuses = []
        for step in (0, 1, 2):
            if step:
                clock.advance(1.0)
            statuses.append((await api.get(submitted["polling_url"], headers=KEY)).json()["status"])
    assert statuses == ["QUEUED", "PROCESSING", "PROCESSING"]


async def test_admin_clock_advance_moves_every_job(clock):
    async with client(clock) as api:
        submitted = (await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)).json()
        moved = await api.post("/__admin/clock/advance", json={"seconds": 3})
        status = (await api.get(submitted["polling_url"], headers=KEY)).json()
    assert moved.json()["epoch_seconds"] == clock.now()
    assert status["status"] == "COMPLETED"


async def test_public_url_is_written_into_polling_and_media_urls(clock):
    async with client(clock, public_url="https://mock.example:9000", timing=Timing(mode="per-poll")) as api:
        submitted = (await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)).json()
        assert submitted["polling_url"].startswith("https://mock.example:9000/v2/requests/status/")
        for _ in range(2):
            status = (await api.get(f"/v2/requests/status/{submitted['request_id']}", headers=KEY)).json()
    assert status["output"]["media_url"][0].startswith("https://mock.example:9000/v1/")


async def test_strict_mode_rejects_and_records_undocumented_fields(clock):
    async with client(clock, strict=True) as api:
        response = await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x", "colour": "red"}, headers=KEY)
        journal = (await api.get("/__admin/journal")).json()["entries"]
    assert response.status_code == 400 and response.json()["message"] == "colour is not a documented field"
    assert journal[-1]["violations"] == ["colour is not a documented field"]


async def test_admin_timing_jobs_wallets_and_reset(clock):
    async with client(clock) as api:
        assert (await api.put("/__admin/timing", json={"mode": "manual"})).json()["mode"] == "manual"
        assert (await api.put("/__admin/timing", json={"mode": "sometimes"})).status_code == 400
        submitted = (await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)).json()
        jobs = (await api.get("/__admin/jobs", params={"status": "QUEUED"})).json()["jobs"]
        assert [j["request_id"] for j in jobs] == [submitted["request_id"]]
        advanced = (await api.post(f"/__admin/jobs/{submitted['request_id']}/advance")).json()
        assert advanced["status"] == "PROCESSING" and advanced["charged_usd"] == 0.025
        assert (await api.put("/__admin/wallets/k", json={"balance": 0})).json() == {"key": "k", "balance": 0}
        assert (await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)).status_code == 402
        assert (await api.get("/__admin/jobs/nope")).status_code == 404
        assert (await api.post("/__admin/reset")).status_code == 204
        assert (await api.get("/__admin/health")).json()["jobs"] == 0
        assert (await api.get("/__admin/timing")).json()["mode"] == "time"
        assert (await api.get("/__admin/wallets")).json()["wallets"] == {}


async def test_admin_rejects_invalid_scenario_rules_with_the_field_named(clock):
    async with client(clock) as api:
        response = await api.post("/__admin/rules", json={"outcome": {"job": "MAYBE"}})
    assert response.status_code == 400 and "outcome.job" in response.json()["message"]


async def test_admin_needs_the_token_when_one_is_set(clock):
    async with client(clock, admin_token="s3cret-token") as api:
        assert (await api.get("/__admin/health")).status_code == 403
        assert (await api.get("/__admin/health", headers={"X-Admin-Token": "s3cret-token"})).status_code == 200


async def test_admin_is_off_for_clients_beyond_loopback_without_a_token(clock):
    app = create_app(Settings(), clock=clock)
    remote = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://mock.test") as api:
        refused = await api.post("/__admin/reset")
        assert refused.status_code == 403 and "loopback" in refused.json()["message"]
        assert (await api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)).status_code == 200
    app = create_app(Settings(admin_token="a-long-token"), clock=clock)
    remote = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://mock.test") as api:
        assert (await api.post("/__admin/reset", headers={"X-Admin-Token": "a-long-token"})).status_code == 204
        assert (await api.post("/__admin/reset", headers={"X-Admin-Token": "wrong"})).status_code == 403


async def _deliveries_of(app, want: int, timeout: float = 30.0) -> list[dict]:
    """The journal's webhook entries, once there are `want` of them (the dispatcher sends in the background)."""
    deadline = anyio.current_time() + timeout
    while True:
        sent = [entry for entry in await app.mock.journal.entries() if entry.kind == "webhook"]
        if len(sent) >= want:
            return sent
        assert anyio.current_time() < deadline, f"{want} webhook attempts not journaled within {timeout:g} s"
        await anyio.sleep(0.02)


async def test_webhooks_go_through_the_transport_create_app_is_given(clock):
    """create_app(transport=) is the seam for webhooks (as httpx's): a test sees each POST without a receiver,
    and 'delivered' is what that transport answered."""
    received, answers = [], iter([200, 503])

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append((str(request.url), request.headers["webhook-id"], orjson.loads(request.content)))
        return httpx.Response(next(answers))

    app = create_app(Settings(timing=Timing(queued_for=0, processing_for=0)), clock=clock,
                     transport=httpx.MockTransport(receiver))
    await app.mock.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
            for _ in range(2):
                answer = await api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                                        headers={**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook"})
                assert answer.is_success, answer.text
                await _deliveries_of(app, len(received) + 1)
        sent = await _deliveries_of(app, 2)
    finally:
        await app.mock.stop(grace=0)
    assert [url for url, _, _ in received] == ["http://127.0.0.1:9/hook"] * 2
    assert all(body["status"] == "COMPLETED" for _, _, body in received)
    assert [(entry.status, entry.error) for entry in sent] == [(200, None), (503, "answered 503")]
