"""Random traces (clean and dirty) and an exact agreement check for batch tests."""

from __future__ import annotations

import random

from gctrace_nb.core.analysis import analyze_steps
from gctrace_nb.core.analysis import STEP_FLAG_KINDS

BASE_MS = 1_714_557_600_000  # 2024-05-01T10:00:00Z


def iso(ms: float, rng: random.Random | None = None) -> str:
    """An ISO timestamp for epoch ``ms``, in one of several accepted spellings."""
    whole, frac = divmod(int(round(ms * 1000)), 1_000_000)
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(whole, dt.timezone.utc)
    body = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if rng is None:
        return f"{body}.{frac // 1000:03d}Z"
    form = rng.randrange(8)
    if form == 0:
        return f"{body}.{frac:06d}Z"
    if form == 1:
        return f"{body}Z" if frac == 0 else f"{body}.{frac // 1000:03d}z"
    if form == 2:  # +02:00 offset
        local = stamp + dt.timedelta(hours=2)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:06d}+02:00"
    if form == 3:
        return f"{body}.{frac:06d}"  # no offset: UTC
    if form == 4:
        return ms  # epoch ms number (int or float)
    if form == 5:
        return f" {body}.{frac // 1000:03d}Z "
    if form == 6:
        return f"{body}.{frac:06d}123Z"  # nanoseconds, truncated
    return f"{body}.{frac // 1000:03d}Z"


def realistic_trace(rng: random.Random, size: int = 250, prefix: str = "n") -> list[dict]:
    """A clean-ish flow trace: a root, nested sequential and parallel children, some failures."""
    steps: list[dict] = []
    start = BASE_MS + rng.randrange(0, 86_400_000)

    def add(node_id, parent, s, e, depth):
        status = "failed" if rng.random() < 0.02 else "success"
        step = {"nodeId": node_id, "startTime": iso(s), "endTime": iso(e), "status": status,
                "name": f"action-{rng.randrange(40)}"}
        if parent is not None:
            step["parentId"] = parent
        if status == "failed":
            step["errorMessage"] = "timeout calling data action"
        steps.append(step)

    counter = [0]

    def build(parent, s, budget, depth):
        # children of ``parent`` laid out from s; returns the end time
        t = s
        while budget > 0 and counter[0] < size:
            counter[0] += 1
            node_id = f"{prefix}{counter[0]}"
            dur = rng.randint(1, 400) if depth else rng.randint(50, 2000)
            if rng.random() < 0.3 and t > s:
                cs = t - rng.randint(0, 50)  # overlaps its elder sibling (parallel branch)
            else:
                cs = t + rng.randint(0, 5)
            kids = rng.randint(0, 4) if depth < 4 else 0
            ce = cs + dur
            if kids:
                ce = max(ce, build(node_id, cs + 1, kids, depth + 1) + rng.randint(0, 3))
            add(node_id, parent, cs, ce, depth)
            t = ce
            budget -= 1
        return t

    counter[0] += 1
    root = f"{prefix}{counter[0]}"
    end = build(root, start + 1, size, 1)
    add(root, None, start, end + 2, 0)
    rng.shuffle(steps)
    return steps


