"""What recording and replaying cost.

    python benchmarks/record_replay.py [--requests 2000] [--entries 10000]

1. Record-mode overhead: the same GET sent N times straight to an upstream (flux-mock itself, on loopback)
   and N times through `flux-mock record --upstream` in front of it; p50 / p99 of each and the difference
   (the target: under 2 ms at p50).
2. Replay of a large HAR: a file of --entries exchanges (jobs of one submit and three polls) written with the
   HAR writer; how long `serve --replay` takes to read and index it (in process: the recording only, and the
   whole app), the memory the index holds (tracemalloc), and replayed submits per second over HTTP against
   the spec-driven mock's own answer to the same submit.

Every server is started on a loopback port and stopped by its PID.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract_tests.process import MockProcess  # noqa: E402
from mock_server.har import HarWriter, RecordedExchange  # noqa: E402

KEY = {"Ocp-Apim-Subscription-Key": "bench-key"}
GATEWAY = "https://gateway.pixazo.ai"


def _ms(values: list[float], share: float) -> float:
    return 1000 * statistics.quantiles(values, n=100)[int(share * 100) - 1]


def _timed(client: httpx.Client, count: int, send) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        send(client).raise_for_status()
        took.append(time.perf_counter() - started)
    return took


def record_overhead(requests: int, folder: Path) -> None:
    upstream = MockProcess()
    recorder = MockProcess("--out", str(folder / "bench.har"), "--upstream", upstream.url, command="record")
    try:
        def send(client):
            return client.post("/flux-1-schnell/v1/getData", json={"prompt": "a lighthouse"}, headers=KEY)

        results = {}
        for name, url in (("direct", upstream.url), ("recorded", recorder.url)):
            with httpx.Client(base_url=url, timeout=30) as client:
                _timed(client, 50, send)  # warm up: connections, the rendered spec
                results[name] = _timed(client, requests, send)
        for name, took in results.items():
            print(f"  {name:9s} p50 {_ms(took, 0.5):6.2f} ms   p99 {_ms(took, 0.99):6.2f} ms   ({len(took)} requests)")
        print(f"  overhead  p50 {_ms(results['recorded'], 0.5) - _ms(results['direct'], 0.5):6.2f} ms   "
              f"(target under 2 ms)")
    finally:
        recorder.stop()
        upstream.stop()


def large_har(path: Path, entries: int) -> None:
    writer = HarWriter(path, replace=True)
    headers = (("content-type", "application/json"),)
    for job in range(entries // 4):
        request_id = f"flux-dev_0192f0a0-0000-7000-8000-{job:012d}"
        body = json.dumps({"prompt": f"prompt {job}", "image_size": "square"}).encode()
        submit = {"request_id": request_id, "status": "QUEUED",
                  "polling_url": f"{GATEWAY}/v2/requests/status/{request_id}"}
        writer.write(RecordedExchange("POST", f"{GATEWAY}/flux-dev/v1/dev/textToImage", 202, headers, body, headers,
                                      json.dumps(submit).encode(), "Accepted", 1_767_225_600.0 + job, 30.0).to_har({}))
        for at, status in ((1, "QUEUED"), (2, "PROCESSING"), (3, "COMPLETED")):
            answer = {"request_id": request_id, "status": status, "model_id": "flux-dev", "error": None,
                      "output": {"media_url": [f"https://cdn.example/{job}.png"]} if status == "COMPLETED" else None,
                      "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
                      "completed_at": "2026-01-01T00:00:03.000Z" if status == "COMPLETED" else None}
            writer.write(RecordedExchange("GET", f"{GATEWAY}/v2/requests/status/{request_id}", 200, headers, b"",
                                          headers, json.dumps(answer).encode(), "OK", 1_767_225_600.0 + job + at,
                                          20.0).to_har({}))
    writer.close()


def replay_costs(entries: int, requests: int, folder: Path) -> None:
    from mock_server.app import create_app
    from mock_server.operations import load_operations
    from mock_server.replay import read_recordings
    from mock_server.settings import Settings

    path = folder / "large.har"
    large_har(path, entries)
    print(f"  file: {entries} entries, {path.stat().st_size / 1e6:.1f} MB")
    tracemalloc.start()
    started = time.perf_counter()
    recording = read_recordings([path], load_operations())
    read_took = time.perf_counter() - started
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del recording
    started = time.perf_counter()
    create_app(Settings(replay=(str(path),)))
    print(f"  start: create_app with it {time.perf_counter() - started:.2f} s (target under 2 s); under tracemalloc "
          f"the reading took {read_took:.2f} s, the index holds {held / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB)")
    replaying, spec_driven = MockProcess("--replay", str(path), "--replay-speed", "0"), MockProcess()
    try:
        for name, mock in (("spec-driven", spec_driven), ("replayed", replaying)):
            with httpx.Client(base_url=mock.url, timeout=30, headers=KEY) as client:
                def send(client, counter=iter(range(10**9))):
                    job = next(counter) % (entries // 4)
                    return client.post("/flux-dev/v1/dev/textToImage",
                                       json={"prompt": f"prompt {job}", "image_size": "square"})
                _timed(client, 50, send)
                took = _timed(client, requests, send)
                unrecorded = _timed(client, min(requests, 200), lambda c: c.post(
                    "/flux-dev/v1/dev/textToImage", json={"prompt": "never recorded", "image_size": "square"}))
            print(f"  {name:11s} submit p50 {_ms(took, 0.5):6.2f} ms   p99 {_ms(took, 0.99):6.2f} ms   "
                  f"{len(took) / sum(took):7.0f} req/s (one client); unrecorded submit p50 "
                  f"{_ms(unrecorded, 0.5):6.2f} ms")
    finally:
        replaying.stop()
        spec_driven.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("record-mode overhead (Schnell getData, one client, sequential):")
        record_overhead(args.requests, Path(folder))
        print(f"replay of a {args.entries}-entry HAR:")
        replay_costs(args.entries, args.requests, Path(folder))


if __name__ == "__main__":
    main()
