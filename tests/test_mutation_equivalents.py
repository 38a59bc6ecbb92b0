"""benchmarks/mutation-equivalent.yaml, which the mutation script reads before it starts: a YAML list whose every
entry names a module of the targets, a line inside it, the operator and why no test can tell the mutant apart."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def test_every_equivalent_survivor_names_a_real_place_and_says_why():
    entries = yaml.safe_load((ROOT / "benchmarks" / "mutation-equivalent.yaml").read_text())
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) == {"module", "line", "operator", "reason"}, entry
        source = ROOT / entry["module"]
        assert source.is_file(), entry
        assert 1 <= entry["line"] <= len(source.read_text().splitlines()), entry
        assert entry["operator"].startswith("core/") and len(entry["reason"]) > 20, entry
