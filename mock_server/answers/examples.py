"""An operation's documented examples by name (`Prefer: example=NAME`, Prism's convention): the example's
body, answered verbatim with the status it documents."""

from typing import NamedTuple

from mock_server.errors import BadRequest
from mock_server.operations import Operation


class NamedExample(NamedTuple):
    status: int
    media_type: str
    value: object


def named_examples(operation: Operation) -> dict[str, NamedExample]:
    """Every named example of the operation's answers, the lowest status first."""
    found: dict[str, NamedExample] = {}
    for code in sorted(operation.responses, key=str):
        if not code.isdigit():
            continue
        for media_type, content in (operation.responses[code].get("content") or {}).items():
            for name, example in (content.get("examples") or {}).items():
                if "value" in example:
                    found.setdefault(name, NamedExample(int(code), media_type, example["value"]))
    return found


def named_example(operation: Operation, name: str, status: int | None = None) -> NamedExample:
    """The example `name` (of `status`, if given); a 400 listing the names there are, if none has it."""
    examples = named_examples(operation)
    if status is not None:
        examples = {key: example for key, example in examples.items() if example.status == status}
    if name not in examples:
        where = f" for status {status}" if status is not None else ""
        raise BadRequest(f"Prefer: example={name[:60]} is not an example of {operation.operation_id}{where}; its "
                         f"examples: {', '.join(examples) or 'none'}")
    return examples[name]
