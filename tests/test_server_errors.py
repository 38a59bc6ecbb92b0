"""Each documented error code through its trigger, on a real server started with a config file."""

import httpx
import pytest

from tests.support.harness import reset_client

CONFIG = """
keys:
  rich: {balance: 100}
  poor: {balance: 0}
  schnell-only: {models: [flux-1-schnell]}
  slow: {rate_limit: 2}
disabled_models: [flux-fill-dev]
timing: {mode: per-poll}
rules:
  - match: {prompt_contains: please fail}
    outcome: {job: FAILED, error: NSFW content detected}
"""
SCHNELL = "/flux-1-schnell/v1/getData"
FLUX_PRO = "/flux-pro/v1/pro/textToImage"
KLEIN = "/flux-2-klein-4b/v1/generateImage"


def key(name: str) -> dict:
    return {"Ocp-Apim-Subscription-Key": name}


@pytest.fixture
def api(make_flux_mock):
    """A client of this module's configured mock, reset before each test."""
    with reset_client(make_flux_mock(CONFIG).url) as client:
        yield client


def test_missing_key_is_401(api):
    response = api.post(SCHNELL, json={"prompt": "x"})
    assert (response.status_code, response.json()) == (401, {"error": "Invalid or missing authentication"})


def test_unknown_key_is_401_when_keys_are_configured(api):
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("stranger")).status_code == 401


def test_secret_key_operation_needs_the_secret_key_header(api):
    assert api.post("/generateT2I", json={"prompt": "x"}, headers=key("rich")).status_code == 401
    assert api.post("/generateT2I", json={"prompt": "x"}, headers={"X-Secret-Key": "rich"}).status_code == 200


def test_key_without_access_to_the_model_is_403(api):
    response = api.post(FLUX_PRO, json={"prompt": "x"}, headers=key("schnell-only"))
    assert (response.status_code, response.json()) == (403, {"error": "Access denied for this operation"})
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("schnell-only")).status_code == 200


def test_empty_wallet_is_402_on_a_priced_model_and_free_models_still_work(api):
    response = api.post(FLUX_PRO, json={"prompt": "x"}, headers=key("poor"))
    assert (response.status_code, response.json()) == (402, {
        "error": "Insufficient Balance", "message": "Your wallet does not have enough balance."})
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("poor")).status_code == 200


def test_jobs_are_charged_the_documented_price_and_klein_by_resolution(api):
    assert api.post(FLUX_PRO, json={"prompt": "x"}, headers=key("rich")).status_code == 202
    assert api.post(KLEIN, json={"prompt": "x", "width": 2048, "height": 2048}, headers=key("rich")).status_code == 200
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("rich")).status_code == 200
    assert api.get("/__admin/wallets").json()["wallets"]["rich"] == pytest.approx(100 - 0.03 - 0.0028)


def test_a_job_ending_in_error_is_not_charged(api):
    submitted = api.post(FLUX_PRO, json={"prompt": "x"}, headers={**key("rich"), "Prefer": "job=ERROR"})
    polling = submitted.json()["polling_url"]
    statuses = [api.get(polling, headers=key("rich")).json() for _ in range(2)]
    assert [s["status"] for s in statuses] == ["PROCESSING", "ERROR"]
    assert statuses[-1]["error"] and statuses[-1]["output"] is None
    assert api.get("/__admin/wallets").json()["wallets"]["rich"] == 100


def test_scenario_rule_from_the_config_fails_a_job_by_its_prompt(api):
    submitted = api.post(FLUX_PRO, json={"prompt": "Please FAIL this one"}, headers=key("rich"))
    final = [api.get(submitted.json()["polling_url"], headers=key("rich")).json() for _ in range(2)][-1]
    assert (final["status"], final["error"], final["output"]) == ("FAILED", "NSFW content detected", None)


