"""The launcher form, driven like a person would: set values, click buttons, read the form.

Every test runs against the simulator over real sockets. The form runs each
launch in a thread; ``launcher.wait()`` joins it, so no test sleeps on a guess.
"""

from __future__ import annotations

import dataclasses
import json
import time

import ipywidgets as widgets
import pytest

from gctrace_nb import load_trace
from gctrace_nb.api.client import GenesysClient
from gctrace_nb.simulator import Simulator
from gctrace_nb.ui.launcher import TAB_TITLES, TraceLauncher, describe_error, parse_inputs


@pytest.fixture(autouse=True)
def _state_dirs(tmp_path, monkeypatch):
    # The webhook outbox and the audit log must not land in the developer's home.
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GCTRACE_AUDIT_DIR", str(tmp_path / "audit"))


@pytest.fixture
def sim():
    with Simulator(seed=3, job_duration_s=0.0) as s:
        yield s


@pytest.fixture
def launcher(sim, tmp_path):
    form = TraceLauncher(simulator=sim, out_dir=tmp_path / "out", webhook_options={"outbox": None})
    yield form
    form.close()


def fill(form: TraceLauncher, flow="flow-main", invocation="inv-1", **values) -> None:
    form.flow_id.value = flow
    form.action_invocation_id.value = invocation
    for name, value in values.items():
        getattr(form, name).value = value


def run(form: TraceLauncher) -> None:
    form.launch_button.click()
    assert form.wait(60), "the launch did not end"


def everything_shown(form: TraceLauncher) -> str:
    """All the text the form shows: message, progress, every tab output, the repr."""
    parts = [form.message.value, form.progress.value, form.inputs_status.value, repr(form)]
    for out in form.outputs.values():
        for item in out.outputs:
            parts.extend(str(v) for v in item.get("data", {}).values())
    return "\n".join(parts)


def tab_data(form: TraceLauncher, title: str) -> dict:
    (item,) = form.outputs[title].outputs
    assert item["output_type"] == "display_data"
    return item["data"]


