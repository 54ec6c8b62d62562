"""A second, deliberately naive reading of ``shared/spec/analysis.md`` for differential tests.

Written straight from the spec's sentences: recursive, quadratic, no shared
code with :mod:`gctrace_nb.core.analysis` except timestamp parsing. Small inputs only.
"""

from __future__ import annotations

from gctrace_nb._time import parse_timestamp

FAILED = {"failed", "failure", "error"}


def analyze(entries: list) -> dict:
    anomalies = set()
    kept = {}
    order = []
    for e in entries:
        nid = e.get("nodeId") if isinstance(e, dict) else None
        if not isinstance(nid, str) or nid == "":
            anomalies.add(("", "missing_id"))
            continue
        if nid in kept:
            anomalies.add((nid, "duplicate"))
            continue
        kept[nid] = e
        order.append(nid)

    start = {i: parse_timestamp(kept[i].get("startTime")) for i in order}
    end = {i: parse_timestamp(kept[i].get("endTime")) for i in order}
    valid = {}
    for i in order:
        if start[i] is None or end[i] is None:
            anomalies.add((i, "untimed"))
            valid[i] = False
        elif end[i] < start[i]:
            anomalies.add((i, "negative_duration"))
            valid[i] = False
        else:
            valid[i] = True

    parent = {}
    for i in order:
        pid = kept[i].get("parentId")
        if pid is None or pid == "":
            parent[i] = None
        elif isinstance(pid, str) and pid in kept:
            parent[i] = pid
        else:
            anomalies.add((i, "orphan"))
            parent[i] = None

    # cycles: find any node whose ancestor walk returns to itself
    def cycle_of(i):
        seen = [i]
        j = parent[i]
        while j is not None:
            if j == i:
                return seen
            if j in seen:
                return None
            seen.append(j)
            j = parent[j]
        return None

    while True:
        cyc = None
        for i in order:
            cyc = cycle_of(i)
            if cyc:
                break
        if not cyc:
            break
        for m in cyc:
            anomalies.add((m, "cycle"))

        def key(m):
            untimed = start[m] is None or end[m] is None
            return (1, 0, m) if untimed else (0, start[m], m)

        parent[min(cyc, key=key)] = None

    def depth(i):
        return 0 if parent[i] is None else 1 + depth(parent[i])

    def tparent(i):
        p = parent[i]
        while p is not None and not valid[p]:
            p = parent[p]
        return p

    vids = [i for i in order if valid[i]]
    vroots = [i for i in vids if tparent(i) is None]
    VIRTUAL = object()
    tp = {i: tparent(i) for i in vids}
    if len(vroots) == 1:
        top = vroots[0]
        topw = (start[top], end[top])
    elif vids:
        top = VIRTUAL
        topw = (min(start[i] for i in vids), max(end[i] for i in vids))
        for r in vroots:
            tp[r] = VIRTUAL
    else:
        top, topw = None, None

    def clipped(i):
        """A valid step's interval clipped to its timing parent's window; None when the walk never gets there."""
        if i == top:
            return topw
        pw = window(tp[i])
        if pw is None:  # the walk stopped above i
            return None
        return (max(start[i], pw[0]), min(end[i], pw[1]))

    def window(i):
        w = clipped(i)
        return w if w is not None and w[1] > w[0] else None

    # "The walk stops at a step whose clipped window is empty ... flagged when its own
    # duration is positive ... Nothing below it is flagged."
    for i in vids:
        if i != top:
            w = clipped(i)
            if w is not None and w[1] <= w[0] and end[i] > start[i]:
                anomalies.add((i, "outside_parent"))

    def kids(node):
        return [i for i in vids if i != top and tp[i] == node and window(i) is not None]

    crit = {}

    def walk(node, cursor):
        ns = window(node)[0]
        while True:
            cands = [k for k in kids(node) if window(k)[1] > ns and window(k)[1] <= cursor]
            if not cands:
                if cursor > ns:
                    crit[node] = crit.get(node, 0) + cursor - ns
                return
            c = min(cands, key=lambda k: (-window(k)[1], window(k)[0], k))
            if cursor > window(c)[1]:
                crit[node] = crit.get(node, 0) + cursor - window(c)[1]
            walk(c, window(c)[1])
            cursor = window(c)[0]

    if top is not None and window(top) is not None:
        walk(top, window(top)[1])

    def ms(us):
        return round(us / 1000.0, 3)

    path = [i for i in order if crit.get(i, 0) > 0]
    path.sort(key=lambda i: (window(i)[0], depth(i), i))
    bottleneck = None
    if path:
        b = min(path, key=lambda i: (-crit[i], window(i)[0], i))
        bottleneck = {"node_id": b, "critical_ms": ms(crit[b])}
    total = (max(end[i] for i in vids) - min(start[i] for i in vids)) if vids else 0
    failed = sorted(
        i for i in order
        if isinstance(kept[i].get("status"), str) and kept[i]["status"].strip().lower() in FAILED
    )
    n = len(entries)
    self_ms = {}
    for i in vids:
        w = window(i)
        if w is None:
            self_ms[i] = 0.0
            continue
        covered = set()
        for k in kids(i):
            covered.add(window(k))
        # measure of the union, by brute force over sorted endpoints
        pts = sorted({p for span in covered for p in span})
        cov = 0
        for a, b in zip(pts, pts[1:]):
            if any(s <= a and b <= e for s, e in covered):
                cov += b - a
        self_ms[i] = ms(w[1] - w[0] - cov)
    return {
        "steps": n,
        "valid_steps": len(vids),
        "accuracy_rate": round(len(vids) / n, 4) if n else 0.0,
        "total_ms": ms(total),
        "critical_path": path,
        "critical_ms": {i: ms(crit[i]) for i in path},
        "bottleneck": bottleneck,
        "failed_nodes": failed,
        "anomalies": [list(p) for p in sorted(anomalies)],
        "_self_ms": self_ms,
    }
