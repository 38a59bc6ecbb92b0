"""Everything a client can make the mock keep or do is bounded: keys, prompts, journal entries and its
size, admin bodies, job pages, the clock, the job count. Keys are masked in the journal."""

import gc
import os
import subprocess
import sys
import tracemalloc

import httpx
import orjson
import pytest

from mock_server.journal_entry import JournalEntry
from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.settings import Settings
from mock_server.store.memory import MemoryJournalStore, memory_stores

pytestmark = pytest.mark.anyio
FLUX_DEV = "/flux-dev/v1/dev/textToImage"
GENERAL = "/flux-general/v1/flux-general/generateTextToImageRequest"
LONG_KEY = "sk-live-0123456789abcdefghijklmnopqrstuvwxyz"


def client(**settings) -> httpx.AsyncClient:
    app = create_app(Settings(**settings), clock=ManualClock())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")


async def journal(api) -> list[dict]:
    return (await api.get("/__admin/journal")).json()["entries"]


async def test_keys_are_masked_in_the_journal_unless_shown():
    async with client() as api:
        await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": LONG_KEY})
        await api.get("/nowhere", headers={"Ocp-Apim-Subscription-Key": LONG_KEY})
        assert [e["key"] for e in await journal(api)] == ["sk-l...wxyz"] * 2
        report = (await api.get("/__admin/client-report", params={"key": LONG_KEY})).json()
        assert [f["kind"] for f in report["findings"]] == ["gave-up", "unknown-endpoint"], "filtered by its mask"
    async with client(show_keys=True) as api:
        await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": LONG_KEY})
        assert [e["key"] for e in await journal(api)] == [LONG_KEY]


async def test_a_huge_key_is_401_and_huge_headers_and_paths_are_clipped_in_the_journal():
    async with client() as api:
        answer = await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k" * 5000,
                                                                          "User-Agent": "u" * 100_000})
        assert answer.status_code == 401
        await api.get("/" + "p" * 60_000, headers={"Ocp-Apim-Subscription-Key": "k"})
        first, second = await journal(api)
        assert len(first["user_agent"]) < 300 and len(first["key"]) < 20
        assert len(second["path"]) < 2100 and second["path"].endswith("(60001 characters)")


async def test_a_job_keeps_a_bounded_prompt():
    async with client() as api:
        submitted = (await api.post(GENERAL, json={"prompt": "p" * 200_000},
                                    headers={"Ocp-Apim-Subscription-Key": "k"})).json()
        await api.post(f"/__admin/jobs/{submitted['request_id']}/advance", json={"to_end": True})
        done = (await api.post("/flux-general-polling/flux-general/getStatus",
                               json={"request_id": submitted["request_id"]},
                               headers={"Ocp-Apim-Subscription-Key": "k"})).json()
    assert done["prompt"] == "p" * 2000


async def test_the_journal_is_bounded_in_bytes():
    store = MemoryJournalStore(size=10_000, max_bytes=50_000)
    for number in range(200):
        await store.record(JournalEntry(path=f"/{number}", violations=("v" * 1000,)))
    entries = await store.entries()
    assert store.bytes <= 50_000 and 0 < len(entries) < 60 and entries[-1].path == "/199"


async def test_requests_journaled_unread_count_their_whole_body_and_read_back_bounded_and_masked():
    """A request's entry is made only when the journal is read: until then it holds the body as sent, and the
    byte bound counts that, not the clipped copy a reader is given."""
    stores = memory_stores(10_000)
    stores.journal = MemoryJournalStore(size=10_000, max_bytes=100_000)
    app = create_app(Settings(), clock=ManualClock(), stores=stores)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
        for number in range(30):
            await api.post(FLUX_DEV, json={"prompt": f"{number} " + "p" * 20_000},
                           headers={"Ocp-Apim-Subscription-Key": LONG_KEY, "Authorization": "Bearer secret-token"})
        assert stores.journal.bytes <= 100_000
        entries = await journal(api)
    assert 3 <= len(entries) <= 5, "each entry counts its 20,000-character prompt"
    assert entries[-1]["body"]["prompt"].startswith("29 ") and len(entries[-1]["body"]["prompt"]) < 300
    assert {entry["key"] for entry in entries} == {"sk-l...wxyz"}
    assert {entry["headers"]["authorization"] for entry in entries} == {"[redacted]"}


