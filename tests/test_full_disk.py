"""Issue 16.8: full disks. Every write is whole or absent, a lost audit line is said once, and nothing
that cannot be kept is dropped silently.

The disk fills in three ways: ``/dev/full`` (ENOSPC from the kernel, any user), a
small tmpfs filled up (when this process may mount one: root, as in CI's
container), and an injected ``write`` that stops half-way (a torn line).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gctrace_nb import Trace, TraceMetadata
from gctrace_nb.cli.app import main
from gctrace_nb.delivery import audit
from gctrace_nb.delivery.webhook import Outbox, flush_outbox

from _webhook_receiver import Receiver, free_port

STEPS = [{"nodeId": "root", "startTime": "2026-11-28T11:59:50Z", "endTime": "2026-11-28T11:59:55Z"},
         {"nodeId": "pay", "parentId": "root", "startTime": "2026-11-28T11:59:51Z",
          "endTime": "2026-11-28T11:59:52Z", "status": "FAILED", "errorMessage": "card declined"}]
HAVE_DEV_FULL = os.path.exists("/dev/full")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    for name in ("GCTRACE_WEBHOOK_SECRET", "GCTRACE_AUDIT_DIR", "GCTRACE_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, audit.DailyAuditHandler):
            logger.removeHandler(handler)
            handler.close()


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 256 KB tmpfs, filled to the last byte; skipped where this process may not mount."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): /dev/full and injected failures cover the rest")
    try:
        (mount / "state" / "audit").mkdir(parents=True)
        _fill(mount)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(mount: Path) -> None:
    """Write until the file system is full (unbuffered: nothing left to fail on close)."""
    with open(mount / "filler", "ab", buffering=0) as fh:
        for size in (65536, 4096, 1):
            try:
                while True:
                    fh.write(b"x" * size)
            except OSError:
                pass


def today_file(directory: Path) -> Path:
    return directory / f"audit-{dt.datetime.now(dt.timezone.utc).date().isoformat()}.jsonl"


def lines_of(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").splitlines()


# ----------------------------------------------------------------- audit log
def test_a_torn_audit_line_is_ended_before_the_next_line(tmp_path):
    directory = tmp_path / "audit"
    handler = audit.configure_audit_log(directory)
    audit.audit_event("first")
    path = handler.path
    with open(path, "ab") as fh:  # a process killed mid-write left half a line
        fh.write(b'{"event": "torn", "fie')
    audit.audit_event("second", n=2)
    lines = lines_of(path)
    assert lines[1] == '{"event": "torn", "fie'  # kept as it is, on its own line
    assert json.loads(lines[2])["event"] == "second"  # was: appended onto the torn line, both invalid
    assert len(lines) == 3


def test_a_half_written_audit_line_is_taken_back_and_reported_once(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "audit"
    handler = audit.configure_audit_log(directory)
    audit.audit_event("kept")
    before = handler.path.read_bytes()

    calls = []

    def half_then_full(fd, data):  # the disk fills in the middle of a line: a short write, then ENOSPC
        calls.append(len(data))
        if len(calls) % 2:
            return os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit, "_write", half_then_full)
    lost = audit.lost_lines()
    for n in range(4):
        audit.audit_event("lost", n=n)
    assert handler.path.read_bytes() == before  # whole or absent: no torn line left
    assert audit.lost_lines() == lost + 4
    err = capsys.readouterr().err
    assert err.count("audit log lines are being lost") == 1 and "No space left on device" in err
    assert "Traceback" not in err and "Logging error" not in err
    monkeypatch.undo()
    audit.audit_event("after")
    assert [json.loads(line)["event"] for line in lines_of(handler.path)] == ["kept", "after"]


def _trace_cli(sim, state: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GENESYS_CLIENT_ID="sim-id", GENESYS_CLIENT_SECRET="sim-secret",
               GCTRACE_STATE_DIR=str(state))
    return subprocess.run(
        [sys.executable, "-m", "gctrace_nb", "trace", "--flow-id", "inbound-main", "--action-id", "inv-7",
         "--api-url", sim.api_url, "--login-url", sim.login_url, "--format", "json", *extra],
        env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])


def _assert_one_line_and_exit_1(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 1, done.stderr  # was 0, with four logging tracebacks
    assert done.stderr.count("audit log lines are being lost") == 1
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    assert json.loads(done.stdout)["steps"] > 0  # the result is still printed


@pytest.mark.skipif(not HAVE_DEV_FULL, reason="no /dev/full")
def test_gctrace_trace_with_a_full_audit_disk_says_so_once_and_exits_1(tmp_path):
    from gctrace_nb.simulator import Simulator

    state = tmp_path / "state"
    (state / "audit").mkdir(parents=True)
    today_file(state / "audit").symlink_to("/dev/full")  # every write: ENOSPC
    with Simulator(seed=2, client_id="sim-id", client_secret="sim-secret") as sim:
        _assert_one_line_and_exit_1(_trace_cli(sim, state))


def test_gctrace_trace_on_a_full_tmpfs_says_so_once_and_exits_1(full_tmpfs):
    from gctrace_nb.simulator import Simulator

    with Simulator(seed=2, client_id="sim-id", client_secret="sim-secret") as sim:
        _assert_one_line_and_exit_1(_trace_cli(sim, full_tmpfs / "state"))
    assert not any(full_tmpfs.rglob("*.tmp"))


# -------------------------------------------------------------------- outbox
def test_a_rewrite_that_fails_on_a_full_disk_leaves_no_tmp_and_loses_nothing(full_tmpfs, capsys):
    os.remove(full_tmpfs / "filler")  # room for the records...
    box = Outbox(full_tmpfs / "box")
    with Receiver() as receiver:
        box.append(receiver.url, b'{"a":1}', "key-1")
        box.append(receiver.url, b'{"a":2}', "key-2")
        _fill(full_tmpfs)  # ...then the disk is full: the first delivery cannot be taken out
        with pytest.raises(OSError):
            flush_outbox(box, max_attempts=1)
        code = main(["webhook", "flush", "--state-dir", str(box.directory), "--max-attempts", "1"])
    assert code == 1 and "cannot use the outbox" in capsys.readouterr().err
    assert not list(box.directory.glob("*.tmp"))  # was: an orphan .tmp per failed rewrite
    # delivered but still queued: sent again later, with the same key (at-least-once)
    assert [r.idempotency_key for r in box.records()] == ["key-1", "key-2"]
    assert {r.key for r in receiver.received} == {"key-1"}


def test_an_orphan_tmp_from_a_killed_rewrite_is_removed(tmp_path):
    box = Outbox(tmp_path / "box")
    box.append("http://127.0.0.1:9/h", b"{}", "k1")
    box.append("http://127.0.0.1:9/h", b"{}", "k2")
    orphan = box.directory / f".{box.path.name}.99999.tmp"
    orphan.write_text("half a rewrite")
    box.remove("k1")
    assert not orphan.exists()
    assert [r.idempotency_key for r in box.records()] == ["k2"]


# ---------------------------------------------------------------- webhook send
def _send(tmp_path: Path, capsys, state: Path, url: str) -> tuple[int, dict, str]:
    trace = Trace(STEPS, TraceMetadata(source="debug", flow_id="flow-1", job_id="job-1"))
    saved = trace.save(tmp_path / f"trace-{uuid.uuid4().hex[:6]}.json")
    code = main(["webhook", "send", str(saved), "--url", url, "--max-attempts", "1", "--timeout", "2",
                 "--state-dir", str(state), "--audit-dir", str(tmp_path / "audit")])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_webhook_send_with_an_unwritable_state_dir_is_not_queued_and_prints_the_summary(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the state directory should be")
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: not delivered
    code, out, err = _send(tmp_path, capsys, blocker / "state", url)
    assert code == 1  # was 5, "queued", while the JSON said queued: false
    assert out["delivered"] is False and out["queued"] is False and "outbox not written" in out["error"]
    assert out["summary"]["flowId"] == "flow-1" and out["summary"]["failedNodes"] == ["pay"]
    assert "not in the outbox" in err
    with Receiver() as receiver:  # the printed summary can be sent again as it is
        from gctrace_nb.delivery.webhook import WebhookSender

        assert WebhookSender(receiver.url, secret=None, outbox=None).send(out["summary"]).delivered
    assert json.loads(receiver.received[0].body) == out["summary"]


@pytest.mark.skipif(not HAVE_DEV_FULL, reason="no /dev/full")
def test_webhook_send_with_a_full_outbox_disk_is_not_queued(tmp_path, capsys):
    state = tmp_path / "state"
    state.mkdir()
    (state / "webhook-outbox.jsonl").symlink_to("/dev/full")
    code, out, _ = _send(tmp_path, capsys, state, f"http://127.0.0.1:{free_port()}/hook")
    assert code == 1 and out["queued"] is False and "summary" in out


def test_webhook_send_still_exits_5_when_the_summary_waits_in_the_outbox(tmp_path, capsys):
    code, out, _ = _send(tmp_path, capsys, tmp_path / "state", f"http://127.0.0.1:{free_port()}/hook")
    assert code == 5 and out["queued"] is True and "summary" not in out
    assert len(Outbox(tmp_path / "state").records()) == 1
