"""The values an answer holds where its schema marks a fact (`x-flux-mock-fact`): its media URLs and polling URL
are the documented URL fields of the gateway's answers, the only URLs the recorder lets an app follow to
another host. Walked by the schema, so a URL anywhere else in an answer (an extra field, a prompt) names
nothing."""

FACT = "x-flux-mock-fact"
URL_FACTS = frozenset({"media_url", "polling_url"})
_BRANCHES = ("oneOf", "anyOf", "allOf")


def fact_values(schema, body, facts=URL_FACTS) -> list:
    """Every value of `body` at a place its schema marks as one of `facts`, in document order."""
    found: list = []
    _walk(schema, body, frozenset(facts), found, 0)
    return list(dict.fromkeys(value for value in found if isinstance(value, str)))


def _walk(schema, body, facts: frozenset, found: list, depth: int) -> None:
    if not isinstance(schema, dict) or depth > 32:
        return
    if schema.get(FACT) in facts:
        found.append(body)
    for key in _BRANCHES:
        for branch in schema.get(key) or ():
            _walk(branch, body, facts, found, depth + 1)
    if isinstance(body, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in body:
                _walk(sub, body[name], facts, found, depth + 1)
    elif isinstance(body, list) and isinstance(schema.get("items"), dict):
        for item in body[:1000]:
            _walk(schema["items"], item, facts, found, depth + 1)
