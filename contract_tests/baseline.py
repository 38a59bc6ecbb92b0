"""A recording against a baseline recording: what changed between the two, operation by operation (statuses,
fields and their types, error codes, how long jobs took). An operation only one of them reaches is not
compared: a recording of other traffic is no drift."""

import statistics
from dataclasses import dataclass, field

from contract_tests.checks import is_final
from contract_tests.differences import Difference
from contract_tests.drift import type_name
from contract_tests.urls import url_shapes
from mock_server.har import RecordedExchange
from mock_server.operations import Operation
from mock_server.recorded_entries import job_of

# A job duration (median) is drift beyond this fraction of the baseline's and this many seconds.
TIMING_TOLERANCE, TIMING_SLACK = 0.5, 1.0

Matched = tuple[RecordedExchange, Operation | None, list]


def _fields(value, path: str = "body"):
    """(field path, JSON type) of every value in an answer body, list items as `[]`."""
    yield path, type_name(value)
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _fields(item, f"{path}.{name}")
    elif isinstance(value, list):
        for item in value:
            yield from _fields(item, f"{path}[]")


@dataclass
class Shape:
    """What one operation's recorded answers looked like: statuses, field types, error codes, and (a submit's)
    how long its jobs took from the submit to the first poll that saw them final."""

    statuses: set
    fields: dict
    codes: set
    durations: list = field(default_factory=list)
    urls: set = field(default_factory=set)  # (field, host, path layout) of its answers' URLs


def _job_durations(matched: list[Matched], found: dict[str, Shape]) -> None:
    submitted: dict[str, tuple[str, float]] = {}  # job -> (its submit operation, when it was sent)
    for exchange, operation, _ in matched:
        body = exchange.json()
        if operation is None or exchange.started is None or not isinstance(body, dict):
            continue
        job = job_of(exchange, operation)
        if operation.starts_job and job and job not in submitted:
            submitted[job] = (operation.operation_id, exchange.started)
        elif operation.is_status and job in submitted and is_final(body):
            name, started = submitted.pop(job)
            found[name].durations.append(exchange.started - started)


def shapes(matched: list[Matched]) -> dict[str, Shape]:
    found = {}
    for exchange, operation, _ in matched:
        if operation is None:
            continue
        shape = found.setdefault(operation.operation_id, Shape(set(), {}, set()))
        shape.statuses.add(exchange.status)
        body = exchange.json()
        if body is None:
            continue
        for path, kind in _fields(body):
            shape.fields.setdefault(path, set()).add(kind)
        shape.urls |= url_shapes(operation, exchange.status, body, exchange.url)
        if exchange.status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), str):
            shape.codes.add(body["error"])
    _job_durations(matched, found)
    return found


def _timing_change(name: str, before: list[float], after: list[float]) -> list[Difference]:
    """A job duration whose median moved beyond TIMING_TOLERANCE (and TIMING_SLACK seconds) from the baseline's."""
    if not before or not after:
        return []
    was, now = statistics.median(before), statistics.median(after)
    if abs(now - was) <= max(TIMING_SLACK, was * TIMING_TOLERANCE):
        return []
    return [Difference(name, "timing-changed", "job duration (submit to the first final poll)",
                       f"{was:.1f} s (baseline median of {len(before)}, within {TIMING_TOLERANCE:.0%} or "
                       f"{TIMING_SLACK:g} s)", f"{now:.1f} s ({'slower' if now > was else 'faster'}, median of "
                       f"{len(after)})")]


def _url_changes(name: str, before: set, after: set) -> list[Difference]:
    """URLs of a field whose host or path layout is new against the baseline (a moved polling_url, media on
    another host), named with where the baseline's led."""
    if not before or not after:
        return []
    found = []
    for field_name, host, layout in sorted(after - before):
        was = sorted(f"{where}{path}" for kind, where, path in before if kind == field_name)
        if was:
            found.append(Difference(name, "url-changed", f"body {field_name}", f"{', '.join(was)} (baseline)",
                                    f"{host}{layout}"))
    return found


def _listed(values) -> str:
    return ", ".join(sorted(map(str, values))) or "none"


def changes(old: dict[str, Shape], new: dict[str, Shape]) -> list[Difference]:
    """What changed from the baseline recording's shapes to this one's, operation by operation."""
    found = []
    for name in [name for name in new if name in old]:
        before, after = old[name], new[name]
        found += [Difference(name, "status-added", "status", f"one of {_listed(before.statuses)} (baseline)",
                             str(status)) for status in sorted(after.statuses - before.statuses)]
        found += [Difference(name, "status-gone", "status", f"{status} (baseline)", "never answered")
                  for status in sorted(before.statuses - after.statuses)]
        for path in dict.fromkeys([*before.fields, *after.fields]):
            was, now = before.fields.get(path), after.fields.get(path)
            if was is None:
                found.append(Difference(name, "field-added", path, "absent (baseline)", _listed(now)))
            elif now is None:
                found.append(Difference(name, "field-gone", path, f"{_listed(was)} (baseline)", "absent"))
            elif was != now:
                found.append(Difference(name, "type-changed", path, f"{_listed(was)} (baseline)", _listed(now)))
        found += _timing_change(name, before.durations, after.durations)
        found += _url_changes(name, before.urls, after.urls)
        if before.codes and after.codes and before.codes != after.codes:
            found.append(Difference(name, "error-codes-changed", "error", f"{_listed(before.codes)} (baseline)",
                                    _listed(after.codes)))
    return found
