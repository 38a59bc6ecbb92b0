"""The schema an answer is drawn from: the spec's response schema, with the call's facts pinned.

Where the spec marks a property `x-flux-mock-fact` (request_id, model_id, media_url, polling_url, and the
media's media_type, media_width, media_height), the drawn value is a placeholder that `pin_facts` replaces by
the call's own value, so the job's id polls, its media download and are what the answer says they are. A `job_status` fact is narrowed to the one status the answer reports; a shape
that cannot report it (`x-flux-mock-job-status` names another, or its status field has no such value)
drops out of its oneOf / anyOf. A fact the call does not have (a request id on a sync call) removes
the optional property that would carry it, and the shapes that require it.

A shape marked `x-flux-mock-variant` is drawn only for that named response variant (Schnell getData's status
table bodies), and a variant with shapes of its own draws from those alone. The times the spec orders
(`x-flux-mock-not-before`) are put on the job's own clock by `in_time_order`.

Objects are drawn closed: the documented fields only, each optional one present or not. Undocumented
extra fields come from `extra_fields`, at the top level, with names no shape of the answer documents
(an extra `status` on a fal result would be a different answer, not an unusual one).
"""

import secrets
from typing import NamedTuple

from hypothesis import strategies as st

from mock_server.clock import iso
from mock_server.operations.constraints import constraint_title, not_before_constraints

FACT = "x-flux-mock-fact"
REPORTS = "x-flux-mock-job-status"
VARIANT = "x-flux-mock-variant"  # a shape only the named response variant answers with
JOB_STATUS = "job_status"
FACTS = ("request_id", "model_id", "media_url", "polling_url", "media_type", "media_width", "media_height")
# Made at start-up, not written here: hypothesis draws text from the literals in a program's source.
_PLACEHOLDERS = {f"<{fact} {secrets.token_hex(6)}>": fact for fact in FACTS}
_PLACEHOLDER_OF = {fact: token for token, fact in _PLACEHOLDERS.items()}
_DROPPED_KEYWORDS = ("description", "example", "examples", "title", "readOnly", "writeOnly")


def placeholder(fact: str) -> str:
    return _PLACEHOLDER_OF[fact]


class _Unsatisfiable(Exception):
    """This shape cannot carry the answer's status or facts."""


def _status_values(node: dict) -> list:
    return list(node["enum"]) if "enum" in node else [node["const"]] if "const" in node else []


