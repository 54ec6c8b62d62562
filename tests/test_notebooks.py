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


# Cells run after a notebook's own (as "Run All" would leave the kernel), before the KERNEL cell.
AFTER_RUN_ALL = {
    # Run All must leave the form alive; its clearly marked last cell cleans up only when asked
    "03_launcher.ipynb": [
        """
import socket
assert launcher.widget.comm is not None, "Run All closed the form"
socket.create_connection((sim.host, sim.port), timeout=5).close()  # the simulator still serves
print("FORM-ALIVE-AFTER-RUN-ALL")
""",
        "FINISH_WITH_THE_LAST_NOTEBOOK_CELL",
        """
assert launcher.widget.comm is None
print("FORM-CLOSED-BY-CLEANUP")
""",
    ],
}


def execute(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook (plus a last cell naming the kernel's Python); return it executed and the seconds."""
    nb = nbformat.read(path, as_version=4)
    own_code = [c for c in nb.cells if c.cell_type == "code"]
    for source in AFTER_RUN_ALL.get(path.name, ()):
        if source == "FINISH_WITH_THE_LAST_NOTEBOOK_CELL":  # the user flips the flag and runs the cell
            assert "FINISHED = False" in own_code[-1].source, path.name
            source = own_code[-1].source.replace("FINISHED = False", "FINISHED = True")
        source = source.strip()
        nb.cells.append(nbformat.v4.new_code_cell(source))
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
                 "Retry-After", "Cancelled", "the form is still live", "FORM-ALIVE-AFTER-RUN-ALL",
                 "form closed, simulator stopped", "FORM-CLOSED-BY-CLEANUP"):
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


def committed_text(path: Path) -> str:
    """The notebook as git holds it (the index: what is committed or about to be), else the file.

    Using a notebook in JupyterLab may leave outputs in the working file; that is not a
    commit, and must not fail the tests.
    """
    rel = path.relative_to(ROOT).as_posix()
    result = subprocess.run(["git", "-C", str(ROOT), "show", f":{rel}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else path.read_text(encoding="utf-8")


def test_notebooks_are_committed_without_outputs():
    for path in all_notebooks():
        nb = nbformat.reads(committed_text(path), as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} {cell.id}"
        assert "widgets" not in nb.metadata, path.name


def test_first_code_cell_sets_the_plotly_renderer():
    for path in all_notebooks():
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert 'pio.renderers.default = "plotly_mimetype+notebook"' in first.source, path.name


def test_notebooks_match_their_generator():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def with_outputs(path: Path) -> nbformat.NotebookNode:
    """The notebook as JupyterLab autosaves it after a run: outputs, counts, kernel metadata, widget state."""
    nb = nbformat.read(path, as_version=4)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {n}\n")]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-11-28T12:00:00.000Z"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    return nb


def test_a_notebook_saved_with_outputs_still_matches_its_generator(tmp_path):
    for path in all_notebooks():
        nbformat.write(with_outputs(path), tmp_path / path.name)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # an edited source is still caught
    nb = nbformat.read(tmp_path / "01_quickstart.ipynb", as_version=4)
    nb.cells[-1].source += "\nprint('edited')"
    nbformat.write(nb, tmp_path / "01_quickstart.ipynb")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "01_quickstart.ipynb" in result.stderr


def load_jupyter_config():
    """Load the repository's jupyter_server_config.py the way Jupyter does (``get_config()`` in scope)."""
    import runpy

    from traitlets.config import Config

    config = Config()
    runpy.run_path(str(ROOT / "jupyter_server_config.py"), init_globals={"get_config": lambda: config})
    return config


def test_the_repository_jupyter_config_strips_outputs_on_save(tmp_path):
    hook = load_jupyter_config().FileContentsManager.pre_save_hook
    source = NOTEBOOKS / "03_launcher.ipynb"
    model = {"type": "notebook", "content": json.loads(nbformat.writes(with_outputs(source)))}
    hook(model=model, path="03_launcher.ipynb", contents_manager=None)
    saved = nbformat.reads(json.dumps(model["content"]), as_version=4)
    nbformat.validate(saved)
    assert all(c.outputs == [] and c.execution_count is None for c in saved.cells if c.cell_type == "code")
    assert "widgets" not in saved.metadata
    assert all("execution" not in c.metadata for c in saved.cells)
    assert [c.source for c in saved.cells] == [c.source for c in nbformat.read(source, as_version=4).cells]
    # other files go through untouched
    text_model = {"type": "file", "format": "text", "content": "keep me"}
    hook(model=text_model, path="notes.txt", contents_manager=None)
    assert text_model["content"] == "keep me"


@pytest.mark.filterwarnings("ignore:Overriding existing pre_save_hook")  # traitlets applies the config twice
def test_jupyter_saves_through_the_hook_when_the_server_is_installed(tmp_path):
    filemanager = pytest.importorskip("jupyter_server.services.contents.filemanager")
    manager = filemanager.FileContentsManager(root_dir=str(tmp_path), config=load_jupyter_config())
    nb = with_outputs(NOTEBOOKS / "03_launcher.ipynb")
    manager.save({"type": "notebook", "content": json.loads(nbformat.writes(nb))}, "03_launcher.ipynb")
    on_disk = nbformat.read(tmp_path / "03_launcher.ipynb", as_version=4)
    assert all(c.outputs == [] for c in on_disk.cells if c.cell_type == "code")
