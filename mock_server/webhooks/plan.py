"""Which webhook deliveries a job asks for, when each is due, and what each POSTs: pure functions of the
job (no store, no clock, no network), so the dispatcher and the tests agree on them."""

from mock_server import views
from mock_server.store.records import Job
from mock_server.store.records import BATCH_FORM, EVENTS_FORM


def _event_times(job: Job) -> list[tuple[str, float | None]]:
    return [("queued", job.created_at), ("processing", job.transitions[0]), (job.outcome.lower(), job.transitions[1])]


def planned_events(job: Job) -> list[tuple[str, float]]:
    """(event, due time) of every delivery this job asks for whose moment is known; in delivery order."""
    webhook = job.webhook
    if webhook is None:
        return []
    events = _event_times(job)
    if webhook.form == EVENTS_FORM:
        wanted = set(webhook.events)
        events = [(name, moment) for name, moment in events if name in wanted]
    else:
        events = events[-1:]
    delay = float(webhook.misbehave.get("delay", 0))
    known = [(name, moment + delay) for name, moment in events if moment is not None]
    if webhook.misbehave.get("out_of_order") and job.transitions[1] is not None:
        final = job.transitions[1] + delay
        known = [(name, final + 0.001 * rank) for rank, (name, _) in enumerate(reversed(known))]
    return known


def body_for(job: Job, event: str) -> dict:
    """What the webhook POSTs for this event: the answer a poll gives at that moment."""
    base = job.webhook.base if job.webhook else ""
    moment = dict(_event_times(job))[event]
    if job.webhook is not None and job.webhook.form == BATCH_FORM:
        return views.batch_body(job, moment, base)
    return views.status_body(job, moment, base)
