"""Judging a client by its traffic, and `flux-mock report` / `assert_no_violations` over a real server."""

import subprocess
import sys

import httpx
import pytest

from contract_tests.mock_client import FluxMock
from mock_server.client_checks import client_findings

KEY = {"Ocp-Apim-Subscription-Key": "client-key"}


def poll(seq, at, status=200, job_status="PROCESSING", request_id="m_1", key="k"):  # a journal entry
    return {"seq": seq, "epoch": at, "path": f"/v2/requests/status/{request_id}", "operation_id": "getRequestStatus",
            "operation_kind": "status", "key": key, "status": status, "request_id": request_id, "job_status": job_status}


def kinds(entries, **options):
    return [f["kind"] for f in client_findings(entries, **options)]


def test_a_well_behaved_client_has_no_findings():
    assert kinds([poll(1, 0), poll(2, 5), poll(3, 12, job_status="COMPLETED")]) == []


def test_polling_faster_than_the_documented_cadence():
    assert kinds([poll(1, 0), poll(2, 1), poll(3, 7, job_status="COMPLETED")]) == ["polled-too-fast"]
    assert kinds([poll(1, 0), poll(2, 1, job_status="COMPLETED")], min_poll_interval=0.5) == []


def test_ignoring_retry_after():
    limited = {"seq": 2, "epoch": 1, "path": "/x", "operation_id": "schnellGetData", "key": "k", "status": 429,
               "retry_after": 3}
    again = {**limited, "seq": 3, "epoch": 2, "status": 200, "retry_after": None}
    assert kinds([limited, again]) == ["ignored-retry-after"]
    assert kinds([limited, {**again, "epoch": 4.5}]) == []


def test_polling_an_unknown_id_and_giving_up():
    assert kinds([poll(1, 0, status=404, job_status=None)]) == ["unknown-id"]
    assert kinds([poll(1, 0, job_status="QUEUED")]) == ["gave-up"]


def test_report_and_assert_no_violations_over_a_real_server(flux_mock):
    flux_mock.set_timing(mode="per-poll")
    job = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x", "num_images": 0},
                     headers=KEY)
    assert job.status_code == 400
    submitted = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"}, headers=KEY).json()
    httpx.get(submitted["polling_url"], headers=KEY)
    httpx.get(submitted["polling_url"], headers=KEY)
    httpx.get(f"{flux_mock.url}/v2/requests/status/flux-dev_made-up", headers=KEY)
    with pytest.raises(AssertionError) as failure:
        flux_mock.assert_no_violations()
    message = str(failure.value)
    assert "num_images: 0 is less than the minimum of 1" in message
    assert "polled-too-fast" in message and "unknown-id" in message
    result = subprocess.run([sys.executable, "-m", "mock_server.cli", "report", "--base-url", flux_mock.url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unknown-id" in result.stdout
    flux_mock.reset()
    clean = subprocess.run([sys.executable, "-m", "mock_server.cli", "report", "--base-url", flux_mock.url],
                           capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and "no violations" in clean.stdout


def test_fixture_controls_scenarios_jobs_and_wallets(flux_mock):
    flux_mock.set_timing(mode="manual")
    flux_mock.add_scenario({"job": "FAILED", "error": "boom"}, match={"prompt_contains": "boom"}, times=1)
    submitted = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "boom"},
                           headers=KEY).json()
    assert flux_mock.advance(submitted["request_id"], to_end=True)["status"] == "FAILED"
    assert [job["outcome"] for job in flux_mock.jobs()] == ["FAILED"]
    flux_mock.set_balance("client-key", 0)
    assert httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                      headers=KEY).status_code == 402
    assert [e["status"] for e in flux_mock.journal("fluxDevTextToImage")] == [202, 402]
    assert isinstance(FluxMock(flux_mock.url).client_report()["findings"], list)
