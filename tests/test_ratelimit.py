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


def test_the_clients_default_bucket_never_passes_300_in_any_minute_as_the_readme_says():
    # issue 16.2: TokenBucket(300) lets 305 through in a minute (its burst of 5 on top);
    # the client's default must keep to Genesys's 300, and the README must say what it does
    from pathlib import Path

    from gctrace_nb.api.client import GenesysClient
    from gctrace_nb.api.config import Settings

    rec = SleepRecorder()
    client = GenesysClient(Settings(client_id="i", client_secret="s", api_url="https://api.example.com",
                                    login_url="https://login.example.com"), clock=rec.clock, sleep=rec.sleep)
    bucket = client.rate_limiter
    times = []
    for _ in range(700):  # a greedy caller, as fast as the bucket allows
        bucket.acquire()
        times.append(rec.clock())
    most = max(sum(1 for t in times[i:] if t < start + 60.0) for i, start in enumerate(times))
    assert 295 <= most <= 300
    assert (bucket.burst, bucket.rate_per_minute) == (5, 295)
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "at most 300 requests in any minute per client (a burst of 5, then 295 a minute)" in readme
