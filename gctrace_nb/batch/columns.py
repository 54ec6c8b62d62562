"""Flat columns of many traces a chunk at a time, analysed by :mod:`.vectorized` (or one by one).

String pools, per-trace figures and step rows: the columnar half of the batch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from . import vectorized as vec
from ..core.analysis import STEP_FLAG_KINDS, Analysis, analyze_steps, is_failed_status
from .._text import replace_surrogates
from .._time import parse_timestamp
from .readers import TYPED_FRAME_FIELDS, Doc, read_file

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl




# ----------------------------------------------------------------- columns
def _strings(values: list) -> tuple[pl.Series, np.ndarray | None]:
    """A String series; and a mask of rows holding a non-string value (or None)."""
    import polars as pl

    try:
        return pl.Series(values, dtype=pl.String, strict=True), None
    except (TypeError, pl.exceptions.PolarsError):
        bad = np.fromiter((v is not None and type(v) is not str for v in values), dtype=bool, count=len(values))
        clean = [v if type(v) is str else None for v in values]
        return pl.Series(clean, dtype=pl.String), bad


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def step_schema() -> dict:
    import polars as pl

    return {
        "trace_id": pl.Int64,
        "position": pl.Int64,
        "node_id": pl.String,
        "name": pl.String,
        "parent_id": pl.String,
        "start_us": pl.Int64,
        "end_us": pl.Int64,
        "valid": pl.Boolean,
        "window_start_us": pl.Int64,
        "window_end_us": pl.Int64,
        "self_us": pl.Int64,
        "critical_us": pl.Int64,
        "depth": pl.Int32,
        "status": pl.String,
        "failed": pl.Boolean,
        "error_message": pl.String,
        **{kind: pl.Boolean for kind in STEP_FLAG_KINDS},
    }


def _analysis_rows(a: Analysis, trace_id: int) -> pl.DataFrame:
    """The internal per-step columns of one trace analysed by the pure-Python path.

    Strings with lone surrogates get U+FFFD, as in :func:`gctrace_nb.core.frames.steps_frame`.
    """
    try:
        return _analysis_rows_cleaned(a, trace_id, lambda text: text)
    except UnicodeEncodeError:
        return _analysis_rows_cleaned(a, trace_id, lambda text: None if text is None else replace_surrogates(text))


def _analysis_rows_cleaned(a: Analysis, trace_id: int, clean) -> pl.DataFrame:
    import polars as pl

    from ..core.frames import step_name

    ids = [clean(i) for i in a.node_ids]
    statuses = [clean(_text(step.get("status"))) for step in a.raw]
    cols: dict[str, Any] = {
        "trace_id": [trace_id] * len(ids),
        "position": list(a.kept_positions),
        "node_id": list(ids),
        "name": [clean(step_name(step)) for step in a.raw],
        "parent_id": [ids[p] if p >= 0 else None for p in a.parent_index],
        "start_us": list(a.start_us),
        "end_us": list(a.end_us),
        "valid": list(a.valid),
        "window_start_us": [w[0] if w else None for w in a.window],
        "window_end_us": [w[1] if w else None for w in a.window],
        "self_us": list(a.self_us),
        "critical_us": list(a.critical_us),
        "depth": list(a.depth),
        "status": statuses,
        "failed": [is_failed_status(step.get("status")) for step in a.raw],
        "error_message": [clean(_text(step.get("errorMessage"))) for step in a.raw],
    }
    for kind in STEP_FLAG_KINDS:
        cols[kind] = [kind in f for f in a.flags]
    return pl.DataFrame(cols, schema=step_schema())


_STR_OR_NONE = frozenset({str, type(None)})


def _call_on(getter, obj):
    return getter(obj)


class Chunk:
    """Columns of a few hundred thousand steps, taken from each document as it is read.

    Taking the fields right after parsing keeps each document's objects hot in
    the CPU cache, and lets it be freed at once. Ids become per-document codes
    (``dict.setdefault`` positions), so (trace, code) keys are exact. A document
    the vector path cannot read (entries that are not objects, unhashable
    ``parentId``/``status``; with frames, a ``status`` or ``errorMessage`` that
    is not text) keeps its steps for :func:`analyze_steps`.
    """

    def __init__(self, frames: bool = True, copy_strings: bool = True, storage_options: Mapping | None = None) -> None:
        from array import array

        self.storage_options = storage_options  # to read a URL again (steps_of)
        self.frames = frames
        self.copy_strings = copy_strings  # figures outlive the chunk: copy their strings
        self.n_docs = 0
        self.n_steps = 0
        self.n_rows = 0  # steps of the documents the vector path reads
        self.slow: dict[int, list] = {}
        self.fast: list[int] = []
        self.lengths: list[int] = []
        self.ids: list = []
        self.codes = array("q")  # per-document codes of node ids (first occurrence in the document)
        self.pcodes = array("q")  # the same codes for parent ids (new values get new codes)
        self.no_id: list[tuple[int, int]] = []  # per document: the codes of None and ""
        self.failed_rows: list[int] = []
        self.times: dict[tuple[str, int], list] = {}  # (start|end, length) -> [(blob, first row)]
        self.odd_times: list[tuple[str, int, list]] = []  # (start|end, first row, values)
        self.status_cache: dict = {}
        keys = ("parent", "status", "error", "name") if frames else ()
        self.cols: dict[str, list] = {k: [] for k in keys}
        self.sources: list = []  # the steps list (in-memory traces) or (path, line) to read again

    def steps_of(self, t: int) -> list:
        """The steps of document ``t`` again (read from its file: needed only for rare cycles)."""
        source = self.sources[t]
        if isinstance(source, list):
            return source
        path, line = source
        docs, _ = read_file(path, storage_options=self.storage_options)
        return next(d.steps for d in docs if d.line == line)

    def add(self, doc: Doc) -> None:
        """Take what the analysis needs from one parsed document, while it is hot in the cache."""
        steps = doc.steps
        self.sources.append(doc.steps if doc.path is None else (doc.path, doc.line))
        t = self.n_docs
        self.n_docs += 1
        n = len(steps)
        self.n_steps += n
        if doc.typed:
            self._add_typed(t, steps)
            return
        if doc.slow or set(map(type, steps)) - {dict}:
            self.slow[t] = steps
            return
        parent = list(map(dict.get, steps, repeat("parentId")))
        status = list(map(dict.get, steps, repeat("status")))
        # A parentId that is not a string is an orphan here as in the core (its code
        # matches no id). The step rows show status and errorMessage as text: with
        # frames, anything but a string or null goes to the pure-Python path.
        error = list(map(dict.get, steps, repeat("errorMessage"))) if self.frames else ()
        if self.frames and not (set(map(type, status)) <= _STR_OR_NONE and set(map(type, error)) <= _STR_OR_NONE):
            self.slow[t] = steps
            return
        try:
            distinct_status = set(status)
        except TypeError:  # an object or a list as a status
            self.slow[t] = steps
            return
        ids = list(map(dict.get, steps, repeat("nodeId")))
        if set(map(type, ids)) - {str}:  # numbers, lists, null: not ids (spec: missing_id)
            ids = [v if type(v) is str else None for v in ids]
        if not self._add_codes(ids, parent, n):  # a list or an object as a parentId
            self.slow[t] = steps
            return
        starts = list(map(dict.get, steps, repeat("startTime")))
        ends = list(map(dict.get, steps, repeat("endTime")))
        names = None
        if self.frames:
            from ..core.frames import step_name

            names = list(map(dict.get, steps, repeat("name")))
            if "" in names or set(map(type, names)) != {str}:
                names = [step_name(step) for step in steps]
        self._add_rest(t, n, distinct_status, status, starts, ends, parent, error, names)

    def _add_typed(self, t: int, steps: list) -> None:
        """:meth:`add` for typed structs: every field is already text or ``None``."""
        from operator import attrgetter

        from msgspec.structs import astuple

        if not steps:
            self._add_codes([], [], 0)
            self._add_rest(t, 0, set(), [], [], [], [], [], [])
            return
        # fields in _TYPED_FIELDS (+ TYPED_FRAME_FIELDS) order, as columns
        ids, parent, starts, ends, status, *more = map(list, zip(*map(astuple, steps)))
        # codes of ids: the last row of each distinct id (any code per distinct id will do);
        # null and "" get codes too, so that a parent holding them is seen as none; a
        # parent naming no id gets n + 2, which matches nothing (span leaves room)
        n = len(steps)
        seen = dict(zip(ids, range(n)))
        none_code = seen.setdefault(None, n)
        empty_code = seen.setdefault("", n + 1)
        self.codes.extend(map(seen.__getitem__, ids))
        mark = len(self.pcodes)
        try:
            self.pcodes.extend(map(seen.__getitem__, parent))
        except KeyError:  # a parent naming no id (rare): the slower lookup with a default
            del self.pcodes[mark:]
            self.pcodes.extend(map(seen.get, parent, repeat(n + 2)))
        self.no_id.append((none_code, empty_code))
        self.ids.extend(ids)
        error = names = None
        if self.frames:
            error, names = more[0], more[1]
            if "" in names or None in names:  # as frames.step_name: the first non-empty name key
                getters = [attrgetter(k) for k in TYPED_FRAME_FIELDS[1:]]
                names = [next((v for v in map(_call_on, getters, repeat(s)) if v), None) for s in steps]
        self._add_rest(t, len(steps), set(status), status, starts, ends, parent, error, names)

    def _add_codes(self, ids: list, parent: list, n: int) -> bool:
        """Per-document codes of ids and parent ids (False, nothing added: a parent is unhashable)."""
        from itertools import count

        row0 = self.n_rows
        seen: dict = {}
        try:
            self.pcodes.extend(map(seen.setdefault, parent, count(n)))
        except TypeError:
            del self.pcodes[row0:]
            return False
        self.codes.extend(map(seen.setdefault, ids, count()))
        self.no_id.append((seen.get(None, -1), seen.get("", -1)))
        self.ids.extend(ids)
        return True

    def _add_rest(self, t, n, distinct_status, status, starts, ends, parent, error, names) -> None:
        row0 = self.n_rows
        cache = self.status_cache
        bad = []
        for value in distinct_status:
            judged = cache.get(value)
            if judged is None:
                judged = cache[value] = is_failed_status(value)
            if judged:
                bad.append(value)
        rows = self.failed_rows
        for value in bad:  # few rows fail: find them by C-level scans
            i = status.index(value)
            try:
                while True:
                    rows.append(row0 + i)
                    i = status.index(value, i + 1)
            except ValueError:
                pass
        for which, values in (("start", starts), ("end", ends)):
            try:
                blob = "".join(values)
            except TypeError:
                blob = None
            lengths = set(map(len, values)) if blob is not None else set()
            if blob is not None and len(lengths) == 1 and blob.isascii():
                self.times.setdefault((which, lengths.pop()), []).append((blob, row0))
            else:
                self.odd_times.append((which, row0, values))
        if self.frames:
            c = self.cols
            c["parent"].extend(parent)
            c["status"].extend(status)
            c["error"].extend(error)
            c["name"].extend(names)
        self.n_rows += n
        self.fast.append(t)
        self.lengths.append(n)

    def timestamps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Start and end µs of every row, with present masks (exactly as ``parse_timestamp``)."""
        out = {w: (np.zeros(self.n_rows, dtype=np.int64), np.zeros(self.n_rows, dtype=bool)) for w in ("start", "end")}
        for (which, L), parts in self.times.items():
            values, ok = out[which]
            if not L:  # empty strings: missing
                continue
            counts = np.array([len(b) // L for b, _ in parts], dtype=np.int64)
            firsts = np.array([r for _, r in parts], dtype=np.int64)
            rows = np.repeat(firsts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
            rows += np.arange(rows.shape[0], dtype=np.int64)
            data = "".join(b for b, _ in parts).encode("ascii")
            if L == 20 or L >= 22:
                parsed, good, odd = vec.parse_fixed_iso_bytes(data, L)
                values[rows], ok[rows] = parsed, good
            else:
                odd = np.arange(len(data) // L)
            for i in odd.tolist():
                v = parse_timestamp(data[i * L:(i + 1) * L].decode("ascii"))
                values[rows[i]], ok[rows[i]] = (v, True) if v is not None else (0, False)
        for which, row0, raw in self.odd_times:
            values, ok = out[which]
            for i, value in enumerate(raw):
                v = parse_timestamp(value)
                if v is not None:
                    values[row0 + i], ok[row0 + i] = v, True
        return out["start"][0], out["end"][0], out["start"][1], out["end"][1]

    def analyse(self, offset: int) -> tuple[Any, dict[int, Analysis], list]:
        """Analyse the chunk; return step rows (or ``None``), pure-Python analyses, per-trace figures."""
        frame, slow, figures = analyse_chunk(self, offset)
        self.cols = {}
        return frame, slow, figures


def analyse_chunk(chunk: Chunk, offset: int) -> tuple[Any, dict[int, Analysis], list]:
    T = chunk.n_docs
    fast = chunk.fast
    slow_steps = dict(chunk.slow)
    lengths = chunk.lengths
    tid_local = np.repeat(np.arange(len(fast), dtype=np.int64), lengths)
    ids = chunk.ids
    codes = np.frombuffer(chunk.codes, dtype=np.int64) if chunk.n_rows else np.zeros(0, np.int64)
    pcodes = np.frombuffer(chunk.pcodes, dtype=np.int64) if chunk.n_rows else np.zeros(0, np.int64)
    no_id = np.array(chunk.no_id, dtype=np.int64).reshape(-1, 2)
    none_code, empty_code = no_id[tid_local, 0], no_id[tid_local, 1]
    present = (codes != none_code) & (codes != empty_code)
    has_parent = (pcodes != none_code) & (pcodes != empty_code)
    span = 2 * max(lengths, default=0) + 3  # codes < 2n (dict documents), < n + 3 (typed ones)
    nid_key, pid_key = tid_local * span + codes, tid_local * span + pcodes
    start_us, end_us, has_start, has_end = chunk.timestamps()
    failed_all = np.zeros(chunk.n_rows, dtype=bool)
    failed_all[np.array(chunk.failed_rows, dtype=np.int64)] = True
    positions = np.arange(tid_local.shape[0], dtype=np.int64)
    if lengths:
        positions -= np.repeat(np.cumsum([0] + lengths[:-1]), lengths)

    r = vec.analyze_columns(
        tid_local, nid_key, pid_key, present, has_parent, start_us, end_us, has_start, has_end, len(fast), ids
    )
    fast_arr = np.array(fast, dtype=np.int64)
    rows = r.keep_rows
    failed = failed_all[rows]
    figures: list = [None] * T
    _vector_figures(r, _IdsOf(ids, rows), failed, fast, figures, chunk.copy_strings)
    frame = _vector_rows(chunk, r, rows, failed, positions, start_us, end_us, has_start, has_end,
                         fast_arr[r.tid] + offset, fast_arr[r.fallback] + offset) if chunk.frames else None
    chunk.cols = {}
    slow_analyses: dict[int, Analysis] = {}
    parts: list = [frame]
    for local in r.fallback.tolist():  # cycles: the documents are read again (rare)
        slow_steps[fast[local]] = chunk.steps_of(fast[local])
    for t in sorted(slow_steps):
        a = analyze_steps(slow_steps[t])
        slow_analyses[t + offset] = a
        if chunk.frames:
            parts.append(_analysis_rows(a, t + offset))
        figures[t] = analysis_figures(a)
    if chunk.frames and len(parts) > 1:
        import polars as pl

        frame = pl.concat(parts).sort("trace_id", "position")
    return frame, slow_analyses, figures


class _IdsOf:
    """Node ids of kept steps by kept index, looked up only where needed."""

    def __init__(self, ids: list, keep_rows: np.ndarray) -> None:
        self.ids, self.keep_rows = ids, keep_rows

    def take(self, kept: np.ndarray) -> list:
        rows = self.keep_rows[kept].tolist()
        if len(rows) < 2:
            return [self.ids[r] for r in rows]
        from operator import itemgetter

        return list(itemgetter(*rows)(self.ids))


def _vector_rows(chunk, r, rows, failed, positions, start_us, end_us, has_start, has_end,
                 trace_ids, fallback_ids):
    """The internal step rows (a polars frame) of the traces the vector path analysed."""
    import polars as pl

    c = chunk.cols
    k = rows.shape[0]
    node_ids = pl.Series(chunk.ids, dtype=pl.String).gather(rows)  # ids are strings or None here
    status, _ = _strings(c["status"])
    errors_msg, _ = _strings(c["error"])
    names, _ = _strings(c["name"])

    def masked(values: np.ndarray, missing: np.ndarray) -> Any:
        return pl.Series(values, dtype=pl.Int64).set(pl.Series(missing), None) if k else []

    cols: dict[str, Any] = {
        "trace_id": trace_ids if k else np.zeros(0, np.int64),
        "position": positions[rows],
        "node_id": node_ids,
        "name": names.gather(rows),
        "parent_id": node_ids.gather(np.where(r.parent >= 0, r.parent, 0)).set(pl.Series(r.parent < 0), None)
        if k else [],
        "start_us": masked(start_us[rows], ~has_start[rows]),
        "end_us": masked(end_us[rows], ~has_end[rows]),
        "valid": r.valid,
        "window_start_us": masked(r.ws, ~r.has_window),
        "window_end_us": masked(r.we, ~r.has_window),
        "self_us": r.self_us,
        "critical_us": r.critical_us,
        "depth": r.depth.astype(np.int32),
        "status": status.gather(rows),
        "failed": failed,
        "error_message": errors_msg.gather(rows),
    }
    for kind in STEP_FLAG_KINDS:
        cols[kind] = r.flags[kind]
    frame = pl.DataFrame(cols, schema=step_schema())
    if fallback_ids.size:
        frame = frame.filter(~pl.col("trace_id").is_in(fallback_ids.tolist()))
    return frame


class _Pool:
    """The strings and floats of one chunk's figures.

    Figures that outlive their chunk store the strings compactly, as one string
    and an offsets array: keeping the parsed id strings themselves would pin the
    memory of every document they came from (a batch of 20,000 traces grew by
    ~75 bytes a step), and a copy as separate strings costs ~70 bytes each.
    Figures used at once (``copy=False``: ``gctrace analyze`` streams them) keep
    the list as it is.
    """

    __slots__ = ("blob", "offsets", "strs", "values")

    blob: str | None
    offsets: np.ndarray | None
    strs: list | None

    def __init__(self, strings: list, values: list, copy: bool = True) -> None:
        self.values = np.array(values, dtype=np.float64)
        if copy:
            self.strs = None
            self.blob = "".join(strings)
            self.offsets = np.zeros(len(strings) + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)), out=self.offsets[1:])
        else:
            self.strs, self.blob, self.offsets = strings, None, None

    def strings(self, lo: int, hi: int) -> list:
        if self.strs is not None:
            return self.strs[lo:hi]
        assert self.offsets is not None and self.blob is not None  # set together in __init__
        cuts = self.offsets[lo:hi + 1].tolist()
        blob = self.blob
        return [blob[a:b] for a, b in zip(cuts, cuts[1:])]

    def floats(self, lo: int, hi: int) -> list:
        return self.values[lo:hi].tolist()


@dataclass(slots=True)
class Figures:
    """One trace's spec figures (what its JSON object and its ``traces`` row show).

    The critical path and the bottleneck are lists and a string, or (for the
    vector path) ranges into a :class:`_Pool`.
    """

    valid_steps: int
    earliest_us: int | None
    total_us: int
    path: Any  # list of ids, or (pool, lo, hi)
    path_ms: Any  # list of ms, or None when pooled
    bottleneck_ref: Any  # id or None, or (pool, index)
    bottleneck_ms: float | None
    failed_nodes: list
    anomalies: list

    @property
    def critical_path(self) -> list:
        if isinstance(self.path, list):
            return self.path
        pool, lo, hi = self.path
        return pool.strings(lo, hi)

    @property
    def critical_ms(self) -> list:
        if self.path_ms is not None:
            return self.path_ms
        pool, lo, hi = self.path
        return pool.floats(lo, hi)

    @property
    def path_length(self) -> int:
        return len(self.path) if isinstance(self.path, list) else self.path[2] - self.path[1]

    @property
    def bottleneck(self) -> str | None:
        ref = self.bottleneck_ref
        if ref is None or isinstance(ref, str):
            return ref
        pool, index = ref
        return pool.strings(index, index + 1)[0]


def analysis_figures(a: Analysis) -> Figures:
    return Figures(
        valid_steps=a.valid_steps,
        earliest_us=a.earliest_start_us,
        total_us=round(a.total_ms * 1000),
        path=list(a.critical_path),
        path_ms=[a.critical_ms[i] for i in a.critical_path],
        bottleneck_ref=a.bottleneck.node_id if a.bottleneck else None,
        bottleneck_ms=a.bottleneck.critical_ms if a.bottleneck else None,
        failed_nodes=list(a.failed_nodes),
        anomalies=[list(p) for p in a.anomalies],
    )


def _bottlenecks(on: np.ndarray, tk: np.ndarray, crit: np.ndarray, ws: np.ndarray, ids: "_IdsOf") -> np.ndarray:
    """Per trace, the row of ``on`` (rows sorted by trace) with the most critical time,
    then the earliest window start, then the smallest nodeId."""
    if on.size == 0:
        return on
    starts = np.nonzero(np.concatenate([[True], tk[1:] != tk[:-1]]))[0]
    group = np.cumsum(np.concatenate([[True], tk[1:] != tk[:-1]])) - 1
    best = np.maximum.reduceat(crit, starts)
    cand = crit == best[group]
    ws_c = np.where(cand, ws, np.iinfo(np.int64).max)
    first_ws = np.minimum.reduceat(ws_c, starts)
    cand &= ws == first_ws[group]
    picked = np.nonzero(cand)[0]
    counts = np.bincount(group[picked], minlength=starts.shape[0])
    if (counts > 1).any():  # a tie on both: the smallest nodeId (exact string order)
        names = ids.take(on[picked])
        chosen: dict[int, tuple[int, str]] = {}
        for pos, g, name in zip(picked.tolist(), group[picked].tolist(), names):
            if g not in chosen or name < chosen[g][1]:
                chosen[g] = (pos, name)
        picked = np.array(sorted(p for p, _ in chosen.values()), dtype=np.int64)
    return on[picked]


def _vector_figures(r: Any, ids: "_IdsOf", failed: np.ndarray, fast: list, out: list, copy: bool = True) -> None:
    """Per-trace figures of the vector path, from its arrays (ids looked up only where shown)."""
    F = len(fast)
    tk = r.tid
    n_valid = np.bincount(tk[r.valid], minlength=F).tolist()
    earliest, latest = r.earliest.tolist(), r.latest.tolist()
    crit = r.critical_us
    on = np.nonzero(crit > 0)[0]

    def names() -> list:  # ids of the on-path rows, for ties (rare)
        return ids.take(on)
    # the critical path: by window start, then depth, then nodeId
    o = on[vec.sort_rows([tk[on], r.ws[on], r.depth[on]], names)]
    path_ids = ids.take(o)
    cms = (crit[o] / 1000.0).tolist()
    bounds = np.searchsorted(tk[o], np.arange(F + 1)).tolist()
    # the bottleneck: most critical time, then earliest window start, then nodeId
    bf = _bottlenecks(on, tk[on], crit[on], r.ws[on], ids)
    bn_traces = tk[bf].tolist()
    pool = _Pool(path_ids + ids.take(bf), cms + (crit[bf] / 1000.0).tolist(), copy)
    del path_ids
    n_path = len(cms)
    bottleneck = {t: (n_path + k, c / 1000.0) for k, (t, c) in enumerate(zip(bn_traces, crit[bf].tolist()))}
    fi = np.nonzero(failed)[0]  # rows are in trace order: each trace's failed ids are a slice
    failed_ids = ids.take(fi)
    failed_bounds = np.searchsorted(tk[fi], np.arange(F + 1)).tolist()
    anomalies: dict[int, set] = {}
    flagged = np.zeros(tk.shape[0], dtype=bool)
    for kind in STEP_FLAG_KINDS:
        flagged |= r.flags[kind]
    gi = np.nonzero(flagged)[0]
    for t, nid, g in zip(tk[gi].tolist(), ids.take(gi), gi.tolist()):
        anomalies.setdefault(t, set()).update((nid, k) for k in STEP_FLAG_KINDS if r.flags[k][g])
    for t in np.nonzero(r.missing_id)[0].tolist():
        anomalies.setdefault(t, set()).add(("", "missing_id"))
    for f, t in enumerate(fast):
        lo, hi = bounds[f], bounds[f + 1]
        bn = bottleneck.get(f)
        nv = n_valid[f]
        out[t] = Figures(
            valid_steps=nv,
            earliest_us=earliest[f] if nv else None,
            total_us=latest[f] - earliest[f] if nv else 0,
            path=(pool, lo, hi),
            path_ms=None,
            bottleneck_ref=(pool, bn[0]) if bn else None,
            bottleneck_ms=bn[1] if bn else None,
            failed_nodes=sorted(failed_ids[failed_bounds[f]:failed_bounds[f + 1]]),
            anomalies=[list(p) for p in sorted(anomalies.get(f, ()))],
        )


