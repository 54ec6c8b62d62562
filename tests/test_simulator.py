"""The embedded simulator, exercised over real sockets with ``requests``.

Time is injected (``FakeClock``) for token expiry, job progress and download
expiry, so no test waits for them.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
import time

import requests

from gctrace_nb.simulator import Faults, Simulator

DEBUG_BODY = {
    "flowId": "inbound-main",
    "actionInvocationId": "inv-1",
    "traceDepth": 10,
    "contextDirectives": {"captureContext": True, "captureData": False},
    "simulatedInputs": {"ani": "+13175550100"},
    "enableAsync": True,
}


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def sim(clock):
    with Simulator(seed=7, clock=clock, job_duration_s=5, action_delay_s=0.0,
                   history_anchor=datetime(2026, 3, 1, tzinfo=timezone.utc)) as s:
        yield s


def get_token(sim: Simulator) -> str:
    r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                      data={"grant_type": "client_credentials"}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


class Api:
    """Bearer-authenticated calls against a simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {get_token(sim)}"

    def __call__(self, method: str, path: str, **kw) -> requests.Response:
        url = path if path.startswith("http") else self.sim.api_url + path
        kw.setdefault("timeout", 5)
        return self.session.request(method, url, **kw)

    def submit(self, body: dict | None = None, flow_id: str = "inbound-main") -> requests.Response:
        return self("POST", f"/api/v2/flows/{flow_id}/debug", json=body or DEBUG_BODY)


@pytest.fixture
def api(sim):
    client = Api(sim)
    yield client
    client.session.close()


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (TypeError, ValueError):
        return False
    return True


def assert_error_body(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["code"] == code
    assert is_uuid(body["contextId"])
    assert isinstance(body["details"], list) and isinstance(body["errors"], list)
    assert body["message"]
    return body


# -- lifecycle ------------------------------------------------------------------------------

def test_lifecycle_urls_and_credentials():
    sim = Simulator(client_id="cid", client_secret="s3cr3t-value")
    with pytest.raises(RuntimeError):
        sim.api_url
    assert sim.start() is sim and sim.start() is sim
    try:
        assert sim.api_url.startswith("http://127.0.0.1:") and sim.port > 0
        assert sim.login_url == sim.api_url
        assert sim.webhook_url == f"{sim.api_url}/webhook/sink"
        assert sim.credentials == ("cid", "s3cr3t-value")
        assert "s3cr3t-value" not in repr(sim)
    finally:
        sim.stop()
    sim.stop()
    assert not sim.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{sim.port}/", timeout=2)


def test_every_response_carries_a_correlation_id(sim, api):
    responses = [
        requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                      data={"grant_type": "client_credentials"}, timeout=5),
        requests.post(f"{sim.login_url}/oauth/token", auth=("x", "y"), data={"grant_type": "client_credentials"},
                      timeout=5),
        api.submit(), api.submit(dict(DEBUG_BODY, traceDepth=0)), api("GET", "/api/v2/nothing"),
        requests.post(sim.webhook_url, json={}, timeout=5),
    ]
    ids = [r.headers.get("ININ-Correlation-Id") for r in responses]
    assert all(is_uuid(i) for i in ids) and len(set(ids)) == len(ids)


# -- OAuth ----------------------------------------------------------------------------------

def test_token_issued_for_basic_auth_and_form_body(sim):
    r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                      data={"grant_type": "client_credentials"}, timeout=5)
    body = r.json()
    assert r.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"]
    recorded = sim.requests[-1]
    assert recorded.path == "/oauth/token" and recorded.status == 200
    assert recorded.headers["Authorization"] == "Basic REDACTED"


@pytest.mark.parametrize("auth, description", [(("sim-client", "wrong"), "invalid client secret"),
                                               (("nobody", "sim-secret"), "client not found")])
