"""The spec analysis of many traces at once, vectorised with numpy.

:func:`analyze_columns` takes the steps of many traces as flat columns and
returns, per kept step, the same integers :func:`gctrace_nb.core.analysis.analyze_steps`
computes one trace at a time. Tree walks become pointer jumping (each round
doubles how far every step has looked up its ancestors), so the whole batch
costs O(n log depth) array operations:

- depth, and the nearest *valid* ancestor (timing parent), by pointer jumping;
- a clipped window is the running max of starts / min of ends up the timing
  path (clipping nests, so an empty window stays empty below); only the first
  empty window on a path (its timing parent's is not empty) is ``outside_parent``;
- the critical path: a step's *predecessor* is the best sibling ending at or
  before its start (an as-of lookup per parent: ``searchsorted`` on packed keys); each parent's chain starts at
  its best child and follows predecessors (marked by doubling); a step is
  walked when it and every timing ancestor are in their parent's chain; its
  critical time is its window minus the windows of its chain children.

Traces whose parent links hold a cycle are returned for the pure-Python path.
Every virtual root is an extra node ``K + trace`` so tops are uniform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "VectorResult", "analyze_columns", "parse_fixed_iso", "parse_fixed_iso_bytes", "sort_rows",
]

_I64 = np.int64
_NONE = -1


def parse_fixed_iso(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Parse a list of same-length ``YYYY-MM-DDTHH:MM:SS[.f...]Z`` strings as bytes arithmetic.

    Returns (µs, present mask, rows that do not fit the shape) or ``None`` when the
    list is not all strings of one length. Rows that fit the shape are exact
    (they match the core's ISO pattern, so an impossible date is missing, as there).
    """
    n = len(values)
    if n == 0:
        return None
    try:
        blob = "".join(values)
    except TypeError:
        return None
    lengths = set(map(len, values))
    if len(lengths) != 1 or not blob.isascii():
        return None
    L = lengths.pop()
    if L != 20 and L < 22:
        return None
    return parse_fixed_iso_bytes(blob.encode("ascii"), L)


def parse_fixed_iso_bytes(data: bytes, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`parse_fixed_iso` on ASCII bytes holding ``len(data) // L`` strings of length ``L``."""
    from .._time import MAX_US, MIN_US

    n = len(data) // L
    m = np.frombuffer(data, dtype=np.uint8).reshape(n, L)
    digit_pos = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] + list(range(20, L - 1))
    seps = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", L - 1: b"Z"}
    if L > 20:
        seps[19] = b"."
    d = m[:, digit_pos] - np.uint8(48)  # one contiguous copy of the digit columns
    fits = d.max(axis=1) <= 9  # a byte below "0" wraps above 9
    cols = sorted(seps)
    fits &= (m[:, cols] == np.array([seps[c][0] for c in cols], dtype=np.uint8)).all(axis=1)
    d = d.astype(np.int32)  # every field (and the day count) fits an int32, even for rows that do not fit

    def num(a: int, b: int) -> np.ndarray:  # the number written by digits a..b-1 of digit_pos
        out = d[:, a].copy()
        for k in range(a + 1, b):
            out *= 10
            out += d[:, k]
        return out

    y, mo, day, h, mi, sec = num(0, 4), num(4, 6), num(6, 8), num(8, 10), num(10, 12), num(12, 14)
    nfrac = min(L - 21, 6) if L > 20 else 0
    micro = num(14, 14 + nfrac).astype(_I64) * (10 ** (6 - nfrac)) if nfrac else np.zeros(n, dtype=_I64)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)[np.clip(mo, 0, 12)]
    dim = dim + ((mo == 2) & leap)
    ok = fits & (y >= 1) & (mo >= 1) & (mo <= 12) & (day >= 1) & (day <= dim) & (h <= 23) & (mi <= 59) & (sec <= 59)
    y2 = y - (mo <= 2)
    era = np.where(y2 >= 0, y2, y2 - 399) // 400
    yoe = y2 - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = (era * 146097 + doe - 719468).astype(_I64)
    value = (days * 86400 + (h * 3600 + mi * 60 + sec)) * 1_000_000 + micro
    ok &= (value >= MIN_US) & (value <= MAX_US)
    return np.where(ok, value, 0), ok, np.nonzero(~fits)[0]


