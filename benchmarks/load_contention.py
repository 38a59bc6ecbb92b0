"""Many keep-alive clients against one real flux-mock while CPU hogs keep both cores busy: connection
errors, 5xx, latency and the server's peak memory, on each store.

    python benchmarks/load_contention.py [--clients 500] [--duration 60] [--hogs 2] [--store memory|redis|both]
                                         [--poll-interval 1] [--download-every 10] [--webhooks]
                                         [--record] [--probe PATH]

Each client is its own app: one httpx.AsyncClient with one keep-alive connection, submitting a Flux Dev
job (512 x 512), polling it every --poll-interval seconds to COMPLETED and downloading the image of one
job in --download-every, over and over until the time is up. (Every job's image is distinct and
rendered on demand: about 53 ms of CPU for 512 x 512, 226 ms for 1024 x 1024 on a quiet core here, so
500 clients each downloading every image would measure Pillow on two cores, not the server.) Every
transport error is counted by its type (and the exception underneath it: a peer reset is
BrokenResourceError, a close by the client's own pool ClosedResourceError), every 5xx by status.
With --webhooks every submit names the kit's webhook receiver (X-Webhook-URL): after the run, once every
delivery is final, it prints the POSTs the receiver got, the attempts `/__admin/webhooks` counts and the
deliveries POSTed more than once (each delivery is POSTed once unless a retry asks for more).
With --record each store runs twice: straight against the mock, then through `flux-mock record --upstream`
in front of it (the clients' polls led back through the recorder), so both figures come from one run.
With --probe PATH one more client GETs PATH every 0.1 s during the run (its p50 / p99 printed): the cost of
that page under load, against the API's own figures.
Loopback only; the hogs stop after the run and every process started is stopped by its PID.
"""

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract_tests.process import MockProcess, stop_process  # noqa: E402
from contract_tests.receiver import WebhookReceiver  # noqa: E402
from tests.support.redis_server import RedisProcess  # noqa: E402

SUBMIT = "/flux-dev/v1/dev/textToImage"
HOG = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass\n"


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: Counter = Counter()
        self.server_errors: Counter = Counter()
        self.jobs = self.downloads = 0

    async def call(self, send):
        started = time.perf_counter()
        try:
            answer = await send()
        except httpx.TransportError as error:
            cause = error.__cause__ or error.__context__
            self.errors[f"{type(error).__name__} ({type(cause).__name__ if cause else '-'})"] += 1
            return None
        self.latencies.append(time.perf_counter() - started)
        if answer.status_code >= 500:
            self.server_errors[answer.status_code] += 1
        return answer


async def one_client(url: str, number: int, until: float, tally: Tally, poll_interval: float,
                     download_every: int, hook: str | None) -> None:
    headers = {"Ocp-Apim-Subscription-Key": f"contention-{number}", **({"X-Webhook-URL": hook} if hook else {})}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=120)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        while time.monotonic() < until:
            submitted = await tally.call(lambda: client.post(SUBMIT, json={"prompt": f"client {number}",
                                                                          "image_size": "square"}))
            if submitted is None or submitted.status_code != 202:
                await asyncio.sleep(0.1)
                continue
            polling_url = submitted.json()["polling_url"]
            while time.monotonic() < until:
                answer = await tally.call(lambda: client.get(polling_url))
                if answer is not None and answer.status_code == 200 and answer.json()["status"] == "COMPLETED":
                    tally.jobs += 1
                    if tally.jobs % download_every == 0:
                        media = await tally.call(lambda: client.get(answer.json()["output"]["media_url"][0]))
                        tally.downloads += media is not None and media.status_code == 200
                    break
                await asyncio.sleep(poll_interval)


