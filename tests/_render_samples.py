"""Sample traces for the renderer and report tests (built from dicts, no files)."""

from __future__ import annotations

from gctrace_nb import Trace, TraceMetadata, load_trace

T0 = 1_700_000_000_000  # epoch ms

#: ids that break naive quoting in DOT, XML, HTML and plotly text
HOSTILE_IDS = (
    'quote"d',
    "<script>alert(1)</script>",
    "amp&nbsp;&foo;&#12;",
    "line\nbreak",
    "back\\slash\\N\\",
    "unicodé 😀 ]]> --",
    "a:b:c",
)


def step(node_id: str, start: int | None, end: int | None, parent: str | None = None, status: str = "ok", **extra) -> dict:
    out = {"nodeId": node_id, "status": status, **extra}
    if start is not None:
        out["startTime"] = T0 + start
    if end is not None:
        out["endTime"] = T0 + end
    if parent is not None:
        out["parentId"] = parent
    return out


def branchy_steps() -> list[dict]:
    """A root with parallel branches, two failures and a few anomalies.

    Critical path (backwards from the end): notify, root, crm-call, crm, auth, root.
    ``stray`` is an orphan, so it is a second root and the top is virtual.
    """
    return [
        step("root", 0, 1000, name="Inbound flow"),
        step("auth", 10, 100, "root"),
        step("lookup", 100, 600, "root"),
        step("db", 120, 580, "lookup", status="FAILED", errorMessage='timeout <db> & "x"'),
        step("crm", 100, 900, "root"),
        step("crm-call", 150, 880, "crm", name="CRM call"),
        step("notify", 920, 990, "root", status="error", errorMessage="boom"),
        step("untimed", None, None, "root"),
        step("stray", 200, 300, "ghost"),
    ]


def branchy_trace(**meta) -> Trace:
    metadata = TraceMetadata(source="debug", flow_id="flow-1", job_id="job-9", retrieval_latency_ms=1234.5, **meta)
    return Trace(branchy_steps(), metadata, name="branchy")


def hostile_trace() -> Trace:
    """A chain root -> hostile ids (each on the critical path); the last one failed with a hostile error."""
    steps = [step("root", 0, 1000)]
    parent = "root"
    for k, node_id in enumerate(HOSTILE_IDS):
        status = "failed" if k == len(HOSTILE_IDS) - 1 else "ok"
        steps.append(
            step(node_id, 10 * (k + 1), 1000 - 10 * (k + 1), parent, status=status,
                 errorMessage=f"err {node_id} </title><b>")
        )
        parent = node_id
    return load_trace(steps, name='hostile <"name"> & co')


def wide_steps(children: int, *, failed: tuple[int, ...] = ()) -> list[dict]:
    """A root with ``children`` parallel children, each with one grandchild.

    Only ``c{children-1}`` (the latest end) and its grandchild are on the critical path.
    """
    steps = [step("root", 0, 200)]
    for k in range(children):
        end = 190 if k == children - 1 else 50 + k % 100
        steps.append(step(f"c{k}", 1 + k % 7, end, "root", status="failed" if k in failed else "ok"))
        steps.append(step(f"g{k}", 10, end - 1, f"c{k}"))
    return steps
