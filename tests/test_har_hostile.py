"""HAR files are untrusted input (issue 34, item 5): whatever a file holds, `drift --har`, `report --har` and
`serve --replay` end in one line and exit 2 naming the file and the entry, or read it; never a traceback, never
an entry silently dropped, never gigabytes. In process (the CLI's main; create_app for what replay reads)."""

import base64
import gzip
import json

import pytest

from mock_server import cli, har
from mock_server.app import create_app
from mock_server.settings import Settings

SUBMIT = "https://gateway.pixazo.ai/flux-dev/v1/dev/textToImage"


def entry(**response) -> dict:
    answer = {"status": 202, "statusText": "Accepted", "headers": [{"name": "Content-Type", "value": "application/json"}],
              "content": {"size": 2, "mimeType": "application/json", "text": json.dumps(
                  {"request_id": "flux-dev_1", "status": "QUEUED", "polling_url": "https://gateway.pixazo.ai/v2/requests/status/flux-dev_1"})}}
    answer.update(response)
    return {"startedDateTime": "2026-12-01T10:00:00.000Z", "time": 5,
            "request": {"method": "POST", "url": SUBMIT, "headers": [], "postData": {
                "mimeType": "application/json", "text": "{\"prompt\": \"x\"}"}},
            "response": answer}


def har_text(*entries: dict, raw: str | None = None) -> str:
    body = ", ".join([json.dumps(item) for item in entries] + ([raw] if raw else []))
    return '{"log": {"version": "1.2", "creator": {"name": "t"}, "entries": [' + body + "]}}"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    said = capsys.readouterr()
    return code, said.out, said.err


