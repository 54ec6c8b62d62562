"""Write the notebooks in ``notebooks/`` from the cell sources below, without outputs.

The notebooks are generated, not edited by hand, so they stay reproducible
(fixed cell ids, no outputs, no execution counts) and diff cleanly in git.
Change a notebook here and run::

    .venv/bin/python scripts/make_notebooks.py           # write notebooks/*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if any cell source differs

``--check`` compares cell types, ids and sources only: a notebook saved from
JupyterLab with its outputs still matches (``make lab`` strips outputs on save
anyway, through ``jupyter_server_config.py``).

Every notebook runs offline against the bundled simulator (``04_real_genesys``
uses Genesys Cloud only when ``GENESYS_CLIENT_ID`` is set), and never prints a
secret: credentials go from the simulator (or the environment) straight into
``Settings``, whose ``repr`` masks them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

SETUP = '''\
# Figures are written as plotly's own MIME type plus self-contained HTML, so they show in
# JupyterLab and also survive `jupyter nbconvert --to html` (otherwise nbconvert drops them).
import plotly.io as pio

pio.renderers.default = "plotly_mimetype+notebook"'''

FIND_ROOT = '''\
from pathlib import Path

# The repository root: the first folder upwards that holds data/batch (works from notebooks/ or the root).
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "batch").is_dir())'''


def md(text: str) -> dict:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> dict:
    return new_code_cell(text.strip("\n"))


QUICKSTART = [
    md("""
# Quickstart: one trace, end to end

This notebook starts the **bundled simulator** (a Genesys Cloud look-alike on `127.0.0.1`),
runs a flow debug trace with the client, and looks at it as tables, a DAG and a gantt, then
posts the webhook summary to the simulator's sink. Nothing leaves the machine.
"""),
    code(SETUP),
    md("## Start the simulator and build a client"),
    code('''
from gctrace_nb import GenesysClient, Settings
from gctrace_nb.simulator import Simulator

sim = Simulator(seed=7).start()
client_id, client_secret = sim.credentials  # never printed: Settings masks the secret
settings = Settings(client_id=client_id, client_secret=client_secret,
                    api_url=sim.api_url, login_url=sim.login_url)
client = GenesysClient(settings)
settings
'''),
    md("""
## Run a trace

`client.trace` validates the request locally (depth 1-50, at least one capture directive,
JSON inputs), submits it, and polls the job; each poll is reported to `on_progress`.
"""),
    code('''
trace = client.trace(
    flow_id="inbound-call",
    action_invocation_id="quickstart-1",
    depth=10,
    simulated_inputs={"ani": "+33123456789", "language": "en-US"},
    on_progress=lambda event: print(event.message),
)
trace
'''),
    code("print(trace.summary_text())"),
    md("## Frames\n\nOne row per step, with its own time (`self_ms`) and its share of the critical path."),
    code('''
import polars as pl

trace.steps.select("node_id", "name", "parent_id", "duration_ms", "self_ms", "critical_ms",
                   "on_critical_path", "status")
'''),
    code('''
# Where the time goes: the steps with the most time of their own.
trace.steps.sort("self_ms", descending=True).select("node_id", "name", "self_ms", "critical_ms").head(5)
'''),
    code("trace.segments  # the critical path in time: which step held it when"),
    md("## DAG\n\nThe bottleneck has a fill of its own; the critical path's steps are tinted by their share of the "
       "time and joined by bold arrows in the order they ran; failed steps have a red double border."),
    code('''
from gctrace_nb.render import dag, gantt

dag(trace)
'''),
    md("## Gantt"),
    code("gantt(trace)"),
    md("""
## Webhook

`post_summary` builds the summary (bottleneck, accuracy, retrieval latency...) and delivers it
with retries and an idempotency key. Here it goes to the simulator's sink.
"""),
    code('''
from gctrace_nb import post_summary

result = post_summary(trace, sim.webhook_url, outbox=None)
assert result.delivered, result
result.to_json()
'''),
    code("sim.webhook_deliveries[-1].json()  # what the receiver got"),
    code('''
client.close()
sim.stop()
'''),
]

BATCH = [
    md("""
