"""Content codings, as the real world sends them: the codec's bounds on its own, then a gateway that answers in
turn gzip, deflate, br and identity, every answer chunked (no Content-Length), recorded through `flux-mock
record` (HAR 1.2: the text decoded, `size` decoded, `bodySize` what crossed the wire, `compression` the
difference) and replayed honouring the app's Accept-Encoding."""

import gzip
import json
import zlib

import brotli
import httpx
import pytest

from mock_server.app import create_app
from mock_server.encodings import MAX_DECODED, TooLarge, Undecodable, accepted, decode, encode
from mock_server.settings import Settings
from tests.support.foreign_server import serving
from tests.support.recorded_runs import entries, pages_gateway, polls, recorder, run_app

BODY = json.dumps({"request_id": "flux-dev_1", "status": "COMPLETED", "padding": "x" * 5000}).encode()


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "br"])
def test_every_coding_round_trips(coding):
    assert decode(encode(BODY, coding), coding) == BODY


def test_raw_deflate_as_some_servers_send_it_and_stacked_codings_are_decoded():
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode(raw.compress(BODY) + raw.flush(), "deflate") == BODY
    assert decode(brotli.compress(gzip.compress(BODY)), "gzip, br") == BODY  # applied gzip then br


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_bomb_stops_at_the_bound_whatever_went_in(coding):
    bomb = encode(b"\0" * (8 * 1024 * 1024), coding)
    assert len(bomb) < 64 * 1024
    with pytest.raises(TooLarge, match=f"larger than {1024 * 1024} bytes"):
        decode(bomb, coding, limit=1024 * 1024)
    assert len(decode(bomb, coding)) == 8 * 1024 * 1024 <= MAX_DECODED


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_bytes_that_are_not_what_the_header_says_are_undecodable(coding):
    with pytest.raises(Undecodable, match="not " + coding if coding != "zstd" else "unknown content coding"):
        decode(b"{\"plain\": \"json\"}", coding)


def test_accept_encoding_is_read_with_its_qualities():
    assert accepted("gzip, deflate, br", "br") and accepted("*", "gzip") and accepted("br;q=0.5", "br")
    assert not accepted("gzip;q=0, deflate", "gzip") and not accepted("", "gzip") and not accepted(None, "br")


@pytest.fixture(scope="module")
def in_turn(tmp_path_factory):
    """The app recorded against a gateway answering gzip, deflate, br and identity in turn, chunked."""
    out = tmp_path_factory.mktemp("codings") / "codings.har"
    with pages_gateway(codings=("gzip", "deflate", "br", "identity"), queued_for=0.3, processing_for=0.4) as \
            (_, api, _cdn):
        with recorder(out, api, record_media=True, allow_hosts=("127.0.0.2",)) as url:
            seen = run_app(url)
    return out, seen


def test_every_coding_and_chunked_answer_is_recorded_decoded_with_har_sizes(in_turn):
    out, seen = in_turn
    recorded = entries(out)
    assert len(recorded) == 1 + len(polls(seen)) + 1, "every exchange written"
    found = set()
    for entry in recorded[:-1]:
        response = entry["response"]
        coding = next((h["value"] for h in response["headers"] if h["name"].lower() == "content-encoding"),
                      "identity")
        found.add(coding)
        content = response["content"]
        assert json.loads(content["text"])["request_id"], f"{coding}: the text decoded"
        assert content["size"] == len(content["text"].encode()), f"{coding}: size is the decoded size"
        if coding == "identity":
            assert response["bodySize"] == content["size"] and not content.get("compression")
        else:
            assert response["bodySize"] < content["size"], f"{coding}: bodySize is what crossed the wire"
            assert content["compression"] == content["size"] - response["bodySize"]
    assert found == {"gzip", "deflate", "br", "identity"}, found
    assert [entry["_fluxMock"]["jobStatus"] for entry in recorded[1:-1]] == polls(seen)


def _coding(entry: dict) -> str:
    return next((h["value"] for h in entry["response"]["headers"] if h["name"].lower() == "content-encoding"),
                "identity")


@pytest.mark.parametrize("accepts", ["br", "gzip", "deflate", "identity"])
def test_replay_answers_in_the_coding_recorded_only_to_an_app_that_accepts_it(in_turn, accepts):
    out, _ = in_turn
    recorded = entries(out)
    key = {"Ocp-Apim-Subscription-Key": "any"}
    with serving(create_app(Settings(replay=(str(out),), replay_speed=0))) as mock:
        with httpx.Client(base_url=mock, timeout=10, headers={"Accept-Encoding": accepts}) as client:
            job = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "a lighthouse at dusk", "image_size": "square"},
                              headers=key)
            assert job.status_code == 202, job.text
            answers = [client.get(job.json()["polling_url"], headers=key) for _ in recorded[1:-1]]
    assert [answer.json()["status"] for answer in answers] == [entry["_fluxMock"]["jobStatus"]
                                                               for entry in recorded[1:-1]]
    expected = [_coding(entry) if _coding(entry) == accepts else "identity" for entry in recorded[1:-1]]
    assert [answer.headers.get("content-encoding", "identity") for answer in answers] == expected
    assert accepts == "identity" or accepts in expected, "at least one answer was recorded in this coding"
