"""Endpoints public clients call that the pages do not document (openapi/public-clients.yaml): served as
the clients expect, so their apps run against the mock unchanged."""

import time

from tests.conftest import reset_client

KEY = {"Ocp-Apim-Subscription-Key": "k"}
CONFIG = "keys: {k: {balance: 1}}\ntiming: {queued_for: 0.05, processing_for: 0.05}\n"


def test_the_free_preview_route_answers_a_finished_job_whose_image_downloads_and_polls(configured_mock):
    with reset_client(configured_mock(CONFIG)) as client:
        answer = client.post("/flux/text-to-image", json={"prompt": "a lighthouse"}, headers=KEY)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "COMPLETED" and body["request_id"].startswith("flux-preview_")
        image = client.get(body["output"]["media_url"][0])
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        polled = client.get(f"/v2/requests/status/{body['request_id']}", headers=KEY).json()
        assert polled["status"] == "COMPLETED" and polled["output"] == body["output"]
        assert client.get("/__admin/wallets").json()["wallets"]["k"] == 1, "free"
        kinds = {f["kind"] for f in client.get("/__admin/client-report").json()["findings"]}
        assert "unknown-endpoint" not in kinds


def test_flux_dev_answers_a_request_id_to_poll_through_get_flux_dev_status_either_spelling(configured_mock):
    with reset_client(configured_mock(CONFIG)) as client:
        submitted = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                                headers={**KEY, "Prefer": "variant=flux-dev"})
        assert submitted.status_code == 200 and list(submitted.json()) == ["request_id"]
        request_id = submitted.json()["request_id"]
        deadline = time.monotonic() + 10
        while True:
            status = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={"requestId": request_id},
                                 headers=KEY).json()
            if "images" in status or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status["images"][0]["url"].startswith(str(client.base_url).rstrip("/") + "/media/")
        same = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={"request_id": request_id}, headers=KEY)
        assert same.json()["images"] == status["images"]
        missing = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={}, headers=KEY)
        assert missing.status_code == 400 and missing.json() == {"error": "request_id (or requestId) is required"}
        assert client.get("/__admin/wallets").json()["wallets"]["k"] == 1 - 0.025, "priced as Flux Dev"
