"""The docs say what the code does: every link leads somewhere, and the reference tables the code could
contradict (operation ids, the fixture's calls, exit codes) are checked against it."""

import inspect
import re
from pathlib import Path

from contract_tests.mock_client import DEPRECATED, FluxMock
from mock_server import exit_codes
from mock_server.operations import load_operations

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", text, re.M)}


def test_every_relative_link_and_anchor_in_the_docs_exists():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"\w+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no heading #{anchor} in {path or 'the page'})")
    assert broken == [], "links that lead nowhere:\n" + "\n".join(broken)


def test_the_readme_stays_a_front_page():
    size = len((ROOT / "README.md").read_bytes())
    assert size < 9_000, f"README.md is {size:,} bytes: move the detail into docs/ (guide, reference, operations)"


def test_the_operation_ids_table_is_the_specs_operations():
    table = (ROOT / "docs" / "reference" / "specs.md").read_text().split("## Operation ids")[1]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| `")]
    expected = [[op.operation_id, f"{op.method} {op.path}", op.kind, op.model_id or "-",
                 ", ".join(map(str, sorted(op.documented_statuses))), op.variant or "-", op.spec]
                for op in load_operations()]
    assert rows == expected, "docs/reference/specs.md's operation table differs from the specs"


def test_the_fixture_table_names_every_call_of_flux_mock_and_its_parts_and_teaches_no_deprecated_one():
    guide = (ROOT / "docs" / "guide" / "testing-your-client.md").read_text()
    public = [name for name, _ in inspect.getmembers(FluxMock, inspect.isfunction) if not name.startswith("_")]
    verbs = [name for name in public if name not in DEPRECATED and name not in ("close", "kept_from_fuzzing")]
    missing = [name for name in verbs if f"`{name}(" not in guide]
    assert missing == [], f"the fixture's calls the testing guide does not name: {missing}"
    mock = FluxMock("http://127.0.0.1:9")
    for part in ("rules", "clock", "wallets", "timing", "jobs", "journal"):
        calls = [name for name, _ in inspect.getmembers(type(getattr(mock, part)), inspect.isfunction)
                 if not name.startswith("_") and name != "again_after_reset"]
        row = next(line for line in guide.splitlines() if line.startswith(f"| `flux_mock.{part}` |"))
        assert [name for name in calls if f"`{name}(" not in row] == [], f"flux_mock.{part}: {row}"
    mock.close()
    examples = "".join(re.findall(r"```python\n(.*?)```", guide, re.S))
    taught = [name for name in DEPRECATED if re.search(rf"flux_mock\.{name}\(", examples)]
    assert taught == [], f"the guide's examples teach deprecated calls: {taught}"


def test_the_exit_codes_page_gives_each_code_its_name():
    page = (ROOT / "docs" / "reference" / "exit-codes.md").read_text()
    rows = dict(re.findall(r"^\| (\d) \| (\w+) \|", page, re.M))
    codes = {"clean": exit_codes.CLEAN, "failed": exit_codes.FAILED, "usage": exit_codes.USAGE,
             "unreachable": exit_codes.UNREACHABLE, "nothing_tested": exit_codes.NOTHING_TESTED}
    assert {int(code): name for code, name in rows.items()} == {code: name for name, code in codes.items()}


def test_every_variant_and_fault_name_the_tools_print_is_in_the_scenarios_guide():
    """Coverage, the journal and `report` print these names; a user who meets one finds it in the guide."""
    from mock_server.chaos import FAULTS
    from mock_server.operations import variant_names

    guide = (ROOT / "docs" / "guide" / "scenarios.md").read_text()
    missing = [f"variant={name}" for name in variant_names(load_operations()) if f"variant={name}`" not in guide]
    missing += [f"chaos {name}" for name in FAULTS if f"`{name}`" not in guide and f"chaos={name}`" not in guide]
    assert missing == [], f"named by the tools but not in docs/guide/scenarios.md: {missing}"


def test_every_verdict_and_outcome_name_the_tools_print_is_in_the_docs():
    """Issue 39, item 5: each client finding `report` can print, each difference `drift` can print (with its
    severity) and each field of a rule's outcome is named in the docs."""
    from contract_tests.differences import SEVERITY
    from mock_server import client_checks
    from mock_server.operations.documents import load_bundled

    page = (ROOT / "docs" / "reference" / "verdicts.md").read_text()
    findings = set(re.findall(r'_finding\("([a-z-]+)"', Path(client_checks.__file__).read_text()))
    listed = dict(re.findall(r"^\| `([a-z-]+)` \| (.+?) \|", page.split("## Differences")[0], re.M))
    assert findings == set(listed), f"findings the code makes / the page lists differ: {findings ^ set(listed)}"
    differences = dict(re.findall(r"^\| `([a-z-]+)` \| (breaking|risky|info) \|", page, re.M))
    assert differences == SEVERITY, "docs/reference/verdicts.md's differences and severities differ from the code's"
    guide = (ROOT / "docs" / "guide" / "scenarios.md").read_text()
    outcome = load_bundled("admin.yaml")["components"]["schemas"]["Outcome"]["properties"]
    assert [name for name in outcome if f"`{name}`" not in guide] == [], "a rule outcome the guide does not name"
