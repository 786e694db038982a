"""Link transfer-time model vs measured PCIe 5.0 copies, and link YAML validation."""

import csv
from pathlib import Path

import pytest

from accel.arch import load_arch
from accel.arch.loader import validate_arch_dict
from accel.errors import ConfigError
from accel.interconnect import transfer_energy, transfer_time

DATA = Path(__file__).parent / "data" / "sim" / "micro_pcie.csv"
LINKS = ["pcie3", "pcie4", "pcie5", "nvlink2", "nvlink3", "nvlink4"]


def rows():
    with DATA.open() as f:
        return list(csv.DictReader(f))


def mape(pairs):
    return sum(abs(p / m - 1) for p, m in pairs) / len(pairs)


HOST = load_arch("h100_host_xeon")


@pytest.mark.parametrize("pinned", ["True", "False"])
def test_pcie5_matches_micro_csv_within_15pct(pinned):
    link = load_arch("pcie5")
    pairs = [(transfer_time(link, int(r["bytes"]), pinned=(pinned == "True"), direction=r["kind"], host=HOST),
              float(r["ms"]) / 1e3)
             for r in rows() if r["pinned"] == pinned]
    assert len(pairs) == 12
    err = mape(pairs)
    print(f"pinned={pinned}: MAPE {100 * err:.1f}% over {len(pairs)} rows")
    assert err <= 0.15


def test_all_rows_mape_and_large_copy_bandwidth():
    link = load_arch("pcie5")
    pairs = [(transfer_time(link, int(r["bytes"]), pinned=r["pinned"] == "True", direction=r["kind"], host=HOST),
              float(r["ms"]) / 1e3) for r in rows()]
    assert mape(pairs) <= 0.15
    # 1 GiB pinned: bandwidth dominated; effective ~53 GB/s, below the 63 GB/s line rate
    t = transfer_time(link, 2**30)
    assert 45e9 < 2**30 / t < 63.02e9


@pytest.mark.parametrize("name", LINKS)
def test_shipped_links_load_with_sources(name):
    s = load_arch(name)
    assert s.kind == "link" and 0 < s.efficiency <= 1
    assert s.effective_bandwidth < s.per_direction_bandwidth
    assert transfer_time(s, 0) == 0.0
    assert transfer_time(s, 1e9) > transfer_time(s, 1e6) > s.latency


def test_generations_are_ordered():
    bw = [load_arch(n).per_direction_bandwidth for n in LINKS]
    assert bw[0] < bw[1] < bw[2] < bw[3] < bw[4] < bw[5]
    assert load_arch("nvlink4").per_direction_bandwidth == pytest.approx(450e9)
    assert load_arch("pcie5").per_direction_bandwidth == pytest.approx(63.02e9)


def test_pageable_missing_is_an_error_and_energy():
    nv = load_arch("nvlink4")
    with pytest.raises(ConfigError, match="pageable copies need the host CPU arch"):
        transfer_time(nv, 1e6, pinned=False)
    with pytest.raises(ConfigError, match="host_runtime.staging_copy"):
        transfer_time(nv, 1e6, pinned=False, host=load_arch("i7_6700k"))
    assert transfer_time(nv, 1e6, pinned=False, direction="d2d") == transfer_time(nv, 1e6)
    assert transfer_energy(nv, 1e9) == pytest.approx(1e9 * nv.energy_per_byte)
    with pytest.raises(ValueError, match="direction"):
        transfer_time(nv, 1, direction="up")


def test_bad_link_yaml_names_field():
    base = {"kind": "link", "name": "x", "generation": "g", "lanes": 16, "lane_rate": "32 Gbit/s",
            "per_direction_bandwidth": "63 GB/s", "efficiency": 0.8, "latency": "10 us", "energy_per_byte": "40 pJ/B"}
    validate_arch_dict(base, "l.yaml")
    with pytest.raises(ConfigError, match="l.yaml: efficiency"):
        validate_arch_dict({**base, "efficiency": 1.5}, "l.yaml")
    with pytest.raises(ConfigError, match="l.yaml: latency: .*wrong unit"):
        validate_arch_dict({**base, "latency": "10 GB/s"}, "l.yaml")
    with pytest.raises(ConfigError, match="l.yaml: lanes"):
        validate_arch_dict({k: v for k, v in base.items() if k != "lanes"}, "l.yaml")
