"""Quantities with units, as written in arch YAML ("1.98 GHz", "3.35 TB/s", "50 MiB").

Every parsed value is returned in SI base units (Hz, bytes, bytes/s, W, J, s,
FLOP/s). A small parser (SI and binary prefixes over s, Hz, B, bit, W, J, FLOP/OP, mm^2, with
one ``/``) handles every form we ship; a value with the wrong dimension (e.g. "3 GHz"
where a bandwidth is expected) or without a unit raises :class:`ValueError` with
the allowed units, which the arch loader turns into a :class:`ConfigError`
naming file and field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass



@dataclass(frozen=True)
class Dimension:
    """One physical dimension a field may take, with its SI base unit and examples."""

    name: str
    base_unit: str
    examples: tuple[str, ...]


FREQUENCY = Dimension("frequency", "Hz", ("1.98 GHz", "700 MHz"))
SIZE = Dimension("size", "B", ("50 MiB", "80 GB", "256 KiB"))
BANDWIDTH = Dimension("bandwidth", "B/s", ("3.35 TB/s", "64 GB/s"))
POWER = Dimension("power", "W", ("700 W", "40 W"))
ENERGY = Dimension("energy", "J", ("1.2 pJ", "3 nJ"))
ENERGY_PER_BYTE = Dimension("energy per byte", "J/B", ("20 pJ/B",))
TIME = Dimension("time", "s", ("9 us", "1.5 ms"))
THROUGHPUT = Dimension("compute throughput", "FLOP/s", ("989 TFLOP/s", "1.366 TFLOP/s"))
AREA = Dimension("area", "mm**2", ("814 mm^2",))

_DIMENSIONS = {d.name: d for d in (FREQUENCY, SIZE, BANDWIDTH, POWER, ENERGY, ENERGY_PER_BYTE, TIME, THROUGHPUT, AREA)}

_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def parse_quantity(text: str | int | float, dim: Dimension) -> float:
    """Parse ``text`` (e.g. ``"1.98 GHz"``) and return its value in ``dim.base_unit``.

    Bare numbers are rejected: a unit is required so that "1.98" (GHz? MHz?) is never
    guessed. Raises ValueError naming the allowed units on any problem.
    """
    if isinstance(text, bool) or text is None:
        raise ValueError(f"expected a {dim.name} with a unit, e.g. {', '.join(dim.examples)}; got {text!r}")
    if isinstance(text, (int, float)) or _NUMBER.match(str(text)):
        raise ValueError(
            f"missing unit: {text!r}; write a {dim.name} with a unit, e.g. {', '.join(dim.examples)}"
        )
    value, dims = _parse_unit_expression(str(text))
    want = _BASE_DIMS[dim.base_unit]
    if dims != want:
        raise ValueError(
            f"wrong unit in {text!r}: expected a {dim.name} (convertible to {dim.base_unit}), "
            f"e.g. {', '.join(dim.examples)}"
        )
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite {dim.name}")
    if value != 0 and not QUANTITY_MIN <= abs(value) <= QUANTITY_MAX:
        raise ValueError(f"{text!r} is outside the supported range of a {dim.name} "
                         f"({QUANTITY_MIN:g} to {QUANTITY_MAX:g} {dim.base_unit}, or 0)")
    return value


#: smallest and largest non-zero magnitude of any quantity, in SI base units (1e-30 .. 1e30): wide
#: enough for every physical value an arch needs (fJ to PB/s), narrow enough that sums and
#: quotients of a few of them stay finite in float64 (a 1e-300 B/s bandwidth would make time inf).
QUANTITY_MIN = 1e-30
QUANTITY_MAX = 1e30


_PREFIX = {"": 1.0, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9,
           "T": 1e12, "P": 1e15, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
# base unit -> (scale to SI base, {dimension: exponent}); dimensions: s, B, FLOP, J, mm
_UNIT: dict[str, tuple[float, dict[str, int]]] = {
    "s": (1.0, {"s": 1}), "sec": (1.0, {"s": 1}), "min": (60.0, {"s": 1}),
    "Hz": (1.0, {"s": -1}),
    "B": (1.0, {"B": 1}), "byte": (1.0, {"B": 1}), "bytes": (1.0, {"B": 1}), "bit": (0.125, {"B": 1}), "b": (0.125, {"B": 1}),
    "W": (1.0, {"J": 1, "s": -1}), "J": (1.0, {"J": 1}),
    "FLOP": (1.0, {"FLOP": 1}), "OP": (1.0, {"FLOP": 1}), "MAC": (2.0, {"FLOP": 1}),
    "FLOPS": (1.0, {"FLOP": 1, "s": -1}), "OPS": (1.0, {"FLOP": 1, "s": -1}),
    "mm**2": (1.0, {"mm": 2}), "mm2": (1.0, {"mm": 2}),
}
_BASE_DIMS = {"Hz": {"s": -1}, "B": {"B": 1}, "B/s": {"B": 1, "s": -1}, "W": {"J": 1, "s": -1}, "J": {"J": 1},
              "J/B": {"J": 1, "B": -1}, "s": {"s": 1}, "FLOP/s": {"FLOP": 1, "s": -1}, "mm**2": {"mm": 2}}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.+?)\s*$")


def _parse_unit(token: str, original: str) -> tuple[float, dict[str, int]]:
    token = token.strip()
    for base in sorted(_UNIT, key=len, reverse=True):
        if token.endswith(base):
            prefix = token[: -len(base)]
            if prefix in _PREFIX:
                scale, dims = _UNIT[base]
                return _PREFIX[prefix] * scale, dict(dims)
    ranked = [(pre in ("m", "u", "n", "p"), pre + base) for base in _UNIT for pre in _PREFIX
              if (pre + base).lower() == token.lower()]  # large-value prefixes (MHz, GB) before tiny ones (mHz)
    guess = [g for _, g in sorted(ranked)]
    hint = (f"; did you mean {' or '.join(repr(g) for g in guess)}? (units are case-sensitive)" if guess else
            f"; known units: {', '.join(_UNIT)} with an optional prefix ({', '.join(p for p in _PREFIX if p)})")
    raise ValueError(f"unknown unit {token!r} in {original!r}{hint}")


def _parse_unit_expression(text: str) -> tuple[float, dict[str, int]]:
    """Parse ``"<number> <unit>[/<unit>]"`` -> (value in SI base units, dimension exponents)."""
    m = _QUANTITY.match(text.replace("µ", "u").replace("^", "**"))
    if not m:
        raise ValueError(f"cannot parse {text!r} as '<number> <unit>'")
    number, unit = float(m.group(1)), m.group(2)
    parts = unit.split("/")
    if len(parts) > 2:
        raise ValueError(f"at most one '/' allowed in unit of {text!r}")
    scale, dims = _parse_unit(parts[0], text)
    if len(parts) == 2:
        s2, d2 = _parse_unit(parts[1], text)
        scale /= s2
        for k, v in d2.items():
            dims[k] = dims.get(k, 0) - v
    return number * scale, {k: v for k, v in dims.items() if v}


def dimension(name: str) -> Dimension:
    """Look up a dimension by name (``"frequency"``, ``"bandwidth"``, ...)."""
    try:
        return _DIMENSIONS[name]
    except KeyError:
        raise ValueError(f"unknown dimension {name!r}; allowed: {', '.join(sorted(_DIMENSIONS))}") from None


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format ``value`` in ``unit`` with an SI prefix: ``format_si(3.35e12, "B/s") == "3.35 TB/s"``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")]
    for scale, p in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {p}{unit}"
    return f"{value:.{digits}g} {unit}"


def format_rate(value: float, unit: str) -> str:
    """A rate with one decimal (``"1,234.5 items/s"``), or 3 significant digits when below 0.1,
    so that a tiny positive rate never prints as ``0.0``."""
    if math.isfinite(value) and 0 < abs(value) < 0.1:
        return f"{value:.3g} {unit}"
    return f"{value:,.1f} {unit}"
