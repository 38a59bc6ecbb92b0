"""Endpoints public clients call that the pages do not document (openapi/public-clients.yaml): served as
the clients expect, so their apps run against the mock unchanged."""

import io

from tests.support.harness import reset_client
from tests.support.waiting import wait_until

KEY = {"Ocp-Apim-Subscription-Key": "k"}
CONFIG = "keys: {k: {balance: 1}}\ntiming: {queued_for: 0.05, processing_for: 0.05}\n"


def test_the_free_preview_route_answers_a_finished_job_whose_image_downloads_and_polls(make_flux_mock):
    with reset_client(make_flux_mock(CONFIG).url) as client:
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


def test_flux_dev_answers_a_request_id_to_poll_through_get_flux_dev_status_either_spelling(make_flux_mock):
    WORKING_POLL = {**KEY, "Prefer": "variant=flux-dev"}  # the route live answers 400 Model not found (evidence)
    with reset_client(make_flux_mock(CONFIG).url) as client:
        submitted = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                                headers={**KEY, "Prefer": "variant=flux-dev"})
        assert submitted.status_code == 200 and list(submitted.json()) == ["request_id"]
        request_id = submitted.json()["request_id"]

        def with_images():
            answer = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={"requestId": request_id},
                                 headers=WORKING_POLL).json()
            return answer if "images" in answer else None
        status = wait_until(with_images, what=f"images for {request_id}")
        assert status["images"][0]["url"] == f"{str(client.base_url).rstrip('/')}/v1/{request_id}/output.png", \
            "on the mock's host by base URL, in the gateway's layout"
        same = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={"request_id": request_id},
                           headers=WORKING_POLL)
        assert same.json()["images"] == status["images"]
        missing = client.post("/flux-dev-polling/dev/getFluxDevStatus", json={}, headers=WORKING_POLL)
        assert missing.status_code == 400 and missing.json() == {"error": "request_id (or requestId) is required"}
        assert client.get("/__admin/wallets").json()["wallets"]["k"] == 1 - 0.025, "priced as Flux Dev"


def _data_url(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _final_media(client, submitted) -> list[str]:
    request_id = submitted.json()["request_id"]
    def completed():
        status = client.get(f"/v2/requests/status/{request_id}", headers=KEY).json()
        return status if status["status"] == "COMPLETED" else None
    return wait_until(completed, what=f"{request_id} COMPLETED")["output"]["media_url"]


def test_different_input_images_give_different_outputs_and_match_input_keeps_a_data_urls_size(make_flux_mock):
    fill = "/flux-fill-dev/v1/flux-fill/generate"
    with reset_client(make_flux_mock("keys: {k: {balance: 100}}\ntiming: {queued_for: 0.05, processing_for: 0.05}\n").url) \
            as client:
        def submit(image: str, megapixels: str = "1"):
            answer = client.post(fill, json={"prompt": "x", "seed": 7, "image": image, "mask": image,
                                             "megapixels": megapixels, "output_format": "png"}, headers=KEY)
            assert answer.status_code == 202, answer.text
            return _final_media(client, answer)[0]

        def image(url: str):
            from PIL import Image
            download = client.get(url)
            assert download.status_code == 200, url
            return download.content, Image.open(io.BytesIO(download.content)).size

        first, second = image(submit("https://example.com/a.png")), image(submit("https://example.com/b.png"))
        assert first[0] != second[0], "different inputs, different images"
        assert image(submit("https://example.com/a.png")) == first, "the same seed, prompt and inputs: the same image"
        assert image(submit(_data_url(640, 480), "match_input"))[1] == (640, 480), "match_input keeps the input's size"
        assert image(submit("https://example.com/a.png", "match_input"))[1] == (1024, 1024), \
            "an input the mock cannot read offline: the default size"
