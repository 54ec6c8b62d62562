"""The typed reader (msgspec structs, no dict per step) agrees with the core exactly,
and hands every document it should not read to the general reader."""

from __future__ import annotations

import json
import random
import re

import pytest

import gctrace_nb.batch.load as batch_load
import gctrace_nb.batch.readers as batch
from gctrace_nb.core.analysis import analyze_steps
from gctrace_nb.batch import load_traces
from gctrace_nb.cli.app import main
from gctrace_nb.core.documents import read_document
from gctrace_nb.errors import TraceFormatError

from batch_helpers import BASE_MS, assert_agrees, dirty_trace, iso, realistic_trace


@pytest.fixture
def typed_count(monkeypatch):
    """How many files the typed reader took."""
    taken = []
    real = batch._decode_typed

    def spy(data, frames):
        out = real(data, frames)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(batch, "_decode_typed", spy)
    return lambda: sum(taken)


def textual(steps: list, rng: random.Random) -> list:
    """The same dirty trace with every field the typed reader reads as text or null,
    plus unknown keys of every JSON type (skipped by the typed reader)."""
    out = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        step = dict(step)
        for key in ("nodeId", "parentId", "startTime", "endTime", "status", "errorMessage", "name"):
            value = step.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith("Time"):
                step[key] = iso(value)  # epoch ms -> an ISO string
            elif value is not None and not isinstance(value, str):
                step[key] = rng.choice(["", None, "x"])
        if rng.random() < 0.3:
            step["extra"] = {"n": [1, 2.5e300, -0, True, None], "s": "caf\u00e9 \u2603 \U0001f600", "big": 10**30}
        if rng.random() < 0.1:
            step["label"] = rng.choice(["lbl", ""])
        if rng.random() < 0.1:
            step["displayName"] = "shown"
        out.append(step)
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("frames", [True, False])
def test_typed_documents_agree_with_the_single_trace_analysis(tmp_path, typed_count, seed, frames):
    rng = random.Random(100 + seed)
    docs = {}
    for i in range(120):
        steps = realistic_trace(rng, size=rng.randint(1, 80)) if i % 3 == 0 else textual(dirty_trace(rng), rng)
        path = tmp_path / f"t{i:03d}.json"
        shape = i % 3
        if shape == 0:
            obj = steps
        elif shape == 1:
            obj = {"format": "gctrace_nb.trace", "metadata": {"flow_id": f"f{i}"}, "steps": steps}
        else:
            obj = {"metadata": None, "steps": steps, "other": {"deep": [[[]]]}}
        path.write_text(json.dumps(obj, ensure_ascii=rng.random() < 0.5), encoding="utf-8")
        docs[str(path)] = steps
    ts = load_traces(tmp_path, progress=False, frames=frames)
    assert typed_count() == 120 and not ts.errors
    if frames:
        assert assert_agrees(ts, docs) > 0
    else:
        assert ts.to_json() == [analyze_steps(docs[label]).to_json(label) for label in ts.labels]
    flows = ts.traces["flow_id"].to_list()
    assert flows == [f"f{i}" if i % 3 == 1 else None for i in range(120)]


def test_ties_cycles_skew_and_several_roots_by_the_typed_reader(tmp_path, typed_count):
    t = lambda ms: iso(BASE_MS + ms)  # noqa: E731
    cases = {
        "ties": [
            {"nodeId": "r", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "z", "parentId": "r", "startTime": t(10), "endTime": t(90)},
            {"nodeId": "m", "parentId": "r", "startTime": t(10), "endTime": t(90)},
            {"nodeId": "q", "parentId": "r", "startTime": t(20), "endTime": t(90)},
        ],
        "cycle": [
            {"nodeId": "x", "parentId": "y", "startTime": t(0), "endTime": t(10), "status": "failed"},
            {"nodeId": "y", "parentId": "x", "startTime": t(5), "endTime": t(20)},
            {"nodeId": "w", "parentId": "x", "startTime": t(6), "endTime": t(9)},
        ],
        "skew": [
            {"nodeId": "r", "startTime": t(100), "endTime": t(200)},
            {"nodeId": "c", "parentId": "r", "startTime": t(50), "endTime": t(250)},
        ],
        "roots": [
            {"nodeId": "a", "startTime": t(0), "endTime": t(100)},
            {"nodeId": "b", "startTime": t(150), "endTime": t(300)},
            {"nodeId": "", "startTime": t(0), "endTime": t(1)},
            {"nodeId": "a", "startTime": t(0), "endTime": t(500)},
            {"nodeId": "o", "parentId": "ghost", "startTime": t(10), "endTime": t(20)},
            {"nodeId": "n", "parentId": "", "startTime": t(10), "endTime": t(5)},
            {"nodeId": "u", "parentId": None},
        ],
        "empty": [],
    }
    docs = {}
    for name, steps in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"steps": steps}), encoding="utf-8")
        docs[str(path)] = steps
    ts = load_traces(tmp_path, progress=False)
    assert typed_count() == len(cases) and not ts.errors
    assert assert_agrees(ts, docs) > 0
    assert ts.python_path == [ts.labels.index(str(tmp_path / "cycle.json"))]


