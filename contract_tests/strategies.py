"""Hypothesis strategies for each operation's answers, for unit tests of a client's parsing without HTTP:

    from contract_tests import strategies

    @given(strategies.answers("getRequestStatus"))
    def test_parse_status(body):
        parse_status(body)  # must not raise on anything the spec allows

The same generator the mock uses for `Prefer: dynamic=true` and `fuzz_client`: spec-valid, deliberately
unusual answers; ids and media URLs are sample values (`facts=` gives your own).
"""

from hypothesis import strategies as st

from mock_server.answers.flows import JobFlows
from mock_server.answers.call import Call
from mock_server.answers.generator import spec_generator
from mock_server.operations import load_operations

SAMPLE_FACTS = {"request_id": "flux-dev_019d42ce-ae71-7999-a4c9-5d76447ecafb", "model_id": "flux-dev",
                "media_url": ["https://example.com/media/0123456789abcdef/1024x1024-0.png"],
                "polling_url": "https://example.com/v2/requests/status/flux-dev_019d42ce-ae71-7999-a4c9-5d76447ecafb"}

def operation_ids() -> list[str]:
    return [op.operation_id for op in load_operations()]


def answers(operation_id: str, status: int = 200, facts: dict | None = None, variant: str | None = None
            ) -> st.SearchStrategy:
    """Answer bodies of `operation_id` for HTTP `status`, any job status the answer may report, as the operation
    answers by default (or as its named response `variant`)."""
    generator = spec_generator()
    if not generator.generates(operation_id, status):
        known = ", ".join(operation_ids())
        raise ValueError(f"{operation_id} documents no JSON answer for status {status} (operations: {known})")
    call = Call(operation_id, status, SAMPLE_FACTS if facts is None else facts, variant)

    @st.composite
    def drawn(draw):
        return generator.answer(call, lambda strategy, label=None: draw(strategy), JobFlows())[0]
    return drawn()
