"""convolution_backward is costed as its grad-input + grad-weight (+ grad-bias) kernels on every
device kind, not as one forward-sized conv."""

from __future__ import annotations

import pytest

from accel.arch import load_arch
from accel.devices import cost_model_for
from accel.devices.systolic import SystolicLayer
from accel.errors import ConfigError
from accel.graph import OpNode, TensorInfo

N, CIN, COUT, HW, K = 32, 128, 128, 28, 3
FWD_MACS = N * HW * HW * COUT * CIN * K * K


def _conv(dtype: str, mask=None) -> OpNode:
    attrs = {"N": N, "Cin": CIN, "Cout": COUT, "H": HW, "W": HW, "R": K, "S": K, "stride": 1, "pad": 1, "groups": 1,
             "Hout": HW, "Wout": HW}
    x = TensorInfo.of((N, CIN, HW, HW), dtype)
    y = TensorInfo.of((N, COUT, HW, HW), dtype)
    w = TensorInfo.of((COUT, CIN, K, K), dtype)
    if mask is None:
        return OpNode("c", "conv", inputs=[x], outputs=[y], weights=[w], macs=FWD_MACS, flops=2 * FWD_MACS,
                      dtype=dtype, attrs=attrs)
    n = sum(mask[:2])
    return OpNode("c.bwd", "conv", inputs=[y, x, w], outputs=[x, w], macs=n * FWD_MACS, flops=2 * n * FWD_MACS,
                  dtype=dtype, phase="backward", attrs={**attrs, "output_mask": list(mask)},
                  aten="aten.convolution_backward.default")


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_gpu_backward_is_dgrad_plus_wgrad(dtype):
    m = cost_model_for(load_arch("h100"))
    fwd = m.cost(_conv(dtype))
    both = m.cost(_conv(dtype, [True, True, False]))
    dgrad = m.cost(_conv(dtype, [True, False, False]))
    wgrad = m.cost(_conv(dtype, [False, True, False]))
    assert both.time_s == pytest.approx(dgrad.time_s + wgrad.time_s)
    assert both.detail["path"].startswith("dgrad:") and "+wgrad:" in both.detail["path"]
    # each gradient is a forward-sized amount of work: same order of time as the forward conv
    for c in (dgrad, wgrad):
        assert 0.5 * fwd.time_s < c.time_s < 2.5 * fwd.time_s
    assert both.time_s > 1.5 * fwd.time_s
    with_bias = m.cost(_conv(dtype, [True, True, True]))
    assert with_bias.time_s > both.time_s and "bias_grad" in with_bias.detail["path"]


def test_gpu_backward_with_no_gradient_is_an_error():
    with pytest.raises(ConfigError, match="output_mask"):
        cost_model_for(load_arch("h100")).cost(_conv("fp32", [False, False, False]))


def test_cpu_backward_counts_both_gemms():
    m = cost_model_for(load_arch("xeon_e5_2450"))
    fwd = m.cost(_conv("fp32"))
    both = m.cost(_conv("fp32", [True, True, False]))
    one = m.cost(_conv("fp32", [False, True, False]))
    assert both.flops == pytest.approx(2 * fwd.flops)
    assert one.flops == pytest.approx(fwd.flops)


def test_systolic_backward_layers_have_twice_the_forward_macs():
    op = _conv("fp32", [True, True, False])
    layers = SystolicLayer.from_op_all(op)
    assert [ly.name.split("/")[-1] for ly in layers] == ["dgrad", "wgrad"]
    assert all(ly.macs == FWD_MACS for ly in layers)
    assert SystolicLayer.from_op_all(_conv("fp32"))[0].macs == FWD_MACS
    m = cost_model_for(load_arch("systolic_128x128"))
    assert m.cost(op).flops == pytest.approx(4 * FWD_MACS)
    assert m.cost(op).time_s > 1.5 * m.cost(_conv("fp32")).time_s
