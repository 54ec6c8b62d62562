"""RetryPolicy, Retry-After, the budget (deadline + breaker), pause and the generic poll."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from gctrace_nb.errors import Cancelled, CircuitOpen, DeadlineExceeded, RetriesExhausted
from gctrace_nb.api.retry import PollEvent, RetryPolicy, parse_retry_after, pause, poll

from http_fixtures import SleepRecorder


def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("12", now=now) == 12.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=9), usegmt=True), now=now) == 9.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=9), usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "-3", "nan", "inf"):
        assert parse_retry_after(bad, now=now) is None


def test_which_statuses_retry():
    policy = RetryPolicy()
    assert all(policy.is_retryable(s) for s in (429, 502, 503, 504, None))
    assert not any(policy.is_retryable(s) for s in (400, 401, 403, 404, 409, 422, 500, 501))


def test_backoff_is_full_jitter_capped_and_exponential():
    policy = RetryPolicy(initial_s=1, factor=3, max_delay_s=20, min_delay_s=0)
    assert [policy.backoff(n, random=lambda: 1.0) for n in (1, 2, 3, 4)] == [1, 3, 9, 20]
    assert policy.backoff(3, random=lambda: 0.5) == 4.5
    assert policy.backoff(3, random=lambda: 0.0) == 0.0
    assert RetryPolicy(min_delay_s=0.2).backoff(1, random=lambda: 0.0) == 0.2
    assert policy.backoff(10_000, random=lambda: 1.0) == 20  # no overflow


def test_delay_for_prefers_retry_after_and_defaults_429_to_three_seconds():
    policy = RetryPolicy(initial_s=1, min_delay_s=0)
    assert policy.delay_for(429, 7.0, 1) == 7.0
    assert policy.delay_for(429, None, 1) == 3.0
    assert policy.delay_for(503, 11.0, 1) == 11.0
    assert policy.delay_for(503, None, 2, random=lambda: 1.0) == 2.0
    assert policy.delay_for(None, None, 1, random=lambda: 0.5) == 0.5


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(deadline_s=0)
    with pytest.raises(ValueError):
        RetryPolicy(factor=0.5)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_budget_deadline_breaker_and_attempts():
    rec = SleepRecorder()
    budget = RetryPolicy(deadline_s=100, breaker_window_s=30, max_attempts=3).budget(rec.clock)
    budget.record_transient(last_status=503)
    rec.advance(20)
    budget.record_transient(last_status=503)
    budget.record_success()  # the streak ends
    rec.advance(20)
    budget.record_transient(last_status=503)
    rec.advance(29)
    budget.record_transient(last_status=503)
    rec.advance(1)
    with pytest.raises(CircuitOpen, match="breaker window 30 s") as info:
        budget.record_transient(last_status=503)
    assert info.value.last_status == 503
    with pytest.raises(DeadlineExceeded):
        budget.plan_wait(40)
    budget.plan_wait(25)
    with pytest.raises(RetriesExhausted):
        budget.check_attempts(3)
    rec.advance(31)
    with pytest.raises(DeadlineExceeded):
        budget.check()


def test_pause_sleeps_through_the_injected_sleep_and_honours_cancel():
    rec = SleepRecorder()
    pause(2.0, sleep=rec.sleep)
    assert rec.sleeps == [2.0]
    cancel = threading.Event()

    def sleep_then_cancel(s):
        rec.sleep(s)
        if rec.total >= 1.0:
            cancel.set()

    rec.sleeps.clear()
    with pytest.raises(Cancelled):
        pause(10.0, sleep=sleep_then_cancel, cancel=cancel, slice_s=0.25)
    assert rec.total == pytest.approx(1.0)
    with pytest.raises(Cancelled):  # already set: no sleep at all
        pause(5.0, sleep=rec.sleep, cancel=cancel)


def test_pause_with_real_sleep_wakes_on_cancel_immediately():
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(Cancelled):
        pause(30.0, cancel=cancel)


def _states(*values):
    it = iter(values)
    return lambda: next(it)


def test_poll_returns_only_when_done_and_reports_every_attempt():
    rec = SleepRecorder()
    events: list[PollEvent] = []
    fetch = _states({"status": "in_progress"}, {"status": "in_progress"}, {"status": "completed", "result": []})
    result = poll(fetch, lambda j: j["status"] in ("completed", "failed"),
                  policy=RetryPolicy(initial_s=1, factor=2, min_delay_s=0), clock=rec.clock, sleep=rec.sleep,
                  random=lambda: 1.0, on_progress=events.append, job_id="j1")
    assert result["status"] == "completed"
    assert rec.sleeps == [1.0, 2.0]
    assert [(e.attempt, e.status, e.wait_s) for e in events] == [(1, "in_progress", 1.0), (2, "in_progress", 2.0),
                                                                 (3, "completed", 0.0)]
    assert events[-1].elapsed_s == 3.0 and events[0].job_id == "j1"


def test_poll_is_reusable_for_flow_history_job_states():
    rec = SleepRecorder()
    fetch = _states({"jobState": "Registered"}, {"jobState": "Running"}, {"jobState": "Success", "entities": []})
    events = []
    job = poll(fetch, lambda j: j["jobState"] in ("Success", "Failed"), clock=rec.clock, sleep=rec.sleep,
               on_progress=events.append)
    assert job["jobState"] == "Success"
    assert [e.status for e in events] == ["Registered", "Running", "Success"]


def test_poll_gives_up_at_the_deadline_without_overshooting():
    rec = SleepRecorder()
    calls = []

    def fetch():
        calls.append(rec.clock())
        return {"status": "in_progress"}

    policy = RetryPolicy(initial_s=4, factor=2, max_delay_s=30, deadline_s=60, min_delay_s=0)
    with pytest.raises(DeadlineExceeded):
        poll(fetch, lambda j: False, policy=policy, clock=rec.clock, sleep=rec.sleep, random=lambda: 1.0)
    assert rec.total == pytest.approx(60.0)
    assert len(calls) >= 3


def test_poll_cancel():
    rec = SleepRecorder()
    cancel = threading.Event()

    def fetch():
        cancel.set()
        return {"status": "in_progress"}

    with pytest.raises(Cancelled):
        poll(fetch, lambda j: False, clock=rec.clock, sleep=rec.sleep, cancel=cancel)
