"""Analyse many saved traces at once: :func:`load_traces` -> :class:`TraceSet`.

Files are parsed with orjson (the standard library where orjson refuses, so
exactly the documents :func:`gctrace_nb.documents.read_document` accepts are
read), turned into flat columns a chunk at a time, and analysed by
:mod:`gctrace_nb.batch_vectorized`. Traces the vector path does not handle
(entries that are not objects, parent cycles, documents only the standard
library reads, unhashable ids; with step frames also a ``status`` or
``errorMessage`` that is not text) are analysed one by one with
:func:`gctrace_nb.analysis.analyze_steps`. Both paths produce the same
integers, so every figure here agrees with analysing each trace alone
(``tests/test_batch.py`` checks it on random, dirty and hypothesis-made traces).

Example::

    ts = load_traces("traces/")          # a directory, a glob, or a list of paths
    ts.traces                            # one row per trace
    ts.nodes(by="name")                  # p50/p95/p99, failure rate, critical share
    ts.errors                            # [(path, reason), ...] never raised
"""

from __future__ import annotations

import glob as _glob
import json
import os
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, Union

import numpy as np

from . import batch_vectorized as vec
from .analysis import ANOMALY_KINDS, FAILED_STATUSES, Analysis, analyze_steps
from .documents import find_steps, read_document
from .errors import TraceFormatError
from .textsafe import escape_surrogates, replace_surrogates
from .timestamps import parse_timestamp

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = [
    "TraceSet", "load_traces", "compare", "expand_paths", "TRACE_SUFFIXES", "analysis_json_list", "iter_analysis_json",
]

#: File suffixes taken from a directory (NDJSON holds one trace document per line).
TRACE_SUFFIXES = (".json", ".ndjson", ".jsonl")
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")
_CHUNK_STEPS = 200_000  # steps analysed together with step frames: bounds memory, keeps frames few
# figures only: an eighth of that keeps the arrays in the CPU cache and the peak small
# (fewer pages to fault in: ~10% faster per process, a third of the memory)
_FIGURES_CHUNK_DIVISOR = 8
#: Anomaly kinds that can mark a kept step (as :data:`gctrace_nb.frames.STEP_FLAG_KINDS`).
STEP_FLAG_KINDS = tuple(k for k in ANOMALY_KINDS if k != "missing_id")

PathInput = Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]


