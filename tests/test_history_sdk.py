"""Conformance: Genesys's official Python SDK (``purecloudplatformclientv2``) as a client of the simulator.

The SDK's models are the published contract of the flow execution-history API: if
the SDK can make every call the history path makes, and our own client's query body
is what the SDK would send, the simulator and the client hold to the same contract
as the real service. The SDK is large (172 MB): it is the ``sdk`` extra, which
``scripts/bootstrap.sh`` installs, so CI runs these tests; a developer's machine
without it skips them (``CI=true`` fails them instead, like the ``dot`` tests).
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone

import pytest
import requests

from gctrace_nb.simulator import Simulator
from gctrace_nb.api import history as h
from gctrace_nb.core.formats.history import execution_document_to_steps
from tests.conftest import IN_CI

if importlib.util.find_spec("PureCloudPlatformClientV2") is None:
    if IN_CI:
        pytest.fail("purecloudplatformclientv2 is not installed (the 'sdk' extra; make bootstrap installs it)",
                    pytrace=False)
    pytest.skip("purecloudplatformclientv2 (the 'sdk' extra) is not installed", allow_module_level=True)

import PureCloudPlatformClientV2 as sdk  # noqa: E402
from PureCloudPlatformClientV2.rest import ApiException  # noqa: E402

ANCHOR = datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def sim(clock):
    with Simulator(seed=11, clock=clock, history_anchor=ANCHOR, history_instances=60, job_duration_s=3.0) as s:
        yield s


@pytest.fixture(scope="module")
def api_client(sim):
    token = requests.post(f"{sim.login_url}/oauth/token", auth=sim.credentials,
                          data={"grant_type": "client_credentials"}, timeout=10).json()["access_token"]
    client = sdk.ApiClient(host=sim.api_url)
    client.access_token = token
    return client


def item(key: str, operator: str, value: str) -> "sdk.CriteriaItem":
    out = sdk.CriteriaItem()
    out.key, out.operator, out.value = key, operator, value
    return out


def group(*, criteria=None, and_=None, or_=None, not_=None) -> "sdk.CriteriaGroup":
    out = sdk.CriteriaGroup()
    if criteria is not None:
        out.criteria = criteria
    if and_ is not None:
        out.pcAnd = and_
    if or_ is not None:
        out.pcOr = or_
    if not_ is not None:
        out.pcNot = not_
    return out


def query(*groups) -> "sdk.CriteriaQuery":
    out = sdk.CriteriaQuery()
    out.query = list(groups)
    return out


def ids_where(sim, test) -> list[str]:
    return [e["id"] for e in sim.history_instances if test(e)]


def test_the_sdk_queries_with_criteria_and_or_and_not_lists(sim, api_client):
    arch = sdk.ArchitectApi(api_client)
    first = sim.history_instances[0]
    flow_id, conv = first["flowId"], first["conversationId"]
    lo, hi = sim.history_instances[5]["startDateTime"], sim.history_instances[40]["startDateTime"]

    listing = arch.post_flows_instances_query(query(group(criteria=item("FlowId", "eq", flow_id))), page_size=10)
    assert isinstance(listing, sdk.FlowResultEntityListing)
    assert listing.total == len(ids_where(sim, lambda e: e["flowId"] == flow_id)) and len(listing.entities) == 10
    assert listing.next_uri is None and listing.entities[0].flow_id == flow_id
    assert listing.entities[0].start_date_time.tzinfo is not None  # the SDK parsed our date-times

    window = arch.post_flows_instances_query(query(group(and_=[item("FlowStartDateTime", "gte", lo),
                                                               item("FlowStartDateTime", "lte", hi)])))
    assert [e.id for e in window.entities] == [e["id"] for e in sim.history_instances[5:41]][:50]
    assert window.page_size == 50 and window.total == 36  # the SDK's default page size

    either = arch.post_flows_instances_query(query(group(or_=[item("ConversationId", "eq", conv),
                                                              item("ConversationId", "eq", "nobody")])))
    assert sorted(e.id for e in either.entities) == sorted(ids_where(sim, lambda e: e["conversationId"] == conv))

    combined = arch.post_flows_instances_query(query(
        group(criteria=item("FlowId", "eq", flow_id), not_=[item("ConversationId", "eq", conv)]),
        group(and_=[item("FlowStartDateTime", "gte", lo)])), page_size=200)
    assert sorted(e.id for e in combined.entities) == sorted(ids_where(
        sim, lambda e: e["flowId"] == flow_id and e["conversationId"] != conv and e["startDateTime"] >= lo))


def test_a_nested_group_is_refused_as_the_sdks_model_would(api_client):
    arch = sdk.ArchitectApi(api_client)
    nested = group(and_=[group(criteria=item("FlowId", "eq", "f"))])  # not a CriteriaItem: the SDK serialises it anyway
    with pytest.raises(ApiException) as info:
        arch.post_flows_instances_query(query(nested))
    assert info.value.status == 400 and "nested group" in info.value.body


def test_our_clients_query_body_is_what_the_sdk_sends(api_client):
    ours = h.build_instance_query(conversation_id="c-1", flow_id="f-1", since="2026-01-15T09:00:00Z",
                                  until="2026-01-16T09:00:00Z")
    theirs = query(group(criteria=item("ConversationId", "eq", "c-1")), group(criteria=item("FlowId", "eq", "f-1")),
                   group(criteria=item("FlowStartDateTime", "gte", "2026-01-15T09:00:00.000Z")),
                   group(criteria=item("FlowStartDateTime", "lte", "2026-01-16T09:00:00.000Z")))
    assert api_client.sanitize_for_serialization(theirs) == ours


def test_the_sdk_runs_an_instances_job_and_downloads_it(sim, api_client, clock):
    arch = sdk.ArchitectApi(api_client)
    instances = [e["id"] for e in sim.history_instances[:3]]
    request = sdk.ExecutionDataRequest()
    request.ids = instances
    job = arch.post_flows_instances_jobs(request)
    assert isinstance(job, sdk.GetFlowExecutionDataJobResult) and job.job_state == "Registered"
    clock.t += 1.5
    assert arch.get_flows_instances_job(job.id).job_state == "Running"
    clock.t += 1.5
    done = arch.get_flows_instances_job(job.id)
    assert done.job_state == "Success" and [e.id for e in done.entities] == instances
    assert all(e.failed is False and e.status_code == "200" for e in done.entities)
    for entity in done.entities:  # the pre-signed link: a plain GET, no Authorization header
        doc = requests.get(entity.download_uri, timeout=10).json()
        assert doc == sim.execution_documents[entity.id]
        steps, meta = execution_document_to_steps(doc)
        assert "unrecognised" not in meta and steps[0]["status"] == "success"
    single = arch.get_flows_instance(instances[0])
    assert single.job_state == "Success" and single.entities[0].id == instances[0]


def test_the_sdk_resolves_a_downloads_link_with_no_permission(sim, api_client, clock):
    arch = sdk.ArchitectApi(api_client)
    sim.set_faults(download_style="api")
    try:
        request = sdk.ExecutionDataRequest()
        request.ids = [sim.history_instances[7]["id"]]
        job = arch.post_flows_instances_jobs(request)
        clock.t += 3.0
        (entity,) = arch.get_flows_instances_job(job.id).entities
        assert entity.download_uri.startswith("/api/v2/downloads/")
        sim.set_faults(forbidden=True)  # the downloads endpoint needs a token, no permission
        url = sdk.DownloadsApi(api_client).get_download(entity.download_uri.rsplit("/", 1)[1], issue_redirect=False)
        assert isinstance(url, sdk.UrlResponse)
        assert requests.get(url.url, timeout=10).json() == sim.execution_documents[entity.id]
        with pytest.raises(ApiException) as info:
            arch.get_flows_instances_job(job.id)
        assert info.value.status == 403
    finally:
        sim.set_faults(download_style="presigned", forbidden=False)


def test_the_sdk_runs_a_data_action_test(api_client):
    integrations = sdk.IntegrationsApi(api_client)
    ok = integrations.post_integrations_action_test("custom_-_crm-lookup", {"phone": "+13175550100"})
    assert isinstance(ok, sdk.TestExecutionResult) and ok.success is True
    assert [op.step for op in ok.operations] == list(range(1, len(ok.operations) + 1))
    assert ok.final_result == ok.operations[-1].result
    failed = integrations.post_integrations_action_test("custom_-_payment-fail", {"id": 1})
    assert failed.success is False and isinstance(failed.error, sdk.ErrorBody) and failed.error.status == 400
    assert failed.operations[-1].success is False


def test_every_endpoint_named_in_real_genesys_md_is_one_the_sdk_calls():
    import re
    from pathlib import Path

    apis = Path(sdk.__file__).parent / "apis"
    calls = set()
    for source in apis.glob("*_api.py"):
        text = source.read_text(encoding="utf-8")
        for path, method in re.findall(r"resource_path = '([^']+)'.*?call_api\(resource_path, '([A-Z]+)'", text, re.S):
            calls.add((method, re.sub(r"\{[^}]+\}", "{}", path)))
    doc = (Path(__file__).resolve().parents[1] / "docs" / "real-genesys.md").read_text(encoding="utf-8")
    named = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in re.findall(r"\b(GET|POST|PUT|PATCH|DELETE) (/api/v2/[^\s`?]+)",
                                                                       doc)}
    named = {(m, p) for m, p in named if "/debug" not in p}  # the design's debug contract is not Genesys's
    assert len(named) >= 10
    assert sorted(named - calls) == []
