"""Throughput and latency of flux-mock, next to bare Starlette measured in the same run.

    python benchmarks/bench.py [--duration 10] [--connections 32] [--jobs 1000] [--store URL]

The servers run on core 1 and the load generator on core 0 (taskset, when there are two cores).
The load comes from wrk (`apt-get install wrk`). Without wrk a Python generator is used and the run
says so loudly: it saturates at a few hundred requests a second, so it measures itself, not the mock.
Loopback only; every process started is stopped by its PID.

Prints req/s, p50 and p99 for: sync getData, a queue submit, a status poll (with --jobs jobs stored),
each after 2 s of uncounted warm-up load, on the memory store and, with --store, on that store too
(same run, with the ratio to memory); bare Starlette; a queue submit paced at half the rate the
memory store sustained (latency under load rather than at saturation, where p50 is only the
connections divided by the throughput); how long `flux-mock serve` takes to answer; and the floor
(floor_app.py: the least any mock must do for a getData, raw ASGI), the ratio a redesign could approach.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

KEY = "bench-key"
GET_DATA = ("POST", "/flux-1-schnell/v1/getData", {"prompt": "a lighthouse", "width": 512, "height": 512})
SUBMIT = ("POST", "/flux-dev/v1/dev/textToImage", {"prompt": "a lighthouse"})


def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


def wait_ready(url: str, started: float, timeout: float = 30) -> float:
    while time.perf_counter() - started < timeout:
        try:
            httpx.get(url, timeout=0.5)
            return time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def start(command: list[str], ready_url: str) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    process = subprocess.Popen(pinned(1) + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, wait_ready(ready_url, started)


def stop(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def wrk(url: str, method: str, body: dict | None, duration: int, connections: int, rate: float | None = None) -> dict:
    """wrk's figures; with `rate`, each connection waits between requests so that all send `rate` a second."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.method = "{method}"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f'wrk.headers["Ocp-Apim-Subscription-Key"] = "{KEY}"\n')
    if body is not None:
        script.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
    if rate is not None:
        script.write(f"function delay() return {max(1, round(connections * 1000 / rate))} end\n")
    script.close()
    output = subprocess.run(pinned(0) + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                                         script.name, url], capture_output=True, text=True, timeout=duration + 60)
    os.unlink(script.name)
    text = output.stdout

    def millis(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), "p50": millis("50"),
            "p99": millis("99"), "errors": int(non_2xx.group(1)) if non_2xx else 0}


async def _python_load(url: str, method: str, body: dict | None, duration: int, connections: int) -> dict:
    latencies, errors = [], 0
    payload = json.dumps(body).encode() if body is not None else None
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + duration

        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                response = await client.request(method, url, content=payload, headers={
                    "Content-Type": "application/json", "Ocp-Apim-Subscription-Key": KEY})
                latencies.append((time.perf_counter() - began) * 1000)
                errors += response.status_code >= 300

        await asyncio.gather(*(worker() for _ in range(connections)))
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / duration, "p50": cuts[49], "p99": cuts[98], "errors": errors}


WARM_UP_SECONDS = 2


def load(url, method, body, duration, connections) -> dict:
    """Figures of `duration` seconds of load, after WARM_UP_SECONDS of the same load that are not counted."""
    if shutil.which("wrk"):
        wrk(url, method, body, WARM_UP_SECONDS, connections)
        return wrk(url, method, body, duration, connections)
    asyncio.run(_python_load(url, method, body, WARM_UP_SECONDS, connections))
    return asyncio.run(_python_load(url, method, body, duration, connections))


def seed_jobs(url: str, count: int) -> str:
    """`count` stored jobs (through the admin API's seeding, in batches); the id of one to poll."""
    with httpx.Client(base_url=url, timeout=600) as client:
        seeded = client.post("/__admin/jobs/seed", json={"count": count, "key": KEY}).json()
    return seeded["sample_request_id"]


