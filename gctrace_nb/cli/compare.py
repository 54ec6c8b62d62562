"""``gctrace compare A B [--by node_id|name] [--format text|json]``: what changed per node.

A and B are each a trace file, a directory of traces or a glob (several
traces make a set). Prints the biggest p95 regressions and the nodes that are
new, vanished or newly failing; ``--chart OUT.html`` also writes the plotly chart.
Unreadable files are named on stderr and give exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from ._inputs import add_input_options, load_set
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two traces or two sets of traces", description=__doc__.splitlines()[0])
    p.add_argument("a", metavar="A", help="the baseline: a trace file, a directory, a glob or a URL")
    p.add_argument("b", metavar="B", help="the new side: a trace file, a directory, a glob or a URL")
    p.add_argument("--by", choices=("node_id", "name"), default="node_id", help="compare per node id or per step name")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--top", type=int, default=10, help="regressions to list (default: 10)")
    p.add_argument("--chart", metavar="OUT.html", help="also write the regressions chart as HTML")
    add_input_options(p, scheduler=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._text import escape_surrogates, for_terminal, one_line
    from ..batch.comparison import compare, compare_chart
    from ._inputs import named, nothing_to_read

    status = EXIT_OK
    sides = []
    for arg in (args.a, args.b):
        ts, n_files, failed = load_set(args, arg, "compare", progress=False)
        if ts is None:
            return failed
        for path, reason in ts.errors:
            print(f"gctrace compare: {one_line(f'{path}: {reason}')}", file=sys.stderr)
            status = EXIT_INVALID
        if not len(ts):
            print(f"gctrace compare: {one_line(nothing_to_read(named(arg), n_files))}", file=sys.stderr)
            return EXIT_INVALID
        sides.append(ts)
    result = compare(sides[0], sides[1], by=args.by)
    if result.hint and args.format == "json":  # the text output says it in its second line
        print(f"gctrace compare: {result.hint}", file=sys.stderr)
    if args.format == "json":
        print(escape_surrogates(json.dumps(result.to_json(), ensure_ascii=False, default=str)))
    else:
        print(for_terminal(result.summary_text(args.top)))
    if args.chart:
        try:
            compare_chart(result, top=max(args.top, 1)).write_html(args.chart, include_plotlyjs=True)
        except OSError as exc:
            print(f"gctrace compare: cannot write {args.chart}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    return status
