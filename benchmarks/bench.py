"""Throughput and latency of flux-mock, next to bare Starlette measured in the same run.

    python benchmarks/bench.py [--duration 10] [--connections 32] [--jobs 1000] [--store URL]

The servers run on core 1 and the load generator on core 0 (taskset, when there are two cores).
The load comes from wrk when it is installed (`apt-get install wrk`), else from a Python generator
(which saturates sooner: compare only figures from the same generator). Loopback only; every process
started is stopped by its PID. Prints req/s, p50 and p99 for: sync getData, a queue submit, a status
poll (with --jobs jobs stored), and bare Starlette, each after 2 s of uncounted warm-up load; and
how long `flux-mock serve` takes to answer.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
GET_DATA = ("POST", "/flux-1-schnell/v1/getData", {"prompt": "a lighthouse", "width": 512, "height": 512})
SUBMIT = ("POST", "/flux-dev/v1/dev/textToImage", {"prompt": "a lighthouse"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def wrk(url: str, method: str, body: dict | None, duration: int, connections: int) -> dict:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.method = "{method}"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f'wrk.headers["Ocp-Apim-Subscription-Key"] = "{KEY}"\n')
    if body is not None:
        script.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs stored while polling is measured")
    parser.add_argument("--store", help="flux-mock --store URL (default: memory)")
    args = parser.parse_args()

    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"keys: {{{KEY}: {{balance: 1000000000}}}}\ntiming: {{mode: manual}}\njournal_size: 10000\n")
    config.close()
    port, bare_port = free_port(), free_port()
    mock_command = [sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port), "--config", config.name,
                    "--log-level", "error"] + (["--store", args.store] if args.store else [])
    url = f"http://127.0.0.1:{port}"
    generator = "wrk" if shutil.which("wrk") else "python (httpx)"
    rows = []
    mock, ready = start(mock_command, f"{url}/__admin/health")
    try:
        request_id = seed_jobs(url, args.jobs)
        rows.append(("sync getData", load(url + GET_DATA[1], GET_DATA[0], GET_DATA[2], args.duration,
                                          args.connections)))
        rows.append(("queue submit", load(url + SUBMIT[1], SUBMIT[0], SUBMIT[2], args.duration, args.connections)))
        rows.append((f"status poll ({args.jobs:,} jobs)", load(f"{url}/v2/requests/status/{request_id}", "GET", None,
                                                               args.duration, args.connections)))
        memory_kb = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{mock.pid}/status").read_text()).group(1))
    finally:
        stop(mock)
        os.unlink(config.name)
    bare, _ = start([sys.executable, str(ROOT / "benchmarks" / "bare_app.py"), str(bare_port)],
                    f"http://127.0.0.1:{bare_port}/constant")
    try:
        baseline = load(f"http://127.0.0.1:{bare_port}/constant", "GET", None, args.duration, args.connections)
    finally:
        stop(bare)

    print(f"load: {generator}, {args.connections} connections, {args.duration} s each; servers on core 1, load on core 0")
    print(f"{'scenario':34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'vs bare':>8}")
    for name, figures in rows + [("bare Starlette (constant JSON)", baseline)]:
        print(f"{name:34} {figures['rps']:>10,.0f} {figures['p50']:>8.2f} {figures['p99']:>8.2f} "
              f"{figures['errors']:>8} {figures['rps'] / baseline['rps']:>8.2f}")
    print(f"flux-mock serve ready to answer in {ready:.2f} s; resident memory with {args.jobs:,} jobs after the "
          f"runs: {memory_kb / 1024:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
