import math

import pytest

from accel import units as U


@pytest.mark.parametrize(
    "text,dim,expected",
    [
        ("1.98 GHz", U.FREQUENCY, 1.98e9),
        ("700MHz", U.FREQUENCY, 7e8),
        ("3.35 TB/s", U.BANDWIDTH, 3.35e12),
        ("64 Gb/s", U.BANDWIDTH, 8e9),
        ("50 MiB", U.SIZE, 50 * 2**20),
        ("80 GB", U.SIZE, 80e9),
        ("989.4 TFLOP/s", U.THROUGHPUT, 989.4e12),
        ("1.366 TFLOPS", U.THROUGHPUT, 1.366e12),
        ("20 pJ/B", U.ENERGY_PER_BYTE, 20e-12),
        ("9 us", U.TIME, 9e-6),
        ("9 µs", U.TIME, 9e-6),
        ("700 W", U.POWER, 700.0),
        ("0.9 pJ", U.ENERGY, 0.9e-12),
        ("814 mm^2", U.AREA, 814.0),
    ],
)
def test_parse_quantity(text, dim, expected):
    assert math.isclose(U.parse_quantity(text, dim), expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    "text,dim,fragment",
    [
        ("3 GHz", U.BANDWIDTH, "wrong unit"),
        ("3", U.BANDWIDTH, "missing unit"),
        (3.0, U.SIZE, "missing unit"),
        ("3 furlongs", U.SIZE, "unknown unit"),
        ("fast", U.FREQUENCY, "cannot parse"),
        ("1 GB/s/s", U.BANDWIDTH, "at most one"),
    ],
)
def test_parse_quantity_errors(text, dim, fragment):
    with pytest.raises(ValueError, match=fragment):
        U.parse_quantity(text, dim)


def test_format_si():
    assert U.format_si(3.35e12, "B/s") == "3.35 TB/s"
    assert U.format_si(9e-6, "s") == "9 us"


def test_unknown_unit_suggests_the_case_sensitive_spelling():
    with pytest.raises(ValueError, match=r"did you mean 'MHz' or 'mHz'\? \(units are case-sensitive\)"):
        U.parse_quantity("1530 mhz", U.FREQUENCY)
    with pytest.raises(ValueError, match=r"known units: .*Hz.*optional prefix"):
        U.parse_quantity("3 furlongs", U.SIZE)
