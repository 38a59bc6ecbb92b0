"""flux-mock's contract-test kit: the pytest plugin's fixtures (`flux_mock`, `make_flux_mock`,
`flux_mock_webhooks`, the `flux_mock` marker), the mock driven from a test (`FluxMock` and its typed parts),
webhooks in a test, hypothesis strategies of the spec's answers, and a mock in a container.

The names in `__all__` are the kit's public surface, stable across minor releases (docs/reference/kit.md lists
them; tests/test_public_surface.py fails when one appears or goes). Everything else, modules included, is the
kit's own and may change. Names are imported when first used, so `import contract_tests` stays cheap.
"""

import importlib

__all__ = [
    "ClientDidNotFinish",
    "ClockControl",
    "FluxMock",
    "FluxMockContainer",
    "Jobs",
    "Journal",
    "JournalEntry",
    "Received",
    "RecordedRequest",
    "Rule",
    "Rules",
    "TimingControl",
    "Wallets",
    "WebhookReceiver",
    "Webhooks",
    "answers",
    "running_mock",
    "webhook_receiver",
]

_WHERE = {
    "ClientDidNotFinish": "contract_tests.fuzzing",
    "ClockControl": "contract_tests.mock_client",
    "FluxMock": "contract_tests.mock_client",
    "FluxMockContainer": "contract_tests.containers",
    "Jobs": "contract_tests.mock_client",
    "Journal": "contract_tests.mock_client",
    "JournalEntry": "mock_server.journal_entry",
    "Received": "contract_tests.receiver",
    "RecordedRequest": "contract_tests.verification",
    "Rule": "contract_tests.mock_client",
    "Rules": "contract_tests.mock_client",
    "TimingControl": "contract_tests.mock_client",
    "Wallets": "contract_tests.mock_client",
    "WebhookReceiver": "contract_tests.receiver",
    "Webhooks": "contract_tests.receiver",
    "answers": "contract_tests.strategies",
    "running_mock": "contract_tests.process",
    "webhook_receiver": "contract_tests.receiver",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'contract_tests' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