REFUSED = {
    "a status of Infinity": (har_text(entry(), raw=json.dumps(entry()).replace('"status": 202', '"status": Infinity')),
                             "is not a HAR 1.2 file"),
    "a status of 1e400": (har_text(entry(), raw=json.dumps(entry()).replace('"status": 202', '"status": 1e400')),
                          "is not a HAR 1.2 file: parse error: numeric (floating point) overflow"),
    "a status of 99999": (har_text(entry(status=99999)),
                          "entry 1 is not a HAR 1.2 entry: response.status 99999 is no HTTP status (100-599)"),
    "a header name that is a number": (har_text(entry(headers=[{"name": 5, "value": "x"}])),
                                       "entry 1 is not a HAR 1.2 entry: a header whose name is no text"),
    "headers that are no list": (har_text(entry(headers="Content-Type: x")),
                                 "entry 1 is not a HAR 1.2 entry: headers is not a list"),
    "a body marked base64 that is not": (
        har_text(entry(content={"mimeType": "image/png", "text": "@@not base64@@", "encoding": "base64"})),
        "entry 1 is not a HAR 1.2 entry: a body marked base64 that is not"),
    "no log at all": ('{"entries": []}', "is not a HAR 1.2 file"),
    "not JSON": ("\x00\x01 binary", "is not a HAR 1.2 file"),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("command", ["drift", "report", "serve"])
def test_a_malformed_har_is_one_line_and_exit_2(tmp_path, capsys, case, command):
    text, said = REFUSED[case]
    path = tmp_path / "bad.har"
    path.write_text(text)
    args = ["serve", "--replay", str(path), "--port", "0"] if command == "serve" else [command, "--har", str(path)]
    code, out, err = run(capsys, *args)
    assert code == 2 and "Traceback" not in err + out, err
    assert err.count("\n") == 1 and err.startswith(f"flux-mock: --{'replay' if command == 'serve' else 'har'} "
                                                   f"{path}") and said in err, err


READ = {
    "a startedDateTime of 1e308": har_text({**entry(), "startedDateTime": 1e308}),
    "a lone surrogate in a body": har_text(entry(content={"mimeType": "application/json",
                                                         "text": '{"request_id": "\\ud800", "status": "QUEUED"}'})),
    "JSON nested 2,000 levels in a body": har_text(entry(content={"mimeType": "application/json",
                                                                 "text": "[" * 2000 + "]" * 2000})),
    "a field nested 2,000 levels in the entry": har_text(entry(), raw=json.dumps(entry())[:-1] + ', "_deep": ' +
                                                         "[" * 2000 + "]" * 2000 + "}"),
    "a gzip bomb kept encoded": har_text(entry(
        headers=[{"name": "Content-Type", "value": "application/json"}, {"name": "Content-Encoding", "value": "gzip"}],
        content={"mimeType": "application/json", "encoding": "base64",
                 "text": base64.b64encode(gzip.compress(b" " * (80 * 1024 * 1024))).decode()})),
}


@pytest.mark.parametrize("case", list(READ))
def test_an_odd_but_readable_har_is_read_by_drift_report_and_replay(tmp_path, capsys, case):
    path = tmp_path / "odd.har"
    path.write_text(READ[case])
    assert len(har.read_har(path)) == (2 if "entry" in case else 1), "no entry dropped"
    for command in ("drift", "report"):
        code, out, err = run(capsys, command, "--har", str(path))
        assert code in (0, 1, 4) and "Traceback" not in err + out, (command, err)
    create_app(Settings(replay=(str(path),)))


def test_a_file_cut_short_is_read_to_its_last_whole_entry_with_a_warning(tmp_path, capsys):
    whole = har_text(entry(), entry(), entry())
    path = tmp_path / "torn.har"
    path.write_text(whole[: whole.rindex('{"startedDateTime"') + 200])
    code, out, err = run(capsys, "drift", "--har", str(path))
    assert code == 0 and "## fluxDevTextToImage: ok (2 recorded exchanges)" in out, out + err
    assert err.splitlines()[0] == f"flux-mock: --har {path} ends in a torn entry (its writer stopped mid-write): " \
                                  "the 2 entries before it are read"


def test_the_bounds_on_a_har_are_one_line_each(tmp_path, capsys, monkeypatch):
    path = tmp_path / "many.har"
    path.write_text(har_text(*[entry() for _ in range(6)]))
    monkeypatch.setattr(har, "MAX_HAR_ENTRIES", 5)
    code, _, err = run(capsys, "drift", "--har", str(path))
    assert code == 2 and err == f"flux-mock: --har {path} holds more than 5 entries: split it\n"
    monkeypatch.setattr(har, "MAX_HAR_BYTES", 1024)
    code, _, err = run(capsys, "report", "--har", str(path))
    assert code == 2 and err.startswith(f"flux-mock: --har {path} is ") and "more than the 0 MiB" in err


def _poll(status: str, **extra) -> dict:
    body = {"request_id": "flux-dev_1", "status": status, "model_id": "flux-dev",
            "error": "Generation failed" if status == "FAILED" else None, "output": None,
            "created_at": "2026-12-01T10:00:00Z", **extra}
    return {"startedDateTime": "2026-12-01T10:00:06.000Z", "time": 5,
            "request": {"method": "GET", "url": "https://gateway.pixazo.ai/v2/requests/status/flux-dev_1",
                        "headers": []},
            "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "application/json"}],
                         "content": {"mimeType": "application/json", "text": json.dumps(body)}}}


def test_a_failed_answer_with_an_undocumented_images_field_stays_failed(tmp_path, capsys):
    """A job's status is the `status` it states: a FAILED poll that also carries an undocumented `images` field
    (a fal result's field, drawn as an extra by the generator) is FAILED, not COMPLETED; the kit read it as
    COMPLETED and reported a final status changing (job-status-flow) where none did."""
    path = tmp_path / "failed.har"
    path.write_text(har_text(entry(), _poll("QUEUED"), _poll("FAILED", images={"x": None}), _poll("FAILED")))
    code, out, err = run(capsys, "drift", "--har", str(path))
    assert "invalid-flow" not in out and "COMPLETED" not in out, out
    assert "extra-field at body.images" in out
