"""Issue 16 (3, 4, 6, 7, 11) through the batch readers: one hostile file never sinks a directory,
and the batch reads every document exactly as the one-file reader does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gctrace_nb import load_trace
from gctrace_nb.batch import load_traces
from gctrace_nb.cli.app import main
from gctrace_nb.core.documents import MAX_NESTING, TOO_DEEP, json_depth
from hostile_server import execution_document
from tests.helpers import step

ROOT = Path(__file__).resolve().parents[1]


def write_deep(path: Path, levels: int = 988) -> Path:
    """The probe's file: a valid 6 KB trace whose errorMessage is nested ``levels`` deep."""
    path.write_text('[{"nodeId": "root", "startTime": 0, "endTime": 10}, {"nodeId": "pay", "parentId": "root", '
                    '"startTime": 1, "endTime": 4, "status": "failed", "errorMessage": '
                    + '{"cause": ' * levels + '"declined"' + "}" * levels + "}]", encoding="utf-8")
    return path


def good_dir(tmp_path: Path, n: int = 3) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / f"good{i}.json"
        p.write_text(json.dumps([step("root", 0, 10 + i), step("a", 1, 5, "root")]), encoding="utf-8")
        paths.append(p)
    return paths


# ----------------------------------------------------------------- 3. depth
@pytest.mark.parametrize("frames", [True, False])
def test_a_deep_file_lands_in_errors_and_the_rest_is_analysed(tmp_path, frames):
    good = good_dir(tmp_path)
    deep = write_deep(tmp_path / "deep.json")
    (tmp_path / "deep.ndjson").write_bytes(json.dumps([step("x", 0, 1)]).encode() + b"\n"
                                          + deep.read_bytes() + b"\n")
    ts = load_traces(tmp_path, progress=False, frames=frames)
    assert dict(ts.errors) == {str(deep): TOO_DEEP, f"{tmp_path / 'deep.ndjson'}:2": TOO_DEEP}
    assert sorted(ts.labels) == sorted([str(p) for p in good] + [f"{tmp_path / 'deep.ndjson'}:1"])


@pytest.mark.parametrize("argv", [["analyze"], ["analyze", "--summary"], ["analyze", "--format", "json"],
                                  ["report", "-o", "REPORT"]])
def test_a_deep_file_does_not_sink_the_cli_over_a_directory(tmp_path, capsys, argv):
    data = tmp_path / "data"
    data.mkdir()
    good_dir(data)
    write_deep(data / "deep.json")
    argv = [a.replace("REPORT", str(tmp_path / "r.html")) for a in argv]
    assert main([argv[0], str(data), *argv[1:]]) == 2  # was 1, RecursionError, nothing analysed
    captured = capsys.readouterr()
    assert f"deep.json: {TOO_DEEP}" in captured.err and "Traceback" not in captured.err
    if "--format" in argv:
        assert len(json.loads(captured.out)) == 3


def test_load_traces_refuses_what_load_trace_refuses_at_the_boundary(tmp_path):
    # 990-1023 levels: json refused and orjson accepted; now both refuse past MAX_NESTING
    for levels in (MAX_NESTING - 3, MAX_NESTING - 2, 990, 1000, 1023):
        path = tmp_path / f"d{levels}.json"
        path.write_bytes(b'[{"nodeId": "a", "startTime": 0, "endTime": 1, "x": ' + b"[" * levels
                         + b"]" * levels + b"}]")
        try:
            load_trace(path)
            single = None
        except ValueError as exc:
            single = str(exc)
        ts = load_traces([path], progress=False)
        assert (single is None) == (not ts.errors), levels
        assert (json_depth(path.read_bytes()) > MAX_NESTING) == (single is not None)