def _nodes(schema):
    """The schema and every schema inside it (properties, oneOf / anyOf / allOf branches, items)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key, value in schema.items():
        if key == "properties":
            children = value.values()
        elif key in ("oneOf", "anyOf", "allOf"):
            children = value
        else:
            children = (value,) if key == "items" else ()
        for child in children:
            yield from _nodes(child)


def reported_statuses(schema) -> list[str]:
    """The job statuses (upper case, document order) an answer of this schema can report; [] if none."""
    found: list[str] = []
    for node in _nodes(schema):
        if node.get(FACT) == JOB_STATUS:
            found += [str(value).upper() for value in _status_values(node)]
        if REPORTS in node:
            found.append(node[REPORTS])
    return list(dict.fromkeys(found))


def draw_schema(schema: dict, job_status: str | None, facts: frozenset[str], variant: str | None = None,
                beyond_contract: bool = False) -> dict | None:
    """The schema to draw from, for an answer reporting `job_status` with these facts known, as the operation
    answers under `variant` (None: its default; a shape marked `x-flux-mock-variant` is only that variant's);
    None if no shape of `schema` can. `beyond_contract`: without the spec's titled rules (allOf parts), so the
    answers may break them (COMPLETED without media, an error on COMPLETED...): a named mode, never the default."""
    try:
        return _pinned(without_rules(schema) if beyond_contract else schema, _Wanted(job_status, facts, variant))
    except _Unsatisfiable:
        return None


def without_rules(node):
    """The schema without the spec's titled rules (the allOf parts with a title), at any depth."""
    if isinstance(node, list):
        return [without_rules(item) for item in node]
    if not isinstance(node, dict):
        return node
    stripped = {key: without_rules(value) for key, value in node.items() if key != "allOf"}
    kept = [without_rules(part) for part in node.get("allOf", ()) if constraint_title(part) is None]
    return {**stripped, "allOf": kept} if kept else stripped


class _Wanted(NamedTuple):
    job_status: str | None
    facts: frozenset[str]
    variant: str | None


def _pinned(node, wanted: _Wanted, closed: bool = True):
    """`closed`: an object node drawn with its documented fields only; not for an allOf part (a rule over some
    fields of the object it is part of: closed, it would forbid all the others)."""
    if not isinstance(node, dict):
        return node
    job_status, facts = wanted.job_status, wanted.facts
    fact = node.get(FACT)
    if fact == JOB_STATUS:
        return _status_node(node, job_status)
    if fact:
        if fact not in facts:
            raise _Unsatisfiable(fact)
        return {"const": placeholder(fact)}
    if job_status is not None and node.get(REPORTS, job_status) != job_status:
        raise _Unsatisfiable(node[REPORTS])
    if node.get(VARIANT, wanted.variant) != wanted.variant:
        raise _Unsatisfiable(node[VARIANT])
    pinned = {}
    for key, value in node.items():
        if key.startswith("x-") or key in _DROPPED_KEYWORDS:
            continue
        if key == "properties":
            pinned[key] = _properties(value, set(node.get("required", ())), wanted)
        elif key in ("oneOf", "anyOf"):
            pinned[key] = _branches(value, wanted)
        elif key == "allOf":
            pinned[key] = [_pinned(part, wanted, closed=False) for part in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            pinned[key] = _pinned(value, wanted)
        else:
            pinned[key] = value
    if "properties" in pinned and closed:
        pinned.setdefault("additionalProperties", False)
    return pinned


def _status_node(node: dict, job_status: str | None) -> dict:
    values = _status_values(node)
    if job_status is not None:
        values = [value for value in values if str(value).upper() == job_status]
    if not values:
        raise _Unsatisfiable(job_status)
    return {"enum": values}


def _properties(properties: dict, required: set, wanted: _Wanted) -> dict:
    kept = {}
    for name, sub in properties.items():
        try:
            kept[name] = _pinned(sub, wanted)
        except _Unsatisfiable:
            if name in required:
                raise
    return kept


def _branches(branches: list, wanted: _Wanted) -> list:
    """The shapes an answer may take: those the call's job status and facts allow, and of those marked with a
    variant, only the call's; a variant with shapes of its own answers with those alone."""
    own = [branch for branch in branches if isinstance(branch, dict) and wanted.variant is not None
           and branch.get(VARIANT) == wanted.variant]
    kept = []
    for branch in own or branches:
        try:
            kept.append(_pinned(branch, wanted))
        except _Unsatisfiable:
            continue
    if not kept:
        raise _Unsatisfiable("no shape")
    return kept


def documented_names(schema) -> frozenset[str]:
    """Every property name any shape of the schema documents."""
    return frozenset(name for node in _nodes(schema) for name in node.get("properties", {}))


_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=40))
_JSON = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=6)


def extra_fields(documented: frozenset[str]) -> st.SearchStrategy[dict]:
    """Undocumented fields an answer may carry besides its documented ones (none, when shrunk)."""
    names = st.text(min_size=1, max_size=20).filter(lambda name: name not in documented)
    return st.dictionaries(names, _JSON, max_size=3)


def pin_facts(value, facts: dict):
    """The drawn value with every placeholder replaced by the call's fact (media URLs taken in turn)."""
    media = list(facts.get("media_url") or ())
    turn = iter(range(1 << 30))

    def pinned(node):
        if isinstance(node, dict):
            return {key: pinned(item) for key, item in node.items()}
        if isinstance(node, list):
            return [pinned(item) for item in node]
        name = _PLACEHOLDERS.get(node) if isinstance(node, str) else None
        if name is not None:
            return media[next(turn) % len(media)] if name == "media_url" else facts[name]
        return node
    return pinned(value)


def in_time_order(schema, body, facts: dict, draw) -> object:
    """The drawn answer with its times on the job's own clock, in the order the spec's `x-flux-mock-not-before`
    asks: a field no rule puts after another (created_at) is the job's `created_at` fact, each later one a
    moment drawn between it and the answer's (`answered_at`). Nulls stay null; without the facts, unchanged."""
    rules = not_before_constraints(schema)
    start, end = facts.get("created_at"), facts.get("answered_at")
    if not rules or not isinstance(body, dict) or start is None or end is None:
        return body
    timed = dict(body)
    for name in dict.fromkeys([*rules.values(), *rules]):
        if not isinstance(timed.get(name), str):
            continue
        earlier = rules.get(name)
        if earlier is None:
            timed[name] = iso(start)
        else:  # a share of the job's time so far: the strategy is the same whatever the clock says (hypothesis
            # replays a failing example's choices, and a strategy that moved with the clock would not replay)
            share = draw(st.floats(min_value=0.0, max_value=1.0), f"{name} (share of the job's time so far)")
            timed[name] = iso(start + share * max(0.0, end - start))
    return timed
