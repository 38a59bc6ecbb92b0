"""Webhook planning, pure: which events a job sends, when each is due, what each POSTs; and how a request's
three documented forms become one WebhookRequest."""

import json

import pytest

from mock_server import views
from mock_server.store.records import Job
from mock_server.webhooks.plan import body_for, deliveries_for, planned_events
from mock_server.store.records import WebhookRequest

BASE = "http://mock.test"


def job(webhook, outcome="COMPLETED", transitions=(101.0, 103.0)) -> Job:
    return Job(request_id="m_1", operation_id="op", model_id="m", key="k", created_at=100.0, outcome=outcome,
               transitions=transitions, media=("/media/0123456789abcdef/64x64-0.png",), webhook=webhook)


def hook(form="X-Webhook-URL", events=(), **misbehave) -> WebhookRequest:
    return WebhookRequest(url="http://127.0.0.1:9/h", form=form, base=BASE, events=events, misbehave=misbehave)


def test_a_job_without_a_webhook_plans_nothing():
    assert planned_events(job(None)) == []


def test_the_header_and_batch_forms_send_the_final_event_once_it_is_known():
    assert planned_events(job(hook())) == [("completed", 103.0)]
    assert planned_events(job(hook(form="webhook_url"), outcome="FAILED")) == [("failed", 103.0)]
    assert planned_events(job(hook(), transitions=(101.0, None))) == []


def test_the_events_form_sends_what_its_filter_selects_in_order():
    everything = hook(form="webhook", events=("queued", "processing", "completed"))
    assert planned_events(job(everything)) == [("queued", 100.0), ("processing", 101.0), ("completed", 103.0)]
    assert planned_events(job(everything, transitions=(None, None))) == [("queued", 100.0)]
    only_failures = hook(form="webhook", events=("failed", "error"))
    assert planned_events(job(only_failures)) == [] and planned_events(job(only_failures, "ERROR")) == [
        ("error", 103.0)]


def test_misbehaviour_delays_and_reverses_deliveries():
    assert planned_events(job(hook(delay=30))) == [("completed", 133.0)]
    reversed_order = hook(form="webhook", events=("queued", "processing", "completed"), out_of_order=True)
    assert [event for event, _ in planned_events(job(reversed_order))] == ["completed", "processing", "queued"]
    assert [due for _, due in planned_events(job(reversed_order))] == [103.0, 103.001, 103.002]


def test_each_event_posts_the_answer_a_poll_gives_at_that_moment():
    events_job = job(hook(form="webhook", events=("queued", "completed")))
    assert body_for(events_job, "queued") == views.status_body(events_job, 100.0, BASE)
    assert body_for(events_job, "queued")["status"] == "QUEUED"
    assert body_for(events_job, "completed")["output"]["media_url"] == [f"{BASE}/v1/{events_job.request_id}/output.png"]
    batch_job = job(hook(form="webhook_url"))
    assert body_for(batch_job, "completed") == views.batch_body(batch_job, 103.0, BASE)


@pytest.mark.parametrize("header, params, expected", [
    (None, {}, None),
    ("http://127.0.0.1/a", {"webhook": "http://127.0.0.1/b"}, ("http://127.0.0.1/a", "X-Webhook-URL", ())),
    (None, {"webhook": "http://127.0.0.1/b"}, ("http://127.0.0.1/b", "webhook", ("completed", "failed", "error"))),
    (None, {"webhook": "http://127.0.0.1/b", "webhook_events_filter": ["queued"]},
     ("http://127.0.0.1/b", "webhook", ("queued",))),
    (None, {"webhook_url": "http://127.0.0.1/c"}, ("http://127.0.0.1/c", "webhook_url", ())),
])
def test_a_request_asks_for_at_most_one_webhook_header_first(header, params, expected):
    found = WebhookRequest.of(header, params, BASE, {"duplicate": True})
    if expected is None:
        assert found is None
    else:
        assert (found.url, found.form, found.events) == expected and found.misbehave == {"duplicate": True}
        assert WebhookRequest.from_record(found.to_record()) == found


