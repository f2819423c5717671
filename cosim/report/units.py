"""Engineering units for text output: each value gets the SI prefix that keeps 1-3 digits before the point."""

from __future__ import annotations

import math

_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"),
             (1e9, "G"))


def eng(value: float | None, unit: str, digits: int = 4) -> str:
    """``eng(3.2e-7, "J")`` -> ``"320 nJ"``; ``digits`` significant digits; zero and non-finite values as they are."""
    if value is None or not math.isfinite(value):
        return f"n/a {unit}"
    if value == 0:
        return f"0 {unit}"
    a = abs(value)
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if a >= s * (1 - 0.5 * 10 ** -digits):
            scale, prefix = s, p
    return f"{value / scale:.{digits}g} {prefix}{unit}"


def axis_scale(values, unit: str) -> tuple[float, str]:
    """One scale for a plot axis: the SI prefix of the largest finite value (``([2e-9, 3e-7], "J")`` -> 1e-9, "nJ")."""
    top = max([abs(v) for v in values if math.isfinite(v)] + [0.0])
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if top >= s:
            scale, prefix = s, p
    return scale, f"{prefix}{unit}"


def bytes_(n: int) -> str:
    """Byte counts in binary units: 38912 -> "38 KiB", 38648 -> "37.74 KiB"."""
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} B"
