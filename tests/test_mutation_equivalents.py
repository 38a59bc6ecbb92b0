"""benchmarks/mutation-equivalent.yaml, which the mutation script reads before it starts: a YAML list whose every
entry names a module of the targets, a line of it by its text (the Nth of that text with `occurrence`), the operator
and why no test can tell the mutant apart. The script finds entries by that text, as this test does."""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def test_every_equivalent_survivor_names_a_real_place_and_says_why():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from mutation import TARGETS, _place
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    targeted = {module for target in TARGETS for module in target.modules}
    entries = yaml.safe_load((ROOT / "benchmarks" / "mutation-equivalent.yaml").read_text())
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) - {"occurrence"} == {"module", "code", "operator", "reason"}, entry
        assert entry["module"] in targeted or entry["module"].rsplit("/", 1)[0] in targeted, entry
        lines = (ROOT / entry["module"]).read_text().splitlines()
        places = [_place(lines, number) for number in range(1, len(lines) + 1)]
        found = places.count((entry["code"], entry.get("occurrence", 1)))
        assert found == 1, f"{entry['module']}: no line {entry['code']!r} (occurrence {entry.get('occurrence', 1)})"
        if "occurrence" not in entry:
            assert places.count((entry["code"], 2)) == 0, f"{entry['module']}: {entry['code']!r} is not one line"
        assert entry["operator"].startswith("core/") and len(entry["reason"]) > 20, entry
