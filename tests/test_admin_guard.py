"""Without --admin-token, a web page cannot drive the mock through the user's browser: cross-site requests
(by Sec-Fetch-Site or Origin) and foreign host names (DNS rebinding) are refused with 403 and change
nothing; scripts, the mock's own pages and in-process clients keep working. Real sockets, loopback only."""

from urllib.parse import urlsplit

import httpx
import pytest

KEY = {"Ocp-Apim-Subscription-Key": "guard-key"}
SUBMIT = "/flux-dev/v1/dev/textToImage"


def _jobs(url: str) -> int:
    return httpx.get(f"{url}/__admin/jobs", timeout=10).json()["total"]


@pytest.mark.parametrize("headers, words", [
    ({"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, "cross-site"),
    ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, "Origin http://evil.example"),
    ({"Origin": "null"}, "Origin null"),
    ({"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}, "same-site"),
], ids=["cross-site form post", "foreign origin, no fetch metadata", "opaque origin", "another local port"])
def test_a_cross_site_browser_request_is_refused_and_changes_nothing(api, mock_url, headers, words):
    api.post(SUBMIT, json={"prompt": "kept"}, headers=KEY).raise_for_status()
    refused = httpx.post(f"{mock_url}/__admin/reset", headers=headers, content=b"", timeout=10)
    assert refused.status_code == 403 and words in refused.json()["message"], refused.text
    rule = httpx.post(f"{mock_url}/__admin/rules", headers=headers, timeout=10,
                      content=b'{"outcome": {"status": 500}}')
    assert rule.status_code == 403
    assert _jobs(mock_url) == 1 and api.get("/__admin/rules").json()["rules"] == [], "nothing changed"


def test_a_rebound_host_name_reads_and_changes_nothing(api, mock_url):
    port = urlsplit(mock_url).port
    for method, path in (("GET", "/__admin/jobs"), ("GET", "/__admin/journal"), ("POST", "/__admin/reset"),
                         ("GET", "/__admin/ui")):
        refused = httpx.request(method, f"{mock_url}{path}", headers={"Host": f"rebound.example:{port}"}, timeout=10)
        assert refused.status_code == 403 and "DNS rebinding" in refused.text, (path, refused.text)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "app.localhost", "[::1]"])
def test_loopback_names_scripts_and_the_mocks_own_pages_keep_working(api, mock_url, host):
    port = urlsplit(mock_url).port
    assert httpx.get(f"{mock_url}/__admin/jobs", headers={"Host": f"{host}:{port}"}, timeout=10).status_code == 200
    own_page = {"Origin": f"http://{host}:{port}", "Host": f"{host}:{port}", "Sec-Fetch-Site": "same-origin"}
    assert httpx.post(f"{mock_url}/__admin/reset", headers=own_page, timeout=10).status_code == 204
    typed = httpx.post(f"{mock_url}/__admin/clock/advance", headers={"Sec-Fetch-Site": "none"}, json={"seconds": 1},
                       timeout=10)  # the user typed it: a navigation, not a page
    assert typed.status_code == 200


def test_the_public_url_host_is_the_mocks_own(make_flux_mock):
    url = make_flux_mock("public_url: http://flux-mock.test:9999\n").url
    assert httpx.get(f"{url}/__admin/jobs", headers={"Host": "flux-mock.test:9999"}, timeout=10).status_code == 200


def test_with_an_admin_token_the_token_is_the_check(make_flux_mock):
    url = make_flux_mock("admin_token: guard-token-0123\n").url
    foreign = {"Origin": "http://tools.example", "Sec-Fetch-Site": "cross-site", "Host": "mock.internal"}
    assert httpx.get(f"{url}/__admin/jobs", headers=foreign, timeout=10).status_code == 403
    allowed = httpx.get(f"{url}/__admin/jobs", headers={**foreign, "X-Admin-Token": "guard-token-0123"}, timeout=10)
    assert allowed.status_code == 200
