"""CORS: a browser app may call the API and download media from any origin by default (the mock stands in
for a gateway browser apps call); `cors_origins` narrows it; the admin API never answers cross-origin."""

from tests.support.harness import reset_client

KEY = {"Ocp-Apim-Subscription-Key": "k"}
APP = "http://app.localhost:5173"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, ocp-apim-subscription-key, x-webhook-url"}


def test_preflights_are_answered_and_answers_carry_the_allow_origin(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        preflight = client.options("/flux-dev/v1/dev/textToImage", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        answer = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers={**KEY, "Origin": APP})
        assert answer.status_code == 202 and answer.headers["access-control-allow-origin"] == "*"
        limited = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                              headers={**KEY, "Origin": APP, "Prefer": "code=429"})
        assert "Retry-After" in limited.headers["access-control-expose-headers"]
        admin = client.options("/__admin/reset", headers={**PREFLIGHT, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in admin.headers, "the admin API is never cross-origin"


def test_cors_origins_narrow_who_may_call(make_flux_mock):
    with reset_client(make_flux_mock(f"cors_origins: ['{APP}']\n").url) as client:
        allowed = client.options("/v2/requests/status/x", headers={**PREFLIGHT, "Access-Control-Request-Method": "GET"})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == APP
        other = client.options("/v2/requests/status/x", headers={**PREFLIGHT, "Origin": "http://evil.example",
                                                                 "Access-Control-Request-Method": "GET"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_cors_off_leaves_options_to_the_api(make_flux_mock):
    with reset_client(make_flux_mock("cors_origins: []\n").url) as client:
        preflight = client.options("/flux-dev/v1/dev/textToImage", headers=PREFLIGHT)
        assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers


def test_answers_without_an_origin_still_tell_caches_they_vary_by_it(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        plain = client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
        browser = client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers={**KEY, "Origin": APP})
        missing = client.get("/nope")
    assert plain.status_code == 200 and plain.headers.get_list("vary") == ["Origin"]
    assert "access-control-allow-origin" not in plain.headers and missing.headers["vary"] == "Origin"
    assert browser.headers["access-control-allow-origin"] == "*" and browser.headers.get_list("vary") == ["Origin"]
