"""Webhook delivery against a real receiver: every form, retries, refusals, misbehaviour, shutdown."""

import signal
import threading
import time

import httpx
import pytest

from contract_tests.process import MockProcess, running_mock
from contract_tests.receiver import webhook_receiver
from mock_server.webhooks.targets import is_allowed_target
from tests.support.harness import reset_client
from tests.support.ports import closed_port_url
from tests.support.quiet_server import QuietHandler, serving_handler
from tests.support.waiting import wait_until

KEY = {"Ocp-Apim-Subscription-Key": "hook-key"}
KONTEXT = "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"
FLUX_DEV = "/flux-dev/v1/dev/textToImage"
CONFIG = """
timing: {mode: time, queued_for: 0.05, processing_for: 0.05}
webhooks: {max_attempts: 3, backoff: 0.05, timeout: 2}
"""


@pytest.fixture
def api(make_flux_mock):
    """A client of this module's configured mock, reset before each test."""
    with reset_client(make_flux_mock(CONFIG).url) as client:
        yield client


def deliveries(api) -> list[dict]:
    return api.get("/__admin/webhooks").json()["deliveries"]


def final_status(api, submitted) -> dict:
    wait_until(lambda: api.get(submitted["polling_url"], headers=KEY).json()["status"] == "COMPLETED")
    return api.get(submitted["polling_url"], headers=KEY).json()


def test_kontext_webhook_posts_each_event_its_filter_selects_in_order(api, receiver):
    hook = f"{receiver.url}/kontext-events"
    body = {"input_image": "https://e.com/a.png", "webhook": hook,
            "webhook_events_filter": ["queued", "processing", "completed"]}
    submitted = api.post(KONTEXT, json=body, headers=KEY).json()
    received = receiver.wait_for(3, "/kontext-events")
    assert [b["status"] for b in received] == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert received[-1] == final_status(api, submitted)


def test_kontext_webhook_without_filter_sends_the_final_event_only(api, receiver):
    api.post(KONTEXT, json={"input_image": "https://e.com/a.png", "webhook": f"{receiver.url}/kontext-final"},
             headers={**KEY, "Prefer": "job=FAILED"})
    (only,) = receiver.wait_for(1, "/kontext-final")
    assert only["status"] == "FAILED" and only["error"]
    time.sleep(0.3)
    assert len(receiver.bodies("/kontext-final")) == 1


def test_failed_attempts_are_retried_with_backoff_until_delivered(api, receiver):
    receiver.fail_next = 2
    submitted = api.post(FLUX_DEV, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/retry"})
    submitted = submitted.json()
    bodies = receiver.wait_for(3, "/retry")
    assert bodies[0] == bodies[1] == bodies[2] == final_status(api, submitted)
    wait_until(lambda: deliveries(api) and deliveries(api)[0]["state"] == "delivered")
    (delivery,) = deliveries(api)
    assert delivery["attempts"] == 3 and [h["status"] for h in delivery["history"]] == [503, 503, 200]
    attempts = [e for e in api.get("/__admin/journal").json()["entries"] if e.get("kind") == "webhook"]
    assert [(e["attempt"], e["status"]) for e in attempts] == [(1, 503), (2, 503), (3, 200)]


def test_retries_stop_after_max_attempts_when_the_receiver_is_down(api):
    dead = closed_port_url("/gone")
    api.post(FLUX_DEV, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": dead})
    wait_until(lambda: deliveries(api) and deliveries(api)[0]["state"] == "failed")
    (delivery,) = deliveries(api)
    assert delivery["attempts"] == 3 and delivery["last_error"]
    time.sleep(0.3)
    assert deliveries(api)[0]["attempts"] == 3, "no attempt after the last one"


@pytest.mark.parametrize("route, body, headers", [
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "http://example.com/hook"}),
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "https://your-server.com/webhook/callback"}),  # page 003's own
    (KONTEXT, {"input_image": "https://e.com/a.png", "webhook": "https://10.0.0.8/hook"}, {}),
    ("/flux-1-schnell/v1/getDataBatch", {"prompt": "x", "webhook_url": "https://your-domain.com/webhook"}, {}),
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "http://127.0.0.1:1/__admin/reset"}),
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "http://localhost:1/x/../%5F%5Fadmin/reset"}),
])
def test_a_webhook_to_a_target_the_mock_may_not_call_is_accepted_and_blocked(api, route, body, headers):
    response = api.post(route, json=body, headers={**KEY, **headers})
    assert response.status_code == 202, response.text
    wait_until(lambda: deliveries(api) and deliveries(api)[0]["state"] == "blocked")
    (delivery,) = deliveries(api)
    assert delivery["attempts"] == 0 and delivery["last_error"].startswith("blocked: ")
    blocked = [e for e in api.get("/__admin/journal").json()["entries"] if e.get("note") == "blocked"]
    assert [e["path"] for e in blocked] == [delivery["url"]]


