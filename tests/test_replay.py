"""serve --replay, in process under a manual clock: a recorded job's polls replay its status sequence in order
and never ahead of the recorded time (scaled by replay_speed); ids are new and URLs lead back to the mock;
unrecorded requests go to the mock, named with the closest recorded one (strict: a 404); media without
recorded bytes is rendered; the replayed jobs are bounded."""

import json

import httpx
import pytest

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.har import HarWriter, RecordedExchange
from mock_server.operations import load_operations
from mock_server.replay import Replay, read_recordings
from mock_server.settings import Settings

pytestmark = pytest.mark.anyio
KEY = {"Ocp-Apim-Subscription-Key": "k"}
RECORDED = "flux-dev_0192f0a0-0000-7000-8000-000000000001"
GATEWAY = "https://gateway.pixazo.ai"
SUBMIT = "/flux-dev/v1/dev/textToImage"
BODY = {"prompt": "a lighthouse", "image_size": "square"}


def _status(status: str) -> dict:
    done = status == "COMPLETED"
    return {"request_id": RECORDED, "status": status, "model_id": "flux-dev", "error": None,
            "output": {"media_url": ["https://cdn.example/out/abc.png"]} if done else None,
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
            "completed_at": "2026-01-01T00:00:06.000Z" if done else None}


def _exchange(method, path, answer, at, status=200, request=None) -> RecordedExchange:
    body = json.dumps(request).encode() if request is not None else b""
    return RecordedExchange(method, GATEWAY + path, status, (("content-type", "application/json"),
                                                             ("ocp-apim-subscription-key", "x")), body,
                            (("content-type", "application/json"),), json.dumps(answer).encode(), "OK",
                            1_767_225_600.0 + at, 5.0)


@pytest.fixture
def har(tmp_path):
    """A recorded Flux Dev job: submitted at 0 s, polled at 1 s (QUEUED), 3 s (PROCESSING), 6 s (COMPLETED)."""
    path = tmp_path / "job.har"
    writer = HarWriter(path)
    writer.write(_exchange("POST", SUBMIT, {"request_id": RECORDED, "status": "QUEUED",
                                            "polling_url": f"{GATEWAY}/v2/requests/status/{RECORDED}"}, 0, 202,
                           BODY).to_har({}))
    for at, status in ((1, "QUEUED"), (3, "PROCESSING"), (6, "COMPLETED")):
        writer.write(_exchange("GET", f"/v2/requests/status/{RECORDED}", _status(status), at).to_har({}))
    writer.close()
    return path


