"""What reading the mock's own pages costs its API: sync getData latency while an open dashboard refreshes
(every read it makes, once a second) over a large store, and while clients fetch the bundled specs in a loop.

    python benchmarks/admin_reads.py [--jobs 200000] [--duration 10] [--spec-readers 4]

Prints p50 / p99 of the API calls, and how long each kind of read took, for: the API alone; with the
dashboard open; with --spec-readers clients looping on GET /openapi/flux.yaml. A flux-mock started on a
loopback port and stopped by its PID.
"""

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract_tests.process import MockProcess  # noqa: E402

KEY = {"Ocp-Apim-Subscription-Key": "bench-key"}
# What the dashboard reads on each refresh, taken from its own script (so the benchmark follows the page).
DASHBOARD_READS = tuple("/__admin" + path for path in re.findall(
    r'call\("GET", "([^"]+)"\)', (ROOT / "mock_server" / "static" / "dashboard" / "dashboard.js").read_text()))


def _ms(values: list[float], share: float) -> float:
    return 1000 * statistics.quantiles(values, n=100)[int(share * 100) - 1] if len(values) > 1 else float("nan")


async def _api(client: httpx.AsyncClient, until: float, took: list[float]) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        answer = await client.post("/flux-1-schnell/v1/getData", json={"prompt": "x"}, headers=KEY)
        answer.raise_for_status()
        took.append(time.perf_counter() - started)


async def _dashboard(client: httpx.AsyncClient, until: float, took: dict) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        for path in DASHBOARD_READS:
            begun = time.perf_counter()
            (await client.get(path)).raise_for_status()
            took.setdefault(path, []).append(time.perf_counter() - begun)
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))


async def _specs(client: httpx.AsyncClient, until: float, took: list[float]) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        (await client.get("/openapi/flux.yaml")).raise_for_status()
        took.append(time.perf_counter() - started)


async def _phase(url: str, duration: float, dashboard: bool, spec_readers: int) -> tuple[list, dict, list]:
    until = time.monotonic() + duration
    api_took, reads, spec_took = [], {}, []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        work = [_api(client, until, api_took) for _ in range(4)]
        if dashboard:
            work.append(_dashboard(client, until, reads))
        work += [_specs(client, until, spec_took) for _ in range(spec_readers)]
        await asyncio.gather(*work)
    return api_took, reads, spec_took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--spec-readers", type=int, default=4)
    args = parser.parse_args()
    mock = MockProcess()
    try:
        seeded = httpx.post(f"{mock.url}/__admin/jobs/seed", json={"count": args.jobs, "key": "bench-key"},
                            timeout=600)
        seeded.raise_for_status()
        print(f"flux-mock with {args.jobs:,} jobs; 4 API clients, {args.duration:g} s a phase")
        for name, dashboard, readers in (("API alone", False, 0), ("dashboard open", True, 0),
                                         (f"{args.spec_readers} spec readers", False, args.spec_readers)):
            api_took, reads, spec_took = asyncio.run(_phase(mock.url, args.duration, dashboard, readers))
            print(f"{name:18s} getData p50 {_ms(api_took, 0.5):8.2f} ms  p99 {_ms(api_took, 0.99):8.2f} ms  "
                  f"({len(api_took):,} calls)")
            for path, took in reads.items():
                print(f"{'':18s}   {path:45s} p50 {_ms(took, 0.5):8.2f} ms")
            if spec_took:
                print(f"{'':18s}   GET /openapi/flux.yaml{'':23s} p50 {_ms(spec_took, 0.5):8.2f} ms "
                      f"({len(spec_took):,} reads)")
    finally:
        mock.stop()


if __name__ == "__main__":
    main()
