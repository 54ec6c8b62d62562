"""``gctrace analyze FILE... [--format json|text]``: the spec's figures for saved traces.

One file prints one JSON object, several print an array in argument order
(``spec/analysis.md`` §5). A file that cannot be read is named on stderr in
one line and the exit status is 2, but every other file is still analysed.
A directory stands for its trace files (``*.json``, ``*.ndjson``, ``*.jsonl``,
sorted); several files, a directory or NDJSON go through the batch analysis
(:mod:`gctrace_nb.batch.traceset`, same figures), and ``--summary`` prints the per-node table.
URLs (``s3://bucket/prefix/``, ``gs://``, ``az://``, ``https://``) are read through
fsspec with ``--storage-options``; ``--scheduler`` runs the batch on a Dask cluster
(same output, byte for byte). ``-`` (the only FILE) reads one document from standard
input. Anything that is not a regular file (a FIFO, ``/dev/zero``) is refused at once,
exit status 2.
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
from ..errors import ClusterUnavailable, StorageError, TraceFormatError
from ._files import STDIN, STDIN_LABEL, load_cli_trace
from ._inputs import add_input_options, named, nothing_to_read, storage_options
from ._process import auto_workers, tuned_for_batch
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse saved trace files", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="trace documents (any shape the spec accepts): files, directories, globs or URLs; "
                        "- reads standard input")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.add_argument("--summary", action="store_true", help="print the per-node table over all traces instead")
    p.add_argument("--by", choices=("node_id", "name"), default=None,
                   help="with --summary: group the per-node table by node id or by step name (default: node_id)")
    add_input_options(p, scheduler=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import _storage as storage

    if getattr(args, "by", None) is not None and not args.summary:
        print("gctrace analyze: --by only applies to the per-node table: add --summary", file=sys.stderr)
        return EXIT_INVALID
    if STDIN in args.files and (len(args.files) > 1 or args.summary):
        print(f"gctrace analyze: {STDIN} (standard input) is read only as the one FILE, without --summary",
              file=sys.stderr)
        return EXIT_INVALID
    urls = [f for f in args.files if storage.is_url(f)]
    # one URL naming one object is read like one file (a prefix or a glob is a batch)
    one_object = len(args.files) == 1 and bool(urls) and not urls[0].endswith("/") and not any(
        c in urls[0] for c in "*?[")
    if args.summary or args.scheduler or (urls and not one_object) or any(
        os.path.isdir(f) or f.lower().endswith((".ndjson", ".jsonl")) for f in args.files
    ) or (args.format == "json" and len(args.files) > 1):
        with tuned_for_batch():
            return run_batch(args)
    options = storage_options(args, "analyze")
    if options is None:
        return EXIT_INVALID
    status = EXIT_OK
    results = []
    texts = []
    for path in args.files:
        try:
            trace = load_cli_trace(path, storage_options=options)
            analysis_json = trace.analysis.to_json(trace.name if urls else (STDIN_LABEL if path == STDIN else path))
        except StorageError as exc:
            if urls and _is_prefix(path, options):  # s3://bucket/prefix, without the "/"
                with tuned_for_batch():
                    return run_batch(args)
            print(f"gctrace analyze: {one_line(exc)}", file=sys.stderr)
            status = EXIT_INVALID
            continue
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


def _is_prefix(url: str, options: dict) -> bool:
    from .. import _storage as storage
    from ..batch.discover import TRACE_SUFFIXES

    try:
        return storage.expand_url(url, TRACE_SUFFIXES, options) != [(url, None)]
    except StorageError:
        return False


def run_batch(args: argparse.Namespace) -> int:
    """``gctrace analyze`` over several files, directories, NDJSON or URLs (and ``--summary``).

    Prints what the one-file path prints for each trace (the same spec §5
    objects, as one JSON array), names each unreadable file on stderr in one
    line and returns 2 if there was one, 0 otherwise. With ``--scheduler`` the
    files are read and analysed on that Dask cluster: the output is the same.
    """
    from ..batch.discover import expand_sources

    options = storage_options(args, "analyze")
    if options is None:
        return EXIT_INVALID
    try:
        found = expand_sources(args.files, options, sizes=bool(args.scheduler))
    except StorageError as exc:
        print(f"gctrace analyze: {one_line(exc)}", file=sys.stderr)
        return EXIT_INVALID
    if not found:
        print(f"gctrace analyze: {one_line(nothing_to_read(named(args.files), 0))}", file=sys.stderr)
        return EXIT_INVALID
    client = None
    if args.scheduler:
        from ..batch import cluster

        try:
            client, _ = cluster.connect(None, args.scheduler)
        except ClusterUnavailable as exc:
            print(f"gctrace analyze: {one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
    try:
        errors = _analyze_batch(args, [f for f, _ in found], [n for _, n in found], options, client)
    finally:
        if client is not None:
            client.close()
    for path, reason in errors:
        print(f"gctrace analyze: {one_line(f'{path}: {reason}')}", file=sys.stderr)
    return EXIT_INVALID if errors else EXIT_OK


def _analyze_batch(args: argparse.Namespace, files: list, sizes: list, options: dict, client: Any) -> list:
    """Print the batch's output (on ``client``'s cluster, or here); return the unreadable files."""
    from ..batch.dispatch import load_traces
    from ..batch.load import stream_analysis_json

    progress = sys.stderr.isatty()
    if client is not None:
        from ..batch import cluster
    if args.format == "json" and not args.summary:
        # the JSON needs only the per-trace figures: each chunk's (or partition's)
        # objects are written as soon as they are made, in file order
        write = _bytes_writer(sys.stdout)
        write(b"[")
        if client is not None:
            errors = cluster.stream_json(client, files, sizes, write, storage_options=options, progress=progress)
        else:
            errors = stream_analysis_json(files, write, progress=progress, workers=auto_workers(len(files)),
                                          storage_options=options)
        write(b"]\n")
        sys.stdout.flush()
        return errors
    if client is not None and not args.summary:
        errors, printed = [], False
        for texts, errs in cluster.stream_texts(client, files, sizes, storage_options=options, progress=progress):
            errors.extend(errs)
            if texts:  # as the one-machine output: a blank line between traces
                print(("\n" if printed else "") + for_terminal("\n\n".join(texts)), flush=True)
                printed = True
        return errors
    if client is not None:
        table, errors, _ = cluster.node_summary(client, files, sizes, by=args.by or "node_id", storage_options=options,
                                                progress=progress)
    else:
        ts = load_traces(files, progress=progress, workers=auto_workers(len(files)), frames=True,
                         storage_options=options)
        errors = ts.errors
        if not args.summary:
            if len(ts):
                print(for_terminal("\n\n".join(ts.trace(i).summary_text() for i in range(len(ts)))))
            return errors
        table = ts.nodes(by=args.by or "node_id")
    if args.format == "json":
        print(escape_surrogates(json.dumps(table.to_dicts(), ensure_ascii=False, default=str)))
    else:
        print(for_terminal(summary_text(table)))
    return errors


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
    if utf8 and raw is not None:
        out.flush()
        return raw.write
    return lambda data: out.write(bytes(data).decode("utf-8"))
