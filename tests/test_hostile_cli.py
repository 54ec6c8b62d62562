"""``gctrace trace`` and ``gctrace history`` against a hostile third-party server (tests/hostile_server.py).

The server speaks genesys-api.md but with every quirk the contract allows:
short-lived and revoked tokens, 429 with every ``Retry-After`` form, 5xx in
HTML/empty/JSON dress, odd ``Location`` forms, odd status case, gzip, missing
content types, slow answers, paging, pre-signed downloads on another host name.
Each run must print exactly the analysis of the steps the server served.

Most runs are in-process with ``time.sleep`` replaced by a recorder (the CLI
builds its client itself, so this is the only way to inject the sleep): the
waits the client asked for are asserted, and barely slept. The give-up cases
and one subprocess run sleep for real, briefly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gctrace_nb import analyze_steps, load_trace
from gctrace_nb.cli.app import main

from hostile_server import CLIENT_ID, CLIENT_SECRET, Fault, HostileServer, Quirks, burst

REAL_SLEEP = time.sleep


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("GCTRACE_STATE_DIR", str(tmp_path / "state"))
    for name in ("GCTRACE_WEBHOOK_URL", "GCTRACE_AUDIT_DIR", "GENESYS_REGION", "GENESYS_API_URL",
                 "GENESYS_LOGIN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    return monkeypatch


@pytest.fixture
def waits(env):
    """Replace ``time.sleep`` (what the CLI's client sleeps with) by a recorder that barely sleeps."""
    recorded: list[float] = []

    def fake(seconds: float) -> None:
        recorded.append(seconds)
        REAL_SLEEP(min(seconds, 0.01))

    env.setattr(time, "sleep", fake)
    return recorded


def run(argv, capsys, srv=None):
    code = main(argv)
    out, err = capsys.readouterr()
    leaked = [CLIENT_SECRET, *(srv.issued_tokens if srv else [])]
    assert not any(s in out or s in err for s in leaked), "a secret or token was printed"
    return code, out, err


def assert_no_secrets_on_disk(root: Path, srv) -> None:
    """Audit lines, outbox and saved traces under ``root`` hold no secret and no token."""
    files = [f for f in root.rglob("*") if f.is_file()]
    for f in files:
        text = f.read_text(errors="replace")
        assert CLIENT_SECRET not in text and not any(t in text for t in srv.issued_tokens), f


def trace_args(srv, *extra):
    return ["trace", "--flow-id", "flow-h", "--action-id", "inv-h", "--api-url", srv.url, "--login-url", srv.url,
            "--format", "json", *extra]


def history_args(srv, *extra):
    return ["history", "--conversation-id", "conv-hostile", "--api-url", srv.url, "--login-url", srv.url,
            "--format", "json", *extra]


def assert_same_analysis(printed: dict, steps: list) -> None:
    expected = analyze_steps(steps).to_json()
    assert {k: printed.get(k) for k in expected} == expected


def only_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


# ------------------------------------------------------------------ trace
TRACE_CASES = {
    "relative+bursts-everywhere": Quirks(
        token_lifetime_s=2, token_faults=burst(429, 503, retry_after="0"),
        submit_faults=[Fault(429, "1.5"), *burst(502, 503)],
        poll_faults=[Fault(504), Fault(429, "date+1"), Fault(429, None), Fault(503, "0.25", "empty")],
    ),
    "absolute-other-host-name+upper": Quirks(location="absolute_alt_host", status_case="upper",
                                             result_shape="steps", content_type="charset",
                                             submit_faults=burst(503)),
    "purecloud-location+title+gzip": Quirks(location="absolute_purecloud", status_case="title", gzip=True,
                                            poll_faults=burst(502, 502)),
    "bare-id+no-content-type+no-correlation": Quirks(location="bare", content_type="none", correlation=False),
    "query-string-location": Quirks(location="query", result_shape="steps", gzip=True, content_type="charset"),
    "trailing-slash-location": Quirks(location="trailing_slash", submit_status=201),
    "body-id-no-location": Quirks(location="body_id", status_case="upper", in_progress_polls=3),
    "revoked-tokens+401": Quirks(revoke_token_after_uses=1, token_lifetime_s=3, in_progress_polls=2),
    "401-then-token-endpoint-bursts": Quirks(revoke_token_after_uses=1, token_faults_after=1,
                                             token_faults=[Fault(429, "0.5"), *burst(502, 504)]),
    "slow-token-endpoint": Quirks(token_faults=[Fault(503, body="empty", delay_s=0.8)], token_lifetime_s=3),
    "gzip-body-broken-in-transit": Quirks(gzip=True, corrupt_gzip_polls=2, in_progress_polls=0),
    "long-in-progress": Quirks(in_progress_polls=12, token_lifetime_s=1),
    "slow-poll-under-timeout": Quirks(slow_poll_s=0.6, token_lifetime_s=3),
}


@pytest.mark.parametrize("name", list(TRACE_CASES))
def test_trace_survives_and_reports_the_served_analysis(name, waits, capsys, tmp_path):
    with HostileServer(TRACE_CASES[name]) as srv:
        code, out, err = run(trace_args(srv, "--timeout", "60", "--save", str(tmp_path / "t.json")), capsys, srv)
        assert_no_secrets_on_disk(tmp_path, srv)
        assert code == 0, err
        printed = json.loads(out)
        assert list(srv.served_steps) == [printed["job_id"]]  # one job, and the one that was polled
        assert_same_analysis(printed, srv.served_steps[printed["job_id"]])
        assert printed["flow_id"] == "flow-h" and printed["action_invocation_id"] == "inv-h"
        # credentials only ever went to the host name the client was given, never to one a header named
        assert all(h.get("Host") == f"127.0.0.1:{srv.port}" for _, _, h in srv.log if "Authorization" in h)
    if name == "relative+bursts-everywhere":
        assert 1.5 in waits and 3.0 in waits  # Retry-After "1.5", and a 429 without one waits 3 s
        assert 0.25 in waits  # a 503's Retry-After is honoured too
        assert "retrying in 0.0 s (Retry-After)" in err  # Retry-After "0" on the token endpoint
        assert any(0 < w <= 1.0 for w in waits)  # the HTTP-date Retry-After, about 1 s ahead
    if name == "revoked-tokens+401":
        assert len(srv.issued_tokens) >= 4  # a fresh token after each 401, and the request resent
        assert (sum(1 for _, s in srv.statuses if s == 401) >= 3)
    if name == "long-in-progress":
        answered = [p for p, status in srv.statuses if "/api/v2/jobs/" in p and status == 200]
        assert len(answered) == 13 and max(waits) <= 30.0


def test_trace_matches_gctrace_analyze_on_the_served_steps(waits, capsys, tmp_path):
    with HostileServer(Quirks(poll_faults=burst(503), location="absolute_alt_host")) as srv:
        code, out, err = run(trace_args(srv), capsys, srv)
        assert code == 0, err
        printed = json.loads(out)
        served = tmp_path / "served.json"
        served.write_text(json.dumps(srv.served_steps[printed["job_id"]]))
    code, out, err = run(["analyze", str(served), "--format", "json"], capsys)
    assert code == 0, err
    analysed = json.loads(out)
    assert {k: printed[k] for k in analysed if k not in ("file", "name", "source")} == {
        k: v for k, v in analysed.items() if k not in ("file", "name", "source")}


def test_failed_job_exits_3_with_its_message(waits, capsys):
    with HostileServer(Quirks(fail_message="Flow debug failed:\nnode crm timed out", status_case="title")) as srv:
        code, out, err = run(trace_args(srv), capsys, srv)
    assert code == 3 and out == ""
    assert "Flow debug failed: node crm timed out" in only_line(err)


@pytest.mark.parametrize("quirks, words", [
    (Quirks(reject_credentials=True), "refused the client credentials"),
    (Quirks(forbid_submit=True), "lacks a permission"),
    (Quirks(revoke_token_after_uses=0), "refused the access token even after fetching a new one"),
])
def test_bad_credentials_or_permission_exit_4(quirks, words, waits, capsys):
    with HostileServer(quirks) as srv:
        code, out, err = run(trace_args(srv), capsys, srv)
    assert code == 4 and out == "" and words in only_line(err)


def test_endless_429_longer_than_the_deadline_gives_up_at_once_with_5(env, capsys):
    with HostileServer(Quirks(submit_faults=[Fault(429, "30")] * 50)) as srv:
        code, out, err = run(trace_args(srv, "--timeout", "5"), capsys, srv)
        assert len(srv.requests_to("/debug")) == 1  # no point waiting 30 s with 5 s left
    assert code == 5 and "gave up" in only_line(err) and "429" in only_line(err)


def test_endless_5xx_gives_up_with_5(env, capsys):
    with HostileServer(Quirks(poll_faults=burst(502, 503, 504) * 30)) as srv:
        code, out, err = run(trace_args(srv, "--timeout", "1.5"), capsys, srv)
    assert code == 5 and "gave up" in only_line(err)


def test_a_poll_answer_slower_than_the_overall_timeout_gives_up_with_5(env, capsys):
    # the server holds every job answer 4 s; --timeout 1.5 is the overall deadline, so the
    # client must not wait for it (a completed answer arriving after the deadline is too late)
    with HostileServer(Quirks(slow_poll_s=4.0, in_progress_polls=0)) as srv:
        code, out, err = run(trace_args(srv, "--timeout", "1.5"), capsys, srv)
    assert code == 5 and "gave up" in only_line(err), err


def test_a_token_answer_slower_than_the_overall_timeout_sends_nothing_after_it(env, capsys):
    # the login host holds the token 3 s; with --timeout 1.5 no trace may be submitted after the deadline
    with HostileServer(Quirks(slow_token_s=3.0)) as srv:
        code, out, err = run(trace_args(srv, "--timeout", "1.5"), capsys, srv)
        assert srv.requests_to("/debug") == []
    assert code == 5 and "gave up" in only_line(err), err


def test_trace_as_a_real_process_with_real_waits(env, tmp_path):
    # tokens live 1 s; Retry-After 1.5 and 5xx backoffs outlast them: real sleeping, real refreshes
    quirks = Quirks(token_lifetime_s=1, submit_faults=[Fault(429, "1.5")],
                    poll_faults=[Fault(503, body="empty"), Fault(429, "0"), Fault(502, body="html")],
                    location="absolute_alt_host", gzip=True, content_type="charset")
    with HostileServer(quirks) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "gctrace_nb", *trace_args(srv, "--timeout", "30")],
            capture_output=True, text=True, timeout=60, env={**os.environ},
        )
        assert proc.returncode == 0, proc.stderr
        printed = json.loads(proc.stdout)
        assert_same_analysis(printed, srv.served_steps[printed["job_id"]])
        assert len(srv.issued_tokens) >= 2  # the 1 s token was replaced before it ran out
        assert not any(s in proc.stdout + proc.stderr for s in [CLIENT_SECRET, *srv.issued_tokens])


