"""Every notebook in ``notebooks/`` runs top to bottom, offline, without an error cell.

Each is executed with nbclient in a kernel of this virtual environment, from
``notebooks/`` (as JupyterLab would), against the bundled simulator: no
``GENESYS_*`` credentials are visible to the kernel. A canary secret in
``GENESYS_CLIENT_SECRET`` and the simulator's own secret must not appear in
any output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ("01_quickstart.ipynb", "02_batch_analysis.ipynb", "03_launcher.ipynb", "04_real_genesys.ipynb",
            "05_live.ipynb")
NEED_DOT = {"01_quickstart.ipynb", "04_real_genesys.ipynb"}
CANARY = "canary-secret-3f9a1c"
SIMULATOR_SECRET = "sim-secret"
CELL_TIMEOUT = 180

pytestmark = pytest.mark.notebook


def all_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    for name in ("GENESYS_CLIENT_ID", "GENESYS_REGION", "GENESYS_API_URL", "GENESYS_LOGIN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CANARY)
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GCTRACE_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.setenv("GCTRACE_WEBHOOK_SECRET", "")
    return tmp_path


def execute(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook (plus a last cell naming the kernel's Python); return it executed and the seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.monotonic()
    client.execute()
    return nb, time.monotonic() - started


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def test_the_notebooks_exist():
    assert {p.name for p in all_notebooks()} >= set(EXPECTED)


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_without_error_cells(path, kernel_env, request):
    if path.name in NEED_DOT:
        request.getfixturevalue("dot_binary")
    nb, seconds = execute(path)
    print(f"{path.name}: {seconds:.1f} s")

    outs = outputs(nb)
    errors = [o for o in outs if o.get("output_type") == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    stderr = "".join(o.get("text", "") for o in outs if o.get("name") == "stderr")
    assert "Traceback" not in stderr
    # the kernel is this virtual environment's Python
    (last,) = nb.cells[-1].outputs
    assert last["text"].strip() == f"KERNEL {sys.executable}"
    # no secret is ever shown
    shown = json.dumps(outs)
    assert CANARY not in shown
    assert SIMULATOR_SECRET not in shown
    CHECKS.get(path.name, lambda _nb: None)(nb)


def _quickstart(nb: nbformat.NotebookNode) -> None:
    kinds = [set(o.get("data", {})) for o in outputs(nb)]
    assert any("application/vnd.plotly.v1+json" in k and "text/html" in k for k in kinds)  # gantt, nbconvert-ready
    assert any("image/svg+xml" in k for k in kinds)  # the DAG
    shown = json.dumps(outputs(nb))
    assert "'delivered': True" in shown and "bottleneckNode" in shown


def _launcher(nb: nbformat.NotebookNode) -> None:
    shown = json.dumps(outputs(nb))
    for text in ("Trace complete", "Webhook delivered", "nothing was sent", "Permission denied (HTTP 403)",
                 "Retry-After", "Cancelled"):
        assert text in shown, text


def _real(nb: nbformat.NotebookNode) -> None:
    shown = json.dumps(outputs(nb))
    assert "using the simulator" in shown and "10 traces, 0 instances could not be read" in shown


def _live(nb: nbformat.NotebookNode) -> None:
    shown = json.dumps(outputs(nb))
    for text in ("(event items)", "p95_ms", "failure_rate", "1 reconnect", "application/vnd.plotly.v1+json",
                 " full ", "4 executions"):
        assert text in shown, text


CHECKS = {"01_quickstart.ipynb": _quickstart, "03_launcher.ipynb": _launcher, "04_real_genesys.ipynb": _real,
          "05_live.ipynb": _live}


def test_notebooks_are_committed_without_outputs():
    for path in all_notebooks():
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} {cell.id}"


def test_first_code_cell_sets_the_plotly_renderer():
    for path in all_notebooks():
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert 'pio.renderers.default = "plotly_mimetype+notebook"' in first.source, path.name


def test_notebooks_match_their_generator():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
