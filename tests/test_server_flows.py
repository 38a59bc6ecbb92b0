"""Every operation of the specs, driven through the real server from its documented example to the
downloaded media: the flow a client developer's app goes through."""

import io
import json
import re
import struct

import pytest
from PIL import Image

from contract_tests.examples import request_example, with_webhook
from mock_server.operations import load_operations
from tests.support.harness import set_timing

OPERATIONS = {op.operation_id: op for op in load_operations()}
SECRET = {"X-Secret-Key": "test-secret"}
SUBSCRIPTION = {"Ocp-Apim-Subscription-Key": "test-key"}

# What the documented example of each submit operation must produce: (format, width, height, count).
EXPECTED_MEDIA = {
    "schnellGetData": ("PNG", 512, 512, 1),
    "klein4bGenerateImage": ("JPEG", 1024, 1024, 1),  # x-evidence klein-jpeg
    "flux2DevGenerateT2I": ("PNG", 1024, 1024, 1),
    "schnellGetDataBatch": ("PNG", 512, 512, 1),
    "flux2ProTextToImage": ("JPEG", 1024, 768, 1),
    "flux2ProImageToImage": ("JPEG", 1024, 1024, 1),
    "flux2ProTextToImageTrainer": ("safetensors", 0, 0, 1),
    "flux2ProImageToImageTrainer": ("safetensors", 0, 0, 1),
    "kontextRestoreImage": ("PNG", 1024, 1024, 1),
    "fluxPro11UltraGenerate": ("JPEG", 1360, 768, 1),
    "fluxProTextToImage": ("PNG", 1024, 768, 1),
    "fluxDevTextToImage": ("PNG", 1024, 768, 1),
    "fluxDevImageToImage": ("PNG", 1024, 1024, 1),
    "fluxFillDevGenerate": ("PNG", 1024, 1024, 2),
    "fluxGeneralTextToImageRequest": ("PNG", 1024, 576, 1),
    "fluxProLegacyTextToImage": ("PNG", 1024, 768, 1),
}
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp",
                 "safetensors": "application/octet-stream"}


def _headers(op_id: str) -> dict:
    return SECRET if OPERATIONS[op_id].security[0] == ("X-Secret-Key",) else SUBSCRIPTION


def _check_media(api, url: str, expected) -> None:
    fmt, width, height, _ = expected
    assert url.startswith(str(api.base_url)), "media is served by the mock itself"
    response = api.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPES[fmt]
    if fmt == "safetensors":
        header_length = struct.unpack("<Q", response.content[:8])[0]
        assert "lora_unet_block_0.lora_down.weight" in json.loads(response.content[8:8 + header_length])
        return
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == (fmt, (width, height))
    assert len(image.getcolors(maxcolors=1_000_000) or range(1_000_001)) > 1000, "an image with real content"
    assert len(response.content) > 20_000, "a realistic file size"


def _poll(api, method: str, url: str, headers: dict, body=None, until=lambda b: False, polls: int = 5) -> dict:
    for _ in range(polls):
        response = api.request(method, url, headers=headers, json=body)
        assert response.status_code == 200, response.text
        if until(response.json()):
            return response.json()
    raise AssertionError(f"not finished after {polls} polls: {response.json()}")


@pytest.mark.parametrize("op_id", [op for op in EXPECTED_MEDIA if OPERATIONS[op].kind == "sync"])
def test_sync_operation_answers_a_downloadable_image(api, op_id):
    op = OPERATIONS[op_id]
    response = api.post(op.path, json=request_example(op_id), headers=_headers(op_id))
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"output"}
    _check_media(api, response.json()["output"], EXPECTED_MEDIA[op_id])


