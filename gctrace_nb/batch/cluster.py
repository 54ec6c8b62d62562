"""The batch analysis on a Dask cluster: partitions of files read and analysed on the workers.

The files (local paths every worker can see, or URLs) are cut into contiguous
partitions of similar size; each partition is one task that runs the very
reader and vectorised analysis of the one-machine path (:func:`.load.load_sources`),
so every per-trace figure is the same. What comes back depends on the use:

- ``gctrace analyze --format json``: each partition's §5 objects as JSON
  array items, written in file order as they arrive (:func:`stream_json`).
- the per-node table: each partition's step rows become, per bucket of node
  keys, integer partial sums and the raw durations; one task per bucket merges
  its partials and computes the quantiles (a shuffle by node: no machine holds
  every step), and the client only sorts the finished rows
  (:mod:`.nodestats`, :func:`node_summary`).
- ``load_traces(..., client=...)``: the per-trace figures come to the client
  (:class:`ClusterTraceSet`); the step rows stay on the workers until
  ``.nodes()``, ``.steps`` or an export needs them.

Progress is Dask's own bar (a widget) in a notebook and a tqdm bar elsewhere.
dask and distributed are imported only here, and only when a cluster is used.
"""

from __future__ import annotations

import math
import re
import sys
import uuid
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ClusterUnavailable
from . import nodestats
from .traceset import TraceSet

__all__ = [
    "ClusterUnavailable", "connect", "plan_partitions", "stream_json", "node_summary", "load_on_cluster",
    "ClusterTraceSet",
]

_PART_BYTES = 32 << 20  # a partition reads about this much at most ...
_PARTS_PER_WORKER = 4  # ... and there are at least this many per worker (balance, streaming) ...
_MIN_FILES_PER_PART = 8  # ... unless that would leave fewer files than this in each
_MAX_SHUFFLE_TASKS = 100_000  # partitions x buckets: each is a (tiny) task for the scheduler


_ADDRESS = re.compile(r"^([a-z][a-z0-9+]*://)?(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}/?$")


def connect(client: Any = None, scheduler: str | None = None) -> tuple[Any, bool]:
    """``(client, owned)``: the given client, or a new one of ``scheduler`` (closed by the caller if owned).

    How long to try is Dask's ``distributed.comm.timeouts.connect`` (30 s;
    ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s`` in the environment).
    """
    if client is not None:
        return client, False
    try:
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable("a Dask cluster needs dask.distributed: pip install 'gctrace_nb[dask]'") from None
    if not isinstance(scheduler, str) or not _ADDRESS.match(scheduler):
        # checked here: a Client made with a bad address hangs for a minute in its __del__
        raise ClusterUnavailable(f"not a Dask scheduler address: {scheduler!r} (like tcp://host:8786)")
    try:
        return Client(scheduler, set_as_default=False), True
    except (OSError, TimeoutError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}"
                                 + (f": {detail}" if detail else "")) from None


