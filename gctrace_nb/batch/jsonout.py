"""The spec §5 objects of a :class:`~.traceset.TraceSet`, whole or streamed as JSON array items."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator


from .._text import escape_surrogates
from .columns import Figures

if TYPE_CHECKING:  # pragma: no cover

    from .traceset import TraceSet


def analysis_json_list(ts: TraceSet) -> list[dict]:
    """The spec §5 objects of every trace in ``ts`` (what ``gctrace analyze --format json`` prints)."""
    return list(iter_analysis_json(ts))


def iter_analysis_json(ts: TraceSet) -> Iterator[dict]:
    """The spec §5 objects one at a time (a large set's JSON need not be held whole).

    Milliseconds are ``µs / 1000``: for an integer count of µs that float is
    already what :func:`gctrace_nb.core.analysis.ms` rounds it to.
    """
    return map(analysis_object, ts.labels, ts._steps_total, ts._figures)


def analysis_object(label: str, n: int, f: Figures) -> dict:
    """The spec §5 object of one trace from its figures."""
    path = f.critical_path
    bottleneck = f.bottleneck
    return {
        "file": label,
        "steps": n,
        "valid_steps": f.valid_steps,
        "accuracy_rate": round(f.valid_steps / n, 4) if n else 0.0,
        "total_ms": f.total_us / 1000,
        "critical_path": list(path),
        "critical_ms": dict(zip(path, f.critical_ms)),
        "bottleneck": {"node_id": bottleneck, "critical_ms": f.bottleneck_ms} if bottleneck is not None else None,
        "failed_nodes": list(f.failed_nodes),
        "anomalies": [list(p) for p in f.anomalies],
    }


class JsonItems:
    """A sink for :func:`load_sources`: writes each chunk's §5 objects as JSON array items
    (``a,b,c``, no brackets; a comma between chunks) through ``write(bytes)``."""

    def __init__(self, write) -> None:
        self.write = write
        self.started = False

    def __call__(self, labels: list, totals: list, figures: list) -> None:
        if figures:
            import orjson

            objects = list(map(analysis_object, labels, totals, figures))
            try:
                data = orjson.dumps(objects)[1:-1]
            except (TypeError, orjson.JSONEncodeError):
                # one object at a time: only those orjson refuses are written the other way,
                # so the bytes do not depend on which traces share a chunk (or a cluster's partition)
                data = b",".join(map(dumps_bytes, objects))
            self.fragment(data)

    def fragment(self, data: bytes) -> None:
        """Items already written as JSON (a worker's part)."""
        if data:
            if self.started:
                self.write(b",")
            self.write(data)
            self.started = True



# ------------------------------------------------------------------ the CLI
def dumps_bytes(obj: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes."""
    import orjson

    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return dumps(obj).encode("utf-8")


def dumps(obj: Any) -> str:
    """Compact JSON text (orjson; the standard library where orjson refuses, e.g. lone surrogates)."""
    import orjson

    try:
        return orjson.dumps(obj).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return escape_surrogates(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))


