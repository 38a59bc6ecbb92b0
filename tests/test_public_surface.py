"""The kit's public surface is pinned (issue 39, item 4), as httpx pins its `__all__`: a name that appears or goes
fails here until this list and docs/reference/kit.md say so."""

import re
from pathlib import Path

import contract_tests

PUBLIC = ["ClientDidNotFinish", "ClockControl", "FluxMock", "FluxMockContainer", "Jobs", "Journal", "JournalEntry",
          "Received", "RecordedRequest", "Rule", "Rules", "TimingControl", "Wallets", "WebhookReceiver", "Webhooks",
          "answers", "running_mock", "webhook_receiver"]
PAGE = Path(__file__).parents[1] / "docs" / "reference" / "kit.md"


def test_the_kits_all_is_the_pinned_list():
    assert contract_tests.__all__ == PUBLIC


def test_every_public_name_imports_and_says_what_it_is():
    for name in PUBLIC:
        value = getattr(contract_tests, name)
        assert (getattr(value, "__doc__", None) or "").strip(), f"contract_tests.{name} has no docstring"


def test_the_reference_page_lists_exactly_the_public_names():
    rows = re.findall(r"^\| `(\w+)` \|", PAGE.read_text(), re.MULTILINE)
    assert rows == PUBLIC, "docs/reference/kit.md's table differs from contract_tests.__all__"


def test_a_name_not_public_is_not_reachable_from_the_package():
    assert "Difference" not in dir(contract_tests)
    try:
        contract_tests.Difference  # noqa: B018 - the lookup is the test
    except AttributeError as error:
        assert "no attribute 'Difference'" in str(error)
    else:
        raise AssertionError("contract_tests.Difference resolved: only __all__'s names may")