@dataclass
class VectorResult:
    """Per kept step (arrays of length K, in (trace, position) order) and per trace."""

    keep_rows: np.ndarray  # row index of each kept step in the input columns
    tid: np.ndarray
    parent: np.ndarray  # kept index of the cleaned parent, -1 none
    depth: np.ndarray
    valid: np.ndarray
    ws: np.ndarray  # clipped window (only meaningful where has_window)
    we: np.ndarray
    has_window: np.ndarray
    self_us: np.ndarray
    critical_us: np.ndarray
    flags: dict  # kind -> bool array
    missing_id: np.ndarray  # per trace: some entry had no id
    earliest: np.ndarray  # per trace: earliest valid start (meaningless without valid steps)
    latest: np.ndarray
    fallback: np.ndarray  # trace ids that must be analysed by the pure-Python path


def _jump_depth(parent: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Depth of every node, and a mask of nodes that never reach a root (cycles)."""
    anc = parent.copy()
    depth = (parent >= 0).astype(_I64)
    for _ in range(limit):
        idx = np.nonzero(anc >= 0)[0]
        if idx.size == 0:
            break
        a = anc[idx]
        new_depth = depth.copy()
        new_depth[idx] += depth[a]
        new_anc = anc.copy()
        new_anc[idx] = anc[a]
        depth, anc = new_depth, new_anc
    return depth, anc >= 0


def _nearest_marked_ancestor(parent: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """For each node, its nearest ancestor with ``marked`` set (-1 if none)."""
    nxt = parent.copy()
    while True:
        idx = np.nonzero(nxt >= 0)[0]
        idx = idx[~marked[nxt[idx]]]
        if idx.size == 0:
            return nxt
        new = nxt.copy()
        new[idx] = nxt[nxt[idx]]
        nxt = new


def _jump_reduce(values: np.ndarray, parent: np.ndarray, op) -> np.ndarray:
    """``op`` (an associative ufunc) of each node's value and all its ancestors' values."""
    acc = values.copy()
    jump = parent.copy()
    while True:
        idx = np.nonzero(jump >= 0)[0]
        if idx.size == 0:
            return acc
        j = jump[idx]
        new_acc = acc.copy()
        new_acc[idx] = op(acc[idx], acc[j])
        new_jump = jump.copy()
        new_jump[idx] = jump[j]
        acc, jump = new_acc, new_jump


def _mark_orbits(nxt: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mark every node reached from ``starts`` by following ``nxt`` any number of times."""
    jumps = [nxt]
    while True:
        last = jumps[-1]
        idx = np.nonzero(last >= 0)[0]
        if idx.size == 0:
            break
        composed = np.full_like(last, _NONE)
        composed[idx] = last[last[idx]]
        jumps.append(composed)
    marked = np.zeros(nxt.shape[0], dtype=bool)
    marked[starts] = True
    for jump in reversed(jumps[:-1]):
        src = np.nonzero(marked & (jump >= 0))[0]
        marked[jump[src]] = True
    return marked


def _segment_sum(keys: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 sums of ``values`` grouped by ``keys`` into an array of ``size``."""
    out = np.zeros(size, dtype=_I64)
    if keys.size:
        np.add.at(out, keys, values)
    return out


def _runs_equal(*cols: np.ndarray) -> np.ndarray:
    """For sorted rows: True where a row equals the previous one in every column."""
    n = cols[0].shape[0]
    same = np.zeros(n, dtype=bool)
    if n > 1:
        eq = np.ones(n - 1, dtype=bool)
        for c in cols:
            eq &= c[1:] == c[:-1]
        same[1:] = eq
    return same


class _KeptIds:
    """``ids[g]`` of kept step ``g``, read on demand (only tied steps are looked up)."""

    def __init__(self, ids: list, keep_rows: np.ndarray) -> None:
        self.ids, self.keep_rows = ids, keep_rows

    def __getitem__(self, g: int) -> str:
        return self.ids[self.keep_rows[g]]


def _break_ties_by_name(order: np.ndarray, tied: np.ndarray, names) -> np.ndarray:
    """Within runs of ``order`` marked ``tied`` (equal to the previous row), sort by ``names[g]``."""
    order = order.copy()
    idx = np.nonzero(tied)[0]
    if idx.size == 0:
        return order
    # runs of tied rows: each starts one row before its first tied row
    breaks = np.nonzero(np.diff(idx) != 1)[0]
    starts = np.concatenate([[idx[0]], idx[breaks + 1]]) - 1
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        order[lo:hi] = sorted(order[lo:hi].tolist(), key=lambda g: names[g])
    return order


def _pack_times(times: np.ndarray, max_key: int) -> tuple[int, int, np.ndarray, np.ndarray | None]:
    """Order-preserving small ints for ``times`` so that ``key * R + t`` fits an int64.

    Returns (base, R, packed times, table): the times minus their minimum when
    that fits, else their dense ranks and the table to map ranks back.
    """
    lo, hi = int(times.min()), int(times.max())
    span = hi - lo + 1
    if (max_key + 1) * span < 2**62:
        return lo, span, times - lo, None
    uniq, rank = np.unique(times, return_inverse=True)
    return 0, uniq.shape[0], rank, uniq


def lexorder(keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort(keys[::-1])`` (most significant key first; stable): the same permutation.

    Keys are packed into as few int64 columns as their ranges allow and sorted
    with stable argsorts, least significant column first (a radix-style sort
    over whole columns is far faster than ``lexsort`` on large arrays).
    """
    n = keys[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=_I64)
    packed: list[np.ndarray] = []
    current = None
    room = 1  # the product of the ranges packed into ``current``
    for k in reversed(keys):  # least significant first
        k = k.astype(_I64, copy=False)
        lo, hi = int(k.min()), int(k.max())
        span = hi - lo + 1
        if span >= 2**62:  # k - lo could overflow: a column of its own, as it is
            if current is not None:
                packed.append(current)
            packed.append(k)
            current, room = None, 1
        elif current is not None and room * span < 2**62:
            current = current + (k - lo) * room
            room *= span
        else:
            if current is not None:
                packed.append(current)
            current, room = k - lo, span
    if current is not None:
        packed.append(current)
    order = np.argsort(packed[0], kind="stable")
    for column in packed[1:]:
        order = order[np.argsort(column[order], kind="stable")]
    return order


def sort_rows(keys: list[np.ndarray], names) -> np.ndarray:
    """Row order by ``keys`` (most significant first), ties broken by ``names()[row]`` (exact string order).

    ``names`` is called only when there is a tie.
    """
    order = lexorder(keys)
    tied = _runs_equal(*(k[order] for k in keys))
    if tied.any():
        order = _break_ties_by_name(order, tied, names())
    return order


def analyze_columns(
    tid: np.ndarray,
    nid_key: np.ndarray,
    pid_key: np.ndarray,
    present: np.ndarray,
    has_parent: np.ndarray,
    start_us: np.ndarray,
    end_us: np.ndarray,
    has_start: np.ndarray,
    has_end: np.ndarray,
    n_traces: int,
    ids: list,
) -> VectorResult:
    """Analyse every trace in flat columns (rows sorted by trace, then document position).

    Ids come as exact int64 keys of (trace, id) — equal keys, equal ids — so
    cleaning and lookups are integer work; ``ids`` (the values by row) is read
    only to break the rare ties the spec breaks by ``nodeId``. ``present``: a
    non-empty string id; ``has_parent``: a parent id neither null nor empty.
    Times are int64 µs with ``has_*`` masks.

    One helper per section of ``spec/analysis.md``, in the spec's order (the
    cycle check runs before timing only because it removes whole traces).
    Arrays of length K are per kept step; of length K + T, per step and per
    trace's virtual root.
    """
    T = n_traces
    tid = tid.astype(_I64, copy=False)
    missing_id, keep_rows, lookup_keys, lookup_g, dup_flag = _drop_missing_and_duplicates(tid, nid_key, present, T)
    parent, orphan = _link_parents(keep_rows, has_parent, pid_key, lookup_keys, lookup_g)
    tid_k = tid[keep_rows]
    fallback, acyclic, parent, depth = _set_aside_cycles(tid_k, parent, T)
    if acyclic is not None:
        keep_rows, tid_k, dup_flag, orphan = keep_rows[acyclic], tid_k[acyclic], dup_flag[acyclic], orphan[acyclic]
    K = keep_rows.shape[0]

    # spec §2.3: untimed and negative_duration steps stay, but are not valid
    s = start_us[keep_rows]
    e = end_us[keep_rows]
    timed = has_start[keep_rows] & has_end[keep_rows]
    valid = timed & (e >= s)

    pk, ext_valid, ext_s, ext_e, earliest, latest = _timing_tree(parent, valid, s, e, tid_k, T)
    ws, we, has_window, wlen, outside = _clip_windows(pk, ext_valid, ext_s, ext_e, valid, s, e)
    # children taking part, grouped by timing parent: the tree of §3 and §4
    child = np.nonzero(has_window & (pk >= 0))[0]
    cp, cs, ce = pk[child], ws[child], we[child]
    self_us = _self_times(cp, cs, ce, has_window, wlen)
    critical = _critical_times(child, cp, cs, ce, pk, ws, has_window, wlen, _KeptIds(ids, keep_rows))

    flags = {
        "duplicate": dup_flag,
        "untimed": ~timed,
        "negative_duration": timed & (e < s),
        "orphan": orphan,
        "cycle": np.zeros(K, dtype=bool),
        "outside_parent": outside,
    }
    return VectorResult(
        keep_rows=keep_rows,
        tid=tid_k,
        parent=parent,
        depth=depth,
        valid=valid,
        ws=ws[:K],
        we=we[:K],
        has_window=has_window[:K],
        self_us=self_us[:K],
        critical_us=critical[:K],
        flags=flags,
        missing_id=missing_id,
        earliest=earliest,
        latest=latest,
        fallback=fallback,
    )


def _drop_missing_and_duplicates(
    tid: np.ndarray, nid_key: np.ndarray, present: np.ndarray, T: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spec §2.1 ``missing_id`` and §2.2 ``duplicate``: drop them; the first of a duplicated id is kept and flagged.

    Returns (per trace: some entry had no id; the kept rows; the kept keys
    sorted and the kept index of each, for parent lookups; per kept step:
    its id was duplicated).
    """
    n_rows = tid.shape[0]
    missing_id = np.bincount(tid[~present], minlength=T) > 0
    rows_present = np.nonzero(present)[0]
    row_keys = nid_key[rows_present]
    order = np.argsort(row_keys, kind="stable")
    sorted_keys = row_keys[order]
    first_sorted = ~_runs_equal(sorted_keys)
    is_first = np.zeros(rows_present.shape[0], dtype=bool)
    is_first[order[first_sorted]] = True
    keep_rows = rows_present[is_first]
    K = keep_rows.shape[0]
    lookup_keys = sorted_keys[first_sorted]
    g_of_row = np.full(n_rows, _NONE, dtype=_I64)
    g_of_row[keep_rows] = np.arange(K, dtype=_I64)
    lookup_g = g_of_row[rows_present[order[first_sorted]]]
    dup_flag = np.zeros(K, dtype=bool)
    dup_sorted = ~first_sorted
    if dup_sorted.any():
        pos = np.searchsorted(lookup_keys, sorted_keys[dup_sorted])
        dup_flag[lookup_g[pos]] = True
    return missing_id, keep_rows, lookup_keys, lookup_g, dup_flag


def _link_parents(
    keep_rows: np.ndarray, has_parent: np.ndarray, pid_key: np.ndarray, lookup_keys: np.ndarray, lookup_g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spec §2.4: a parent id naming no kept step of its trace is an ``orphan`` and cleared (-1: no parent)."""
    K = keep_rows.shape[0]
    has_pid = has_parent[keep_rows]
    pkeys = pid_key[keep_rows]
    pos = np.minimum(np.searchsorted(lookup_keys, pkeys), max(K - 1, 0))
    found = has_pid & (lookup_keys[pos] == pkeys) if K else has_pid
    parent = np.where(found, lookup_g[pos] if K else _NONE, _NONE).astype(_I64)
    return parent, has_pid & ~found


def _set_aside_cycles(
    tid_k: np.ndarray, parent: np.ndarray, T: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Spec §2.5: a trace whose parent links close a cycle goes, whole, to the pure-Python path.

    Returns (those trace ids; the mask of kept steps that stay, or ``None``
    when all do; the parents renumbered over the steps that stay; their
    depths in the cleaned tree, found by the same pointer jumping).
    """
    limit = int(np.ceil(np.log2(max(parent.shape[0], 2)))) + 2
    depth, in_cycle = _jump_depth(parent, limit)
    fallback = np.unique(tid_k[in_cycle])
    if not fallback.size:
        return fallback, None, parent, depth
    bad_trace = np.zeros(T, dtype=bool)
    bad_trace[fallback] = True
    stays = ~bad_trace[tid_k]
    remap = np.cumsum(stays) - 1
    parent = parent[stays]
    parent = np.where(parent >= 0, remap[np.maximum(parent, 0)], _NONE)
    return fallback, stays, parent, depth[stays]


def _timing_tree(
    parent: np.ndarray, valid: np.ndarray, s: np.ndarray, e: np.ndarray, tid_k: np.ndarray, T: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spec §2.6 timing parents (nearest valid ancestor) and §2.7 tops: the one valid root, or a virtual root.

    The virtual root of trace t is node K + t, spanning [earliest valid start,
    latest valid end], so every trace has one top. Returns, over the K + T
    nodes, the timing parent (-1: a top, or a step taking no part) and the
    valid mask and interval (empty where not valid), then per trace the
    earliest start and latest end.
    """
    K = parent.shape[0]
    tparent = _nearest_marked_ancestor(parent, valid)
    valid_root = valid & (tparent < 0)
    n_roots = np.bincount(tid_k[valid_root], minlength=T)
    virtual = n_roots != 1
    big = np.iinfo(_I64).max
    earliest = np.full(T, big, dtype=_I64)
    latest = np.full(T, -big, dtype=_I64)
    np.minimum.at(earliest, tid_k[valid], s[valid])
    np.maximum.at(latest, tid_k[valid], e[valid])
    has_valid = np.bincount(tid_k[valid], minlength=T) > 0

    pk = np.full(K + T, _NONE, dtype=_I64)  # timing parent key over real + virtual nodes
    pk[:K] = np.where(valid, tparent, _NONE)
    to_virtual = valid_root & virtual[tid_k]
    pk[:K][to_virtual] = K + tid_k[to_virtual]
    ext_valid = np.concatenate([valid, has_valid & virtual])
    ext_s = np.concatenate([np.where(valid, s, 0), earliest])
    ext_e = np.concatenate([np.where(valid, e, -1), latest])
    ext_s[~ext_valid] = 0
    ext_e[~ext_valid] = -1
    return pk, ext_valid, ext_s, ext_e, earliest, latest


def _clip_windows(
    pk: np.ndarray, ext_valid: np.ndarray, ext_s: np.ndarray, ext_e: np.ndarray,
    valid: np.ndarray, s: np.ndarray, e: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spec §2.8: windows clipped down the timing tree; the first empty one on a path is ``outside_parent``, once.

    Clipping nests, so a window is the max of the starts and min of the ends
    up the timing path, and an empty window stays empty below. Only the step
    whose timing parent's window is not empty is where the walk stopped; it
    is flagged when its own duration is positive. Returns (window start, end,
    whether it is non-empty, its length or 0, per kept step: flagged).
    """
    K = valid.shape[0]
    ws = _jump_reduce(ext_s, pk, np.maximum)
    we = _jump_reduce(ext_e, pk, np.minimum)
    has_window = ext_valid & (we > ws)
    has_pk = pk[:K] >= 0
    parent_window = has_pk & has_window[np.maximum(pk[:K], 0)]  # the walk stops at the first empty window
    outside = valid & parent_window & ~has_window[:K] & (e > s)  # only that step, when its duration is positive
    wlen = np.where(has_window, we - ws, 0)
    return ws, we, has_window, wlen, outside


def _self_times(cp: np.ndarray, cs: np.ndarray, ce: np.ndarray, has_window: np.ndarray, wlen: np.ndarray) -> np.ndarray:
    """Spec §3 ``self_ms``: each window minus the union of its children's windows (children: parent cp, window cs-ce).

    Children sorted by start: each adds what reaches past the running max end
    of its elder siblings, so the union needs no loop.
    """
    order = lexorder([cp, cs])
    sp, ss, se = cp[order], cs[order], ce[order]
    covered = np.zeros(has_window.shape[0], dtype=_I64)
    if order.size:
        base, R, rank_e, uniq_e = _pack_times(se, int(sp.max()))
        running = np.maximum.accumulate(sp * R + rank_e)  # groups ascend, so this is per group
        prev = np.empty_like(se)
        prev[1:] = (running[:-1] % R) + base if uniq_e is None else uniq_e[running[:-1] % R]
        new_group = np.ones(order.size, dtype=bool)
        new_group[1:] = sp[1:] != sp[:-1]
        prev[new_group] = ss[new_group]
        contrib = np.maximum(se - np.maximum(ss, prev), 0)
        np.add.at(covered, sp, contrib)
    return np.where(has_window, wlen - covered, 0)


def _critical_chains(
    child: np.ndarray, cp: np.ndarray, cs: np.ndarray, ce: np.ndarray, ws: np.ndarray, names: _KeptIds
) -> np.ndarray:
    """Spec §4, the backward walk's picks: mark the children each parent's walk visits.

    Representatives: per (parent, end) the best child (earliest start, then
    smallest id, the spec's ties); a child's predecessor is the representative
    with the latest end at or before its start (an as-of lookup per parent).
    The walk of a parent starts at its latest-ending representative and
    follows predecessors: the marked nodes (over all K + T) are its chain.
    """
    size = ws.shape[0]
    nxt = np.full(size, _NONE, dtype=_I64)
    if not child.size:
        return np.zeros(size, dtype=bool)
    base = ws[cp]  # times relative to the parent's window start: same order within a parent, fewer bits
    order = lexorder([cp, ce - base, cs - base])
    tied = _runs_equal(cp[order], ce[order], cs[order])
    if tied.any():
        g_order = _break_ties_by_name(child[order], tied, names)
        pos_of = np.empty(size, dtype=_I64)
        pos_of[child] = np.arange(child.size)
        order = pos_of[g_order]
    rp, re = cp[order], ce[order]
    rep_mask = ~_runs_equal(rp, re)
    rep_g, rep_p, rep_e = child[order][rep_mask], rp[rep_mask], re[rep_mask]
    _, R, inv, _ = _pack_times(np.concatenate([rep_e, cs]), int(cp.max()))
    rep_key = rep_p * R + inv[: rep_e.shape[0]]
    q_key = cp * R + inv[rep_e.shape[0]:]
    idx = np.searchsorted(rep_key, q_key, side="right") - 1
    ok = idx >= 0
    ok[ok] = rep_p[idx[ok]] == cp[ok]
    nxt[child[ok]] = rep_g[idx[ok]]
    last_of_parent = np.ones(rep_p.shape[0], dtype=bool)
    last_of_parent[:-1] = rep_p[1:] != rep_p[:-1]
    return _mark_orbits(nxt, rep_g[last_of_parent])


def _critical_times(
    child: np.ndarray, cp: np.ndarray, cs: np.ndarray, ce: np.ndarray,
    pk: np.ndarray, ws: np.ndarray, has_window: np.ndarray, wlen: np.ndarray, names: _KeptIds,
) -> np.ndarray:
    """Spec §4 ``critical_ms``: a walked node's window minus the windows of the children its walk visits.

    A node is walked when it and every timing ancestor are in their parent's
    chain (a top: when it takes part).
    """
    size = ws.shape[0]
    in_chain = _critical_chains(child, cp, cs, ce, ws, names)
    is_top = has_window & (pk < 0)
    walked = _jump_reduce(np.where(pk >= 0, in_chain, is_top) & has_window, pk, np.minimum)
    chained = child[in_chain[child]]
    chain_cov = _segment_sum(pk[chained], wlen[chained], size)
    return np.where(walked, wlen - chain_cov, 0)
