"""NPU archs (``archs/npu/``: Ascend 910, Hanguang 800, Apple Neural Engine M1, Journey 6P) and multi-core systolic arrays.

The multi-core rule (``SystolicSpec.cores``, :func:`accel.devices.systolic.layer_cycles`): each core computes
a ``1/cores`` slice of a MAC op's output from its own scratchpads; all cores share the DRAM port. So N cores
are ~N x faster on a compute-bound conv and no faster on a DRAM-bound op; one core is the old model exactly.

Published comparisons (``accel.validate.npus``, ``data/published/npu_published.csv``), at the time of
writing: Hanguang 800 ResNet-50 MLPerf v0.5 Offline 69,307 img/s vs ours 20,723 at batch 64 (assumed batch,
-70 %); SingleStream mean 0.163 ms vs ours 0.332 ms (+104 %); Ascend 910 ResNet-50 training (MindSpore,
batch 256, mixed precision) 2,115 img/s vs ours 1,330 (-37 %). The Hanguang array shape and local-memory
bandwidth are unpublished assumptions, so no band is asserted: only that every row runs and its error is
finite.
"""

from __future__ import annotations

import math

import pytest

from accel.arch import list_archs, load_arch
from accel.arch.loader import extract_sources, read_yaml, uncited_numbers
from accel.devices import cost_model_for
from accel.devices.systolic import SystolicLayer, core_slices, layer_cycles
from accel.graph import OpNode, TensorInfo

NPUS = ("ascend910", "hanguang800", "apple_ane_m1", "journey6")


@pytest.mark.parametrize("name", NPUS)
def test_npu_loads_with_every_number_cited(name):
    path = list_archs()[name]
    assert path.parent.name == "npu"
    spec = load_arch(name)  # bundled: require_sources
    data, inline = extract_sources(read_yaml(path))
    assert not uncited_numbers(data, {**data.get("sources", {}), **inline})
    assert spec.kind == "systolic" and spec.cores > 1
    # unpublished values say so
    assumed = [k for k, v in spec.sources.items() if "assumption" in v]
    assert assumed or name == "ascend910"


def test_published_peaks():
    """The modelled peaks reproduce the vendors' numbers (Ascend: the CANN 1 GHz cube clock gives 262 vs 256)."""
    peak = {n: 2 * load_arch(n).peak_macs_per_s for n in NPUS}
    assert peak["ascend910"] == pytest.approx(256e12, rel=0.03)
    assert peak["hanguang800"] == pytest.approx(825e12, rel=0.002)
    assert peak["apple_ane_m1"] == pytest.approx(11e12, rel=0.001)
    assert peak["journey6"] == pytest.approx(560e12, rel=0.001)
    for n in NPUS:  # roofline ceilings count the cores
        spec = load_arch(n)
        assert cost_model_for(spec).roofs().peaks[spec.dtype] == pytest.approx(peak[n])


def test_accel_archs_lists_the_npus(capsys):
    from accel.cli import main

    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    for n in NPUS:
        assert n in out


def _conv(n=8, c=256, k=256, hw=28):
    x = TensorInfo((n, c, hw, hw), "fp32", n * c * hw * hw * 4)
    w = TensorInfo((k, c, 3, 3), "fp32", k * c * 9 * 4)
    y = TensorInfo((n, k, hw, hw), "fp32", n * k * hw * hw * 4)
    macs = n * k * hw * hw * c * 9
    return OpNode("conv", "conv", inputs=[x], weights=[w], outputs=[y], flops=2 * macs, macs=macs, dtype="fp32",
                  attrs={"N": n, "Cin": c, "Cout": k, "R": 3, "S": 3, "H": hw, "W": hw, "Hout": hw, "Wout": hw,
                         "stride": 1, "pad": 1, "groups": 1})


def _spec(cores, **kw):
    return load_arch("systolic_32x32").model_copy(update={"cores": cores, **kw})


def test_one_core_is_the_single_array_model():
    op = _conv()
    base = load_arch("systolic_32x32")
    a, b = cost_model_for(base).cost(op), cost_model_for(_spec(1)).cost(op)
    assert a == b


def test_cores_split_compute_bound_conv():
    """Plenty of DRAM bandwidth: 4 cores are ~4x faster, and the MAC work is conserved."""
    op = _conv()
    fast = dict(dram_bandwidth=1e15)
    one, four = (cost_model_for(_spec(n, **fast)).cost(op) for n in (1, 4))
    assert one.bound == four.bound == "compute"
    assert one.time_s / four.time_s == pytest.approx(4.0, rel=0.05)
    assert four.flops == one.flops
    assert four.detail["core_split"] in ("filters", "pixels")
    assert 0 < four.utilization <= 1.0


def test_cores_do_not_speed_up_a_dram_bound_op():
    """A batch-1 GEMV (every weight used once) is DRAM-bound: more cores only add replicated reads."""
    m, k, n = 1, 4096, 4096
    a, b, c = (TensorInfo(s, "fp32", math.prod(s) * 4) for s in ((m, k), (k, n), (m, n)))
    op = OpNode("fc", "matmul", inputs=[a], weights=[b], outputs=[c], flops=2 * m * k * n, macs=m * k * n,
                dtype="fp32", attrs={"M": m, "N": n, "K": k})
    one, four = (cost_model_for(_spec(c)).cost(op) for c in (1, 4))
    assert one.bound == "memory"
    assert four.time_s >= one.time_s * 0.99


def test_core_slices_rules():
    lay = SystolicLayer("c", 30, 30, 3, 3, 64, 128, 1, 28, 28, batch=8)
    splits = dict(core_slices(lay, 4))
    assert splits["filters"].K == 32 and splits["pixels"].batch == 2
    one_img = dict(core_slices(SystolicLayer("c", 30, 30, 3, 3, 64, 128, 1, 28, 28, batch=1), 4))
    assert one_img["pixels"].Hout == 7 and one_img["pixels"].H == 9  # 7 output rows + 2 halo rows
    dw = dict(core_slices(SystolicLayer("dw", 30, 30, 3, 3, 1, 1, 1, 28, 28, groups=64), 4))
    assert set(dw) == {"groups"} and dw["groups"].groups == 16


def test_shared_sram_reads_replicated_operands_once():
    """Weights every core reads cross DRAM once when they fit the shared buffer."""
    lay = SystolicLayer("c", 30, 30, 3, 3, 64, 128, 1, 28, 28, batch=8)
    plain = layer_cycles(_spec(4), lay)
    shared = layer_cycles(_spec(4, shared_sram=8 * 2**20), lay)
    assert sum(shared.dram_reads.values()) <= sum(plain.dram_reads.values())
    assert shared.total_cycles <= plain.total_cycles
    assert shared.dram_reads["filter"] <= lay.window * lay.K


def test_multi_core_needs_ideal_traffic():
    from accel.arch.loader import validate_arch_dict
    from accel.errors import ConfigError

    data = read_yaml(list_archs()["systolic_32x32"])
    with pytest.raises(ConfigError, match="dram_traffic: ideal"):
        validate_arch_dict({**data, "cores": 2, "dram_traffic": "scalesim"})


@pytest.mark.slow
def test_published_comparisons_run():
    """Every published row runs and gives a finite error (values in the module docstring and README)."""
    from accel.validate import npus as bench

    rows = bench.compare()
    assert {r.arch for r in rows} >= {"hanguang800", "ascend910"}
    for r in rows:
        assert math.isfinite(r.error) and r.predicted > 0, r
    assert "nothing published" in bench.table(rows)
