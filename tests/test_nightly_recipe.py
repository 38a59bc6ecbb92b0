"""The record-and-replay guide's nightly recipe (issue 37, item 7), run as written against a gateway written from
the pages (tests/support/pages_server.py) on loopback: the client's own traffic from its pytest run against the
mock (`--flux-mock-traffic`), a baseline and tonight's recording (webhooks relayed), and the guide's drift line
verbatim, with severity, an accept file and the client's traffic. Tonight the gateway renamed
`output.media_url` (in the status answers and in the webhook it POSTs) and added a `seed`."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract_tests.receiver import Webhooks, webhook_receiver
from tests.support.recorded_runs import KEY, entries, pages_gateway, recorder, run_app
from tests.support.waiting import wait_until

GUIDE = Path(__file__).parents[1] / "docs" / "guide" / "record-and-replay.md"
CLIENT_TESTS = '''import httpx


def test_a_job_to_its_end(flux_mock):
    flux_mock.timing.fast()
    headers = {"Ocp-Apim-Subscription-Key": "k"}
    job = httpx.post(flux_mock.url + "/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=headers).json()
    assert httpx.get(job["polling_url"], headers=headers).json()["status"] == "COMPLETED"
'''
ACCEPTED = '''accepted:
  - kind: missing-field
    operation: getRequestStatus
    status: 200
    path: body.output.media_url
    reason: the vendor renamed it media_urls; our client reads both since release 4.2
    expires: 2099-12-31
  - kind: undocumented-status
    operation: schnellGetData
    reason: an entry that no longer matches anything
    expires: 2099-12-31
'''


def recipe_lines() -> list[str]:
    block = re.search(r"## A nightly CI recipe.*?```sh\n(.*?)```", GUIDE.read_text(), re.DOTALL).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def tonight(out: Path, drift: bool) -> None:
    """The app's live tests through the recorder: the unchanged polling app, and a submit with a webhook."""
    with pages_gateway(drift=drift) as (_pages, api, _cdn), webhook_receiver() as receiver:
        hooks = Webhooks(receiver)
        with recorder(out, api, allow_hosts=("127.0.0.2",)) as url:
            run_app(url)
            httpx.post(url + "/flux-dev/v1/dev/textToImage", json={"prompt": "a fox"}, timeout=10,
                       headers={"Ocp-Apim-Subscription-Key": KEY, "X-Webhook-URL": hooks.url_for("app")})
            wait_until(lambda: hooks.deliveries(), timeout=15, what="the relayed delivery")
            wait_until(lambda: any(e.get("_fluxMock", {}).get("webhook") for e in entries(out)), timeout=10,
                       what="the delivery written")


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nightly")
    (folder / "tests").mkdir()
    (folder / "tests" / "test_client.py").write_text(CLIENT_TESTS)
    first = recipe_lines()[0]
    assert first == "python -m pytest tests --flux-mock-traffic client.har", first
    own = subprocess.run([sys.executable, *shlex.split(first)[1:], "-q", "-p", "no:cacheprovider"], cwd=folder,
                         capture_output=True, text=True, timeout=180)
    assert own.returncode == 0, own.stdout[-2000:] + own.stderr[-2000:]
    tonight(folder / "baseline.har", drift=False)
    tonight(folder / "tonight.har", drift=True)
    (folder / "drift-accepted.yaml").write_text(ACCEPTED)
    return folder


def run_drift_line(folder: Path) -> subprocess.CompletedProcess:
    line = next(line for line in recipe_lines() if line.startswith("flux-mock drift"))
    return subprocess.run([sys.executable, "-m", "mock_server.cli", *shlex.split(line)[1:]], cwd=folder,
                          capture_output=True, text=True, timeout=180)


def test_the_clients_own_traffic_is_a_har_of_what_it_met(night):
    kept = entries(night / "client.har")
    assert [(entry["request"]["method"], entry["response"]["status"]) for entry in kept] == [("POST", 202),
                                                                                           ("GET", 200)]
    assert kept[0]["_fluxMock"]["operationId"] == "fluxDevTextToImage"
    # the submit's JSON body is kept as it was sent; the poll sent none, and none is written for it
    assert json.loads(kept[0]["request"]["postData"]["text"])["prompt"] and "postData" not in kept[1]["request"], kept


def test_the_recipe_fails_on_what_breaks_names_it_and_lists_what_was_accepted(night):
    drift = run_drift_line(night)
    assert drift.returncode == 1 and "Traceback" not in drift.stderr, drift.stdout + drift.stderr
    report = (night / "drift.md").read_text()
    # the webhook the gateway POSTs lost its media_url too: breaking, and the client calls that operation
    assert ("- [breaking] `fluxDevTextToImage` missing-field at webhook body.output.media_url: expected present, "
            "found absent (the client met it)") in report, report
    # accepted: listed with why and until when, and not failing
    assert re.search(r"- \[breaking\] `getRequestStatus` missing-field at body\.output\.media_url: .*\(the client met "
                     r"it\) \(accepted until 2099-12-31: the vendor renamed it media_urls", report), report
    assert "- [info] `getRequestStatus` extra-field at body.output.seed" in report, "an added field is listed"
    assert "## Accept entries that matched nothing (remove them)" in report and "schnellGetData" in report
    junit = (night / "drift.xml").read_text()
    assert 'name="fluxDevTextToImage"' in junit and "webhook body.output.media_url" in junit
    failing = re.search(r'<testcase classname="flux-mock.drift" name="getRequestStatus">(.*?)</testcase>', junit,
                        re.DOTALL).group(1)
    assert "missing-field at body.output.media_url: expected present, found absent (in a 200 answer) (accepted)" \
        in failing, failing


def test_with_every_breaking_difference_accepted_the_night_passes_and_added_fields_never_fail(night, tmp_path):
    drift = run_drift_line(night)
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "drift", "--har", str(night / "tonight.har"), "--baseline",
         str(night / "baseline.har"), "--report-json", str(tmp_path / "d.json")], capture_output=True, text=True,
        timeout=180).returncode and (tmp_path / "d.json").read_text())
    differences = [d for operation in report for d in operation["differences"]]
    failing = [d for d in differences if d["severity"] != "info"]
    assert failing and drift.returncode == 1
    (night / "all-accepted.yaml").write_text("accepted:\n" + "".join(
        f"  - kind: {d['kind']}\n    operation: {d['operation_id']}\n    path: {json.dumps(d['where'])}\n"
        f"    reason: known tonight\n    expires: 2099-12-31\n" for d in failing))
    line = next(line for line in recipe_lines() if line.startswith("flux-mock drift")).replace(
        "drift-accepted.yaml", "all-accepted.yaml")
    passed = subprocess.run([sys.executable, "-m", "mock_server.cli", *shlex.split(line)[1:]], cwd=night,
                            capture_output=True, text=True, timeout=180)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert any(d["severity"] == "info" for d in differences), "the added seed is there, and does not fail"