def client(path, **settings):
    clock = ManualClock()
    app = create_app(Settings(replay=(str(path),), **settings), clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test", headers=KEY), \
        clock, app


async def _statuses(api, url, times: int) -> list[str]:
    return [(await api.get(url)).json()["status"] for _ in range(times)]


async def test_a_job_replays_its_statuses_in_order_never_ahead_of_the_recorded_time(har):
    api, clock, _ = client(har)
    async with api:
        submitted = await api.post(SUBMIT, json=BODY)
        job = submitted.json()
        assert submitted.status_code == 202 and job["request_id"] != RECORDED
        assert job["request_id"].startswith("flux-dev_")
        assert job["polling_url"] == f"http://mock.test/v2/requests/status/{job['request_id']}"
        url = job["polling_url"]
        assert await _statuses(api, url, 2) == ["QUEUED", "QUEUED"], "the next (3 s) is not due yet"
        clock.advance(3)
        assert await _statuses(api, url, 2) == ["PROCESSING", "PROCESSING"]
        clock.advance(3)
        final = (await api.get(url)).json()
        assert final["status"] == "COMPLETED" and final["request_id"] == job["request_id"]
        assert final["output"]["media_url"] == ["http://mock.test/replayed-media/0/abc.png"]
        assert (await api.get(url)).json()["status"] == "COMPLETED", "the last answer repeats"
        image = await api.get(final["output"]["media_url"][0])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n", "no bytes were recorded: an image is rendered"


async def test_a_slow_poller_still_sees_every_recorded_status_in_order(har):
    api, clock, _ = client(har)
    async with api:
        url = (await api.post(SUBMIT, json=BODY)).json()["polling_url"]
        clock.advance(60)
        assert await _statuses(api, url, 4) == ["QUEUED", "PROCESSING", "COMPLETED", "COMPLETED"]


async def test_replay_speed_scales_the_recorded_durations(har):
    api, clock, _ = client(har, replay_speed=2.0)
    async with api:
        url = (await api.post(SUBMIT, json=BODY)).json()["polling_url"]
        assert await _statuses(api, url, 1) == ["QUEUED"]
        clock.advance(1.5)
        assert await _statuses(api, url, 1) == ["PROCESSING"]


async def test_two_replayed_jobs_have_their_own_ids_and_places(har):
    api, clock, _ = client(har, replay_speed=0)
    async with api:
        first = (await api.post(SUBMIT, json=BODY)).json()
        second = (await api.post(SUBMIT, json=BODY)).json()
        assert first["request_id"] != second["request_id"]
        assert await _statuses(api, first["polling_url"], 3) == ["QUEUED", "PROCESSING", "COMPLETED"]
        assert await _statuses(api, second["polling_url"], 1) == ["QUEUED"]


async def test_an_unrecorded_request_goes_to_the_mock_and_the_journal_names_the_closest(har):
    api, clock, app = client(har)
    async with api:
        answered = await api.post(SUBMIT, json={**BODY, "prompt": "a red fox"})
        assert answered.status_code == 202, "the spec-driven mock answers it"
        entry = (await app.mock.journal.entries())[-1]
        assert entry.answer == f"unrecorded (closest: POST {SUBMIT} with body.prompt different)"
        assert (await api.post(SUBMIT, json=BODY)).status_code == 202
        assert (await app.mock.journal.entries())[-1].answer == "replayed (1 of 1)"


async def test_strict_replay_answers_an_unrecorded_request_404_naming_the_closest(har):
    api, clock, _ = client(har, replay_strict=True)
    async with api:
        refused = await api.post(SUBMIT, json={**BODY, "image_size": "landscape_4_3"})
        assert refused.status_code == 404 and refused.json()["error"] == "Not recorded"
        assert f"closest recorded: POST {SUBMIT} with body.image_size different" in refused.json()["message"]


async def test_the_closest_recorded_request_is_one_of_the_same_method(tmp_path):
    """A recording may hold a client's stray call with another method on a submit path (a PUT, answered 404); the
    closest recorded request named for an unrecorded POST is a POST, however alike the stray one's body is."""
    path = tmp_path / "stray.har"
    writer = HarWriter(path)
    writer.write(_exchange("PUT", SUBMIT, {"error": "Endpoint not found"}, 0, 404).to_har({}))
    writer.write(_exchange("POST", SUBMIT, {"request_id": RECORDED, "status": "QUEUED",
                                            "polling_url": f"{GATEWAY}/v2/requests/status/{RECORDED}"}, 1, 202,
                           BODY).to_har({}))
    writer.close()
    api, clock, _ = client(path, replay_strict=True)
    async with api:
        refused = await api.post(SUBMIT, json={"prompt": "a red fox", "image_size": "landscape_4_3"})
    assert refused.status_code == 404
    assert f"closest recorded: POST {SUBMIT} with body.image_size, body.prompt different" in refused.json()["message"]


async def test_a_reset_starts_every_sequence_again(har):
    api, clock, _ = client(har, replay_speed=0)
    async with api:
        url = (await api.post(SUBMIT, json=BODY)).json()["polling_url"]
        assert await _statuses(api, url, 2) == ["QUEUED", "PROCESSING"]
        await api.post("/__admin/reset")
        assert (await api.get(url)).status_code == 404, "a replayed job is forgotten with the rest"


def test_replayed_jobs_are_bounded_the_oldest_forgotten(har):
    replay = Replay(read_recordings([har], load_operations()), max_jobs=2)
    minted = [replay.mint(RECORDED, float(moment)) for moment in range(2)]
    for job in minted:  # each replayed job's place in its polls is kept...
        request, named, answers = replay.find("GET", f"/v2/requests/status/{job}", None)
        replay.next_answer(request, named, answers, 0.0)
    minted.append(replay.mint(RECORDED, 2.0))
    assert replay.find("GET", f"/v2/requests/status/{minted[0]}", None)[2] is None
    assert replay.find("GET", f"/v2/requests/status/{minted[2]}", None)[2] is not None
    assert {key[0] for key in replay._cursors} == {minted[1]}, "...and forgotten with it (memory stays bounded)"


async def test_several_recordings_answer_together(har, tmp_path):
    other = tmp_path / "schnell.har"
    writer = HarWriter(other)
    writer.write(_exchange("POST", "/flux-1-schnell/v1/getData", {"output": ["https://cdn.example/s.webp"]}, 0,
                           request={"prompt": "a boat"}).to_har({}))
    writer.close()
    app = create_app(Settings(replay=(str(har), str(other))), clock=ManualClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test",
                                 headers=KEY) as api:
        assert (await api.post(SUBMIT, json=BODY)).json()["request_id"].startswith("flux-dev_")
        sync = await api.post("/flux-1-schnell/v1/getData", json={"prompt": "a boat"})
        assert sync.json() == {"output": ["http://mock.test/replayed-media/1/s.webp"]}, "numbered across the files"
        image = await api.get(sync.json()["output"][0])
        assert image.headers["content-type"] == "image/webp"


async def test_jobs_named_in_a_request_body_replay_each_its_own_answers(tmp_path):
    """Schnell batch (page 003): checkStatus names its job in the body ({"requestId": ...}), not in the path. Two
    recorded jobs, one finished and one still processing: each replayed job's poll gets its own job's answers."""
    submit, check_status = "/flux-1-schnell/v1/getDataBatch", "/flux-1-schnell/v1/checkStatus"
    body = {"prompt": "a kite", "webhook_url": "https://app.example/hook"}
    finished, running = "18a36237-f8b2-4c8d-9a3b-d5e8a9f12c45", "29b47348-09c3-4d9e-8b4c-e6f9b0a23d56"
    writer = HarWriter(tmp_path / "batch.har")
    for at, job in ((0, finished), (0.5, running)):
        writer.write(_exchange("POST", submit, {"requestId": job, "status": "queued"}, at, 202, body).to_har({}))
    writer.write(_exchange("POST", check_status, {"status": "completed", "output": "https://cdn.example/out/kite.png",
                                                  "completedAt": 1767225601000}, 1, request={"requestId": finished})
                 .to_har({}))
    writer.write(_exchange("POST", check_status, {"status": "processing"}, 1.5, request={"requestId": running})
                 .to_har({}))
    writer.close()
    api, clock, _ = client(tmp_path / "batch.har", replay_speed=0)
    async with api:
        first = (await api.post(submit, json={**body, "webhook_url": "http://127.0.0.1:7/mine"})).json()["requestId"]
        second = (await api.post(submit, json={**body, "webhook_url": "http://127.0.0.1:7/mine"})).json()["requestId"]
        assert len({first, second, finished, running}) == 4, "each replayed job has an id of its own"
        assert (await api.post(check_status, json={"requestId": second})).json() == {"status": "processing"}
        done = (await api.post(check_status, json={"requestId": first})).json()
        assert done["status"] == "completed" and done["output"] == "http://mock.test/replayed-media/0/kite.png"


async def test_a_status_recorded_within_the_first_second_is_due_at_its_own_moment(tmp_path):
    """A fast job (a Schnell-speed one) recorded its polls 0.3 s and 0.6 s after the submit: replayed, the second
    status is due 0.6 s in, no later (each answer at its own offset from the submit, however small)."""
    path = tmp_path / "fast.har"
    writer = HarWriter(path)
    writer.write(_exchange("POST", SUBMIT, {"request_id": RECORDED, "status": "QUEUED",
                                            "polling_url": f"{GATEWAY}/v2/requests/status/{RECORDED}"}, 0, 202,
                           BODY).to_har({}))
    for at, status in ((0.3, "QUEUED"), (0.6, "COMPLETED")):
        writer.write(_exchange("GET", f"/v2/requests/status/{RECORDED}", _status(status), at).to_har({}))
    writer.close()
    api, clock, _ = client(path)
    async with api:
        url = (await api.post(SUBMIT, json=BODY)).json()["polling_url"]
        clock.advance(0.7)
        assert await _statuses(api, url, 2) == ["QUEUED", "COMPLETED"]


async def test_an_unrecorded_request_is_likened_to_the_first_200_recorded_on_its_path(tmp_path):
    """docs/reference/bounds.md: naming the closest recorded request compares the first 200 recorded on the path,
    so a miss costs the same however long the recording: one recorded later is not looked at, however alike."""
    path = tmp_path / "many.har"
    writer = HarWriter(path)
    for number in range(201):  # the 201st differs from what is asked by its seed only; the others by two fields
        body = {**BODY, "prompt": f"a lighthouse {number}", "seed": number}
        if number == 200:
            body = {**BODY, "seed": 200}
        writer.write(_exchange("POST", SUBMIT, {"request_id": RECORDED, "status": "QUEUED"}, number, 202,
                               body).to_har({}))
    writer.close()
    api, clock, _ = client(path, replay_strict=True)
    async with api:
        refused = await api.post(SUBMIT, json={**BODY, "seed": 999})
    assert refused.status_code == 404
    assert f"closest recorded: POST {SUBMIT} with body.prompt, body.seed different" in \
        refused.json()["message"], refused.json()


@pytest.mark.parametrize("status, kept", [(200, True), (404, False)])
async def test_recorded_media_bytes_are_served_as_recorded_and_a_failed_download_never(tmp_path, status, kept):
    """A media download the recording kept (200, with its bytes) is served as it was; one that failed (a 404's page)
    is not served as the image: an image is rendered instead, as for media recorded without bytes."""
    path = tmp_path / "media.har"
    writer = HarWriter(path)
    writer.write(_exchange("POST", SUBMIT, {"request_id": RECORDED, "status": "QUEUED",
                                            "polling_url": f"{GATEWAY}/v2/requests/status/{RECORDED}"}, 0, 202,
                           BODY).to_har({}))
    writer.write(_exchange("GET", f"/v2/requests/status/{RECORDED}", _status("COMPLETED"), 1).to_har({}))
    writer.write(RecordedExchange("GET", "https://cdn.example/out/abc.png", status, (), b"",
                                  (("content-type", "image/png" if status == 200 else "text/html"),),
                                  b"\x89PNG\r\n\x1a\nrecorded bytes" if status == 200 else b"<html>gone</html>", "OK",
                                  1_767_225_602.0, 5.0).to_har({}))
    writer.close()
    api, clock, _ = client(path, replay_speed=0)
    async with api:
        url = (await api.post(SUBMIT, json=BODY)).json()["polling_url"]
        final = (await api.get(url)).json()
        image = await api.get(final["output"]["media_url"][0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert (image.content == b"\x89PNG\r\n\x1a\nrecorded bytes") is kept
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
