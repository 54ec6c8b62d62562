"""The exact analysis of one trace (``shared/spec/analysis.md``), in pure Python.

Every other view (frames, pictures, webhook, CLI JSON, batch) reads the
figures computed here, so they agree by construction. Times are integer
epoch microseconds; milliseconds appear only at the edges, rounded to 3
decimals. Every walk is iterative (a 100,000-step chain is fine) and the
whole analysis is O(n log n): sorting siblings dominates.

Spec choices where the text leaves room, made once here:
- An *empty* clipped window is one of zero or negative length.
- The clipping walk stops at the first step on each path whose clipped window
  is empty (the top's window is its own interval, even of zero length). That
  step alone is flagged ``outside_parent``, and only when its own duration is
  positive: the anomaly marks the root cause once (spec §2.8, clarified).
  Nothing below it is flagged, not even a positive step below a zero-length one.
- A ``parentId`` that is absent, null or an empty string means "no parent"
  (as in the design's Go model, where ``ParentID != ""`` marks a child); any
  other value that names no kept step is an ``orphan``.
- Times are whole microseconds (:mod:`gctrace_nb._time`): epoch-ms
  numbers are rounded to the microsecond, ISO digits past it are cut, ISO
  strings follow Python's ``datetime.fromisoformat`` (plus a lowercase ``z``),
  and instants a datetime cannot hold (before 0001-01-02, after 9999-12-30)
  count as missing, so frames can always show them.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from functools import cached_property
from html import escape
from typing import Any, Iterable

from .._time import parse_timestamp

__all__ = [
    "Analysis",
    "Bottleneck",
    "analyze_steps",
    "ANOMALY_KINDS",
    "FAILED_STATUSES",
    "STEP_FLAG_KINDS",
    "is_failed_status",
    "ms",
]

ANOMALY_KINDS = (
    "missing_id",
    "duplicate",
    "untimed",
    "negative_duration",
    "orphan",
    "cycle",
    "outside_parent",
)
FAILED_STATUSES = frozenset({"failed", "failure", "error"})
#: Anomaly kinds that can mark a kept step (``missing_id`` marks a dropped one).
STEP_FLAG_KINDS = tuple(k for k in ANOMALY_KINDS if k != "missing_id")
_VIRTUAL = -1  # index of the virtual root in parent/timing-parent arrays
_NO_PARENT = -2


def ms(micros: int | float) -> float:
    """Microseconds to milliseconds rounded to 3 decimals, the spec's output unit.

    ``micros / 1000`` on an int is exact before it rounds; ``micros / 1000.0`` would
    first turn a count past 2**53 µs (285 years) into a float and lose its last digits.
    """
    return round(micros / 1000, 3)


@dataclass(frozen=True)
class Bottleneck:
    """The critical-path step that holds the most critical time."""

    node_id: str
    critical_ms: float

    def to_json(self) -> dict:
        return {"node_id": self.node_id, "critical_ms": self.critical_ms}


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything the spec computes for one trace, plus per-step columns.

    The per-step tuples are indexed by *kept* step (document order, dropped
    entries removed). Times are epoch microseconds (``None`` where absent).
    """

    # figures of spec §3-4
    steps_total: int
    valid_steps: int
    accuracy_rate: float
    total_ms: float
    critical_path: tuple[str, ...]
    critical_ms: dict  # node_id -> ms, for steps on the critical path
    bottleneck: Bottleneck | None
    failed_nodes: tuple[str, ...]
    anomalies: tuple[tuple[str, str], ...]
    # per kept step
    node_ids: tuple[str, ...]
    parent_index: tuple[int, ...]  # cleaned parent (-2: none)
    timing_parent: tuple[int, ...]  # nearest valid ancestor (-1: virtual root, -2: none)
    depth: tuple[int, ...]
    start_us: tuple[int | None, ...]
    end_us: tuple[int | None, ...]
    valid: tuple[bool, ...]
    window: tuple[tuple[int, int] | None, ...]  # clipped window of steps taking part
    self_us: tuple[int, ...]
    critical_us: tuple[int, ...]
    flags: tuple[frozenset, ...]  # anomaly kinds of each kept step
    raw: tuple[dict, ...]  # the kept step objects as given
    kept_positions: tuple[int, ...]  # position of each kept step in the document
    # trace-level
    top: int | None  # kept index of the top, -1 when virtual, None when no valid step
    top_window: tuple[int, int] | None
    segments: tuple[tuple[int, int, int], ...]  # (kept index or -1 virtual, start_us, end_us)
    dropped: tuple[tuple[int, str, str], ...]  # (document position, node id or "", kind)

    # ------------------------------------------------------------------ views
    @property
    def steps(self) -> int:
        """Entries in the steps list, dropped ones included (spec ``steps``)."""
        return self.steps_total

    @cached_property
    def index_of(self) -> dict:
        """node_id -> kept index."""
        return {node_id: i for i, node_id in enumerate(self.node_ids)}

    @property
    def failed(self) -> bool:
        return bool(self.failed_nodes)

    @cached_property
    def earliest_start_us(self) -> int | None:
        """The earliest valid start (spec §3: ``total_ms`` is measured from it); ``None`` with no valid step."""
        return min((s for s, ok in zip(self.start_us, self.valid) if ok and s is not None), default=None)

    @property
    def anomaly_count(self) -> int:
        return len(self.anomalies)

    @cached_property
    def on_critical_path(self) -> tuple[bool, ...]:
        return tuple(c > 0 for c in self.critical_us)

    def to_json(self, file: str | None = None) -> dict:
        """The object ``gctrace analyze --format json`` prints for one file (spec §5)."""
        out: dict[str, Any] = {}
        if file is not None:
            out["file"] = file
        out.update(
            {
                "steps": self.steps_total,
                "valid_steps": self.valid_steps,
                "accuracy_rate": self.accuracy_rate,
                "total_ms": self.total_ms,
                "critical_path": list(self.critical_path),
                "critical_ms": dict(self.critical_ms),
                "bottleneck": self.bottleneck.to_json() if self.bottleneck else None,
                "failed_nodes": list(self.failed_nodes),
                "anomalies": [list(pair) for pair in self.anomalies],
            }
        )
        return out

    def _repr_html_(self) -> str:
        """The spec's figures as a small HTML table, critical path with ms (a notebook fragment)."""
        listed = 12

        def ms_text(value: float | None) -> str:
            return "n/a" if value is None else f"{value:,.3f} ms"

        bn = f"{self.bottleneck.node_id} ({ms_text(self.bottleneck.critical_ms)})" if self.bottleneck else "none"
        rows = [
            ("steps", f"{self.steps_total} (valid {self.valid_steps}, accuracy {self.accuracy_rate:.2%})"),
            ("total", ms_text(self.total_ms)),
            ("bottleneck", bn),
            ("failed", ", ".join(self.failed_nodes[:listed]) or "none"),
            ("anomalies", ", ".join(f"{k}:{i or '(no id)'}" for i, k in self.anomalies[:listed]) or "none"),
        ]
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        path = "".join(
            f"<tr><td><code>{escape(n)}</code></td><td style='text-align:right'>{self.critical_ms[n]:,.3f}</td></tr>"
            for n in self.critical_path[:listed]
        )
        return (
            "<div class='gctrace-analysis'>"
            f"<table>{body}</table>"
            f"<table><tr><th>critical path</th><th>ms</th></tr>{path}</table>"
            "</div>"
        )

    def __repr__(self) -> str:
        bn = f"{self.bottleneck.node_id!r} {self.bottleneck.critical_ms} ms" if self.bottleneck else "none"
        return (
            f"<Analysis steps={self.steps_total} valid={self.valid_steps} total_ms={self.total_ms} "
            f"bottleneck={bn} failed={len(self.failed_nodes)} anomalies={len(self.anomalies)}>"
        )


