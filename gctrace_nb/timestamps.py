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
import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_timestamp", "to_iso", "MIN_US", "MAX_US"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
#: The range a Python datetime (and so a polars frame) can hold, in epoch microseconds.
MIN_US = (datetime(1, 1, 2, tzinfo=timezone.utc) - _EPOCH) // _US
MAX_US = (datetime(9999, 12, 30, tzinfo=timezone.utc) - _EPOCH) // _US

# The common shape, parsed without datetime objects: 2024-05-01T10:00:00.123Z
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _parse_iso(text: str) -> int | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return _parse_iso_fallback(text)
    y, mo, d, h, mi, s = (int(match.group(i)) for i in range(1, 7))
    if not (1 <= y and 1 <= mo <= 12 and 1 <= d <= _days_in_month(y, mo) and h <= 23 and mi <= 59 and s <= 59):
        return None
    frac = match.group(7)
    micro = int((frac + "00000")[:6]) if frac else 0
    offset = 0
    if match.group(9):
        oh, om = int(match.group(10)), int(match.group(11))
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * 60
        if match.group(9) == "-":
            offset = -offset
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    value = seconds * 1_000_000 + micro
    return value if MIN_US <= value <= MAX_US else None


def _parse_iso_fallback(text: str) -> int | None:
    """Less common ISO forms (basic format, hour-only offsets, ...) via the stdlib."""
    if not text or len(text) > 64 or not text[0].isdigit():
        return None
    candidate = text[:-1] + "Z" if text.endswith("z") else text
    try:
        parsed = datetime.fromisoformat(candidate)
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
        return _parse_iso(value.strip()) if value else None
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
