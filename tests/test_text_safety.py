"""One sanitiser for every terminal line, one mapping from errors to messages (issue 12)."""

from __future__ import annotations

import json

import pytest

from gctrace_nb._text import for_terminal, one_line, xml_text
from gctrace_nb.cli.app import main
from gctrace_nb.errors import BadRequest, Cancelled, ConfigError, GaveUp, JobFailed, PermissionDenied
from gctrace_nb.ui import messages
from gctrace_nb.ui.launcher import describe_error

ESC_KEY = "\u001b[31mred"


@pytest.mark.parametrize("extra", [[], ["--format", "json"]])
@pytest.mark.parametrize("files", [1, 2])
def test_analyze_error_lines_show_control_characters_as_escapes(tmp_path, capsys, extra, files):
    paths = []
    for i in range(files):
        path = tmp_path / f"bad{i}.json"
        path.write_text(json.dumps({ESC_KEY: 1}), encoding="utf-8")  # the error names the keys
        paths.append(str(path))
    assert main(["analyze", *paths, *extra]) == 2
    err = capsys.readouterr().err
    assert "bad0.json" in err
    assert "\x1b" not in err and "\\x1b[31mred" in err
    assert err.count("\n") == files  # one line per file


def test_one_line_collapses_and_escapes():
    assert one_line("a\x1b[31m\n  b\udfff") == "a\\x1b[31m b\\udfff"
    assert for_terminal("x\ny\x07") == "x\ny\\x07"
    assert xml_text("a\x00\udfffb") == "a\ufffd\ufffdb"


@pytest.mark.parametrize(
    "exc, status",
    [
        (ConfigError("bad"), messages.EXIT_INVALID),
        (JobFailed("boom", job_id="j1"), messages.EXIT_JOB_FAILED),
        (PermissionDenied("no", status=403), messages.EXIT_AUTH),
        (BadRequest("bad", status=400), messages.EXIT_INVALID),
        (GaveUp("late", attempts=3), messages.EXIT_GAVE_UP),
        (Cancelled("stop"), messages.EXIT_CANCELLED),
    ],
)
def test_cli_and_launcher_read_errors_from_one_mapping(exc, status):
    from gctrace_nb.cli._connection import exit_status

    message = messages.describe(exc)
    assert exit_status(exc) == (status, message.line)
    assert describe_error(exc) == (message.title, message.lines)


def test_an_unexpected_error_is_raised_again_by_the_cli():
    from gctrace_nb.cli._connection import exit_status

    with pytest.raises(ZeroDivisionError):
        exit_status(ZeroDivisionError("bug"))
    assert describe_error(ZeroDivisionError("bug"))[0] == "Unexpected error."


SECRETS = {"api_token": "tok-1", "clientSecret": "sec-2", "X-Api-Key": "key-3", "nested": [{"Set-Cookie": "c-4"}]}


def test_one_secret_rule_for_saved_traces_reports_reprs_and_the_audit_log(tmp_path):
    from gctrace_nb import Trace, TraceMetadata, load_trace
    from gctrace_nb._redact import redact
    from gctrace_nb.report.trace import report_html

    meta = TraceMetadata(flow_id="f", extra={"keep": "me", **SECRETS})
    saved = json.dumps(meta.to_json())
    for value in ("tok-1", "sec-2", "key-3", "c-4"):
        assert value not in saved
    assert "me" in saved
    trace = Trace([{"nodeId": "a", "startTime": 0, "endTime": 5, "status": "ok"}], metadata=meta)
    path = tmp_path / "t.json"
    trace.save(path)
    text = path.read_text(encoding="utf-8") + repr(trace) + trace._repr_html_() + report_html(trace)
    for value in ("tok-1", "sec-2", "key-3", "c-4"):
        assert value not in text
    assert load_trace(path).metadata.extra["keep"] == "me"
    masked = json.dumps(redact(SECRETS))
    for value in ("tok-1", "sec-2", "key-3", "c-4"):
        assert value not in masked
    assert masked.count("[REDACTED]") == 4
