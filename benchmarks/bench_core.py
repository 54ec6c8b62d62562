"""Core analysis speed: one 100,000-step trace and 1,000 traces of 250 steps.

Compares ``analyze_steps`` (the full spec: cleaning, anomalies, clipping, self
time, critical path) with a baseline in the same run: bare ``json.loads`` of
the same documents, so the ratio is "analysis cost per unit of parse cost".
Prints figures and ratios; asserts nothing (machines are noisy).

    python benchmarks/bench_core.py [--big 100000] [--traces 1000] [--steps 250]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gctrace_nb import analyze_steps, load_trace  # noqa: E402
from gctrace_nb.simulator.generator import generate_trace  # noqa: E402


def best_of(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--traces", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=250)
    args = ap.parse_args()

    big = generate_trace(1, size=args.big)
    big_text = json.dumps(big)
    t_parse = best_of(lambda: json.loads(big_text))
    t_analyze = best_of(lambda: analyze_steps(json.loads(big_text)))
    t_frames = best_of(lambda: load_trace(text=big_text).steps, repeat=2)
    print(f"one trace of {len(big):,} steps")
    print(f"  json.loads          {t_parse * 1000:9.1f} ms")
    print(f"  parse + analyse     {t_analyze * 1000:9.1f} ms  ({len(big) / t_analyze:,.0f} steps/s, "
          f"{t_analyze / t_parse:.1f}x parse)")
    print(f"  parse+analyse+frame {t_frames * 1000:9.1f} ms")

    docs = [json.dumps(generate_trace(seed, size=args.steps)) for seed in range(args.traces)]
    n_steps = sum(len(json.loads(d)) for d in docs)
    t_parse = best_of(lambda: [json.loads(d) for d in docs])
    t_analyze = best_of(lambda: [analyze_steps(json.loads(d)) for d in docs])
    print(f"{args.traces:,} traces of {args.steps} steps ({n_steps:,} steps)")
    print(f"  json.loads          {t_parse * 1000:9.1f} ms")
    print(f"  parse + analyse     {t_analyze * 1000:9.1f} ms  ({n_steps / t_analyze:,.0f} steps/s, "
          f"{t_analyze / t_parse:.1f}x parse)")


if __name__ == "__main__":
    main()
