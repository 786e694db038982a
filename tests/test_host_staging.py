"""Pageable host<->device copies are the host's staging memcpy (host_runtime.staging_copy of the CPU arch)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from accel.arch import load_arch
from accel.arch.loader import validate_arch_dict
from accel.calibrate.direct import fit_staging, pageable_rows
from accel.errors import ConfigError
from accel.interconnect import transfer_time
from accel.validate import validate_dir, with_measured_memory
from accel.validate.readers import read_measurements

H100_DIR = Path(__file__).resolve().parents[1] / "data" / "measurements" / "h100"


def test_fit_reproduces_the_shipped_host_values():
    """fit_staging on the shipped micro.csv gives the h100_host_xeon YAML's staging_copy (to its rounding)."""
    micro = pd.read_csv(H100_DIR / "micro.csv")
    host = load_arch("h100_host_xeon")
    fits = {f.path: f for f in fit_staging(micro, load_arch("pcie5"), host.calibration.core_dram_bandwidth)}
    sc = host.host_runtime.staging_copy
    assert fits["host_runtime.staging_copy.h2d_efficiency"].value == pytest.approx(sc.h2d_efficiency, abs=0.001)
    assert fits["host_runtime.staging_copy.d2h_efficiency"].value == pytest.approx(sc.d2h_efficiency, abs=0.001)
    assert fits["host_runtime.staging_copy.latency"].value == pytest.approx(sc.latency, abs=0.06e-6)
    assert len(pageable_rows(micro)) == 12
    assert all(f.residual < 0.10 for f in fits.values())


def test_staging_follows_host_memory_bandwidth_and_direction():
    link, host = load_arch("pcie5"), load_arch("h100_host_xeon")
    n = 2**30
    h2d = transfer_time(link, n, pinned=False, direction="h2d", host=host)
    d2h = transfer_time(link, n, pinned=False, direction="d2h", host=host)
    assert d2h < h2d  # measured: 84 ms vs 132 ms for 1 GiB
    fast = host.model_copy(update={"calibration": host.calibration.model_copy(
        update={"core_dram_bandwidth": 2 * host.calibration.core_dram_bandwidth})})
    d2h_fast = transfer_time(link, n, pinned=False, direction="d2h", host=fast)
    pinned = transfer_time(link, n, pinned=True, direction="d2h")
    # the staging term halves; the DMA term stays
    assert d2h_fast - pinned == pytest.approx((d2h - pinned - host.host_runtime.staging_copy.latency) / 2
                                              + host.host_runtime.staging_copy.latency, rel=1e-9)


def test_link_yaml_with_pageable_says_where_it_moved():
    base = {"kind": "link", "name": "x", "generation": "g", "lanes": 16, "lane_rate": "32 Gbit/s",
            "per_direction_bandwidth": "63 GB/s", "efficiency": 0.8, "latency": "10 us", "energy_per_byte": "40 pJ/B"}
    with pytest.raises(ConfigError, match="moved to the host CPU arch"):
        validate_arch_dict({**base, "pageable": {"bandwidth_h2d": "8 GB/s", "bandwidth_d2h": "10 GB/s", "latency": "20 us"}},
                           "l.yaml")


def test_validate_uses_the_directory_hosts_memory(tmp_path):
    """A directory measured on a host whose core copies twice as fast predicts faster pageable copies."""
    d = tmp_path / "other"
    d.mkdir()
    (d / "device.json").write_text((H100_DIR / "device.json").read_text())
    (d / "micro.csv").write_text((H100_DIR / "micro.csv").read_text())
    cpu = pd.read_csv(H100_DIR / "cpu.csv")
    cpu = cpu[cpu["kind"] == "cpu_copy"].copy()
    cpu["ms"] = cpu["ms"] / 2
    cpu.to_csv(d / "cpu.csv", index=False)
    host = load_arch("h100_host_xeon")
    faster, note = with_measured_memory(host, read_measurements(d))
    assert "one core copies at" in note
    assert faster.calibration.core_dram_bandwidth == pytest.approx(2 * 2**29 / (cpu["ms"].max() / 1e3))
    shipped, note0 = with_measured_memory(host, read_measurements(H100_DIR))
    assert note0 == "" and shipped is host  # the shipped cpu.csv gives the arch's own value
    key = "d2h 1GiB pageable"
    a = {c.key: c.predicted for c in validate_dir(H100_DIR, only=["micro"]).comparisons}
    b = {c.key: c.predicted for c in validate_dir(d, only=["micro"]).comparisons}
    assert b[key] < 0.75 * a[key]
    assert b["d2h 1GiB pinned"] == pytest.approx(a["d2h 1GiB pinned"])


def test_bare_device_simulates_pageable_with_the_default_host():
    from accel.sim.system import DEFAULT_HOST, resolve_system

    sysm = resolve_system("h100")
    assert sysm.host_name == DEFAULT_HOST and sysm.host_spec.host_runtime.staging_copy is not None
    assert json.loads(json.dumps(DEFAULT_HOST)) == "h100_host_xeon"
