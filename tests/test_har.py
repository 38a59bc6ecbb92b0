"""The HAR format module: what is redacted before anything is written, a file that is whole after every
entry, and a written file read back as the recording replay and drift see."""

import json

import pytest

from mock_server.exit_codes import UsageError
from mock_server.har import HarWriter, RecordedExchange, json_value, read_har
from mock_server.redaction import redacted_headers, redacted_json, redacted_url

SECRET = "s3cr3t-key-0123456789"


def test_secret_named_query_parameters_are_redacted_and_the_rest_kept():
    url = f"https://gateway.pixazo.ai/v2/requests/status/x?subscription-key={SECRET}&page=2&access_token=t0k3n"
    redacted = redacted_url(url)
    assert SECRET not in redacted and "t0k3n" not in redacted and "page=2" in redacted
    assert redacted_url("https://h/p") == "https://h/p"


def test_key_headers_cookies_and_webhook_queries_are_redacted():
    headers = redacted_headers([("Ocp-Apim-Subscription-Key", SECRET), ("X-Secret-Key", SECRET),
                                ("Authorization", f"Bearer {SECRET}"), ("Cookie", f"s={SECRET}"),
                                ("X-Webhook-URL", f"https://hooks.example/in?sig={SECRET}"), ("Accept", "*/*")])
    assert SECRET not in json.dumps(headers)
    assert {"name": "Accept", "value": "*/*"} in headers
    assert {"name": "X-Webhook-URL", "value": "https://hooks.example/in?redacted"} in headers


def test_webhook_urls_in_bodies_lose_their_query_at_any_depth():
    body = {"prompt": "p", "webhook_url": f"https://hooks.example/a?token={SECRET}",
            "options": {"callback": f"https://hooks.example/b?k={SECRET}", "note": "https://keep.example/?q=1"}}
    redacted = redacted_json(body)
    assert SECRET not in json.dumps(redacted) and redacted["options"]["note"] == "https://keep.example/?q=1"


def _exchange(**changes) -> RecordedExchange:
    fields = dict(method="POST", url=f"https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage?subscription-key={SECRET}",
                  request_headers=(("content-type", "application/json"), ("ocp-apim-subscription-key", SECRET)),
                  request_content=json.dumps({"prompt": "p", "webhook": f"https://h.example/w?s={SECRET}"}).encode(),
                  status=202, reason="Accepted", response_headers=(("content-type", "application/json"),
                                                                   ("set-cookie", f"session={SECRET}")),
                  content=b'{"request_id": "r1",  "status": "QUEUED"}', started=1_767_225_600.0, waited_ms=12.5)
    return RecordedExchange(**{**fields, **changes})


def test_a_written_file_is_whole_after_every_entry_and_holds_no_secret(tmp_path):
    path = tmp_path / "s.har"
    writer = HarWriter(path)
    assert json.loads(path.read_text())["log"]["entries"] == [], "whole before the first entry"
    writer.write(_exchange().to_har({"operationId": "fluxDevTextToImage"}))
    assert len(json.loads(path.read_text())["log"]["entries"]) == 1, "whole after it, before close"
    writer.write(_exchange(status=429).to_har({}))
    writer.close()
    text = path.read_text()
    assert SECRET not in text
    first, second = read_har(path)
    assert first.flux == {"operationId": "fluxDevTextToImage"} and first.status == 202 and second.status == 429
    assert first.content == b'{"request_id": "r1",  "status": "QUEUED"}', "an answer with nothing to redact: as sent"
    assert first.started == 1_767_225_600.0


def test_media_left_out_keeps_its_size_and_reads_back_as_omitted(tmp_path):
    path = tmp_path / "m.har"
    writer = HarWriter(path)
    writer.write(_exchange(method="GET", response_headers=(("content-type", "image/png"),),
                           content=b"\x89PNG" + b"\0" * 100, content_omitted=True).to_har({}))
    writer.close()
    (recorded,) = read_har(path)
    assert recorded.content_omitted and recorded.content == b""
    assert json.loads(path.read_text())["log"]["entries"][0]["response"]["content"]["size"] == 104