# ------------------------------------------------------------------- success
def test_launch_fills_every_tab_and_enables_the_result_buttons(launcher, sim, dot_binary):
    fill(launcher, depth=7, inputs='{"ani": "+33123456789"}', capture_data=False)
    assert launcher.save_button.disabled and launcher.cancel_button.disabled

    run(launcher)

    assert "Trace complete" in launcher.message.value, launcher.message.value
    trace = launcher.trace
    assert trace is not None and trace.metadata.job_id in launcher.message.value
    # what was sent is what the form said
    (debug,) = [r for r in sim.requests if r.path.endswith("/debug")]
    body = json.loads(debug.body) if isinstance(debug.body, (str, bytes)) else debug.body
    assert body["traceDepth"] == 7
    assert body["simulatedInputs"] == {"ani": "+33123456789"}
    assert body["contextDirectives"] == {"captureContext": True, "captureData": False}
    # progress came from the client's events
    assert launcher.events and launcher.events[-1].status == "completed"
    assert "completed" in launcher.progress.value and "poll attempts" in launcher.progress.value
    # the tabs
    assert launcher.tabs.titles == TAB_TITLES
    assert trace.metadata.job_id in tab_data(launcher, "Summary")["text/html"]
    assert "gct-headline" in tab_data(launcher, "Summary")["text/html"]  # the headline leads the summary
    steps_html = tab_data(launcher, "Steps")["text/html"]  # the report's steps table, not a raw frame
    assert '<table class="steps"' in steps_html and f"Steps: {len(trace.steps)} " in steps_html
    assert tab_data(launcher, "DAG")["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    plot = tab_data(launcher, "Gantt")["application/vnd.plotly.v1+json"]
    assert plot["data"] and plot["data"][0]["type"] == "bar"
    assert trace.analysis.node_ids[0] in tab_data(launcher, "Raw JSON")["text/plain"]
    assert not launcher.save_button.disabled and not launcher.webhook_button.disabled
    assert launcher.cancel_button.disabled and not launcher.launch_button.disabled
    assert "Traceback" not in everything_shown(launcher)


def test_save_and_post_webhook_buttons(launcher, sim, tmp_path):
    fill(launcher)
    run(launcher)

    launcher.save_button.click()
    saved = launcher.saved_path
    assert saved is not None and saved.parent == tmp_path / "out" and str(saved) in launcher.message.value
    again = load_trace(saved)
    assert again.analysis.total_ms == launcher.trace.analysis.total_ms
    assert again.metadata.job_id == launcher.trace.metadata.job_id

    launcher.webhook_button.click()  # blank URL on the simulator connection: the simulator's sink
    assert launcher.wait(30)
    assert "Webhook delivered" in launcher.message.value, launcher.message.value
    (delivery,) = sim.webhook_deliveries
    assert delivery.json()["jobId"] == launcher.trace.metadata.job_id


def test_saving_twice_never_overwrites_a_saved_trace(launcher, tmp_path):
    fill(launcher)
    run(launcher)
    first = launcher.save()
    first_bytes = first.read_bytes()
    second = launcher.save()
    assert first is not None and second is not None and first != second
    assert first.read_bytes() == first_bytes and second.exists()
    assert second.name == first.stem + "-2.json" and str(second) in launcher.message.value
    assert sorted(p.name for p in (tmp_path / "out").glob("trace-*.json")) == sorted([first.name, second.name])


def test_two_sessions_with_the_same_seed_save_under_different_names(tmp_path):
    saved = []
    for _ in range(2):
        with Simulator(seed=3, job_duration_s=0.0) as sim:
            form = TraceLauncher(simulator=sim, out_dir=tmp_path / "out", webhook_options={"outbox": None})
            try:
                fill(form)
                run(form)
                saved.append((form.trace.metadata.job_id, form.save(), form.trace.analysis.total_ms))
            finally:
                form.close()
    (job_a, path_a, total_a), (job_b, path_b, total_b) = saved
    assert job_a != job_b and path_a != path_b and path_a.exists() and path_b.exists()
    assert total_a == total_b  # the seed still makes the same trace
    assert load_trace(path_a).metadata.job_id == job_a


def test_webhook_rejection_is_a_message(launcher, sim):
    fill(launcher)
    run(launcher)
    sim.set_faults(webhook_status=400)
    launcher.webhook_url.value = sim.webhook_url
    launcher.webhook_button.click()
    assert launcher.wait(30)
    assert "Webhook rejected" in launcher.message.value
    assert "HTTP status: 400" in launcher.message.value


def test_export_report_button(launcher, tmp_path):
    pytest.importorskip("gctrace_nb.report.trace")
    fill(launcher)
    run(launcher)
    launcher.report_button.click()
    path = launcher.report_path
    assert path is not None and path.exists() and path.suffix == ".html"
    assert "Report written" in launcher.message.value


def test_save_to_a_folder_under_home_expands_the_tilde(launcher, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    fill(launcher)
    run(launcher)
    launcher.out_dir.value = "~/traces"
    saved = launcher.save()
    report = launcher.export_report()
    assert saved is not None and saved.parent == tmp_path / "home" / "traces" and saved.exists()
    assert report is not None and report.parent == tmp_path / "home" / "traces"
    assert not (tmp_path / "~").exists()


def test_the_form_runs_in_the_click_without_a_thread(sim, tmp_path):
    form = TraceLauncher(simulator=sim, out_dir=tmp_path, background=False)
    fill(form)
    form.launch_button.click()  # returns only when the trace is shown
    assert form.trace is not None and "Trace complete" in form.message.value
    form.close()


# ---------------------------------------------------------------- validation
def test_inputs_are_checked_as_typed():
    form = TraceLauncher(connection="region")
    form.inputs.value = '{"ani": '
    assert "not valid JSON: line 1" in form.inputs_status.value
    form.inputs.value = "[1, 2]"
    assert "must be a JSON object" in form.inputs_status.value and "array" in form.inputs_status.value
    form.inputs.value = '{"ani": "+33", "lang": "fr"}'
    assert "✓" in form.inputs_status.value and "2 key(s)" in form.inputs_status.value
    form.inputs.value = '{"score": NaN}'  # Python's json reads it; the request could not send it
    assert "✓" not in form.inputs_status.value and "NaN is not a JSON value" in form.inputs_status.value
    form.inputs.value = ""
    assert form.inputs_status.value == ""
    form.close()


def test_validation_errors_are_listed_and_nothing_is_sent(launcher, sim):
    fill(launcher, flow="", invocation="a/b", inputs="[1]", capture_context=False, capture_data=False)
    launcher.launch_button.click()

    assert not launcher.running
    shown = launcher.message.value
    assert "nothing was sent" in shown
    for field in ("flowId", "actionInvocationId", "contextDirectives", "simulatedInputs"):
        assert field in shown
    assert sim.requests == []
    assert launcher.trace is None and launcher.save_button.disabled
    assert "Traceback" not in everything_shown(launcher)


def test_missing_environment_credentials_are_a_message(tmp_path):
    form = TraceLauncher(environ={}, connection="environment")
    fill(form)
    assert form.launch() is False
    assert "connection settings are not usable" in form.message.value
    assert "client_id is missing" in form.message.value
    form.close()


def test_region_connection_needs_a_secret():
    form = TraceLauncher(connection="region")
    fill(form, client_id="abc")
    form.launch_button.click()
    assert "client_secret is missing" in form.message.value
    form.close()


# ----------------------------------------------------------------- API errors
def test_permission_denied_is_a_message(launcher, sim):
    sim.set_faults(forbidden=True)
    fill(launcher)
    run(launcher)
    shown = launcher.message.value
    assert "Permission denied (HTTP 403)" in shown
    assert "architect:flow:debug" in shown and "missing.permissions" in shown
    assert launcher.trace is None and launcher.save_button.disabled
    assert "Traceback" not in everything_shown(launcher)


def test_unknown_flow_is_a_message(launcher):
    fill(launcher, flow="missing-flow")
    run(launcher)
    assert "Not found (HTTP 404)" in launcher.message.value
    assert "missing-flow" in launcher.message.value


def test_failed_job_shows_the_server_message(launcher, sim):
    sim.set_faults(fail_job=True, fail_job_message="data action <payment> timed out")
    fill(launcher)
    run(launcher)
    assert "The trace job failed" in launcher.message.value
    assert "data action &lt;payment&gt; timed out" in launcher.message.value  # escaped, verbatim


def test_an_unexpected_exception_is_a_message_not_a_traceback(sim):
    def broken_factory(settings):
        raise RuntimeError("the client could not be built")

    form = TraceLauncher(simulator=sim, client_factory=broken_factory)
    fill(form)
    run(form)
    assert "Unexpected error" in form.message.value
    assert "RuntimeError: the client could not be built" in form.message.value
    assert not form.launch_button.disabled and form.cancel_button.disabled
    form.close()


# --------------------------------------------------------------------- cancel
def test_cancel_stops_a_wait_for_retry_after(launcher, sim):
    sim.set_faults(rate_429=1.0, retry_after_s=30)
    fill(launcher)
    launcher.launch_button.click()
    deadline = time.monotonic() + 20
    while not any(e.status == "retrying" for e in launcher.events) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert launcher.running, "the trace should be waiting out the Retry-After"
    assert "Retry-After" in launcher.progress.value and "30 s" in launcher.progress.value
    assert "429" in launcher.progress.value
    assert not launcher.cancel_button.disabled and launcher.launch_button.disabled

    launcher.cancel_button.click()
    assert launcher.wait(10), "cancel did not interrupt the 30 s wait"
    assert "Cancelled" in launcher.message.value
    assert launcher.trace is None
    assert not launcher.launch_button.disabled and launcher.cancel_button.disabled
    sent = len(sim.requests)
    time.sleep(0.2)
    assert len(sim.requests) == sent  # nothing more goes out after a cancel


def test_a_second_launch_while_running_is_refused(launcher, sim):
    sim.set_faults(rate_429=1.0, retry_after_s=30)
    fill(launcher)
    assert launcher.launch() is True
    assert launcher.launch() is False
    assert "already running" in launcher.message.value
    launcher.cancel()
    assert launcher.wait(10)


# -------------------------------------------------------------------- secrets
def test_the_secret_is_never_shown_saved_or_kept_in_widget_state(sim, tmp_path):
    client_id, secret = sim.credentials

    def to_simulator(settings):
        # The region's real hosts are not reachable from a test: same settings, simulator URLs.
        local = dataclasses.replace(settings, region=None, api_url=sim.api_url, login_url=sim.login_url)
        return GenesysClient(local)

    form = TraceLauncher(simulator=sim, client_factory=to_simulator, connection="region", out_dir=tmp_path / "o",
                         webhook_options={"outbox": None})
    fill(form, client_id=client_id, client_secret=secret, region="eu_west_1")
    run(form)
    assert "Trace complete" in form.message.value, form.message.value
    assert form.client_secret.value == ""  # moved out of the widget on launch

    form.save_button.click()
    form.webhook_url.value = sim.webhook_url
    form.webhook_button.click()
    assert form.wait(30)
    run(form)  # the kept secret is used again with the field empty
    assert "Trace complete" in form.message.value

    assert secret not in everything_shown(form)
    assert secret not in form.saved_path.read_text()
    assert secret not in json.dumps(widgets.Widget.get_manager_state(), default=str)
    assert secret.encode() not in sim.webhook_deliveries[0].body
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    form.close()


# ------------------------------------------------------------------ helpers
def test_parse_inputs_and_describe_error():
    assert parse_inputs('{"a": 1}') == ({"a": 1}, None)
    assert parse_inputs("3")[1] == "must be a JSON object ({...}), got a number"
    from gctrace_nb.errors import Cancelled

    assert describe_error(Cancelled("x"))[0].startswith("Cancelled")


def test_display_and_import():
    import gctrace_nb

    form = gctrace_nb.TraceLauncher(connection="region")
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert form.state == "idle" and "TraceLauncher" in repr(form)
    form.close()


def test_the_form_starts_and_stops_its_own_simulator(tmp_path):
    form = TraceLauncher(connection="simulator", environ={}, out_dir=tmp_path)
    assert form.simulator is None
    fill(form)
    run(form)
    sim = form.simulator
    assert sim is not None and sim.running and "Trace complete" in form.message.value
    assert sim.api_url in form.connection_note.value
    form.close()
    assert not sim.running and form.simulator is None


def test_without_graphviz_the_dag_tab_says_so_and_the_others_still_show(launcher, monkeypatch):
    monkeypatch.setenv("PATH", "")  # no `dot` to be found
    fill(launcher)
    run(launcher)
    assert "Trace complete" in launcher.message.value
    dag = tab_data(launcher, "DAG")
    assert "Graphviz is not installed" in dag["text/html"] and "apt-get install graphviz" in dag["text/html"]
    assert "application/vnd.plotly.v1+json" in tab_data(launcher, "Gantt")


def test_doctests():
    import doctest

    import gctrace_nb.ui.launcher

    result = doctest.testmod(gctrace_nb.ui.launcher)
    assert result.attempted >= 4 and result.failed == 0