def test_a_webhook_url_no_api_would_take_is_refused_where_the_page_says_so(api):
    """Page 003, Kontext restore's error table: { "error": "Invalid webhook URL" }."""
    response = api.post(KONTEXT, json={"input_image": "https://e.com/a.png", "webhook": "not a url"}, headers=KEY)
    assert response.status_code == 400 and response.json() == {"error": "Invalid webhook URL"}
    assert api.get("/__admin/jobs").json()["jobs"] == [] and deliveries(api) == []


@pytest.mark.parametrize("route, body, headers", [
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "file:///etc/passwd"}),
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "http://127.0.0.1/" + "a" * 2100}),
    (FLUX_DEV, {"prompt": "x"}, {"X-Webhook-URL": "http://[::1"}),
    ("/flux-1-schnell/v1/getDataBatch", {"prompt": "x", "webhook_url": "http://127.0.0.1:99999/x"}, {}),
])
def test_a_webhook_url_no_api_would_take_elsewhere_is_taken_never_called_and_noted(api, route, body, headers):
    """No page says X-Webhook-URL or Batch's webhook_url must be a URL (format: uri is this spec's assumption):
    the request is taken, as a lenient gateway would, the target is never called, and the journal notes it."""
    response = api.post(route, json=body, headers={**KEY, **headers})
    assert response.status_code in (200, 202), response.text
    assert all(delivery["state"] == "blocked" for delivery in deliveries(api))
    (entry,) = [entry for entry in api.get("/__admin/journal").json()["entries"] if entry["kind"] == "request"]
    assert entry["violations"] == [] and any("taken, never called" in note for note in entry["assumptions"])


@pytest.mark.parametrize("url, allowed, verdict", [
    ("http://127.0.0.1:9/x", (), True), ("http://[::1]:9/x", (), True), ("http://localhost/x", (), True),
    ("http://127.9.9.9/x", (), True), ("https://example.com/x", (), False), ("http://10.1.2.3/x", (), False),
    ("http://hooks.ci.internal/x", ("*.ci.internal",), True), ("http://ci.internal.evil.com/x", ("*.ci.internal",),
                                                                 False),
    ("http://10.1.2.3/x", ("10.0.0.0/8",), True), ("http://hooks.test/x", ("hooks.test",), True),
    ("ftp://127.0.0.1/x", (), False), ("http:///nohost", (), False),
    ("http://127.0.0.1:9/__admin/reset", (), False), ("http://127.0.0.1/%5f%5fADMIN/x", (), False),
    ("http://hooks.test/a/../__admin", ("hooks.test",), False), ("http://127.0.0.1/admin", (), True),
])
def test_allowed_targets(url, allowed, verdict):
    assert is_allowed_target(url, allowed) is verdict


def test_duplicate_delivery_scenario(api, receiver):
    api.post(FLUX_DEV, json={"prompt": "x"},
             headers={**KEY, "X-Webhook-URL": f"{receiver.url}/dup", "Prefer": "webhook=duplicate"})
    first, second = receiver.wait_for(2, "/dup")
    assert first == second and first["status"] == "COMPLETED"


def test_first_attempt_timeout_scenario_makes_the_receiver_see_it_twice(api, receiver):
    api.post(FLUX_DEV, json={"prompt": "x"},
             headers={**KEY, "X-Webhook-URL": f"{receiver.url}/timeout", "Prefer": "webhook=timeout-first"})
    first, second = receiver.wait_for(2, "/timeout")
    assert first == second
    wait_until(lambda: deliveries(api)[0]["state"] == "delivered")
    assert deliveries(api)[0]["history"][0]["error"].startswith("timed out")


