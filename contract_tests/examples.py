"""The documented examples of the specs, and their copies as fixture files.

Fixtures are exported from the specs (the specs are the truth) so users and tests can replay them:
`fixtures/<operationId>/request.<name>.json` and `fixtures/<operationId>/response.<status>.<name>.json`.
Run `python -m contract_tests.examples` to write them again after changing a spec.
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from mock_server.resources import fixtures_dir
from mock_server.operations import VENDOR_SPECS, load_bundled
from mock_server.operations.model import HTTP_METHODS
from mock_server.store.records import WEBHOOK_BODY_FIELDS


@dataclass(frozen=True)
class Example:
    operation_id: str
    direction: str
    status: int | None
    name: str
    value: object

    @property
    def relative_path(self) -> str:
        middle = f".{self.status}" if self.status is not None else ""
        return f"{self.operation_id}/{self.direction}{middle}.{self.name}.json"


def _named(media: dict) -> dict:
    return {name: example["value"] for name, example in (media.get("examples") or {}).items()}


def _examples_of(operation: dict) -> list[Example]:
    op_id = operation["operationId"]
    request = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
    found = [Example(op_id, "request", None, name, value) for name, value in _named(request).items()]
    for status, response in operation.get("responses", {}).items():
        media = (response.get("content") or {}).get("application/json", {})
        found += [Example(op_id, "response", int(status), name, value) for name, value in _named(media).items()]
    return found


def documented_examples(specs=VENDOR_SPECS) -> list[Example]:
    """Every request and response example of the vendor specs, in document order."""
    found = []
    for spec in specs:
        for path_item in load_bundled(spec).get("paths", {}).values():
            for method in HTTP_METHODS:
                if method in path_item:
                    found += _examples_of(path_item[method])
    return found


def request_example(operation_id: str):
    """The operation's last documented request example (the pages list the fullest last), or None."""
    found = [e.value for e in documented_examples() if e.operation_id == operation_id and e.direction == "request"]
    return found[-1] if found else None


def with_webhook(body, url: str):
    """The request body with its documented webhook URL fields (placeholders such as your-domain.com)
    pointed at `url` instead."""
    if not isinstance(body, dict):
        return body
    return {name: (url if name in WEBHOOK_BODY_FIELDS else value) for name, value in body.items()}


def render(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_fixtures(destination: Path) -> list[Path]:
    written = []
    for example in documented_examples():
        target = destination / example.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(example.value), encoding="utf-8")
        written.append(target)
    return written


def read_fixtures(source: Path | None = None) -> dict[str, object]:
    """The fixture files under `source` (the shipped fixtures by default), by relative path."""
    source = source or fixtures_dir()
    return {
        path.relative_to(source).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(source.glob("*/*.json"))
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else fixtures_dir()
    print(f"wrote {len(write_fixtures(target))} fixtures to {target}")
