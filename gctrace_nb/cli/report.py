"""``gctrace report FILE... -o report.html``: one self-contained HTML page for saved traces.

One section per file, in argument order (several files also get an overview
table). plotly.js is inlined so the page opens offline; ``--cdn`` makes a
small file that loads it from the network instead. A file that cannot be read
is named on stderr in one line and the exit status is 2, but the page is still
written for the others. Without the graphviz ``dot`` binary the page is
written with a note in place of each DAG (and a warning on stderr).

``run(args)`` only dispatches: plain files go to :func:`report_files`; a
directory or NDJSON (``.ndjson``/``.jsonl``, one trace per line, as
``gctrace analyze`` reads it) argument makes a batch report over every trace given
(:func:`gctrace_nb.cli.report.report_directories`): top bottlenecks,
failure hotspots, duration distributions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..errors import TraceFormatError
from .._text import one_line
from ._inputs import add_input_options, storage_options
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK
from ..render._tree import MAX_DAG_NODES

__all__ = ["register", "run", "report_files"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML report of saved traces", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="trace documents (any shape the spec accepts); - reads standard input")
    p.add_argument("-o", "--output", default="report.html", metavar="PATH",
                   help="the HTML file to write (default: report.html)")
    p.add_argument("--cdn", action="store_true",
                   help="load plotly.js from its CDN (a small file that needs the network to draw timelines)")
    p.add_argument("--title", help="page title (default: the trace name, or the number of traces)")
    p.add_argument("--full-dag", action="store_true", help="draw every step in each DAG (no folding)")
    p.add_argument("--max-nodes", type=int, default=MAX_DAG_NODES, metavar="N",
                   help=f"fold each DAG above N steps (default: {MAX_DAG_NODES})")
    add_input_options(p, scheduler=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch on what was given: files get a page per trace, directories a batch page."""
    if args.max_nodes < 1:
        _say(f"--max-nodes must be at least 1, got {args.max_nodes}")
        return EXIT_INVALID
    from .._storage import is_url

    if any(Path(f).is_dir() or f.lower().endswith((".ndjson", ".jsonl")) or (
        is_url(f) and (f.endswith("/") or any(c in f for c in "*?["))  # a prefix or a glob
    ) for f in args.files):
        return report_directories(args)
    return report_files(args.files, args)


def report_files(files: list[str], args: argparse.Namespace) -> int:
    """Load each file, write one page with a section per trace, print the page's path."""
    from ..errors import StorageError
    from ..report.trace import export_report
    from ._files import load_cli_trace

    options = storage_options(args, "report")
    if options is None:
        return EXIT_INVALID
    status = EXIT_OK
    traces = []
    for path in files:
        try:
            traces.append(load_cli_trace(path, storage_options=options))
        except (TraceFormatError, StorageError) as exc:
            _say(one_line(exc))
            status = EXIT_INVALID
    if not traces:
        from ._inputs import named, nothing_to_read

        _say(one_line(nothing_to_read(named(files), len(files))))
        return status or EXIT_INVALID
    if not _dot_available():
        from ..render.graph import INSTALL_HINT

        _say(f"DAGs left out: {one_line(INSTALL_HINT)}")
    try:
        out = export_report(
            traces,
            args.output,
            plotlyjs="cdn" if args.cdn else "inline",
            title=args.title,
            full_dag=args.full_dag,
            max_nodes=args.max_nodes,
        )
    except OSError as exc:
        _say(f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_ERROR
    print(out)
    return status


def _dot_available() -> bool:
    """Return whether graphviz's ``dot`` can be run (the path graphviz itself will use)."""
    from graphviz.backend import dot_command

    binary = dot_command.DOT_BINARY
    return shutil.which(str(binary)) is not None


def _say(message: str) -> None:
    print(f"gctrace report: {message}", file=sys.stderr)



def report_directories(args: argparse.Namespace) -> int:
    """``gctrace report DIR... -o batch.html``: the batch page over every trace given."""
    from ..batch.discover import expand_paths
    from ..batch.dispatch import load_traces
    from ..errors import StorageError
    from ..report.batch import write_batch_report
    from ._process import auto_workers

    options = storage_options(args, "report")
    if options is None:
        return EXIT_INVALID
    try:
        files = expand_paths(args.files, options)
    except StorageError as exc:
        _say(one_line(exc))
        return EXIT_INVALID
    ts = load_traces(files, progress=sys.stderr.isatty(), workers=auto_workers(len(files)), storage_options=options)
    status = EXIT_OK
    for path, reason in ts.errors:
        print(f"gctrace report: {one_line(f'{path}: {reason}')}", file=sys.stderr)
        status = EXIT_INVALID
    if not len(ts):
        from ._inputs import named, nothing_to_read

        print(f"gctrace report: {one_line(nothing_to_read(named(args.files), len(files)))}", file=sys.stderr)
        return EXIT_INVALID
    try:
        out = write_batch_report(ts, args.output, title=args.title, plotlyjs="cdn" if args.cdn else "inline")
    except OSError as exc:
        print(f"gctrace report: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(out)
    return status