async def test_a_request_whose_body_orjson_cannot_write_is_journaled_and_weighed_like_any():
    """A journal entry is packed when its exchange ends (orjson, one bytes object); a body nested past orjson's 255
    levels of writing (it reads 1,024) cannot be packed: its entry is kept unpacked, weighed, and read back the same."""
    stores = memory_stores(10_000)
    stores.journal = MemoryJournalStore(size=10_000, max_bytes=100_000)
    app = create_app(Settings(), clock=ManualClock(), stores=stores)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as api:
        for depth in (200, 300):
            nested = b"[" * depth + b"]" * depth
            answer = await api.post(FLUX_DEV, content=b'{"prompt": "deep", "seed": 12345678901, "extra": ' + nested + b"}",
                                    headers={"Ocp-Apim-Subscription-Key": LONG_KEY, "Content-Type": "application/json"})
            assert answer.status_code == 202, answer.text
        assert 0 < stores.journal.bytes <= 100_000
        packed, unpacked = await journal(api)
    for entry in (packed, unpacked):
        assert entry["body"]["prompt"] == "deep" and entry["body"]["seed"] == 12345678901
        assert entry["undocumented_fields"] == ["extra", "seed"] and entry["key"] == "sk-l...wxyz"
        assert entry["status"] == 202 and entry["operation_id"] == "fluxDevTextToImage"
    assert isinstance(unpacked["body"]["extra"], (list, str)), "bounded, as any body"


async def test_a_journaled_request_keeps_its_entry_packed_small():
    """Each request's entry is packed into one string of its own size: 1,000 sync calls kept about 1.2 KB each in
    the journal's ring (2.9 KB as the header dict, parsed body and lists they were; 5.3 KB with orjson's bytes, which
    hold a 4 KiB buffer each). Counted after a collection each time: the client's own cycles hold answers until one
    runs (with the collector off, as a suite's worker may have left it, the count was 8.8 KB)."""
    async with client() as api:
        async def calls(count: int) -> None:
            for number in range(count):
                await api.post("/flux-1-schnell/v1/getData", json={"prompt": f"a lighthouse {number}", "width": 512,
                                                                   "height": 512},
                               headers={"Ocp-Apim-Subscription-Key": "k"})

        await calls(200)  # the app's caches, warmed
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            await calls(1000)
            gc.collect()
            kept = (tracemalloc.get_traced_memory()[0] - before) / 1000
        finally:
            tracemalloc.stop()
        assert len(await journal(api)) >= 1200
    assert kept < 2000, f"{kept:.0f} bytes kept for each journaled request"


async def test_an_answered_call_leaves_no_cycles_for_the_collector():
    """What a call makes is freed when the call ends (reference counts), never left for the cyclic collector: the
    served mock collects rarely (serving.py), so a cycle a call made would hold its memory for thousands of calls.
    The app is called as an ASGI server calls it (an HTTP client keeps cycles of its own)."""
    app = create_app(Settings(), clock=ManualClock())
    await app.mock.start()
    headers = [(b"content-type", b"application/json"), (b"ocp-apim-subscription-key", b"k")]

    async def call(method: str, path: str, body: bytes = b"") -> list[dict]:
        sent = []

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                   "headers": headers, "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5555),
                   "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    try:
        submitted = await call("POST", FLUX_DEV, b'{"prompt": "x"}')
        status_path = f"/v2/requests/status/{orjson.loads(submitted[1]['body'])['request_id']}"
        calls = {"sync": ("POST", "/flux-1-schnell/v1/getData", b'{"prompt": "a", "width": 512, "height": 512}'),
                 "submit": ("POST", FLUX_DEV, b'{"prompt": "a lighthouse"}'), "poll": ("GET", status_path, b""),
                 "400": ("POST", "/flux-1-schnell/v1/getData", b'{"width": 512}'),
                 "404": ("GET", "/v2/requests/status/nope", b"")}
        for name, request in calls.items():
            await call(*request)  # caches warmed
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(20):
                    await call(*request)
                gc.collect()
                left = [type(thing).__qualname__ for thing in gc.garbage]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            assert left == [], f"{name}: {len(left) / 20:g} objects a call left in cycles ({sorted(set(left))[:10]})"
    finally:
        await app.mock.stop(grace=0)


