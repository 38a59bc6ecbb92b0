"""Concurrent downloads of large media stay within bounded memory: rendering runs on two threads and the
cache is bounded in bytes (the full 160-download figure: benchmarks/media_memory.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from media_memory import measure  # noqa: E402


def test_concurrent_large_downloads_peak_well_under_a_gigabyte():
    result = measure(count=16, side=2048)
    assert result["ok"] == 16
    assert result["VmHWM"] < 700, f"peak resident memory {result['VmHWM']:.0f} MiB"