def test_disabled_model_is_400_model_not_found(api):
    body = {"prompt": "x", "image": "https://e.com/a.png", "mask": "https://e.com/m.png"}
    response = api.post("/flux-fill-dev/v1/flux-fill/generate", json=body, headers=key("rich"))
    assert (response.status_code, response.json()) == (400, {
        "error": "Model not found", "message": "Model 'flux-fill-dev' not found or is disabled"})


def test_rate_limit_is_429_with_retry_after_until_time_passes(api):
    answers = [api.post(SCHNELL, json={"prompt": "x"}, headers=key("slow")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json() == {"error": "Rate limit exceeded, please retry later"}
    assert int(answers[-1].headers["Retry-After"]) >= 1
    api.post("/__admin/clock/advance", json={"seconds": 1}).raise_for_status()
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("slow")).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
def test_prefer_code_forces_a_documented_error_with_its_documented_body(api, status):
    response = api.post(SCHNELL, json={"prompt": "x"}, headers={**key("rich"), "Prefer": f"code={status}"})
    assert response.status_code == status
    assert "error" in response.json()


def test_prefer_code_that_the_operation_does_not_document_is_refused(api):
    response = api.post(SCHNELL, json={"prompt": "x"}, headers={**key("rich"), "Prefer": "code=402"})
    assert response.status_code == 400 and "not documented" in response.json()["message"]


def test_admin_rule_applies_the_given_number_of_times(api):
    rule = api.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                "outcome": {"status": 500}, "times": 2})
    assert rule.status_code == 201
    codes = [api.post(SCHNELL, json={"prompt": "x"}, headers=key("rich")).status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_unknown_path_and_wrong_method_answer_json(api):
    assert api.get("/no/such/endpoint").json() == {"error": "Endpoint not found"}
    wrong = api.put(SCHNELL, json={})
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST" and wrong.json()["error"]


def test_unknown_request_id_is_404(api):
    response = api.get("/v2/requests/status/flux-pro_nope", headers=key("rich"))
    assert response.status_code == 404 and response.json()["error"] == "Request not found"


def test_another_keys_job_is_not_visible(api):
    submitted = api.post(FLUX_PRO, json={"prompt": "x"}, headers=key("rich")).json()
    assert api.get(submitted["polling_url"], headers=key("slow")).status_code == 404


@pytest.mark.parametrize("body, content_type, status, words", [
    (b"{not json", "application/json", 400, "malformed JSON"),
    (b'{"prompt": "x"', "application/json", 400, "malformed JSON"),
    (b"\xff\xfe\x00", "application/json", 400, "UTF-8"),
    (b'prompt=x', "text/plain", 400, "Content-Type"),
    (b"[1, 2]", "application/json", 400, "JSON object"),
    (b"x" * (1024 * 1024 + 1), "application/json", 413, "larger than"),
])
def test_malformed_bodies_are_clear_4xx(api, body, content_type, status, words):
    response = api.post(SCHNELL, content=body, headers={**key("rich"), "Content-Type": content_type})
    assert response.status_code == status
    assert words in response.json()["message"]
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("rich")).status_code == 200


@pytest.mark.parametrize("body, message", [
    ({"prompt": "x", "num_steps": 9}, "num_steps: 9 is greater than the maximum of 8"),
    ({"prompt": "x", "width": "wide"}, 'width: "wide" is not of type "integer"'),
    ({"num_steps": 4}, "prompt is required"),
])
def test_validation_errors_name_the_field(api, body, message):
    response = api.post(SCHNELL, json=body, headers=key("rich"))
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request parameters", "message": message}


