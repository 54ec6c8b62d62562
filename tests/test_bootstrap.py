"""What each make target installs: the demo only the package, the tests their tools, the lab JupyterLab."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("pytest", "hypothesis", "playwright", "nbclient")


def make_dry_run(target: str, venv: Path) -> str:
    result = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_each_target_bootstraps_only_the_extras_it_needs(tmp_path):
    venv = tmp_path / "venv"
    demo = make_dry_run("demo", venv)
    assert "bash scripts/bootstrap.sh\n" in demo and "gctrace_nb demo" in demo
    test = make_dry_run("test", venv)
    assert "bash scripts/bootstrap.sh test\n" in test and "-m pytest" in test
    lab = make_dry_run("lab", venv)
    assert "bash scripts/bootstrap.sh notebook\n" in lab
    assert "jupyter lab --config=jupyter_server_config.py --notebook-dir=notebooks" in lab
    assert ("--allow-root" in lab) == (os.geteuid() == 0)


def test_the_demo_bootstrap_installs_the_package_without_test_tools(tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "VENV": str(venv)}  # the same python3 (and uv) that built this .venv
    result = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    assert (venv / ".bootstrapped").exists() and not (venv / ".bootstrapped-test").exists()
    for tool in TEST_TOOLS:
        probe = subprocess.run([str(python), "-c", f"import {tool}"], capture_output=True, text=True)
        assert probe.returncode != 0, f"{tool} was installed for the demo"
    # ... and the demo's own needs are there: the CLI starts
    helped = subprocess.run([str(python), "-m", "gctrace_nb", "demo", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--out" in helped.stdout


def test_an_unknown_extra_is_refused(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "scripts" / "bootstrap.sh"), "tests"], cwd=ROOT,
                            env={**os.environ, "VENV": str(tmp_path / "venv")}, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown extra 'tests'" in result.stderr
    assert not (tmp_path / "venv").exists()