def test_out_of_order_scenario_delivers_kontext_events_newest_first(api, receiver):
    api.post("/__admin/rules", json={"match": {"operation_id": "kontextRestoreImage"},
                                         "outcome": {"webhook": {"out_of_order": True}}, "times": 1})
    api.post(KONTEXT, json={"input_image": "https://e.com/a.png", "webhook": f"{receiver.url}/ooo",
                            "webhook_events_filter": ["queued", "processing", "completed"]}, headers=KEY)
    assert [b["status"] for b in receiver.wait_for(3, "/ooo")] == ["COMPLETED", "PROCESSING", "QUEUED"]


def test_delay_scenario_moves_the_delivery_later(api, receiver):
    api.put("/__admin/timing", json={"mode": "manual"})
    api.post("/__admin/rules", json={"match": {}, "outcome": {"webhook": {"delay": 30}}, "times": 1})
    submitted = api.post(FLUX_DEV, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/late"})
    job = api.post(f"/__admin/jobs/{submitted.json()['request_id']}/advance", json={"to_end": True}).json()
    (delivery,) = deliveries(api)
    assert delivery["state"] == "pending" and delivery["due"] > job["transitions"][1]
    api.post("/__admin/clock/advance", json={"seconds": 31})
    assert receiver.wait_for(1, "/late")[0]["status"] == "COMPLETED"


class _SlowHandler(QuietHandler):
    release = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.release.wait(10)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_hanging_receiver_never_blocks_request_handling(api):
    with serving_handler(_SlowHandler) as url:
        try:
            api.post(FLUX_DEV, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{url}/slow"})
            wait_until(lambda: deliveries(api) and deliveries(api)[0]["state"] == "sending")
            for _ in range(5):
                assert api.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY).status_code == 200
            assert deliveries(api)[0]["state"] == "sending", "still delivering while requests were answered"
        finally:
            _SlowHandler.release.set()


def test_shutdown_finishes_due_deliveries_and_reports_the_rest(receiver):
    mock = MockProcess("--queued-for", "0", "--processing-for", "0")
    try:
        url = mock.url
        httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                   headers={**KEY, "X-Webhook-URL": f"{receiver.url}/at-shutdown"})
        httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "later"},
                   headers={**KEY, "X-Webhook-URL": f"{receiver.url}/duplicated", "Prefer": "webhook=duplicate"})
        httpx.post(f"{url}/__admin/rules", json={"match": {"prompt_contains": "delayed"},
                                                     "outcome": {"webhook": {"delay": 600}}})
        httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "delayed"},
                   headers={**KEY, "X-Webhook-URL": f"{receiver.url}/delayed"})
        receiver.wait_for(1, "/at-shutdown")
        returncode, stderr = mock.terminate(timeout=30)
    finally:
        mock.stop()
    assert returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after its graceful shutdown
    assert receiver.bodies("/duplicated") == [receiver.bodies("/duplicated")[0]] * 2, "due deliveries were finished"
    assert "1 webhook deliveries not finished at shutdown" in stderr and "/delayed" in stderr
    assert receiver.bodies("/delayed") == []


def test_deliveries_never_go_through_a_proxy_named_in_the_mocks_environment(receiver):
    """The README's "run your app unchanged" recipe exports HTTPS_PROXY pointing at the mock; the mock's
    own deliveries go straight to their target all the same, and "delivered" means the target answered."""
    with webhook_receiver() as proxy:
        proxies = {name: proxy.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                                "https_proxy", "all_proxy")}
        with running_mock("--queued-for", "0", "--processing-for", "0", env=proxies) as url, \
                httpx.Client(base_url=url, timeout=30, trust_env=False) as api:
            api.post(FLUX_DEV, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/direct"})
            (body,) = receiver.wait_for(1, "/direct", timeout=30)
            wait_until(lambda: deliveries(api) and deliveries(api)[0]["state"] == "delivered",
                       what="the delivery recorded as delivered")
        assert body["status"] == "COMPLETED"
        with proxy._lock:
            assert proxy.received == [], "a delivery went to the proxy from the mock's environment"
