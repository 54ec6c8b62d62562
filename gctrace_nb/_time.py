"""Step timestamps to integer epoch microseconds.

Integers keep every sum exact: the critical segments of a trace add up to its
top's duration to the microsecond, and rounding happens once, at output.
Accepted (``spec/analysis.md`` §1): an ISO-8601 string (``Z``, ``z`` or a
``+hh:mm`` offset, fractional seconds, no offset meaning UTC) or a number of
epoch milliseconds. Everything else is *missing* and yields ``None``.
Digits past the microsecond are truncated, as :meth:`datetime.fromisoformat` does.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

__all__ = ["parse_timestamp", "to_iso", "iso_utc", "MIN_US", "MAX_US"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
#: The range a Python datetime (and so a polars frame) can hold, in epoch microseconds.
MIN_US = (datetime(1, 1, 2, tzinfo=timezone.utc) - _EPOCH) // _US
MAX_US = (datetime(9999, 12, 30, tzinfo=timezone.utc) - _EPOCH) // _US

def _parse_iso(text: str) -> int | None:
    """ISO-8601 via the C-implemented :meth:`datetime.fromisoformat` (Python 3.11 rules)."""
    if not text[0].isdigit() or not text[-1].isalnum() or len(text) > 64:
        return None
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    if len(text) > 10 and text[10] == "t":
        text = text[:10] + "T" + text[11:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        value = (parsed - _EPOCH) // _US
    except OverflowError:
        return None
    return value if MIN_US <= value <= MAX_US else None


def parse_timestamp(value: object) -> int | None:
    """Return epoch microseconds for an ISO string or epoch-ms number, else ``None``."""
    if isinstance(value, str):
        # strict: surrounding whitespace or control characters make a string unparsable
        return _parse_iso(value) if value and value.isprintable() else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > 1e17:
            return None
        micros = round(value * 1000)
    else:
        if abs(value) > 10**17:
            return None
        micros = value * 1000
    return micros if MIN_US <= micros <= MAX_US else None


def to_iso(micros: int) -> str:
    """Format epoch microseconds as ISO-8601 UTC with a ``Z``, keeping the microseconds."""
    stamp = _EPOCH + timedelta(microseconds=micros)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def iso_utc(moment: datetime | float | None = None, *, timespec: str = "milliseconds") -> str:
    """``moment`` as ISO-8601 UTC with a ``Z`` (what Genesys and our JSON write).

    ``moment`` is a datetime (naive means UTC), epoch seconds, or ``None`` for now.

    >>> iso_utc(1_700_000_000.1234)
    '2023-11-14T22:13:20.123Z'
    """
    if moment is None:
        moment = datetime.now(timezone.utc)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")
