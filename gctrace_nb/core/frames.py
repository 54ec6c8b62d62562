"""An :class:`~gctrace_nb.core.analysis.Analysis` as polars frames (pure, no I/O).

Columns are built from the analysis' own per-step tuples, so a frame can
never disagree with the CLI's JSON: both read the same integers.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import polars as pl

from .analysis import FAILED_STATUSES, STEP_FLAG_KINDS, Analysis
from .names import step_name
from .._text import replace_surrogates

__all__ = ["steps_frame", "segments_frame", "STEP_FLAG_KINDS", "step_name", "CORE_STEP_KEYS"]

#: Anomaly kinds that can mark a kept step (``missing_id`` steps are not kept).
#: The step keys the model reads; every other key goes into the ``extra`` JSON column.
CORE_STEP_KEYS = ("nodeId", "parentId", "startTime", "endTime", "status", "errorMessage")
_UTC_US = pl.Datetime("us", "UTC")


def _datetimes(values: list[int | None]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _extra(step: dict) -> str | None:
    """The step's other fields as compact JSON (orjson when it can, json when it cannot)."""
    rest = {k: v for k, v in step.items() if k not in CORE_STEP_KEYS}
    if not rest:
        return None
    try:
        return orjson.dumps(rest, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):  # NaN/inf, non-str keys, lone surrogates, huge ints
        return json.dumps(rest, ensure_ascii=False, default=str, separators=(",", ":"))


def steps_frame(a: Analysis) -> pl.DataFrame:
    """One row per kept step, in document order."""
    try:
        return _steps_frame(a, lambda text: text)
    except UnicodeEncodeError:  # a lone surrogate somewhere: rare, so only then pay for cleaning
        return _steps_frame(a, lambda text: None if text is None else replace_surrogates(text))


def _steps_frame(a: Analysis, clean) -> pl.DataFrame:
    n = len(a.node_ids)
    ids = [clean(i) for i in a.node_ids]
    windows = a.window
    statuses = [clean(_text(step.get("status"))) for step in a.raw]
    columns: dict[str, Any] = {
        "node_id": pl.Series(ids, dtype=pl.String),
        "name": pl.Series([clean(step_name(step)) for step in a.raw], dtype=pl.String),
        "parent_id": pl.Series([ids[p] if p >= 0 else None for p in a.parent_index], dtype=pl.String),
        "start": _datetimes(list(a.start_us)),
        "end": _datetimes(list(a.end_us)),
        "duration_ms": pl.Series(
            [(e - s) / 1000.0 if ok else 0.0 for s, e, ok in zip(a.start_us, a.end_us, a.valid)],  # type: ignore[operator]
            dtype=pl.Float64,
        ),
        "self_ms": pl.Series([v / 1000.0 for v in a.self_us], dtype=pl.Float64),
        "critical_ms": pl.Series([v / 1000.0 for v in a.critical_us], dtype=pl.Float64),
        "on_critical_path": pl.Series([v > 0 for v in a.critical_us], dtype=pl.Boolean),
        "is_bottleneck": pl.Series(
            [a.bottleneck is not None and i == a.bottleneck.node_id for i in a.node_ids], dtype=pl.Boolean
        ),
        "depth": pl.Series(a.depth, dtype=pl.Int32),
        "status": pl.Series(statuses, dtype=pl.String),
        "failed": pl.Series(
            [isinstance(s, str) and s.strip().lower() in FAILED_STATUSES for s in statuses], dtype=pl.Boolean
        ),
        "error_message": pl.Series([clean(_text(step.get("errorMessage"))) for step in a.raw], dtype=pl.String),
        "valid": pl.Series(a.valid, dtype=pl.Boolean),
        "window_start": _datetimes([w[0] if w else None for w in windows]),
        "window_end": _datetimes([w[1] if w else None for w in windows]),
    }
    for kind in STEP_FLAG_KINDS:
        columns[kind] = pl.Series([kind in f for f in a.flags], dtype=pl.Boolean)
    columns["position"] = pl.Series(a.kept_positions, dtype=pl.Int64)
    columns["extra"] = pl.Series([clean(_extra(step)) for step in a.raw], dtype=pl.String)
    # the kinds of each step, sorted, from the flag columns (a list per row built in
    # Python costs ~0.7 s per 100,000 steps; this is vectorised)
    kinds = sorted(STEP_FLAG_KINDS)
    anomalies = pl.concat_list([pl.when(pl.col(k)).then(pl.lit(k)) for k in kinds]).list.drop_nulls()
    frame = pl.DataFrame(columns).with_columns(anomalies.alias("anomalies"))
    frame = frame.select([c for c in columns if c not in ("position", "extra")] + ["anomalies", "position", "extra"])
    assert frame.height == n
    return frame


def segments_frame(a: Analysis) -> pl.DataFrame:
    """The critical path as time segments ``[start, end)``, each held by one step.

    Gaps held by the virtual root (between several roots) are left out: the
    virtual root never appears in any output. ``Analysis.segments`` has them.
    """
    ids = [replace_surrogates(i) for i in a.node_ids]
    segs = [seg for seg in a.segments if seg[0] >= 0]
    return pl.DataFrame(
        {
            "node_id": pl.Series([ids[i] for i, _, _ in segs], dtype=pl.String),
            "start": _datetimes([s for _, s, _ in segs]),
            "end": _datetimes([e for _, _, e in segs]),
            "duration_ms": pl.Series([(e - s) / 1000.0 for _, s, e in segs], dtype=pl.Float64),
        }
    )
