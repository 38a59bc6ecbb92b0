"""The pages' constraints beyond an answer's shape, read where the spec states them ("constraint": a rule of the
pages; a "rule" is a per-test answer a test adds, mock_server/rules.py). A constraint JSON Schema can say is a
titled part of an allOf (StatusBody: "output holds the result exactly when COMPLETED"); one it cannot is
`x-flux-mock-not-before` on a schema (or a shape of it), mapping a time field to the field it may not come
before. The answer generator keeps them (and drops them, beyond the contract); the kit's checks judge them."""

NOT_BEFORE = "x-flux-mock-not-before"


def constraint_title(part) -> str | None:
    """The title of an allOf part that is one of the pages' constraints (a titled part), else None."""
    return part.get("title") if isinstance(part, dict) else None


def _top_shapes(schema):
    """The schema and the shapes it may take at the top (oneOf / anyOf / allOf branches)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, ()):
            yield from _top_shapes(branch)


def not_before_constraints(schema) -> dict[str, str]:
    """{later field: the field it may not come before} of an answer of this schema."""
    return {later: earlier for shape in _top_shapes(schema) for later, earlier in (shape.get(NOT_BEFORE) or {}).items()
            if later != "description"}
