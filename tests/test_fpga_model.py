"""FPGA schema (resource fit check, utilisation) and cost model."""

from __future__ import annotations

from pathlib import Path

import pytest

from accel.arch import load_arch
from accel.arch.loader import extract_sources, read_yaml, validate_arch_dict
from accel.devices import cost_model_for
from accel.errors import ConfigError
from accel.graph import OpNode, TensorInfo


def _raw():
    raw, _ = extract_sources(read_yaml(Path(load_arch("arria10_gx1150").origin)))
    return raw


def test_arria10_resources_and_peak():
    s = load_arch("arria10_gx1150")
    assert (s.dsp_blocks, s.bram_blocks, s.logic_cells) == (1518, 2713, 427200)
    assert s.device_peak_flops == pytest.approx(1.366e12, rel=1e-3)  # seed table peak
    u = s.utilization()
    assert set(u) == {"DSP blocks", "BRAM blocks", "logic cells (ALM/LUT)"}
    assert all(0 < v <= 1 for v in u.values())
    assert u["DSP blocks"] == pytest.approx(23 * 64 / 1518)


@pytest.mark.parametrize("update,resource,need", [
    ({"pe_rows": 40, "pe_cols": 40}, "DSP blocks", "1,600"),
    ({"buffer_size": "8 MiB"}, "BRAM blocks", "3,277"),
    ({"logic_per_pe": 400}, "logic cells", "648,800"),
])
def test_design_that_does_not_fit_names_resource(update, resource, need):
    with pytest.raises(ConfigError) as e:
        validate_arch_dict({**_raw(), **update}, "big.yaml")
    msg = str(e.value)
    assert resource in msg and need in msg and "big.yaml" in msg


def test_fpga_cost_conv_and_fused_ops():
    m = cost_model_for(load_arch("arria10_gx1150"))
    conv = OpNode("c", "conv", inputs=[TensorInfo.of((1, 64, 56, 56), "fp32")], outputs=[TensorInfo.of((1, 64, 56, 56), "fp32")],
                  weights=[TensorInfo.of((64, 64, 3, 3), "fp32")], macs=56 * 56 * 64 * 64 * 9, flops=2 * 56 * 56 * 64 * 64 * 9,
                  attrs={"N": 1, "Cin": 64, "Cout": 64, "H": 56, "W": 56, "R": 3, "S": 3, "stride": 1, "pad": 1,
                         "groups": 1, "Hout": 56, "Wout": 56})
    c = m.cost(conv)
    peak = load_arch("arria10_gx1150").design_peak_flops
    assert c.flops / c.time_s <= peak * load_arch("arria10_gx1150").mac_efficiency + 1  # never above the mapped array
    assert c.energy_j == pytest.approx(40 * c.time_s)
    relu = OpNode("r", "activation", inputs=[TensorInfo.of((1, 64, 56, 56), "fp32")], outputs=[TensorInfo.of((1, 64, 56, 56), "fp32")])
    assert m.cost(relu).time_s == 0  # pipelined behind the PE array
    add = OpNode("a", "elementwise", inputs=[TensorInfo.of((1 << 20,), "fp32")] * 2, outputs=[TensorInfo.of((1 << 20,), "fp32")])
    assert m.cost(add).bound == "memory"


def test_imagenet_seed_network_and_fpga_throughput():
    """The seed table implies ~1.4 GFLOP/img (AlexNet); our FPGA img/s comes from the model, not the seed."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    try:
        import imagenet_table
    finally:
        sys.path.pop(0)
    g = imagenet_table.alexnet_by_hand(batch=4)
    assert g.total_flops / 4 == pytest.approx(1.4287e9, rel=1e-3)  # torchvision AlexNet, 2 FLOP per MAC
    for peak, eff, img_s in ((0.27e12, 0.27, 53), (1.366e12, 0.38, 369), (6.1e12, 0.94, 4129)):
        assert peak * eff / img_s == pytest.approx(g.total_flops / 4, rel=0.05)
    s = load_arch("arria10_gx1150")
    r = imagenet_table.evaluate("arria10_gx1150", g, 4, "Arria 10")
    assert 0 < r.img_s < s.design_peak_flops / (g.total_flops / 4)  # below the mapped array's ceiling
    assert r.img_j == pytest.approx(r.img_s / 40, rel=1e-6)  # 40 W board power


# --- channel_unroll mapping (Zhang et al., FPGA 2015) -------------------------------------------
def _experiment():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    try:
        import imagenet_table
    finally:
        sys.path.pop(0)
    return imagenet_table


def test_channel_unroll_cycles_closed_form_and_gemm():
    from accel.devices.fpga_mapping import channel_dims, channel_unroll_cycles
    from accel.devices.systolic import SystolicLayer

    conv = SystolicLayer("c", 15, 15, 3, 3, 192, 384, 1, 13, 13, batch=2, groups=1)
    assert int(channel_unroll_cycles(conv, 64, 23)) == 6 * 9 * (2 * 13 * 13) * 9  # ceil(384/64) ceil(192/23) px taps
    fc = SystolicLayer.gemm("fc", 16, 4096, 9216)  # [16 x 9216] @ [9216 x 4096]
    d = channel_dims(fc)
    assert (d.out_ch, d.in_ch, d.pixels, d.taps) == (4096, 9216, 16, 1)
    assert int(channel_unroll_cycles(fc, 64, 23)) == 64 * 401 * 16
    with pytest.raises(ValueError, match="unroll factors"):
        channel_unroll_cycles(conv, 0, 4)


def test_best_channel_unroll_gives_the_shipped_arria10_design():
    """The Arria 10 design's Tm x Tn is the cross-layer optimum for torchvision AlexNet's convs, not a fit."""
    from accel.devices.fpga import mac_layers
    from accel.devices.fpga_mapping import best_channel_unroll

    s = load_arch("arria10_gx1150")
    g = _experiment().alexnet_by_hand(1)
    layers = [ly for op in g.ops(phase="forward") if op.kind == "conv" for ly in mac_layers(op)]
    best = best_channel_unroll(layers, s.dsp_blocks // s.dsp_per_pe)
    assert (best.tm, best.tn) == (s.pe_cols, s.pe_rows) == (64, 23)
    assert 0.5 < best.pe_utilization < 0.6  # conv1's 3 input channels leave 20 of 23 lanes idle


def test_channel_unroll_reproduces_zhang2015_vc707_within_10_percent():
    """Published: AlexNet-2012 conv1-5 in 21.61 ms on VC707 (64 x 7 PEs, 100 MHz, fp32)."""
    s = load_arch("zhang2015_vc707")
    assert s.design_peak_flops == pytest.approx(89.6e9)
    assert s.utilization()["DSP blocks"] == pytest.approx(0.80)
    m = cost_model_for(s)
    g = _experiment().alexnet2012_convs(1)
    assert g.total_flops == pytest.approx(1.3316e9, rel=1e-3)  # Zhang et al.: 1.33 GFLOP
    t = sum(m.cost(op).time_s for op in g.ops(phase="forward"))
    assert all(m.cost(op).bound == "compute" for op in g.ops(phase="forward"))
    assert t == pytest.approx(21.61e-3, rel=0.10)
    assert t < 21.61e-3  # the model has no pipeline/control overhead, so it must not be slower than the board


def test_unknown_mapping_names_allowed_values():
    with pytest.raises(ConfigError) as e:
        validate_arch_dict({**_raw(), "mapping": "winograd"}, "m.yaml")
    assert "m.yaml" in str(e.value) and "mapping" in str(e.value) and "systolic, channel_unroll" in str(e.value)
