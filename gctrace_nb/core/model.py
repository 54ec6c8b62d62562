"""The ``Trace``: one flow execution's steps, where they came from, and their analysis.

A trace keeps its steps exactly as given (dropped entries included), so saving
and loading is lossless and every view is recomputed from the same input.
The analysis and the polars frames are computed once, on first use.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .analysis import Analysis, analyze_steps
from .._redact import drop_secrets
from .._text import escape_surrogates
from ..errors import TraceFormatError
from .documents import SAVED_FORMAT, Source, check_document, read_document

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["Trace", "TraceMetadata", "load_trace", "save_trace", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TraceMetadata:
    """Where a trace came from. Never holds a token or a secret.

    ``source`` is ``"debug"`` (the design's debug-trace job), ``"history"`` (a
    Genesys flow execution-history download), ``"action_test"`` (a data action
    test) or ``"file"``. Times are ISO-8601 UTC strings.
    """

    source: str = "file"
    flow_id: str | None = None
    action_invocation_id: str | None = None
    job_id: str | None = None
    request: dict | None = None
    submitted_at: str | None = None
    completed_at: str | None = None
    retrieval_latency_ms: float | None = None
    correlation_ids: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked where text enters, like the steps: lone surrogates escaped, no endless nesting.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (str, dict, list, tuple)):
                checked = check_document(value, "metadata")
                if checked is not value:
                    object.__setattr__(self, f.name, checked)

    def to_json(self) -> dict:
        data = asdict(self)
        data["correlation_ids"] = list(self.correlation_ids)
        data["request"] = drop_secrets(self.request) if self.request is not None else None
        data["extra"] = drop_secrets(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> "TraceMetadata":
        """Build from a saved document's ``metadata``; unknown keys go into ``extra``."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        extra = dict(data.get("extra") or {}) if isinstance(data.get("extra"), dict) else {}
        for key, value in data.items():
            if key == "extra":
                continue
            if key in known:
                kwargs[key] = value
            else:
                extra[key] = value
        if "correlation_ids" in kwargs:
            ids = kwargs["correlation_ids"]
            kwargs["correlation_ids"] = tuple(str(x) for x in ids) if isinstance(ids, (list, tuple)) else ()
        for key in ("source", "flow_id", "action_invocation_id", "job_id", "submitted_at", "completed_at"):
            if key in kwargs and kwargs[key] is not None and not isinstance(kwargs[key], str):
                kwargs[key] = str(kwargs[key])
        latency = kwargs.get("retrieval_latency_ms")
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))):
            kwargs["retrieval_latency_ms"] = None
        if "request" in kwargs and not isinstance(kwargs["request"], (dict, type(None))):
            extra["request"] = kwargs.pop("request")
        if kwargs.get("source") is None:
            kwargs.pop("source", None)
        return cls(extra=extra, **kwargs)