# Batch analysis: 60 saved traces

`load_traces` reads a folder of saved traces and analyses them all at once (the same figures
as one trace at a time). This notebook asks: which steps are slow, which fail, and did
anything change between the first and the second half of the traces?
"""),
    code(SETUP),
    code(FIND_ROOT),
    code('''
import polars as pl
import plotly.express as px

from gctrace_nb import load_traces

ts = load_traces(ROOT / "data" / "batch", progress=False)
assert len(ts) == 60 and not ts.errors, ts
ts
'''),
    md("## One row per trace"),
    code('ts.traces.select("file", "start", "total_ms", "bottleneck", "bottleneck_ms", "failed_count", "accuracy_rate").head(10)'),
    code('''
px.histogram(ts.traces, x="total_ms", nbins=20, title="End-to-end time per trace (ms)")
'''),
    md("## Per node\n\nPercentiles of each step's duration, its failure rate and its share of end-to-end time."),
    code('''
nodes = ts.nodes(by="name")
nodes.select("name", "count", "duration_p50_ms", "duration_p95_ms", "failure_rate", "critical_rate",
             "critical_share").head(15)
'''),
    md("### The slowest steps (p95 of duration)"),
    code('''
slowest = nodes.sort("duration_p95_ms", descending=True).head(10)
slowest.select("name", "count", "duration_p50_ms", "duration_p95_ms", "duration_p99_ms")
'''),
    code('''
px.bar(slowest, x="duration_p95_ms", y="name", orientation="h", title="Slowest steps: p95 duration (ms)")
'''),
    md("### The most failing steps"),
    code('''
failing = nodes.filter(pl.col("failed_count") > 0).sort(["failure_rate", "failed_count"], descending=True)
failing.select("name", "count", "failed_count", "failure_rate").head(10)
'''),
    code('''
# The error messages behind those failures.
(ts.steps.filter(pl.col("failed"))
   .group_by("name", "error_message").agg(count=pl.len())
   .sort("count", descending=True).head(10))
'''),
    md("""
## Compare two halves

Split the traces by start time and compare each step's median duration and failure rate.
"""),
    code('''
order = ts.traces.sort("start")["trace_id"]
half = len(order) // 2
first, second = set(order[:half].to_list()), set(order[half:].to_list())

def per_step(ids):
    return (ts.steps.filter(pl.col("trace_id").is_in(sorted(ids)))
            .group_by(pl.coalesce("name", "node_id").alias("name"))
            .agg(p50_ms=pl.col("duration_ms").median(), failure_rate=pl.col("failed").mean(), count=pl.len()))

comparison = (per_step(first).join(per_step(second), on="name", suffix="_second", how="full", coalesce=True)
              .with_columns(delta_p50_ms=pl.col("p50_ms_second") - pl.col("p50_ms"),
                            delta_failure_rate=pl.col("failure_rate_second") - pl.col("failure_rate"))
              .sort(pl.col("delta_p50_ms").abs(), descending=True, nulls_last=True))
comparison.head(10)
'''),
    code('''
px.bar(comparison.head(10), x="delta_p50_ms", y="name", orientation="h",
       title="Change in median duration, second half minus first (ms)")
'''),
    md("## The hand-made samples in `data/`"),
    code('''
from gctrace_nb import load_trace

samples = {name: load_trace(ROOT / "data" / f"{name}.json")
           for name in ("inbound_call", "payment_failure", "dirty_trace")}
pl.DataFrame([{"trace": name, "steps": t.analysis.steps_total, "valid": t.analysis.valid_steps,
               "total_ms": t.analysis.total_ms, "failed": len(t.analysis.failed_nodes),
               "anomalies": len(t.analysis.anomalies),
               "bottleneck": t.analysis.bottleneck.node_id if t.analysis.bottleneck else None}
              for name, t in samples.items()])
'''),
    code('''
from gctrace_nb.render import gantt

gantt(samples["payment_failure"])
'''),
    code('''
# The dirty trace: every anomaly kind, analysed rather than refused.
samples["dirty_trace"].anomalies
'''),
]

LAUNCHER = [
    md("""
