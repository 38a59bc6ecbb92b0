"""One word for a per-test answer, "rule", another for a rule of the pages, "constraint" (issue 39, item 2): the
admin API's /__admin/rules, the config's `rules:`; their earlier name, "scenarios", still answered for one
release with a deprecation (a `Deprecation` header naming the successor; a warning for the config key)."""

import logging

import httpx
import pytest

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.exit_codes import ConfigError
from mock_server.settings import settings_from_mapping

RULE = {"match": {"operation_id": "schnellGetData"}, "outcome": {"status": 429}}


@pytest.mark.anyio
async def test_rules_live_at_admin_rules_and_the_old_path_answers_deprecated():
    transport = httpx.ASGITransport(app=create_app(clock=ManualClock()))
    async with httpx.AsyncClient(transport=transport, base_url="http://flux-mock.test") as admin:
        made = await admin.post("/__admin/rules", json=RULE)
        assert made.status_code == 201 and "deprecation" not in made.headers
        listed = await admin.get("/__admin/rules")
        assert [rule["id"] for rule in listed.json()["rules"]] == [made.json()["id"]]
        old = await admin.get("/__admin/scenarios")
        assert old.json()["scenarios"] == listed.json()["rules"]
        assert old.headers["deprecation"] == "true" and old.headers["link"] == '</__admin/rules>; rel="successor-version"'
        gone = await admin.delete(f"/__admin/scenarios/{made.json()['id']}")
        assert gone.status_code == 204 and gone.headers["link"] == '</__admin/rules/{rule_id}>; rel="successor-version"'
        assert (await admin.get("/__admin/rules")).json()["rules"] == []
        missing = await admin.delete("/__admin/rules/nothing")
        assert missing.status_code == 404 and "no rule nothing" in missing.text


def test_the_config_calls_them_rules_and_still_reads_scenarios_with_a_warning(caplog):
    assert settings_from_mapping({"rules": [RULE]}).rules == (RULE,)
    with caplog.at_level(logging.WARNING, logger="flux_mock.config"):
        assert settings_from_mapping({"scenarios": [RULE]}).rules == (RULE,)
    assert "`scenarios:` is deprecated and goes in the next release: call it `rules:`" in caplog.text
    with pytest.raises(ConfigError, match="both `rules:` and `scenarios:`"):
        settings_from_mapping({"rules": [RULE], "scenarios": [RULE]})
