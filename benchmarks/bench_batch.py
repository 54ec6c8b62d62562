"""Batch analysis speed: N saved traces of M steps, against a careful baseline in the same run.

Times, on the same files:
  (a) bare ``json.load`` of every file (the floor);
  (b) a careful pure-Python baseline a notebook user would write: ``json``,
      dicts, children sorted by end, an explicit stack for the critical path;
  (c) ``load_traces(DIR)`` + the spec JSON of every trace, in-process;
  (d) whole processes, interpreter start-up included, writing JSON to a file:
      ``gctrace analyze DIR --format json > out`` (as it runs, and forced to one
      process with ``GCTRACE_WORKERS=1``) against the baseline as a script.
Prints steps/s, ratios and peak memory (``getrusage``). Asserts nothing.

    python benchmarks/bench_batch.py [--traces 2000] [--steps 250] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ baseline
def _ms(text):
    """Epoch ms of an ISO string (``Z`` works with fromisoformat on 3.11+)."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0
    except ValueError:
        return None


def baseline_analyze(path: str) -> dict:
    """A careful notebook-style analysis of one file: dicts, sorted children, a stack."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    steps = doc["steps"] if isinstance(doc, dict) else doc
    nodes = {}
    for s in steps:
        nid = s.get("nodeId")
        if not nid or nid in nodes:
            continue
        start, end = _ms(s.get("startTime")), _ms(s.get("endTime"))
        if start is None or end is None or end < start:
            continue
        nodes[nid] = (start, end, s.get("parentId"), s.get("status"))
    children = defaultdict(list)
    roots = []
    for nid, (start, end, pid, _) in nodes.items():
        if pid in nodes:
            children[pid].append(nid)
        else:
            roots.append(nid)
    for kids in children.values():
        kids.sort(key=lambda k: (-nodes[k][1], nodes[k][0], k))
    critical = defaultdict(float)
    if roots:
        root = min(roots, key=lambda r: nodes[r][0])
        stack = [(root, nodes[root][1])]
        while stack:
            node, cursor = stack.pop()
            ns = nodes[node][0]
            for k in children.get(node, ()):
                ks, ke = nodes[k][0], nodes[k][1]
                if ke > cursor or ke <= ns:
                    continue
                critical[node] += cursor - ke
                stack.append((k, ke))
                cursor = ks
            critical[node] += max(0.0, cursor - ns)
    on_path = sorted((n for n, v in critical.items() if v > 0), key=lambda n: nodes[n][0])
    total = (max(v[1] for v in nodes.values()) - min(v[0] for v in nodes.values())) if nodes else 0.0
    bottleneck = max(on_path, key=lambda n: critical[n]) if on_path else None
    return {
        "file": path,
        "steps": len(steps),
        "valid_steps": len(nodes),
        "total_ms": round(total, 3),
        "critical_path": on_path,
        "critical_ms": {n: round(critical[n], 3) for n in on_path},
        "bottleneck": {"node_id": bottleneck, "critical_ms": round(critical[bottleneck], 3)} if bottleneck else None,
        "failed_nodes": sorted(n for n, v in nodes.items() if str(v[3]).lower() == "failed"),
    }


def baseline_main(directory: str) -> None:
    files = sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".json"))
    sys.stdout.write(json.dumps([baseline_analyze(p) for p in files]))  # one write: stdout may be unbuffered


# ------------------------------------------------------------------ harness
def generate(directory: Path, traces: int, steps: int) -> int:
    from gctrace_nb.simulator.generator import generate_trace

    total = 0
    for i in range(traces):
        doc = {
            "format": "gctrace_nb.trace",
            "schemaVersion": 1,
            "metadata": {"source": "debug", "flow_id": f"flow-{i % 7}"},
            "steps": generate_trace(i, size=steps),
        }
        total += len(doc["steps"])
        (directory / f"trace-{i:06d}.json").write_text(json.dumps(doc), encoding="utf-8")
    return total


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_process(argv: list[str], out_path: Path, env: dict | None = None) -> tuple[float, float, int, int]:
    """Run ``argv`` writing stdout to ``out_path``; return (wall s, CPU s, exit status, peak RSS KiB)."""
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stderr:
            err = proc.stderr.read().decode(errors="replace").strip()
            if err:
                print("   stderr:", err[:300])
    return elapsed, usage.ru_utime + usage.ru_stime, proc.returncode, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--dir", help="reuse (or create) the trace files here")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--repeat", type=int, default=3, help="whole-process runs per side; the best counts (default 3)")
    ap.add_argument("--baseline-process", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_process:
        baseline_main(args.baseline_process)
        return

    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="gctrace-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in directory.glob("*.json"))
    if len(files) != args.traces:
        for p in files:
            os.unlink(p)
        t, n_steps = timed(lambda: generate(directory, args.traces, args.steps))
        print(f"generated {args.traces} traces x {args.steps} steps in {t:.1f} s -> {directory}")
        files = sorted(str(p) for p in directory.glob("*.json"))
    size = sum(os.path.getsize(p) for p in files)

    def bare():
        n = 0
        for p in files:
            with open(p, encoding="utf-8") as fh:
                n += len(json.load(fh)["steps"])
        return n

    # An installed package has its bytecode compiled; a source checkout with
    # PYTHONDONTWRITEBYTECODE=1 (as here) would recompile every module in every
    # process. Compile once, as pip would (the baseline is one small script).
    import compileall

    compileall.compile_dir(str(ROOT / "gctrace_nb"), quiet=1)

    # Whole processes first, while this process is small: a child's peak RSS
    # counts its parent's size at fork on Linux.
    out_dir = Path(tempfile.mkdtemp(prefix="gctrace-bench-out-"))
    gctrace = [sys.executable, "-m", "gctrace_nb", "analyze", str(directory), "--format", "json"]
    base = [sys.executable, str(Path(__file__).resolve()), "--baseline-process", str(directory)]
    # best of 3 for each side, alternating (the machine is shared: take the least disturbed run)
    # gctrace as it runs (a second process when a core looks idle), and forced to one process
    one = dict(os.environ, GCTRACE_WORKERS="1")
    runs_g, runs_1, runs_b = [], [], []
    for _ in range(args.repeat):
        runs_g.append(run_process(gctrace, out_dir / "gctrace.json"))
        runs_1.append(run_process(gctrace, out_dir / "gctrace1.json", one))
        runs_b.append(run_process(base, out_dir / "baseline.json"))
    t_g, cpu_g, rc_g, rss_g = min(runs_g)
    t_1, cpu_1, rc_1, rss_1 = min(runs_1)
    t_b, cpu_b, rc_b, rss_b = min(runs_b)
    same_output = (out_dir / "gctrace.json").read_bytes() == (out_dir / "gctrace1.json").read_bytes()
    t_s, cpu_s, _, _ = run_process([sys.executable, "-c", "import gctrace_nb.batch"], out_dir / "startup.txt")

    t_bare, n_steps = timed(bare)
    print(f"{len(files)} files, {n_steps} steps, {size / 1e6:.1f} MB; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    print(f"(a) bare json.load            {t_bare:7.3f} s  {n_steps / t_bare:12,.0f} steps/s")
    t_base, _ = timed(lambda: [baseline_analyze(p) for p in files])
    print(f"(b) pure-Python baseline      {t_base:7.3f} s  {n_steps / t_base:12,.0f} steps/s")

    from gctrace_nb.batch import load_traces

    t_load, ts = timed(lambda: load_traces(str(directory), progress=False))
    t_json, _ = timed(ts.to_json)
    t_batch = t_load + t_json
    print(f"(c) load_traces + to_json     {t_batch:7.3f} s  {n_steps / t_batch:12,.0f} steps/s"
          f"  (load {t_load:.3f} s, json {t_json:.3f} s; {len(ts.python_path)} traces by the Python path)")
    print(f"    in-process: {t_base / t_batch:.2f}x faster than the baseline; "
          f"{t_batch / t_bare:.2f}x the bare json.load time (target <= 3x)")
    del ts
    t_fig, ts = timed(lambda: load_traces(str(directory), progress=False, frames=False))
    t_fig_json, _ = timed(ts.to_json)
    t_f = t_fig + t_fig_json
    print(f"(c') figures only (frames=False; gctrace analyze streams the same figures): {t_f:.3f} s, {n_steps / t_f:,.0f} steps/s, "
          f"{t_base / t_f:.2f}x faster than the baseline, {t_f / t_bare:.2f}x bare json.load")
    del ts
    from gctrace_nb.cli._process import auto_workers

    workers = max(2, auto_workers(len(files)))
    t_par, ts = timed(lambda: load_traces(str(directory), progress=False, frames=False, workers=workers))
    t_par_json, _ = timed(ts.to_json)
    t_p = t_par + t_par_json
    print(f"(c'') figures only, {workers} processes: {t_p:.3f} s, {n_steps / t_p:,.0f} steps/s, "
          f"{t_base / t_p:.2f}x faster than the baseline, {t_p / t_bare:.2f}x bare json.load")
    del ts
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"    peak RSS of this process: {peak / 1024:.0f} MiB")
    print(f"(d) whole process, best of {args.repeat}, gctrace analyze DIR --format json > out: {t_g:7.3f} s wall, {cpu_g:6.3f} s CPU, "
          f"{n_steps / t_g:10,.0f} steps/s, exit {rc_g}, peak RSS {rss_g / 1024:.0f} MiB")
    print(f"    the same, one process (GCTRACE_WORKERS=1):             {t_1:7.3f} s wall, {cpu_1:6.3f} s CPU, "
          f"{n_steps / t_1:10,.0f} steps/s, exit {rc_1}, peak RSS {rss_1 / 1024:.0f} MiB"
          f"{'' if same_output else '  OUTPUT DIFFERS FROM THE TWO-PROCESS RUN'}")
    print(f"    whole process, baseline script > out:                 {t_b:7.3f} s wall, {cpu_b:6.3f} s CPU, "
          f"{n_steps / t_b:10,.0f} steps/s, exit {rc_b}, peak RSS {rss_b / 1024:.0f} MiB")
    print(f"    whole process: {t_b / t_g:.2f}x faster than the baseline by wall time, {cpu_b / cpu_g:.2f}x by CPU "
          f"time (target >= 2x); one process: {t_b / t_1:.2f}x by wall time; "
          f"start-up (python -c 'import gctrace_nb.batch') {t_s:.3f} s wall")
    shutil.rmtree(out_dir)
    if not args.keep and not args.dir:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