def _n_workers(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        client.wait_for_workers(1, timeout=60)
        workers = client.scheduler_info().get("workers", {})
    return max(1, len(workers))


def plan_partitions(sizes: Sequence[int | None], n_workers: int) -> list[tuple[int, int]]:
    """Contiguous ``(lo, hi)`` ranges of the files, of about equal bytes (unknown sizes count as the median)."""
    n = len(sizes)
    if not n:
        return []
    known = [s for s in sizes if s]
    fill = float(np.median(known)) if known else 1.0
    weights = np.array([s if s else fill for s in sizes], dtype=np.float64)
    total = float(weights.sum())
    parts = max(_PARTS_PER_WORKER * n_workers, math.ceil(total / _PART_BYTES))
    parts = max(1, min(parts, n // _MIN_FILES_PER_PART, n))
    cuts = np.searchsorted(np.cumsum(weights) / total, np.arange(1, parts) / parts, side="left") + 1
    bounds = sorted(set([0, *np.clip(cuts, 1, n - 1).tolist(), n])) if n > 1 else [0, 1]
    return list(zip(bounds[:-1], bounds[1:]))


# ------------------------------------------------------------ on the workers
def _load_sources(sources: list, storage_options: Mapping | None, frames: bool, sink: Any = None):
    from .load import load_sources

    # the collector stays on: a Dask worker is not our process (its other tasks run in threads)
    return load_sources(sources, False, frames, sink, storage_options=storage_options)


def _json_part(sources: list, storage_options: Mapping | None) -> tuple[bytes, list]:
    """The §5 objects of ``sources`` as JSON array items, and the errors."""
    from .jsonout import JsonItems

    out: list[bytes] = []
    ts = _load_sources(sources, storage_options, False, JsonItems(out.append))
    return b"".join(out), ts.errors


def _text_part(sources: list, storage_options: Mapping | None) -> tuple[list[str], list]:
    """Each trace's summary text (as ``gctrace analyze`` prints it), and the errors."""
    ts = _load_sources(sources, storage_options, False)
    return [ts.trace(i).summary_text() for i in range(len(ts))], ts.errors


def _summary_part(sources: list, storage_options: Mapping | None, by: str, n_buckets: int) -> tuple:
    """Per bucket of node keys: partial sums and values; then (errors, total µs, traces)."""
    ts = _load_sources(sources, storage_options, True)
    buckets = nodestats.split_by_bucket(nodestats.node_inputs(ts._rows, by), n_buckets)
    return (*buckets, (ts.errors, sum(f.total_us for f in ts._figures), len(ts)))


def _full_part(sources: list, storage_options: Mapping | None, frames: bool):
    ts = _load_sources(sources, storage_options, frames)
    ts.storage_options = dict(storage_options or {})
    return ts


def _without_rows(ts):
    """The set of a partition without its step rows (what the client keeps)."""
    import copy

    light = copy.copy(ts)
    light.__dict__.pop("steps", None)
    light.__dict__.pop("traces", None)
    light._rows = None
    return light


def _node_buckets(ts, by: str, n_buckets: int) -> tuple:
    return tuple(nodestats.split_by_bucket(nodestats.node_inputs(ts._step_rows(), by), n_buckets))


def _rows_of(ts):
    return ts._step_rows()


def _write_part(ts, out: str, part: int, offset: int, storage_options: Mapping | None) -> list[str]:
    from .dataset import write_part

    return write_part(ts, out, part, offset, storage_options)


def _reduce(pairs: list) -> Any:
    return nodestats.reduce_bucket([p for p, _ in pairs], [v for _, v in pairs])


def _item(value: Sequence, index: int) -> Any:
    return value[index]


# ------------------------------------------------------------ on the client
def _key(name: str) -> str:
    return f"gctrace-{name}-{uuid.uuid4().hex[:8]}"


def shuffle_buckets(n_workers: int, n_parts: int) -> int:
    """Buckets of node keys for the shuffle: one per worker, fewer when partitions x buckets
    (the tasks that move each partition's share of a bucket) would pass ~100,000."""
    return max(1, min(n_workers, _MAX_SHUFFLE_TASKS // max(1, n_parts)))


def _submit_parts(client: Any, func: Callable, sources: list, sizes: Sequence[int | None], *args: Any,
                  ranges: list | None = None) -> tuple:
    if ranges is None:
        ranges = plan_partitions(sizes, _n_workers(client))
    tag = _key(func.__name__.strip("_"))
    futures = [client.submit(func, sources[lo:hi], *args, key=f"{tag}-{i}", pure=False)
               for i, (lo, hi) in enumerate(ranges)]
    return ranges, futures


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    try:
        return shell is not None and type(shell.get_ipython()).__name__ == "ZMQInteractiveShell"
    except Exception:  # pragma: no cover - an IPython without get_ipython
        return False


class _Progress:
    """Dask's progress widget in a notebook, a tqdm bar (files) elsewhere, or nothing."""

    def __init__(self, futures: list, ranges: list, enabled: bool, desc: str = "traces") -> None:
        self.bar = None
        self.ranges = ranges
        if not enabled:
            return
        if _in_notebook() and futures:
            from distributed import progress
            from IPython.display import display

            # Dask's widget, updated from the client's event loop while this cell waits
            address = futures[0].client.scheduler.address
            display(progress(futures, notebook=True, multi=False, scheduler=address))
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=sum(hi - lo for lo, hi in ranges), unit="file", desc=desc)

    def done(self, index: int) -> None:
        if self.bar is not None:
            lo, hi = self.ranges[index]
            self.bar.update(hi - lo)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _in_order(futures: list, progress: _Progress):
    """Yield ``(index, future)`` in index order, each as soon as it and all before it are done."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    ready: dict[int, Any] = {}
    nxt = 0
    loop = futures[0].client.loop if futures else None  # the client need not be the default one
    try:
        for fut in as_completed(futures, loop=loop):
            i = index[fut.key]
            ready[i] = fut
            progress.done(i)
            while nxt in ready:
                yield nxt, ready.pop(nxt)
                nxt += 1
    finally:
        progress.close()


def stream_json(client: Any, sources: list, sizes: Sequence[int | None], write: Callable[[bytes], Any], *,
                storage_options: Mapping | None = None, progress: bool = False) -> list:
    """Write every trace's §5 object as JSON array items through ``write``, in file order; return the errors."""
    from .jsonout import JsonItems

    ranges, futures = _submit_parts(client, _json_part, sources, sizes, storage_options)
    sink = JsonItems(write)
    errors: list = []
    for i, fut in _in_order(futures, _Progress(futures, ranges, progress)):
        items, errs = fut.result()
        futures[i] = None  # the worker may drop it now
        fut.release()
        sink.fragment(items)
        errors.extend(errs)
    return errors


def stream_texts(client: Any, sources: list, sizes: Sequence[int | None], *, storage_options: Mapping | None = None,
                 progress: bool = False):
    """Yield ``(texts, errors)`` per partition, in file order (``gctrace analyze`` text)."""
    ranges, futures = _submit_parts(client, _text_part, sources, sizes, storage_options)
    for i, fut in _in_order(futures, _Progress(futures, ranges, progress)):
        texts, errs = fut.result()
        futures[i] = None
        fut.release()
        yield texts, errs


def _shuffle_nodes(client: Any, maps: list, n_buckets: int, by: str, total_us: int | None = None):
    """The per-node table from map futures whose results start with ``n_buckets`` bucket pairs."""
    reducers = []
    tag = _key("nodes")
    for b in range(n_buckets):
        # each piece is taken where its map ran: only that bucket's rows move to the reducer
        pieces = [client.submit(_item, m, b, key=f"{tag}-piece-{b}-{i}") for i, m in enumerate(maps)]
        reducers.append(client.submit(_reduce, pieces, key=f"{tag}-reduce-{b}"))
    return reducers


def node_summary(client: Any, sources: list, sizes: Sequence[int | None], *, by: str = "node_id",
                 storage_options: Mapping | None = None, progress: bool = False):
    """``(table, errors, n_traces)``: :meth:`TraceSet.nodes` of the files, computed on the cluster."""
    nodestats.check_by(by)
    n_workers = _n_workers(client)
    ranges = plan_partitions(sizes, n_workers)
    n_buckets = shuffle_buckets(n_workers, len(ranges))
    ranges, maps = _submit_parts(client, _summary_part, sources, sizes, storage_options, by, n_buckets,
                                 ranges=ranges)
    reducers = _shuffle_nodes(client, maps, n_buckets, by)
    metas = [client.submit(_item, m, n_buckets, key=f"{m.key}-meta") for m in maps]
    errors: list = []
    total_us = n_traces = 0
    for _, fut in _in_order(metas, _Progress(metas, ranges, progress)):
        errs, total, n = fut.result()
        errors.extend(errs)
        total_us += total
        n_traces += n
    del maps
    table = nodestats.finish(client.gather(reducers), total_us, by)
    return table, errors, n_traces


def load_on_cluster(client: Any, sources: list, sizes: Sequence[int | None], *, frames: bool = True,
                    storage_options: Mapping | None = None, progress: bool = False, owned: bool = False):
    """:func:`load_traces` on the cluster: a :class:`ClusterTraceSet` (a plain set with ``frames=False``)."""
    from .load import merge_sets

    ranges, parts = _submit_parts(client, _full_part, sources, sizes, storage_options, frames)
    metas = [client.submit(_without_rows, p, key=f"{p.key}-meta") for p in parts]
    sets = [fut.result() for _, fut in _in_order(metas, _Progress(metas, ranges, progress))]
    merged = merge_sets(sets)
    merged.storage_options = dict(storage_options or {})
    if not frames:
        if owned:
            client.close()
        return merged
    offsets = np.cumsum([0] + [len(s) for s in sets[:-1]]).tolist()
    return ClusterTraceSet(merged, client, parts, offsets, owned)


class ClusterTraceSet(TraceSet):
    """A :class:`~gctrace_nb.batch.traceset.TraceSet` whose step rows stay on a Dask cluster's workers.

    Per-trace figures (``traces``, ``to_json()``, ``errors``) are here, as in
    any set. ``nodes()`` runs on the cluster (a shuffle by node) and returns the
    same table as the one-machine set; ``steps`` brings every step row here
    (mind the memory on a large set); ``write_parquet`` writes from the workers.
    """

    def __init__(self, merged, client: Any, parts: list, offsets: list[int], owned: bool = False) -> None:
        self.__dict__.update(merged.__dict__)
        self.client = client
        self._parts = parts
        self._offsets = offsets
        self._owned = owned

    def __repr__(self) -> str:
        return (
            f"<TraceSet {len(self)} traces, {sum(self._steps_total)} steps, {len(self.errors)} errors, "
            f"steps in {len(self._parts)} partitions on a Dask cluster; see .traces, .nodes(), .errors>"
        )

    def __getstate__(self) -> dict:  # a pickled copy holds what is here, not the cluster's parts
        state = dict(self.__dict__)
        state.update(client=None, _parts=[], _owned=False)
        return state

    def _require_parts(self) -> None:
        if not self._parts or self.client is None:
            raise ValueError("this set's step rows were on a Dask cluster and are gone (after close(), or in a "
                             "pickled copy): load the traces again")

    def _step_rows(self):
        rows = self.__dict__.get("_gathered_rows")
        if rows is None:
            import polars as pl

            self._require_parts()
            frames = self.client.gather([self.client.submit(_rows_of, p, key=f"{p.key}-rows") for p in self._parts])
            rows = pl.concat([f.with_columns(pl.col("trace_id") + off) for f, off in zip(frames, self._offsets)])
            self.__dict__["_gathered_rows"] = rows
        return rows

    def nodes(self, by: str = "node_id"):
        """The per-node table (see :meth:`TraceSet.nodes`), computed on the cluster."""
        nodestats.check_by(by)
        if "_gathered_rows" in self.__dict__:  # the rows are here already: the same table, without the round trip
            return super().nodes(by)
        self._require_parts()
        n_buckets = shuffle_buckets(_n_workers(self.client), len(self._parts))
        maps = [self.client.submit(_node_buckets, p, by, n_buckets, key=f"{p.key}-nodes-{by}") for p in self._parts]
        reducers = _shuffle_nodes(self.client, maps, n_buckets, by)
        total_us = sum(f.total_us for f in self._figures)
        return nodestats.finish(self.client.gather(reducers), total_us, by)

    def write_dataset_parts(self, out: str, storage_options: Mapping | None) -> list[str]:
        """Each worker writes its partitions' Hive files (:func:`.dataset.write_part`)."""
        self._require_parts()
        futures = [self.client.submit(_write_part, p, out, i, off, storage_options, key=f"{p.key}-write")
                   for i, (p, off) in enumerate(zip(self._parts, self._offsets))]
        return [name for names in self.client.gather(futures) for name in names]

    def close(self) -> None:
        """Drop the step rows on the workers (and close the client if this set opened it)."""
        self._parts = []
        if self._owned and self.client is not None:
            self.client.close()