def test_deliveries_are_pending_for_allowed_targets_and_blocked_with_the_reason_otherwise():
    allowed = deliveries_for(job(hook()))
    assert [(d.event, d.due, d.state) for d in allowed] == [("completed", 103.0, "pending")]
    outside = job(WebhookRequest(url="http://example.com/h", form="X-Webhook-URL", base=BASE))
    blocked = deliveries_for(outside)
    assert [(d.state, d.last_error) for d in blocked] == [("blocked", "blocked: not loopback nor in "
                                                          "webhooks.allowed_hosts")]
    assert [d.state for d in deliveries_for(outside, allowed_hosts=("example.com",))] == ["pending"]
    assert [d.state for d in deliveries_for(outside, redirect_to="http://127.0.0.1:9/all")] == ["pending"]
    admin = job(WebhookRequest(url="http://127.0.0.1:8000/__admin/reset", form="X-Webhook-URL", base=BASE))
    assert deliveries_for(admin)[0].last_error == "blocked: the mock's own admin API"


def test_the_pages_filter_completed_failed_also_hears_a_job_ending_in_error():
    """Page 003's example filter is ["completed", "failed"] and the page shows an ERROR arriving by webhook:
    "failed" selects ERROR too (the spec's x-flux-mock-selects); "error" alone does not select FAILED."""
    pages_filter = hook(form="webhook", events=("completed", "failed"))
    assert planned_events(job(pages_filter, "ERROR")) == [("error", 103.0)]
    assert planned_events(job(pages_filter, "FAILED")) == [("failed", 103.0)]
    assert planned_events(job(hook(form="webhook", events=("error",)), "FAILED")) == []


def _state_of(url: str, allowed_hosts: tuple[str, ...] = ()) -> tuple[str, str | None]:
    delivery = deliveries_for(job(WebhookRequest(url=url, form="X-Webhook-URL", base=BASE)), allowed_hosts)[0]
    return delivery.state, delivery.last_error


def test_an_allowed_network_admits_its_addresses_only_and_never_a_host_name():
    """docs/guide/webhooks.md: an allowed_hosts entry is a name, a `*.suffix` or a CIDR network; names are never
    resolved, so a network admits no host name. (Planning only: nothing is called; 192.0.2.0/24 and 198.51.100.0/24
    are the documentation networks.)"""
    network = ("192.0.2.0/24",)
    assert _state_of("http://192.0.2.7/h", network) == ("pending", None)
    assert _state_of("http://198.51.100.7/h", network)[0] == "blocked"
    assert _state_of("http://hooks.test/h", network)[0] == "blocked"
    assert _state_of("http://192.0.2.7/h", ("192.0.2.0/99",))[0] == "blocked"  # no network: admits nothing
    assert _state_of("http://[2001:db8::5]/h", ("2001:db8::/32",)) == ("pending", None)


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1/" + "a" * 2031, None),
    ("http://127.0.0.1/" + "a" * 2032, "is longer than 2048 characters"),
    ("http://127.0.0.1:65536/h", "is not a valid URL"),
    ("ftp://127.0.0.1/h", "is not an http(s) URL with a host"),
    ("http:///h", "is not an http(s) URL with a host"),
])
def test_a_webhook_url_the_mock_can_never_call_is_blocked_saying_why(url, reason):
    """The API takes any webhook URL (202), so the mock does too; one that is no http(s) URL of at most 2,048
    characters is never called, and its delivery says why."""
    state, error = _state_of(url)
    assert (state, error) == (("pending", None) if reason is None else ("blocked", f"blocked: {url[:200]} {reason}"))


def test_a_batch_webhook_read_back_from_a_shared_store_still_posts_the_batch_body():
    """Page 003: getDataBatch's webhook_url gets the checkStatus-shaped body. A Redis store keeps the webhook as
    JSON, so the form read back is an equal string, not the same object: it must be compared by value."""
    stored = json.loads(json.dumps(hook(form="webhook_url").to_record()))
    batch_job = job(WebhookRequest.from_record(stored))
    assert body_for(batch_job, "completed") == views.batch_body(batch_job, 103.0, BASE)
    assert body_for(batch_job, "completed") != views.status_body(batch_job, 103.0, BASE)
