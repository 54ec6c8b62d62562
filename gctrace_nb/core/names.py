"""How a step is named, once for every view (pure, stdlib only).

A step's *name* is the first non-empty name key it carries (``name``,
``nodeName``, ``actionName``, ...); its *label* is that name with the node id
beside it where space allows, so a reader matches the headline, the DAG, the
timeline and every table without looking ids up.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NAME_KEYS", "step_name", "step_label"]

#: The keys that may hold a step's human name, in the order they are tried.
NAME_KEYS: Final = ("name", "nodeName", "actionName", "displayName", "label")


def step_name(step: dict) -> str | None:
    """Return a human name for a step, if it carries one (``name``, ``actionName``, ...).

    >>> step_name({"nodeId": "x", "actionName": "Lookup"}), step_name({"nodeId": "x", "name": ""})
    ('Lookup', None)
    """
    for key in NAME_KEYS:
        value = step.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def step_label(name: str | None, node_id: str, *, with_id: bool = True) -> str:
    """Name a step the same way everywhere: its name, with the id beside it when space allows.

    >>> step_label("Balance service", "balance-http")
    'Balance service (balance-http)'
    >>> step_label("Balance service", "balance-http", with_id=False), step_label(None, "balance-http")
    ('Balance service', 'balance-http')
    >>> step_label("same", "same")
    'same'
    """
    if not name or name == node_id:
        return node_id
    return f"{name} ({node_id})" if with_id else name