# The launcher form

`TraceLauncher` is a form: connection, flow, depth, capture directives, simulated inputs,
webhook. **Launch** runs the trace in a background thread (the kernel stays free, **Cancel**
stops it) and fills the tabs Summary, Steps, DAG, Gantt and Raw JSON.

Here the form is driven from code, the way the test suite runs it headless; in JupyterLab you
would fill it in and click.
"""),
    code(SETUP),
    code('''
import tempfile

from IPython.display import HTML, display

from gctrace_nb import TraceLauncher
from gctrace_nb.simulator import Simulator

sim = Simulator(seed=11).start()
out_dir = tempfile.mkdtemp(prefix="gctrace-launcher-")
launcher = TraceLauncher(simulator=sim, out_dir=out_dir, webhook_options={"outbox": None})
launcher
'''),
    md("## Fill the form and launch"),
    code('''
launcher.flow_id.value = "inbound-call"
launcher.action_invocation_id.value = "launcher-demo-1"
launcher.depth.value = 12
launcher.inputs.value = '{"ani": "+33123456789", "language": "fr-FR"}'
display(HTML(launcher.inputs_status.value))  # the inputs are checked as you type

launcher.launch_button.click()
assert launcher.wait(60)
display(HTML(launcher.progress.value), HTML(launcher.message.value))
assert launcher.trace is not None, launcher.message.value
'''),
    code("launcher.trace  # the result is an ordinary Trace"),
    code("launcher.trace.steps.head()"),
    md("## Save it and post the webhook"),
    code('''
launcher.save_button.click()
display(HTML(launcher.message.value))
launcher.webhook_button.click()  # blank URL on the simulator connection: the simulator's sink
assert launcher.wait(30)
display(HTML(launcher.message.value))
assert len(sim.webhook_deliveries) == 1
'''),
    md("## Errors are messages in the form, never tracebacks"),
    code('''
launcher.flow_id.value = ""
launcher.inputs.value = '{"ani": '
launcher.launch_button.click()          # refused locally: nothing is sent
display(HTML(launcher.inputs_status.value), HTML(launcher.message.value))
'''),
    code('''
launcher.flow_id.value = "inbound-call"
launcher.inputs.value = ""
_ = sim.set_faults(forbidden=True)      # the OAuth client lacks a permission
launcher.launch_button.click()
assert launcher.wait(60)
display(HTML(launcher.message.value))
_ = sim.set_faults(forbidden=False)
'''),
    md("## Cancel\n\nThe simulator answers 429 with `Retry-After: 30`; the progress shows the wait, Cancel ends it."),
    code('''
import time

_ = sim.set_faults(rate_429=1.0, retry_after_s=30)
launcher.launch_button.click()
deadline = time.monotonic() + 20
while not any(e.status == "retrying" for e in launcher.events) and time.monotonic() < deadline:
    time.sleep(0.05)
display(HTML(launcher.progress.value))
launcher.cancel_button.click()
assert launcher.wait(10)
display(HTML(launcher.message.value))
_ = sim.set_faults(rate_429=0.0)
'''),
    md('''
## The form stays live

After **Run All** the form above is still connected: change the flow or the inputs and click
**Launch** yourself. The next cell cleans up, but only once you change `FINISHED = False` to
`True` in it: Run All leaves the form alone.
'''),
    code('''
# ---- CLEAN UP: when you are done with the form, change False to True and run this cell ----
# Run All leaves the form live: with FINISHED = False this cell does nothing.
FINISHED = False
if FINISHED:
    launcher.close()
    sim.stop()
    print("form closed, simulator stopped")
else:
    print("the form is still live; change FINISHED to True in this cell and run it to close it")
'''),
]

REAL = [
    md("""
# Real Genesys Cloud: execution history and data action tests

Genesys Cloud does not publish a flow "debug trace" endpoint; what it does have is

* **flow execution history** (flow instances): query, start a job, download each instance's
  execution document, convert it to steps (`fetch_history_traces`);
* **data action tests**: `POST /api/v2/integrations/actions/{id}/test` (`run_action_test`).

