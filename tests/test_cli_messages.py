"""What a newcomer reads: help without markup, errors that agree, one millisecond format, hints.

Every check runs the real ``gctrace`` entry point (in-process ``main`` or a subprocess) and reads
what it prints.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gctrace_nb import Trace, load_trace
from gctrace_nb._format import fmt_ms
from gctrace_nb.cli.app import _COMMAND_MODULES, main
from gctrace_nb.ui.messages import delivery_error_line
from gctrace_nb.report.trace import export_report
from gctrace_nb.simulator import generate_trace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MARKUP = re.compile(r"``|:(func|mod|class|meth|data|exc):`")


def help_of(*argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "gctrace_nb", *argv, "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --------------------------------------------------------------------- help
@pytest.mark.parametrize("command", [m.replace("_", "-") for m in _COMMAND_MODULES])
def test_help_texts_carry_no_raw_markup(command):
    text = help_of(command)
    assert not MARKUP.search(text), text
    # the description is a sentence, not the usage line again
    description = text.split("\n\n")[1].strip()
    assert description[0].isupper() and not description.startswith("gctrace "), description


def test_top_level_and_nested_help_carry_no_markup():
    for argv in ((), ("webhook", "send"), ("webhook", "flush")):
        assert not MARKUP.search(help_of(*argv))


def test_export_format_has_help():
    text = " ".join(help_of("export").split())
    assert "--format {chrome,otlp,parquet}" in text
    assert "chrome: Trace Event JSON" in text and "otlp: OTLP/JSON" in text and "parquet:" in text


# ------------------------------------------------------------------- errors
def test_a_json_error_says_at_once(tmp_path, capsys):
    (tmp_path / "a.json").write_text('{"steps": [{"nodeId": "a', encoding="utf-8")
    (tmp_path / "b.json").write_text('{"steps": [{"nodeId": "a\n"}]}', encoding="utf-8")
    for path in ("a.json", "b.json"):
        assert main(["analyze", str(tmp_path / path)]) == 2
        err = capsys.readouterr().err
        assert "at at" not in err and " at line 1 column " in err, err
    assert main(["analyze", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "json"]) == 2
    assert "at at" not in capsys.readouterr().err


def test_an_empty_directory_gets_the_same_words_from_every_command(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    said = {}
    for argv in (["analyze", str(empty)], ["report", str(empty), "-o", str(tmp_path / "r.html")],
                 ["export", "--format", "chrome", "-o", str(tmp_path / "x.json"), str(empty)],
                 ["compare", str(empty), str(empty)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        command, _, message = err.partition(": ")
        said[argv[0]] = message
    assert set(said.values()) == {f"no trace files in {empty} (a directory is read for *.json, *.ndjson and "
                                  "*.jsonl files)"}, said


def test_by_name_without_summary_is_an_error_not_ignored(capsys):
    assert main(["analyze", str(DATA / "inbound_call.json"), "--by", "name"]) == 2
    assert "--by only applies to the per-node table: add --summary" in capsys.readouterr().err
    assert main(["analyze", str(DATA / "batch"), "--summary", "--by", "name"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("name ")


# ----------------------------------------------------------- one ms format
def test_terminal_and_html_write_milliseconds_the_same_way(tmp_path, capsys):
    trace = load_trace(DATA / "inbound_call.json")
    total = fmt_ms(trace.analysis.total_ms)
    assert total == "9,120 ms"
    assert main(["analyze", str(DATA / "inbound_call.json")]) == 0
    text = capsys.readouterr().out
    assert f"total {total}" in text and ".000 ms" not in text
    html = Path(export_report(trace, tmp_path / "r.html")).read_text(encoding="utf-8")
    assert total in html
    crit = trace.analysis.bottleneck.critical_ms
    assert fmt_ms(crit) in text and fmt_ms(crit) in html
    assert fmt_ms(crit) in trace._repr_html_()


# ------------------------------------------------------------------- compare
def test_compare_of_unrelated_flows_hints_at_by_name(tmp_path, capsys):
    a = Trace(generate_trace(1, size=20))
    b = Trace([{**s, "nodeId": "other-" + s["nodeId"],
                **({"parentId": "other-" + s["parentId"]} if s.get("parentId") else {})}
               for s in generate_trace(2, size=20)])
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "no steps in common: try --by name"
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["hint"] == "no steps in common: try --by name"
    assert "no steps in common: try --by name" in captured.err
    # related traces get no hint
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
    assert "no steps in common" not in capsys.readouterr().out


# ------------------------------------------------------------------- webhook
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_webhook_that_cannot_be_reached_is_one_clean_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GCTRACE_AUDIT_DIR", str(tmp_path / "audit"))
    port = closed_port()
    code = main(["webhook", "send", str(DATA / "inbound_call.json"), "--url", f"http://127.0.0.1:{port}/hook",
                 "--max-attempts", "1"])
    captured = capsys.readouterr()
    assert code == 5
    assert captured.err.strip() == (f"gctrace webhook send: not delivered: cannot connect to 127.0.0.1:{port} "
                                    "(connection refused); kept in the outbox for `gctrace webhook flush`")
    shown = captured.out + captured.err
    assert "HTTPConnectionPool" not in shown and "Max retries" not in shown
    assert json.loads(captured.out)["error"] == f"cannot connect to 127.0.0.1:{port} (connection refused)"


def test_delivery_error_lines():
    assert delivery_error_line(None) is None
    assert delivery_error_line("HTTP 500: oops") == "HTTP 500: oops"
    assert delivery_error_line(
        "ConnectTimeout: HTTPConnectionPool(host='10.0.0.1', port=80): Max retries exceeded with url: / "
        "(Caused by ConnectTimeoutError(..., 'Connection to 10.0.0.1 timed out. (connect timeout=5)'))"
    ) == "cannot connect to 10.0.0.1:80 (timed out)"