@pytest.mark.parametrize("op_id", [op for op in EXPECTED_MEDIA if OPERATIONS[op].kind == "queue"])
def test_queue_operation_moves_queued_processing_completed_and_calls_its_webhook(api, receiver, op_id):
    set_timing(api, mode="per-poll")
    op = OPERATIONS[op_id]
    hook = f"{receiver.url}/{op_id}"
    submitted = api.post(op.path, json=with_webhook(request_example(op_id), hook + "/body"),
                         headers={**_headers(op_id), "X-Webhook-URL": hook})
    assert submitted.status_code == 202, submitted.text
    body = submitted.json()
    assert body["status"] == "QUEUED" and body["request_id"].startswith(f"{op.model_id}_")
    id_part = body["request_id"][len(op.model_id) + 1:]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{13}", id_part), \
        "request ids are {model_id}_ and 8-4-4-4-13 hex, as the gateway mints them (evidence E03)"
    assert body["polling_url"] == f"{api.base_url}/v2/requests/status/{body['request_id']}"

    seen = [api.get(body["polling_url"], headers=SUBSCRIPTION).json() for _ in range(3)]
    assert [s["status"] for s in seen] == ["PROCESSING", "COMPLETED", "COMPLETED"]
    final = seen[-1]
    assert final["model_id"] == op.model_id and final["error"] is None
    assert final["created_at"] <= final["updated_at"] == final["completed_at"]
    fmt, _, _, count = EXPECTED_MEDIA[op_id]
    assert final["output"]["media_type"] == CONTENT_TYPES[fmt]
    assert len(final["output"]["media_url"]) == count
    for url in final["output"]["media_url"]:
        _check_media(api, url, EXPECTED_MEDIA[op_id])
    assert receiver.wait_for(1, f"/{op_id}") == [final], "the webhook POSTs the final status body, once"


def test_schnell_batch_with_webhook_url_is_queued_polled_and_posts_its_result(api, receiver):
    set_timing(api, mode="per-poll")
    hook = f"{receiver.url}/batch"
    submitted = api.post("/flux-1-schnell/v1/getDataBatch", json=with_webhook(request_example("schnellGetDataBatch"), hook),
                         headers=SECRET)
    assert submitted.status_code == 202
    body = submitted.json()
    assert body["status"] == "queued" and body["pollingEndpoint"] == "/checkStatus"
    done = _poll(api, "POST", "/flux-1-schnell/v1/checkStatus", SECRET, {"requestId": body["requestId"]},
                 until=lambda b: b["status"] == "completed")
    assert isinstance(done["completedAt"], int) and done["completedAt"] > 1.7e12
    _check_media(api, done["output"], EXPECTED_MEDIA["schnellGetDataBatch"])
    assert receiver.wait_for(1, "/batch") == [done]


def test_schnell_batch_without_webhook_waits_for_the_result(api):
    set_timing(api, mode="time", queued_for=0, processing_for=0.2)
    request = {k: v for k, v in request_example("schnellGetDataBatch").items() if k != "webhook_url"}
    response = api.post("/flux-1-schnell/v1/getDataBatch", json=request, headers=SUBSCRIPTION)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    _check_media(api, response.json()["output"], EXPECTED_MEDIA["schnellGetDataBatch"])


