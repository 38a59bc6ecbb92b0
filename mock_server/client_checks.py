"""Judging a client by its traffic: what the journal shows it did that the API's docs ask it not to.

  polled-too-fast      two polls of one job closer together than the documented 5-10 s cadence
  ignored-retry-after  a request sooner than the Retry-After of a 429 it was given
  unknown-id           a poll of a request id the mock never issued (to that key)
  gave-up              a job polled, but never to a final status
Findings are data; the admin API and the pytest plugin show them, `flux-mock report` prints them.
"""

from mock_server.spec import STATUS_KINDS
from mock_server.store.records import TERMINAL


def _finding(kind: str, entry: dict, detail: str) -> dict:
    return {"kind": kind, "seq": entry["seq"], "key": entry.get("key"), "request_id": entry.get("request_id"),
            "path": entry["path"], "detail": detail}


def client_findings(entries: list[dict], min_poll_interval: float = 5.0) -> list[dict]:
    findings, last_poll, blocked_until, last_status = [], {}, {}, {}
    for entry in entries:
        key, at = entry.get("key"), entry.get("epoch", 0.0)
        if key in blocked_until and at < blocked_until[key][0]:
            wait, given = blocked_until.pop(key)[1:]
            findings.append(_finding("ignored-retry-after", entry,
                                     f"sent {at - given:.1f} s after a 429 that asked to wait {wait:g} s"))
        if entry.get("status") == 429 and entry.get("retry_after"):
            blocked_until[key] = (at + entry["retry_after"], entry["retry_after"], at)
        if entry.get("operation_kind") not in STATUS_KINDS or not entry.get("request_id"):
            continue
        job = (key, entry["request_id"])
        if entry.get("status") == 404:
            findings.append(_finding("unknown-id", entry, "polled a request id this key never received"))
            continue
        if job in last_poll and at - last_poll[job] < min_poll_interval:
            findings.append(_finding("polled-too-fast", entry, f"polled {at - last_poll[job]:.1f} s after the "
                                     f"previous poll; the docs ask for every {min_poll_interval:g} s or more"))
        last_poll[job] = at
        if entry.get("job_status"):
            last_status[job] = (entry["job_status"], entry)
    for (key, request_id), (status, entry) in last_status.items():
        if status not in TERMINAL:
            findings.append(_finding("gave-up", entry, f"last poll saw {status}; the job was never followed to "
                                     f"a final status"))
    return findings
