"""Seeded, realistic debug traces for an inbound call flow (pure, stdlib only).

A trace is a list of step dicts in the debug-trace contract's shape
(``genesys-api.md`` §A)::

    {"nodeId": "crm-lookup", "parentId": "identify-caller", "name": "CRM lookup",
     "type": "dataAction", "startTime": "2026-01-15T09:12:03.120Z",
     "endTime": "2026-01-15T09:12:03.480Z", "status": "success", "errorMessage": None,
     "actionType": "dataAction", "attempt": 1, "service": "crm"}

``actionType``, ``attempt`` and ``service`` are fields the analysis does not know
and must keep. Every child lies inside its parent's window; siblings in a
parallel group overlap in time; a failed data action is followed by a retry
sibling (``crm-lookup-retry-1``); slow outliers take many times their usual time.
The same seed gives the same trace.

Example:
    >>> steps = generate_trace(7)
    >>> steps[0]["nodeId"], steps[0]["parentId"]
    ('inbound-main', None)
    >>> generate_trace(7) == steps
    True
    >>> len(generate_trace(1, size=250))
    250
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Final

__all__ = ["generate_trace", "generate_dirty_trace", "format_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Traces start on this day (plus a seeded offset) unless ``start`` is given.
_BASE_MS: Final = int((datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc) - _EPOCH).total_seconds() * 1000)
_DAY_MS: Final = 86_400_000
_DATE_CACHE: dict[int, str] = {}

# Data-action services: (service, nodeId stem, display name, failure message, typical ms range)
_SERVICES: Final = (
    ("crm", "crm-lookup", "CRM lookup", "HTTP 504 from CRM service", (120, 480)),
    ("payment", "payment-status", "Payment status", "HTTP 504 from payment gateway", (180, 700)),
    ("knowledge", "knowledge-search", "Knowledge search", "HTTP 503 from knowledge service", (90, 350)),
    ("crm", "account-history", "Account history", "HTTP 500 from CRM service: upstream timeout", (150, 500)),
    ("payment", "balance-check", "Balance check", "Connection reset by payment gateway", (100, 400)),
)
# Other leaf kinds: (type, nodeId stem, display name, typical ms range)
_LEAVES: Final = (
    ("decision", "decision", "Decision", (2, 15)),
    ("setData", "set-participant-data", "Set participant data", (3, 20)),
    ("playAudio", "play-prompt", "Play prompt", (800, 4500)),
    ("collectInput", "collect-input", "Collect input", (1500, 6000)),
    ("updateData", "update-data", "Update data", (1, 8)),
    ("evaluateSchedule", "schedule-check", "Evaluate schedule group", (10, 60)),
)
_GROUPS: Final = (
    ("subflow", "subflow", "Sub-flow"),
    ("task", "task", "Task"),
    ("parallel", "parallel", "Parallel data actions"),
    ("menu", "menu", "Menu"),
)


def format_ms(ms: int) -> str:
    """Return epoch milliseconds as ISO-8601 with milliseconds and ``Z``.

    Example:
        >>> format_ms(0)
        '1970-01-01T00:00:00.000Z'
    """
    days, rem = divmod(ms, _DAY_MS)
    date = _DATE_CACHE.get(days)
    if date is None:
        date = datetime.fromtimestamp(days * 86_400, tz=timezone.utc).strftime("%Y-%m-%d")
        _DATE_CACHE[days] = date
    h, rem = divmod(rem, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


def _start_ms(start: Any, rng: random.Random) -> int:
    if start is None:
        # deterministic per seed: a weekday morning, some minutes in
        return _BASE_MS + rng.randrange(0, 8 * 3_600_000, 1000)
    if isinstance(start, datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        return int((start - _EPOCH).total_seconds() * 1000)
    if isinstance(start, (int, float)) and not isinstance(start, bool):
        return int(start)
    if isinstance(start, str):
        return _start_ms(datetime.fromisoformat(start.replace("Z", "+00:00").replace("z", "+00:00")), rng)
    raise TypeError(f"start must be a datetime, ISO string, epoch ms or None, not {type(start).__name__}")


class _Node:
    """A step before layout: durations are known bottom-up, times top-down."""

    __slots__ = ("node_id", "name", "type", "children", "parallel", "dur", "offset", "status",
                 "error", "extra", "lead", "tail")

    def __init__(self, node_id: str, name: str, type_: str, *, dur: int = 0,
                 status: str = "success", error: str | None = None, extra: dict | None = None) -> None:
        self.node_id = node_id
        self.name = name
        self.type = type_
        self.children: list[_Node] = []
        self.parallel = False
        self.dur = dur
        self.offset = 0  # start relative to the parent's start
        self.status = status
        self.error = error
        self.extra = extra or {}
        self.lead = 0  # ms before the first child
        self.tail = 0  # ms after the last child


class _Builder:
    def __init__(self, rng: random.Random, failure_rate: float, slow_rate: float) -> None:
        self.rng = rng
        self.failure_rate = failure_rate
        self.slow_rate = slow_rate
        self.counter = 0

    def uid(self, stem: str, numbered: bool) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}" if numbered else stem

    def duration(self, lo_hi: tuple[int, int]) -> int:
        rng = self.rng
        d = rng.randint(*lo_hi)
        if rng.random() < self.slow_rate:
            d *= rng.randint(6, 20)  # slow outlier
        return d

    def data_action(self, spec: tuple, numbered: bool, *, force_fail: bool | None = None) -> list[_Node]:
        """Return one data-action step, or a failed attempt and its retries."""
        service, stem, name, error, lo_hi = spec
        rng = self.rng
        node_id = self.uid(stem, numbered)
        fail = rng.random() < self.failure_rate if force_fail is None else force_fail
        extra = {"actionType": "dataAction", "attempt": 1, "service": service}
        first = _Node(node_id, name, "dataAction", dur=self.duration(lo_hi), extra=extra)
        if not fail:
            return [first]
        first.status, first.error = "failed", error
        # a gateway timeout takes its time
        first.dur = max(first.dur, rng.randint(2000, 5000)) if "504" in error else first.dur
        out = [first]
        retries = 1 if rng.random() < 0.85 else 2
        for attempt in range(2, retries + 2):
            retry = _Node(f"{node_id}-retry-{attempt - 1}", f"{name} (retry {attempt - 1})", "dataAction",
                          dur=self.duration(lo_hi),
                          extra={"actionType": "dataAction", "attempt": attempt, "service": service})
            retry.offset = rng.randint(200, 900)  # back-off gap before the retry
            if attempt < retries + 1:
                retry.status, retry.error = "failed", error
            out.append(retry)
        return out

    def leaf(self, spec: tuple, numbered: bool) -> _Node:
        type_, stem, name, lo_hi = spec
        return _Node(self.uid(stem, numbered), name, type_, dur=self.duration(lo_hi),
                     extra={"actionType": type_, "attempt": 1})

    def group(self, type_: str, node_id: str, name: str, children: list[_Node], *, parallel: bool = False) -> _Node:
        node = _Node(node_id, name, type_, extra={"actionType": type_})
        node.children = children
        node.parallel = parallel
        node.lead = self.rng.randint(1, 12)
        node.tail = self.rng.randint(1, 8)
        return node


def _layout(node: _Node) -> int:
    """Set each child's offset and each group's duration; return the node's duration."""
    if not node.children:
        return node.dur
    if node.parallel:
        end = 0
        for child in node.children:
            d = _layout(child)
            # siblings start together with a little jitter (offset pre-set by the builder)
            child.offset = node.lead + child.offset
            end = max(end, child.offset + d)
        node.dur = end + node.tail
    else:
        cursor = node.lead
        for child in node.children:
            d = _layout(child)
            gap = child.offset  # the builder's back-off gap or inter-step gap
            child.offset = cursor + gap
            cursor = child.offset + d
        node.dur = cursor + node.tail
    return node.dur


