"""benchmarks/mutation-equivalent.yaml, which the mutation script reads before it starts: a YAML list whose every
entry names a module of the targets, a line of it by its text (the Nth of that text with `occurrence`), the operator
and why no test can tell the mutant apart (`mutant`: which of the line's mutants, where its operator makes several).
The script finds entries by that text, as this test does."""

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
        assert set(entry) - {"occurrence", "mutant"} == {"module", "code", "operator", "reason"}, entry
        if "mutant" in entry:  # one of the line's mutants: another line than the code's
            assert "".join(entry["mutant"].split()) != "".join(entry["code"].split()), entry
        assert entry["module"] in targeted or entry["module"].rsplit("/", 1)[0] in targeted, entry
        lines = (ROOT / entry["module"]).read_text().splitlines()
        places = [_place(lines, number) for number in range(1, len(lines) + 1)]
        found = places.count((entry["code"], entry.get("occurrence", 1)))
        assert found == 1, f"{entry['module']}: no line {entry['code']!r} (occurrence {entry.get('occurrence', 1)})"
        if "occurrence" not in entry:
            assert places.count((entry["code"], 2)) == 0, f"{entry['module']}: {entry['code']!r} is not one line"
        assert entry["operator"].startswith("core/") and len(entry["reason"]) > 20, entry
    judged = [(e["module"], e["code"], e.get("occurrence", 1), e["operator"], e.get("mutant")) for e in entries]
    assert len(set(judged)) == len(judged), "one mutant judged twice: " + repr(
        [place for place in set(judged) if judged.count(place) > 1])


def test_an_entry_naming_one_mutant_of_a_line_excuses_that_one_only():
    """NumberReplacer makes two mutants of a number (one up, one down) under one operator name: run 5 excused a
    killable one (a floor of 1 s) by the entry written for the other (a floor of -1 s)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from mutation import _reason
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    entry = {"module": "m.py", "code": "x = max(0.0, y)", "operator": "core/NumberReplacer", "mutant": "x = max(-1.0, y)",
             "reason": "a floor of -1 is never reached"}

    def judged(entries, mutated: str):
        diff = f"--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = max(0.0, y)\n+{mutated}\n"
        return _reason(entries, "m.py", ("x = max(0.0, y)", 1), "core/NumberReplacer", diff)

    assert judged([entry], "x = max(-1.0, y)") == entry["reason"]
    assert judged([entry], "x = max( 1.0, y)") is None
    unnamed = {key: value for key, value in entry.items() if key != "mutant"}
    assert judged([unnamed], "x = max( 1.0, y)") == entry["reason"], "without `mutant`, every mutant of the line"
