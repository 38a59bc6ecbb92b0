"""Many concurrent clients against one real server: every job accounted for, no 5xx, no lost webhook.
Bounded: 40 clients x 5 jobs, 90 s at most, loopback only."""

import asyncio
from collections import Counter

import httpx

from contract_tests.process import running_mock

CLIENTS, JOBS_EACH, DEADLINE = 40, 5, 90.0
I2I = "/flux-2-pro-image-to-image-866/v1/flux-2-pro-image-to-image-request"
BATCH = "/flux-1-schnell/v1/getDataBatch"


async def one_client(client: httpx.AsyncClient, number: int, hook: str) -> list[str]:
    headers = {"Ocp-Apim-Subscription-Key": f"load-{number}"}
    done = []
    for job in range(JOBS_EACH):
        if job % 2:
            body = {"prompt": f"c{number}j{job}", "image_size": "64x64", "image_urls": ["https://e.com/a.png"]}
            submitted = (await client.post(I2I, json=body, headers={**headers, "X-Webhook-URL": hook})).json()
            poll = lambda: client.get(submitted["polling_url"], headers=headers)  # noqa: E731
            request_id, final = submitted["request_id"], ("COMPLETED",)
        else:
            body = {"prompt": f"c{number}j{job}", "width": 64, "height": 64, "webhook_url": hook}
            submitted = (await client.post(BATCH, json=body, headers=headers)).json()
            poll = lambda: client.post("/flux-1-schnell/v1/checkStatus", json={"requestId": submitted["requestId"]},  # noqa: E731
                                       headers=headers)
            request_id, final = submitted["requestId"], ("completed",)
        while (answer := (await poll()).json())["status"] not in final:
            await asyncio.sleep(0.05)
        urls = answer["output"]["media_url"] if isinstance(answer["output"], dict) else [answer["output"]]
        for url in urls:
            media = await client.get(url)
            assert media.status_code == 200 and media.headers["content-type"] == "image/png"
        done.append(request_id)
    return done


async def run_load(url: str, hook: str) -> list[str]:
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        results = await asyncio.wait_for(asyncio.gather(*(one_client(client, n, hook) for n in range(CLIENTS))),
                                         timeout=DEADLINE)
    return [request_id for finished in results for request_id in finished]


def test_concurrent_clients_lose_nothing(receiver, tmp_path):
    config = tmp_path / "load.yaml"
    config.write_text("timing: {queued_for: 0.05, processing_for: 0.1}\njournal_size: 100000\n")
    with running_mock("--config", str(config)) as url:
        finished = asyncio.run(run_load(url, f"{receiver.url}/load"))
        admin = httpx.Client(base_url=url, timeout=30)
        jobs = admin.get("/__admin/jobs").json()["jobs"]
        journal = admin.get("/__admin/journal").json()["entries"]
        received = receiver.wait_for(CLIENTS * JOBS_EACH, "/load", timeout=30)
        admin.close()
    assert len(finished) == len(set(finished)) == CLIENTS * JOBS_EACH
    assert {job["request_id"] for job in jobs} == set(finished)
    assert all(job["status"] == "COMPLETED" for job in jobs)
    assert [e for e in journal if e["status"] >= 500] == []
    delivered = Counter(body.get("request_id") or body.get("requestId") for body in received)
    assert set(delivered) == set(finished) and set(delivered.values()) == {1}, "each webhook arrives exactly once"
