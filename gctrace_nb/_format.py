"""One way to write milliseconds for people: the terminal, the HTML report, the pictures and the form.

The rule: the spec's rounding (3 decimals), trailing zeros dropped, thousands
separated: ``15,569 ms``, ``1,234.5 ms``, ``0.125 ms``. Machine output (JSON, CSV,
parquet) keeps plain numbers.
"""

from __future__ import annotations

__all__ = ["fmt_ms"]


def fmt_ms(value: float | None, *, signed: bool = False) -> str:
    """Format milliseconds as the spec rounds them (3 decimals), without trailing zeros.

    ``signed`` writes a change: ``+3,280 ms``, ``-0.5 ms``.

    >>> fmt_ms(1234.5), fmt_ms(120.0), fmt_ms(15569.0), fmt_ms(0.0004), fmt_ms(None)
    ('1,234.5 ms', '120 ms', '15,569 ms', '0 ms', 'n/a')
    >>> fmt_ms(3280.0, signed=True), fmt_ms(-0.5, signed=True), fmt_ms(0.0, signed=True)
    ('+3,280 ms', '-0.5 ms', '+0 ms')
    """
    if value is None:
        return "n/a"
    text = f"{round(value, 3):{'+' if signed else ''},.3f}".rstrip("0").rstrip(".")
    if text in ("-0", "+0", "0", "", "-", "+"):
        text = "+0" if signed else "0"
    return f"{text} ms"
