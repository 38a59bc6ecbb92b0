"""The gateway as it is observed (issue 40): what public code shows of the live gateway is in the spec once
(`x-evidence`), and the mock answers by it: ids in the gateway's shape, routes the gateway refuses, Klein's
JPEG, the X-Webhook-Mode header, and the observed timing, with `report` naming a client that relies on what is
not live or gives up sooner than the gateway answers."""

import os
import random
import re
from pathlib import Path

import httpx
import pytest
import yaml

from contract_tests.process import running_mock
from mock_server.ids import batch_request_id, gateway_id
from mock_server.jobs.timing import Timing
from mock_server.operations.evidence import STRENGTHS, load_evidence, observed_timing
from mock_server.settings import Settings
from tests.support.harness import KEY
from tests.support.inprocess import InProcessMock

ROOT = Path(__file__).resolve().parents[1]
SPECS = ("flux.yaml", "flux-pro-legacy.yaml", "public-clients.yaml")
READINGS = re.compile(r"^(default|not followed|timing observed|variant [\w-]+)$")
GATEWAY_ID = re.compile(r"^[a-z0-9.-]+_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{13}$")


def _nodes_citing() -> dict[str, set[str]]:
    """Evidence id -> the names (operation ids, component names) of the nodes carrying `x-evidence: [id]`."""
    citing: dict[str, set[str]] = {}

    def walk(node, name):
        if isinstance(node, dict):
            name = node.get("operationId", name)
            for cited in node.get("x-evidence", []) if isinstance(node.get("x-evidence"), list) and name else []:
                citing.setdefault(cited, set()).add(name)
            for key, value in node.items():
                walk(value, key if isinstance(value, dict) and "name" in value and "in" in value else name)
        elif isinstance(node, list):
            for item in node:
                walk(item, name)

    for spec in SPECS:
        document = yaml.safe_load((ROOT / "openapi" / spec).read_text())
        walk({key: value for key, value in document.items() if key != "x-evidence"}, None)
    return citing


def test_every_evidence_entry_is_whole_and_the_nodes_it_concerns_cite_it_back():
    entries = load_evidence()
    assert len(entries) >= 10
    citing = _nodes_citing()
    for entry in entries.values():
        assert entry.strength in STRENGTHS and READINGS.match(entry.reading), entry
        assert entry.sources and entry.says and entry.why and entry.seen, entry
        named = set(entry.where) - {"paths"}
        assert named <= citing.get(entry.id, set()), f"{entry.id}: {named - citing.get(entry.id, set())} " \
                                                      "do not carry x-evidence for it"
    assert set(citing) <= set(entries), f"nodes cite evidence no entry has: {set(citing) - set(entries)}"


def test_the_reference_lists_every_evidence_entry_with_its_strength():
    text = (ROOT / "docs" / "reference" / "specs.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \| (captured|observed|assumed) \|", text, re.M)
    assert rows == [(entry.id, entry.strength) for entry in load_evidence().values()]


