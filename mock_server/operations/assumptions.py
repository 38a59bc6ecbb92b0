"""What the spec assumes beyond the pages, read where the spec marks it: `x-assumed: [keyword, ...]` on a schema
(or a header object) lists its keywords no page states (a minimum of 1 for `num_steps`, `format: uri` on an
image URL, a required Retry-After), beside the `x-assumption` that says why.

The pages' constraints are the spec without those keywords (`pages_only`): `flux-mock check` generates and judges by
them, so it never fails a server for an assumption. The mock validates by them too, and journals a request
that breaks only an assumption as a leniency (a lenient gateway would take it); `assumed_constraints` lists
each assumption of a request, for the notes `check` reports apart ("accepts num_steps 0; the pages state no
minimum")."""

import copy
from dataclasses import dataclass

ASSUMED = "x-assumed"
_BRANCHES = ("oneOf", "anyOf", "allOf")


def pages_only(node):
    """A copy of a spec (or any part of one) without the keywords its `x-assumed` markers list."""
    if isinstance(node, list):
        return [pages_only(item) for item in node]
    if not isinstance(node, dict):
        return node
    dropped = set(node.get(ASSUMED) or ())
    return {key: pages_only(value) for key, value in node.items() if key not in dropped and key != ASSUMED}


def has_assumptions(node) -> bool:
    if isinstance(node, list):
        return any(has_assumptions(item) for item in node)
    return isinstance(node, dict) and (ASSUMED in node or any(has_assumptions(value) for value in node.values()))


@dataclass(frozen=True)
class Assumed:
    """One assumed keyword of a request schema: where (a dotted field path, `[]` for list items), which keyword,
    its value, and why (the x-assumption text)."""

    field: str
    keyword: str
    value: object
    why: str

    def line(self) -> str:
        return f"{self.field}: {self.keyword} {self.value!r} is this spec's assumption, not the pages'"


def assumed_constraints(schema, path: str = "") -> list[Assumed]:
    """Every assumed keyword of a schema, with its field path, in document order."""
    found: list[Assumed] = []
    if not isinstance(schema, dict):
        return found
    for keyword in schema.get(ASSUMED) or ():
        if keyword in schema:
            found.append(Assumed(path, keyword, copy.deepcopy(schema[keyword]),
                                 " ".join(str(schema.get("x-assumption", "")).split())))
    for name, sub in (schema.get("properties") or {}).items():
        found += assumed_constraints(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        found += assumed_constraints(schema["items"], f"{path}[]")
    for key in _BRANCHES:
        for branch in schema.get(key) or ():
            found += assumed_constraints(branch, path)
    return found
