"""Connecting from the command line: --client-id, the secret asked on a terminal, a dead login host, Ctrl-C.

Real processes and real sockets: the CLI runs as ``python -m gctrace_nb`` against the
simulator on 127.0.0.1 (or a port nothing listens on); a pseudo-terminal stands in for
the user's terminal.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gctrace_nb.cli._connection import connection_from_args
from gctrace_nb.errors import ConfigError
from gctrace_nb.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sim-secret-for-the-cli-7c1e"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "GCTRACE_"))}
    env.update(GCTRACE_STATE_DIR=str(tmp_path / "state"), GCTRACE_AUDIT_DIR=str(tmp_path / "audit"), **extra)
    return env


def ns(**kw) -> argparse.Namespace:
    base = dict(region=None, api_url="http://127.0.0.1:1", login_url="http://127.0.0.1:1", timeout=5.0,
                client_id=None)
    base.update(kw)
    return argparse.Namespace(**base)


class NotATerminal:
    def isatty(self) -> bool:
        return False


class Terminal:
    def isatty(self) -> bool:
        return True


# -------------------------------------------------------------------- --client-id
def test_client_id_flag_beats_the_environment_and_the_secret_stays_in_the_environment():
    settings, _ = connection_from_args(ns(client_id="from-flag"), stdin=NotATerminal(),
                                       environ={"GENESYS_CLIENT_ID": "from-env", "GENESYS_CLIENT_SECRET": "s3"})
    assert settings.client_id == "from-flag" and settings.client_secret.reveal() == "s3"


def test_without_a_secret_and_no_terminal_the_error_names_both_ways():
    with pytest.raises(ConfigError, match="GENESYS_CLIENT_SECRET .*terminal"):
        connection_from_args(ns(client_id="x"), stdin=NotATerminal(), environ={})
    with pytest.raises(ConfigError, match="--client-id ID or set GENESYS_CLIENT_ID"):
        connection_from_args(ns(), stdin=NotATerminal(), environ={"GENESYS_CLIENT_SECRET": "s"})


def test_on_a_terminal_the_secret_is_asked_for():
    asked = []
    settings, _ = connection_from_args(ns(client_id="cid"), stdin=Terminal(), environ={},
                                       ask=lambda prompt: asked.append(prompt) or "typed")
    assert asked == ["client secret for cid: "] and settings.client_secret.reveal() == "typed"
    with pytest.raises(ConfigError, match="no client secret was entered"):
        connection_from_args(ns(client_id="cid"), stdin=Terminal(), environ={}, ask=lambda prompt: "")


def test_the_secret_is_asked_without_echo_on_a_real_terminal(tmp_path):
    with Simulator(seed=3, client_id="cid", client_secret=SECRET, job_duration_s=0.0) as sim:
        argv = [sys.executable, "-m", "gctrace_nb", "trace", "--flow-id", "f", "--action-id", "a",
                "--client-id", "cid", "--api-url", sim.api_url, "--login-url", sim.login_url, "--format", "json"]
        pid, fd = os.forkpty()
        if pid == 0:  # the child: the pty is its controlling terminal
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, argv, cli_env(tmp_path))
            finally:
                os._exit(127)
        seen = b""
        try:
            seen += read_until(fd, b"client secret for cid: ", 30)
            os.write(fd, SECRET.encode() + b"\n")
            seen += read_until(fd, None, 60)
        finally:
            _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert '"job_id"' in text and SECRET not in text  # accepted, and never echoed


def read_until(fd: int, marker: bytes | None, timeout: float) -> bytes:
    """Read the pty until ``marker`` shows (or, with None, until the child closes it)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return out
        if not chunk:
            return out
        out += chunk
        if marker is not None and marker in out:
            return out
    raise AssertionError(f"timed out; read so far: {out!r}")


# ----------------------------------------------------------------- which host failed
def test_an_unreachable_login_host_is_named(tmp_path):
    with Simulator(seed=3) as sim:
        login = f"http://127.0.0.1:{closed_port()}"
        result = subprocess.run(
            [sys.executable, "-m", "gctrace_nb", "trace", "--flow-id", "x", "--action-id", "a", "--client-id", "c",
             "--api-url", sim.api_url, "--login-url", login, "--timeout", "3"],
            cwd=ROOT, env=cli_env(tmp_path, GENESYS_CLIENT_SECRET="s"), capture_output=True, text=True, timeout=60)
        assert not [r for r in sim.requests if r.path.startswith("/api/")]  # the API was never reached
    assert result.returncode == 5, result.stderr
    assert f"login host {login} unreachable while fetching a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_api_host_is_named_too():
    from gctrace_nb.api.client import GenesysClient
    from gctrace_nb.api.config import Settings
    from gctrace_nb.errors import GaveUp
    from gctrace_nb.api.retry import RetryPolicy

    with Simulator(seed=3) as sim:
        api = f"http://127.0.0.1:{closed_port()}"
        client_id, secret = sim.credentials
        settings = Settings(client_id=client_id, client_secret=secret, api_url=api, login_url=sim.login_url)
        with pytest.raises(GaveUp) as caught:
            GenesysClient(settings, policy=RetryPolicy(deadline_s=2)).trace(flow_id="x", action_invocation_id="a")
    assert str(caught.value).startswith(f"API host {api} unreachable: gave up on POST /api/v2/flows/x/debug")


# ------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_during_a_trace_says_the_job_keeps_running_with_its_id(tmp_path):
    with Simulator(seed=3, client_id="cid", client_secret=SECRET, job_duration_s=300.0) as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gctrace_nb", "trace", "--flow-id", "f", "--action-id", "a",
             "--api-url", sim.api_url, "--login-url", sim.login_url],
            cwd=ROOT, env=cli_env(tmp_path, GENESYS_CLIENT_ID="cid", GENESYS_CLIENT_SECRET=SECRET),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not sim.jobs and time.monotonic() < deadline:
                time.sleep(0.05)
            (job_id,) = sim.jobs
            while sim.jobs[job_id].polls < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert f"interrupted: job {job_id} (flow f) keeps running on the server" in err
    assert "Traceback" not in err and out == ""