# ---------------------------------------------------------------- history
HISTORY_CASES = {
    "relative-nextUri+faults-everywhere": Quirks(
        instances=5, page_cap=2, token_faults=burst(503),
        query_faults=[Fault(429, "0.5")], jobs_faults=[*burst(503), Fault(429, "date+1")],
        download_faults=[*burst(502, 503), Fault(429, "0")], job_polls_registered=2, job_polls_running=2,
    ),
    "absolute-nextUri+gzip": Quirks(instances=4, page_cap=3, next_uri="absolute", gzip=True,
                                    content_type="charset", token_lifetime_s=1),
    "nextUri-on-another-host-name": Quirks(instances=5, page_cap=2, next_uri="absolute_alt_host"),
    "nextUri-on-api.mypurecloud.com": Quirks(instances=3, page_cap=1, next_uri="absolute_purecloud"),
    "download-broken-in-transit": Quirks(instances=2, corrupt_downloads=1),
    # no nextUri: the SDK's query has no page number, so the first page is all there is, with a warning
    "pageCount-only": Quirks(instances=5, page_cap=2, next_uri="none", correlation=False, content_type="none"),
    "downloads-api-form": Quirks(instances=2, download_form="downloads_api", revoke_token_after_uses=2),
}


@pytest.mark.parametrize("name", list(HISTORY_CASES))
def test_history_survives_and_reports_the_served_analysis(name, waits, capsys, tmp_path):
    quirks = HISTORY_CASES[name]
    with HostileServer(quirks) as srv:
        code, out, err = run(history_args(srv, "--save-dir", str(tmp_path / "saved")), capsys, srv)
        assert code == 0, err
        assert_no_secrets_on_disk(tmp_path, srv)
        printed = json.loads(out)
        fetched = quirks.page_cap if quirks.next_uri == "none" else quirks.instances
        assert sorted(p["instance_id"] for p in printed) == sorted(srv.served_documents) == [
            f"inst-{n}" for n in range(1, fetched + 1)]
        if fetched < quirks.instances:
            assert f"warning: {quirks.instances} flow instances matched but only {fetched}" in err
            assert all(f"{quirks.instances} flow instances matched" in p["warnings"][0] for p in printed)
        for item in printed:
            doc = srv.served_documents[item["instance_id"]]
            expected = load_trace(doc).analysis.to_json()
            assert {k: item[k] for k in expected if k != "file"} == {
                k: v for k, v in expected.items() if k != "file"}
        # pre-signed downloads went to the storage host without the Authorization header
        storage = srv.requests_to("/storage/")
        assert storage and all("Authorization" not in h for _, _, h in storage)
        assert all(h.get("Host") == f"127.0.0.1:{srv.port}" for _, _, h in srv.log if "Authorization" in h)
    if name == "relative-nextUri+faults-everywhere":
        assert 0.5 in waits and "(Retry-After)" in err


