"""How long the first download of a new image takes, per documented size and format, run by hand:

    python benchmarks/media_speed.py [--downloads 40]

Starts a real `flux-mock serve` on a loopback port and downloads --downloads distinct images (each a new
digest: nothing cached) of each size and format, one at a time; prints p50, p99 and the largest time and the
file size. Targets (issue 35): every size under 50 ms at p99 on a quiet machine, 2048 x 2048 under 150 ms.
The server is stopped by its PID.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract_tests.process import MockProcess  # noqa: E402

SIZES = [(512, 512), (1024, 1024), (1024, 576), (576, 1024), (768, 1024), (1920, 1080), (2048, 2048)]
FORMATS = ["png", "jpeg", "webp"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--downloads", type=int, default=40)
    args = parser.parse_args()
    mock = MockProcess()
    try:
        with httpx.Client(base_url=mock.url, timeout=60) as client:
            client.get("/media/ffffffffffffffff/64x64-0.png")  # warm: imports and the first thread start
            number = 0
            print(f"{'size':>10} {'format':6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'bytes':>9}")
            for width, height in SIZES:
                for extension in FORMATS:
                    times, size = [], 0
                    for _ in range(args.downloads):
                        number += 1
                        started = time.perf_counter()
                        answer = client.get(f"/media/{number:016x}/{width}x{height}-0.{extension}")
                        times.append((time.perf_counter() - started) * 1000)
                        assert answer.status_code == 200, answer.status_code
                        size = len(answer.content)
                    times.sort()
                    p99 = times[max(0, int(len(times) * 0.99) - 1)]
                    print(f"{width:>5}x{height:<4} {extension:6} {statistics.median(times):7.1f} {p99:7.1f} "
                          f"{times[-1]:7.1f} {size:>9,}")
    finally:
        mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
