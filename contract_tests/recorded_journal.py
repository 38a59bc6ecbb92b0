"""A recording as the mock's journal would have it: what `report --har` judges, and what `flux-mock record`
journals on the way (`OnTheWay`). Each exchange is matched to the operation it fits best (recording_drift's
judge) and made an entry by the one constructor of recorded entries (mock_server.recorded_entries)."""

from collections import Counter

import httpx

from contract_tests.drift import response_differences

from contract_tests.recording_drift import RecordingJudge
from mock_server.har import RecordedExchange
from mock_server.bodies import job_status_in, request_id_in
from mock_server.journal_entry import JournalEntry, webhook_attempt
from mock_server.operations import key_headers
from mock_server.recorded_entries import Validators, recorded_entry


def stale_lines(operation, status: int, headers, content: bytes) -> list[str]:
    """How a recorded answer departs from the current specs (`serve --replay` journals it as stale-recording):
    the kit's own judgement, as `drift --har` makes it."""
    response = httpx.Response(status, headers=list(headers), content=content)
    return [difference.line() for difference in response_differences(operation, response)]


class OnTheWay:
    """Judges a recording's exchanges one by one, in the order they ended: each one's journal entry, with
    `drift` (how the real answer departs from the specs) and `sequence` (a poll's place among its job's polls).
    `flux-mock record` asks it of the kit for every exchange it forwards."""

    def __init__(self, operations, show_keys: bool = False) -> None:
        self._judge, self._keys, self._validators = RecordingJudge(operations), key_headers(operations), Validators()
        self._polls: Counter = Counter()
        self._show_keys = show_keys

    def __call__(self, exchange: RecordedExchange, answer: str | None = None) -> JournalEntry:
        _, operation, differences = self._judge.judge(exchange)
        if exchange.flux.get("webhook"):
            return _delivery_entry(exchange, differences)
        entry = recorded_entry(exchange, operation, self._validators, self._keys,
                               drift=[difference.line() for difference in dict.fromkeys(differences)],
                               answer=answer, show_keys=self._show_keys)
        if operation is not None and operation.is_status and entry.request_id:
            self._polls[entry.request_id] += 1
            entry = entry._replace(sequence=self._polls[entry.request_id])
        return entry


def _delivery_entry(exchange: RecordedExchange, differences) -> JournalEntry:
    """A webhook delivery `record` relayed, as the mock journals its own attempts (the app's answer its status)."""
    body = exchange.request_body
    status = job_status_in(body)
    request_id = request_id_in(body) or exchange.flux.get("requestId")
    entry = webhook_attempt(exchange.started or 0.0, exchange.url, exchange.status,
                            request_id if isinstance(request_id, str) else "", (status or "").lower(), 1,
                            None if exchange.status < 300 else f"answered {exchange.status}", "recorded delivery",
                            None)
    return entry._replace(operation_id=exchange.flux.get("operationId"),
                          drift=tuple(difference.line() for difference in dict.fromkeys(differences)))


def journal_of_recording(recorded: list[RecordedExchange], operations) -> list[JournalEntry]:
    """The recording as the mock's journal would have it, numbered from 1 (what `report --har` judges: the
    client's requests; how the server's answers drift is `drift --har`'s to say)."""
    on_the_way = OnTheWay(operations)
    return [on_the_way(exchange)._replace(seq=number, drift=()) for number, exchange in enumerate(recorded, 1)]
