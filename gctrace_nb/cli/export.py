"""``gctrace export --format chrome|otlp|parquet -o OUT INPUT...``: analysed traces for other tools.

``chrome`` writes Trace Event JSON (Perfetto, chrome://tracing), ``otlp`` writes
OTLP/JSON (Jaeger, Tempo), ``parquet`` writes traces/steps/nodes ``.parquet``
into the directory OUT, or a Hive-partitioned dataset (``traces/`` and
``steps/`` by ``flow_id=``/``day=``, ``nodes.parquet``) when OUT is a URL
(``s3://bucket/prefix/``), with ``--scheduler`` (the cluster's workers write it)
or with ``--hive``. ``--push URL`` sends the OTLP JSON to a collector's
``URL/v1/traces`` instead of (or as well as) writing it. INPUT is trace files,
directories, globs or URLs; unreadable files are named on stderr and give exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from ._inputs import add_input_options, load_set
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export traces as Chrome trace events, OTLP JSON or Parquet",
                       description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="trace files, directories, globs or URLs")
    p.add_argument("--format", choices=("chrome", "otlp", "parquet"), required=True,
                   help="chrome: Trace Event JSON (Perfetto, chrome://tracing); otlp: OTLP/JSON (Jaeger, Tempo); "
                        "parquet: traces/steps/nodes .parquet files in the directory OUT (a Hive-partitioned "
                        "dataset for a URL, with --scheduler or --hive)")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (a directory for parquet); may be a URL")
    p.add_argument("--push", metavar="URL", help="with --format otlp: POST to URL/v1/traces")
    p.add_argument("--hive", action="store_true",
                   help="with --format parquet: a Hive-partitioned dataset (flow_id=/day=) also in a local "
                        "directory (always for a URL such as s3://bucket/prefix/, or with --scheduler)")
    add_input_options(p, scheduler=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.output and not (args.format == "otlp" and args.push):
        print("gctrace export: -o OUT is required (or --push URL with --format otlp)", file=sys.stderr)
        return EXIT_INVALID
    if args.push and args.format != "otlp":
        print("gctrace export: --push needs --format otlp", file=sys.stderr)
        return EXIT_INVALID
    ts, n_files, failed = load_set(args, args.inputs, "export")
    if ts is None:
        return failed
    try:
        return _export(args, ts, n_files)
    finally:
        if hasattr(ts, "close"):  # a set on a Dask cluster: let go of it
            ts.close()


def _export(args: argparse.Namespace, ts, n_files: int) -> int:
    from .. import _storage as storage
    from .._text import one_line
    from ..batch import export
    from ..errors import ApiError, StorageError
    from ._inputs import named, nothing_to_read

    options = ts.storage_options
    status = EXIT_OK
    for path, reason in ts.errors:
        print(f"gctrace export: {one_line(f'{path}: {reason}')}", file=sys.stderr)
        status = EXIT_INVALID
    if not len(ts):
        print(f"gctrace export: {one_line(nothing_to_read(named(args.inputs), n_files))}", file=sys.stderr)
        return EXIT_INVALID
    if args.output:
        try:
            if args.format == "chrome":
                export.write_chrome_trace(ts, args.output, storage_options=options)
            elif args.format == "otlp":
                export.write_otlp(ts, args.output, storage_options=options)
            else:
                export.write_parquet(ts, args.output, hive=True if args.hive else None, storage_options=options)
        except StorageError as exc:
            print(f"gctrace export: cannot write {one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except OSError as exc:
            print(f"gctrace export: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"wrote {args.format} for {len(ts)} trace(s) to {one_line(storage.redact_url(args.output))}",
              file=sys.stderr)
    if args.push:
        try:
            sent = export.push_otlp(ts, args.push)
        except ApiError as exc:
            print(f"gctrace export: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"sent {sent} span(s) to {args.push.rstrip('/')}/v1/traces", file=sys.stderr)
    return status