def test_history_expired_link_and_failed_entity_exit_3_and_keep_the_rest(waits, capsys):
    with HostileServer(Quirks(instances=4, expired_ids={"inst-2"}, failed_ids={"inst-3"})) as srv:
        code, out, err = run(history_args(srv), capsys, srv)
    assert code == 3
    printed = json.loads(out)
    assert sorted(p["instance_id"] for p in printed) == ["inst-1", "inst-4"]
    lines = err.splitlines()
    assert any("inst-2" in line and "expired" in line for line in lines)
    assert any("inst-3" in line and "could not be prepared" in line for line in lines)
    assert "X-Amz-Signature" not in err  # the signature stays out of messages


def test_history_failed_job_exits_3(waits, capsys):
    with HostileServer(Quirks(history_job_fails="Execution data is not enabled for this org")) as srv:
        code, out, err = run(history_args(srv), capsys, srv)
    assert code == 3 and "Execution data is not enabled" in only_line(err)


def test_history_bad_credentials_exit_4(waits, capsys):
    with HostileServer(Quirks(reject_credentials=True)) as srv:
        code, out, err = run(history_args(srv), capsys, srv)
    assert code == 4 and "refused the client credentials" in only_line(err)


def test_history_gives_up_with_5(env, capsys):
    with HostileServer(Quirks(jobs_faults=burst(503) * 100)) as srv:
        code, out, err = run(history_args(srv, "--timeout", "1.5"), capsys, srv)
    assert code == 5 and "gave up" in only_line(err)


def test_history_as_a_real_process_with_real_waits(env, tmp_path):
    quirks = Quirks(instances=3, page_cap=2, token_lifetime_s=1, query_faults=[Fault(429, "1")],
                    jobs_faults=burst(503), download_faults=[Fault(429, "0.5")], next_uri="absolute_alt_host")
    with HostileServer(quirks) as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "gctrace_nb", *history_args(srv, "--timeout", "30")],
            capture_output=True, text=True, timeout=60, env={**os.environ},
        )
        assert proc.returncode == 0, proc.stderr
        printed = json.loads(proc.stdout)
        assert sorted(p["instance_id"] for p in printed) == ["inst-1", "inst-2", "inst-3"]
        for item in printed:
            expected = load_trace(srv.served_documents[item["instance_id"]]).analysis.to_json()
            assert {k: item[k] for k in expected if k != "file"} == {
                k: v for k, v in expected.items() if k != "file"}
        assert not any(s in proc.stdout + proc.stderr for s in [CLIENT_SECRET, *srv.issued_tokens])