def core_result(path):
    """What the core makes of a file: its analysis JSON, or its error."""
    try:
        doc = read_document(str(path))
    except TraceFormatError:
        return "error"
    return analyze_steps(doc.steps).to_json(str(path))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"steps": [{"nodeId": "a", "x": "\xff"}]}',  # invalid UTF-8 in a skipped key
        b'{"steps": [{"nodeId": "a", "x": 1' + b"0" * 5000 + b"}]}",  # too long for int()
        b'{"steps": [{"nodeId": "a", "x": 1' + b"0" * 4299 + b"}]}",  # just short enough
        b'{"steps": [{"nodeId": "a", "x": "' + b"7" * 9000 + b'"}]}',  # digits in a string
        b'{"steps": [{"nodeId": "a", "x": NaN, "startTime": "2024-05-01T10:00:00Z"}]}',
        b'{"steps": [{"nodeId": "a", "x": "\\ud800"}]}',  # lone surrogate, skipped key
        b'{"steps": [{"nodeId": "a\\ud800", "startTime": "2024-05-01T10:00:00Z", "endTime": "2024-05-01T10:00:01Z"}]}',
        b'{"steps": [{"nodeId": "a", "nodeId": "b", "startTime": "2024-05-01T10:00:00Z"}]}',  # last key wins
        b'{"steps": [{"nodeId": "a"}], "steps": [{"node\\u0049d": "c"}]}',
        b'{"steps": [{"nodeId": 5, "parentId": 7, "startTime": 1714557600000, "endTime": 1714557600001.5}]}',
        b'{"steps": [{"nodeId": "a", "status": {"code": 1}, "errorMessage": [1]}]}',
        b'{"steps": [{"nodeId": "a", "startTime": true}]}',
        b'{"steps": null}',
        b'{"steps": [], "metadata": {"flow_id": 12}}',
        b'{"steps": [], "metadata": [1]}',
        b'{"result": [{"nodeId": "a"}]}',
        b'\xef\xbb\xbf[{"nodeId": "a"}]',  # BOM: the standard library reads it
        b"[1, 2]",
        b'[{"nodeId": "a"}] trailing',
        b'[{"nodeId": "a", "x": [1,]}]',
        b"  \n [ ]  ",
    ],
)
@pytest.mark.parametrize("frames", [True, False])
def test_documents_the_typed_reader_must_not_take_alone(tmp_path, raw, frames):
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    ts = load_traces([str(path)], progress=False, frames=frames)
    expected = core_result(path)
    if expected == "error":
        assert len(ts) == 0 and [p for p, _ in ts.errors] == [str(path)]
    else:
        assert not ts.errors and ts.to_json() == [expected]
        if frames:
            ts.steps  # builds


def test_long_digit_run_check_matches_a_scan(monkeypatch):
    rng = random.Random(5)
    limit = 4300
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.5:
                parts.append("7" * rng.choice([1, 2149, 2150, 2151, 4299, 4300, 4301, 4302, 6000]))
            else:
                parts.append(rng.choice(["x", '"', " ", "a" * rng.randint(1, 3000)]))
        data = "".join(parts).encode()
        expected = re.search(rb"[0-9]{%d}" % (limit + 1), data) is not None
        if expected:
            assert batch._long_digit_run(data)
        # a positive without a long run would only send the file to the general reader:
        # allowed, but the check is exact on stretch boundaries, so it never happens here
        # for runs shorter than a stretch
        if not re.search(rb"[0-9]{2151}", data):
            assert not batch._long_digit_run(data)


def test_cli_json_from_the_typed_reader_matches_one_file_at_a_time(tmp_path, capsys):
    rng = random.Random(3)
    paths = []
    for i in range(12):
        steps = textual(dirty_trace(rng), rng) if i % 2 else realistic_trace(rng, size=30)
        path = tmp_path / f"t{i:02d}.json"
        path.write_text(json.dumps({"steps": steps, "metadata": {"flow_id": "f"}}), encoding="utf-8")
        paths.append(str(path))
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 0
    together = json.loads(capsys.readouterr().out)
    alone = []
    for path in paths:
        assert main(["analyze", path, "--format", "json"]) == 0
        alone.append(json.loads(capsys.readouterr().out))
    assert together == alone


