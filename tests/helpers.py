"""Small builders shared by tests."""

from __future__ import annotations

BASE = "2024-05-01T10:00:00"


def t(ms: float) -> str:
    """An ISO timestamp ``ms`` milliseconds after 10:00:00 UTC on 2024-05-01."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(int(seconds), 60)
    return f"2024-05-01T10:{minutes:02d}:{seconds:02d}.{int(round(millis * 1000)):06d}Z"


def step(node_id, start, end, parent=None, status="success", **extra):
    """A step with times in ms after the base instant (``None`` leaves a time out)."""
    s = {"nodeId": node_id, "status": status}
    if parent is not None:
        s["parentId"] = parent
    if start is not None:
        s["startTime"] = t(start)
    if end is not None:
        s["endTime"] = t(end)
    s.update(extra)
    return s