_NO_FLAGS: frozenset = frozenset()


def _flag_tuple(flags: dict, n: int) -> tuple[frozenset, ...]:
    out = [_NO_FLAGS] * n
    for i, kinds in flags.items():
        out[i] = frozenset(kinds)
    return tuple(out)


def is_failed_status(status: Any) -> bool:
    """Whether a step's ``status`` means failure (spec §3: trimmed, lower-cased, one of :data:`FAILED_STATUSES`)."""
    return isinstance(status, str) and status.strip().lower() in FAILED_STATUSES


def analyze_steps(entries: Iterable[Any]) -> Analysis:
    """Clean and analyse a steps list exactly as ``spec/analysis.md`` says.

    One helper per section of the spec, called in the spec's order. They pass
    plain lists indexed by kept step, named here, so each helper's signature
    shows what its rule reads and every hot loop runs on locals (as fast as one
    long function). Anomaly kinds go into ``flags`` as the phases find them.
    """
    entries = list(entries)
    raw, ids, positions, start, end, valid, parent, flags, anomalies, dropped = _clean(entries)
    order, depth = _tree_order(parent)
    tparent = _timing_parents(order, parent, valid)
    n_valid, total_us, top, top_window = _choose_top(start, end, valid, tparent)
    window, tchildren = _clip_windows(order, start, end, valid, tparent, top, top_window, flags)
    self_us = _self_times(window, tchildren)
    critical, segments = _critical_walk(top, top_window, window, tchildren, ids)
    critical_path, critical_ms, bottleneck = _critical_results(critical, window, depth, ids)

    for i, kinds in flags.items():
        for kind in kinds:
            anomalies.add((ids[i], kind))
    n = len(ids)
    failed = tuple(sorted(ids[i] for i in range(n) if is_failed_status(raw[i].get("status"))))
    total = len(entries)
    return Analysis(
        steps_total=total,
        valid_steps=n_valid,
        accuracy_rate=round(n_valid / total, 4) if total else 0.0,
        total_ms=ms(total_us),
        critical_path=critical_path,
        critical_ms=critical_ms,
        bottleneck=bottleneck,
        failed_nodes=failed,
        anomalies=tuple(sorted(anomalies)),
        node_ids=tuple(ids),
        parent_index=tuple(parent),
        timing_parent=tuple(tparent),
        depth=tuple(depth),
        start_us=tuple(start),
        end_us=tuple(end),
        valid=tuple(valid),
        window=tuple(window),
        self_us=tuple(self_us),
        critical_us=tuple(critical),
        flags=_flag_tuple(flags, n),
        raw=tuple(raw),
        kept_positions=tuple(positions),
        top=top,
        top_window=top_window,
        segments=tuple(segments),
        dropped=tuple(dropped),
    )


