"""The per-node table, the same to the last digit however the traces are split.

:meth:`TraceSet.nodes` on one machine and on a Dask cluster both build the
table from the same three steps, so both print the same JSON:

1. :func:`node_inputs` takes the columns the table needs from step rows (one
   partition of files): the key, integer microseconds, failure flags.
2. :func:`split_by_bucket` turns a partition's inputs into, per bucket of keys
   (a CRC-32 of the key: the same in every process), the mergeable partial
   figures (counts, integer sums, traces) and the raw durations the quantiles
   need. On a cluster each bucket goes to one worker (the shuffle by node).
3. :func:`reduce_bucket` merges one bucket's partials from every partition
   (integer sums: exact, in any order) and computes the quantiles over all of
   each node's values, sorted first, so the order the values arrived in does not
   matter. :func:`finish` derives the rates, means and shares from the integer
   totals and sorts.

Quantiles use linear interpolation over ``duration_ms`` and ``self_ms``
(``µs / 1000``, as the steps frame shows them).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["BY", "node_inputs", "split_by_bucket", "reduce_bucket", "finish", "node_table"]

#: The keys :meth:`TraceSet.nodes` groups by.
BY = ("node_id", "name")
_QUANTILES = (50, 95, 99)
_SUMS = ("count", "traces", "failed_count", "critical_count", "critical_us")


def check_by(by: str) -> None:
    """Raise :class:`ValueError` unless ``by`` is a key of the table."""
    if by not in BY:
        raise ValueError(f'by must be "node_id" or "name", not {by!r}')


def node_inputs(rows: pl.DataFrame, by: str) -> pl.DataFrame:
    """``key, trace_id, duration_us, self_us, failed, critical_us`` from internal step rows.

    ``duration_us`` is 0 for a step without a valid time (as ``duration_ms`` in the steps frame).
    """
    import polars as pl

    check_by(by)
    key = pl.col("node_id") if by == "node_id" else pl.coalesce("name", "node_id")
    return rows.select(
        key.alias("key"),
        "trace_id",
        pl.when("valid").then(pl.col("end_us") - pl.col("start_us")).otherwise(0).alias("duration_us"),
        "self_us",
        "failed",
        "critical_us",
    )


def _partials(inputs: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    return inputs.group_by("key").agg(
        pl.len().cast(pl.Int64).alias("count"),
        pl.col("trace_id").n_unique().cast(pl.Int64).alias("traces"),  # a trace lies in one partition
        pl.col("failed").sum().cast(pl.Int64).alias("failed_count"),
        (pl.col("critical_us") > 0).sum().cast(pl.Int64).alias("critical_count"),
        pl.col("critical_us").sum().cast(pl.Int64).alias("critical_us"),
    )


def bucket_of(keys: pl.Series, n_buckets: int) -> pl.Series:
    """The bucket (0 .. n-1) of each key: CRC-32 of its UTF-8, the same in every process and version."""
    import polars as pl

    if n_buckets == 1 or keys.len() == 0:
        return pl.Series("bucket", [0] * keys.len(), dtype=pl.Int64)
    distinct = keys.unique().to_list()
    table = {k: zlib.crc32(k.encode("utf-8")) % n_buckets for k in distinct}
    return keys.replace_strict(table, return_dtype=pl.Int64).alias("bucket")


def split_by_bucket(inputs: pl.DataFrame, n_buckets: int) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """Per bucket: (partial sums per key, the ``key, duration_us, self_us`` values)."""
    import polars as pl

    partials = _partials(inputs)
    values = inputs.select("key", "duration_us", "self_us")
    if n_buckets == 1:
        return [(partials, values)]
    pb = partials.with_columns(bucket_of(partials["key"], n_buckets))
    vb = values.with_columns(bucket_of(values["key"], n_buckets))
    p_parts = {k[0]: f.drop("bucket") for k, f in pb.partition_by("bucket", as_dict=True).items()}
    v_parts = {k[0]: f.drop("bucket") for k, f in vb.partition_by("bucket", as_dict=True).items()}
    return [(p_parts.get(b, partials.clear()), v_parts.get(b, values.clear())) for b in range(n_buckets)]


def reduce_bucket(partials: Sequence[pl.DataFrame], values: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Merge one bucket's partials from every partition; the quantiles over each node's values.

    Sums are of integers (exact in any order); the values are sorted before the
    quantiles, so the result depends only on which values there are.
    """
    import polars as pl

    merged = pl.concat(list(partials)).group_by("key").agg(pl.col(c).sum() for c in _SUMS)
    allv = pl.concat(list(values)).sort("key", "duration_us", "self_us")
    q: list = []
    for col in ("duration", "self"):
        ms = (pl.col(f"{col}_us") / 1000.0).sort()
        q.extend(ms.quantile(p / 100, "linear").alias(f"{col}_p{p}_ms") for p in _QUANTILES)
    quantiles = allv.group_by("key").agg(*q)
    return merged.join(quantiles, on="key", how="left")


def finish(reduced: Sequence[pl.DataFrame], total_us: int, by: str) -> pl.DataFrame:
    """The table from every bucket's reduction and the sum of every trace's ``total_us``.

    Columns (as :meth:`TraceSet.nodes` documents them): the key, ``count``,
    ``traces``, ``duration_p50/p95/p99_ms``, ``self_p50/p95/p99_ms``,
    ``failure_rate``, ``failed_count``, ``critical_count``, ``critical_rate``,
    ``mean_critical_ms``, ``critical_ms_total``, ``critical_share``; sorted by
    ``critical_share`` (descending), then the key.
    """
    import polars as pl

    check_by(by)
    table = pl.concat(list(reduced)) if reduced else _empty()
    total_ms = total_us / 1000.0
    critical_ms = pl.col("critical_us") / 1000.0
    quantile_cols = [f"{c}_p{p}_ms" for c in ("duration", "self") for p in _QUANTILES]
    return table.select(
        pl.col("key").alias(by),
        "count",
        "traces",
        *quantile_cols,
        (pl.col("failed_count") / pl.col("count")).alias("failure_rate"),
        "failed_count",
        "critical_count",
        (pl.col("critical_count") / pl.col("count")).alias("critical_rate"),
        (critical_ms / pl.col("count")).alias("mean_critical_ms"),
        critical_ms.alias("critical_ms_total"),
        (critical_ms / total_ms if total_ms > 0 else pl.lit(0.0)).alias("critical_share"),
    ).sort(["critical_share", by], descending=[True, False])


def _empty() -> pl.DataFrame:
    import polars as pl

    schema = {"key": pl.String, **{c: pl.Int64 for c in _SUMS}}
    schema.update({f"{c}_p{p}_ms": pl.Float64 for c in ("duration", "self") for p in _QUANTILES})
    return pl.DataFrame(schema=schema)


def node_table(rows: pl.DataFrame, total_us: int, by: str = "node_id") -> pl.DataFrame:
    """The table from the step rows of one machine (one partition, one bucket)."""
    ((partials, values),) = split_by_bucket(node_inputs(rows, by), 1)
    return finish([reduce_bucket([partials], [values])], total_us, by)