With `GENESYS_CLIENT_ID` and `GENESYS_CLIENT_SECRET` (and `GENESYS_REGION`) set, this notebook
uses your org (set `GENESYS_FLOW_ID` and `GENESYS_ACTION_ID` too); otherwise it runs against the
bundled simulator, which serves the same endpoints. See `docs/real-genesys.md` for the
permissions and for enabling execution data.
"""),
    code(SETUP),
    code('''
import os

from gctrace_nb import GenesysClient, Settings

if os.environ.get("GENESYS_CLIENT_ID"):
    sim = None
    settings = Settings.from_env()
    flow_id = os.environ.get("GENESYS_FLOW_ID")
    action_id = os.environ.get("GENESYS_ACTION_ID")
    failing_action_id = os.environ.get("GENESYS_FAILING_ACTION_ID")
    assert flow_id and action_id, (
        "set GENESYS_FLOW_ID (a flow whose executions to fetch) and GENESYS_ACTION_ID (a data action to test)")
    print("Using Genesys Cloud at", settings.api_url)
else:
    from gctrace_nb.simulator import Simulator

    sim = Simulator(seed=5).start()
    client_id, client_secret = sim.credentials  # never printed
    settings = Settings(client_id=client_id, client_secret=client_secret,
                        api_url=sim.api_url, login_url=sim.login_url)
    flow_id = next(iter(sim.history_flows))    # the simulator's busiest flow
    action_id = "custom_-_account-lookup"
    failing_action_id = "custom_-_payment-fail"
    print("GENESYS_CLIENT_ID is not set: using the simulator at", settings.api_url)
client = GenesysClient(settings)
'''),
    md("## Flow execution history"),
    code('''
from gctrace_nb import fetch_history_traces

problems = []
traces = fetch_history_traces(client, flow_id=flow_id, limit=10, errors=problems,
                              on_progress=lambda e: print(e.message))
print(f"{len(traces)} traces, {len(problems)} instances could not be read")
'''),
    code('''
import polars as pl

pl.DataFrame([{
    "instance": t.metadata.extra.get("instance_id") or t.name,
    "flow": t.metadata.extra.get("flow_name"),
    "steps": t.analysis.steps_total,
    "total_ms": t.analysis.total_ms,
    "failed": len(t.analysis.failed_nodes),
    "bottleneck": t.analysis.bottleneck.node_id if t.analysis.bottleneck else None,
} for t in traces])
'''),
    code('''
history_trace = traces[0]
print(history_trace.summary_text())
'''),
    code('''
from gctrace_nb.render import dag, gantt

gantt(history_trace)
'''),
    code("dag(history_trace)"),
    md("## Data action tests\n\nNo timing comes back from the API: the call is timed on the client."),
    code('''
from gctrace_nb import run_action_test

action_trace = run_action_test(client, action_id, {"accountNumber": "4521-0098"})
action_trace
'''),
    code('action_trace.steps.select("node_id", "name", "duration_ms", "status", "error_message")'),
    code('''
if failing_action_id:
    failed = run_action_test(client, failing_action_id, {"amount": 12.5})
    display(failed.steps.select("node_id", "status", "error_message"))
'''),
    code('''
client.close()
if sim is not None:
    sim.stop()
'''),
]

LIVE = [
    md("""
# Live: watch a flow's executions as they end

Genesys Cloud pushes every execution of a flow, as it ends, on the notification topic
`v2.flows.instances.flow.{flowId}`, with a signed link to the full execution document.
`gc.LiveView` subscribes, keeps a WebSocket open (heartbeats, ping/pong, reconnects) in a
background thread, and shows each execution analysed as it arrives: place a test call, and
its trace appears here seconds later.

