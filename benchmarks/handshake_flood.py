"""HTTPS clients while a flood of connections never finishes its TLS handshake.

    python benchmarks/handshake_flood.py [--flood 20000] [--seconds 20] [--clients 20]

A `serve --tls` mock (defaults: max_connections 4,096, header_timeout 10 s); a flood process opens --flood
TCP connections over --seconds, each sending half a ClientHello and then nothing, keeping up to 8,000 open at
a time; meanwhile --clients HTTPS clients each make a request on a fresh connection (a full handshake) every
0.2 s with a 10 s timeout. Prints the clients' answers, timeouts and other errors, and their p50 / p99, with
and without the flood. Loopback only; every process started is stopped by its PID.
"""

import argparse
import asyncio
import ssl
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract_tests.process import MockProcess, stop_process  # noqa: E402

FLOOD = r"""
import socket, sys, time, collections
host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
hello = bytes.fromhex("16030100c8010000c40303") + b"\x00" * 20   # a ClientHello cut short
kept, started, opened = collections.deque(), time.monotonic(), 0
while opened < count:
    due = started + seconds * opened / count
    if time.monotonic() < due:
        time.sleep(min(0.01, due - time.monotonic()))
        continue
    try:
        conn = socket.create_connection((host, port), timeout=2)
        conn.sendall(hello)
        kept.append(conn)
    except OSError:
        pass
    opened += 1
    while len(kept) > 8000:
        kept.popleft().close()
print(opened, flush=True)
time.sleep(2)
"""


async def client(url: str, context: ssl.SSLContext, until: float, outcome: Counter, latencies: list) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        try:  # a fresh client each time: a full handshake per request
            async with httpx.AsyncClient(verify=context, timeout=10) as fresh:
                answer = await fresh.get(f"{url}/__admin/health")
            outcome[answer.status_code] += 1
            latencies.append(time.perf_counter() - started)
        except httpx.TimeoutException:
            outcome["timeout"] += 1
        except httpx.TransportError as error:
            outcome[type(error).__name__] += 1
        await asyncio.sleep(0.2)


async def clients(url: str, context, count: int, seconds: float) -> tuple[Counter, list]:
    outcome, latencies = Counter(), []
    until = time.monotonic() + seconds
    await asyncio.gather(*(client(url, context, until, outcome, latencies) for _ in range(count)))
    return outcome, latencies


def report(label: str, outcome: Counter, latencies: list) -> None:
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")
    total = sum(outcome.values())
    print(f"{label:14} {total} requests: {dict(outcome)}; p50 {p50:.0f} ms, p99 {p99:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    mock = MockProcess("--tls")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the mock's own CA: not what is measured
    try:
        report("quiet", *asyncio.run(clients(mock.url, context, args.clients, args.seconds / 2)))
        host, port = mock.url.removeprefix("https://").split(":")
        flood = subprocess.Popen([sys.executable, "-c", FLOOD, host, port, str(args.flood), str(args.seconds)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            report("under flood", *asyncio.run(clients(mock.url, context, args.clients, args.seconds)))
        finally:
            stop_process(flood, grace=5)
    finally:
        mock.stop()


if __name__ == "__main__":
    main()
