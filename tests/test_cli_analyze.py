"""``gctrace analyze`` prints the spec's JSON and survives unreadable files."""

from __future__ import annotations

import json
import subprocess
import sys

from gctrace_nb.cli.app import main
from tests.helpers import step

STEPS = [step("root", 0, 10), step("a", 1, 4, "root", status="failed", errorMessage="boom"), {"nodeId": "a"}]


def test_one_file_prints_one_object(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(STEPS))
    assert main(["analyze", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["file"] == str(path)
    assert out["anomalies"] == [["a", "duplicate"]]
    assert out["failed_nodes"] == ["a"]
    assert list(out) == ["file", "steps", "valid_steps", "accuracy_rate", "total_ms", "critical_path",
                         "critical_ms", "bottleneck", "failed_nodes", "anomalies"]


def test_several_files_keep_argument_order_and_bad_ones_exit_2(tmp_path, capsys):
    good1, bad, good2 = tmp_path / "z.json", tmp_path / "bad.json", tmp_path / "a.json"
    good1.write_text(json.dumps(STEPS))
    bad.write_text("{oops")
    good2.write_text(json.dumps({"steps": STEPS[:1]}))
    assert main(["analyze", str(good1), str(bad), str(good2), "--format", "json"]) == 2
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert [o["file"] for o in out] == [str(good1), str(good2)]
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and str(bad) in err_lines[0]


def test_text_format_is_readable(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(STEPS))
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bottleneck" in out and "critical path" in out and "a: boom" in out and "duplicate" in out


def test_console_script_runs_as_a_process(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(STEPS))
    proc = subprocess.run([sys.executable, "-m", "gctrace_nb", "analyze", str(path), "--format", "json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 3
    proc = subprocess.run([sys.executable, "-m", "gctrace_nb", "analyze", str(tmp_path / "missing.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "missing.json" in proc.stderr and proc.stdout == ""


def test_terminal_escapes_in_trace_text_are_shown_not_obeyed(tmp_path, capsys):
    steps = [{"nodeId": "evil\x1b[2J", "startTime": 0, "endTime": 5, "status": "failed",
              "errorMessage": "boom\x1b]0;pwned\x07"}]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(steps))
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b[2J" in out and "boom\\x1b]0;pwned\\x07" in out
    assert main(["analyze", str(path), str(path), "--summary"]) == 0
    assert "\x1b" not in capsys.readouterr().out