This notebook uses the **bundled simulator**, which speaks the same protocol: `sim.place_call(flow_id)`
plays the part of a caller. Nothing leaves the machine.
"""),
    code(SETUP),
    code('''
import gctrace_nb as gc
from gctrace_nb import GenesysClient, Settings
from gctrace_nb.simulator import Simulator

FLOW_ID = "5e4f0c1a-demo-flow"
sim = Simulator(seed=7).start()
sim.notifications.heartbeat_interval_s = 1.0  # Genesys sends one about every 30 s
client_id, client_secret = sim.credentials
client = GenesysClient(Settings(client_id=client_id, client_secret=client_secret,
                                api_url=sim.api_url, login_url=sim.login_url))
'''),
    md("## Start watching\n\nThe view runs in the background: the next cells run while it listens."),
    code('''
view = gc.LiveView(flow_id=FLOW_ID, client=client, heartbeat_interval_s=1.0)
view
'''),
    md("## Place three calls\n\nThe second one's payment data action fails; the third one's history link has already "
       "expired when it arrives, so its trace is built from the event's own items (ends inferred)."),
    code('''
import time

while view.status.state != "connected":
    time.sleep(0.05)
sim.place_call(FLOW_ID, fail=False)
sim.place_call(FLOW_ID, fail=True)
sim.place_call(FLOW_ID, fail=False, history_uri_ttl_s=0)
assert view.wait_for(3, timeout=60), view.status
for label, _ in view.table.options:
    print(label)
'''),
    md("## The running per-node summary"),
    code("view.node_summary().head(8)"),
    md("## Open one execution\n\nSelecting a row in the view opens it; `view.select(i)` does the same from code."),
    code('''
trace = view.select(1)
print(trace.summary_text())
'''),
    code('''
from gctrace_nb.render import gantt

gantt(trace)
'''),
    md("## The connection survives what the service does\n\nThe service warns it is closing the socket "
       "(`v2.system.socket_closing`): the view reconnects on the same channel and misses nothing."),
    code('''
sim.notifications.close_sockets()
while view.status.reconnects == 0 or view.status.state != "connected":
    time.sleep(0.05)
sim.place_call(FLOW_ID)
assert view.wait_for(4, timeout=60)
print(view.status.line())
'''),
    md("## The same without widgets: `gc.watch`\n\n`gc.watch` yields one `Trace` per execution; the "
       "command line has it too: `gctrace live --flow-id F --count 3 --format json`."),
    code('''
view.stop()  # deletes its subscriptions
import threading

threading.Timer(1.0, lambda: sim.place_call(FLOW_ID)).start()
for trace in gc.watch(FLOW_ID, client=client, count=1, timeout=60, heartbeat_interval_s=1.0):
    print(trace.name, trace.metadata.extra["detail"], f"{trace.analysis.total_ms:,.0f} ms")
'''),
    code('''
client.close()
sim.stop()
'''),
]

NOTEBOOK_CELLS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_batch_analysis.ipynb": BATCH,
    "03_launcher.ipynb": LAUNCHER,
    "04_real_genesys.ipynb": REAL,
    "05_live.ipynb": LIVE,
}


def build(name: str, cells: list[dict]) -> nbformat.NotebookNode:
    """Return the notebook ``name`` with fixed cell ids and no outputs."""
    nb = new_notebook(cells=cells)
    stem = name.split("_", 1)[0]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"c{stem}-{index:02d}"
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name, NOTEBOOK_CELLS[name])) + "\n"


def cell_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """What the generator decides about a notebook: each cell's type, id and source.

    Outputs, execution counts and metadata are left out: JupyterLab autosaves them
    (and a kernel's language_info) while the notebook is used, and that must not
    make a notebook "out of date".
    """
    return [(cell.cell_type, cell.get("id", ""), cell.source) for cell in nb.cells]


def up_to_date(name: str, path: Path) -> bool:
    """Return whether ``path`` holds the generator's cells for ``name`` (outputs and metadata ignored)."""
    if not path.exists():
        return False
    try:
        on_disk = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook is simply out of date
        return False
    return cell_sources(on_disk) == cell_sources(build(name, NOTEBOOK_CELLS[name]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    parser.add_argument("--out", type=Path, default=NOTEBOOKS, help="where to write (default: notebooks/)")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOK_CELLS:
        text = render(name)
        path = args.out / name
        if args.check:
            if not up_to_date(name, path):
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run scripts/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