def _clean(entries: list) -> tuple:
    """Spec §2.1-2.5, in the spec's order: drop entries, read times, link parents, break cycles.

    Returns, per kept step: the step objects, ids, document positions, start,
    end, validity and cleaned parent (``_NO_PARENT`` for a root); then the
    anomaly kinds of the few kept steps that have any, the (id, kind)
    anomalies of dropped entries, and the dropped entries (position, id, kind).
    """
    anomalies: set[tuple[str, str]] = set()
    dropped: list[tuple[int, str, str]] = []
    flags: defaultdict[int, set[str]] = defaultdict(set)
    raw, ids, positions, index_of = _drop_missing_and_duplicates(entries, anomalies, dropped, flags)
    start, end, valid = _parse_times(raw, flags)
    parent = _link_parents(raw, index_of, flags)
    _break_cycles(parent, start, end, ids, flags)
    return raw, ids, positions, start, end, valid, parent, flags, anomalies, dropped


def _drop_missing_and_duplicates(
    entries: list, anomalies: set, dropped: list, flags: defaultdict
) -> tuple[list[dict], list[str], list[int], dict[str, int]]:
    """Spec §2.1 ``missing_id`` and §2.2 ``duplicate``: drop them; the first of a duplicated id is kept and flagged."""
    raw: list[dict] = []
    ids: list[str] = []
    positions: list[int] = []
    index_of: dict[str, int] = {}
    dup_ids: set[str] = set()
    for pos, entry in enumerate(entries):
        node_id = entry.get("nodeId") if isinstance(entry, dict) else None
        if not isinstance(node_id, str) or not node_id:
            anomalies.add(("", "missing_id"))
            dropped.append((pos, "", "missing_id"))
            continue
        if node_id in index_of:
            anomalies.add((node_id, "duplicate"))
            dropped.append((pos, node_id, "duplicate"))
            dup_ids.add(node_id)
            continue
        index_of[node_id] = len(ids)
        ids.append(node_id)
        raw.append(entry)
        positions.append(pos)
    for node_id in dup_ids:
        flags[index_of[node_id]].add("duplicate")
    return raw, ids, positions, index_of


def _parse_times(raw: list[dict], flags: defaultdict) -> tuple[list[int | None], list[int | None], list[bool]]:
    """Spec §2.3: ``untimed`` and ``negative_duration`` steps stay but are not valid."""
    n = len(raw)
    start: list[int | None] = [None] * n
    end: list[int | None] = [None] * n
    valid = [False] * n
    for i, entry in enumerate(raw):
        s = parse_timestamp(entry.get("startTime"))
        e = parse_timestamp(entry.get("endTime"))
        start[i], end[i] = s, e
        if s is None or e is None:
            flags[i].add("untimed")
        elif e < s:
            flags[i].add("negative_duration")
        else:
            valid[i] = True
    return start, end, valid


