"""Recording runs for tests: the in-process recorder by base URL (`flux-mock record --upstream`), the pages'
gateway with its CDN on another loopback host, the unchanged base-URL app (tests/clients/base_url_app.py) and
the kit's CLI, each bounded in time; loopback only."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from contract_tests.recorded_journal import OnTheWay
from mock_server.operations import load_operations
from mock_server.recording import RecordingOptions, create_recorder
from mock_server.settings import Settings
from tests.support.foreign_server import serving
from tests.support.pages_server import PagesGateway

APP = Path(__file__).parents[1] / "clients" / "base_url_app.py"
KEY = "pages-key"


def run_app(base_url: str, **environment) -> list[dict]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "PYTHONPATH") if name in os.environ}
    finished = subprocess.run([sys.executable, str(APP)], capture_output=True, text=True, timeout=120,
                              env={**keep, "FLUX_BASE_URL": base_url, "APP_KEY": KEY, **environment})
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [json.loads(line) for line in finished.stdout.splitlines()]


@contextmanager
def recorder(out: Path, upstream: str | None, transport=None, **options):
    """The recorder served on loopback; `transport`: its upstream clients' (an httpx.MockTransport: nothing leaves
    the process)."""
    app = create_recorder(Settings(cors_origins=()), RecordingOptions(out=str(out), upstream=upstream, **options),
                          OnTheWay(load_operations()), transport=transport)
    with serving(app, lifespan="on") as url:
        yield url


@contextmanager
def pages_gateway(**options):
    """The pages' gateway on 127.0.0.1, its media on 127.0.0.2 (a CDN on another host)."""
    gateway = PagesGateway(**options)
    with serving(gateway.app) as api, serving(gateway.app, host="127.0.0.2") as cdn:
        gateway.media_base = gateway.media_base or cdn
        yield gateway, api, cdn


def entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["log"]["entries"]


def polls(seen: list[dict]) -> list[str]:
    """The statuses the app's polls saw, in order."""
    return [line["value"]["status"] for line in seen if line["kind"] == "poll"]