def expand_paths(inputs: PathInput) -> list[str]:
    """Expand paths, directories (their trace files, sorted) and globs into a file list.

    A path that does not exist is kept (it is reported as an error when read).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        if os.path.isdir(text):
            with os.scandir(text) as entries:
                names = sorted(e.name for e in entries if e.name.lower().endswith(TRACE_SUFFIXES) and e.is_file())
            out.extend(os.path.join(text, n) for n in names)
        elif not os.path.exists(text) and any(c in text for c in "*?["):
            out.extend(sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p)))
        else:
            out.append(text)
    return out


# ------------------------------------------------------------------ reading
@dataclass
class _Doc:
    label: str  # file, or file:line for NDJSON
    path: str | None
    line: int | None
    steps: list
    flow_id: str | None
    # read by the core's reader (orjson refused it: e.g. lone surrogates), or given in
    # memory: analysed by the pure-Python path, whose frames clean such strings
    slow: bool = False
    # steps are typed structs (:func:`_typed_decoder`), not dicts: every field read is text or None
    typed: bool = False


def _flow_id(metadata: dict) -> str | None:
    value = metadata.get("flow_id") if isinstance(metadata, dict) else None
    return None if value is None else (value if isinstance(value, str) else str(value))


def _loads(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


#: Step keys read from a typed document: the analysis's, and with frames the text columns'.
_TYPED_FIELDS = ("nodeId", "parentId", "startTime", "endTime", "status")
_TYPED_FRAME_FIELDS = ("errorMessage", "name", "nodeName", "actionName", "displayName", "label")
_DECODERS: dict = {}
_NESTING_MARGIN = 100  # recursion levels the typed reader leaves unused (see _decode_typed)
_DIGIT_FLAGS = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))  # digit -> "1", else "0"


def _typed_decoder(frames: bool):
    """msgspec decoders of ``{"steps": [...], "metadata": {...}}`` and of a bare list of
    steps, into structs whose fields are the step keys the batch reads, each text or
    null (default null).

    Strict: any other type there, another shape, anything but strict JSON raises,
    and the caller reads the file the general way. Unknown keys are skipped without
    building objects for them, which is most of the speed.
    """
    dec = _DECODERS.get(frames)
    if dec is None:
        from typing import Optional

        import msgspec

        fields = _TYPED_FIELDS + (_TYPED_FRAME_FIELDS if frames else ())
        step = msgspec.defstruct("TypedStep", [(f, Optional[str], None) for f in fields], gc=False)
        meta = msgspec.defstruct("TypedMetadata", [("flow_id", Optional[str], None)], gc=False)
        doc = msgspec.defstruct("TypedDocument", [("steps", list[step]), ("metadata", Optional[meta], None)], gc=False)
        dec = _DECODERS[frames] = (msgspec.json.Decoder(doc), msgspec.json.Decoder(list[step]))
    return dec


def _long_digit_run(data: bytes) -> bool:
    """True if ``data`` may hold more digits in a row than ``int()`` accepts from text.

    The standard library refuses such an integer (``ValueError``), and the core's
    reader with it; msgspec would skip it in a key it does not read. Any run of
    ``limit + 1`` digits covers a whole stretch ``[k*S, k*S + S]`` with
    ``S = (limit + 1) // 2``: only those stretches are checked.
    """
    import sys

    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # no limit before 3.10.7 / 3.11
    if not limit or len(data) <= limit:
        return False
    stride = (limit + 1) // 2
    flags = data[::stride].translate(_DIGIT_FLAGS)
    k = flags.find(b"11")
    while k >= 0:
        if data[k * stride:(k + 1) * stride + 1].isdigit():
            return True
        k = flags.find(b"11", k + 1)
    return False


def _decode_typed(data: bytes, frames: bool) -> tuple[list, str | None] | None:
    """The typed steps and flow id of ``data``, or ``None`` where the general reader must decide.

    Accepts only what the standard library reads to the same values: strict JSON
    (msgspec), valid UTF-8 throughout (msgspec does not check skipped strings),
    no integer too long for ``int()``.
    """
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _long_digit_run(data):
        return None
    head = data[:64].lstrip()[:1]
    if head not in (b"{", b"["):
        return None
    import sys

    decoders = _typed_decoder(frames)
    # msgspec, like json, counts nesting against the recursion limit, a few levels
    # more generously. A document cannot nest deeper than it has brackets, so only
    # one with that many (large traces) needs the limit lowered while msgspec
    # decodes: then it gives up well before json would, and a deeply nested
    # document goes to the general reader. The limit is process-wide, so the
    # common small file never touches it.
    limit = sys.getrecursionlimit()
    lowered = data.count(b"[") + data.count(b"{") >= limit - _NESTING_MARGIN
    if lowered:
        try:
            sys.setrecursionlimit(limit - _NESTING_MARGIN)
        except (RecursionError, ValueError):  # already deeper than that
            return None
    try:
        if head == b"[":
            return decoders[1].decode(data), None
        doc = decoders[0].decode(data)
    except Exception:  # not this shape, a type we do not take here, not strict JSON, too deep
        return None
    finally:
        if lowered:
            sys.setrecursionlimit(limit)
    return doc.steps, None if doc.metadata is None else doc.metadata.flow_id


def _read_file(path: str, typed: bool | None = None) -> tuple[list[_Doc], list[tuple[str, str]]]:
    """Read one file into trace documents and errors (never raises for bad input).

    ``typed`` (the frames flag, or ``None`` for plain dicts): documents of the
    common shape come as typed structs, read without a dict per step.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        data = None
    if data is not None and path.lower().endswith(_NDJSON_SUFFIXES):
        return _read_ndjson(path, data)
    if data is not None and typed is not None:
        typed_doc = _decode_typed(data, typed)
        if typed_doc is not None:
            return [_Doc(path, path, None, typed_doc[0], typed_doc[1], typed=True)], []
    if data is not None:
        try:
            doc = find_steps(_loads(data), path)
            return [_Doc(path, path, None, doc.steps, _flow_id(doc.metadata))], []
        except Exception:  # orjson refused, or no steps: the core's reader decides
            pass
    try:
        doc = read_document(path)
    except TraceFormatError as exc:
        if data is not None and data.count(b"\n") > 0:
            docs, errors = _read_ndjson(path, data, strict=True)
            if docs and not errors:
                return docs, errors
        return [], [(path, exc.reason)]
    return [_Doc(path, path, None, doc.steps, _flow_id(doc.metadata), slow=True)], []


