"""The Dask engine and object storage, against a real S3 endpoint and a two-process cluster.

One moto S3 server and one ``LocalCluster(n_workers=2, processes=True)`` serve
every test (session fixtures in ``conftest.py``). The corpus is random and
dirty (cycles, duplicates, junk entries, odd timestamps, NDJSON, an unreadable
and an empty file); each test compares the cluster's output with the one-machine
analysis of the same files, byte for byte where the CLI prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from scale_out_helpers import executed_counts, ran_on_both, upload, write_corpus

from gctrace_nb.batch import cluster, nodestats
from gctrace_nb.batch.dispatch import load_traces
from gctrace_nb.cli.app import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    names = write_corpus(directory, n=48, seed=11)
    return directory, names


@pytest.fixture
def s3_corpus(corpus, s3_bucket):
    directory, names = corpus
    bucket, fs = s3_bucket
    upload(directory, fs, f"{bucket}/traces")
    return f"s3://{bucket}/traces/", names


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m gctrace_nb ARGS`` in a fresh process (the way a user runs it)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DASK_"))}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "gctrace_nb", *args], capture_output=True, env=full_env,
                          cwd=ROOT, timeout=240)


def _relabel(objects: list, old: str, new: str) -> list:
    for obj in objects:
        assert obj["file"].startswith(old), obj["file"]
        obj["file"] = new + obj["file"][len(old):]
    return objects


def test_cli_on_a_cluster_reading_s3_agrees_with_one_machine(s3_endpoint, s3_corpus, corpus, dask_client, capsys):
    """The issue's definition of done: the cluster runs are ``gctrace`` in fresh processes,
    the one-machine runs the same command in this one."""
    url, _ = s3_corpus
    directory, _ = corpus
    address = dask_client.scheduler.address
    options = json.dumps(s3_endpoint)
    before = executed_counts(dask_client)
    on_cluster = _cli("analyze", url, "--format", "json", "--scheduler", address, "--storage-options", options)
    after = executed_counts(dask_client)
    assert on_cluster.returncode == 2, on_cluster.stderr  # the unreadable and the empty file
    assert ran_on_both(before, after), (before, after)
    stderr = on_cluster.stderr.decode()
    assert "u-bad.json: not JSON" in stderr and "v-empty.json: empty file" in stderr
    assert s3_endpoint["secret"] not in on_cluster.stdout.decode() + stderr

    assert main(["analyze", url, "--format", "json", "--storage-options", options]) == 2
    one_machine = capsys.readouterr()
    assert on_cluster.stdout.decode() == one_machine.out  # the same bytes
    assert stderr == one_machine.err

    assert main(["analyze", str(directory), "--format", "json"]) == 2
    local = json.loads(capsys.readouterr().out)
    traces = json.loads(on_cluster.stdout)
    assert len(traces) > 48  # NDJSON files hold several traces
    assert _relabel(traces, url, str(directory) + os.sep) == local  # every trace agrees with the local copy's

    summary_cluster = _cli("analyze", url, "--summary", "--format", "json", "--scheduler", address,
                           "--storage-options", options)
    assert main(["analyze", str(directory), "--summary", "--format", "json"]) == 2
    summary_local = capsys.readouterr().out
    assert summary_cluster.stdout.decode() == summary_local  # the same digits
    assert len(json.loads(summary_local)) > 20


def test_cluster_set_from_local_files_equals_the_one_machine_set(corpus, dask_client):
    directory, _ = corpus
    here = load_traces(directory, progress=False)
    before = executed_counts(dask_client)
    there = load_traces(directory, progress=False, client=dask_client)
    assert ran_on_both(before, executed_counts(dask_client))
    assert isinstance(there, cluster.ClusterTraceSet) and "Dask cluster" in repr(there)
    assert len(there._parts) >= 2
    assert there.labels == here.labels and there.errors == here.errors
    assert there.python_path == here.python_path and here.python_path  # cycles and junk took the slow path
    assert there.to_json() == here.to_json()
    assert there.traces.equals(here.traces)
    for by in ("node_id", "name"):
        assert there.nodes(by).equals(here.nodes(by)), by
    assert there.steps.equals(here.steps)
    assert there.trace(3).analysis.to_json("x") == here.trace(3).analysis.to_json("x")
    import pickle

    copy = pickle.loads(pickle.dumps(there))
    assert copy.to_json() == here.to_json() and copy.nodes().equals(here.nodes())  # the rows came along
    fresh = load_traces(directory, progress=False, client=dask_client)
    fresh.close()
    with pytest.raises(ValueError, match="are gone"):
        fresh.nodes()
    there.close()


def test_cluster_set_from_s3_and_figures_only(s3_endpoint, s3_corpus, corpus, dask_client):
    url, _ = s3_corpus
    directory, _ = corpus
    there = load_traces(url, progress=False, client=dask_client, storage_options=s3_endpoint)
    here = load_traces(url, progress=False, storage_options=s3_endpoint)
    local = load_traces(directory, progress=False)
    assert there.to_json() == here.to_json()
    assert there.nodes().equals(local.nodes()) and there.nodes("name").equals(local.nodes("name"))
    assert [e[0] for e in there.errors] == [url + "u-bad.json", url + "v-empty.json"]
    ndjson = next(i for i, label in enumerate(there.labels) if label.endswith(".ndjson:2"))
    assert there.trace(ndjson).analysis.to_json("x") == local.trace(ndjson).analysis.to_json("x")
    # this machine's worker processes read URLs too (the options travel to them)
    assert load_traces(url, progress=False, workers=2, storage_options=s3_endpoint).to_json() == here.to_json()
    light = load_traces(url, progress=False, client=dask_client, storage_options=s3_endpoint, frames=False)
    assert type(light).__name__ == "TraceSet" and light.to_json() == here.to_json()
    with pytest.raises(ValueError, match="frames=False"):
        light.nodes()


def test_scheduler_address_from_the_environment(corpus, dask_client, capsys, monkeypatch):
    directory, _ = corpus
    assert main(["analyze", str(directory), "--format", "json"]) == 2
    local = capsys.readouterr().out
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_client.scheduler.address)
    before = executed_counts(dask_client)
    assert main(["analyze", str(directory), "--format", "json"]) == 2
    assert capsys.readouterr().out == local
    assert ran_on_both(before, executed_counts(dask_client))


def test_text_output_on_a_cluster_is_the_one_machine_text(corpus, dask_client, capsys):
    directory, _ = corpus
    assert main(["analyze", str(directory)]) == 2
    local = capsys.readouterr()
    assert main(["analyze", str(directory), "--scheduler", dask_client.scheduler.address]) == 2
    remote = capsys.readouterr()
    assert remote.out == local.out and sorted(remote.err.splitlines()) == sorted(local.err.splitlines())
    assert main(["analyze", str(directory), "--summary", "--by", "name",
                 "--scheduler", dask_client.scheduler.address]) == 2
    summary = capsys.readouterr().out
    assert main(["analyze", str(directory), "--summary", "--by", "name"]) == 2
    assert capsys.readouterr().out == summary and "e2e share" in summary


def test_hive_parquet_dataset_written_to_s3_by_the_workers(s3_endpoint, s3_corpus, corpus, dask_client, capsys):
    url, _ = s3_corpus
    out = url.replace("/traces/", "/dataset/")
    before = executed_counts(dask_client)
    status = main(["export", url, "--format", "parquet", "-o", out, "--scheduler", dask_client.scheduler.address,
                   "--storage-options", json.dumps(s3_endpoint)])
    assert status == 2, capsys.readouterr().err  # the two unreadable files are named, the rest exported
    assert ran_on_both(before, executed_counts(dask_client))
    import s3fs

    fs = s3fs.S3FileSystem(**s3_endpoint)
    fs.invalidate_cache()
    files = sorted(fs.find(out))
    steps_files = [f for f in files if "/steps/" in f]
    assert any("/flow_id=flow%2Fdirty/" in f for f in steps_files)  # Hive escaping of "/"
    assert any("/flow_id=__HIVE_DEFAULT_PARTITION__/day=" in f for f in steps_files)
    assert {f.rsplit("/", 1)[1] for f in steps_files} >= {"part-00000.parquet", "part-00001.parquet"}
    local = load_traces(corpus[0], progress=False)
    # read the dataset back with polars, the partition columns from the paths
    frames = []
    for f in steps_files:
        flow, day = (part.split("=", 1)[1] for part in f.split("/")[-3:-1])
        with fs.open(f, "rb") as fh:
            frame = pl.read_parquet(fh)
        assert "flow_id" not in frame.columns  # partition columns live in the path
        frames.append(frame.with_columns(pl.lit(flow).alias("flow_id"), pl.lit(day).alias("day")))
    steps = pl.concat(frames).sort("trace_id", "position")
    assert steps.drop("flow_id", "day").select(local.steps.columns).equals(
        local.steps.with_columns(pl.col("file").str.replace(str(corpus[0]) + os.sep, url, literal=True)))
    day_of = dict(zip(local.traces["trace_id"], local.traces["start"].dt.date().cast(pl.String)))
    for row in steps.select("trace_id", "day").unique().iter_rows():
        assert row[1] == (day_of[row[0]] or "__HIVE_DEFAULT_PARTITION__")
    with fs.open(out + "nodes.parquet", "rb") as fh:
        assert pl.read_parquet(fh).equals(local.nodes())


def test_local_hive_dataset_scans_with_polars(corpus, tmp_path):
    from gctrace_nb.batch.export import write_parquet

    ts = load_traces(corpus[0], progress=False)
    where = write_parquet(ts, tmp_path / "ds", hive=True)
    assert Path(where["nodes.parquet"]).is_file()
    steps = pl.scan_parquet(tmp_path / "ds" / "steps", hive_partitioning=True).collect()
    assert steps.height == ts.steps.height
    joined = steps.sort("trace_id", "position").select("trace_id", "flow_id")
    expected = ts.steps.join(ts.traces.select("trace_id", "flow_id"), on="trace_id").sort("trace_id", "position")
    assert joined["flow_id"].to_list() == expected["flow_id"].to_list()  # "flow/dirty" decoded back
    traces = pl.scan_parquet(tmp_path / "ds" / "traces", hive_partitioning=True).collect().sort("trace_id")
    assert traces["total_ms"].to_list() == ts.traces["total_ms"].to_list()


def test_node_table_is_exact_under_any_split(corpus):
    """The merge itself: every split of the traces and every bucket count gives the same table."""
    import random

    ts = load_traces(corpus[0], progress=False)
    total = sum(f.total_us for f in ts._figures)
    rng = random.Random(3)
    for by in ("node_id", "name"):
        expected = json.dumps(ts.nodes(by).to_dicts())
        for _ in range(4):
            k = rng.randint(2, 6)
            owner = [rng.randrange(k) for _ in range(len(ts))]
            parts = [ts._rows.filter(pl.col("trace_id").is_in([t for t in range(len(ts)) if owner[t] == p]))
                     for p in range(k)]
            buckets = rng.randint(1, 5)
            split = [nodestats.split_by_bucket(nodestats.node_inputs(p, by), buckets) for p in parts]
            reduced = [nodestats.reduce_bucket([s[b][0] for s in split], [s[b][1] for s in split])
                       for b in range(buckets)]
            assert json.dumps(nodestats.finish(reduced, total, by).to_dicts()) == expected


def test_plan_partitions_keeps_order_and_balances_bytes():
    sizes = [100] * 50 + [10_000] * 5 + [None] * 5
    ranges = cluster.plan_partitions(sizes, 2)
    assert ranges[0][0] == 0 and ranges[-1][1] == 60
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, in file order
    assert 2 <= len(ranges) <= 8
    assert cluster.plan_partitions([], 2) == [] and cluster.plan_partitions([5], 4) == [(0, 1)]
    assert cluster.shuffle_buckets(2, 8) == 2 and cluster.shuffle_buckets(100, 20_000) == 5
    assert cluster.shuffle_buckets(100, 10**6) == 1


def test_progress_bar_on_the_cli_is_tqdm(corpus, dask_client, capsys):
    from gctrace_nb.batch.discover import expand_sources

    found = expand_sources(corpus[0], sizes=True)
    chunks: list = []
    cluster.stream_json(dask_client, [f for f, _ in found], [n for _, n in found], chunks.append, progress=True)
    err = capsys.readouterr().err
    assert "traces" in err and f"{len(found)}/{len(found)}" in err


def test_unreachable_or_malformed_scheduler(corpus, capsys, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "1s")
    import dask

    dask.config.refresh()
    try:
        assert main(["analyze", str(corpus[0]), "--format", "json", "--scheduler", "tcp://127.0.0.1:9"]) == 1
        assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    finally:
        monkeypatch.delenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT")
        dask.config.refresh()
    assert main(["analyze", str(corpus[0]), "--scheduler", "nonsense"]) == 1
    assert "not a Dask scheduler address: 'nonsense'" in capsys.readouterr().err


def test_cli_storage_errors_name_the_url_never_the_secret(s3_endpoint, capsys):
    options = dict(s3_endpoint, secret="do-not-print-me-42")
    status = main(["analyze", "s3://no-such-bucket-zz/traces/", "--storage-options", json.dumps(options)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("gctrace analyze: s3://no-such-bucket-zz/traces/: ")
    assert "do-not-print-me-42" not in err
    assert main(["analyze", "s3://b/x/", "--storage-options", '{"secret": "leak-me",']) == 2
    err = capsys.readouterr().err
    assert "not JSON" in err and "leak-me" not in err


def test_single_objects_and_other_commands_read_urls(s3_endpoint, s3_corpus, corpus, capsys, tmp_path):
    url, _ = s3_corpus
    options = json.dumps(s3_endpoint)
    assert main(["analyze", url + "t000.json", "--format", "json", "--storage-options", options]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["file"] == url + "t000.json" and one["steps"] > 0
    assert main(["analyze", url.rstrip("/"), "--format", "json", "--storage-options", options]) == 2  # a prefix
    assert len(json.loads(capsys.readouterr().out)) > 48
    from gctrace_nb import load_trace

    trace = load_trace(url + "t001.json", storage_options=s3_endpoint)
    assert trace.analysis.to_json("x") == load_trace(corpus[0] / "t001.json").analysis.to_json("x")
    assert main(["compare", url + "t00*.json", str(corpus[0] / "t00*.json"), "--format", "json",
                 "--storage-options", options]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert compared and not compared["new"] and not compared["vanished"]
    assert main(["export", url, "--format", "chrome", "-o", url.replace("/traces/", "/out/chrome.json"),
                 "--storage-options", options]) == 2
    import s3fs

    fs = s3fs.S3FileSystem(**s3_endpoint)
    data = json.loads(fs.cat(url.replace("/traces/", "/out/chrome.json")))
    assert data["traceEvents"]


def test_import_stays_light_and_local_paths_need_no_fsspec(corpus):
    code = (
        "import sys, gctrace_nb\n"
        "from gctrace_nb.batch.dispatch import load_traces\n"
        f"ts = load_traces({str(corpus[0])!r}, progress=False)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'fsspec', 's3fs'))\n"
        "print(len(ts), heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1)[1].strip() == "[]"


@pytest.mark.notebook
def test_notebook_progress_is_dasks_widget(corpus, dask_client, tmp_path):
    """In a kernel, ``load_traces(..., client=..., progress=True)`` shows Dask's progress widget, not tqdm."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"from distributed import Client\nclient = Client({dask_client.scheduler.address!r})"),
        nbformat.v4.new_code_cell("from gctrace_nb import load_traces\n"
                                  f"ts = load_traces({str(corpus[0])!r}, client=client, progress=True)\n"
                                  "print('LOADED', len(ts))"),
        nbformat.v4.new_code_cell("client.close()"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = nb.cells[1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs), outs
    text = "".join(o.get("text", "") for o in outs if o.get("output_type") == "stream")
    assert f"LOADED {len(load_traces(corpus[0], progress=False))}" in text
    assert "file/s" not in text and "it/s" not in text  # no tqdm bar


def test_http_urls_and_a_batch_report_from_s3(s3_endpoint, s3_corpus, corpus, capsys, tmp_path):
    """https:// and http:// objects are read through fsspec's HTTP filesystem (a server on loopback here)."""
    import functools
    import http.server
    import threading

    directory, _ = corpus
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        names = ["t000.json", "t004.ndjson", "u-bad.json", "missing.json"]
        assert main(["analyze", *(base + n for n in names), "--format", "json"]) == 2
        out = capsys.readouterr()
        assert main(["analyze", *(str(directory / n) for n in names[:3]), "--format", "json"]) == 2
        local = json.loads(capsys.readouterr().out)
        assert _relabel(json.loads(out.out), base, str(directory) + os.sep) == local
        assert f"{base}missing.json: no such object" in out.err
        assert main(["analyze", base, "--format", "json"]) == 2
        assert "an http:// prefix cannot be listed: name the files" in capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
    url, _ = s3_corpus
    page = tmp_path / "batch.html"
    assert main(["report", url, "-o", str(page), "--cdn", "--storage-options", json.dumps(s3_endpoint)]) == 2
    html = page.read_text(encoding="utf-8")
    assert "u-bad.json" in html and "Top bottlenecks" in html
