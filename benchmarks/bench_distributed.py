"""Scale-out speed: the same files analysed on a Dask cluster of 1 and of 2 workers.

Times, on the same N saved traces (three flows over two days, M steps each):
  (a) the one-machine path in this process (``stream_analysis_json``): the baseline;
  (b) ``gctrace analyze --format json`` work on a ``LocalCluster`` of 1 worker process
      (one thread), then of 2 (:func:`gctrace_nb.batch.cluster.stream_json`);
  (c) the per-node summary (the shuffle by node) on 1 and on 2 workers
      (:func:`gctrace_nb.batch.cluster.node_summary`).
Each cluster run is preceded by a small warm-up (imports on the workers). With
``--s3`` the files are also uploaded to a moto S3 server on loopback and read
from there. Prints seconds, traces/s, the 2-vs-1 scaling ratio, worker-seconds
per million traces, and checks that every run printed the same bytes.

    python benchmarks/bench_distributed.py [--traces 4000] [--steps 60] [--s3] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_corpus(directory: Path, n: int, steps: int) -> None:
    from gctrace_nb.simulator.generator import generate_trace

    day = 86_400_000
    start = 1_768_467_600_000
    for i in range(n):
        flow = f"flow-{i % 3}"
        doc = {"steps": generate_trace(i, size=steps, flow_id=flow, start=start + (i % 2) * day + i * 1000),
               "metadata": {"flow_id": flow}}
        (directory / f"t{i:06d}.json").write_text(json.dumps(doc), encoding="utf-8")


def start_moto() -> tuple[subprocess.Popen, dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, {"endpoint_url": url, "key": "bench", "secret": "bench-secret"}


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run_cluster(n_workers: int, files: list, sizes: list, options: dict | None, repeat: int) -> dict:
    from distributed import Client, LocalCluster

    from gctrace_nb.batch import cluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, scheduler_kwargs={"dashboard": False}) as lc, Client(lc) as client:
        warm: list = []
        cluster.stream_json(client, files[:16], sizes[:16], warm.append, storage_options=options)

        def as_json() -> bytes:
            out: list = []
            cluster.stream_json(client, files, sizes, out.append, storage_options=options)
            return b"".join(out)

        json_s, data = timed(as_json, repeat)
        summary_s, (table, _, _) = timed(lambda: cluster.node_summary(client, files, sizes, storage_options=options),
                                         repeat)
        return {"json_s": json_s, "summary_s": summary_s, "bytes": data,
                "summary": json.dumps(table.to_dicts())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--s3", action="store_true", help="also read the files from a moto S3 server")
    args = parser.parse_args()

    from gctrace_nb.batch.discover import expand_sources
    from gctrace_nb.batch.dispatch import load_traces
    from gctrace_nb.batch.load import stream_analysis_json

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        t = time.perf_counter()
        make_corpus(directory, args.traces, args.steps)
        size = sum(p.stat().st_size for p in directory.iterdir())
        print(f"corpus: {args.traces} traces x {args.steps} steps, {size / 1e6:.1f} MB "
              f"(made in {time.perf_counter() - t:.1f} s); {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        sources = {"local files": (str(directory), None)}
        moto = None
        if args.s3:
            import s3fs

            moto, options = start_moto()
            fs = s3fs.S3FileSystem(**options)
            fs.mkdir("bench")
            t = time.perf_counter()
            fs.put(str(directory) + "/", "bench/traces/", recursive=True)
            print(f"uploaded to moto S3 in {time.perf_counter() - t:.1f} s")
            sources["moto S3"] = ("s3://bench/traces/", options)
        try:
            for label, (where, options) in sources.items():
                found = expand_sources(where, options, sizes=True)
                files, sizes = [f for f, _ in found], [n for _, n in found]
                local: list = []
                local_s, _ = timed(lambda: (local.clear(), stream_analysis_json(files, local.append,
                                                                                 storage_options=options)), args.repeat)
                local_bytes = b"".join(local)
                local_summary_s, ts = timed(lambda: load_traces(files, progress=False, storage_options=options),
                                            args.repeat)
                local_summary = json.dumps(ts.nodes().to_dicts())
                runs = {n: run_cluster(n, files, sizes, options, args.repeat) for n in (1, 2)}
                n = args.traces
                print(f"\n== {label} ({n} traces, best of {args.repeat}) ==")
                print(f"  this process, JSON          {local_s:7.2f} s  {n / local_s:8.0f} traces/s")
                print(f"  this process, --summary     {local_summary_s:7.2f} s  {n / local_summary_s:8.0f} traces/s")
                for k, r in runs.items():
                    print(f"  {k} worker(s), JSON           {r['json_s']:7.2f} s  {n / r['json_s']:8.0f} traces/s"
                          f"   {k * r['json_s'] / n * 1e6 / 3600:6.2f} worker-hours per million traces")
                    print(f"  {k} worker(s), --summary      {r['summary_s']:7.2f} s  {n / r['summary_s']:8.0f} traces/s")
                print(f"  scaling 2 vs 1 worker: JSON x{runs[1]['json_s'] / runs[2]['json_s']:.2f}, "
                      f"summary x{runs[1]['summary_s'] / runs[2]['summary_s']:.2f} (ideal x2.00)")
                print(f"  1 worker vs this process: JSON x{local_s / runs[1]['json_s']:.2f}")
                same = all(r["bytes"] == local_bytes and r["summary"] == local_summary for r in runs.values())
                print(f"  same JSON bytes and summary as this process: {same}")
        finally:
            if moto is not None:
                moto.terminate()


if __name__ == "__main__":
    main()