def dirty_trace(rng: random.Random, size: int | None = None, *, junk: bool = True) -> list:
    """A small trace full of anomalies: duplicates, orphans, cycles, skew, ties, junk."""
    n = size if size is not None else rng.randint(0, 14)
    pool = [f"s{i}" for i in range(max(1, n))]
    steps: list = []
    grid = rng.choice([1, 5, 50])  # coarse grids make ties likely
    for i in range(n):
        r = rng.random()
        if r < 0.03 and junk:
            steps.append(rng.choice([None, 3, "x", [1]]))
            continue
        step: dict = {}
        if r < 0.06:
            step["nodeId"] = rng.choice(["", None, 7])
        else:
            step["nodeId"] = rng.choice(pool) if rng.random() < 0.15 else f"s{i}"
        pr = rng.random()
        if pr < 0.55 and i:
            step["parentId"] = rng.choice(pool[:i])
        elif pr < 0.65:
            step["parentId"] = rng.choice(pool)  # may point forward: cycles possible
        elif pr < 0.7:
            step["parentId"] = rng.choice(["ghost", "", None])
        elif pr < 0.72 and junk:
            step["parentId"] = 12  # not a string: an orphan
        s = BASE_MS + grid * rng.randint(0, 40)
        e = s + grid * rng.randint(-2, 30)
        tr = rng.random()
        if tr < 0.05:
            step["startTime"] = rng.choice([None, "", "yesterday", True, "2024-13-01T00:00:00Z"])
        else:
            step["startTime"] = iso(s, rng)
        if tr > 0.97:
            pass  # no end
        else:
            step["endTime"] = iso(e, rng)
        step["status"] = rng.choice(["success", "FAILED ", "error", "Failure", None, "ok"])
        if rng.random() < 0.02 and junk:
            step["status"] = {"code": 500}
        if rng.random() < 0.3:
            step["name"] = rng.choice(["a", "b", ""])
        if rng.random() < 0.1:
            step["errorMessage"] = "boom"
        steps.append(step)
    return steps


def assert_agrees(ts, documents: dict) -> int:
    """Check every trace of ``ts`` against ``analyze_steps`` on its steps; return rows checked."""
    from gctrace_nb.core.frames import step_name

    steps = ts.steps
    by_trace = steps.partition_by("trace_id", as_dict=True, maintain_order=True)
    figures = {row["file"]: row for row in ts.traces.iter_rows(named=True)}
    out_json = {obj["file"]: obj for obj in ts.to_json()}
    checked = 0
    for t, label in enumerate(ts.labels):
        a = analyze_steps(documents[label])
        assert out_json[label] == a.to_json(label), label
        row = figures[label]
        assert row["total_ms"] == a.total_ms and row["steps"] == a.steps_total
        assert row["valid_steps"] == a.valid_steps and row["accuracy_rate"] == a.accuracy_rate
        assert row["anomaly_count"] == len(a.anomalies)
        assert row["failed_count"] == len(a.failed_nodes)
        assert row["critical_path_length"] == len(a.critical_path)
        assert row["bottleneck"] == (a.bottleneck.node_id if a.bottleneck else None)
        frame = by_trace.get((t,))
        if frame is None:
            assert not a.node_ids, label
            continue
        got = frame.to_dict(as_series=False)
        n = len(a.node_ids)
        assert got["node_id"] == list(a.node_ids), label
        assert got["position"] == list(a.kept_positions)
        assert got["parent_id"] == [a.node_ids[p] if p >= 0 else None for p in a.parent_index]
        assert got["depth"] == list(a.depth)
        assert got["valid"] == list(a.valid)
        us = lambda col: [None if v is None else _us(v) for v in got[col]]  # noqa: E731
        assert us("start") == list(a.start_us), label
        assert us("end") == list(a.end_us)
        assert us("window_start") == [w[0] if w else None for w in a.window], label
        assert us("window_end") == [w[1] if w else None for w in a.window]
        assert [round(v * 1000) for v in got["self_ms"]] == list(a.self_us), label
        assert [round(v * 1000) for v in got["critical_ms"]] == list(a.critical_us), label
        for kind in STEP_FLAG_KINDS:
            assert got[kind] == [kind in f for f in a.flags], (label, kind)
        assert got["anomalies"] == [sorted(f) for f in a.flags]
        assert got["name"] == [step_name(s) for s in a.raw]
        assert got["failed"] == [
            isinstance(s.get("status"), str) and s["status"].strip().lower() in {"failed", "failure", "error"}
            for s in a.raw
        ]
        bn = a.bottleneck.node_id if a.bottleneck else None
        assert got["is_bottleneck"] == [i == bn for i in a.node_ids]
        checked += n
    return checked


def _us(value) -> int:
    import datetime as dt

    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta // dt.timedelta(microseconds=1)
