"""Reading and analysing files on this machine: sources in, :class:`~.traceset.TraceSet` out; one process or several.

(:func:`.dispatch.load_traces` is the front door: it sends the work here or to a Dask cluster.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .columns import Chunk, Figures, step_schema
from .discover import file_size
from .jsonout import JsonItems
from .readers import iter_docs
from .traceset import TraceSet

if TYPE_CHECKING:  # pragma: no cover
    pass


CHUNK_STEPS = 200_000  # steps analysed together with step frames: bounds memory, keeps frames few
# figures only: an eighth of that keeps the arrays in the CPU cache and the peak small
# (fewer pages to fault in: ~10% faster per process, a third of the memory)
FIGURES_CHUNK_DIVISOR = 8

def load_local(sources: list, *, progress: bool = True, workers: int = 1, frames: bool = True,
               storage_options: Mapping | None = None) -> TraceSet:
    """Read and analyse ``sources`` (expanded files, URLs or ``Trace`` objects) on this machine.

    ``workers > 1`` reads and analyses part of the files in that many - 1 extra
    processes (spawned: each pays ~0.3 s to start, so it pays off from a few
    hundred files). The result is the same, in the same order.
    """
    from ..core.model import Trace

    # no gc.disable() here: this runs in the user's process (a notebook, the launcher's
    # thread); the CLI and our worker processes switch the collector off for themselves
    if workers > 1 and len(sources) >= 8 * workers and not any(isinstance(s, Trace) for s in sources):
        return load_parallel(sources, progress, workers, frames, storage_options=storage_options)
    return load_sources(sources, progress, frames, storage_options=storage_options)


def load_part(sources: list, frames: bool = True, json_items: bool = False, storage_options: Mapping | None = None
              ) -> Any:
    """Worker entry point: load and analyse part of the files (no progress bar).

    With ``json_items``: (the §5 objects as JSON array items, the errors).
    """
    if json_items:
        out: list = []
        ts = load_sources(sources, False, False, JsonItems(out.append), storage_options)
        return b"".join(out), ts.errors
    return load_sources(sources, False, frames, storage_options=storage_options)


def load_parallel(sources: list, progress: bool, workers: int, frames: bool, sink: Any = None,
                  storage_options: Mapping | None = None) -> TraceSet:
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
        proc.stdin.write(pickle.dumps(([sources[i] for i in part], frames, sink is not None, storage_options)))
        proc.stdin.close()
    results: list = [None] * len(procs)

    def collect(k: int) -> None:  # read while we work, so a full pipe never blocks the worker
        stdout = procs[k].stdout
        assert stdout is not None  # opened with stdout=PIPE
        results[k] = stdout.read()

    readers = [threading.Thread(target=collect, args=(k,), daemon=True) for k in range(len(procs))]
    for reader in readers:
        reader.start()
    sets = [load_sources([sources[i] for i in parts[0]], progress, frames, sink, storage_options)]
    for k, (proc, reader) in enumerate(zip(procs, readers)):
        reader.join()
        if proc.wait() != 0 or not results[k]:  # the worker failed: do its part here
            sets.append(load_sources([sources[i] for i in parts[k + 1]], False, frames, sink, storage_options))
        elif sink is not None:
            items, errors = pickle.loads(results[k])
            sink.fragment(items)
            sets[0].errors.extend(errors)
        else:
            sets.append(pickle.loads(results[k]))
    return sets[0] if sink is not None else merge_sets(sets)



def merge_sets(sets: list[TraceSet]) -> TraceSet:
    """One set from several loaded in order (trace ids shift by the traces before)."""
    frames: list = []
    labels: list = []
    paths: list = []
    lines: list = []
    flow_ids: list = []
    totals: list = []
    figures: list = []
    errors: list = []
    python_path: list = []
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
    merged.storage_options = sets[0].storage_options if sets else None
    return merged


def load_sources(sources: list, progress: bool, frames: bool = True, sink: Any = None,
                 storage_options: Mapping | None = None) -> TraceSet:
    """Read and analyse ``sources`` chunk by chunk.

    With ``sink`` (figures only), each chunk's figures go to ``sink(labels, totals,
    figures)`` as soon as they are made and are not kept: the set returned holds
    the labels and errors only. Its strings need not be copied out of the parsed
    documents then (nothing outlives the chunk).
    """
    errors: list[tuple[str, str]] = []
    labels: list = []
    paths: list = []
    lines: list = []
    flow_ids: list = []
    totals: list = []
    parts: list = []
    python_path: list[int] = []
    figures: list[Figures] = []
    keep = sink is None
    chunk = Chunk(frames, copy_strings=keep, storage_options=storage_options)
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
        chunk = Chunk(frames, copy_strings=keep, storage_options=storage_options)

    for doc in iter_docs(sources, progress, errors, frames, storage_options):
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
    ts.storage_options = storage_options
    return ts


def stream_analysis_json(sources: list, write: Any, *, progress: bool = False, workers: int = 1,
                         storage_options: Mapping | None = None) -> list:
    """Write the §5 objects of every trace in ``sources`` as JSON array items; return the errors.

    Nothing is kept: each chunk's objects are written through ``write(bytes)`` as soon
    as they are made (no brackets: the caller writes ``[`` and ``]``).
    """
    sink = JsonItems(write)
    if workers > 1 and len(sources) >= 8 * workers:
        return load_parallel(sources, progress, workers, False, sink, storage_options).errors
    return load_sources(sources, progress, False, sink, storage_options).errors
