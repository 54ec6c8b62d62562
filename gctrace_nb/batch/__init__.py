"""Many traces at once: discovery, fast readers, vectorised analysis, worker processes, a Dask cluster, export.

- :mod:`.discover` which files (paths or URLs, read through :mod:`gctrace_nb._storage`); :mod:`.readers`
  reading them; :mod:`.columns` + :mod:`.vectorized` analysing them a chunk at a time; :mod:`.traceset`
  the result; :mod:`.dispatch` ``load_traces``, which runs :mod:`.load` (one process or several) or
  :mod:`.cluster` (a Dask cluster's workers); :mod:`.nodestats` the per-node table, exact under any split;
  :mod:`.jsonout` the spec's JSON; :mod:`.comparison` two sides per node; :mod:`.export` other formats,
  :mod:`.dataset` a Hive-partitioned Parquet dataset.

Importing this package is cheap: ``gctrace analyze`` streams JSON without polars, so the
public names resolve on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports as _lazy_exports

__all__ = ["TraceSet", "compare", "load_traces"]

_LAZY = {"TraceSet": "traceset", "compare": "comparison", "load_traces": "dispatch"}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
