"""The spec's rules JSON Schema cannot say, read where the spec states them: `x-flux-mock-not-before` on a
schema (or a shape of it) maps a time field to the field it may not come before (StatusBody: completed_at and
updated_at not before created_at). The answer generator keeps them; the kit's checks judge them."""

NOT_BEFORE = "x-flux-mock-not-before"


def _top_shapes(schema):
    """The schema and the shapes it may take at the top (oneOf / anyOf / allOf branches)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, ()):
            yield from _top_shapes(branch)


def not_before_rules(schema) -> dict[str, str]:
    """{later field: the field it may not come before} of an answer of this schema."""
    return {later: earlier for shape in _top_shapes(schema) for later, earlier in (shape.get(NOT_BEFORE) or {}).items()
            if later != "description"}