def _emit(root: _Node, start_ms: int) -> list[dict]:
    out: list[dict] = []
    stack: list[tuple[_Node, str | None, int]] = [(root, None, start_ms)]
    while stack:
        node, parent_id, abs_start = stack.pop()
        step = {
            "nodeId": node.node_id,
            "parentId": parent_id,
            "name": node.name,
            "type": node.type,
            "startTime": format_ms(abs_start),
            "endTime": format_ms(abs_start + node.dur),
            "status": node.status,
            "errorMessage": node.error,
        }
        step.update(node.extra)
        out.append(step)
        for child in reversed(node.children):
            stack.append((child, node.node_id, abs_start + child.offset))
    return out


def _normal_flow(b: _Builder, flow_id: str) -> _Node:
    """The hand-shaped inbound call flow (about 20-30 steps)."""
    rng = b.rng
    crm, payment, knowledge, history, balance = _SERVICES

    def gap(node_list: list[_Node]) -> list[_Node]:
        for n in node_list:
            n.offset += rng.randint(1, 25)
        return node_list

    welcome = _Node("welcome-prompt", "Welcome prompt", "playAudio", dur=b.duration((1800, 3200)),
                    extra={"actionType": "playAudio", "attempt": 1})
    schedule = _Node("business-hours", "Business hours?", "decision", dur=b.duration((5, 30)),
                     extra={"actionType": "evaluateSchedule", "attempt": 1, "outputPath": "open"})
    lang_menu = b.group("menu", "language-menu", "Language menu", gap([
        _Node("language-prompt", "Language prompt", "playAudio", dur=b.duration((2000, 4000)),
              extra={"actionType": "playAudio", "attempt": 1}),
        _Node("language-input", "Collect language", "collectInput", dur=b.duration((900, 3500)),
              extra={"actionType": "collectInput", "attempt": 1, "digits": rng.choice("12")}),
    ]))
    # parallel fan-out to CRM / payment / knowledge: each with its own retry chain
    branches = []
    for spec in (crm, payment, knowledge):
        steps = b.data_action(spec, False)
        if len(steps) == 1:
            steps[0].offset = rng.randint(0, 6)
            branches.append(steps[0])
        else:
            chain = b.group("task", f"{steps[0].node_id}-attempts", f"{spec[2]} with retry", steps)
            chain.offset = rng.randint(0, 6)
            branches.append(chain)
    fan_out = b.group("parallel", "customer-context", "Fetch customer context", branches, parallel=True)
    identify = b.group("task", "identify-caller", "Identify caller", gap([
        _Node("ani-lookup", "Normalise ANI", "updateData", dur=b.duration((1, 6)),
              extra={"actionType": "updateData", "attempt": 1}),
        fan_out,
        _Node("known-customer", "Known customer?", "decision", dur=b.duration((2, 10)),
              extra={"actionType": "decision", "attempt": 1, "outputPath": rng.choice(["yes", "yes", "no"])}),
    ]))
    main_menu = b.group("menu", "main-menu", "Main menu", gap([
        _Node("main-menu-prompt", "Main menu prompt", "playAudio", dur=b.duration((3000, 6000)),
              extra={"actionType": "playAudio", "attempt": 1}),
        _Node("main-menu-input", "Collect choice", "collectInput", dur=b.duration((1200, 5000)),
              extra={"actionType": "collectInput", "attempt": 1, "digits": rng.choice("1234")}),
    ]))
    billing_steps = gap(b.data_action(history, False) + [
        _Node("vip-check", "VIP customer?", "decision", dur=b.duration((2, 12)),
              extra={"actionType": "decision", "attempt": 1, "outputPath": rng.choice(["vip", "standard"])}),
    ] + b.data_action(balance, False))
    billing = b.group("subflow", "billing-module", "Billing common module", billing_steps)
    route = b.group("task", "route-call", "Route call", gap([
        _Node("route-decision", "Route by intent", "decision", dur=b.duration((2, 12)),
              extra={"actionType": "decision", "attempt": 1, "outputPath": "billing"}),
        _Node("set-priority", "Set priority", "setData", dur=b.duration((2, 10)),
              extra={"actionType": "setData", "attempt": 1}),
        _Node("set-skills", "Set skills", "setData", dur=b.duration((2, 10)),
              extra={"actionType": "setData", "attempt": 1}),
        _Node("transfer-to-acd", "Transfer to ACD", "transferToAcd", dur=b.duration((30, 150)),
              extra={"actionType": "transferToAcd", "attempt": 1, "queue": "Billing"}),
    ]))
    root = b.group("flow", flow_id, "Inbound call flow", gap([
        welcome, schedule, lang_menu, identify, main_menu, billing, route,
    ]))
    root.extra = {"actionType": "flow", "flowVersion": f"{rng.randint(3, 40)}.0"}
    return root


