"""The spec analysis of many traces at once, vectorised with numpy and polars.

:func:`analyze_columns` takes the steps of many traces as flat columns and
returns, per kept step, the same integers :func:`gctrace_nb.analysis.analyze_steps`
computes one trace at a time. Tree walks become pointer jumping (each round
doubles how far every step has looked up its ancestors), so the whole batch
costs O(n log depth) array operations:

- depth, and the nearest *valid* ancestor (timing parent), by pointer jumping;
- a clipped window is the running max of starts / min of ends up the timing
  path (clipping nests, so an empty window stays empty below);
- the critical path: a step's *predecessor* is the best sibling ending at or
  before its start (an as-of join per parent); each parent's chain starts at
  its best child and follows predecessors (marked by doubling); a step is
  walked when it and every timing ancestor are in their parent's chain; its
  critical time is its window minus the windows of its chain children.

Traces whose parent links hold a cycle are returned for the pure-Python path.
Every virtual root is an extra node ``K + trace`` so tops are uniform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["VectorResult", "analyze_columns", "parse_iso_column"]

_I64 = np.int64
_NONE = -1

# The common ISO shape, parsed natively by polars; every other string goes to
# the pure-Python parser. Seconds stop at 59 (polars would accept a leap second).
_FAST_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,9})?Z$"


def parse_iso_column(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Parse a String series of timestamps; return (Int64 µs with nulls, rows left to Python).

    Rows in the returned index array must be parsed by
    :func:`gctrace_nb.timestamps.parse_timestamp`; every other row is exact.
    """
    from .timestamps import MAX_US, MIN_US

    fast = values.str.contains(_FAST_ISO).fill_null(False)
    parsed = (
        values.str.strptime(pl.Datetime("us"), format="%Y-%m-%dT%H:%M:%S%.fZ", strict=False)
        .cast(pl.Int64)
    )
    ok = fast & parsed.is_not_null() & (parsed >= MIN_US) & (parsed <= MAX_US)
    result = pl.select(pl.when(ok).then(parsed).otherwise(None)).to_series()
    left = np.nonzero((~ok & values.is_not_null()).to_numpy())[0]
    return result, left


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


