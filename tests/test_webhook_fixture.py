"""The flux_mock_webhooks fixture: a receiver on loopback whose URL a test gives the API, waiting for the
delivery of one event of one job; a failed delivery retried; a wait that times out names what arrived."""

import inspect
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from contract_tests.receiver import WebhookReceiver, Webhooks, webhook_receiver

from tests.support.waiting import wait_until

KEY = {"Ocp-Apim-Subscription-Key": "hook-key"}


def test_a_queue_job_delivers_its_final_status_to_the_fixture(flux_mock, flux_mock_webhooks):
    flux_mock.timing.set(queued_for=0, processing_for=0.05)
    job = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "a fox"},
                     headers={**KEY, "X-Webhook-URL": flux_mock_webhooks.url_for("done")}).json()
    delivery = flux_mock_webhooks.wait_for("completed", job["request_id"])
    assert delivery.path == "/done" and delivery.body["status"] == "COMPLETED"
    assert delivery.body["output"]["media_url"] and delivery.headers["Webhook-Id"]
    assert [d.event for d in flux_mock_webhooks.deliveries(job["request_id"])] == ["completed"]


def test_kontext_events_arrive_each_and_a_failed_delivery_is_retried(flux_mock, flux_mock_webhooks):
    flux_mock.timing.set(queued_for=0, processing_for=0.05)
    flux_mock_webhooks.fail_next(1)
    body = {"input_image": "https://example.com/a.png", "webhook": flux_mock_webhooks.url_for(),
            "webhook_events_filter": ["processing", "completed"]}
    job = httpx.post(f"{flux_mock.url}/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate", json=body,
                     headers=KEY)
    assert job.status_code in (200, 202), job.text
    request_id = job.json()["request_id"]
    assert flux_mock_webhooks.wait_for("processing", request_id).event == "processing"
    assert flux_mock_webhooks.wait_for("completed", request_id).body["status"] == "COMPLETED"
    def processing() -> list:
        return [d for d in flux_mock_webhooks.deliveries(request_id) if d.event == "processing"]

    wait_until(lambda: len(processing()) == 2, timeout=15, what="the failed delivery retried")
    first, retried = processing()
    assert first.headers["Webhook-Id"] == retried.headers["Webhook-Id"], "the same delivery, sent again"


def test_a_wait_that_times_out_names_what_arrived(flux_mock, flux_mock_webhooks):
    flux_mock.timing.set(queued_for=0, processing_for=0.05)
    job = httpx.post(f"{flux_mock.url}/flux-dev/v1/dev/textToImage", json={"prompt": "a fox"},
                     headers={**KEY, "X-Webhook-URL": flux_mock_webhooks.url_for()}).json()
    flux_mock_webhooks.wait_for("completed", job["request_id"])
    started = time.monotonic()
    with pytest.raises(AssertionError, match=f"no failed delivery of {job['request_id']} within 0.2 s; arrived: "
                                             f"completed of {job['request_id']} at /webhook"):
        flux_mock_webhooks.wait_for("failed", job["request_id"], timeout=0.2)
    # it gives up when its timeout is spent, not a second later (a generous bound: the machine may be loaded)
    assert time.monotonic() - started < 1.1


def test_a_receivers_count_wait_that_times_out_says_how_many_were_expected_and_what_came():
    """webhook_receiver().wait_for(count, path, timeout): an AssertionError after `timeout` seconds naming the count,
    the path and the bodies that did arrive (none here), not a wait without end."""
    with webhook_receiver() as receiver:
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"^2 webhook\(s\) expected at /hook, got \[\]$"):
            receiver.wait_for(2, "/hook", timeout=0.2)
        assert time.monotonic() - started < 1.1, "it gives up when its timeout is spent, not a second later"


def test_the_guide_names_how_long_wait_for_waits_by_default():
    """The guide says after how many seconds `wait_for` gives up; that is its default."""
    guide = (Path(__file__).parents[1] / "docs" / "guide" / "testing-your-client.md").read_text()
    said = re.search(r"naming what did arrive after (\d+) s \(`timeout=`", guide)
    assert said and float(said[1]) == inspect.signature(Webhooks.wait_for).parameters["timeout"].default


def test_the_receiver_refuses_a_huge_body_unread_and_drops_a_stalled_sender():
    """The kit's receiver is bounded as the mock is (issue 34, item 8): a body over 1 MiB is a 413 before a byte
    of it is read, a body without Content-Length a 411, and a sender that stops mid-body is dropped after the
    read timeout, its POST not recorded."""
    with WebhookReceiver(read_timeout=0.5).running() as receiver:
        host, port = receiver.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as huge:
            huge.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n{}")
            assert huge.recv(100).startswith(b"HTTP/1.0 413")
        with socket.create_connection((host, int(port)), timeout=5) as stalled:
            stalled.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"status\"")
            started = time.monotonic()
            assert stalled.recv(100) == b"", "closed without an answer"
            assert time.monotonic() - started < 5
        with socket.create_connection((host, int(port)), timeout=5) as chunked:
            chunked.sendall(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            assert chunked.recv(100).startswith(b"HTTP/1.0 411")
        ok = httpx.post(f"{receiver.url}/fine", json={"status": "COMPLETED"})
        assert ok.status_code == 200
        at_the_bound = httpx.post(f"{receiver.url}/long", content=b'{"prompt": "' + b"x" * (2**20 - 14) + b'"}',
                                  headers={"Content-Type": "application/json"})  # exactly 1 MiB: taken
        assert at_the_bound.status_code == 200
        assert [r.path for r in receiver.received] == ["/fine", "/long"]


def test_a_receiver_left_running_never_keeps_its_process_alive():
    """A test process that ends inside `with webhook_receiver()` (an interrupted run, os._exit aside, a script that
    opened one and forgot it) exits at once: the receiver's server thread is a daemon, never a thread to wait for."""
    import subprocess
    import sys

    script = ("from contract_tests.receiver import webhook_receiver\n"
              "opened = webhook_receiver()\n"
              "receiver = opened.__enter__()  # and never left\n"
              "print(receiver.url, flush=True)\n")
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert finished.returncode == 0 and finished.stdout.startswith("http://127.0.0.1:"), finished.stderr
