"""The plugin's per-test configuration (issue 39, item 3): `make_flux_mock(config=..., strict=...)` and
`@pytest.mark.flux_mock(config=..., strict=...)`, as pytest-httpserver and respx offer theirs: one process per
distinct configuration for the session, reset for each test, an admin token in the config honoured."""


import httpx
import pytest

from tests.support.pytest_run import run_pytest

KEY = {"Ocp-Apim-Subscription-Key": "k"}
SCHNELL = "/flux-1-schnell/v1/getData"
UNDOCUMENTED = {"prompt": "a fox", "num_image": 2}


@pytest.mark.flux_mock(config={"admin_token": "factory-token-1", "keys": {"k": {"balance": 0}}})
def test_the_marker_gives_the_test_a_mock_of_that_config(flux_mock, flux_mock_server):
    assert flux_mock.url != flux_mock_server, "not the session's mock"
    refused = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY)
    assert refused.status_code == 402, "the config's wallet"
    assert [entry.status for entry in flux_mock.journal.entries()] == [402], "its admin token is used"


@pytest.mark.flux_mock(config={"admin_token": "factory-token-1", "keys": {"k": {"balance": 0}}})
def test_the_same_configuration_is_the_same_process_reset(flux_mock):
    assert flux_mock.journal.entries() == [], "reset for this test"


def test_the_factory_makes_several_each_reset_and_strict_when_asked(make_flux_mock, flux_mock_server):
    lenient, strict = make_flux_mock(), make_flux_mock(strict=True)
    assert lenient.url == flux_mock_server, "no config: the session's own process"
    assert httpx.post(lenient.url + SCHNELL, json=UNDOCUMENTED, headers=KEY).status_code == 200
    answer = httpx.post(strict.url + SCHNELL, json=UNDOCUMENTED, headers=KEY)
    assert answer.status_code == 400 and "num_image" in answer.text
    yaml_text = make_flux_mock("timing: {queued_for: 7}\n")
    assert yaml_text.timing.get()["queued_for"] == 7


def test_a_marker_with_a_wrong_keyword_is_one_line_naming_it(tmp_path):
    (tmp_path / "test_wrong.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.flux_mock(conifg='strict: true')\n"
        "def test_it(flux_mock):\n"
        "    pass\n")
    ran = run_pytest(tmp_path)
    assert ran.returncode != 0 and "unknown keyword 'conifg' (config, strict)" in ran.stdout + ran.stderr, \
        ran.stdout[-2000:]