def measure(store: str | None, jobs: int, duration: int, connections: int) -> tuple[dict, float, float]:
    """{scenario: figures} of one flux-mock on `store` (memory when None), its start-up time and its
    resident memory after the runs."""
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"keys: {{{KEY}: {{balance: 1000000000}}}}\ntiming: {{mode: manual}}\njournal_size: 10000\n")
    config.close()
    port = free_port()
    command = [sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port), "--config", config.name,
               "--log-level", "error"] + (["--store", store] if store else [])
    url = f"http://127.0.0.1:{port}"
    rows = {}
    mock, ready = start(command, f"{url}/__admin/health")
    try:
        request_id = seed_jobs(url, jobs)
        rows["sync getData"] = load(url + GET_DATA[1], GET_DATA[0], GET_DATA[2], duration, connections)
        rows["queue submit"] = load(url + SUBMIT[1], SUBMIT[0], SUBMIT[2], duration, connections)
        rows[f"status poll ({jobs:,} jobs)"] = load(f"{url}/v2/requests/status/{request_id}", "GET", None, duration,
                                                    connections)
        if store is None and shutil.which("wrk"):
            half = rows["queue submit"]["rps"] / 2
            rows[f"queue submit at {half:,.0f}/s"] = wrk(url + SUBMIT[1], SUBMIT[0], SUBMIT[2], duration, connections,
                                                        rate=half)
        memory_kb = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{mock.pid}/status").read_text()).group(1))
    finally:
        stop(mock)
        os.unlink(config.name)
    return rows, ready, memory_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs stored while polling is measured")
    parser.add_argument("--store", help="also measure flux-mock on this --store URL (redis://...), same run")
    args = parser.parse_args()
    generator = "wrk" if shutil.which("wrk") else None
    if generator is None:
        print("wrk is not installed (apt-get install wrk): the Python load generator used instead saturates at a few "
              "hundred requests a second, so these figures measure the generator, not the mock", file=sys.stderr)
    figures = {"memory": measure(None, args.jobs, args.duration, args.connections)}
    if args.store:
        figures[args.store.split("://")[0]] = measure(args.store, args.jobs, args.duration, args.connections)
    bare_port = free_port()
    bare, _ = start([sys.executable, str(ROOT / "benchmarks" / "bare_app.py"), str(bare_port)],
                    f"http://127.0.0.1:{bare_port}/constant")
    try:
        baseline = load(f"http://127.0.0.1:{bare_port}/constant", "GET", None, args.duration, args.connections)
    finally:
        stop(bare)
    floor_port = free_port()
    floor, _ = start([sys.executable, str(ROOT / "benchmarks" / "floor_app.py"), str(floor_port)],
                     f"http://127.0.0.1:{floor_port}/")
    try:
        least = load(f"http://127.0.0.1:{floor_port}{GET_DATA[1]}", GET_DATA[0], GET_DATA[2], args.duration,
                     args.connections)
    finally:
        stop(floor)

    print(f"load: {generator or 'python (httpx): measures the generator, not the mock'}, {args.connections} "
          f"connections, {args.duration} s each; servers on core 1, load on core 0")
    print(f"{'store':7} {'scenario':34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'vs bare':>8} "
          f"{'vs memory':>9}")
    memory_rows = figures["memory"][0]
    for store, (rows, _, _) in figures.items():
        for name, row in rows.items():
            versus_memory = f"{row['rps'] / memory_rows[name]['rps']:>9.2f}" if store != "memory" else ""
            print(f"{store:7} {name:34} {row['rps']:>10,.0f} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['errors']:>8} "
                  f"{row['rps'] / baseline['rps']:>8.2f} {versus_memory}")
    print(f"{'':7} {'bare Starlette (constant JSON)':34} {baseline['rps']:>10,.0f} {baseline['p50']:>8.2f} "
          f"{baseline['p99']:>8.2f} {baseline['errors']:>8} {1:>8.2f}")
    print(f"{'':7} {'floor: least a getData needs':34} {least['rps']:>10,.0f} {least['p50']:>8.2f} "
          f"{least['p99']:>8.2f} {least['errors']:>8} {least['rps'] / baseline['rps']:>8.2f}")
    for store, (_, ready, memory_mib) in figures.items():
        print(f"{store}: flux-mock serve ready to answer in {ready:.2f} s; resident memory with {args.jobs:,} seeded jobs "
              f"and every job the runs created: {memory_mib:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
