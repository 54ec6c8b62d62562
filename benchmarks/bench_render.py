"""Benchmark (not a test): build times of the DAG and the gantt on large synthetic traces.

Prints, in one run, each renderer against a naive baseline (best of --repeat runs each):
- DAG at 2,000 steps: ``dag_svg`` (folded to ~300 boxes) vs the full graph (``full=True``), build + ``dot -Tsvg``;
- gantt at 10,000 steps: ``gantt`` (one bar trace) vs one plotly bar trace per row.

Run: ``.venv/bin/python benchmarks/bench_render.py [--dag-steps 2000] [--gantt-steps 10000] [--seed 7]``.
Traces come from ``gctrace_nb.simulator.generate_trace`` when it exists, else from the small
seeded generator below (a tree of parallel branches, some failures, a few anomalies).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from gctrace_nb import Trace, load_trace  # noqa: E402


def synthetic_steps(seed: int, size: int) -> list[dict]:
    """Return ``size`` steps: a random tree, children inside their parent, ~3% failed, a few orphans."""
    rng = random.Random(seed)
    t0 = 1_700_000_000_000  # epoch ms
    steps: list[dict] = [{"nodeId": "root", "startTime": t0, "endTime": t0 + 60_000, "status": "ok", "name": "flow"}]
    spans = [(t0, t0 + 60_000)]
    for k in range(1, size):
        p = rng.randrange(max(0, k - 50), k) if rng.random() < 0.7 else rng.randrange(k)
        ps, pe = spans[p]
        length = max(1, pe - ps)
        s = ps + rng.randrange(length)
        e = min(pe, s + max(1, int(rng.expovariate(1.0) * length / 4)))
        spans.append((s, e))
        step = {"nodeId": f"step-{k}", "parentId": steps[p]["nodeId"], "startTime": s, "endTime": e,
                "status": "failed" if rng.random() < 0.03 else "ok"}
        if step["status"] == "failed":
            step["errorMessage"] = f"timeout calling <endpoint {k}> & retry"
        if rng.random() < 0.005:
            step["parentId"] = f"missing-{k}"
        steps.append(step)
    return steps


def make_trace(seed: int, size: int, *, own: bool = False) -> tuple[Trace, str]:
    """Return a trace of ``size`` steps and where it came from (the simulator's generator if present)."""
    if not own:
        try:
            from gctrace_nb.simulator import generate_trace  # type: ignore[attr-defined]
        except ImportError:
            pass
        else:
            made = generate_trace(seed, size=size)
            trace = made if isinstance(made, Trace) else load_trace(made, name=f"simulated-{size}")
            return trace, "simulator.generate_trace"
    return load_trace(synthetic_steps(seed, size), name=f"synthetic-{size}"), "own generator"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def naive_gantt(trace: Trace) -> object:
    """The baseline: one plotly bar trace per step, as a px.timeline-style loop would build."""
    import plotly.graph_objects as go

    a = trace.analysis
    origin = min(s for s, ok in zip(a.start_us, a.valid) if ok)
    fig = go.Figure()
    for i, node_id in enumerate(a.node_ids):
        if not a.valid[i]:
            continue
        fig.add_trace(go.Bar(y=[node_id], x=[(a.end_us[i] - a.start_us[i]) / 1000], base=[(a.start_us[i] - origin) / 1000],
                             orientation="h", name=node_id, showlegend=False))
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-steps", type=int, default=2000)
    parser.add_argument("--gantt-steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from gctrace_nb.render import dag, dag_svg, gantt

    for own in (False, True):
        trace, origin = make_trace(args.seed, args.dag_steps, own=own)
        trace.steps, trace.segments  # analysis and frames are cached on the trace: time the renderers only
        a = trace.analysis
        build = best_of(lambda: dag(trace), args.repeat)
        folded = best_of(lambda: dag_svg(trace), args.repeat)
        boxes = dag(trace).source.count("[label=")
        full = best_of(lambda: dag_svg(trace, full=True), args.repeat)
        print(f"DAG   {args.dag_steps:>6} steps ({origin}: {len(a.critical_path)} critical, {len(a.failed_nodes)} failed): "
              f"build {build * 1000:.1f} ms; build+SVG folded to {boxes} boxes {folded * 1000:.1f} ms; "
              f"full graph (baseline) {full * 1000:.1f} ms; ratio {full / folded:.1f}x")
        if origin == "own generator":  # no simulator: one row is enough
            break

    big, origin = make_trace(args.seed, args.gantt_steps)
    big.steps, big.segments
    fast = best_of(lambda: gantt(big), args.repeat)
    naive = best_of(lambda: naive_gantt(big), args.repeat)
    print(f"gantt {args.gantt_steps:>6} steps ({origin}): one bar trace {fast * 1000:.1f} ms; "
          f"one trace per row (baseline) {naive * 1000:.1f} ms; ratio {naive / fast:.1f}x")


if __name__ == "__main__":
    main()
