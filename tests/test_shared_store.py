"""Several flux-mock processes on one real Redis: they answer as one mock."""

import time

import httpx
import pytest

from contract_tests.process import running_mock
from tests.support.waiting import wait_until

KEY = {"Ocp-Apim-Subscription-Key": "shared-key"}
FLUX_PRO = "/flux-pro/v1/pro/textToImage"


@pytest.fixture
def config(tmp_path, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    path = tmp_path / "shared.yaml"
    path.write_text(f"store: {redis_url}\ntiming: {{queued_for: 0.05, processing_for: 0.1}}\n"
                    "keys: {shared-key: {balance: 1}}\nwebhooks: {backoff: 0.05}\n")
    return str(path)


def until_final(client: httpx.Client, url: str) -> dict:
    def final():
        body = client.get(url, headers=KEY).json()
        return body if body["status"] in ("COMPLETED", "FAILED", "ERROR") else None
    return wait_until(final, what=f"{url} reaching a final status")


def test_a_job_submitted_to_one_instance_completes_on_the_other_with_one_webhook_and_one_charge(config, receiver):
    with running_mock("--config", config) as first, running_mock("--config", config) as second:
        a, b = httpx.Client(base_url=first, timeout=30), httpx.Client(base_url=second, timeout=30)
        submitted = a.post(FLUX_PRO, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/shared"})
        assert submitted.status_code == 202
        request_id = submitted.json()["request_id"]
        final = until_final(b, f"/v2/requests/status/{request_id}")
        assert final["status"] == "COMPLETED"
        assert b.get(final["output"]["media_url"][0].replace(first, second)).status_code == 200
        # Without --public-url each instance names itself in URLs (behind a balancer, --public-url unifies them).
        final_on_first = a.get(f"/v2/requests/status/{request_id}", headers=KEY).json()
        assert final == {**final_on_first, "output": {**final_on_first["output"], "media_url": [
            url.replace(first, second) for url in final_on_first["output"]["media_url"]]}}
        assert receiver.wait_for(1, "/shared") == [final_on_first]
        time.sleep(1.5)  # both dispatchers have looked at the delivery by now
        assert len(receiver.bodies("/shared")) == 1, "exactly one instance sent it"
        assert b.get("/__admin/wallets").json()["wallets"]["shared-key"] == pytest.approx(0.97)
        assert a.get("/__admin/wallets").json()["wallets"]["shared-key"] == pytest.approx(0.97)
        journal = b.get("/__admin/journal").json()["entries"]
        assert {e.get("operation_id") for e in journal} >= {"fluxProTextToImage", "getRequestStatus"}
        a.close()
        b.close()


def test_two_instances_never_overdraw_one_wallet(config):
    with running_mock("--config", config) as first, running_mock("--config", config) as second:
        clients = [httpx.Client(base_url=url, timeout=30) for url in (first, second)]
        codes = [clients[n % 2].post(FLUX_PRO, json={"prompt": "x"}, headers=KEY).status_code for n in range(40)]
        assert codes.count(202) == 33 and codes.count(402) == 7  # $1 buys 33 jobs at $0.03
        for client in clients:
            client.close()


def test_workers_share_the_store(config):
    with running_mock("--config", config, "--workers", "2") as url:
        ids = []
        for _ in range(12):  # a new connection each time: the workers share them out
            with httpx.Client(base_url=url, timeout=30) as client:
                ids.append(client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)
                           .json()["request_id"])
        for request_id in ids:
            with httpx.Client(base_url=url, timeout=30) as client:
                assert until_final(client, f"/v2/requests/status/{request_id}")["status"] == "COMPLETED"
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/__admin/health").json()["jobs"] == 12


def test_a_restarted_server_still_reports_earlier_jobs(config):
    with running_mock("--config", config) as url:
        request_id = httpx.post(f"{url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY).json()[
            "request_id"]
    with running_mock("--config", config) as url, httpx.Client(base_url=url, timeout=30) as client:
        final = until_final(client, f"/v2/requests/status/{request_id}")
    assert final["request_id"] == request_id and final["status"] == "COMPLETED"


def test_admin_changes_on_one_instance_apply_on_the_other(config):
    with running_mock("--config", config) as first, running_mock("--config", config) as second:
        a, b = httpx.Client(base_url=first, timeout=30), httpx.Client(base_url=second, timeout=30)
        rule = a.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                  "outcome": {"status": 500}, "times": 3})
        assert rule.status_code == 201
        codes = [(a, b)[n % 2].post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY).status_code
                 for n in range(5)]
        assert codes == [500, 500, 500, 200, 200], "one rule, three uses, across both instances"
        assert b.get("/__admin/rules").json()["rules"][0]["remaining"] == 0

        a.put("/__admin/timing", json={"mode": "manual"}).raise_for_status()
        submitted = b.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY).json()
        time.sleep(0.3)
        assert a.get(submitted["polling_url"].replace(second, first), headers=KEY).json()["status"] == "QUEUED"

        before = b.get("/__admin/clock").json()["epoch_seconds"]
        a.post("/__admin/clock/advance", json={"seconds": 3600}).raise_for_status()
        assert b.get("/__admin/clock").json()["epoch_seconds"] - before >= 3600
        a.close()
        b.close()


def test_an_api_call_sent_after_an_admin_answer_sees_the_change_on_every_instance(config):
    """Each instance keeps a copy of the run-time state and does not read it per request: an admin
    change answers only once every instance took it up, so the next call to any instance applies it."""
    with running_mock("--config", config) as first, running_mock("--config", config) as second:
        a, b = httpx.Client(base_url=first, timeout=30), httpx.Client(base_url=second, timeout=30)
        for _ in range(15):
            request_id = b.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY).json()["request_id"]
            a.post("/__admin/clock/advance", json={"seconds": 3600}).raise_for_status()
            assert b.get(f"/v2/requests/status/{request_id}", headers=KEY).json()["status"] == "COMPLETED", \
                "the clock moved on the other instance"
            rule = a.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                      "outcome": {"status": 500}}).json()
            assert b.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY).status_code == 500
            a.delete(f"/__admin/rules/{rule['id']}").raise_for_status()
            assert b.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY).status_code == 200
        a.close()
        b.close()
