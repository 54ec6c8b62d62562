"""``gctrace analyze FILE... [--format json|text]``: the spec's figures for saved traces.

One file prints one JSON object, several print an array in argument order
(``spec/analysis.md`` §5). A file that cannot be read is named on stderr in
one line and the exit status is 2, but every other file is still analysed.
A directory stands for its trace files (``*.json``, ``*.ndjson``, ``*.jsonl``,
sorted); several files, a directory or NDJSON go through the batch analysis
(:mod:`gctrace_nb.batch.traceset`, same figures), and ``--summary`` prints the per-node table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

from .._text import escape_surrogates, for_terminal, one_line, printable
from ..core.model import load_trace
from ..errors import TraceFormatError
from ._process import auto_workers, tuned_for_batch
from .app import EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse saved trace files", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="trace documents (any shape the spec accepts)")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.add_argument("--summary", action="store_true", help="print the per-node table over all traces instead")
    p.add_argument("--by", choices=("node_id", "name"), default=None,
                   help="with --summary: group the per-node table by node id or by step name (default: node_id)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "by", None) is not None and not args.summary:
        print("gctrace analyze: --by only applies to the per-node table: add --summary", file=sys.stderr)
        return EXIT_INVALID
    if args.summary or any(os.path.isdir(f) or f.lower().endswith((".ndjson", ".jsonl")) for f in args.files) or (
        args.format == "json" and len(args.files) > 1
    ):
        with tuned_for_batch():
            return run_batch(args)
    status = EXIT_OK
    results = []
    texts = []
    for path in args.files:
        try:
            trace = load_trace(path)
            analysis_json = trace.analysis.to_json(path)
        except TraceFormatError as exc:
            print(f"gctrace analyze: {one_line(exc)}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        if args.format == "json":
            results.append(analysis_json)
        else:
            texts.append(trace.summary_text())
    if args.format == "json":
        if len(args.files) == 1:
            if results:
                print(escape_surrogates(json.dumps(results[0], ensure_ascii=False)))
        else:
            print(escape_surrogates(json.dumps(results, ensure_ascii=False)))
    elif texts:
        print(for_terminal("\n\n".join(texts)))
    return status



def run_batch(args: argparse.Namespace) -> int:
    """``gctrace analyze`` over several files, directories or NDJSON (and ``--summary``).

    Prints what the one-file path prints for each trace (the same spec §5
    objects, as one JSON array), names each unreadable file on stderr in one
    line and returns 2 if there was one, 0 otherwise.
    """
    from ..batch.discover import expand_paths
    from ..batch.load import load_traces, stream_analysis_json

    files = expand_paths(args.files)
    if not files:
        from ._inputs import nothing_to_read

        print(f"gctrace analyze: {nothing_to_read(args.files, 0)}", file=sys.stderr)
        return EXIT_INVALID
    summary = getattr(args, "summary", False)
    if args.format == "json" and not summary:
        # the JSON needs only the per-trace figures: each chunk's objects are
        # written as soon as they are made (nothing is kept for the end)
        write = _bytes_writer(sys.stdout)
        write(b"[")
        errors = stream_analysis_json(files, write, progress=sys.stderr.isatty(), workers=auto_workers(len(files)))
        write(b"]\n")
        sys.stdout.flush()
        for path, reason in errors:
            print(f"gctrace analyze: {one_line(f'{path}: {reason}')}", file=sys.stderr)
        return EXIT_INVALID if errors else EXIT_OK
    ts = load_traces(files, progress=sys.stderr.isatty(), workers=auto_workers(len(files)), frames=True)
    for path, reason in ts.errors:
        print(f"gctrace analyze: {one_line(f'{path}: {reason}')}", file=sys.stderr)
    status = EXIT_INVALID if ts.errors else EXIT_OK
    if summary:
        table = ts.nodes(by=getattr(args, "by", None) or "node_id")
        if args.format == "json":
            print(escape_surrogates(json.dumps(table.to_dicts(), ensure_ascii=False, default=str)))
        else:
            print(for_terminal(summary_text(table)))
    elif len(ts):
        print(for_terminal("\n\n".join(ts.trace(i).summary_text() for i in range(len(ts)))))
    return status


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



def summary_text(table: "pl.DataFrame") -> str:
    """The per-node table as aligned plain text (one line per node)."""
    key = table.columns[0]
    rows = [[key] + [h for h, _, _ in _SUMMARY_COLUMNS]]
    for rec in table.iter_rows(named=True):
        rows.append([printable(str(rec[key]))] + [
            "" if rec[c] is None else f.format(rec[c]) for _, c, f in _SUMMARY_COLUMNS
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    )


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
