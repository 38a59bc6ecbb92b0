"""What the real gateway (Azure API Management) does that the pages do not say: its own 401/404/429 shape
under profile: gateway, its 502/503/504 forced in every profile, the subscription-key query parameter
(journaled as a leniency, which `report` flags), and scenario rules checked when they are made."""

import subprocess
import sys

import pytest

from tests.support.harness import reset_client
from tests.support.waiting import wait_until

KEY = {"Ocp-Apim-Subscription-Key": "k"}
GET_DATA = "/flux-1-schnell/v1/getData"
SUBMIT = "/flux-dev/v1/dev/textToImage"
CONFIGURED = "keys: {k: {rate_limit: 0.001}}\n"


def test_the_pages_profile_answers_in_the_pages_shape(make_flux_mock):
    with reset_client(make_flux_mock(CONFIGURED).url) as client:
        assert client.post(SUBMIT, json={"prompt": "x"}).json() == {"error": "Invalid or missing authentication"}
        assert client.get("/no/such/path").json() == {"error": "Endpoint not found"}


def test_the_gateway_profile_answers_401_404_and_429_as_apim_does(make_flux_mock):
    with reset_client(make_flux_mock("profile: gateway\n" + CONFIGURED).url) as client:
        missing = client.post(SUBMIT, json={"prompt": "x"})
        assert missing.status_code == 401 and missing.json() == {"statusCode": 401, "message": (
            "Access denied due to missing subscription key. Make sure to include subscription key when making "
            "requests to an API.")}
        invalid = client.post(SUBMIT, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "wrong"})
        assert invalid.json()["statusCode"] == 401 and "invalid subscription key" in invalid.json()["message"]
        assert client.get("/no/such/path").json() == {"statusCode": 404, "message": "Resource not found"}
        assert client.post(SUBMIT, json={"prompt": "x"}, headers=KEY).status_code == 202
        limited = client.post(SUBMIT, json={"prompt": "x"}, headers=KEY)
        assert limited.status_code == 429
        seconds = limited.headers["Retry-After"]
        assert limited.json() == {"statusCode": 429,
                                  "message": f"Rate limit is exceeded. Try again in {seconds} seconds."}
        bad = client.post(SUBMIT, json={"prompt": 5}, headers={"Ocp-Apim-Subscription-Key": "k2"})
        assert bad.status_code == 401, "an unknown key is the gateway's 401 before the API sees the body"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_failures_can_be_forced_by_prefer_and_rules_in_every_profile(make_flux_mock, status):
    with reset_client(make_flux_mock().url) as client:
        forced = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": f"code={status}"})
        assert forced.status_code == status and forced.json()["statusCode"] == status
        assert ("Retry-After" in forced.headers) == (status == 503)
        rule = client.post("/__admin/rules", json={"match": {"operation_id": "fluxDevTextToImage"},
                                                      "outcome": {"status": status}, "times": 2})
        assert rule.status_code == 201, rule.text
        codes = [client.post(SUBMIT, json={"prompt": "x"}, headers=KEY).status_code for _ in range(3)]
        assert codes == [status, status, 202], "twice, then the rule is used up"


def test_a_rule_no_matched_operation_can_answer_is_refused_when_made_naming_the_allowed(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        teapot = client.post("/__admin/rules", json={"match": {"operation_id": "fluxDevTextToImage"},
                                                        "outcome": {"status": 418}})
        assert teapot.status_code == 400
        message = teapot.json()["message"]
        assert "outcome.status 418 cannot be answered by operation fluxDevTextToImage" in message
        assert "402" in message and "503" in message
        typo = client.post("/__admin/rules", json={"match": {"operation_id": "fluxDevTextToImag"},
                                                      "outcome": {"status": 503}})
        assert typo.status_code == 400 and "'fluxDevTextToImag' is no operation" in typo.json()["message"]
        variant = client.post("/__admin/rules", json={"match": {"operation_id": "fluxDevTextToImage"},
                                                         "outcome": {"variant": "getdata-job"}})
        assert variant.status_code == 400 and "allowed: flux-dev" in variant.json()["message"]
        assert client.get("/__admin/rules").json()["rules"] == [], "nothing refused was kept"
        unknown = client.post(GET_DATA, json={"prompt": "x"}, headers={**KEY, "Prefer": "variant=flux-pro-legacy"})
        assert unknown.status_code == 400 and "its variants: getdata-job" in unknown.json()["message"]
        code = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "code=418"})
        assert code.status_code == 400 and "it can answer: 400, 401, 402" in code.json()["message"]


def serve_refuses(tmp_path, config_text: str) -> str:
    """`serve` with this config: it must stop at once with exit 2 and one line, which is returned."""
    config = tmp_path / "flux-mock.yaml"
    config.write_text(config_text)
    finished = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--config",
                               str(config)], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2 and finished.stderr.count("\n") == 1, finished.stderr
    return finished.stderr


def test_a_config_rule_for_an_unknown_operation_stops_serve_with_one_line(tmp_path):
    stderr = serve_refuses(tmp_path, "rules:\n  - {match: {operation_id: schnelGetData}, outcome: {status: 429}}\n")
    assert "'schnelGetData' is no operation" in stderr and "schnellGetData" in stderr


