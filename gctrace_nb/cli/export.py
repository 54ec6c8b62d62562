"""``gctrace export --format chrome|otlp|parquet -o OUT INPUT...``: analysed traces for other tools.

``chrome`` writes Trace Event JSON (Perfetto, chrome://tracing), ``otlp`` writes
OTLP/JSON (Jaeger, Tempo), ``parquet`` writes traces/steps/nodes ``.parquet``
into the directory OUT. ``--push URL`` sends the OTLP JSON to a collector's
``URL/v1/traces`` instead of (or as well as) writing it. INPUT is trace files,
directories or globs; unreadable files are named on stderr and give exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export traces as Chrome trace events, OTLP JSON or Parquet",
                       description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="trace files, directories or globs")
    p.add_argument("--format", choices=("chrome", "otlp", "parquet"), required=True,
                   help="chrome: Trace Event JSON (Perfetto, chrome://tracing); otlp: OTLP/JSON (Jaeger, Tempo); "
                        "parquet: traces/steps/nodes .parquet files in the directory OUT")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (a directory for parquet)")
    p.add_argument("--push", metavar="URL", help="with --format otlp: POST to URL/v1/traces")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._text import one_line
    from ..batch import export
    from ..batch.load import load_traces
    from ..errors import ApiError

    if not args.output and not (args.format == "otlp" and args.push):
        print("gctrace export: -o OUT is required (or --push URL with --format otlp)", file=sys.stderr)
        return EXIT_INVALID
    if args.push and args.format != "otlp":
        print("gctrace export: --push needs --format otlp", file=sys.stderr)
        return EXIT_INVALID
    from ..batch.discover import expand_paths
    from ._inputs import nothing_to_read

    files = expand_paths(args.inputs)
    ts = load_traces(files, progress=sys.stderr.isatty())
    status = EXIT_OK
    for path, reason in ts.errors:
        print(f"gctrace export: {one_line(f'{path}: {reason}')}", file=sys.stderr)
        status = EXIT_INVALID
    if not len(ts):
        print(f"gctrace export: {nothing_to_read(args.inputs, len(files))}", file=sys.stderr)
        return EXIT_INVALID
    if args.output:
        try:
            if args.format == "chrome":
                export.write_chrome_trace(ts, args.output)
            elif args.format == "otlp":
                export.write_otlp(ts, args.output)
            else:
                export.write_parquet(ts, args.output)
        except OSError as exc:
            print(f"gctrace export: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"wrote {args.format} for {len(ts)} trace(s) to {args.output}", file=sys.stderr)
    if args.push:
        try:
            sent = export.push_otlp(ts, args.push)
        except ApiError as exc:
            print(f"gctrace export: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"sent {sent} span(s) to {args.push.rstrip('/')}/v1/traces", file=sys.stderr)
    return status