def _link_parents(raw: list[dict], index_of: dict[str, int], flags: defaultdict) -> list[int]:
    """Spec §2.4: a ``parentId`` naming no kept step is an ``orphan`` and cleared (absent, null or "" is no parent)."""
    parent = [_NO_PARENT] * len(raw)
    for i, entry in enumerate(raw):
        pid = entry.get("parentId")
        if pid is None or pid == "":
            continue
        p = index_of.get(pid) if isinstance(pid, str) else None
        if p is None:
            flags[i].add("orphan")
        else:
            parent[i] = p
    return parent


def _break_cycles(
    parent: list[int], start: list[int | None], end: list[int | None], ids: list[str], flags: defaultdict
) -> None:
    """Spec §2.5: flag every ``cycle`` member; the earliest (untimed last, then smallest id) drops its parent link.

    Every node has at most one parent, so each component holds at most one
    cycle: one walk up from each unseen node finds it, iteratively.
    """
    state = [0] * len(parent)  # 0 new, 1 on the current path, 2 settled
    for i in range(len(parent)):
        if state[i]:
            continue
        path: list[int] = []
        j = i
        while j != _NO_PARENT and state[j] == 0:
            state[j] = 1
            path.append(j)
            j = parent[j]
        if j != _NO_PARENT and state[j] == 1:  # closed a cycle at j
            members = path[path.index(j):]
            for m in members:
                flags[m].add("cycle")

            def cycle_key(m: int) -> tuple:
                untimed = start[m] is None or end[m] is None
                return (1, 0, ids[m]) if untimed else (0, start[m], ids[m])

            parent[min(members, key=cycle_key)] = _NO_PARENT
        for m in path:
            state[m] = 2


def _tree_order(parent: list[int]) -> tuple[list[int], list[int]]:
    """Breadth-first order (parents first) and depth in the cleaned parent tree (spec §2.6 walks it, §4 sorts by depth)."""
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for i, p in enumerate(parent):
        if p == _NO_PARENT:
            roots.append(i)
        else:
            children.setdefault(p, []).append(i)
    depth = [0] * len(parent)
    order: list[int] = []
    queue = deque(roots)
    while queue:
        i = queue.popleft()
        order.append(i)
        kids = children.get(i)
        if kids:
            d = depth[i] + 1
            for c in kids:
                depth[c] = d
            queue.extend(kids)
    return order, depth


def _timing_parents(order: list[int], parent: list[int], valid: list[bool]) -> list[int]:
    """Spec §2.6: a valid step's timing parent is its nearest valid ancestor (``_NO_PARENT``: none yet)."""
    tparent = [_NO_PARENT] * len(parent)
    for i in order:
        p = parent[i]
        if p != _NO_PARENT:
            tparent[i] = p if valid[p] else tparent[p]
    return tparent


def _choose_top(
    start: list[int | None], end: list[int | None], valid: list[bool], tparent: list[int]
) -> tuple[int, int, int | None, tuple[int, int] | None]:
    """Spec §2.7: the one valid root is the top, else a virtual root spanning every valid step.

    Returns (valid steps, total µs, top, its window); the top is a kept index,
    ``_VIRTUAL`` (then the valid roots' timing parent becomes ``_VIRTUAL``), or
    ``None`` when no step is valid.
    """
    valid_idx = [i for i in range(len(valid)) if valid[i]]
    if not valid_idx:
        return 0, 0, None, None
    valid_roots = [i for i in valid_idx if tparent[i] == _NO_PARENT]
    earliest: int = min(start[i] for i in valid_idx)  # type: ignore[type-var, assignment]
    latest: int = max(end[i] for i in valid_idx)  # type: ignore[type-var, assignment]
    if len(valid_roots) == 1:
        top = valid_roots[0]
        top_window: tuple[int, int] = (start[top], end[top])  # type: ignore[assignment]
        return len(valid_idx), latest - earliest, top, top_window
    for r in valid_roots:
        tparent[r] = _VIRTUAL
    return len(valid_idx), latest - earliest, _VIRTUAL, (earliest, latest)


