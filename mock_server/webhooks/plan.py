"""Which webhook deliveries a job asks for, when each is due, whether the mock may send them, and what each
POSTs: pure functions of the job (no store, no clock, no network), so the dispatcher and the tests agree."""

from functools import cache

from mock_server import views
from mock_server.operations import load_bundled
from mock_server.store.records import BATCH_FORM, EVENTS_FORM, Delivery, Job
from mock_server.webhooks.targets import is_allowed_target, reaches_admin_api, url_problem


@cache
def _selects() -> dict[str, tuple[str, ...]]:
    """Which job events each webhook_events_filter value selects (the spec's x-flux-mock-selects)."""
    schema = load_bundled("flux.yaml")["components"]["schemas"]["KontextRestoreRequest"]
    return {value: tuple(events) for value, events in
            schema["properties"]["webhook_events_filter"]["x-flux-mock-selects"].items()}


def selected_events(filter_values) -> frozenset[str]:
    """The job events a filter selects ("failed" also hears a job ending in ERROR: page 003)."""
    selects = _selects()
    return frozenset(event for value in filter_values for event in selects.get(value, (value,)))


def _event_times(job: Job) -> list[tuple[str, float | None]]:
    return [("queued", job.created_at), ("processing", job.transitions[0]), (job.outcome.lower(), job.transitions[1])]


def planned_events(job: Job) -> list[tuple[str, float]]:
    """(event, due time) of every delivery this job asks for whose moment is known; in delivery order."""
    webhook = job.webhook
    if webhook is None:
        return []
    events = _event_times(job)
    if webhook.form == EVENTS_FORM:
        wanted = selected_events(webhook.events)
        events = [(name, moment) for name, moment in events if name in wanted]
    else:
        events = events[-1:]
    delay = float(webhook.misbehave.get("delay", 0))
    known = [(name, moment + delay) for name, moment in events if moment is not None]
    if webhook.misbehave.get("out_of_order") and job.transitions[1] is not None:
        final = job.transitions[1] + delay
        known = [(name, final + 0.001 * rank) for rank, (name, _) in enumerate(reversed(known))]
    return known


def deliveries_for(job: Job, allowed_hosts: tuple[str, ...] = (), redirect_to: str | None = None) -> list[Delivery]:
    """The deliveries this job asks for whose moment is known: pending, or `blocked` (with the reason) for a
    target the mock may not call (with `redirect_to`, every target goes to that one receiver)."""
    events = planned_events(job)
    if not events:
        return []
    return policed([Delivery(job.request_id, event, job.webhook.url, due) for event, due in events], allowed_hosts,
                   redirect_to)


def policed(deliveries: list[Delivery], allowed_hosts: tuple[str, ...] = (),
            redirect_to: str | None = None) -> list[Delivery]:
    """The deliveries as the mock may send them: each pending, or `blocked` (with the reason) for a target the
    mock may not call."""
    found = []
    for delivery in deliveries:
        url = delivery.url
        if (problem := url_problem(url)) is not None:  # taken as a lenient gateway takes it: never called
            reason = f"{url[:200] or 'an empty URL'} {problem}"
        elif redirect_to or is_allowed_target(url, allowed_hosts):
            found.append(delivery)
            continue
        else:
            reason = "the mock's own admin API" if reaches_admin_api(url) else \
                "not loopback nor in webhooks.allowed_hosts"
        delivery.state, delivery.last_error = "blocked", f"blocked: {reason}"
        found.append(delivery)
    return found


def body_for(job: Job, event: str) -> dict:
    """What the webhook POSTs for this event: the answer a poll gives at that moment."""
    base = job.webhook.base if job.webhook else ""
    moment = dict(_event_times(job))[event]
    if job.webhook is not None and job.webhook.form == BATCH_FORM:
        return views.batch_body(job, moment, base)
    return views.status_body(job, moment, base)
