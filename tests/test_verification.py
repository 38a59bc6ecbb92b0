"""Verifying what a client sent, through the flux_mock fixture: typed records with bodies and headers (bounded,
keys masked), call counts with body and header matching, order, and failures that name the closest miss."""

import re

import httpx
import pytest

LONG_KEY = "client-key-0123456789abcdef"
HEADERS = {"Ocp-Apim-Subscription-Key": LONG_KEY, "Authorization": "Bearer t0k3n", "X-Trace": "run-7"}
SUBMIT = "/flux-dev/v1/dev/textToImage"


def _submit(flux_mock, **body):
    answer = httpx.post(flux_mock.url + SUBMIT, headers=HEADERS, json={"prompt": "a red fox", **body})
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_requests_are_typed_records_with_bounded_bodies_and_masked_secrets(flux_mock):
    job = _submit(flux_mock, image_size="square", prompt="x" * 5000)
    httpx.get(job["polling_url"], headers=HEADERS)
    submit, poll = flux_mock.requests()
    assert (submit.operation_id, submit.method, submit.status, poll.operation_id) == \
        ("fluxDevTextToImage", "POST", 202, "getRequestStatus")
    assert submit.body["image_size"] == "square" and submit.body["prompt"].endswith("(5000 characters)")
    assert len(submit.body["prompt"]) < 300, "a long string is clipped in the journal"
    assert submit.headers["x-trace"] == "run-7" and submit.headers["authorization"] == "[redacted]"
    assert LONG_KEY not in str(submit) and submit.key == submit.headers["ocp-apim-subscription-key"] == "clie...cdef"
    assert poll.body is None and poll.request_id == job["request_id"]
    assert [r.operation_id for r in flux_mock.requests("getRequestStatus")] == ["getRequestStatus"]
    assert len(flux_mock.requests(key=LONG_KEY)) == 2 and flux_mock.requests(key="someone-else") == []


def test_assert_called_counts_matching_calls_by_body_fields_and_headers(flux_mock):
    _submit(flux_mock, image_size="square")
    _submit(flux_mock, image_size="landscape_4_3")
    assert len(flux_mock.assert_called("fluxDevTextToImage", times=2)) == 2
    (square,) = flux_mock.assert_called("fluxDevTextToImage", times=1, body={"image_size": "square"},
                                        headers={"X-Trace": "run-7"})
    assert square.body["image_size"] == "square"
    flux_mock.assert_called("fluxDevTextToImage", key=LONG_KEY)


def test_a_failed_verification_names_what_was_expected_and_the_closest_miss(flux_mock):
    _submit(flux_mock, image_size="landscape_4_3")
    with pytest.raises(AssertionError) as failure:
        flux_mock.assert_called("fluxDevTextToImage", times=1, body={"image_size": "square", "prompt": "a red fox"})
    message = str(failure.value)
    assert "expected 1 call to fluxDevTextToImage with body.image_size == 'square', body.prompt == 'a red fox'; " \
           "got 0" in message
    assert re.search(r"closest: #\d+ POST /flux-dev/v1/dev/textToImage -> 202 \(fluxDevTextToImage\): "
                     r"body.image_size was 'landscape_4_3' \(expected 'square'\)$", message), message
    with pytest.raises(AssertionError, match="expected 3 calls to fluxDevTextToImage; got 1"):
        flux_mock.assert_called("fluxDevTextToImage", times=3)
    with pytest.raises(AssertionError, match="no call to getRequestStatus at all; calls made to: fluxDevTextToImage"):
        flux_mock.assert_called("getRequestStatus")


def test_order_is_checked_and_a_wrong_one_named(flux_mock):
    job = _submit(flux_mock)
    httpx.get(job["polling_url"], headers=HEADERS)
    flux_mock.assert_called_in_order("fluxDevTextToImage", "getRequestStatus")
    with pytest.raises(AssertionError, match=r"they came as fluxDevTextToImage \(#\d+ .*\) -> getRequestStatus"):
        flux_mock.assert_called_in_order("getRequestStatus", "fluxDevTextToImage")
    with pytest.raises(AssertionError, match="never called: schnellGetData"):
        flux_mock.assert_called_in_order("fluxDevTextToImage", "schnellGetData")


def test_a_journaled_body_stays_small_however_the_client_nests_it():
    import json

    from mock_server.redaction import clipped_json

    deep = [[[[[[[[list(range(50))] * 50] * 50] * 50] * 50] * 50] * 50] * 50]
    wide = {f"field{i}": ["x" * 5000] * 100 for i in range(100)}
    for body in (deep, wide, {"image": "data:image/png;base64," + "A" * 10**6}):
        assert len(json.dumps(clipped_json(body))) < 12_000
    small = {"prompt": "a fox", "image_size": "square", "num_images": 2, "output": {"format": "png"}}
    assert clipped_json(small) == small, "an ordinary body is kept whole"
