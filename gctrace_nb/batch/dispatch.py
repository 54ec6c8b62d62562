"""``load_traces``: the front door of the batch. It expands the inputs, then runs
the analysis on this machine (:mod:`.load`) or on a Dask cluster (:mod:`.cluster`).

Both engines read with the same readers and analyse with the same vectorised
code, so the figures, the JSON and the per-node table are the same.
"""

from __future__ import annotations

import os
from typing import Any, Sequence, Mapping

from .discover import PathInput, expand_sources
from .traceset import TraceSet

__all__ = ["load_traces", "as_trace_set"]


def load_traces(
    inputs: PathInput | Sequence[Any],
    *,
    progress: bool = True,
    workers: int = 1,
    frames: bool = True,
    storage_options: Mapping | None = None,
    client: Any = None,
    scheduler: str | None = None,
) -> TraceSet:
    """Load and analyse many traces: paths, directories, globs, URLs, or ``Trace`` objects.

    Every document shape :func:`gctrace_nb.core.documents.read_document` accepts is read,
    and NDJSON files (``.ndjson``/``.jsonl``, or any file whose lines are each a
    document) give one trace per line. A file that cannot be read goes into
    ``errors`` as ``(path, reason)``; the batch never stops for it.

    Args:
        inputs: a path, directory, glob or URL, or a list of those and ``Trace`` objects.
            URLs (``s3://bucket/prefix/``, ``gs://...``, ``az://...``, ``abfs://...``,
            ``https://...``, ``file://...``) are read through fsspec: a prefix stands
            for every trace object under it, a glob for its matches.
        progress: show a progress bar (tqdm; Dask's own widget in a notebook on a cluster).
        workers: with more than 1, this machine reads and analyses part of the files in
            that many - 1 extra processes (each pays ~0.3 s to start: worth it from a few
            hundred files). The result is the same, in the same order.
        frames: ``False`` keeps only the per-trace figures (``traces``, ``to_json()``):
            no step rows, less time and memory.
        storage_options: fsspec options for URLs, as pandas and polars take them
            (``{"key": ..., "secret": ..., "endpoint_url": ...}`` for S3); each
            filesystem's environment variables (``AWS_*``, ...) work too.
        client: a ``distributed.Client``: partitions of the files are read and analysed
            on its workers (files must be URLs or paths every worker can read). The
            result (:class:`~gctrace_nb.batch.cluster.ClusterTraceSet`) keeps the step
            rows on the workers; ``nodes()`` runs there and equals this machine's table.
        scheduler: a Dask scheduler's address (``"tcp://host:8786"``), instead of ``client``.

    Raises:
        StorageError: object storage could not be listed (an ``OSError``; reading
            errors of single files go into ``errors`` instead).
        ClusterUnavailable: the scheduler could not be reached, or dask is not installed.
    """
    from ..core.model import Trace

    on_cluster = client is not None or bool(scheduler)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    sources: list = []
    sizes: list = []
    for item in list(inputs):
        if isinstance(item, Trace):
            sources.append(item)
            sizes.append(None)
            continue
        for source, size in expand_sources(item, storage_options, sizes=on_cluster):
            sources.append(source)
            sizes.append(size)
    if not on_cluster:
        from .load import load_local

        return load_local(sources, progress=progress, workers=workers, frames=frames,
                          storage_options=storage_options)
    if any(isinstance(s, Trace) for s in sources):
        raise ValueError("Trace objects cannot be sent to a cluster: give files or URLs")
    from . import cluster

    dask_client, owned = cluster.connect(client, scheduler)
    return cluster.load_on_cluster(dask_client, sources, sizes, frames=frames, storage_options=storage_options,
                                   progress=progress, owned=owned)


def as_trace_set(value: Any, *, purpose: str = "analyse", storage_options: Mapping | None = None) -> TraceSet:
    """A :class:`TraceSet` from a set, a ``Trace``, a path/directory/glob/URL, or a list of those."""
    from ..core.model import Trace

    if isinstance(value, TraceSet):
        return value
    if isinstance(value, Trace):
        return load_traces([value], progress=False)
    if isinstance(value, (str, os.PathLike, list, tuple)):
        loaded = load_traces(value, progress=False, storage_options=storage_options)
        if not len(loaded) and loaded.errors:  # a mistyped path must not read as "no traces at all"
            from ..errors import TraceFormatError

            path, reason = loaded.errors[0]
            raise TraceFormatError(reason, path)
        return loaded
    raise TypeError(f"cannot {purpose} a {type(value).__name__}; give a Trace, a TraceSet or paths")