class Trace:
    """One trace: steps as given, metadata, and (lazily) its analysis and frames.

    Build one with :func:`load_trace`, :meth:`Trace.from_document`, or from a
    client call. ``trace.analysis`` holds the spec's figures; ``trace.steps``
    is a polars frame with one row per kept step.
    """

    def __init__(self, steps: list, metadata: TraceMetadata | None = None, *, name: str | None = None) -> None:
        if not isinstance(steps, list):
            raise TraceFormatError(f"steps must be a list, got {type(steps).__name__}", name)
        # the steps are checked as any document is (too deep, self-containing: refused here, not
        # later in .steps or save(); lone surrogates escaped once, for every view)
        self._init(check_document(steps, name), metadata, name)

    def _init(self, steps: list, metadata: TraceMetadata | None, name: str | None) -> None:
        self.raw_steps = steps
        self.metadata = metadata or TraceMetadata()
        self.name = name

    # ----------------------------------------------------------------- build
    @classmethod
    def from_document(
        cls,
        source: Source | None = None,
        *,
        metadata: TraceMetadata | None = None,
        name: str | None = None,
        text: str | None = None,
    ) -> "Trace":
        """Read any trace document shape: a path (any ``str``), JSON bytes, a parsed object, or ``text=``.

        Metadata stored in the document is used unless ``metadata`` is given.
        """
        doc = read_document(source, name=name, text=text)
        meta = metadata or TraceMetadata.from_json(doc.metadata)
        if metadata is None and doc.shape == "execution_history":
            meta = replace(meta, source="history")
        label = name or doc.path
        trace = cls.__new__(cls)
        trace._init(doc.steps, meta, label)  # read_document checked the whole document
        return trace

    @classmethod
    def from_json_text(cls, text: str, *, name: str | None = None) -> "Trace":
        """Read a trace from JSON text held in a ``str`` (a ``str`` given to :func:`load_trace` is a path).

        Example:
            >>> Trace.from_json_text('[{"nodeId": "a", "startTime": 0, "endTime": 5}]').analysis.total_ms
            5.0
        """
        return cls.from_document(text=text, name=name)

    # ---------------------------------------------------------------- derive
    @cached_property
    def analysis(self) -> Analysis:
        """The spec's figures for this trace (computed once)."""
        return analyze_steps(self.raw_steps)

    @cached_property
    def steps(self) -> "pl.DataFrame":
        """One row per kept step: times, durations, self/critical ms, status, anomalies."""
        from . import frames

        return frames.steps_frame(self.analysis)

    @cached_property
    def segments(self) -> "pl.DataFrame":
        """The critical path as time segments: which step held the path when."""
        from . import frames

        return frames.segments_frame(self.analysis)

    @property
    def flow_id(self) -> str | None:
        return self.metadata.flow_id

    @property
    def failed_steps(self) -> "pl.DataFrame":
        """The rows of :attr:`steps` whose status is a failure."""
        import polars as pl

        return self.steps.filter(pl.col("failed"))

    @property
    def anomalies(self) -> list[tuple[str, str]]:
        return list(self.analysis.anomalies)

    @property
    def partial(self) -> bool:
        """True when some steps were dropped or could not be timed (still analysed)."""
        a = self.analysis
        return a.valid_steps < a.steps_total

    def to_json(self) -> dict:
        """The analysis as ``gctrace analyze --format json`` prints it, plus trace metadata."""
        out = self.analysis.to_json(self.name)
        m = self.metadata
        if m.source != "file":
            out["source"] = m.source
        for key in ("job_id", "flow_id", "action_invocation_id", "retrieval_latency_ms"):
            value = getattr(m, key)
            if value is not None:
                out[key] = value
        return out

    # -------------------------------------------------------------- persist
    def to_document(self) -> dict:
        """Our saved format: a marker, the schema version, metadata and the steps as given."""
        return {
            "format": SAVED_FORMAT,
            "schemaVersion": SCHEMA_VERSION,
            "metadata": self.metadata.to_json(),
            "steps": self.raw_steps,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trace as JSON (atomically: a crash never leaves half a file)."""
        return save_trace(self, path)

    # -------------------------------------------------------------- display
    def summary_text(self) -> str:
        """A few readable lines: totals, bottleneck, critical path, failures, anomalies."""
        from .summary import text_summary

        return text_summary(self)

    def _repr_html_(self) -> str:
        from .summary import html_summary

        return html_summary(self)

    def __repr__(self) -> str:
        a = self.analysis
        label = self.name or self.metadata.flow_id or "trace"
        bn = f"{a.bottleneck.node_id} ({a.bottleneck.critical_ms} ms)" if a.bottleneck else "none"
        return (
            f"<Trace {label}: {a.steps_total} steps, {a.total_ms} ms, bottleneck {bn}, "
            f"{len(a.failed_nodes)} failed, {len(a.anomalies)} anomalies; "
            f"see .steps, .analysis, .summary_text()>"
        )


def load_trace(
    source: Source | None = None,
    *,
    name: str | None = None,
    text: str | None = None,
    storage_options: Mapping | None = None,
) -> Trace:
    """Load a trace from a path, a URL, JSON bytes, a parsed list/dict, or JSON text given as ``text=``.

    A ``str`` is always a path or a URL (``"[prod] trace.json"`` is a file name,
    not JSON); JSON text held in a ``str`` goes in ``text=`` (or
    :meth:`Trace.from_json_text`). Only a regular file is read.

    A URL (``s3://bucket/a.json``, ``gs://``, ``az://``, ``abfs://``, ``https://``,
    ``file://``) is read through fsspec with ``storage_options`` (and the
    filesystem's own environment variables); :class:`~gctrace_nb.errors.StorageError`
    (an ``OSError``) names it when it cannot be read.

    Raises :class:`~gctrace_nb.errors.TraceFormatError` naming the file and
    what was wrong: no steps list, not JSON, not a regular file, nested more
    than :data:`~gctrace_nb.core.documents.MAX_NESTING` levels, a parsed object
    that contains itself.
    """
    from .. import _storage as storage

    if isinstance(source, str) and text is None and storage.is_url(source):
        label = name or storage.redact_url(source)
        data = storage.read_bytes(source, storage_options)
        if not data.strip():
            raise TraceFormatError("empty file", label)
        return Trace.from_document(data, name=label)
    return Trace.from_document(source, name=name, text=text)


def save_trace(trace: Trace, path: str | os.PathLike) -> Path:
    """Save ``trace`` in our format; :func:`load_trace` reads it back unchanged."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = escape_surrogates(json.dumps(trace.to_document(), ensure_ascii=False, indent=1))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target