def _sized_flow(b: _Builder, flow_id: str, size: int) -> _Node:
    """A flow of exactly ``size`` steps: nested sub-flows, tasks and parallel fan-outs."""
    rng = b.rng

    def fill(budget: int, depth: int) -> list[_Node]:
        """Return sibling nodes using exactly ``budget`` steps."""
        out: list[_Node] = []
        while budget > 0:
            # a group when there is room and we are not too deep, else leaves
            if budget >= 4 and depth < 12 and rng.random() < (0.35 if budget < 40 else 0.9):
                share = budget if budget <= 12 else rng.randint(max(3, budget // 6), max(3, budget // 2))
                share = min(share, budget)
                kind = rng.random()
                if kind < 0.3 and depth > 0:
                    # parallel fan-out of data actions (each may carry retries)
                    n_children = share - 1
                    children: list[_Node] = []
                    left = n_children
                    while left > 0:
                        spec = _SERVICES[rng.randrange(len(_SERVICES))]
                        steps = b.data_action(spec, True, force_fail=False if left < 2 else None)
                        if len(steps) > left:
                            steps = steps[:left]
                            steps[-1].status, steps[-1].error = "success", None
                        if len(steps) == 1:
                            steps[0].offset = rng.randint(0, 8)
                            children.append(steps[0])
                            left -= 1
                        elif left >= len(steps) + 1:
                            chain = b.group("task", b.uid(steps[0].node_id + "-attempts", False),
                                            f"{steps[0].name} with retry", steps)
                            chain.offset = rng.randint(0, 8)
                            children.append(chain)
                            left -= len(steps) + 1
                        else:
                            for s in steps:
                                s.offset = rng.randint(0, 8)
                            children.extend(steps)
                            left -= len(steps)
                    out.append(b.group("parallel", b.uid("parallel", True), "Parallel data actions",
                                       children, parallel=True))
                else:
                    type_, stem, name = _GROUPS[rng.choice((0, 1, 1, 3))]
                    node = b.group(type_, b.uid(stem, True), name, fill(share - 1, depth + 1))
                    for c in node.children:
                        c.offset += rng.randint(0, 20)
                    out.append(node)
                budget -= share
            else:
                if rng.random() < 0.3:
                    spec = _SERVICES[rng.randrange(len(_SERVICES))]
                    steps = b.data_action(spec, True, force_fail=False if budget < 2 else None)
                    steps = steps[:budget]
                    if steps[-1].status == "failed" and len(steps) > 1:
                        steps[-1].status, steps[-1].error = "success", None
                    out.extend(steps)
                    budget -= len(steps)
                else:
                    out.append(b.leaf(_LEAVES[rng.randrange(len(_LEAVES))], True))
                    budget -= 1
        return out

    root = b.group("flow", flow_id, "Inbound call flow", fill(size - 1, 0))
    root.extra = {"actionType": "flow", "flowVersion": f"{rng.randint(3, 40)}.0"}
    return root


def generate_trace(
    seed: int,
    *,
    flow_id: str = "inbound-main",
    size: str | int = "normal",
    failure_rate: float = 0.1,
    slow_rate: float = 0.05,
    start: Any = None,
) -> list[dict]:
    """Return a realistic, seeded debug trace of an inbound call flow.

    Args:
        seed: the same seed gives the same steps.
        flow_id: the root step's ``nodeId``.
        size: ``"normal"`` for the hand-shaped flow (welcome, menus, a parallel
            CRM/payment/knowledge fan-out, a billing module, routing: about 25
            steps), or an int for exactly that many steps in nested sub-flows,
            tasks and parallel groups (scales to 100,000 steps).
        failure_rate: probability that a data action fails (it is then retried).
        slow_rate: probability that a step is a slow outlier (6-20x its usual time).
        start: the root's start (datetime, ISO string or epoch ms); by default a
            seeded time on 2026-01-15.

    Returns:
        Steps in depth-first order, root first; every child inside its parent's window.
    """
    if not 0.0 <= failure_rate <= 1.0 or not 0.0 <= slow_rate <= 1.0:
        raise ValueError("failure_rate and slow_rate must be between 0 and 1")
    rng = random.Random(seed)
    start_ms = _start_ms(start, rng)
    b = _Builder(rng, failure_rate, slow_rate)
    if size == "normal":
        root = _normal_flow(b, flow_id)
    elif isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise ValueError("size must be at least 1")
        root = _sized_flow(b, flow_id, size)
    else:
        raise ValueError(f"size must be 'normal' or an int, not {size!r}")
    _layout(root)
    return _emit(root, start_ms)


def generate_dirty_trace(seed: int) -> list[dict]:
    """Return a seeded trace holding every anomaly kind of ``spec/analysis.md`` §2.

    On top of a normal trace: a step without ``nodeId`` (``missing_id``), a repeated
    ``nodeId`` (``duplicate``), a step with no ``endTime`` (``untimed``), one that
    ends before it starts (``negative_duration``), one whose parent does not exist
    (``orphan``), two steps that are each other's parent (``cycle``) and a child
    lying wholly after its parent's window (``outside_parent``).
    """
    steps = generate_trace(seed)
    rng = random.Random(seed ^ 0x5EED)
    root = steps[0]
    t0 = root["startTime"]
    base = _start_ms(t0, rng)
    welcome = next(s for s in steps if s["nodeId"] == "welcome-prompt")
    w_end = _start_ms(welcome["endTime"], rng)

    def step(node_id: Any, parent: Any, start: int | None, end: int | None, **extra: Any) -> dict:
        s = {"nodeId": node_id, "parentId": parent, "name": str(node_id or "unnamed"), "type": "dataAction",
             "startTime": format_ms(start) if start is not None else None,
             "endTime": format_ms(end) if end is not None else None,
             "status": "success", "errorMessage": None, "actionType": "dataAction", "attempt": 1}
        s.update(extra)
        return s

    a = rng.randint(100, 900)
    dirty = [
        step(None, root["nodeId"], base + a, base + a + 40),                       # missing_id
        step("", root["nodeId"], base + a, base + a + 40),                         # missing_id (empty)
        dict(steps[3], name="duplicate of " + steps[3]["name"]),                    # duplicate
        step("crm-writeback", root["nodeId"], base + a, None),                     # untimed
        step("clock-skew-step", root["nodeId"], base + a + 500, base + a + 200),   # negative_duration
        step("orphan-audit", "ghost-parent", base + a, base + a + 120),            # orphan
        step("cycle-a", "cycle-b", base + a + 10, base + a + 60),                  # cycle
        step("cycle-b", "cycle-a", base + a + 20, base + a + 50),                  # cycle
        step("late-callback", "welcome-prompt", w_end + 5_000, w_end + 5_900),     # outside_parent
    ]
    out = steps[:]
    for s in dirty:
        out.insert(rng.randint(1, len(out)), s)
    return out
