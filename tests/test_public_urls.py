"""URLs in answers follow the request: the scheme and host the client used, a trusted proxy's forwarded
ones with trust_forwarded, or public_url; webhook bodies name the same URLs as the job's polls."""

import anyio
import httpx

from tests.support.harness import reset_client
from tests.support.inprocess import InProcessMock

KEY = {"Ocp-Apim-Subscription-Key": "k"}
SUBMIT = "/flux-dev/v1/dev/textToImage"


def submitted(client: httpx.Client, **headers) -> dict:
    answer = client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, **headers})
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_answers_name_the_host_the_client_used_and_ignore_forwarded_headers_by_default(make_flux_mock):
    with reset_client(make_flux_mock().url) as client:
        assert submitted(client, Host="gateway.pixazo.ai")["polling_url"].startswith(
            "http://gateway.pixazo.ai/v2/requests/status/")
        untrusted = submitted(client, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
        assert untrusted["polling_url"].startswith(f"{client.base_url}".rstrip("/") + "/v2/")
        assert submitted(client, Host="bad host/<x>")["polling_url"].startswith("http://127.0.0.1:"), \
            "a Host unfit for a URL is replaced by the address the mock listens on"


def test_a_trusted_proxys_forwarded_scheme_and_host_are_used(make_flux_mock):
    with reset_client(make_flux_mock("trust_forwarded: true\n").url) as client:
        forwarded = submitted(client, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.test, inner"})
        assert forwarded["polling_url"].startswith("https://api.example.test/v2/requests/status/")
        rfc = submitted(client, Forwarded='for=1.2.3.4;proto=https;host="mock.example.test:8443", for=5.6.7.8')
        assert rfc["polling_url"].startswith("https://mock.example.test:8443/v2/")
        assert submitted(client, **{"X-Forwarded-Proto": "gopher"})["polling_url"].startswith("http://"), \
            "only http and https are schemes"


def test_public_url_wins_over_everything(make_flux_mock):
    with reset_client(make_flux_mock("public_url: https://mock.ci.example/base\ntrust_forwarded: true\n").url) as client:
        assert submitted(client, **{"X-Forwarded-Host": "other"})["polling_url"].startswith(
            "https://mock.ci.example/base/v2/requests/status/")


def test_each_of_many_hosts_gets_its_own_urls_while_the_mock_remembers_a_bounded_few():
    """The mock remembers base URLs per Host (256 at most): a client sending 600 Host values, each twice, gets
    each one's own polling URL every time, before and after what is remembered is let go."""
    async def run() -> None:
        async with InProcessMock() as mock:
            for round_ in range(2):
                for number in range(600):
                    host = f"host-{number}.test:8{number % 10}00"
                    answer = await mock.client.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "Host": host})
                    assert answer.json()["polling_url"].startswith(f"http://{host}/v2/requests/status/"), (round_, host)
    anyio.run(run)
