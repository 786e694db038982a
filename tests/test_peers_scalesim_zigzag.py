"""Cross-checks with the peer simulators.

- SCALE-Sim: actually runs SCALE-Sim v3 on small layers when it is importable (``peers`` mark).
- ZigZag: per-layer ResNet-18 energy on ZigZag's tpu_like accelerator, from ZigZag's stored
  outputs (tests/data/systolic/zigzag_resnet18_tpu_like.csv, made by
  ``python benchmarks/zigzag_compare.py --save``), against our model built from the same numbers.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from accel.devices.systolic import SystolicLayer, layers_cycles_np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "systolic"


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("scalesim") is None, reason="SCALE-Sim not installed")
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_scalesim_live_compute_cycles(dataflow, tmp_path):
    from accel.peers.scalesim_runner import ScaleSimConfig, run_scalesim

    layers = [SystolicLayer.scalesim_conv("c1", 12, 12, 3, 3, 8, 20, 1), SystolicLayer.scalesim_conv("c2", 9, 9, 2, 2, 5, 7, 2)]
    res = run_scalesim(layers, ScaleSimConfig(rows=8, cols=8, dataflow=dataflow, mode="CALC"), workdir=tmp_path)
    for ly, r in zip(layers, res):
        ours = float(layers_cycles_np(ly.px, ly.window, ly.K, 8, 8, dataflow)["compute_cycles"])
        assert ours == r.total_cycles + 1
        assert r.stall_cycles == 0


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("scalesim") is None, reason="SCALE-Sim not installed")
def test_scalesim_live_gemm(tmp_path):
    from accel.peers.scalesim_runner import ScaleSimConfig, run_scalesim

    ly = SystolicLayer.gemm("g", 40, 24, 30)
    r = run_scalesim([ly], ScaleSimConfig(rows=16, cols=16, dataflow="ws", mode="CALC"), gemm=True, workdir=tmp_path)[0]
    assert float(layers_cycles_np(ly.px, ly.window, ly.K, 16, 16, "ws")["compute_cycles"]) == r.total_cycles + 1


def test_zigzag_resnet18_energy_within_15_percent():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import zigzag_compare
    finally:
        sys.path.pop(0)
    with open(DATA / "zigzag_resnet18_tpu_like.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 21
    table = zigzag_compare.compare(rows)
    for t in table:
        assert abs(t["err"]) <= 15, (t["name"], t["err"])
        assert t["ours"]["mac"] == pytest.approx(t["zz"]["mac"], rel=1e-6)  # same MAC count and MAC energy
    zt = sum(t["zz"]["total"] for t in table)
    ot = sum(t["ours"]["total"] for t in table)
    assert abs(ot - zt) / zt < 0.15
