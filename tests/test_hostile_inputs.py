"""Issue 16 (3-6): hostile files -- deep nesting, lone surrogates, bracketed names, special files.

Each test reproduces what broke: a 6 KB file nested 988 levels deep, a node id
``"a\\udfff"``, a file named ``[prod] trace.json``, ``/dev/zero`` and a FIFO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gctrace_nb import Trace, TraceFormatError, load_trace
from gctrace_nb.cli import main
from gctrace_nb.core.documents import MAX_NESTING
from tests.helpers import step

ROOT = Path(__file__).resolve().parents[1]


def deep_error_steps(levels: int) -> list:
    """Two valid steps, the failed one's errorMessage nested ``levels`` deep (the probe's 6 KB file)."""
    message: object = "card declined"
    for _ in range(levels):
        message = {"cause": message}
    return [step("root", 0, 10), step("pay", 1, 4, "root", status="failed", errorMessage=message)]


def write_deep(path: Path, levels: int) -> Path:
    # json.dumps itself recurses: build the text by hand
    text = json.dumps([step("root", 0, 10)])[:-1] + ', {"nodeId": "pay", "parentId": "root", ' \
        '"startTime": 1, "endTime": 4, "status": "failed", "errorMessage": ' + '{"cause": ' * levels \
        + '"card declined"' + "}" * levels + "}]"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------- 3. nesting
@pytest.mark.parametrize("levels", [988, 1000, 1023, 100_000])
def test_a_deep_file_is_refused_at_load_with_a_format_error(tmp_path, levels):
    path = write_deep(tmp_path / "deep.json", levels)
    for source in (path, path.read_bytes()):
        with pytest.raises(TraceFormatError, match=f"nested more than {MAX_NESTING} levels deep"):
            load_trace(source)


def test_a_deep_or_self_containing_object_is_refused_at_load_not_later():
    deep = deep_error_steps(100_000)
    with pytest.raises(TraceFormatError, match="nested more than"):
        load_trace(deep)
    with pytest.raises(TraceFormatError, match="nested more than"):
        Trace(deep)
    with pytest.raises(TraceFormatError, match="nested more than"):
        load_trace({"steps": deep_error_steps(10), "metadata": {"x": deep}})
    loop: dict = {"nodeId": "a", "startTime": 0, "endTime": 5}
    loop["self"] = loop
    for source in ([loop], {"steps": [loop]}):
        with pytest.raises(TraceFormatError, match="contains itself"):
            load_trace(source)
    with pytest.raises(TraceFormatError, match="contains itself"):
        Trace([loop])


def test_nesting_at_the_limit_is_analysed_saved_and_reported(tmp_path):
    steps = deep_error_steps(MAX_NESTING - 3)  # list, step, then the message levels
    trace = load_trace(steps)
    assert trace.analysis.failed_nodes == ("pay",)
    assert trace.steps.height == 2
    again = load_trace(trace.save(tmp_path / "t.json"))
    assert again.raw_steps == steps
    assert main(["report", str(tmp_path / "t.json"), "-o", str(tmp_path / "r.html")]) == 0


def test_the_cli_names_a_deep_file_and_analyses_the_others(tmp_path, capsys):
    write_deep(tmp_path / "deep.json", 988)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(deep_error_steps(2)))
    assert main(["analyze", str(tmp_path / "deep.json"), str(good)]) == 2
    captured = capsys.readouterr()
    assert "deep.json: nested more than" in captured.err and "Traceback" not in captured.err
    assert "pay" in captured.out


# -------------------------------------------------------------- 4. surrogates
SURROGATE_STEPS = (
    '[{"nodeId": "a\\udfff", "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:01Z"},'
    ' {"nodeId": "b", "parentId": "a\\udfff", "startTime": "2024-01-01T00:00:00.1Z",'
    ' "endTime": "2024-01-01T00:00:00.5Z", "status": "failed", "errorMessage": "x\\ud800y"}]'
)


def test_a_surrogate_id_draws_a_gantt_and_a_report(tmp_path, capsys):
    from gctrace_nb import gantt

    path = tmp_path / "s.json"
    path.write_text(SURROGATE_STEPS)
    fig = gantt(load_trace(path))  # was KeyError: 'a\ufffd'
    assert any("a\\udfff" in label for label in fig.layout.yaxis.ticktext)
    out = tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(out)]) == 0
    html = out.read_bytes().decode("utf-8")
    assert "a\\udfff" in html and "x\\ud800y" in html


def test_a_surrogate_summary_is_sent_as_valid_utf8(tmp_path):
    from gctrace_nb.delivery.webhook import build_summary, serialize

    trace = load_trace(SURROGATE_STEPS.encode())
    body = serialize(build_summary(trace))
    assert json.loads(body.decode("utf-8"))["failedNodes"] == ["b"]
    assert "a\\\\udfff" in body.decode("utf-8")


# ------------------------------------------------------------ 5. a str is a path
def test_a_path_starting_with_a_bracket_is_a_file(tmp_path, capsys):
    path = tmp_path / "[prod] trace.json"
    path.write_text(json.dumps(deep_error_steps(1)))
    assert load_trace(str(path)).analysis.failed_nodes == ("pay",)
    brace = tmp_path / "{x}.json"
    brace.write_text(json.dumps(deep_error_steps(1)))
    assert load_trace(str(brace)).analysis.failed_nodes == ("pay",)
    os.chdir(tmp_path)
    assert main(["analyze", "[prod] trace.json"]) == 0
    missing = "[prod] other.json"
    assert main(["analyze", missing]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    with pytest.raises(TraceFormatError, match=r"\[prod\] other.json: no such file"):
        load_trace(missing)


def test_json_text_comes_as_bytes_or_text_keyword():
    text = json.dumps(deep_error_steps(1))
    assert load_trace(text.encode()).analysis.failed_nodes == ("pay",)
    assert load_trace(text=text).analysis.failed_nodes == ("pay",)
    assert Trace.from_json_text(text, name="t").name == "t"
    with pytest.raises(TraceFormatError, match="text="):
        load_trace(text)  # a str is a path; the message says where JSON text goes
    with pytest.raises(TypeError):
        load_trace(b"[]", text="[]")


# --------------------------------------------------------- 6. special files
def _gctrace(*args: str, stdin: bytes | None = None, timeout: float = 30) -> tuple[int, float, str, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gctrace_nb", *args], input=stdin, capture_output=True,
                          timeout=timeout, cwd=ROOT)
    return proc.returncode, time.monotonic() - started, proc.stdout.decode(), proc.stderr.decode()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_at_once():
    code, elapsed, _, err = _gctrace("analyze", "/dev/zero")
    assert code == 2 and elapsed < 20
    assert "/dev/zero: not a regular file (a character device)" in err
    with pytest.raises(TraceFormatError, match="character device"):
        load_trace("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["analyze"], ["report", "-o", "/dev/null"], ["webhook", "send", "--url",
                                                                                      "http://127.0.0.1:9/"]])
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path, command):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    code, elapsed, _, err = _gctrace(*command, str(fifo), timeout=60)
    assert code == 2, err
    assert "not a regular file (a FIFO)" in err


def test_stdin_given_as_dash_is_read():
    text = json.dumps(deep_error_steps(1)).encode()
    code, _, out, err = _gctrace("analyze", "-", "--format", "json", stdin=text)
    assert code == 0, err
    assert json.loads(out)["failed_nodes"] == ["pay"]
    code, _, _, err = _gctrace("analyze", "-", stdin=b"")
    assert code == 2 and "<stdin>: empty input" in err


def test_gctrace_webhook_send_delivers_a_surrogate_summary(tmp_path, capsys, monkeypatch):
    # was: "summary is not serialisable" and nothing sent
    from _webhook_receiver import Receiver

    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "s.json"
    path.write_text(SURROGATE_STEPS)
    with Receiver() as receiver:
        code = main(["webhook", "send", str(path), "--url", receiver.url, "--state-dir", str(tmp_path / "state"),
                     "--audit-dir", str(tmp_path / "audit")])
    assert code == 0, capsys.readouterr().err
    sent = json.loads(receiver.received[0].body.decode("utf-8"))
    assert sent["failedNodes"] == ["b"] and sent["criticalPath"][0] == "a\\udfff"