@pytest.mark.parametrize("body, error", [
    ({}, "input_image is required and must be a string URL"),
    ({"input_image": 5}, "input_image is required and must be a string URL"),
    ({"input_image": "not a url"}, "input_image must be a valid URL"),
    ({"input_image": "https://e.com/a.png", "output_format": "gif"}, "output_format must be one of: jpg, png"),
    ({"input_image": "https://e.com/a.png", "safety_tolerance": 3}, "safety_tolerance must be an integer in [0, 2]"),
    ({"input_image": "https://e.com/a.png", "seed": -1}, "seed must be a non-negative integer"),
    ({"input_image": "https://e.com/a.png", "webhook": "::nope"}, "Invalid webhook URL"),
])
def test_kontext_answers_its_exact_documented_messages(api, body, error):
    response = api.post("/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate", json=body,
                        headers=key("rich"))
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_integral_floats_are_integers_as_in_json_schema(api):
    assert api.post(SCHNELL, json={"prompt": "x", "num_steps": 8.0}, headers=key("rich")).status_code == 200


def test_journal_records_requests_with_violations_and_undocumented_fields(api):
    api.post(SCHNELL, json={"prompt": "x", "num_steps": 99}, headers=key("rich"))
    api.post(SCHNELL, json={"prompt": "x", "colour": "red"}, headers=key("rich"))
    api.get("/nowhere")
    entries = api.get("/__admin/journal").json()["entries"]
    assert [(e["status"], e["operation_id"]) for e in entries] == [
        (400, "schnellGetData"), (200, "schnellGetData"), (404, None)]
    assert entries[0]["violations"] == ["num_steps: 99 is greater than the maximum of 8"]
    assert entries[1]["undocumented_fields"] == ["colour"]
    only = api.get("/__admin/journal", params={"violations_only": "true"}).json()["entries"]
    assert [e["seq"] for e in only] == [entries[0]["seq"]]


def test_dropped_connection_scenario_closes_without_an_answer_and_the_server_goes_on(api):
    api.post("/__admin/rules", json={"match": {"key": "rich"}, "outcome": {"drop_connection": True}, "times": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SCHNELL, json={"prompt": "x"}, headers=key("rich"))
    assert api.post(SCHNELL, json={"prompt": "x"}, headers=key("rich")).status_code == 200


I2I = "/flux-2-pro-image-to-image-866/v1/flux-2-pro-image-to-image-request"
TRAINER = "/flux-2-pro-text-to-image-trainer-712/v1/flux-2-pro-text-to-image-trainer-request"


def test_what_the_pages_allow_is_accepted_and_a_refusal_names_every_form_the_field_may_take(api):
    """Flux 2 Pro i2i: page 003's image_size list ends in "etc."; the trainers take "Base64-encoded" data."""
    named = api.post(I2I, json={"prompt": "x", "image_urls": ["https://e.test/a.png"], "image_size": "landscape_4_3"},
                     headers=key("rich"))
    assert named.status_code == 202, named.text
    bare = api.post(TRAINER, json={"image_data_url": "aGVsbG8gd29ybGQ="}, headers=key("rich"))
    assert bare.status_code == 202, bare.text
    # Beyond those, what the spec takes is its own assumption (x-assumed), not the page's: a lenient gateway's
    # answer, with the journal naming every form the field may take.
    huge = api.post(I2I, json={"prompt": "x", "image_urls": ["https://e.test/a.png"], "image_size": "huge"},
                    headers=key("rich"))
    assert huge.status_code == 202, huge.text
    garbled = api.post(TRAINER, json={"image_data_url": "not base64 !"}, headers=key("rich"))
    assert garbled.status_code == 202, garbled.text
    entries = api.get("/__admin/journal").json()["entries"]
    (sized,) = [entry["assumptions"] for entry in entries if (entry["body"] or {}).get("image_size") == "huge"]
    assert sized[0].startswith('image_size: "huge" is none of: a string matching ^(auto|') and '"landscape_4_3"' \
        in sized[0] and sized[0].endswith("(this spec's assumption; no page states it)")
    (data,) = [entry["assumptions"] for entry in entries if (entry["body"] or {}).get("image_data_url")
               == "not base64 !"]
    assert data[0].startswith('image_data_url: "not base64 !" is none of: a URI; a string matching '
                              '^[A-Za-z0-9+/]+={0,2}$')