def test_the_key_as_subscription_key_query_parameter_is_accepted_and_reported(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        answer = client.post(SUBMIT, params={"subscription-key": "k"}, json={"prompt": "x"})
        assert answer.status_code == 202, answer.text
        report = client.get("/__admin/client-report").json()
        leniencies = [f for f in report["findings"] if f["kind"] == "gateway-leniency"]
        assert len(leniencies) == 1 and "subscription-key" in leniencies[0]["detail"]
        assert leniencies[0]["operation_id"] == "fluxDevTextToImage"


def test_klein_takes_any_size_in_its_range_as_the_gateway_does_rounded_and_reported(make_flux_mock):
    import io

    from PIL import Image

    klein = "/flux-2-klein-4b/v1/generateImage"
    with reset_client(make_flux_mock("keys: {k: {balance: 1}}\n").url) as client:
        answer = client.post(klein, json={"prompt": "x", "width": 1080, "height": 1920}, headers=KEY)
        assert answer.status_code == 200, answer.text
        image = Image.open(io.BytesIO(client.get(answer.json()["output"]).content))
        assert image.size == (1072, 1920), "each side rounded down to a multiple of 16, as the gateway's image is"
        assert client.get("/__admin/wallets").json()["wallets"]["k"] == pytest.approx(1 - 0.0028), \
            "priced at the tier nearest its larger side (2048)"
        near = client.post(klein, json={"prompt": "x", "width": 1100, "height": 1024}, headers=KEY)
        assert near.status_code == 200
        assert client.get("/__admin/wallets").json()["wallets"]["k"] == pytest.approx(1 - 0.0028 - 0.0007)
        for width in (496, 2064, "1080"):
            refused = client.post(klein, json={"prompt": "x", "width": width}, headers=KEY)
            assert refused.status_code == 400 and "width" in refused.json()["message"], width
        findings = [f for f in client.get("/__admin/client-report").json()["findings"]
                    if f["kind"] == "gateway-leniency"]
        assert any("width: 1080 is not one of 512, 1024, 1448, 2048" in f["detail"] for f in findings)
        assert any("height: 1920" in f["detail"] and "makes it 1920" in f["detail"] for f in findings)


def test_webhooks_redirect_to_sends_every_delivery_to_one_local_receiver_naming_the_target(make_flux_mock,
                                                                                            receiver):
    config = (f"webhooks: {{redirect_to: '{receiver.url}/all-hooks', backoff: 0.05}}\n"
              "timing: {queued_for: 0.05, processing_for: 0.05}\n")
    with reset_client(make_flux_mock(config).url) as client:
        target = "https://your-server.com/webhook/callback"  # the pages' own example: answered 202 as the API does
        job = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": target})
        assert job.status_code == 202, job.text
        request_id = job.json()["request_id"]
        [body] = receiver.wait_for(1, "/all-hooks")
        assert body["request_id"] == request_id and body["status"] == "COMPLETED"
        with receiver._lock:
            [received] = [r for r in receiver.received if r.path == "/all-hooks"]
        assert received.headers["X-Flux-Mock-Original-Url"] == target
        def delivered():
            [delivery] = [d for d in client.get("/__admin/webhooks").json()["deliveries"]
                          if d["request_id"] == request_id]
            return delivery if delivery["state"] == "delivered" else None
        delivery = wait_until(delivered, what=f"the delivery of {request_id} recorded delivered")
        assert delivery["url"] == target, "the record names the target"


def test_webhooks_redirect_to_a_host_the_mock_may_not_call_is_refused_at_start(tmp_path):
    stderr = serve_refuses(tmp_path, "webhooks: {redirect_to: 'https://hooks.example.com/x'}\n")
    assert "webhooks.redirect_to https://hooks.example.com/x must be a loopback address" in stderr


def test_the_cloudflare_challenge_on_the_status_endpoint_is_a_named_variant(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        request_id = client.post(SUBMIT, json={"prompt": "x"}, headers=KEY).json()["request_id"]
        challenged = client.get(f"/v2/requests/status/{request_id}",
                                headers={**KEY, "Prefer": "variant=cloudflare-challenge"})
        assert challenged.status_code == 403 and challenged.headers["content-type"].startswith("text/html")
        assert "Just a moment..." in challenged.text and challenged.headers["cf-mitigated"] == "challenge"
        rule = client.post("/__admin/rules", json={"match": {"operation_id": "getRequestStatus"},
                                                      "outcome": {"variant": "cloudflare-challenge"}, "times": 1})
        assert rule.status_code == 201
        polls = [client.get(f"/v2/requests/status/{request_id}", headers=KEY).status_code for _ in range(2)]
        assert polls == [403, 200], "once, then the JSON status again"
        elsewhere = client.post("/__admin/rules", json={"match": {"operation_id": "schnellGetData"},
                                                           "outcome": {"variant": "cloudflare-challenge"}})
        assert elsewhere.status_code == 400 and "allowed: getdata-job" in elsewhere.json()["message"]


def test_an_unknown_prefer_token_is_a_400_naming_the_supported_ones_and_rfc_7240s_are_ignored(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        typo = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "cdoe=429"})
        assert typo.status_code == 400
        assert "Prefer: cdoe is not a preference flux-mock knows; supported: code=, job=" in typo.json()["message"]
        standard = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Prefer": "respond-async, wait=10"})
        assert standard.status_code == 202, "what an app may send the real gateway works unchanged"


def test_a_400_lists_every_violation_and_names_every_allowed_value(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        several = client.post("/flux-2-pro-text-to-image-799/v1/flux-2-pro-text-to-image-request",
                              json={"prompt": 5, "image_size": "big", "safety_tolerance": 9}, headers=KEY).json()
        assert several["message"] == several["violations"][0] and len(several["violations"]) == 3
        [enum] = [v for v in several["violations"] if v.startswith("image_size")]
        assert enum == ('image_size: "big" is not one of "portrait_4_5", "portrait_9_16", "square_1_1", '
                        '"landscape_3_2", "landscape_4_3", "landscape_16_9", "landscape_21_9"')
        one = client.post(SUBMIT, json={"prompt": "x", "num_inference_steps": "many"}, headers=KEY).json()
        assert "violations" not in one and "num_inference_steps" in one["message"]
