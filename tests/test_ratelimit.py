"""TokenBucket: the sustained rate and burst hold under an injected clock, across threads."""

from __future__ import annotations

import threading

import pytest

from gctrace_nb.errors import Cancelled
from gctrace_nb.api.ratelimit import TokenBucket

from http_fixtures import SleepRecorder


def test_burst_then_sustained_rate():
    rec = SleepRecorder()
    bucket = TokenBucket(60, burst=3, clock=rec.clock, sleep=rec.sleep)
    times = []
    for _ in range(10):
        bucket.acquire()
        times.append(rec.clock())
    assert times[:3] == [1000.0] * 3
    assert [round(b - a, 9) for a, b in zip(times[2:], times[3:], strict=False)] == [1.0] * 7


def test_on_wait_reports_a_wait_before_it_starts():
    rec = SleepRecorder()
    bucket = TokenBucket(60, burst=1, clock=rec.clock, sleep=rec.sleep)
    seen = []
    bucket.acquire(on_wait=seen.append)
    assert seen == []
    bucket.acquire(on_wait=lambda s: seen.append((s, list(rec.sleeps))))
    assert seen == [(1.0, [])] and rec.sleeps == [1.0]


def test_default_is_300_per_minute_with_a_one_second_burst():
    bucket = TokenBucket()
    assert (bucket.rate_per_minute, bucket.burst) == (300, 5)


def test_never_exceeds_rate_across_threads():
    rec = SleepRecorder()
    bucket = TokenBucket(120, burst=4, clock=rec.clock, sleep=rec.sleep)
    times, lock = [], threading.Lock()

    def worker():
        for _ in range(25):
            bucket.acquire()
            with lock:
                times.append(rec.clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(times) == 100
    # by any instant t, at most burst + rate * (t - start) tokens were handed out
    # (measured after acquire returns, so other threads' sleeps can only make times later)
    for k, taken_at in enumerate(sorted(times), start=1):
        assert taken_at >= 1000.0 + (k - 4) * 0.5


def test_cancel_while_waiting_returns_the_token():
    rec = SleepRecorder()
    bucket = TokenBucket(60, burst=1, clock=rec.clock, sleep=rec.sleep)
    bucket.acquire()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        bucket.acquire(cancel=cancel)
    rec.advance(1.0)
    assert bucket.acquire() == 0.0


def test_rejects_bad_rates():
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(60, burst=0.5)