def _read_ndjson(path: str, data: bytes, *, strict: bool = False) -> tuple[list[_Doc], list[tuple[str, str]]]:
    docs: list[_Doc] = []
    errors: list[tuple[str, str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        label = f"{path}:{number}"
        slow = False
        try:
            doc = find_steps(_loads(line), label)
        except Exception:
            try:
                doc = read_document(bytes(line), name=label)
                slow = True
            except TraceFormatError as exc:
                errors.append((label, exc.reason))
                if strict:
                    return [], errors
                continue
        docs.append(_Doc(label, path, number, doc.steps, _flow_id(doc.metadata), slow=slow))
    return docs, errors


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _iter_docs(sources: Sequence[Any], progress: bool, errors: list, typed: bool | None = None) -> Iterator[_Doc]:
    from .model import Trace

    if progress:
        from tqdm.auto import tqdm  # ~35 ms to import: only when a bar is shown

        bar = tqdm(total=len(sources), unit="file", desc="traces")
    else:
        bar = _NoBar()
    try:
        for source in sources:
            if isinstance(source, Trace):
                yield _Doc(source.name or "<trace>", None, None, source.raw_steps, source.metadata.flow_id, slow=True)
            else:
                docs, errs = _read_file(source, typed)
                errors.extend(errs)
                yield from docs
            bar.update(1)
    finally:
        bar.close()


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


def _is_failed(status: Any) -> bool:
    return isinstance(status, str) and status.strip().lower() in FAILED_STATUSES


def _step_schema() -> dict:
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

    Strings with lone surrogates get U+FFFD, as in :func:`gctrace_nb.frames.steps_frame`.
    """
    try:
        return _analysis_rows_cleaned(a, trace_id, lambda text: text)
    except UnicodeEncodeError:
        return _analysis_rows_cleaned(a, trace_id, lambda text: None if text is None else replace_surrogates(text))


def _analysis_rows_cleaned(a: Analysis, trace_id: int, clean) -> pl.DataFrame:
    import polars as pl

    from .frames import step_name

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
        "failed": [_is_failed(step.get("status")) for step in a.raw],
        "error_message": [clean(_text(step.get("errorMessage"))) for step in a.raw],
    }
    for kind in STEP_FLAG_KINDS:
        cols[kind] = [kind in f for f in a.flags]
    return pl.DataFrame(cols, schema=_step_schema())


_STR_OR_NONE = frozenset({str, type(None)})


def _call_on(getter, obj):
    return getter(obj)


class _Chunk:
    """Columns of a few hundred thousand steps, taken from each document as it is read.

    Taking the fields right after parsing keeps each document's objects hot in
    the CPU cache, and lets it be freed at once. Ids become per-document codes
    (``dict.setdefault`` positions), so (trace, code) keys are exact. A document
    the vector path cannot read (entries that are not objects, unhashable
    ``parentId``/``status``; with frames, a ``status`` or ``errorMessage`` that
    is not text) keeps its steps for :func:`analyze_steps`.
    """

    def __init__(self, frames: bool = True, copy_strings: bool = True) -> None:
        from array import array

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
        docs, _ = _read_file(path)
        return next(d.steps for d in docs if d.line == line)

    def add(self, doc: _Doc) -> None:
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
            from .frames import step_name

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
        # fields in _TYPED_FIELDS (+ _TYPED_FRAME_FIELDS) order, as columns
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
                getters = [attrgetter(k) for k in _TYPED_FRAME_FIELDS[1:]]
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
                judged = cache[value] = _is_failed(value)
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
            lengths = set(map(len, values)) if blob is not None else ()
            if len(lengths) == 1 and blob.isascii():
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
        frame, slow, figures = _analyse_chunk(self, offset)
        self.cols = {}
        return frame, slow, figures


def _analyse_chunk(chunk: _Chunk, offset: int) -> tuple[Any, dict[int, Analysis], list]:
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
    parts = [frame]
    for local in r.fallback.tolist():  # cycles: the documents are read again (rare)
        slow_steps[fast[local]] = chunk.steps_of(fast[local])
    for t in sorted(slow_steps):
        a = analyze_steps(slow_steps[t])
        slow_analyses[t + offset] = a
        if chunk.frames:
            parts.append(_analysis_rows(a, t + offset))
        figures[t] = _analysis_figures(a)
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
    frame = pl.DataFrame(cols, schema=_step_schema())
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
        cuts = self.offsets[lo:hi + 1].tolist()
        blob = self.blob
        return [blob[a:b] for a, b in zip(cuts, cuts[1:])]

    def floats(self, lo: int, hi: int) -> list:
        return self.values[lo:hi].tolist()


@dataclass(slots=True)
class _Figures:
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


def _analysis_figures(a: Analysis) -> _Figures:
    valid = [s for s, ok in zip(a.start_us, a.valid) if ok]
    return _Figures(
        valid_steps=a.valid_steps,
        earliest_us=min(valid) if valid else None,
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
        chosen = {}
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
        out[t] = _Figures(
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


# ---------------------------------------------------------------- the set
class TraceSet:
    """Many analysed traces: frames per trace, per step and per node.

    Build one with :func:`load_traces`. ``errors`` lists ``(path, reason)`` for
    every file (or NDJSON line) that could not be read.
    """

    def __init__(self, labels, paths, lines, flow_ids, steps_total, step_rows, figures, errors) -> None:
        self.labels: list[str] = list(labels)
        self._paths = list(paths)
        self._lines = list(lines)
        self._flow_ids = list(flow_ids)
        self._steps_total = list(steps_total)
        self._rows = step_rows  # polars frame of step rows, or None (loaded with frames=False)
        self._figures: list[_Figures] = list(figures)
        self.errors: list[tuple[str, str]] = list(errors)
        #: Trace ids analysed by the pure-Python path (cycles, non-object entries, ...).
        self.python_path: list[int] = []

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"<TraceSet {len(self)} traces, {sum(self._steps_total)} steps, {len(self.errors)} errors; "
            f"see .traces, .steps, .nodes(), .errors>"
        )

    def _step_rows(self):
        if self._rows is None:
            raise ValueError("this set was loaded with frames=False: load_traces(..., frames=True) keeps the steps")
        return self._rows

    # ------------------------------------------------------------ per trace
    @cached_property
    def traces(self) -> pl.DataFrame:
        """One row per trace: file, flow id, start, total ms, bottleneck, accuracy, counts."""
        import polars as pl

        figs = self._figures
        steps = self._steps_total
        return pl.DataFrame(
            {
                "trace_id": pl.Series(range(len(self)), dtype=pl.Int64),
                "file": _clean_strings(self.labels),
                "flow_id": _clean_strings(self._flow_ids),
                "start": pl.Series([f.earliest_us for f in figs], dtype=pl.Int64)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC"),
                "total_ms": pl.Series([f.total_us / 1000.0 for f in figs], dtype=pl.Float64),
                "bottleneck": _clean_strings([f.bottleneck for f in figs]),
                "bottleneck_ms": pl.Series([f.bottleneck_ms for f in figs], dtype=pl.Float64),
                "critical_path_length": pl.Series([f.path_length for f in figs], dtype=pl.Int64),
                "steps": pl.Series(steps, dtype=pl.Int64),
                "valid_steps": pl.Series([f.valid_steps for f in figs], dtype=pl.Int64),
                "accuracy_rate": pl.Series(
                    [round(f.valid_steps / n, 4) if n else 0.0 for f, n in zip(figs, steps)], dtype=pl.Float64
                ),
                "failed_count": pl.Series([len(f.failed_nodes) for f in figs], dtype=pl.Int64),
                "anomaly_count": pl.Series([len(f.anomalies) for f in figs], dtype=pl.Int64),
            }
        )

    # ------------------------------------------------------------- per step
    @cached_property
    def steps(self) -> pl.DataFrame:
        """Every kept step of every trace, with ``trace_id`` and ``file`` (columns of ``Trace.steps``)."""
        import polars as pl

        r = self._step_rows()
        files = _clean_strings(self.labels).alias("file")
        flags = [pl.col(k) for k in STEP_FLAG_KINDS]
        bottleneck = pl.DataFrame(
            {"trace_id": range(len(self)), "bottleneck": _clean_strings([f.bottleneck for f in self._figures])},
            schema={"trace_id": pl.Int64, "bottleneck": pl.String},
        )
        return (
            r.join(bottleneck, on="trace_id", how="left", maintain_order="left")
            .select(
                "trace_id",
                pl.col("trace_id").replace_strict(np.arange(len(self)), files, return_dtype=pl.String).alias("file")
                if len(self)
                else pl.lit(None, dtype=pl.String).alias("file"),
                "node_id",
                "name",
                "parent_id",
                _dt("start_us").alias("start"),
                _dt("end_us").alias("end"),
                pl.when("valid").then((pl.col("end_us") - pl.col("start_us")) / 1000.0).otherwise(0.0).alias("duration_ms"),
                (pl.col("self_us") / 1000.0).alias("self_ms"),
                (pl.col("critical_us") / 1000.0).alias("critical_ms"),
                (pl.col("critical_us") > 0).alias("on_critical_path"),
                (pl.col("node_id") == pl.col("bottleneck")).fill_null(False).alias("is_bottleneck"),
                "depth",
                "status",
                "failed",
                "error_message",
                "valid",
                _dt("window_start_us").alias("window_start"),
                _dt("window_end_us").alias("window_end"),
                *flags,
                pl.concat_list([pl.when(pl.col(k)).then(pl.lit(k)) for k in sorted(STEP_FLAG_KINDS)])
                .list.drop_nulls()
                .alias("anomalies"),
                "position",
            )
        )

    # ------------------------------------------------------------- per node
    def nodes(self, by: str = "node_id") -> pl.DataFrame:
        """Per node (``by="node_id"``) or per step name (``by="name"``, falling back to the id).

        Columns: ``count`` (steps), ``traces``, p50/p95/p99 of ``duration_ms`` and
        ``self_ms`` (linear interpolation), ``failure_rate``, ``critical_count`` and
        ``critical_rate`` (share of its steps on the critical path), ``mean_critical_ms``
        (over all its steps), ``critical_share`` (its critical ms over the sum of every
        trace's ``total_ms``: its share of end-to-end time). Sorted by ``critical_share``.
        """
        import polars as pl

        if by not in ("node_id", "name"):
            raise ValueError(f'by must be "node_id" or "name", not {by!r}')
        steps = self.steps
        key = pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")
        total = float(self.traces["total_ms"].sum() or 0.0)
        q = []
        for col in ("duration_ms", "self_ms"):
            base = col.removesuffix("_ms")
            for p in (50, 95, 99):
                q.append(pl.col(col).quantile(p / 100, "linear").alias(f"{base}_p{p}_ms"))
        return (
            steps.group_by(key.alias(by))
            .agg(
                pl.len().alias("count"),
                pl.col("trace_id").n_unique().alias("traces"),
                *q,
                pl.col("failed").mean().alias("failure_rate"),
                pl.col("failed").sum().alias("failed_count"),
                pl.col("on_critical_path").sum().alias("critical_count"),
                pl.col("on_critical_path").mean().alias("critical_rate"),
                pl.col("critical_ms").mean().alias("mean_critical_ms"),
                pl.col("critical_ms").sum().alias("critical_ms_total"),
            )
            .with_columns(
                critical_share=(pl.col("critical_ms_total") / total) if total > 0 else pl.lit(0.0)
            )
            .sort(["critical_share", by], descending=[True, False])
        )

    # ------------------------------------------------------------- the JSON
    def to_json(self) -> list[dict]:
        """Each trace's spec §5 object (``Analysis.to_json(file)``), in load order."""
        return analysis_json_list(self)

    def iter_json(self) -> Iterator[dict]:
        """Each trace's spec §5 object, one at a time."""
        return iter_analysis_json(self)

    def trace(self, index: int):
        """Load trace ``index`` again as a :class:`~gctrace_nb.model.Trace` (from its file)."""
        from .model import Trace

        path, line = self._paths[index], self._lines[index]
        if path is None:
            raise ValueError("this trace was not read from a file")
        if line is None:
            return Trace.from_document(path)
        data = Path(path).read_bytes().split(b"\n")[line - 1]
        return Trace.from_document(bytes(data), name=self.labels[index])


def _clean_strings(values: list) -> pl.Series:
    """A String series; lone surrogates become U+FFFD (as the steps frames show them)."""
    import polars as pl

    try:
        return pl.Series(values, dtype=pl.String)
    except UnicodeEncodeError:
        return pl.Series([None if v is None else replace_surrogates(v) for v in values], dtype=pl.String)


def _dt(col: str) -> pl.Expr:
    import polars as pl

    return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def analysis_json_list(ts: TraceSet) -> list[dict]:
    """The spec §5 objects of every trace in ``ts`` (what ``gctrace analyze --format json`` prints)."""
    import gc

    # many small acyclic dicts and lists: the cyclic collector would re-walk them all, again and again
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(iter_analysis_json(ts))
    finally:
        if enabled:
            gc.enable()


def iter_analysis_json(ts: TraceSet) -> Iterator[dict]:
    """The spec §5 objects one at a time (a large set's JSON need not be held whole).

    Milliseconds are ``µs / 1000``: for an integer count of µs that float is
    already what :func:`gctrace_nb.analysis.ms` rounds it to.
    """
    return map(_analysis_object, ts.labels, ts._steps_total, ts._figures)


def _analysis_object(label: str, n: int, f: _Figures) -> dict:
    """The spec §5 object of one trace from its figures."""
    path = f.critical_path
    bottleneck = f.bottleneck
    return {
        "file": label,
        "steps": n,
        "valid_steps": f.valid_steps,
        "accuracy_rate": round(f.valid_steps / n, 4) if n else 0.0,
        "total_ms": f.total_us / 1000.0,
        "critical_path": list(path),
        "critical_ms": dict(zip(path, f.critical_ms)),
        "bottleneck": {"node_id": bottleneck, "critical_ms": f.bottleneck_ms} if bottleneck is not None else None,
        "failed_nodes": list(f.failed_nodes),
        "anomalies": [list(p) for p in f.anomalies],
    }


class _JsonItems:
    """A sink for :func:`_load`: writes each chunk's §5 objects as JSON array items
    (``a,b,c``, no brackets; a comma between chunks) through ``write(bytes)``."""

    def __init__(self, write) -> None:
        self.write = write
        self.started = False

    def __call__(self, labels: list, totals: list, figures: list) -> None:
        if figures:
            self.fragment(_dumps_bytes(list(map(_analysis_object, labels, totals, figures)))[1:-1])

    def fragment(self, data: bytes) -> None:
        """Items already written as JSON (a worker's part)."""
        if data:
            if self.started:
                self.write(b",")
            self.write(data)
            self.started = True


def load_traces(
    inputs: PathInput | Sequence[Any], *, progress: bool = True, workers: int = 1, frames: bool = True
) -> TraceSet:
    """Load and analyse many traces: paths, a directory, a glob, or ``Trace`` objects.

    Every document shape :func:`gctrace_nb.documents.read_document` accepts is read,
    and NDJSON files (``.ndjson``/``.jsonl``, or any file whose lines are each a
    document) give one trace per line. A file that cannot be read goes into
    ``errors`` as ``(path, reason)``; the batch never stops for it.

    ``frames=False`` keeps only the per-trace figures (``traces``, ``to_json()``):
    no step rows, no polars, less time and memory (what ``gctrace analyze`` uses).
    ``workers > 1`` reads and analyses part of the files in that many - 1 extra
    processes (spawned: each pays ~0.3 s to start, so it pays off from a few
    hundred files). The result is the same, in the same order.
    """
    from .model import Trace

    if isinstance(inputs, (str, os.PathLike)):
        sources: list = expand_paths(inputs)
    else:
        items = list(inputs)
        sources = []
        for item in items:
            sources.extend([item] if isinstance(item, Trace) else expand_paths(item))
    import gc

    # Parsing makes millions of small acyclic objects; the cyclic collector would
    # walk them again and again for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if workers > 1 and len(sources) >= 8 * workers and not any(isinstance(s, Trace) for s in sources):
            return _load_parallel(sources, progress, workers, frames)
        return _load(sources, progress, frames)
    finally:
        if gc_was_enabled:
            gc.enable()


def _load_part(sources: list, frames: bool = True, json_items: bool = False) -> Any:
    """Worker entry point: load and analyse part of the files (no progress bar).

    With ``json_items``: (the §5 objects as JSON array items, the errors).
    """
    import gc

    gc.disable()
    if json_items:
        out: list = []
        ts = _load(sources, False, False, _JsonItems(out.append))
        return b"".join(out), ts.errors
    return _load(sources, False, frames)


def _load_parallel(sources: list, progress: bool, workers: int, frames: bool, sink: Any = None) -> TraceSet:
    """Split the files by size; this process takes the first part, spawned workers the rest.

    With ``sink`` (a :class:`_JsonItems`), every part's objects go to it in order;
    the set returned holds the errors.
    """
    import pickle
    import subprocess
    import sys
    import threading

    # start the workers first: their interpreters start while the files are sized
    env = dict(os.environ)  # the child must import this very package, installed or not
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gctrace_nb._batch_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        for _ in range(workers - 1)
    ]
    sizes = np.array([_size(s) for s in sources], dtype=np.float64)
    # a worker starts late (a fresh interpreter): give it a bit less
    share = np.array([1.45] + [1.0] * (workers - 1))
    cuts = np.searchsorted(np.cumsum(sizes) / max(sizes.sum(), 1.0), np.cumsum(share / share.sum())[:-1])
    parts = np.split(np.arange(len(sources)), cuts)
    for proc, part in zip(procs, parts[1:]):
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(([sources[i] for i in part], frames, sink is not None)))
        proc.stdin.close()
    results: list = [None] * len(procs)

    def collect(k: int) -> None:  # read while we work, so a full pipe never blocks the worker
        assert procs[k].stdout is not None
        results[k] = procs[k].stdout.read()

    readers = [threading.Thread(target=collect, args=(k,), daemon=True) for k in range(len(procs))]
    for reader in readers:
        reader.start()
    sets = [_load([sources[i] for i in parts[0]], progress, frames, sink)]
    for k, (proc, reader) in enumerate(zip(procs, readers)):
        reader.join()
        if proc.wait() != 0 or not results[k]:  # the worker failed: do its part here
            sets.append(_load([sources[i] for i in parts[k + 1]], False, frames, sink))
        elif sink is not None:
            items, errors = pickle.loads(results[k])
            sink.fragment(items)
            sets[0].errors.extend(errors)
        else:
            sets.append(pickle.loads(results[k]))
    return sets[0] if sink is not None else _merge(sets)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _merge(sets: list[TraceSet]) -> TraceSet:
    """One set from several loaded in order (trace ids shift by the traces before)."""
    frames, labels, paths, lines, flow_ids, totals, figures, errors, python_path = [], [], [], [], [], [], [], [], []
    for ts in sets:
        offset = len(labels)
        if ts._rows is not None:
            import polars as pl

            frames.append(ts._rows.with_columns(pl.col("trace_id") + offset) if offset else ts._rows)
        labels += ts.labels
        paths += ts._paths
        lines += ts._lines
        flow_ids += ts._flow_ids
        totals += ts._steps_total
        figures += ts._figures
        errors += ts.errors
        python_path += [t + offset for t in ts.python_path]
    rows = None
    if frames and len(frames) == len(sets):
        import polars as pl

        rows = pl.concat(frames)
    merged = TraceSet(labels, paths, lines, flow_ids, totals, rows, figures, errors)
    merged.python_path = python_path
    return merged


def _load(sources: list, progress: bool, frames: bool = True, sink: Any = None) -> TraceSet:
    """Read and analyse ``sources`` chunk by chunk.

    With ``sink`` (figures only), each chunk's figures go to ``sink(labels, totals,
    figures)`` as soon as they are made and are not kept: the set returned holds
    the labels and errors only. Its strings need not be copied out of the parsed
    documents then (nothing outlives the chunk).
    """
    errors: list[tuple[str, str]] = []
    labels, paths, lines, flow_ids, totals, parts = [], [], [], [], [], []
    python_path: list[int] = []
    figures: list[_Figures] = []
    keep = sink is None
    chunk = _Chunk(frames, copy_strings=keep)
    limit = _CHUNK_STEPS if frames else max(1, _CHUNK_STEPS // _FIGURES_CHUNK_DIVISOR)

    def flush() -> None:
        nonlocal chunk
        if not chunk.n_docs:
            return
        lo = len(labels) - chunk.n_docs
        frame, slow, figs = chunk.analyse(lo)
        parts.append(frame)
        python_path.extend(sorted(slow))
        if keep:
            figures.extend(figs)
        else:
            sink(labels[lo:], totals[lo:], figs)
        chunk = _Chunk(frames, copy_strings=keep)

    for doc in _iter_docs(sources, progress, errors, frames):
        labels.append(doc.label)
        paths.append(doc.path)
        lines.append(doc.line)
        flow_ids.append(doc.flow_id)
        totals.append(len(doc.steps))
        chunk.add(doc)
        del doc
        if chunk.n_steps >= limit:
            flush()
    flush()
    if not frames:
        rows = None
    else:
        import polars as pl

        rows = pl.concat(parts) if parts else pl.DataFrame(schema=_step_schema())
    ts = TraceSet(labels, paths, lines, flow_ids, totals, rows, figures, errors)
    ts.python_path = python_path
    return ts


# ------------------------------------------------------------------ the CLI
def _dumps_bytes(obj: Any) -> bytes:
    """:func:`_dumps` as UTF-8 bytes."""
    import orjson

    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return _dumps(obj).encode("utf-8")


def _dumps(obj: Any) -> str:
    """Compact JSON text (orjson; the standard library where orjson refuses, e.g. lone surrogates)."""
    import orjson

    try:
        return orjson.dumps(obj).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return escape_surrogates(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


_SUMMARY_COLUMNS = (
    ("count", "count", "{:d}"),
    ("traces", "traces", "{:d}"),
    ("p50 ms", "duration_p50_ms", "{:.1f}"),
    ("p95 ms", "duration_p95_ms", "{:.1f}"),
    ("p99 ms", "duration_p99_ms", "{:.1f}"),
    ("self p50", "self_p50_ms", "{:.1f}"),
    ("failed", "failure_rate", "{:.1%}"),
    ("on path", "critical_rate", "{:.1%}"),
    ("crit ms", "mean_critical_ms", "{:.1f}"),
    ("e2e share", "critical_share", "{:.1%}"),
)


def summary_text(table: pl.DataFrame) -> str:
    """The per-node table as aligned plain text (one line per node)."""
    key = table.columns[0]
    rows = [[key] + [h for h, _, _ in _SUMMARY_COLUMNS]]
    from .textsafe import printable

    for rec in table.iter_rows(named=True):
        rows.append([printable(str(rec[key]))] + [
            "" if rec[c] is None else f.format(rec[c]) for _, c, f in _SUMMARY_COLUMNS
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    )


def auto_workers(n_files: int) -> int:
    """2 when there are many files and a second core is idle (load average), else 1.

    ``GCTRACE_WORKERS=N`` in the environment sets it.
    """
    forced = os.environ.get("GCTRACE_WORKERS", "")
    if forced.isdigit() and int(forced) >= 1:
        return int(forced)
    cpus = os.cpu_count() or 1
    if n_files < 400 or cpus < 2:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1
    return 2 if load < cpus - 0.5 else 1


def _bytes_writer(out: Any):
    """``write(bytes)`` onto the text stream ``out``: straight to its buffer when it
    encodes UTF-8 strictly (the same bytes, no decoding and encoding again)."""
    import codecs

    raw = getattr(out, "buffer", None)
    try:
        utf8 = raw is not None and codecs.lookup(out.encoding).name == "utf-8" and out.errors == "strict"
    except (AttributeError, LookupError, TypeError):
        utf8 = False
    if utf8:
        out.flush()
        return raw.write
    return lambda data: out.write(bytes(data).decode("utf-8"))


def _stream_analysis_json(sources: list, progress: bool, workers: int, write) -> list:
    """Write the §5 objects of every trace in ``sources`` as JSON array items; return the errors."""
    import gc

    sink = _JsonItems(write)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if workers > 1 and len(sources) >= 8 * workers:
            return _load_parallel(sources, progress, workers, False, sink).errors
        return _load(sources, progress, False, sink).errors
    finally:
        if gc_was_enabled:
            gc.enable()


def _keep_freed_memory() -> None:
    """Let glibc's malloc keep and reuse freed memory instead of unmapping it (CLI only).

    The batch allocates and frees large arrays chunk after chunk; by default each
    one is a fresh ``mmap`` whose pages fault in again (~0.1 s per 2,000 traces).
    A short-lived ``gctrace`` process can keep its peak instead. A no-op where
    ``mallopt`` is missing (not glibc).
    """
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks up to 32 MiB come from the heap
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 64 << 20)


def run_analyze(args: Any) -> int:
    """``gctrace analyze`` over several files, directories or NDJSON (and ``--summary``).

    Prints what the one-file path prints for each trace (the same spec §5
    objects, as one JSON array), names each unreadable file on stderr in one
    line and returns 2 if there was one, 0 otherwise.
    """
    import sys

    from .cli import EXIT_INVALID, EXIT_OK

    _keep_freed_memory()
    files = expand_paths(args.files)
    if not files:
        print(f"gctrace analyze: no trace files in {' '.join(args.files)}", file=sys.stderr)
        return EXIT_INVALID
    summary = getattr(args, "summary", False)
    if args.format == "json" and not summary:
        # the JSON needs only the per-trace figures: each chunk's objects are
        # written as soon as they are made (nothing is kept for the end)
        write = _bytes_writer(sys.stdout)
        write(b"[")
        errors = _stream_analysis_json(files, sys.stderr.isatty(), auto_workers(len(files)), write)
        write(b"]\n")
        sys.stdout.flush()
        for path, reason in errors:
            print(f"gctrace analyze: {escape_surrogates(' '.join(f'{path}: {reason}'.split()))}", file=sys.stderr)
        return EXIT_INVALID if errors else EXIT_OK
    ts = load_traces(files, progress=sys.stderr.isatty(), workers=auto_workers(len(files)), frames=True)
    for path, reason in ts.errors:
        print(f"gctrace analyze: {escape_surrogates(' '.join(f'{path}: {reason}'.split()))}", file=sys.stderr)
    status = EXIT_INVALID if ts.errors else EXIT_OK
    if summary:
        table = ts.nodes(by=getattr(args, "by", "node_id"))
        if args.format == "json":
            print(escape_surrogates(json.dumps(table.to_dicts(), ensure_ascii=False, default=str)))
        else:
            print(escape_surrogates(summary_text(table)))
    elif len(ts):
        print(escape_surrogates("\n\n".join(ts.trace(i).summary_text() for i in range(len(ts)))))
    return status


def compare(a: Any, b: Any, *, by: str = "node_id"):
    """Compare two traces or two sets per node: see :func:`gctrace_nb.comparison.compare`.

    (Here so that ``gctrace_nb.compare`` resolves; the implementation and
    :func:`~gctrace_nb.comparison.compare_chart` live in :mod:`gctrace_nb.comparison`.)
    """
    from .comparison import compare as _compare

    return _compare(a, b, by=by)
