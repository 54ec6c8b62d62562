"""``load_traces``: sources in, :class:`~.traceset.TraceSet` out; one process or several."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .columns import Chunk, Figures, step_schema
from .discover import PathInput, expand_paths, file_size
from .jsonout import JsonItems
from .readers import iter_docs
from .traceset import TraceSet

if TYPE_CHECKING:  # pragma: no cover
    pass


CHUNK_STEPS = 200_000  # steps analysed together with step frames: bounds memory, keeps frames few
# figures only: an eighth of that keeps the arrays in the CPU cache and the peak small
# (fewer pages to fault in: ~10% faster per process, a third of the memory)
FIGURES_CHUNK_DIVISOR = 8

def load_traces(
    inputs: PathInput | Sequence[Any], *, progress: bool = True, workers: int = 1, frames: bool = True
) -> TraceSet:
    """Load and analyse many traces: paths, a directory, a glob, or ``Trace`` objects.

    Every document shape :func:`gctrace_nb.core.documents.read_document` accepts is read,
    and NDJSON files (``.ndjson``/``.jsonl``, or any file whose lines are each a
    document) give one trace per line. A file that cannot be read goes into
    ``errors`` as ``(path, reason)``; the batch never stops for it.

    ``frames=False`` keeps only the per-trace figures (``traces``, ``to_json()``):
    no step rows, no polars, less time and memory (what ``gctrace analyze`` uses).
    ``workers > 1`` reads and analyses part of the files in that many - 1 extra
    processes (spawned: each pays ~0.3 s to start, so it pays off from a few
    hundred files). The result is the same, in the same order.
    """
    from ..core.model import Trace

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
            return load_parallel(sources, progress, workers, frames)
        return load_sources(sources, progress, frames)
    finally:
        if gc_was_enabled:
            gc.enable()


def load_part(sources: list, frames: bool = True, json_items: bool = False) -> Any:
    """Worker entry point: load and analyse part of the files (no progress bar).

    With ``json_items``: (the §5 objects as JSON array items, the errors).
    """
    import gc

    gc.disable()
    if json_items:
        out: list = []
        ts = load_sources(sources, False, False, JsonItems(out.append))
        return b"".join(out), ts.errors
    return load_sources(sources, False, frames)


def load_parallel(sources: list, progress: bool, workers: int, frames: bool, sink: Any = None) -> TraceSet:
    """Split the files by size; this process takes the first part, spawned workers the rest.

    With ``sink`` (a :class:`JsonItems`), every part's objects go to it in order;
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
            [sys.executable, "-m", "gctrace_nb.batch._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        for _ in range(workers - 1)
    ]
    sizes = np.array([file_size(s) for s in sources], dtype=np.float64)
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
    sets = [load_sources([sources[i] for i in parts[0]], progress, frames, sink)]
    for k, (proc, reader) in enumerate(zip(procs, readers)):
        reader.join()
        if proc.wait() != 0 or not results[k]:  # the worker failed: do its part here
            sets.append(load_sources([sources[i] for i in parts[k + 1]], False, frames, sink))
        elif sink is not None:
            items, errors = pickle.loads(results[k])
            sink.fragment(items)
            sets[0].errors.extend(errors)
        else:
            sets.append(pickle.loads(results[k]))
    return sets[0] if sink is not None else _merge(sets)



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


def load_sources(sources: list, progress: bool, frames: bool = True, sink: Any = None) -> TraceSet:
    """Read and analyse ``sources`` chunk by chunk.

    With ``sink`` (figures only), each chunk's figures go to ``sink(labels, totals,
    figures)`` as soon as they are made and are not kept: the set returned holds
    the labels and errors only. Its strings need not be copied out of the parsed
    documents then (nothing outlives the chunk).
    """
    errors: list[tuple[str, str]] = []
    labels, paths, lines, flow_ids, totals, parts = [], [], [], [], [], []
    python_path: list[int] = []
    figures: list[Figures] = []
    keep = sink is None
    chunk = Chunk(frames, copy_strings=keep)
    limit = CHUNK_STEPS if frames else max(1, CHUNK_STEPS // FIGURES_CHUNK_DIVISOR)

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
        chunk = Chunk(frames, copy_strings=keep)

    for doc in iter_docs(sources, progress, errors, frames):
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

        rows = pl.concat(parts) if parts else pl.DataFrame(schema=step_schema())
    ts = TraceSet(labels, paths, lines, flow_ids, totals, rows, figures, errors)
    ts.python_path = python_path
    return ts


def stream_analysis_json(sources: list, write: Any, *, progress: bool = False, workers: int = 1) -> list:
    """Write the §5 objects of every trace in ``sources`` as JSON array items; return the errors.

    Nothing is kept: each chunk's objects are written through ``write(bytes)`` as soon
    as they are made (no brackets: the caller writes ``[`` and ``]``).
    """
    sink = JsonItems(write)
    if workers > 1 and len(sources) >= 8 * workers:
        return load_parallel(sources, progress, workers, False, sink).errors
    return load_sources(sources, progress, False, sink).errors


def as_trace_set(value: Any, *, purpose: str = "analyse") -> TraceSet:
    """A :class:`TraceSet` from a set, a ``Trace``, a path/directory/glob, or a list of those."""
    from ..core.model import Trace

    if isinstance(value, TraceSet):
        return value
    if isinstance(value, Trace):
        return load_traces([value], progress=False)
    if isinstance(value, (str, os.PathLike, list, tuple)):
        loaded = load_traces(value, progress=False)
        if not len(loaded) and loaded.errors:  # a mistyped path must not read as "no traces at all"
            from ..errors import TraceFormatError

            path, reason = loaded.errors[0]
            raise TraceFormatError(reason, path)
        return loaded
    raise TypeError(f"cannot {purpose} a {type(value).__name__}; give a Trace, a TraceSet or paths")