def test_flux_general_is_polled_to_its_fal_style_result(api):
    set_timing(api, mode="per-poll")
    submitted = api.post(OPERATIONS["fluxGeneralTextToImageRequest"].path,
                         json=request_example("fluxGeneralTextToImageRequest"), headers=SUBSCRIPTION)
    assert submitted.status_code == 200
    request_id = submitted.json()["request_id"]
    result = _poll(api, "POST", "/flux-general-polling/flux-general/getStatus", SUBSCRIPTION,
                   {"request_id": request_id}, until=lambda b: "images" in b)
    assert result["seed"] == 42 and result["prompt"] == "A futuristic city under a starry sky"
    assert result["has_nsfw_concepts"] == [False]
    image = result["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 576, "image/png")
    _check_media(api, image["url"], EXPECTED_MEDIA["fluxGeneralTextToImageRequest"])


def test_flux_pro_legacy_scenario_answers_a_request_id_polled_through_get_flux_pro_status(api):
    set_timing(api, mode="per-poll")
    submitted = api.post("/flux-pro/v1/pro/textToImage", json=request_example("fluxProLegacyTextToImage"),
                         headers={**SUBSCRIPTION, "Prefer": "variant=flux-pro-legacy"})
    assert submitted.status_code == 200 and set(submitted.json()) == {"request_id"}
    result = _poll(api, "POST", "/flux-pro-polling/pro/getFluxProStatus", SUBSCRIPTION,
                   {"request_id": submitted.json()["request_id"]}, until=lambda b: "images" in b)
    _check_media(api, result["images"][0]["url"], EXPECTED_MEDIA["fluxProLegacyTextToImage"])


def test_getdata_job_scenario_answers_image_getting_created_polled_through_check_status(api):
    set_timing(api, mode="per-poll")
    submitted = api.post("/flux-1-schnell/v1/getData", json=request_example("schnellGetData"),
                         headers={**SUBSCRIPTION, "Prefer": "variant=getdata-job"})
    assert submitted.status_code == 200 and submitted.json()["msg"] == "Image Getting Created"
    done = _poll(api, "POST", "/flux-1-schnell/v1/checkStatus", SUBSCRIPTION,
                 {"requestId": submitted.json()["requestId"]}, until=lambda b: b["status"] == "completed")
    _check_media(api, done["output"], EXPECTED_MEDIA["schnellGetData"])


def test_same_seed_and_prompt_give_the_same_image_and_another_seed_another(api):
    def image(seed):
        body = {"prompt": "a lighthouse", "seed": seed, "width": 256, "height": 256}
        url = api.post("/flux-1-schnell/v1/getData", json=body, headers=SUBSCRIPTION).json()["output"]
        return api.get(url).content

    assert image(7) == image(7)
    assert image(7) != image(8)


def test_a_request_without_seed_gets_one_the_mock_picks_the_same_after_each_reset(api):
    def images(count):
        body = {"prompt": "a lighthouse", "width": 256, "height": 256}
        urls = [api.post("/flux-1-schnell/v1/getData", json=body, headers=SUBSCRIPTION).json()["output"]
                for _ in range(count)]
        return [api.get(url).content for url in urls]  # the URLs name the moment too (the gateway's layout)

    first_run = images(2)
    assert first_run[0] != first_run[1]  # a new seed for each request
    api.post("/__admin/reset").raise_for_status()
    assert images(2) == first_run  # replayed from the server's --seed after a reset


@pytest.mark.parametrize("output_format, content_type", [("png", "image/png"), ("jpeg", "image/jpeg"),
                                                         ("webp", "image/webp")])
def test_output_format_decides_the_file_format(api, output_format, content_type):
    set_timing(api, mode="per-poll")
    submitted = api.post(OPERATIONS["flux2ProTextToImage"].path, headers=SUBSCRIPTION,
                         json={"prompt": "a fox", "output_format": output_format, "image_size": "square_1_1"})
    for _ in range(2):  # per-poll timing: PROCESSING, then COMPLETED
        status = api.get(submitted.json()["polling_url"], headers=SUBSCRIPTION).json()
    media = api.get(status["output"]["media_url"][0])
    assert media.headers["content-type"] == content_type == status["output"]["media_type"]
    assert Image.open(io.BytesIO(media.content)).size == (1024, 1024)


def test_a_status_forced_under_a_variant_answers_that_variants_documented_body(api):
    """Page 002's older FLUX Pro documents a 404 and its own 400 bodies; forcing them under its variant answers
    them (the variant is chosen before any forced answer), not page 003's operation's."""
    legacy = {**SUBSCRIPTION, "Prefer": "variant=flux-pro-legacy, code=404"}
    body = request_example("fluxProLegacyTextToImage")
    not_found = api.post("/flux-pro/v1/pro/textToImage", json=body, headers=legacy)
    assert not_found.status_code == 404, not_found.text
    bad = api.post("/flux-pro/v1/pro/textToImage", json=body,
                   headers={**SUBSCRIPTION, "Prefer": "variant=flux-pro-legacy, code=400"})
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid request parameters"}  # page 002's table
    default = api.post("/flux-pro/v1/pro/textToImage", json=body, headers={**SUBSCRIPTION, "Prefer": "code=400"})
    assert default.json()["error"] == "Model not found"  # page 003's example for the default operation


def test_forcing_a_success_the_pages_give_no_example_of_answers_the_mocks_own_body(api):
    set_timing(api, mode="time", queued_for=0, processing_for=0)  # the batch's 200 waits for its job to end
    batch = api.post("/flux-1-schnell/v1/getDataBatch", json={"prompt": "x"},
                     headers={**SUBSCRIPTION, "Prefer": "code=200"})
    assert batch.status_code == 200 and batch.json()["status"] == "completed" and batch.json()["output"]
    unknown = api.post("/flux-pro-polling/pro/getFluxProStatus", json={"request_id": "flux-pro_nope"},
                       headers={**SUBSCRIPTION, "Prefer": "code=200"})
    assert unknown.status_code == 404 and unknown.json() != {"error": "Forced"}


def test_flux_2_dev_answers_on_the_prefixed_path_public_clients_call_with_the_subscription_key(api):
    """Not on the pages (public-clients.yaml has the evidence): POST /flux-2-dev/v1/generateT2I with only the
    Ocp-Apim-Subscription-Key answers generateT2I's {"output": url}, which downloads."""
    answer = api.post("/flux-2-dev/v1/generateT2I", json={"prompt": "a lighthouse"}, headers=SUBSCRIPTION)
    assert answer.status_code == 200 and set(answer.json()) == {"output"}
    assert api.get(answer.json()["output"]).headers["content-type"].startswith("image/")
    entry = api.get("/__admin/journal", params={"operation_id": "flux2DevPrefixedGenerateT2I"}).json()["entries"]
    assert entry and entry[-1]["status"] == 200


def test_get_flux_dev_status_answers_model_not_found_as_live_and_its_working_answers_as_variants(api):
    """Evidence (x-evidence model-not-found-routes): the live gateway answers every /<model>-polling/ route 400
    Model not found, so the mock does by default, and `report` says why. Public clients written against the
    working route disagree on its answer: under the variant flux-dev the fal body (`images`), under
    flux-dev-status the queue API's status body."""
    set_timing(api, mode="per-poll")
    ids = []
    for _ in range(2):
        submitted = api.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                             headers={**SUBSCRIPTION, "Prefer": "variant=flux-dev"})
        ids.append(submitted.json()["request_id"])
    poll = "/flux-dev-polling/dev/getFluxDevStatus"
    refused = api.post(poll, json={"request_id": ids[0]}, headers=SUBSCRIPTION)
    assert refused.status_code == 400 and refused.json() == {
        "error": "Model not found", "message": "Model 'flux-dev-polling' not found or is disabled"}
    [finding] = [f for f in api.get("/__admin/client-report").json()["findings"] if f["kind"] == "not-live"]
    assert "cbe37f78" in finding["detail"] and "variant flux-dev" in finding["detail"], finding
    fal = _poll(api, "POST", poll, {**SUBSCRIPTION, "Prefer": "variant=flux-dev"}, {"request_id": ids[0]},
                until=lambda b: "images" in b)
    assert "status" not in fal and fal["images"][0]["url"]
    queue = _poll(api, "POST", poll, {**SUBSCRIPTION, "Prefer": "variant=flux-dev-status"}, {"requestId": ids[1]},
                  until=lambda b: b.get("status") == "COMPLETED")
    assert queue["output"]["media_url"] and queue["request_id"] == ids[1]
