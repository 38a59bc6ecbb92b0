"""Settings: the config file's sections, and the JSON hand-over to --workers processes."""

import pytest

from mock_server.exit_codes import ConfigError
from mock_server.jobs.timing import Timing
from mock_server.settings import KeyConfig, Settings, settings_from_mapping


def test_config_sections_reach_the_settings():
    settings = settings_from_mapping({
        "store": "redis://127.0.0.1:6379/2", "min_poll_interval": 7,
        "webhooks": {"allowed_hosts": ["hooks.test"], "max_attempts": 2, "backoff": 0.5, "timeout": 3},
        "keys": {"a": {"balance": 2, "models": ["flux-dev"], "rate_limit": 4}, "b": None},
    })
    assert settings.store == "redis://127.0.0.1:6379/2" and settings.min_poll_interval == 7
    assert (settings.webhook_allowed_hosts, settings.webhook_max_attempts) == (("hooks.test",), 2)
    assert settings.keys == {"a": KeyConfig(2, ("flux-dev",), 4), "b": KeyConfig()}


@pytest.mark.parametrize("config, where", [({"store": "mysql://x"}, "store"),
                                           ({"webhooks": {"max_attempts": 0}}, "webhooks.max_attempts"),
                                           ({"timing": {"queued_for": 1e308}}, "timing.queued_for"),
                                           ({"keys": {"k": {"balance": 1e300}}}, "keys.k.balance")])
def test_bad_sections_name_the_field(config, where):
    with pytest.raises(ConfigError, match=where):
        settings_from_mapping(config)


def test_settings_survive_the_json_hand_over_to_workers():
    settings = Settings(timing=Timing(mode="per-poll", queued_for=0.5), keys={"k": KeyConfig(1.5, ("m",), 2.0)},
                        variants=("getdata-job",), rules=({"outcome": {"status": 500}, "times": 1},),
                        webhook_allowed_hosts=("*.test",), store="redis://127.0.0.1:1/0", strict=True)
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize("entry, problem", [
    ("hooks.test", None), ("*.ci.internal", None), ("127.0.0.2", None), ("192.0.2.0/24", None), ("2001:db8::/32", None),
    ("192.0.2.0/99", "is neither a host name nor a CIDR network (a URL? give its host only)"),
    ("*.192.0.2.7", "is a wildcard of an address"),
    ("*", "is not a host name, a *.suffix"), ("hooks_test", "is not a host name, a *.suffix"),
    ("-hooks.test", "is not a host name, a *.suffix"),
])
def test_each_allowed_hosts_entry_is_a_name_a_suffix_or_a_network_else_the_config_names_it(entry, problem):
    """docs/guide/webhooks.md: webhooks.allowed_hosts takes host names, `*.suffix` patterns and CIDR networks; an
    entry that can match nothing as meant stops the start naming the entry and why."""
    config = {"webhooks": {"allowed_hosts": [entry]}}
    if problem is None:
        assert settings_from_mapping(config).webhook_allowed_hosts == (entry,)
    else:
        with pytest.raises(ConfigError) as refused:
            settings_from_mapping(config)
        assert f"webhooks.allowed_hosts: {entry!r} {problem}" in str(refused.value)