def test_an_existing_file_is_refused_unless_replaced(tmp_path):
    path = tmp_path / "kept.har"
    path.write_text("precious")
    with pytest.raises(UsageError, match="exists already"):
        HarWriter(path)
    assert path.read_text() == "precious"
    HarWriter(path, replace=True).close()
    assert json.loads(path.read_text())["log"]["version"] == "1.2"


def _read(path) -> list:
    return list(read_har(str(path), option="--har"))


def test_entries_that_are_no_list_are_no_har_and_an_empty_list_is_an_empty_recording(tmp_path):
    """HAR 1.2: `log.entries` is an array. An object there is not a HAR; an empty array is a recording of nothing."""
    not_a_list = tmp_path / "object.har"
    not_a_list.write_text(json.dumps({"log": {"version": "1.2", "entries": {"a": 1}}}))
    with pytest.raises(UsageError, match=r"is not a HAR 1.2 file \(log.entries with request and response\)"):
        _read(not_a_list)
    empty = tmp_path / "empty.har"
    empty.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    assert _read(empty) == []


def test_a_file_that_is_not_there_or_past_the_size_bound_is_one_line(tmp_path):
    """docs/reference/bounds.md: a HAR file of at most 512 MiB; past it, or unreadable, one line naming why."""
    with pytest.raises(UsageError) as missing:
        _read(tmp_path / "nothing.har")
    assert str(missing.value) == f"--har {tmp_path / 'nothing.har'}: No such file or directory"
    huge = tmp_path / "huge.har"
    with open(huge, "wb") as file:
        file.truncate(513 * 2**20)  # sparse: no disk is spent
    with pytest.raises(UsageError) as past:
        _read(huge)
    assert "is 513 MiB, more than the 512 MiB a HAR may take here" in str(past.value)
    at_the_bound = tmp_path / "bound.har"
    with open(at_the_bound, "wb") as file:
        file.truncate(512 * 2**20)  # exactly the bound: read (and found to be no HAR), not refused for its size
    with pytest.raises(UsageError) as read:
        _read(at_the_bound)
    assert "is not a HAR 1.2 file" in str(read.value) and "more than" not in str(read.value)


def test_an_answer_compressed_on_the_wire_says_how_many_bytes_it_saved_and_only_then():
    """HAR 1.2, content.compression: "number of bytes saved. Leave out this field if the information is not
    available" (or there is none): size minus bodySize for a compressed answer, absent for one sent as it is."""
    body = json.dumps({"request_id": "x", "status": "COMPLETED", "padding": "y" * 1000}).encode()
    sent_whole = RecordedExchange("GET", "https://gateway.pixazo.ai/v2/requests/status/x", 200, content=body)
    compressed = RecordedExchange("GET", "https://gateway.pixazo.ai/v2/requests/status/x", 200, content=body,
                                  body_size=300)
    assert "compression" not in sent_whole.to_har({})["response"]["content"]
    content = compressed.to_har({})["response"]
    assert content["content"]["compression"] == len(body) - 300 and content["bodySize"] == 300


@pytest.mark.parametrize("levels, kept", [(64, True), (65, False)])
def test_a_body_is_read_as_json_up_to_64_levels_deep(levels, kept):
    """docs/reference/bounds.md: a body nested deeper than 64 levels is judged as text (the walkers that judge and
    redact go no deeper)."""
    value = json_value(b"[" * levels + b"]" * levels)
    assert (value is not None) is kept


@pytest.mark.parametrize("content", [b'{"log": {"entri', b"xyz"])
def test_a_file_that_is_no_har_is_one_line_of_at_most_300_characters_however_long_its_name(tmp_path, content):
    """Every CLI error is one line: the reason a file is no HAR is cut to 300 characters, even under a long path."""
    folder = tmp_path / ("d" * 250)
    folder.mkdir()
    (folder / "x.har").write_bytes(content)
    with pytest.raises(UsageError) as refused:
        _read(folder / "x.har")
    said = str(refused.value)
    assert len(said) == 300 and "\n" not in said and said.startswith(f"--har {tmp_path}"), said


