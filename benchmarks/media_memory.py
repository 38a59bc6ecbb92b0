"""Peak memory of `flux-mock serve` under concurrent downloads of large media, run by hand:

    python benchmarks/media_memory.py [--downloads 160] [--side 2048]

Starts a real server on a loopback port, downloads N distinct side x side PNGs at once (any 16-hex digest
renders, no key needed), and prints the server's peak and final resident memory (VmHWM, VmRSS) and
the time taken. The server is stopped by its PID.
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract_tests.process import MockProcess  # noqa: E402


def memory_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmHWM", "VmRSS")}


async def download_all(url: str, count: int, side: int) -> list[int]:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=count)) as client:
        answers = await asyncio.gather(*(client.get(f"{url}/media/{n:016x}/{side}x{side}-0.png") for n in range(count)))
    return [answer.status_code for answer in answers]


def measure(count: int, side: int) -> dict:
    mock = MockProcess()
    try:
        started = time.perf_counter()
        statuses = asyncio.run(download_all(mock.url, count, side))
        return {"seconds": time.perf_counter() - started, "ok": statuses.count(200), **memory_mib(mock.process.pid)}
    finally:
        mock.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--downloads", type=int, default=160)
    parser.add_argument("--side", type=int, default=2048)
    args = parser.parse_args()
    result = measure(args.downloads, args.side)
    print(f"{args.downloads} concurrent {args.side}x{args.side} downloads: {result['ok']} answered 200 in "
          f"{result['seconds']:.1f} s; peak resident {result['VmHWM']:.0f} MiB, after {result['VmRSS']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