def _clip_windows(
    order: list[int],
    start: list[int | None],
    end: list[int | None],
    valid: list[bool],
    tparent: list[int],
    top: int | None,
    top_window: tuple[int, int] | None,
    flags: defaultdict,
) -> tuple[list[tuple[int, int] | None], dict[int, list[int]]]:
    """Spec §2.8: clip top-down; the walk stops at an empty window, flagged ``outside_parent`` once.

    A valid step whose timing parent has a (non-empty) window gets its interval
    clipped to it; where that is empty the walk stops: the step is flagged when
    its own duration is positive, and nothing below it is reached (its timing
    parent has no window), so nothing below is flagged. Returns the non-empty
    windows and, per step, its children taking part (the critical path's tree).
    """
    window: list[tuple[int, int] | None] = [None] * len(start)  # non-empty windows only
    tchildren: dict[int, list[int]] = {}
    top_takes_part = top_window is not None and top_window[1] > top_window[0]
    if top is not None and top >= 0 and top_takes_part:
        window[top] = top_window
    for i in order:
        if not valid[i] or i == top:
            continue
        tp = tparent[i]
        pw = (top_window if top_takes_part else None) if tp == _VIRTUAL else window[tp]
        if pw is None:  # below a step where the walk stopped
            continue
        s, e = start[i], end[i]
        cs = s if s > pw[0] else pw[0]  # type: ignore[operator]
        ce = e if e < pw[1] else pw[1]  # type: ignore[operator]
        if ce > cs:  # type: ignore[operator]
            window[i] = (cs, ce)  # type: ignore[assignment]
            tchildren.setdefault(tp, []).append(i)
        elif e > s:  # type: ignore[operator]
            flags[i].add("outside_parent")
    return window, tchildren


def _self_times(window: list[tuple[int, int] | None], tchildren: dict[int, list[int]]) -> list[int]:
    """Spec §3 ``self_ms``: a step's clipped window minus the union of its children's clipped windows."""
    self_us = [0] * len(window)
    for i in range(len(window)):
        w = window[i]
        if w is None:
            continue
        covered = 0
        kids = tchildren.get(i)
        if kids:
            spans = sorted(window[k] for k in kids)  # type: ignore[type-var]
            cur_s, cur_e = spans[0]  # type: ignore[misc]
            for s, e in spans[1:]:  # type: ignore[misc]
                if s > cur_e:
                    covered += cur_e - cur_s
                    cur_s, cur_e = s, e
                elif e > cur_e:
                    cur_e = e
            covered += cur_e - cur_s
        self_us[i] = (w[1] - w[0]) - covered
    return self_us


def _critical_walk(
    top: int | None,
    top_window: tuple[int, int] | None,
    window: list[tuple[int, int] | None],
    tchildren: dict[int, list[int]],
    ids: list[str],
) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Spec §4: the backward walk from the top, with an explicit stack (chains can be 100,000 deep).

    Returns each step's critical µs and the walk's segments (owner, start,
    end) sorted by start; the virtual root's own segments are kept (they
    cover gaps between roots) but it has no critical figure.
    """
    critical = [0] * len(window)
    segments: list[tuple[int, int, int]] = []
    if top is None or top_window is None or top_window[1] <= top_window[0]:  # the top takes no part
        return critical, segments
    stack = [top]
    while stack:
        node = stack.pop()
        ns, cursor = top_window if node == _VIRTUAL or node == top else window[node]  # type: ignore[misc]
        kids = tchildren.get(node, ())
        # latest end first; ties: earliest start, then smallest nodeId
        ranked = sorted(kids, key=lambda k: (-window[k][1], window[k][0], ids[k]))  # type: ignore[index]
        owned = 0
        for k in ranked:
            ks, ke = window[k]  # type: ignore[misc]
            if ke > cursor or ke <= ns:
                continue
            if cursor > ke:
                segments.append((node, ke, cursor))
                owned += cursor - ke
            stack.append(k)
            cursor = ks
        if cursor > ns:
            segments.append((node, ns, cursor))
            owned += cursor - ns
        if node != _VIRTUAL:
            critical[node] += owned
    segments.sort(key=lambda seg: seg[1])
    return critical, segments


def _critical_results(
    critical: list[int], window: list[tuple[int, int] | None], depth: list[int], ids: list[str]
) -> tuple[tuple[str, ...], dict[str, float], Bottleneck | None]:
    """Spec §4 results: the path (by window start, depth, id), its ms, and the bottleneck (most ms; ties as the spec)."""
    on_path = [i for i in range(len(ids)) if critical[i] > 0]
    on_path.sort(key=lambda i: (window[i][0], depth[i], ids[i]))  # type: ignore[index]
    bottleneck = None
    if on_path:
        best = min(on_path, key=lambda i: (-critical[i], window[i][0], ids[i]))  # type: ignore[index]
        bottleneck = Bottleneck(ids[best], ms(critical[best]))
    return tuple(ids[i] for i in on_path), {ids[i]: ms(critical[i]) for i in on_path}, bottleneck