def test_the_entry_bound_takes_exactly_its_count(tmp_path, monkeypatch):
    """MAX_HAR_ENTRIES entries are read; one more is refused, naming the bound."""
    from mock_server import har

    monkeypatch.setattr(har, "MAX_HAR_ENTRIES", 3)
    exchange = RecordedExchange("GET", "https://gateway.pixazo.ai/v2/requests/status/x", 200)
    for count in (3, 4):
        writer = HarWriter(tmp_path / f"{count}.har")
        for _ in range(count):
            writer.write(exchange.to_har({}))
        writer.close()
    assert len(_read(tmp_path / "3.har")) == 3
    with pytest.raises(UsageError, match="holds more than 3 entries: split it"):
        _read(tmp_path / "4.har")


def _entry(time, post_data=None) -> dict:
    """A HAR 1.2 entry as another tool writes it (a browser's export): only what the format requires."""
    request = {"method": "POST", "url": "https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage", "headers": []}
    if post_data is not None:
        request["postData"] = post_data
    return {"startedDateTime": "2026-12-01T00:00:00.000Z", "time": time, "request": request,
            "response": {"status": 202, "headers": [], "content": {"size": 0, "text": ""}}}


@pytest.mark.parametrize("time, waited", [(1234.5, 1234.5), (0, 0.0), (-1, 0.0), (1e12 - 1, 1e12 - 1), (1e12, 0.0),
                                          ("12", 0.0), (True, 0.0)])
def test_an_entrys_time_is_its_milliseconds_waited_and_minus_one_or_nonsense_is_unknown(tmp_path, time, waited):
    """HAR 1.2: `time` is the entry's total elapsed milliseconds, -1 where unknown. report times a client's next
    request from the answer (started + time): a time past 1e12 ms (31 years) or not a number is unknown (0)."""
    path = tmp_path / "timed.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [_entry(time)]}}))
    assert [exchange.waited_ms for exchange in _read(path)] == [waited]


@pytest.mark.parametrize("post_data, body", [(None, None), ({"mimeType": "application/json", "text": ""}, None),
                                             ({"mimeType": "application/json", "text": '{"prompt": "a"}'},
                                              {"prompt": "a"}),
                                             ({"mimeType": "text/plain", "text": "a fox"}, "a fox")])
def test_a_request_body_reads_as_json_as_its_text_or_as_none_when_there_is_none(tmp_path, post_data, body):
    path = tmp_path / "bodies.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [_entry(5, post_data)]}}))
    assert [exchange.request_body for exchange in _read(path)] == [body]


@pytest.mark.parametrize("extra, told", [(0, False), (1, True)])
def test_a_har_over_32_mib_says_how_far_reading_got_every_10000_entries(tmp_path, capsys, extra, told):
    """docs/reference/bounds.md: reading a HAR of more than 32 MiB says how far it got every 10,000 entries (a
    long read is not taken for a hang); one of exactly 32 MiB says nothing."""
    entry = json.dumps(_entry(5))
    text = '{"log": {"version": "1.2", "entries": [' + ", ".join([entry] * 10_000) + "]}"
    path = tmp_path / "long.har"
    path.write_text(text[:-1] + " " * (32 * 2**20 + extra - len(text)) + "}")
    assert path.stat().st_size == 32 * 2**20 + extra
    assert len(_read(path)) == 10_000
    assert ("10,000 entries read" in capsys.readouterr().err) is told


def test_an_entrys_time_is_the_sum_of_its_timings_to_the_microsecond():
    """HAR 1.2: an entry's `time` is the sum of its `timings` (send, wait, receive; -1 for none), in milliseconds:
    what the recorder measured is all waiting, written to three decimals in both places."""
    entry = RecordedExchange("GET", "https://gateway.pixazo.ai/v2/requests/status/x", 200, (), b"", (), b"{}",
                             "OK", 1_767_225_600.0, 12.34567).to_har({})
    timings = entry["timings"]
    assert entry["time"] == 12.346 and timings == {"send": 0, "wait": 12.346, "receive": 0}
    assert entry["time"] == sum(value for value in timings.values() if value != -1)


def test_a_status_text_is_kept_to_200_characters():
    """HAR 1.2's statusText is free text from whoever wrote the file: the first 200 characters are kept (a reason
    phrase is a few words), so one entry cannot make every line that quotes it as long as it likes."""
    exchange = RecordedExchange.from_har({**_entry(5), "response": {"status": 202, "statusText": "A" * 199 + "BC",
                                                                    "headers": [], "content": {"size": 0}}})
    assert exchange.reason == "A" * 199 + "B"
