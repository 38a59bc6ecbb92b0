"""Judging a client by its traffic: what the journal shows it did that the API's docs ask it not to.

  polled-too-fast      two polls of one job closer together than the documented 5-10 s cadence
  ignored-retry-after  a request sooner than the Retry-After of a 429 it was given
  unknown-id           a poll of a request id the mock never issued (to that key)
  gave-up              a job never followed to a final status: polled, but not to the end, or never
                       polled at all (a job whose result comes by webhook is not expected to be polled)
  undocumented-field   a request field the spec does not document, with the closest documented one
  unknown-endpoint     a request to a path the specs do not have (or with a method the path does not take), with
                       the closest documented path of that method
  wrong-key-header     a 401 for a request whose key was in a header the operation does not take (or with no key),
                       naming the header the operation wants
  gateway-leniency     a request the pages do not allow that the mock accepted because the real gateway
                       does (a key in the subscription-key query parameter, a Klein size off the tiers)
  hammered             after a network fault (chaos), HAMMER_COUNT or more requests within HAMMER_WINDOW
                       seconds: a retry loop without backoff
  upstream-drift       (`flux-mock record`) the real gateway's answer departs from the specs: not the client's
                       doing, but what it met
  stale-recording      (`serve --replay`) a recorded answer the current specs reject was replayed: the recording
                       is older than the specs (what changed, named)
  polled-after-final   POLLS_AFTER_FINAL or more polls of a job after a poll saw it final (one finding a job, with
                       the count)
  timeout-too-short    a client that gave up sooner than the live gateway was seen to answer (x-evidence
                       sync-latency, job-duration): it closed a sync call's connection before the answer, or stopped
                       polling a job sooner after its submit than jobs take live; with the figure and its source
  not-live             a call the evidence says the live gateway refuses (x-evidence: a per-model polling route, a
                       model-prefixed path naming no model), answered 400 Model not found as live: the evidence
                       quoted, and the variant that gives the working answer where there is one

Polls are timed from arrival to arrival; a retry from when the fault's answer was sent whole (`answered`) to
when the retry arrived (`arrived`): an immediate retry after a 429 whose answer took 3 s is flagged. A poll
answered by a fault (a 429, a 5xx, a dropped connection) is not a poll of the job's cadence: the next one is a
retry, judged by the fault's Retry-After and the chaos verdicts, not by the 5-10 s the pages ask between polls.
Entries are judged in order of arrival. Rule-forced 429s and 5xx are network faults like chaos's (chaos
verdicts, `source: rule`). The kit's own traffic (`flux-mock check` and `drift`: User-Agent
flux-mock-kit) is left out unless asked for.

Besides findings, `chaos_verdicts` says how the client took each network fault it met (drop, 5xx burst,
429 storm): honoured Retry-After, backed off, retried at once, gave up cleanly, or hammered; and `notes` list
each of the spec's assumptions a request broke (a rule no page states: taken, never a finding).
Findings are data; the admin API and the pytest plugin show them, `flux-mock report` prints them.
"""

import difflib
import re
from collections import Counter
from dataclasses import dataclass

from mock_server.journal_entry import KIT_AGENT, MEDIA_DOWNLOAD, JournalEntry
from mock_server.operations import STATUS_KINDS, Operation
from mock_server.operations.evidence import ANSWERED_BY, JOB_DURATION, SYNC_LATENCY, load_evidence, observed_timing
from mock_server.operations.matcher import OperationMatcher
from mock_server.operations.model import JOB_KINDS
from mock_server.store.records import TERMINAL

__all__ = ["KIT_AGENT", "chaos_verdicts", "client_findings", "client_report", "entries_of", "summary"]
POLLS_AFTER_FINAL = 3


def entries_of(entries: list[JournalEntry], keys: tuple[str | None, ...] | None = None,
               since: float | None = None) -> list[JournalEntry]:
    """The entries of these keys (as the journal holds them: masked, or whole under show_keys), from `since`
    (the mock's clock) on."""
    return [entry for entry in entries if (keys is None or entry.key in keys)
            and (since is None or (entry.epoch or 0) >= since)]