def analyze_columns(
    tid: np.ndarray,
    node_id: pl.Series,
    parent_id: pl.Series,
    start_us: np.ndarray,
    end_us: np.ndarray,
    has_start: np.ndarray,
    has_end: np.ndarray,
    n_traces: int,
) -> VectorResult:
    """Analyse every trace in flat columns (rows sorted by trace, then document position).

    ``node_id``/``parent_id`` are String series (null where absent or not a string);
    times are int64 µs with ``has_*`` masks.
    """
    n_rows = tid.shape[0]
    T = n_traces
    # 1-2. missing ids dropped; duplicates dropped (the first is kept and flagged)
    present = (node_id.is_not_null() & (node_id != "")).fill_null(False).to_numpy()
    missing_id = np.bincount(tid[~present], minlength=T) > 0
    frame = pl.DataFrame({"t": tid, "n": node_id})
    first = frame.select(pl.struct("t", "n").is_first_distinct()).to_series().to_numpy()
    keep_rows = np.nonzero(present & first)[0]
    dup_rows = np.nonzero(present & ~first)[0]

    kept = frame[keep_rows].with_columns(g=pl.int_range(pl.len(), dtype=pl.Int64))
    K = kept.height
    tid_k = tid[keep_rows]
    dup_flag = np.zeros(K, dtype=bool)
    if dup_rows.size:
        dups = frame[dup_rows].unique()
        hit = kept.join(dups, on=["t", "n"], how="semi")["g"].to_numpy()
        dup_flag[hit] = True

    # 4. parents
    pid = parent_id.gather(keep_rows)
    has_pid = (pid.is_not_null() & (pid != "")).fill_null(False).to_numpy()
    links = pl.DataFrame({"t": tid_k, "n": pid}).join(
        kept.select("t", "n", "g"), on=["t", "n"], how="left", maintain_order="left"
    )
    parent = links["g"].fill_null(_NONE).to_numpy().astype(_I64)
    parent[~has_pid] = _NONE
    orphan = has_pid & (parent < 0)

    # 5. cycles go to the pure-Python path, whole trace
    limit = int(np.ceil(np.log2(max(K, 2)))) + 2
    depth, in_cycle = _jump_depth(parent, limit)
    fallback = np.unique(tid_k[in_cycle])
    if fallback.size:
        bad_trace = np.zeros(T, dtype=bool)
        bad_trace[fallback] = True
        ok_rows = ~bad_trace[tid_k]
        remap = np.cumsum(ok_rows) - 1
        keep_rows = keep_rows[ok_rows]
        tid_k = tid_k[ok_rows]
        parent = parent[ok_rows]
        parent = np.where(parent >= 0, remap[np.maximum(parent, 0)], _NONE)
        depth = depth[ok_rows]
        dup_flag = dup_flag[ok_rows]
        orphan = orphan[ok_rows]
        kept = kept.filter(pl.Series(ok_rows)).with_columns(g=pl.int_range(pl.len(), dtype=pl.Int64))
        K = kept.height

    # 3. timing
    s = start_us[keep_rows]
    e = end_us[keep_rows]
    timed = has_start[keep_rows] & has_end[keep_rows]
    valid = timed & (e >= s)
    untimed = ~timed
    negative = timed & (e < s)

    # 6. timing parent: nearest valid ancestor
    tparent = _nearest_marked_ancestor(parent, valid)

    # 7. the top: the one valid root, or a virtual root K + trace
    valid_root = valid & (tparent < 0)
    n_roots = np.bincount(tid_k[valid_root], minlength=T)
    virtual = n_roots != 1
    big = np.iinfo(_I64).max
    earliest = np.full(T, big, dtype=_I64)
    latest = np.full(T, -big, dtype=_I64)
    np.minimum.at(earliest, tid_k[valid], s[valid])
    np.maximum.at(latest, tid_k[valid], e[valid])
    has_valid = np.bincount(tid_k[valid], minlength=T) > 0

    size = K + T
    pk = np.full(size, _NONE, dtype=_I64)  # timing parent key over real + virtual nodes
    pk[:K] = np.where(valid, tparent, _NONE)
    to_virtual = valid_root & virtual[tid_k]
    pk[:K][to_virtual] = K + tid_k[to_virtual]
    ext_valid = np.concatenate([valid, has_valid & virtual])
    ext_s = np.concatenate([np.where(valid, s, 0), earliest])
    ext_e = np.concatenate([np.where(valid, e, -1), latest])
    ext_s[~ext_valid] = 0
    ext_e[~ext_valid] = -1

    # 8. clipping: cumulative max start / min end up the timing path
    ws = _jump_reduce(ext_s, pk, np.maximum)
    we = _jump_reduce(ext_e, pk, np.minimum)
    has_window = ext_valid & (we > ws)
    parent_window = np.zeros(K, dtype=bool)
    has_pk = pk[:K] >= 0
    parent_window[has_pk] = has_window[pk[:K][has_pk]]
    outside = valid & has_pk & parent_window & ~has_window[:K] & (e > s)
    wlen = np.where(has_window, we - ws, 0)

    # children taking part, grouped by timing parent
    child = np.nonzero(has_window & (pk >= 0))[0]
    ckey = pk[child]

    # self time: window minus the union of the children's windows
    union = pl.DataFrame({"p": ckey, "s": ws[child], "e": we[child]}).sort("p", "s")
    union = union.with_columns(prev=pl.col("e").cum_max().shift(1).over("p"))
    contrib = union.select(
        (pl.col("e") - pl.max_horizontal("s", pl.col("prev").fill_null(pl.col("s")))).clip(lower_bound=0)
    ).to_series().to_numpy()
    covered = _segment_sum(union["p"].to_numpy(), contrib, size)
    self_us = np.where(has_window, wlen - covered, 0)

    # critical path: predecessors by an as-of join, chains by doubling
    names = kept["n"]
    child_names = pl.concat([names, pl.Series([""] * T, dtype=pl.String)]).gather(child)
    kids = pl.DataFrame({"g": child, "p": ckey, "s": ws[child], "e": we[child], "n": child_names})
    # best first within (p, end): earliest start, then smallest id
    reps = kids.sort("p", "e", "s", "n").filter(pl.struct("p", "e").is_first_distinct())
    reps = reps.select("p", "e", pl.col("g").alias("rep")).sort("e")
    preds = kids.select("g", "p", "s").sort("s").join_asof(
        reps, left_on="s", right_on="e", by="p", strategy="backward", check_sortedness=False
    )
    nxt = np.full(size, _NONE, dtype=_I64)
    nxt[preds["g"].to_numpy()] = preds["rep"].fill_null(_NONE).to_numpy()
    best = reps.sort("p", "e").unique("p", keep="last")["rep"].to_numpy()
    in_chain = _mark_orbits(nxt, best)

    # walked: in the parent's chain all the way up (tops: when they take part)
    is_top = has_window & (pk < 0)
    walked = _jump_reduce(np.where(pk >= 0, in_chain, is_top) & has_window, pk, np.minimum)
    chained = child[in_chain[child]]
    chain_cov = _segment_sum(pk[chained], wlen[chained], size)
    critical = np.where(walked, wlen - chain_cov, 0)

    flags = {
        "duplicate": dup_flag,
        "untimed": untimed,
        "negative_duration": negative,
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
        fallback=fallback,
    )
