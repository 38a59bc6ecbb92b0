"""The wheel ships the specs and fixtures, so an installed flux-mock works from any directory."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_specs_fixtures_and_the_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("flux_mock-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in ("flux.yaml", "flux-pro-legacy.yaml", "public-clients.yaml", "admin.yaml"):
        assert f"mock_server/_data/openapi/{spec}" in names
    fixtures = {name for name in names if name.startswith("mock_server/_data/fixtures/")}
    assert len(fixtures) == len(list((ROOT / "fixtures").glob("*/*.json")))
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "flux-mock = mock_server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        assert f"mock_server/static/swagger-ui/{asset}" in names, "the docs page works from an installed wheel"
    for asset in ("index.html", "dashboard.js", "dashboard.css"):
        assert f"mock_server/static/dashboard/{asset}" in names, "the dashboard works from an installed wheel"