def _finding(kind: str, entry: JournalEntry, detail: str) -> dict:
    return {"kind": kind, "seq": entry.seq, "key": entry.key, "request_id": entry.request_id,
            "operation_id": entry.operation_id, "path": entry.path, "detail": detail}


def _closest(word: str, choices, cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


@dataclass(frozen=True)
class Vocabulary:
    """What the specs document, for suggestions: each operation's request fields and key headers, and every
    path by method."""

    fields: dict[str, tuple[str, ...]]
    key_headers: dict[str, tuple[tuple[str, ...], ...]]
    matcher: OperationMatcher

    @classmethod
    def of(cls, operations: tuple[Operation, ...]) -> "Vocabulary":
        from mock_server.validation import documented_fields

        return cls({op.operation_id: documented_fields(op) for op in operations},
                   {op.operation_id: op.security for op in operations}, OperationMatcher(operations))


_ID_LIKE = re.compile(r"^(?=.*\d)[\w.-]{8,}$")  # a segment that names something (a request id), not a resource


def _shape(path: str) -> list[str]:
    """A path's segments, each templated or id-like one as `{}`."""
    return ["{}" if segment.startswith("{") or _ID_LIKE.match(segment) else segment
            for segment in path.strip("/").split("/")]


def closest_path(method: str, path: str, matcher: OperationMatcher) -> str | None:
    """The documented path a request most likely meant: among the paths its method reaches (all, if none), the
    one whose segments, ids as placeholders, are most alike; None if nothing is alike at all."""
    templates = matcher.templates(method) or matcher.templates()
    asked = _shape(path)

    def likeness(template: str) -> float:
        shape = _shape(template)
        return difflib.SequenceMatcher(None, asked, shape).ratio() + \
            0.3 * difflib.SequenceMatcher(None, path, template).ratio() + 0.1 * (len(shape) == len(asked))

    best = max(templates, key=likeness, default=None)
    return best if best is not None and likeness(best) >= 0.3 else None


def _undocumented(entry: JournalEntry, vocabulary: Vocabulary) -> list[dict]:
    found = []
    for name in entry.undocumented_fields:
        known = vocabulary.fields.get(entry.operation_id, ())
        guess = _closest(name, known)
        hint = f": did you mean `{guess}`?" if guess else f"; documented: {', '.join(known)}"
        found.append(_finding("undocumented-field", entry,
                              f"`{name}` is not a documented field of {entry.operation_id}{hint}"))
    return found


def _is_media(entry: JournalEntry) -> bool:
    """A media download (the mock's journal says so; a recording's, by its path)."""
    return entry.answer == MEDIA_DOWNLOAD or entry.path.startswith(("/media/", "/replayed-media/"))


def _unknown_endpoint(entry: JournalEntry, vocabulary: Vocabulary) -> list[dict]:
    if entry.operation_id or entry.status not in (404, 405) or _is_media(entry):
        return []
    taken = sorted({op.method for op in vocabulary.matcher.at(entry.path)})
    if taken:
        return [_finding("unknown-endpoint", entry, f"{entry.method} {entry.path}: this documented path takes "
                         f"{' or '.join(taken)}, not {entry.method}")]
    guess = closest_path(entry.method, entry.path, vocabulary.matcher)
    hint = f"; closest documented path: {guess}" if guess else ""
    return [_finding("unknown-endpoint", entry, f"{entry.method} {entry.path} is not a documented "
                     f"endpoint{hint}")]


def _not_live(entry: JournalEntry, vocabulary: Vocabulary) -> list[dict]:
    """A call answered as the evidence says the live gateway answers it, not as the route's working answer."""
    if not (entry.answer or "").startswith(ANSWERED_BY):
        return []
    evidence = load_evidence().get(entry.answer[len(ANSWERED_BY):])
    if evidence is None:
        return []
    if entry.operation_id:
        variant = evidence.data.get("variant")
        how = (f"; a client written against the working route gets it from the mock with the variant {variant} "
               f"(Prefer: variant={variant}, or `variants: [{variant}]` in the config), but live it has to poll the "
               f"submit's polling_url (GET /v2/requests/status/{{request_id}})") if variant else ""
        return [_finding("not-live", entry, f"{entry.method} {entry.path} answered {entry.status} as the live gateway "
                         f"does: {evidence.cited()}{how}")]
    guess = closest_path(entry.method, entry.path, vocabulary.matcher)
    hint = f"; closest documented path: {guess}" if guess else ""
    return [_finding("not-live", entry, f"{entry.method} {entry.path} names no model of the specs: answered "
                     f"{entry.status} Model not found as the live gateway answers such paths ({evidence.cited()})"
                     f"{hint}")]


def _left_too_soon(entry: JournalEntry) -> list[dict]:
    """A sync call whose client closed the connection before the answer, sooner than the live gateway answers."""
    if entry.left_after is None:
        return []
    observed, evidence = observed_timing(), load_evidence()[SYNC_LATENCY]
    longest = max(observed.sync[1], observed.long_prompt[1] if len(str((entry.body or {}).get("prompt", "")))
                  >= observed.long_prompt_chars else 0)
    if entry.left_after >= longest:
        return []
    return [_finding("timeout-too-short", entry, f"the client closed the connection {entry.left_after:.1f} s into "
                     f"{entry.operation_id}, before the answer; the live gateway was seen to take {observed.sync[0]:g}-"
                     f"{observed.sync[1]:g} s ({observed.long_prompt[0]:g}-{observed.long_prompt[1]:g} s for prompts "
                     f"of {observed.long_prompt_chars}+ characters): a timeout under {longest:g} s fails live "
                     f"({evidence.cited()})")]


def _wrong_key_header(entry: JournalEntry, vocabulary: Vocabulary) -> list[dict]:
    """A 401 whose request carried its key in none of the headers the operation takes (or no key at all)."""
    alternatives = vocabulary.key_headers.get(entry.operation_id)
    if entry.status != 401 or not alternatives:
        return []
    wanted = {name.lower() for alternative in alternatives for name in alternative}
    if wanted & set(entry.headers):
        return []  # the right header: the key itself was refused
    every_key_header = {name.lower() for options in vocabulary.key_headers.values() for alternative in options
                        for name in alternative}
    sent = sorted(name for name in entry.headers if name in every_key_header)
    takes = " or ".join(" and ".join(alternative) for alternative in alternatives)
    what = f"sent the key in {', '.join(sent)}" if sent else "sent no key"
    return [_finding("wrong-key-header", entry, f"{what}; {entry.operation_id} takes its key in {takes} "
                     f"(answered 401)")]


def _is_fault(entry: JournalEntry) -> bool:
    """Answered by a network or gateway fault (a 429, a 5xx, a dropped connection), not by the operation."""
    return entry.status == 429 or entry.status >= 500 or (entry.answer or "").startswith("chaos:")


class _Timeline:
    """What one pass over the journal remembers: polls, 429s, and each job's last known status."""

    def __init__(self, min_poll_interval: float) -> None:
        self.interval = min_poll_interval
        self.last_poll: dict = {}
        self.blocked_until: dict = {}
        self.last_status: dict = {}
        self.submitted: dict = {}  # job -> when its submit arrived
        self.final_seen: dict = {}  # request id -> the entry of the first poll that saw it final (by any key)
        self.after_final: dict = {}  # job -> [polls after final, the poll that made them too many, the last one]
        self.findings: list[dict] = []

    def see(self, entry: JournalEntry) -> None:
        key, at = entry.key, entry.arrived_at
        if key in self.blocked_until and at < self.blocked_until[key][0]:
            wait, given, status = self.blocked_until.pop(key)[1:]
            self.findings.append(_finding("ignored-retry-after", entry, f"sent {at - given:.1f} s after the {status} "
                                          f"answer that asked to wait {wait:g} s"))
        if entry.retry_after:
            done = entry.answered_at
            self.blocked_until[key] = (done + entry.retry_after, entry.retry_after, done, entry.status)
        if not entry.request_id:
            return
        if entry.operation_kind in STATUS_KINDS:
            self._poll(entry, key, at)
        elif entry.operation_kind in JOB_KINDS and entry.status < 300 and not entry.webhook:
            self.last_status[(key, entry.request_id)] = (entry.job_status, entry, False)
            self.submitted[(key, entry.request_id)] = at

    def _poll(self, entry: JournalEntry, key, at: float) -> None:
        job = (key, entry.request_id)
        if _is_fault(entry):  # the next poll is a retry: judged by Retry-After and the chaos verdicts
            self.last_poll.pop(job, None)
            return
        if entry.status == 404:
            self.findings.append(_finding("unknown-id", entry, "polled a request id this key never received"))
            return
        if job in self.last_poll and at - self.last_poll[job] < self.interval:
            self.findings.append(_finding("polled-too-fast", entry, f"polled {at - self.last_poll[job]:.1f} s after "
                                          f"the previous poll; the docs ask for every {self.interval:g} s or more"))
        self.last_poll[job] = at
        if entry.request_id in self.final_seen:
            counted = self.after_final.setdefault(job, [0, None, None])
            counted[0] += 1
            counted[1] = entry if counted[0] == POLLS_AFTER_FINAL else counted[1]
            counted[2] = entry
        if entry.job_status:
            self.last_status[job] = (entry.job_status, entry, True)
            if str(entry.job_status).upper() in TERMINAL:
                self.final_seen.setdefault(entry.request_id, entry)

    def delivered(self, attempt: JournalEntry) -> None:
        """A webhook attempt: a final status it delivered ends its job for the client, as a final poll does."""
        final = (attempt.event or "").upper()
        if attempt.error is None and 200 <= attempt.status < 300 and final in TERMINAL:
            job = (attempt.key, attempt.request_id)
            if job in self.last_status:
                self.last_status[job] = (final, attempt, True)

    def polled_after_final(self) -> list[dict]:
        """One finding a job polled POLLS_AFTER_FINAL or more times after a poll saw it final, with the count."""
        found = []
        for (_, request_id), (count, flagged, last) in self.after_final.items():
            if count < POLLS_AFTER_FINAL:
                continue
            final = self.final_seen[request_id]
            found.append(_finding("polled-after-final", flagged, f"polled {count} times after poll #{final.seq} saw it "
                                  f"{final.job_status} (the last at +{last.arrived_at - final.arrived_at:.1f} s); a "
                                  "final status does not change: stop polling"))
        return found

    def gave_up(self) -> list[dict]:
        found = []
        for job, (status, entry, polled) in self.last_status.items():
            if str(status).upper() in TERMINAL:
                continue
            detail = (f"last poll (#{entry.seq}) saw {status}; the job was never followed to a final status" if polled
                      else "submitted, never polled to a final status (and no webhook was asked for)")
            found.append(_finding("gave-up", entry, detail))
            if polled and job in self.submitted:
                found += self._polled_too_briefly(entry, entry.arrived_at - self.submitted[job])
        return found

    @staticmethod
    def _polled_too_briefly(entry: JournalEntry, span: float) -> list[dict]:
        """A job given up on sooner after its submit than jobs were seen to take live."""
        observed, evidence = observed_timing(), load_evidence()[JOB_DURATION]
        shortest = observed.queued[0] + observed.processing[0]
        longest = observed.queued[1] + observed.processing[1]
        if span >= longest:
            return []
        return [_finding("timeout-too-short", entry, f"stopped polling {span:.1f} s after the submit, the job still "
                         f"{entry.job_status}; live, jobs were seen to take {shortest:g} s to {longest:g} s: a client "
                         f"that gives up sooner than {longest:g} s fails live ({evidence.cited()})")]


HAMMER_COUNT = 5  # requests ...
HAMMER_WINDOW = 1.0  # ... within this many seconds after a network fault: hammering
BACKOFF = 0.1  # a retry sooner than this after a fault (without Retry-After) is a retry at once
CHAOS_FAULTS = ("chaos:drop", "chaos:error", "chaos:throttle")


def _is_retry(entry: JournalEntry, fault: JournalEntry) -> bool:
    """The same operation, and for a call about a job, the same job."""
    return entry.operation_id == fault.operation_id and (not fault.request_id or entry.request_id == fault.request_id)


def _verdict(fault: JournalEntry, later: list[JournalEntry]) -> tuple[str, str]:
    """How the client took one network fault, from its key's requests after it, measured from when the fault's
    answer was sent whole."""
    at, retry_after = fault.answered_at, fault.retry_after
    soon = [entry for entry in later if entry.arrived_at - at < HAMMER_WINDOW]
    retry = next((entry for entry in later if _is_retry(entry, fault)), None)
    if len(soon) >= HAMMER_COUNT:
        return "hammered", f"{len(soon)} requests within {HAMMER_WINDOW:g} s of the fault"
    if retry is None:
        return "gave up cleanly", "no retry of the operation"
    wait = retry.arrived_at - at
    if retry_after:
        verdict = "honoured Retry-After" if wait >= retry_after else "ignored Retry-After"
        return verdict, f"retried after {wait:.2f} s; Retry-After was {retry_after:g} s"
    return ("backed off" if wait >= BACKOFF else "retried at once"), f"retried after {wait:.2f} s"


def _fault(entry: JournalEntry) -> tuple[str, str] | None:
    """(fault, source) of an entry that is a network fault: chaos's, or a 429 or 5xx a rule forced."""
    if entry.answer in CHAOS_FAULTS:
        return entry.answer.removeprefix("chaos:"), "chaos"
    if entry.rule and (entry.status == 429 or 500 <= entry.status < 600):
        return ("throttle" if entry.status == 429 else "error"), "rule"
    return None


def chaos_verdicts(entries: list[JournalEntry]) -> list[dict]:
    """One verdict per network fault the client met (chaos's, or a rule's forced 429 or 5xx), in order of
    arrival."""
    verdicts = []
    for index, fault in enumerate(entries):
        if (found := _fault(fault)) is None:
            continue
        later = [entry for entry in entries[index + 1:] if entry.is_request and entry.key == fault.key]
        verdict, detail = _verdict(fault, later)
        verdicts.append({"seq": fault.seq, "fault": found[0], "source": found[1], "status": fault.status,
                         "operation_id": fault.operation_id, "key": fault.key, "verdict": verdict, "detail": detail})
    return verdicts


def _hammered(verdicts: list[dict], entries: list[JournalEntry]) -> list[dict]:
    by_seq = {entry.seq: entry for entry in entries}
    return [_finding("hammered", by_seq[verdict["seq"]], f"after a {verdict['fault']} ({verdict['status']}): "
                     f"{verdict['detail']}; back off between retries")
            for verdict in verdicts if verdict["verdict"] == "hammered"]


def _judged(entries: list[JournalEntry], include_kit: bool) -> list[JournalEntry]:
    """The client's entries in order of arrival (the journal has them in order of answer), the kit's own
    left out unless asked for."""
    return sorted((entry for entry in entries if include_kit or not entry.is_kit_traffic),
                  key=lambda entry: (entry.arrived_at, entry.seq))


def client_findings(entries: list[JournalEntry], min_poll_interval: float = 5.0, operations: tuple[Operation, ...] = (),
                    allow_undocumented: bool = False, include_kit: bool = False) -> list[dict]:
    entries = _judged(entries, include_kit)
    return _findings(entries, min_poll_interval, operations, allow_undocumented, chaos_verdicts(entries))


def client_report(entries: list[JournalEntry], min_poll_interval: float, operations: tuple[Operation, ...],
                  allow_undocumented: bool = False, include_kit: bool = False) -> dict:
    """The report `flux-mock report` prints: violations, findings, chaos verdicts (judged once) and counts."""
    entries = _judged(entries, include_kit)
    verdicts = chaos_verdicts(entries)
    findings = _findings(entries, min_poll_interval, operations, allow_undocumented, verdicts)
    violations = [entry for entry in entries if entry.violations]
    return {"violations": [entry.to_wire() for entry in violations], "findings": findings, "chaos": verdicts,
            "notes": assumption_notes(entries), "operations": operations_called(entries),
            "summary": {"judged": sum(entry.is_request for entry in entries), **summary(violations, findings, verdicts)}}


def operations_called(entries: list[JournalEntry]) -> dict[str, dict]:
    """Each operation the client called (media downloads as `media`, anything else by method and path) with its
    count and the statuses answered, in order of first call: what the client did, findings apart."""
    called: dict[str, dict] = {}
    for entry in entries:
        if entry.is_request:
            where = entry.operation_id or ("media" if _is_media(entry) else f"{entry.method} {entry.path}")
            seen = called.setdefault(where, {"count": 0, "statuses": Counter()})
            seen["count"] += 1
            seen["statuses"][str(entry.status)] += 1
    return {where: {"count": seen["count"], "statuses": dict(sorted(seen["statuses"].items()))}
            for where, seen in called.items()}


def assumption_notes(entries: list[JournalEntry]) -> list[dict]:
    """Each of the spec's assumptions a request broke: information, not a finding (no page states the rule)."""
    return [_finding("assumption", entry, f"taken, though the spec assumes otherwise: {note}")
            for entry in entries if entry.is_request for note in entry.assumptions]


def _findings(entries: list[JournalEntry], min_poll_interval: float, operations: tuple[Operation, ...],
              allow_undocumented: bool, verdicts: list[dict]) -> list[dict]:
    vocabulary = Vocabulary.of(operations)
    timeline = _Timeline(min_poll_interval)
    for entry in entries:
        if not entry.is_request:
            timeline.delivered(entry)
            continue
        timeline.see(entry)
        if not allow_undocumented:
            timeline.findings += _undocumented(entry, vocabulary)
        timeline.findings += _unknown_endpoint(entry, vocabulary)
        timeline.findings += _not_live(entry, vocabulary)
        timeline.findings += _left_too_soon(entry)
        timeline.findings += _wrong_key_header(entry, vocabulary)
        timeline.findings += [_finding("gateway-leniency", entry, f"accepted as the gateway does, but the pages do "
                                       f"not allow it: {leniency}") for leniency in entry.leniencies]
        replayed = (entry.answer or "").startswith("replayed")
        timeline.findings += [_finding("stale-recording", entry, f"the recorded answer replayed here is one the "
                                       f"current specs reject: {line}; record it again (or accept the drift)")
                              if replayed else
                              _finding("upstream-drift", entry, f"the real answer departs from the specs: {line}")
                              for line in entry.drift]
    hammered = _hammered(verdicts, entries)
    return sorted(timeline.findings + timeline.gave_up() + timeline.polled_after_final() + hammered,
                  key=lambda finding: finding["seq"])


def summary(violations: list[JournalEntry], findings: list[dict], verdicts: list[dict] = ()) -> dict:
    """Counts by finding kind and by operation (violations count under `violation`), and of chaos verdicts."""
    kinds = Counter({"violation": len(violations)} if violations else {})
    kinds.update(finding["kind"] for finding in findings)
    operations = Counter(entry.where for entry in violations)
    operations.update(finding.get("operation_id") or finding["path"] for finding in findings)
    return {"by_kind": dict(kinds), "by_operation": dict(operations), "total": len(violations) + len(findings),
            "chaos": dict(Counter(verdict["verdict"] for verdict in verdicts))}
