"""Bad input never gets a 500, always a clear 4xx in the gateway's shape, and the server goes on."""

import json
import socket

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.operations import load_operations

KEY = {"Ocp-Apim-Subscription-Key": "fuzz-key", "X-Secret-Key": "fuzz-key"}
POSTS = [op for op in load_operations() if op.method == "POST" and op.spec == "flux.yaml"]
HAND_PICKED = {
    "truncated": b'{"prompt": "a cat", "width": 5',
    "not json": b"prompt=a+cat",
    "empty": b"",
    "bom": b'\xef\xbb\xbf{"prompt": "x"}',
    "invalid utf-8": b'{"prompt": "\xc3\x28"}',
    "lone surrogate": b'{"prompt": "\\ud800"}',
    "NaN": b'{"prompt": "x", "width": NaN}',
    "Infinity": b'{"prompt": "x", "seed": -Infinity}',
    "out of range": b'{"prompt": "x", "seed": 1e400}',
    "deep arrays": b'{"prompt": "x", "a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "deep objects": b'{"prompt": "x", "a": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}",
    "wrong types": b'{"prompt": 5, "width": "wide", "num_steps": [], "seed": {}}',
    "top-level array": b'[{"prompt": "x"}]',
    "top-level string": b'"prompt"',
    "null": b"null",
    "huge body": b'{"prompt": "' + b"a" * (2 * 1024 * 1024) + b'"}',
    "huge numbers everywhere": json.dumps({"prompt": "x", "width": 10**40, "height": 10**40, "num_images": 10**40,
                                           "num_outputs": 10**40, "steps": 10**40, "seed": 10**40,
                                           "image_size": "99999999999999999999x99999999999999999999",
                                           "aspect_ratio": "1:0", "megapixels": "9e99"}).encode(),
}


@pytest.fixture
def client(api):
    api.put("/__admin/timing", json={"queued_for": 0, "processing_for": 0.01})  # Schnell Batch waits for its job
    yield api
    assert api.post("/flux-1-schnell/v1/getData", json={"prompt": "still here"}, headers=KEY).status_code == 200
    entries = api.get("/__admin/journal").json()["entries"]
    assert [e for e in entries if e["status"] >= 500] == []


def assert_documented_error(response, operation=None):
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    if operation is not None:
        assert response.status_code in operation.documented_statuses | {405}


@pytest.mark.parametrize("name", sorted(HAND_PICKED))
@pytest.mark.parametrize("operation", POSTS, ids=lambda op: op.operation_id)
def test_hand_picked_bad_bodies_get_documented_4xx(client, operation, name):
    response = client.post(operation.path, content=HAND_PICKED[name], headers={**KEY, "Content-Type": "application/json"})
    if response.status_code < 300:
        # Only this body can be acceptable: its out-of-range values are in fields an operation does not
        # document (accepted and journaled, as gateways do) or in fields documented without a maximum.
        assert name == "huge numbers everywhere", response.text
        return
    assert_documented_error(response, operation)


@pytest.mark.parametrize("path", [
    "/media/..%2F..%2F..%2Fetc%2Fpasswd", "/media/../../etc/passwd", "/media/0123456789abcdef/..%2F..%2Fsecret.png",
    "/media/0123456789abcdef/999999x999999-0.png", "/media/%00", "/v2/requests/status/..%2F..%2Fetc%2Fpasswd",
    "/v2/requests/status/%00%ff", "/v2/requests/status/" + "a" * 8000, "/v2/requests/status/flux-pro_unknown",
    "/__admin/../v2/requests/status/x", "/%ff%fe%fd",
])
def test_path_traversal_and_unknown_ids_are_404(client, path):
    response = client.get(path, headers=KEY)
    assert response.status_code == 404
    assert_documented_error(response)


@pytest.mark.parametrize("body", [{"requestId": "../../etc/passwd"}, {"requestId": ""}, {"requestId": 5}, {}])
def test_bad_status_ids_in_bodies(client, body):
    assert_documented_error(client.post("/flux-1-schnell/v1/checkStatus", json=body, headers=KEY))


def test_huge_headers_are_refused_without_a_crash(client, mock_url):
    host, port = mock_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST /flux-1-schnell/v1/getData HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = raw.recv(200)
    assert answer.startswith(b"HTTP/1.1 4"), answer
    response = client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"},
                           headers={**KEY, "X-Many": "b" * 8000, "Prefer": "wait=" + "9" * 8000})
    assert response.status_code == 200
    unknown = client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers={**KEY, "Prefer": "x" * 8000})
    assert unknown.status_code == 400 and len(unknown.text) < 1000, "named, clipped, in the documented shape"


def test_bad_prefer_and_webhook_headers(client):
    for headers in ({"Prefer": "code=abc"}, {"Prefer": "latency=-1"}, {"Prefer": "job=MAYBE"}, {"Prefer": "cdoe=429"},
                    {"Prefer": "code=999"}):
        response = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers={**KEY, **headers})
        assert_documented_error(response)
    for target in ("http://[::1", "javascript:alert(1)", ""):  # no page refuses these: taken, never called
        response = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                               headers={**KEY, "X-Webhook-URL": target})
        assert response.status_code == 202, response.text


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=40), lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=12), children, max_size=5), max_leaves=20)
FIELDS = sorted({name for op in POSTS for name in (op.request_schema or {}).get("properties", {})})
BODIES = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), JSON, max_size=8)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzzed(mock_url):
    """One client for every fuzzed call (a client per call set up TLS trust each time: most of a call's cost), the
    mock's jobs ending at once (a sync_mode or Batch body waits for its job) and put back after."""
    with httpx.Client(base_url=mock_url, headers=KEY) as client:
        client.put("/__admin/timing", json={"queued_for": 0, "processing_for": 0.01}).raise_for_status()
        yield client
        client.post("/__admin/reset").raise_for_status()


@FUZZ
@given(operation=st.sampled_from(POSTS), raw=st.binary(max_size=300))
def test_fuzzed_raw_bodies_never_get_a_server_error(fuzzed, operation, raw):
    response = fuzzed.post(operation.path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text


@FUZZ
@given(operation=st.sampled_from(POSTS), body=BODIES)
def test_fuzzed_json_bodies_never_get_a_server_error(fuzzed, operation, body):
    response = fuzzed.post(operation.path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str)