# ------------------------------------------------------------- 7. big integers
def test_big_integer_ids_are_the_same_on_both_readers(tmp_path):
    doc = execution_document("i-1", 1)
    doc["flow"]["flowId"] = 10**30
    path = tmp_path / "history.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    single = load_trace(path).analysis.node_ids
    assert "flow:1000000000000000000000000000000#0" in single
    for frames in (True, False):
        ts = load_traces([path], progress=False, frames=frames)
        assert ts.to_json()[0] == load_trace(path).analysis.to_json(str(path))  # was flow:1e+30#0
    (tmp_path / "h.ndjson").write_text(json.dumps(doc) + "\n", encoding="utf-8")
    assert load_traces([tmp_path / "h.ndjson"], progress=False).to_json()[0]["critical_path"][0] == single[0]
    # a step id that is a big number, in a plain steps list
    steps = [{"nodeId": "r", "startTime": 0, "endTime": 9, "n": -(2**63) - 1},
             {"nodeId": "a", "parentId": "r", "startTime": 1, "endTime": 5, "big": 2**64}]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(steps), encoding="utf-8")
    assert load_traces([plain], progress=False, frames=True).to_json()[0] == \
        load_trace(plain).analysis.to_json(str(plain))


# ---------------------------------------------------------- 4. surrogates
def test_a_surrogate_error_message_makes_a_batch_report(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    good_dir(data)
    (data / "s.json").write_text(
        '[{"nodeId": "r\\udfff", "startTime": 0, "endTime": 10},'
        ' {"nodeId": "b", "parentId": "r\\udfff", "startTime": 1, "endTime": 5, "status": "failed",'
        ' "errorMessage": "x\\ud800y"}]', encoding="utf-8")
    out = tmp_path / "batch.html"
    assert main(["report", str(data), "-o", str(out)]) == 0
    html = out.read_bytes().decode("utf-8")  # strict: no lone surrogate written
    assert "x\\ud800y" in html
    ts = load_traces(data, progress=False)
    assert "r\\udfff" in ts.steps["node_id"].to_list()
    assert ts.to_json()[-1] == load_trace(data / "s.json").analysis.to_json(str(data / "s.json"))


# ------------------------------------------------------------ 11. empty files
def test_an_empty_json_and_an_empty_ndjson_are_both_empty_files(tmp_path, capsys):
    for name in ("e.json", "e.ndjson"):
        (tmp_path / name).write_text("  \n\n", encoding="utf-8")
    ts = load_traces([tmp_path / "e.json", tmp_path / "e.ndjson"], progress=False)
    assert ts.errors == [(str(tmp_path / "e.json"), "empty file"), (str(tmp_path / "e.ndjson"), "empty file")]
    codes = {}
    for name in ("e.json", "e.ndjson"):
        for fmt in ("json", "text"):
            codes[name, fmt] = main(["analyze", str(tmp_path / name), "--format", fmt])
            assert f"{name}: empty file" in capsys.readouterr().err
    assert set(codes.values()) == {2}, codes


# ------------------------------------------------------------ 6. special files
def _gctrace(*args: str, timeout: float = 60) -> tuple[int, float, str, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gctrace_nb", *args], capture_output=True, timeout=timeout,
                          cwd=ROOT)
    return proc.returncode, time.monotonic() - started, proc.stdout.decode(), proc.stderr.decode()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_in_a_batch_are_refused_and_the_rest_analysed(tmp_path):
    good = good_dir(tmp_path, 2)
    fifo = tmp_path / "pipe.ndjson"
    os.mkfifo(fifo)
    ts = load_traces([good[0], fifo, "/dev/zero", good[1]], progress=False)
    assert ts.errors == [(str(fifo), "not a regular file (a FIFO); refused"),
                         ("/dev/zero", "not a regular file (a character device); refused")]
    assert len(ts) == 2
    code, _, out, err = _gctrace("analyze", str(good[0]), str(fifo), "/dev/zero", "--format", "json")
    assert code == 2 and len(json.loads(out)) == 1
    assert "pipe.ndjson: not a regular file (a FIFO)" in err


def test_stdin_is_read_only_on_its_own(tmp_path, capsys):
    good = good_dir(tmp_path, 1)
    assert main(["analyze", "-", str(good[0])]) == 2
    assert "standard input" in capsys.readouterr().err


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def test_json_depth_reads_brackets_only_outside_strings():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    tricky = st.text(alphabet='[]{}"\\\\ab\n\u00e9\u2028', max_size=8)
    values = st.recursive(st.none() | st.integers() | tricky,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
                          max_leaves=25)

    @settings(max_examples=400, deadline=None)
    @given(values, st.booleans(), st.booleans())
    def check(value, ascii_only, indent):
        text = json.dumps(value, ensure_ascii=ascii_only, indent=1 if indent else None).encode("utf-8")
        assert json_depth(text) == _depth(value)

    check()