def test_lexorder_is_lexsort():
    import numpy as np

    from gctrace_nb.batch.vectorized import lexorder

    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(1, 200))
        keys = []
        for _ in range(int(rng.integers(1, 5))):
            kind = rng.integers(0, 4)
            if kind == 0:
                keys.append(rng.integers(0, 5, n))
            elif kind == 1:
                keys.append(rng.integers(-2**63, 2**63 - 1, n, endpoint=True))
            elif kind == 2:
                keys.append(rng.choice(np.array([-2**63, 2**63 - 1, 0, 5]), n))
            else:
                keys.append(rng.integers(-10**12, 10**12, n))
        assert (lexorder(keys) == np.lexsort(tuple(reversed(keys)))).all()


def _one_by_one(paths, capsys):
    alone = []
    for path in paths:
        status = main(["analyze", path, "--format", "json"])
        out = capsys.readouterr().out
        alone.append(json.loads(out) if status == 0 else None)
    return alone


@pytest.mark.parametrize("workers", ["1", "2", "3"])
def test_cli_json_streams_chunks_and_worker_parts_in_order(tmp_path, capsys, monkeypatch, workers):
    monkeypatch.setenv("GCTRACE_WORKERS", workers)
    monkeypatch.setattr(batch_load, "CHUNK_STEPS", 40)  # many chunks per part
    rng = random.Random(11)
    paths = []
    for i in range(30):
        path = tmp_path / f"t{i:02d}.json"
        if i == 7:
            path.write_text("{not json", encoding="utf-8")
        elif i == 9:  # a lone surrogate: orjson refuses it, the output escapes it as the one-file path does
            path.write_text('[{"nodeId": "a\\ud800", "startTime": "2024-05-01T10:00:00Z", '
                            '"endTime": "2024-05-01T10:00:01Z"}]', encoding="utf-8")
        elif i == 12:
            path.write_text("[]", encoding="utf-8")
        else:
            steps = textual(dirty_trace(rng), rng) if i % 2 else realistic_trace(rng, size=25)
            path.write_text(json.dumps({"steps": steps}), encoding="utf-8")
        paths.append(str(path))
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 2
    captured = capsys.readouterr()
    together = json.loads(captured.out)
    assert captured.err.count("gctrace analyze:") == 1 and "t07.json" in captured.err
    alone = _one_by_one(paths, capsys)
    assert together == [a for a in alone if a is not None]
    assert len(together) == 29


def test_cli_json_to_a_text_stream_without_a_buffer(tmp_path, monkeypatch, capsys):
    import io

    rng = random.Random(12)
    for i in range(5):
        (tmp_path / f"t{i}.json").write_text(json.dumps(textual(dirty_trace(rng), rng)), encoding="utf-8")
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 0
    expected = capsys.readouterr().out
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 0
    assert stream.getvalue() == expected


@pytest.mark.parametrize("depth", [250, 254, 255, 700, 880, 960, 995, 1023, 3000])
def test_deep_nesting_is_decided_as_the_general_reader_decides(tmp_path, monkeypatch, depth):
    # issue 16.3/16.7: every reader refuses the same documents, at the same depth (MAX_NESTING),
    # whatever its own limit (json ~990 and the stack, orjson 1024, msgspec the stack)
    from gctrace_nb.core.documents import MAX_NESTING, TOO_DEEP

    path = tmp_path / "deep.json"
    path.write_bytes(b'{"steps": [{"nodeId": "a", "x": ' + b"[" * depth + b"]" * depth + b"}]}")
    typed = load_traces([str(path)], progress=False, frames=False)
    monkeypatch.setattr(batch, "_decode_typed", lambda data, frames: None)
    general = load_traces([str(path)], progress=False, frames=False)
    assert typed.to_json() == general.to_json()
    assert typed.errors == general.errors
    levels = depth + 3  # the document, "steps" and the step hold the list
    if levels > MAX_NESTING:
        assert typed.errors == [(str(path), TOO_DEEP)]
        with pytest.raises(TraceFormatError, match="nested more than"):
            read_document(str(path))
    else:
        assert not typed.errors and len(typed) == 1
        assert read_document(str(path)).steps[0]["nodeId"] == "a"