async def all_clients(url: str, clients: int, until: float, tally: Tally, *pacing) -> None:
    runs = asyncio.gather(*(one_client(url, n, until, tally, *pacing) for n in range(clients)))
    await asyncio.wait_for(runs, until - time.monotonic() + 120)


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def settled_webhooks(url: str, receiver: WebhookReceiver, timeout: float = 300.0) -> tuple[int, int, int, int]:
    """Once every delivery is final: (POSTs received, attempts counted, attempts that failed, deliveries POSTed
    more than once)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=60) as admin:
        while True:
            deliveries = admin.get("/__admin/webhooks").json()["deliveries"]
            if all(d["state"] in ("delivered", "failed") for d in deliveries) or time.monotonic() > deadline:
                break
            time.sleep(1)
    time.sleep(2)  # anything claimed twice would arrive now
    with receiver._lock:
        posts = Counter(r.headers.get("Webhook-Id") for r in receiver.received)
    attempts = sum(d["attempts"] for d in deliveries)
    failed = attempts - sum(d["state"] == "delivered" for d in deliveries)  # timed out, or the receiver refused
    return sum(posts.values()), attempts, failed, sum(1 for count in posts.values() if count > 1)


async def probing(url: str, path: str, until: float) -> list[float]:
    """GET `path` every 0.1 s until `until`: the latencies."""
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                await client.get(path)
                latencies.append(time.perf_counter() - started)
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    return latencies


async def measured(url: str, clients: int, until: float, tally: Tally, pacing, hook, probe) -> list[float]:
    probe_task = asyncio.ensure_future(probing(url, probe, until)) if probe else None
    await all_clients(url, clients, until, tally, *pacing, hook)
    return await probe_task if probe_task else []


def run(store: str, clients: int, duration: float, hogs: int, poll_interval: float, download_every: int,
        webhooks: bool, via_recorder: bool = False, probe: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder, WebhookReceiver().running() as receiver:
        hook = f"{receiver.url}/contention" if webhooks else None
        redis_server = RedisProcess(folder, durable=False).start() if store == "redis" else None
        config = Path(folder) / "contention.yaml"
        store_line = f"store: {redis_server.url}\n" if redis_server else ""
        # Each client has its own key: the default wallet ($100) is not what is measured.
        config.write_text(f"{store_line}timing: {{queued_for: 0.2, processing_for: 0.5}}\n"
                          "default_balance: 1000000\njournal_size: 20000\n")
        mock = MockProcess("--config", str(config))
        recorder = MockProcess("--out", str(Path(folder) / "load.har"), "--upstream", mock.url,
                               command="record") if via_recorder else None
        hog_processes = [subprocess.Popen([sys.executable, "-c", HOG, str(duration + 30)]) for _ in range(hogs)]
        tally = Tally()
        try:
            started = time.monotonic()
            probed = asyncio.run(measured(recorder.url if recorder else mock.url, clients, started + duration, tally,
                                          (poll_interval, download_every), hook, probe))
            elapsed = time.monotonic() - started
            peak = peak_rss_mib((recorder or mock).process.pid)
            hooks = settled_webhooks(mock.url, receiver) if webhooks else None
        finally:
            for hog in hog_processes:
                stop_process(hog, grace=1)
            if recorder:
                recorder.stop()
            mock.stop()
            if redis_server:
                redis_server.stop()
    latencies = sorted(tally.latencies)
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    print(f"{store:6} {'through record, ' if via_recorder else ''}{clients} clients {elapsed:.0f} s, {hogs} CPU "
          f"hogs: {len(latencies)} answers "
          f"({len(latencies) / elapsed:.0f}/s), {tally.jobs} jobs completed, {tally.downloads} images downloaded")
    print(f"       connection errors: {sum(tally.errors.values())} {dict(tally.errors) or ''}; "
          f"5xx: {sum(tally.server_errors.values())} {dict(tally.server_errors) or ''}")
    print(f"       latency p50 {p50:.0f} ms, p99 {p99:.0f} ms; {'recorder' if via_recorder else 'server'} peak RSS "
          f"{peak:.0f} MiB")
    if probe:
        probed.sort()
        print(f"       probe {probe}: {len(probed)} answers, p50 {statistics.median(probed) * 1000:.0f} ms, "
              f"p99 {probed[max(0, int(len(probed) * 0.99) - 1)] * 1000:.0f} ms")
    if hooks:
        print(f"       webhooks: {hooks[0]} POSTs received, {hooks[1]} attempts counted ({hooks[2]} failed and "
              f"retried), {hooks[3]} deliveries POSTed more than once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--hogs", type=int, default=2, help="busy-looping processes beside the run")
    parser.add_argument("--store", choices=("memory", "redis", "both"), default="both")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between a client's polls")
    parser.add_argument("--download-every", type=int, default=10, help="download the image of one job in N")
    parser.add_argument("--webhooks", action="store_true", help="every submit names a webhook receiver")
    parser.add_argument("--record", action="store_true", help="each store also through `flux-mock record`")
    parser.add_argument("--probe", help="a path one more client GETs every 0.1 s (e.g. /openapi/flux.yaml)")
    args = parser.parse_args()
    for store in (("memory", "redis") if args.store == "both" else (args.store,)):
        for via_recorder in ((False, True) if args.record else (False,)):
            run(store, args.clients, args.duration, args.hogs, args.poll_interval, args.download_every, args.webhooks,
                via_recorder, args.probe)


if __name__ == "__main__":
    main()