def test_wrong_credentials_get_invalid_client(sim, auth, description):
    r = requests.post(f"{sim.login_url}/oauth/token", auth=auth, data={"grant_type": "client_credentials"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client" and description in r.json()["description"]
    assert "wrong" not in r.text


def test_missing_client_authentication_is_401(sim):
    r = requests.post(f"{sim.login_url}/oauth/token", data={"grant_type": "client_credentials"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize("kwargs, error", [
    ({"data": {}}, "invalid_request"),
    ({"data": {"grant_type": "password"}}, "unsupported_grant_type"),
    ({"json": {"grant_type": "client_credentials"}}, "invalid_request"),
])
def test_missing_or_wrong_grant_is_400(sim, kwargs, error):
    r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials, timeout=5, **kwargs)
    assert r.status_code == 400 and r.json()["error"] == error


def test_token_expires_after_its_lifetime(clock):
    with Simulator(clock=clock, token_lifetime_s=300) as sim:
        api = Api(sim)
        assert api("GET", "/api/v2/flows/instances/nope").status_code == 404  # authenticated, then not found
        clock.advance(299)
        assert api("GET", "/api/v2/flows/instances/nope").status_code == 404
        clock.advance(1)
        body = assert_error_body(api("GET", "/api/v2/flows/instances/nope"), 401, "bad.credentials")
        assert "Expired" in body["message"]
        api.session.headers["Authorization"] = f"Bearer {get_token(sim)}"
        assert api("GET", "/api/v2/flows/instances/nope").status_code == 404


def test_unknown_missing_and_revoked_bearer_tokens_are_401(sim, api):
    assert_error_body(requests.get(f"{sim.api_url}/api/v2/jobs/x", headers={"Authorization": "Bearer nope"},
                                   timeout=5), 401, "bad.credentials")
    assert_error_body(requests.get(f"{sim.api_url}/api/v2/jobs/x", timeout=5), 401, "authentication.required")
    assert api("GET", "/api/v2/jobs/x").status_code == 404
    sim.revoke_tokens()
    assert_error_body(api("GET", "/api/v2/jobs/x"), 401, "bad.credentials")


# -- debug contract -------------------------------------------------------------------------

def test_submit_gives_202_with_absolute_location_then_the_job_completes(sim, api, clock):
    r = api.submit()
    assert r.status_code == 202
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    assert r.headers["Location"] == f"{sim.api_url}/api/v2/jobs/{job_id}"
    job = sim.jobs[job_id]
    assert job.request == DEBUG_BODY and job.flow_id == "inbound-main" and job.action_invocation_id == "inv-1"
    poll = api("GET", r.headers["Location"]).json()
    assert poll == {"id": job_id, "status": "in_progress"}
    clock.advance(4.9)
    assert api("GET", r.headers["Location"]).json()["status"] == "in_progress"
    clock.advance(0.1)
    done = api("GET", r.headers["Location"]).json()
    assert done["status"] == "completed"
    assert done["result"]["steps"] == job.steps and len(job.steps) > 10
    assert job.polls == 3
    # the served steps are a clean trace rooted at the flow
    assert job.steps[0]["nodeId"] == "inbound-main"


@pytest.mark.parametrize("style", ["relative", "bare", "body"])
def test_location_styles(clock, style):
    with Simulator(clock=clock, faults=Faults(location_style=style)) as sim:
        r = Api(sim).submit()
        assert r.status_code == 202
        job_id = next(iter(sim.jobs))
        if style == "relative":
            assert r.headers["Location"] == f"/api/v2/jobs/{job_id}"
        elif style == "bare":
            assert r.headers["Location"] == job_id
        else:
            assert "Location" not in r.headers and r.json()["id"] == job_id


def test_result_as_a_bare_list(clock):
    with Simulator(clock=clock, job_duration_s=1, faults=Faults(result_style="list")) as sim:
        api = Api(sim)
        location = api.submit().headers["Location"]
        clock.advance(1)
        done = api("GET", location).json()
        assert done["status"] == "completed" and done["result"] == next(iter(sim.jobs.values())).steps


def test_trace_size_is_configurable(clock):
    with Simulator(clock=clock, job_duration_s=0, trace_size=250) as sim:
        api = Api(sim)
        done = api("GET", api.submit().headers["Location"]).json()
        assert len(done["result"]["steps"]) == 250


@pytest.mark.parametrize("change, field, message", [
    ({"traceDepth": 0}, "traceDepth", "traceDepth must be between 1 and 50, got 0"),
    ({"traceDepth": 51}, "traceDepth", "traceDepth must be between 1 and 50, got 51"),
    ({"traceDepth": "5"}, "traceDepth", "traceDepth must be an integer between 1 and 50"),
    ({"traceDepth": True}, "traceDepth", "traceDepth must be an integer between 1 and 50"),
    ({"contextDirectives": {"captureContext": False, "captureData": False}}, "contextDirectives",
     "at least one of contextDirectives.captureContext and contextDirectives.captureData must be true"),
    ({"contextDirectives": None}, "contextDirectives", "contextDirectives must be an object"),
    ({"flowId": ""}, "flowId", "flowId must be a non-empty string"),
    ({"flowId": "other-flow"}, "flowId", "does not match the flowId in the path"),
    ({"actionInvocationId": " "}, "actionInvocationId", "actionInvocationId must be a non-empty string"),
    ({"enableAsync": False}, "enableAsync", "enableAsync must be true"),
    ({"simulatedInputs": [1, 2]}, "simulatedInputs", "simulatedInputs must be a JSON object"),
])
def test_debug_400_names_the_exact_violation(sim, api, change, field, message):
    body = assert_error_body(api.submit(dict(DEBUG_BODY, **change)), 400, "bad.request")
    assert message in body["message"]
    assert [d["fieldName"] for d in body["details"]] == [field]
    assert sim.jobs == {}


def test_debug_400_lists_several_violations_and_rejects_bad_json(sim, api):
    body = assert_error_body(api.submit(dict(DEBUG_BODY, traceDepth=0, enableAsync=None)), 400, "bad.request")
    assert {d["fieldName"] for d in body["details"]} == {"traceDepth", "enableAsync"}
    bad = api("POST", "/api/v2/flows/inbound-main/debug", data=b"{not json",
              headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_error_body(bad, 400, "bad.request")["message"]


def test_unknown_flow_is_404(sim, api):
    body = assert_error_body(api.submit(dict(DEBUG_BODY, flowId="missing-flow"), flow_id="missing-flow"),
                             404, "not.found")
    assert "missing-flow" in body["message"]


def test_known_flows_restricts_the_flows(clock):
    with Simulator(clock=clock, known_flows={"only-this"}) as sim:
        api = Api(sim)
        assert api.submit(dict(DEBUG_BODY, flowId="only-this"), flow_id="only-this").status_code == 202
        assert api.submit().status_code == 404


def test_forbidden_is_403_missing_permissions(sim, api):
    sim.set_faults(forbidden=True)
    body = assert_error_body(api.submit(), 403, "missing.permissions")
    assert "missing the following permission" in body["message"]
    body = assert_error_body(api("POST", "/api/v2/flows/instances/query", json={"query": []}), 403,
                             "missing.permissions")
    assert "architect:flowInstance:search" in body["message"]


def test_failing_job_ends_failed_with_a_message(sim, api, clock):
    sim.set_faults(fail_job=True, fail_job_message="payment data action timed out")
    location = api.submit().headers["Location"]
    assert api("GET", location).json()["status"] == "in_progress"
    clock.advance(5)
    assert api("GET", location).json() == {"id": location.rsplit("/", 1)[1], "status": "failed",
                                           "message": "payment data action timed out"}


def test_unknown_job_is_404(sim, api):
    assert_error_body(api("GET", "/api/v2/jobs/no-such-job"), 404, "not.found")


def test_wrong_method_is_405(sim, api):
    assert api("GET", "/api/v2/flows/inbound-main/debug").status_code == 405


# -- faults ---------------------------------------------------------------------------------

def test_429_with_retry_after_seconds(sim, api):
    sim.set_faults(rate_429=1.0, retry_after_s=2)
    r = api.submit()
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    body = r.json()
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [2] seconds"
    assert body["code"] == "too.many.requests.retry.after" and body["status"] == 429
    assert is_uuid(body["contextId"]) and body["details"] == [] and body["errors"] == []
    assert is_uuid(r.headers["ININ-Correlation-Id"])
    # the token endpoint is not rate limited unless asked
    get_token(sim)


def test_429_with_http_date_and_without_retry_after(clock):
    wall = 1_800_000_000.25
    with Simulator(clock=clock, wall_clock=lambda: wall, faults=Faults(rate_429=1.0, retry_after_s=3,
                                                                       retry_after_style="http-date")) as sim:
        api = Api(sim)
        r = api.submit()
        when = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
        assert r.status_code == 429 and when.timestamp() == 1_800_000_004  # rounded up, never early
        sim.set_faults(retry_after_style="none")
        r = api.submit()
        assert r.status_code == 429 and "Retry-After" not in r.headers


def test_429_dice_are_seeded():
    def pattern(seed: int) -> list[int]:
        with Simulator(seed=seed, faults=Faults(rate_429=0.5)) as sim:
            api = Api(sim)
            return [api("GET", "/api/v2/jobs/x").status_code for _ in range(20)]

    first = pattern(3)
    assert first == pattern(3)
    assert set(first) == {404, 429}


def test_burst_of_5xx_rotates_then_recovers(sim, api):
    sim.set_faults(burst_5xx=4)
    statuses = [api("GET", "/api/v2/jobs/x") for _ in range(5)]
    assert [r.status_code for r in statuses] == [502, 503, 504, 502, 404]
    assert statuses[0].headers["Content-Type"].startswith("text/html")
    assert statuses[1].json()["code"] == "service.unavailable"
    assert statuses[2].json()["status"] == 504
    get_token(sim)  # not the token endpoint
    sim.set_faults(burst_5xx=1)
    assert api("GET", "/api/v2/jobs/x").status_code == 502


def test_outage_until_cleared(sim, api):
    sim.set_faults(outage=True)
    assert [api("GET", "/api/v2/jobs/x").status_code for _ in range(3)] == [503, 503, 503]
    get_token(sim)
    sim.set_faults(outage=False)
    assert api("GET", "/api/v2/jobs/x").status_code == 404


def test_token_faults_extend_to_the_token_endpoint(sim):
    sim.set_faults(outage=True, token_faults=True)
    r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                      data={"grant_type": "client_credentials"}, timeout=5)
    assert r.status_code == 503
    sim.set_faults(outage=False, rate_429=1.0)
    r = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                      data={"grant_type": "client_credentials"}, timeout=5)
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_set_faults_returns_the_old_faults_and_validates(sim):
    old = sim.set_faults(rate_429=0.25)
    assert old == Faults() and sim.faults.rate_429 == 0.25
    with pytest.raises(TypeError):
        sim.set_faults(no_such_fault=True)
    with pytest.raises(ValueError):
        sim.set_faults(location_style="sideways")
    with pytest.raises(ValueError):
        Faults(rate_429=2)
    assert sim.faults.rate_429 == 0.25


# -- redaction ------------------------------------------------------------------------------

def test_secrets_and_tokens_never_recorded_or_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="gctrace_nb.simulator")
    with Simulator(client_id="cid", client_secret="top-secret-value") as sim:
        token = get_token(sim)
        requests.get(f"{sim.api_url}/api/v2/jobs/x", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        requests.post(f"{sim.login_url}/oauth/token", timeout=5,
                      data={"grant_type": "client_credentials", "client_id": "cid",
                            "client_secret": "top-secret-value"})
        recorded = sim.requests
        everything = repr(recorded) + repr(sim) + caplog.text
        assert "top-secret-value" not in everything and token not in everything
        assert recorded[1].headers["Authorization"] == "Bearer REDACTED"
        assert "client_secret=REDACTED" in recorded[2].body
        assert [r.status for r in recorded] == [200, 404, 401]
        assert recorded[1].method == "GET" and recorded[1].path == "/api/v2/jobs/x" and recorded[1].query == {}


# -- webhook sink ---------------------------------------------------------------------------

def test_webhook_sink_records_posts(sim):
    r = requests.post(sim.webhook_url, json={"text": "trace done"}, headers={"X-Test": "1"}, timeout=5)
    assert r.status_code == 200
    (delivery,) = sim.webhook_deliveries
    assert delivery.json() == {"text": "trace done"} and delivery.headers["X-Test"] == "1"
    assert delivery.status == 200 and isinstance(delivery.body, bytes)


def test_webhook_status_and_fail_first(sim):
    sim.set_faults(webhook_fail_first=2)
    statuses = [requests.post(sim.webhook_url, data=b"x", timeout=5).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    sim.set_faults(webhook_status=500)
    assert requests.post(sim.webhook_url, data=b"x", timeout=5).status_code == 500
    assert [d.status for d in sim.webhook_deliveries] == [503, 503, 200, 500]


def test_webhook_delay_provokes_client_timeouts(sim):
    sim.set_faults(webhook_delay_s=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(sim.webhook_url, data=b"x", timeout=0.1)
    # the server thread may record it a moment after the client gave up (a loaded machine)
    deadline = time.monotonic() + 5
    while not sim.webhook_deliveries and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sim.webhook_deliveries) == 1


# -- execution history ----------------------------------------------------------------------

def query(api: Api, items: list, page_size: int | None = 25) -> requests.Response:
    suffix = f"?pageSize={page_size}" if page_size is not None else ""
    return api("POST", f"/api/v2/flows/instances/query{suffix}", json={"query": items})


def item(key: str, value: str, operator: str = "eq") -> dict:
    """A CriteriaItem, as the SDK's models serialise it."""
    return {"key": key, "operator": operator, "value": value}


ALL = [{"criteria": item("FlowStartDateTime", "2000-01-01T00:00:00Z", "gte")}]
#: FlowExecutionDataQueryResult's fields in the SDK (models/flow_execution_data_query_result.py)
QUERY_RESULT_FIELDS = {"id", "name", "startDateTime", "endDateTime", "flowId", "flowVersion", "conversationId",
                       "workitemId", "flowType", "flowErrorReason", "flowWarningReason", "flowName", "selfUri"}


def test_history_query_is_one_page_of_page_size_with_the_total(sim, api):
    page = query(api, ALL, page_size=None).json()  # the SDK's default page size is 50
    assert len(page["entities"]) == 50 and page["total"] == 60 and page["pageSize"] == 50
    assert "nextUri" not in page
    page = query(api, ALL, page_size=200).json()
    assert [e["id"] for e in page["entities"]] == [e["id"] for e in sim.history_instances]
    assert page["total"] == 60 and "nextUri" not in page
    entity = page["entities"][0]
    assert {"id", "name", "flowId", "flowName", "flowVersion", "flowType", "conversationId", "startDateTime",
            "endDateTime", "flowErrorReason", "flowWarningReason"} <= set(entity) <= QUERY_RESULT_FIELDS
    assert entity["flowType"] == entity["flowType"].lower() and entity["flowErrorReason"] == "NONE"


def test_history_query_has_no_page_number(sim, api):
    r = api("POST", "/api/v2/flows/instances/query?pageSize=25&pageNumber=2", json={"query": ALL})
    assert "pageNumber" in assert_error_body(r, 400, "bad.request")["message"]
    assert query(api, ALL).json()["total"] == 60
    assert api("POST", "/api/v2/flows/instances/query?pageSize=5&indexOnly=true", json={"query": ALL}).ok


def test_history_query_criteria_groups_follow_the_sdk(sim, api):
    target = sim.history_instances[10]
    conv = query(api, [{"criteria": item("ConversationId", target["conversationId"])}]).json()
    assert target["id"] in [e["id"] for e in conv["entities"]]
    assert all(e["conversationId"] == target["conversationId"] for e in conv["entities"])
    by_flow = query(api, [{"criteria": item("FlowId", target["flowId"])}], page_size=200).json()
    assert by_flow["total"] == sum(e["flowId"] == target["flowId"] for e in sim.history_instances)
    lo, hi = sim.history_instances[5]["startDateTime"], sim.history_instances[14]["startDateTime"]
    # 'and' is a list of CriteriaItem (not of groups)
    window = query(api, [{"and": [item("FlowStartDateTime", lo, "gte"), item("FlowStartDateTime", hi, "lte")]}]
                   ).json()
    assert [e["id"] for e in window["entities"]] == [e["id"] for e in sim.history_instances[5:15]]
    # several groups are ANDed, and one group's parts too
    both = query(api, [{"criteria": item("FlowStartDateTime", lo, "gte")},
                       {"criteria": item("FlowStartDateTime", hi, "lte"),
                        "not": [item("ConversationId", sim.history_instances[5]["conversationId"])]}]).json()
    assert [e["id"] for e in both["entities"]] == [
        e["id"] for e in sim.history_instances[5:15] if e["conversationId"] != sim.history_instances[5]["conversationId"]]
    first, last = sim.history_instances[0], sim.history_instances[-1]
    either = query(api, [{"or": [item("ConversationId", first["conversationId"]),
                                 item("ConversationId", last["conversationId"])]}]).json()
    assert {e["conversationId"] for e in either["entities"]} == {first["conversationId"], last["conversationId"]}
    actions = {p["actionId"] for i in sim.execution_documents[first["id"]]["flow"]["execution"]
               for p in i.values() if p.get("actionId")}
    by_action = query(api, [{"criteria": item("FlowActionId", sorted(actions)[0])}], page_size=200).json()
    assert first["id"] in [e["id"] for e in by_action["entities"]]


def test_history_query_refuses_a_nested_group_as_the_sdks_model_would(sim, api):
    nested = [{"and": [{"criteria": item("FlowId", "f")}, {"criteria": item("ConversationId", "c")}]}]
    r = query(api, nested)
    assert "nested group" in assert_error_body(r, 400, "bad.request")["message"]
    r = query(api, [{"criteria": [item("FlowId", "f"), item("ConversationId", "c")]}])
    assert "one CriteriaItem" in assert_error_body(r, 400, "bad.request")["message"]


def test_history_query_total_counts_every_match_past_the_200_cap(clock):
    with Simulator(clock=clock, history_instances=230) as sim:
        page = query(Api(sim), ALL, page_size=200).json()
        assert page["total"] == 230 and len(page["entities"]) == 200 and "nextUri" not in page


@pytest.mark.parametrize("path, body, text", [
    ("?pageSize=0", {"query": ALL}, "pageSize must be between 1 and 200"),
    ("?pageSize=201", {"query": ALL}, "pageSize must be between 1 and 200"),
    ("", {"query": []}, "at least one criteria"),
    ("", {"query": [{}]}, "has no criteria"),
    ("", {"query": [{"criteria": item("Colour", "x")}]}, "Invalid criteria key"),
    ("", {"query": [{"criteria": item("FlowName", "x")}]}, "Invalid criteria key"),  # not a key in the SDK
    ("", {"query": [{"criteria": item("BotId", "x")}]}, "does not evaluate"),
    ("", {"query": [{"criteria": item("FlowId", "x", "near")}]}, "Invalid criteria operator"),
    ("", {"query": [{"criteria": item("FlowStartDateTime", "yesterday", "gte")}]}, "not an ISO-8601"),
    ("", {"query": [{"criteria": item("FlowId", "x"), "also": 1}]}, "unknown field"),
])
def test_history_query_rejects_bad_requests(sim, api, path, body, text):
    r = api("POST", "/api/v2/flows/instances/query" + path, json=body)
    assert text in assert_error_body(r, 400, "bad.request")["message"]


def start_history_job(api: Api, ids: list[str]) -> str:
    r = api("POST", "/api/v2/flows/instances/jobs", json={"ids": ids})
    assert r.status_code == 202 and r.json()["jobState"] == "Registered"
    return r.json()["id"]


def test_history_job_states_and_presigned_download(sim, api, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="gctrace_nb.simulator")
    ids = [e["id"] for e in sim.history_instances[:3]]
    job_id = start_history_job(api, ids)
    poll = lambda: api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()  # noqa: E731
    assert poll()["jobState"] == "Registered"
    clock.advance(2)
    assert poll()["jobState"] == "Running" and poll()["entities"] == []
    clock.advance(3)
    done = poll()
    assert done["jobState"] == "Success"
    assert [e["id"] for e in done["entities"]] == ids
    assert all(e["failed"] is False and e["statusCode"] == "200" for e in done["entities"])  # a string
    uri = done["entities"][0]["downloadUri"]
    assert uri.startswith(f"{sim.api_url}/downloads/presigned/") and "X-Amz-Expires=300" in uri
    r = requests.get(uri, timeout=5)  # no Authorization header
    assert r.status_code == 200 and r.json() == sim.execution_documents[ids[0]]
    assert r.json()["flow"]["conversationId"] == sim.history_instances[0]["conversationId"]
    assert not sim.requests[-1].had_authorization
    assert sim.requests[-1].query["X-Amz-Signature"] == "REDACTED"
    signature = uri.rsplit("X-Amz-Signature=", 1)[1]
    assert "/downloads/presigned/" in caplog.text and signature not in caplog.text


def test_presigned_download_refuses_an_authorization_header(sim, api, clock):
    job_id = start_history_job(api, [sim.history_instances[0]["id"]])
    clock.advance(5)
    uri = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()["entities"][0]["downloadUri"]
    r = api("GET", uri)  # the session adds the bearer token
    assert r.status_code == 400 and "Only one auth mechanism allowed" in r.text
    assert r.headers["Content-Type"] == "application/xml"


def test_presigned_download_expires(clock):
    with Simulator(clock=clock, job_duration_s=0, download_lifetime_s=60) as sim:
        api = Api(sim)
        job_id = start_history_job(api, [sim.history_instances[0]["id"]])
        uri = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()["entities"][0]["downloadUri"]
        clock.advance(59)
        assert requests.get(uri, timeout=5).status_code == 200
        clock.advance(1)
        r = requests.get(uri, timeout=5)
        assert r.status_code == 403 and "<Message>Request has expired</Message>" in r.text
        assert requests.get(uri.split("?")[0], timeout=5).status_code == 403  # unsigned


def test_history_job_entities_failed_for_unknown_ids_and_by_fault(sim, api, clock):
    known = [e["id"] for e in sim.history_instances[:2]]
    job_id = start_history_job(api, known + ["no-such-instance"])
    clock.advance(5)
    entities = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()["entities"]
    assert entities[2] == {"id": "no-such-instance", "failed": True, "statusCode": "404"}
    sim.set_faults(history_entity_404=True)
    job_id = start_history_job(api, known)
    clock.advance(5)
    entities = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()["entities"]
    assert entities[0]["failed"] is False and "downloadUri" in entities[0]
    assert entities[1] == {"id": known[1], "failed": True, "statusCode": "404"}


def test_history_job_fails_with_fail_job(sim, api, clock):
    sim.set_faults(fail_job=True)
    job_id = start_history_job(api, [sim.history_instances[0]["id"]])
    clock.advance(5)
    body = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()
    # GetFlowExecutionDataJobResult has no error field: a Failed job says nothing more
    assert body["jobState"] == "Failed" and set(body) <= {"id", "name", "entities", "jobState", "selfUri"}


def test_history_job_rejects_bad_ids_and_unknown_jobs(sim, api):
    assert_error_body(api("POST", "/api/v2/flows/instances/jobs", json={"ids": []}), 400, "bad.request")
    assert_error_body(api("POST", "/api/v2/flows/instances/jobs", json={"id": "x"}), 400, "bad.request")
    assert_error_body(api("GET", "/api/v2/flows/instances/jobs/nope"), 404, "not.found")


def test_download_api_form_resolves_to_a_presigned_url(sim, api, clock):
    sim.set_faults(download_style="api")
    instance = sim.history_instances[3]["id"]
    job_id = start_history_job(api, [instance])
    clock.advance(5)
    uri = api("GET", f"/api/v2/flows/instances/jobs/{job_id}").json()["entities"][0]["downloadUri"]
    assert uri.startswith("/api/v2/downloads/")
    resolved = api("GET", uri, params={"issueRedirect": "false"})
    assert resolved.status_code == 200
    assert requests.get(resolved.json()["url"], timeout=5).json() == sim.execution_documents[instance]
    redirect = api("GET", uri, allow_redirects=False)
    assert redirect.status_code == 303 and "/downloads/presigned/" in redirect.headers["Location"]
    assert_error_body(api("GET", "/api/v2/downloads/unknown"), 404, "not.found")
    sim.set_faults(forbidden=True)  # /api/v2/downloads/{id} needs no permission, only a token
    assert api("GET", uri, params={"issueRedirect": "false"}).status_code == 200
    assert api("POST", "/api/v2/flows/instances/jobs", json={"ids": [instance]}).status_code == 403


def test_single_instance_endpoint(sim, api):
    instance = sim.history_instances[1]["id"]
    body = api("GET", f"/api/v2/flows/instances/{instance}").json()
    assert body["jobState"] == "Success" and body["entities"][0]["id"] == instance
    doc = requests.get(body["entities"][0]["downloadUri"], timeout=5).json()
    assert doc == sim.execution_documents[instance]
    assert_error_body(api("GET", "/api/v2/flows/instances/unknown-instance"), 404, "not.found")


def test_history_is_deterministic_for_a_seed():
    anchor = datetime(2026, 3, 1, tzinfo=timezone.utc)
    a = Simulator(seed=5, history_anchor=anchor, history_instances=10)
    b = Simulator(seed=5, history_anchor=anchor, history_instances=10)
    assert a.history_instances == b.history_instances and a.execution_documents == b.execution_documents


# -- data action test -----------------------------------------------------------------------

def test_action_test_success(sim, api):
    r = api("POST", "/api/v2/integrations/actions/custom_-_crm-lookup/test", json={"phone": "+13175550100"})
    body = r.json()
    assert r.status_code == 200 and body["success"] is True and body["error"] is None
    assert [op["step"] for op in body["operations"]] == list(range(1, len(body["operations"]) + 1))
    assert all(op["success"] and op["name"] for op in body["operations"])
    assert body["finalResult"] == body["operations"][-1]["result"]
    assert api("POST", "/api/v2/integrations/actions/custom_-_crm-lookup/draft/test", json={}).json()["success"]


def test_action_test_failure(sim, api):
    body = api("POST", "/api/v2/integrations/actions/custom_-_payment-fail/test", json={"id": 1}).json()
    assert body["success"] is False and body["finalResult"] is None
    assert body["operations"][-1]["success"] is False
    assert "REST call for action execute failed" in body["error"]["message"]


def test_action_test_unknown_action_and_bad_body(sim, api):
    assert_error_body(api("POST", "/api/v2/integrations/actions/missing-action/test", json={}), 404, "not.found")
    assert_error_body(api("POST", "/api/v2/integrations/actions/a/test", json=[1]), 400, "bad.request")


# -- CLI ------------------------------------------------------------------------------------

def test_simulate_is_a_registered_command():
    from gctrace_nb.cli import app as cli_main
    cli = cli_main

    assert "simulate" in cli._COMMAND_MODULES


def test_gctrace_simulate_serves_until_interrupted():
    script = ("import argparse, sys\n"
              "from gctrace_nb.cli import simulate\n"
              "p = argparse.ArgumentParser(); s = p.add_subparsers()\n"
              "simulate.register(s)\n"
              "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, "simulate", "--port", "0", "--seed", "3",
                             "--client-secret", "cli-secret", "--rate-429", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines = [proc.stdout.readline() for _ in range(11)]
        env = dict(line.split(" ", 1)[1].strip().split("=", 1) for line in lines if line.startswith("export "))
        assert env["GENESYS_CLIENT_ID"] == "sim-client" and env["GENESYS_CLIENT_SECRET"] == "cli-secret"
        r = requests.post(f"{env['GENESYS_LOGIN_URL']}/oauth/token", auth=("sim-client", "cli-secret"),
                          data={"grant_type": "client_credentials"}, timeout=5)
        assert r.status_code == 200
        assert any("Webhook URL" in line for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_gctrace_simulate_rejects_bad_fault_values():
    from gctrace_nb.cli import simulate
    import argparse

    p = argparse.ArgumentParser()
    simulate.register(p.add_subparsers())
    args = p.parse_args(["simulate", "--rate-429", "3"])
    assert args.func(args) == 2


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_gctrace_simulate_rejects_a_port_out_of_range_without_a_traceback(port, capsys):
    from gctrace_nb.cli import simulate
    import argparse

    p = argparse.ArgumentParser()
    simulate.register(p.add_subparsers())
    args = p.parse_args(["simulate", "--port", port])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gctrace simulate: --port must be between 0 and 65535") and "Traceback" not in err


def test_json_bodies_round_trip_unicode(sim, api):
    body = dict(DEBUG_BODY, simulatedInputs={"name": "Zoë 🚀"})
    assert api.submit(body).status_code == 202
    assert next(iter(sim.jobs.values())).request["simulatedInputs"]["name"] == "Zoë 🚀"
    assert json.loads(sim.requests[-1].body)["simulatedInputs"]["name"] == "Zoë 🚀"


def test_repr_names_only_the_faults_in_force():
    sim = Simulator(faults=Faults(rate_429=0.2, outage=True))
    assert repr(sim).endswith("faults: rate_429=0.2, outage=True>")
    assert "faults: none" in repr(Simulator())


def test_server_doctest_passes():
    import doctest

    from gctrace_nb.simulator import server

    assert doctest.testmod(server).failed == 0


def test_job_ids_are_unique_across_sessions_with_the_same_seed():
    import requests as _requests

    def one_session() -> tuple[str, list]:
        with Simulator(seed=7, job_duration_s=0.0) as sim:
            token = _requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                                   data={"grant_type": "client_credentials"}, timeout=5).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            body = {"flowId": "f", "actionInvocationId": "a", "traceDepth": 5,
                    "contextDirectives": {"captureContext": True, "captureData": True}, "enableAsync": True}
            resp = _requests.post(f"{sim.api_url}/api/v2/flows/f/debug", json=body, headers=headers, timeout=5)
            job_id = resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            job = _requests.get(f"{sim.api_url}/api/v2/jobs/{job_id}", headers=headers, timeout=5).json()
            result = job["result"]
            return job_id, result["steps"] if isinstance(result, dict) else result

    (id_a, steps_a), (id_b, steps_b) = one_session(), one_session()
    assert id_a != id_b
    # the seed still decides the trace (its shape; times follow the wall clock)
    assert [s["nodeId"] for s in steps_a] == [s["nodeId"] for s in steps_b]