async def test_admin_bodies_are_limited():
    async with client(max_body_bytes=4096) as api:
        answer = await api.post("/__admin/rules", content=b'{"outcome": {"status": 429}, "x": "' + b"a" * 10_000
                                + b'"}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


async def test_jobs_come_in_pages():
    async with client() as api:
        for _ in range(5):
            await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k"})
        made = [(await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k"})).json()
                ["request_id"]]
        first = (await api.get("/__admin/jobs", params={"limit": 2})).json()
        last = (await api.get("/__admin/jobs", params={"limit": 2, "offset": 4})).json()
        newest = (await api.get("/__admin/jobs", params={"limit": 1, "order": "newest"})).json()
        filtered = (await api.get("/__admin/jobs",
                                  params={"limit": 2, "order": "newest", "model_id": "flux-dev"})).json()
    assert (len(first["jobs"]), first["total"], first["next_offset"]) == (2, 6, 2)
    assert (len(last["jobs"]), last["next_offset"]) == (2, None)
    assert [job["request_id"] for job in newest["jobs"]] == made and newest["next_offset"] == 1
    assert filtered["jobs"][0]["request_id"] == made[0] and filtered["total"] == 6


async def test_seeding_jobs_stops_at_max_jobs():
    async with client(max_jobs=100) as api:
        await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k"})
        refused = await api.post("/__admin/jobs/seed", json={"count": 100, "key": "k"})
        assert refused.status_code == 400
        assert "beyond max_jobs (100); at most 99 can be seeded now" in refused.json()["message"]
        assert (await api.post("/__admin/jobs/seed", json={"count": 99, "key": "k"})).status_code == 201
        assert (await api.get("/__admin/jobs", params={"limit": 1})).json()["total"] == 100


async def test_rules_added_at_run_time_are_bounded_and_a_prompt_is_lowered_once_for_all():
    async with client() as api:
        for number in range(1000):
            rule = {"match": {"prompt_contains": f"Needle {number}"}, "outcome": {"status": 429}}
            assert (await api.post("/__admin/rules", json=rule)).status_code == 201
        refused = await api.post("/__admin/rules", json={"outcome": {"status": 429}})
        assert refused.status_code == 400 and "already holds 1,000 rules" in refused.json()["message"]
        headers = {"Ocp-Apim-Subscription-Key": "k"}
        assert (await api.post(FLUX_DEV, json={"prompt": "a NEEDLE 999 in a haystack"}, headers=headers)).status_code \
            == 429, "the last rule matches, ignoring case"
        assert (await api.post(FLUX_DEV, json={"prompt": "hay " * 1000}, headers=headers)).status_code == 202


async def test_the_clock_stops_before_dates_run_out():
    async with client() as api:
        for _ in range(3):
            assert (await api.post("/__admin/clock/advance", json={"seconds": 31_536_000})).status_code == 200
        answer = await api.post("/__admin/clock/advance", json={"seconds": 31_536_000})
        while answer.status_code == 200:
            answer = await api.post("/__admin/clock/advance", json={"seconds": 31_536_000})
        assert answer.status_code == 400 and "the clock stops at 9899" in answer.json()["message"]
        poll = await api.get("/v2/requests/status/flux-dev_x", headers={"Ocp-Apim-Subscription-Key": "k"})
    assert poll.status_code == 404


async def test_the_oldest_final_jobs_are_evicted_beyond_max_jobs():
    async with client(max_jobs=100) as api:
        await api.put("/__admin/timing", json={"queued_for": 0, "processing_for": 0})
        for _ in range(250):
            await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k"})
        total = (await api.get("/__admin/jobs", params={"limit": 1})).json()["total"]
    assert 100 <= total < 200


def test_the_admin_token_can_come_from_the_environment():
    from contract_tests.process import MockProcess

    os.environ["FLUX_MOCK_ADMIN_TOKEN"] = "from-the-environment"
    try:
        mock = MockProcess()
    finally:
        del os.environ["FLUX_MOCK_ADMIN_TOKEN"]
    try:
        assert httpx.get(f"{mock.url}/__admin/jobs").status_code == 403
        assert httpx.get(f"{mock.url}/__admin/jobs", headers={"X-Admin-Token": "from-the-environment"}).status_code \
            == 200
    finally:
        mock.stop()
    assert subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--help"], capture_output=True,
                          text=True).stdout.count("FLUX_MOCK_ADMIN_TOKEN") == 1


async def test_the_webhook_list_can_be_bounded_to_the_latest_due():
    async with client() as api:
        for number in range(3):
            await api.post(FLUX_DEV, json={"prompt": "x"}, headers={"Ocp-Apim-Subscription-Key": "k",
                                                                    "X-Webhook-URL": f"http://127.0.0.1:9/{number}"})
            await api.post("/__admin/clock/advance", json={"seconds": 1})
        every = (await api.get("/__admin/webhooks")).json()["deliveries"]
        last = (await api.get("/__admin/webhooks", params={"limit": 1})).json()["deliveries"]
    assert len(every) == 3 and [delivery["url"] for delivery in last] == ["http://127.0.0.1:9/2"]
    assert [delivery["due"] for delivery in every] == sorted(delivery["due"] for delivery in every)