def test_ids_are_minted_as_the_gateway_mints_them_unique_and_ordered_by_time():
    made = [gateway_id(1_767_225_600.0 + step / 1000) for step in range(2000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made), "ordered by the millisecond they were made in"
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{13}", value) for value in made)
    with pytest.raises(ValueError):  # what a client that validates ids as UUIDs meets live, and now here
        import uuid
        uuid.UUID(made[0])


def test_ids_stay_unique_whatever_seeds_python_random_and_in_a_forked_child():
    """Ids draw from a generator of their own: seeding the shared one (tests, hypothesis, --seed) repeats no id, and a
    forked child (its generator copied at the fork) is reseeded, so parent and child never mint the same id."""
    random.seed(7)
    first = gateway_id(1_767_225_600.0), batch_request_id()
    random.seed(7)
    assert (gateway_id(1_767_225_600.0), batch_request_id()) != first
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its id, to the parent, and out at once
        os.write(writing, gateway_id(1_767_225_600.0).encode())
        os._exit(0)
    os.close(writing)
    mine = gateway_id(1_767_225_600.0)
    os.waitpid(child, 0)
    with os.fdopen(reading) as pipe:
        assert pipe.read() != mine


@pytest.mark.anyio
async def test_routes_the_gateway_refuses_answer_model_not_found_and_report_says_why():
    async with InProcessMock() as mock:
        known = await mock.client.post("/flux-1-schnell/v1/generateVideo", json={}, headers=KEY)
        assert known.status_code == 404, "a model the specs have, an operation they do not: Endpoint not found"
        for path, model in (("/flux-9-ultra/v1/generateImage", "flux-9-ultra"),
                            ("/nano-banana-polling/nano/getStatus", "nano-banana-polling"),
                            ("/flux-dev-polling/dev/getFluxDevStatus", "flux-dev-polling")):
            answer = await mock.client.post(path, json={"request_id": "x"}, headers=KEY)
            assert (answer.status_code, answer.json()) == (400, {
                "error": "Model not found", "message": f"Model '{model}' not found or is disabled"}), path
        working = await mock.client.post("/flux-dev-polling/dev/getFluxDevStatus", json={"request_id": "x"},
                                         headers={**KEY, "Prefer": "variant=flux-dev"})
        assert working.status_code == 404 and working.json()["error"] == "Request not found", "the working route"
        report = mock.state.journal
        from mock_server.client_checks import client_report
        findings = client_report(await report.entries(), 5.0, mock.state.operations)["findings"]
        not_live = [f for f in findings if f["kind"] == "not-live"]
        assert [f["path"] for f in not_live] == ["/flux-9-ultra/v1/generateImage", "/nano-banana-polling/nano/getStatus",
                                                 "/flux-dev-polling/dev/getFluxDevStatus"]
        assert all("cbe37f78" in f["detail"] for f in not_live)
        assert "closest documented path" in not_live[0]["detail"]
        assert "variant flux-dev" in not_live[2]["detail"] and "polling_url" in not_live[2]["detail"]


@pytest.mark.anyio
async def test_klein_answers_a_jpeg_at_the_tiers_size_in_its_models_folder_and_other_models_keep_png():
    async with InProcessMock() as mock:
        answer = await mock.client.post("/flux-2-klein-4b/v1/generateImage",
                                        json={"prompt": "x", "width": 1080, "height": 1920}, headers=KEY)
        url = answer.json()["output"]
        assert re.fullmatch(r"http://mock\.test/flux-2-klein-4b/\d{13}-\d+\.jpg", url), url
        image = await mock.client.get(url)
        assert image.headers["content-type"] == "image/jpeg" and image.content[:3] == b"\xff\xd8\xff"
        from PIL import Image
        import io
        assert Image.open(io.BytesIO(image.content)).size == (1072, 1920)
        schnell = await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
        assert schnell.json()["output"].endswith(".png"), "other models keep their PNG"


@pytest.mark.anyio
async def test_x_webhook_mode_is_taken_with_any_value_journaled_and_changes_nothing():
    async with InProcessMock() as mock:
        for mode in ("terminal", "sync", None):
            headers = {**KEY, "X-Webhook-URL": "http://127.0.0.1:9/hook"}
            if mode:
                headers["X-Webhook-Mode"] = mode
            answer = await mock.client.post("/flux-dev/v1/dev/textToImage", json={"prompt": mode or "x"},
                                            headers=headers)
            assert answer.status_code == 202, answer.text
        await mock.advance(10)
        await mock.webhooks_sent(3)
        entries = [entry for entry in await mock.entries() if entry.is_request]
        assert [entry.headers.get("x-webhook-mode") for entry in entries] == ["terminal", "sync", None]
        assert not any(entry.violations or entry.undocumented_fields for entry in entries)
        events = sorted(request.url.path for request in mock.webhooks)
        assert len(events) == 3 and events.count("/hook") == 3, "one final callback each, with or without the mode"


@pytest.mark.anyio
async def test_observed_timing_draws_sync_and_job_durations_from_the_evidence_the_same_for_the_same_seed():
    observed = observed_timing()
    assert observed.sync == (28, 39) and observed.long_prompt == (150, 260), "the figures of x-evidence sync-latency"

    async def durations(seed: int) -> tuple[list[float], list[tuple[float, float]]]:
        async with InProcessMock(Settings(timing=Timing(mode="observed"), seed=seed)) as mock:
            waits, jobs = [], []
            for prompt in ("short", "long " * 130):
                before = mock.clock.now()
                answer = await mock.client.post("/flux-1-schnell/v1/getData", json={"prompt": prompt}, headers=KEY)
                assert answer.status_code == 200
                waits.append(mock.clock.now() - before)
            for _ in range(3):
                submitted = (await mock.client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"},
                                                    headers=KEY)).json()
                job = await mock.state.jobs.find(submitted["request_id"])
                started, finished = job.transitions
                jobs.append((started - job.created_at, finished - started))
            return waits, jobs

    waits, jobs = await durations(7)
    assert 28 <= waits[0] <= 39 and 150 <= waits[1] <= 260, waits
    assert all(2 <= queued <= 20 and 10 <= processing <= 160 for queued, processing in jobs), jobs
    assert len({processing for _, processing in jobs}) == 3, "drawn per job"
    assert await durations(7) == (waits, jobs), "the same seed, the same durations"
    assert (await durations(8))[1] != jobs


def test_a_client_that_gives_up_before_the_gateway_answers_is_named_timeout_too_short():
    """A real server at 100x the observed speed: a client timeout of 0.2 s is 20 s at the gateway's pace (the
    timeout one author had), one of 0.6 s is 60 s (enough). The first is named with its figure and source."""
    with running_mock("--timing", "observed", "--timing-speed", "100") as url:
        with httpx.Client(base_url=url, headers=KEY) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.post("/flux-1-schnell/v1/getData", json={"prompt": "impatient"}, timeout=0.2)
            patient = client.post("/flux-1-schnell/v1/getData", json={"prompt": "patient"}, timeout=5)
            assert patient.status_code == 200
            submitted = client.post("/flux-dev/v1/dev/textToImage", json={"prompt": "x"}).json()
            client.get(submitted["polling_url"])  # then gives up: live, the job takes 12 s to 3 min
            findings = client.get("/__admin/client-report").json()["findings"]
    too_short = [f for f in findings if f["kind"] == "timeout-too-short"]
    assert len(too_short) == 2, findings
    sync, job = too_short
    assert sync["operation_id"] == "schnellGetData" and "28-39 s" in sync["detail"] and "69562943330" in sync["detail"]
    assert re.search(r"closed the connection (\d+\.\d) s", sync["detail"]), sync
    seconds = float(re.search(r"closed the connection (\d+\.\d) s", sync["detail"])[1])
    assert 15 <= seconds <= 39, f"the 0.2 s timeout is about 20 s of the gateway's: {seconds}"
    assert job["request_id"] == submitted["request_id"] and "job-duration" in job["detail"], job
