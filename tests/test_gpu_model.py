"""GPU cost model behaviour: monotonic, compute vs memory bound, wave quantisation, power cap, kinds."""

import math

import pytest

from accel.arch.loader import load_arch
from accel.devices.base import OpCost, cost_model_for
from accel.devices.gpu import GpuCostModel
from accel.errors import ConfigError, UnknownOpError
from accel.graph import OP_KINDS, OpNode, TensorInfo


def mm(M, N, K, dtype="bf16", batch=1):
    shp = (lambda *s: s if batch == 1 else (batch, *s))  # noqa: E731
    return OpNode(name="mm", kind="matmul", dtype=dtype, flops=2.0 * M * N * K * batch, macs=1.0 * M * N * K * batch,
                  inputs=[TensorInfo.of(shp(M, K), dtype), TensorInfo.of(shp(K, N), dtype)],
                  outputs=[TensorInfo.of(shp(M, N), dtype)], attrs={"M": M, "N": N, "K": K, "batch": batch})


def conv(N, Cin, Cout, H, R, stride=1, groups=1, dtype="fp16"):
    Ho = (H + 2 * (R // 2) - R) // stride + 1
    macs = float(N) * Cout * Ho * Ho * (Cin // groups) * R * R
    return OpNode(name="conv", kind="conv", dtype=dtype, flops=2 * macs, macs=macs,
                  inputs=[TensorInfo.of((N, Cin, H, H), dtype)],
                  weights=[TensorInfo.of((Cout, Cin // groups, R, R), dtype)],
                  outputs=[TensorInfo.of((N, Cout, Ho, Ho), dtype)],
                  attrs={"N": N, "Cin": Cin, "Cout": Cout, "H": H, "W": H, "R": R, "S": R, "stride": stride,
                         "pad": R // 2, "groups": groups, "Hout": Ho, "Wout": Ho,
                         "channels_last": dtype in ("fp16", "bf16")})


def dw_bytes(N, C, H, R, eb=2):
    return (2 * N * C * H * H + C * R * R) * eb


def stream(kind, nbytes, dtype="fp32", flops=0.0):
    t = TensorInfo.of((int(nbytes // 4),), "fp32")
    return OpNode(name=kind, kind=kind, dtype=dtype, inputs=[t], outputs=[t], flops=flops)


@pytest.fixture(scope="module")
def h100():
    return cost_model_for(load_arch("h100"))


def test_registered_and_launch_overheads(h100):
    from accel.sim.host import issue_time_of

    assert isinstance(h100, GpuCostModel)
    assert h100.eager_host_dispatch and h100.launch_overhead_s == 0.0  # eager issue is the host's
    assert h100.graph_launch_overhead_s == pytest.approx(1.01e-6)
    assert h100.static_power_w == pytest.approx(132.6)
    # eager host issue time per op measured on e2e.csv batch-1 rows: ~32 us = launch + framework (default host)
    assert issue_time_of(h100)(stream("elementwise", 4)) == pytest.approx(32e-6, rel=0.05)


def test_opcost_fields(h100):
    c = h100.cost(mm(4096, 4096, 4096))
    assert isinstance(c, OpCost)
    assert c.time_s > 0 and c.cycles == pytest.approx(c.time_s * c.detail["clock_hz"])
    assert c.flops >= 2 * 4096**3
    assert c.bytes_by_level["dram"] >= 3 * 4096 * 4096 * 2  # at least compulsory A, B, C
    assert c.bytes_by_level["l2"] > c.bytes_by_level["dram"]
    assert c.energy_j == pytest.approx(sum(c.energy_by_component.values()))
    assert 0 < c.utilization <= 1


def test_launch_overhead_not_in_time(h100):
    # the simulator adds the host's issue time per op; time_s is device time only
    from accel.sim.host import issue_time_of

    tiny = h100.cost(stream("elementwise", 4))
    assert tiny.time_s < issue_time_of(h100)(stream("elementwise", 4))
    assert tiny.bound == "latency"


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "bf16"])
def test_time_monotonic_in_size(h100, dtype):
    times = [h100.cost(mm(n, n, n, dtype)).time_s for n in (256, 512, 1024, 2048, 4096, 8192)]
    assert all(b > a for a, b in zip(times, times[1:])), times
    ks = [h100.cost(mm(2048, 2048, k, dtype)).time_s for k in (256, 1024, 4096, 16384)]
    assert all(b > a for a, b in zip(ks, ks[1:])), ks


def test_dtype_ordering(h100):
    t = {d: h100.cost(mm(8192, 8192, 8192, d)).time_s for d in ("fp32", "tf32", "bf16", "fp8")}
    assert t["fp32"] > t["tf32"] > t["bf16"] > t["fp8"]
    # fp32 without TF32 runs on FMA units: ~67 TFLOP/s peak, never faster
    assert 2 * 8192**3 / t["fp32"] < 67e12


def test_compute_vs_memory_bound(h100):
    big = h100.cost(mm(8192, 8192, 8192))
    assert big.bound == "compute" and big.utilization > 0.5
    gemv = h100.cost(mm(1, 8192, 8192))  # weights streamed once: memory bound
    assert gemv.bound == "memory" and gemv.utilization < 0.05
    add = h100.cost(stream("elementwise", 1 << 30, flops=2**28))
    assert add.bound == "memory"
    # a streaming op moves its bytes at about the achievable HBM bandwidth
    bw = 2 * (1 << 30) / add.time_s
    assert 0.7 * 3.35e12 < bw < 3.35e12


def test_wave_quantisation_step_visible():
    """Data-parallel tiles: one tile more than the SMs can hold costs a whole extra wave."""
    spec = load_arch("h100")
    # no power cap and no L2 limit: isolate the compute waves
    spec = spec.model_copy(update={"stream_k": False, "tdp": 1e4,
                                   "memory": spec.memory.model_copy(update={"l2_bandwidth": 1e15}),
                                   "tiles": {"tensor": [(128, 128)], "fma": [(128, 128)]}, "max_split_k": 1})
    cm = cost_model_for(spec)
    # 132 SMs: 11 x 12 = 132 tiles of 128x128 fill one wave; 11 x 13 = 143 tiles need two
    one = cm.cost(mm(11 * 128, 12 * 128, 8192))
    two = cm.cost(mm(11 * 128, 13 * 128, 8192))
    assert one.detail["waves"] == 1 and two.detail["waves"] == 2
    assert two.time_s / one.time_s > 1.6  # 8% more work, ~2x the time
    # with stream-K the tail is spread over all SMs: no such step
    sk = cost_model_for(spec.model_copy(update={"stream_k": True}))
    assert sk.cost(mm(11 * 128, 13 * 128, 8192)).time_s / sk.cost(mm(11 * 128, 12 * 128, 8192)).time_s < 1.3


def test_power_cap_lowers_clock_for_big_bf16_gemm(h100):
    big = h100.cost(mm(8192, 8192, 8192, "bf16"))
    small = h100.cost(mm(1024, 1024, 1024, "bf16"))
    assert small.detail["clock_fraction"] == 1.0
    # energy.csv: gemm8192_bf16 ran at 1425 MHz at the 700 W cap
    assert 1.3e9 < big.detail["clock_hz"] < 1.55e9
    board_w = (big.energy_j + 132.6 * big.time_s) / big.time_s
    assert board_w == pytest.approx(700, rel=0.02)
    # without the cap the same GEMM would be faster
    uncapped = cost_model_for(load_arch("h100").model_copy(update={"tdp": 5000.0})).cost(mm(8192, 8192, 8192, "bf16"))
    assert uncapped.detail["clock_fraction"] == 1.0 and uncapped.time_s < big.time_s * 0.95


def test_unaligned_gemm_is_slower(h100):
    aligned = h100.cost(mm(2048, 50256, 768, "fp16"))
    odd = h100.cost(mm(2048, 50257, 768, "fp16"))
    assert odd.detail["aligned"] == 0 and odd.time_s > 2 * aligned.time_s


def test_conv_paths(h100):
    c = h100.cost(conv(32, 256, 256, 56, 3))
    assert c.detail["path"].startswith("implicit_gemm") and c.detail["M"] == 32 * 56 * 56 and c.detail["K"] == 256 * 9
    dw = h100.cost(conv(32, 256, 256, 56, 3, groups=256))
    assert dw.detail["path"] == "direct" and dw.time_s < c.time_s
    assert dw.bytes_by_level["dram"] == pytest.approx(dw_bytes(32, 256, 56, 3))
    # 3 input channels are not 16-byte aligned: bf16 falls back to FMA kernels, fp16 to unaligned tensor kernels
    stem = h100.cost(conv(32, 3, 64, 224, 7, stride=2, dtype="bf16"))
    assert stem.detail["path"].startswith("implicit_gemm_fma")
    stem16 = h100.cost(conv(32, 3, 64, 224, 7, stride=2, dtype="fp16"))
    assert stem16.detail["path"] == "implicit_gemm" and stem16.detail["aligned"] == 0
    pw = h100.cost(conv(32, 256, 64, 7, 1, dtype="tf32"))  # NCHW 1x1: per-image GEMM over 49 pixels
    assert pw.detail["path"] == "nchw_gemm" and pw.detail["N"] == 49 and pw.detail["batch"] == 32
    nchw = h100.cost(conv(32, 256, 256, 56, 3, dtype="tf32"))
    assert "nchw_transform" in nchw.detail["path"]


@pytest.mark.parametrize("kind", OP_KINDS)
def test_every_kind_has_a_cost(h100, kind):
    attrs = {}
    if kind == "matmul":
        op = mm(64, 64, 64, "fp32")
    elif kind in ("conv", "conv_transpose"):
        op = conv(2, 16, 16, 8, 3, dtype="fp32")
        op = OpNode(**{**op.__dict__, "kind": kind})
    elif kind == "attention":
        attrs = {"batch": 2, "heads": 4, "Lq": 128, "Lk": 128, "d": 64, "causal": True}
        t = TensorInfo.of((2, 4, 128, 64), "bf16")
        op = OpNode(name="a", kind=kind, dtype="bf16", inputs=[t, t, t], outputs=[t],
                    flops=4.0 * 2 * 4 * 128 * 128 * 64 / 2, attrs=attrs)
    elif kind == "rnn":
        attrs = {"seq_len": 16, "batch": 4, "hidden": 256, "input_size": 128, "num_layers": 2}
        op = OpNode(name="r", kind=kind, dtype="fp32", inputs=[TensorInfo.of((16, 4, 128), "fp32")],
                    outputs=[TensorInfo.of((16, 4, 256), "fp32")], flops=1e8, attrs=attrs)
    else:
        op = stream(kind, 1 << 20, flops=1e5)
    c = h100.cost(op)
    assert c.time_s > 0 and math.isfinite(c.time_s) and c.energy_j > 0


def test_unknown_kind_and_dtype(h100):
    op = mm(64, 64, 64)
    object.__setattr__(op, "kind", "quantum_fft")
    with pytest.raises(UnknownOpError, match="allowed kinds: .*matmul"):
        h100.cost(op)
    v100 = cost_model_for(load_arch("v100"))
    with pytest.raises(ConfigError, match="peak.bf16.*no peak throughput"):
        v100.cost(mm(256, 256, 256, "bf16"))
    with pytest.raises(ConfigError, match="attrs.K"):
        h100.cost(OpNode(name="bad", kind="matmul", attrs={"M": 1, "N": 2}))


def test_other_generations_are_slower_on_bf16_or_fp16():
    t = {n: cost_model_for(load_arch(n)).cost(mm(8192, 8192, 8192, "fp16")).time_s
         for n in ("h100", "h200", "a100", "v100")}
    assert t["h100"] < t["a100"] < t["v100"]
    assert t["h200"] == pytest.approx(t["h100"], rel=0.05)  # same SMs and clock: compute-bound GEMM
    # memory-bound op: H200's 4.8 TB/s beats H100's 3.35 TB/s
    m = {n: cost_model_for(load_arch(n)).cost(stream("elementwise", 1 << 30)).time_s for n in ("h100", "h200")}
    assert m["h100"] / m["h200"] == pytest.approx(4.8 / 3.35, rel=0.05)
    titan = cost_model_for(load_arch("titanx_pascal"))
    assert titan.cost(mm(4096, 4096, 4096, "fp32")).time_s > 4 * cost_model_for(load_arch("h100")).cost(
        mm(4096, 4096, 4096, "fp32")).time_s


def test_embedding_reads_rows_not_table(h100):
    table = TensorInfo.of((50257, 768), "bf16")
    idx = TensorInfo.of((32, 512), "int64")
    out = TensorInfo.of((32, 512, 768), "bf16")
    op = OpNode(name="wte", kind="embedding", dtype="bf16", inputs=[idx], weights=[table], outputs=[out])
    c = h100.cost(op)
    assert c.bytes_by_level["dram"] == idx.bytes + 2 * out.bytes


def test_rnn_steps_from_extractor_attrs(h100):
    attrs = {"cell": "LSTM", "seq": 128, "batch": 32, "input": 512, "hidden": 1024, "layers": 2, "gates": 4,
             "bidirectional": False}
    op = OpNode(name="lstm", kind="rnn", dtype="fp32", inputs=[TensorInfo.of((32, 128, 512), "fp32")],
                outputs=[TensorInfo.of((32, 128, 1024), "fp32")], flops=120e9, attrs=attrs)
    c = h100.cost(op)
    assert c.detail["path"] == "rnn_steps" and c.detail["steps"] == 256 and c.detail["kernels"] == 2 * (1 + 2 * 128)
    # e2e.csv lstm_lm fp32 b32 = 9.05 ms of which this LSTM is most; dependent steps keep it latency-heavy
    assert 4e-3 < c.time_s < 10e-3
    longer = h100.cost(OpNode(**{**op.__dict__, "attrs": {**attrs, "seq": 256}}))
    assert longer.time_s == pytest.approx(2 * c.time_s, rel=0.1)
    no_attrs = h100.cost(OpNode(**{**op.__dict__, "attrs": {}}))
    assert no_attrs.detail["path"] == "rnn_roofline"


# ---------------------------------------------------------------- low-precision dtypes (issue 16)
@pytest.mark.parametrize("dtype", ["fp8_e4m3", "fp8_e5m2", "int8"])
def test_8bit_gemm_runs_on_tensor_cores_with_1_byte_tensors(h100, dtype):
    """fp8 (both formats, priced at ``peak.fp8``) and int8 GEMMs: 1-byte operands and their own
    tensor peak and per-FLOP energy: ~2x the bf16 rate, half its DRAM bytes."""
    op, ref = mm(8192, 8192, 8192, dtype), mm(8192, 8192, 8192, "bf16")
    c, b = h100.cost(op), h100.cost(ref)
    key = "int8" if dtype == "int8" else "fp8"
    assert c.detail["peak_key"] == key and c.detail["energy_dtype"] == key
    assert c.bytes_by_level["dram"] == pytest.approx(b.bytes_by_level["dram"] / 2, rel=0.01)
    assert 1.6 < b.time_s / c.time_s < 2.2
    assert 2 * 8192**3 / c.time_s <= h100.spec.peak_at(key)
    assert c.energy_by_component["compute"] == pytest.approx(
        c.flops * h100.spec.energy.per_flop[key] * c.detail["clock_fraction"] ** (h100.spec.calibration.dvfs_power_exponent - 1),
        rel=1e-6)


def test_split_accumulator_fp8_gemm_pays_its_promotions(h100):
    """An fp8 GEMM with a split accumulator (Transformer Engine's dgrad / wgrad) adds one FADD per tile element
    every ``fp8_promotion_k`` K elements in series with its MMAs: 1/4 more main-loop time on an H100 (tensor fp8
    rate / (2 x FP32 instruction rate x 128)), part of it won back by the power-capped clock; the fast-accumulate
    GEMM and other dtypes are unchanged."""
    def split(op):
        return OpNode(**{**op.__dict__, "attrs": {**op.attrs, "split_accumulator": True}})

    fast, slow = h100.cost(mm(8192, 8192, 8192, "fp8")), h100.cost(split(mm(8192, 8192, 8192, "fp8")))
    cal, spec = h100.spec.calibration, h100.spec
    share = spec.peak_per_cycle("fp8") / (2 * spec.peak_per_cycle("fp32") / 2 * cal.fp8_promotion_k)
    assert share == pytest.approx(0.25, rel=0.01)
    assert "promotion_s" not in fast.detail and slow.detail["promotion_s"] > 0
    assert slow.detail["clock_fraction"] > fast.detail["clock_fraction"]  # the adds draw no tensor power
    assert 1.05 < slow.time_s / fast.time_s < 1 + share
    bf16 = mm(8192, 8192, 8192, "bf16")
    assert h100.cost(split(bf16)).time_s == h100.cost(bf16).time_s  # 16-bit MMAs accumulate in fp32
    a100 = cost_model_for(load_arch("a100"))
    assert a100.spec.calibration.fp8_promotion_k is None


def test_tf32_uses_4_byte_tensors_at_the_tf32_peak(h100):
    tf, fp = h100.cost(mm(8192, 8192, 8192, "tf32")), h100.cost(mm(8192, 8192, 8192, "fp32"))
    assert tf.detail["peak_key"] == "tf32" and tf.detail["energy_dtype"] == "tf32"
    assert tf.bytes_by_level["dram"] >= 3 * 8192**2 * 4  # operands stay 4 bytes
    assert 2 * 8192**3 / tf.time_s <= h100.spec.peak_at("tf32")
    assert 2 * 8192**3 / tf.time_s > 4 * 2 * 8192**3 / fp.time_s  # tensor cores, not FMA units


def test_tf32_falls_back_to_fp32_without_tf32_tensor_cores():
    """PyTorch's TF32 is a math mode: on a V100 (no TF32 tensor cores) those GEMMs run in fp32."""
    v100 = cost_model_for(load_arch("v100"))
    tf, fp = v100.cost(mm(4096, 4096, 4096, "tf32")), v100.cost(mm(4096, 4096, 4096, "fp32"))
    assert tf.detail["peak_key"] == "fp32" and tf.time_s == pytest.approx(fp.time_s)


@pytest.mark.parametrize(("arch", "dtype"), [("a100", "fp8_e4m3"), ("v100", "int8"), ("v100", "bf16"),
                                             ("titanx_maxwell", "int8")])
def test_dtype_without_hardware_support_is_an_error(arch, dtype):
    with pytest.raises(ConfigError, match=rf"peak\.{dtype}: no peak throughput .*defined: fp"):
        cost_model_for(load_arch(arch)).cost(mm(256, 256, 256, dtype))


def test_int8_without_tensor_cores_uses_dp4a_peak():
    titan = cost_model_for(load_arch("titanx_pascal"))  # int8 via dp4a: 4x the fp32 FMA rate
    i8, f32 = titan.cost(mm(8192, 8192, 8192, "int8")), titan.cost(mm(8192, 8192, 8192, "fp32"))
    assert i8.detail["peak_key"] == "int8"
    assert 3.0 < f32.time_s / i8.time_s <= 4.0


# ---------------------------------------------------------------- Linear with bias (issue 16)
def linear(M, N, K, dtype="fp16", bias=True):
    """As the extractor emits nn.Linear: aten.addmm(bias, x, W^T) -> inputs [x], weights [bias, W^T]."""
    ws = ([TensorInfo.of((N,), dtype)] if bias else []) + [TensorInfo.of((K, N), dtype)]
    return OpNode(name="fc", kind="matmul", dtype=dtype, flops=2.0 * M * N * K, macs=1.0 * M * N * K,
                  inputs=[TensorInfo.of((M, K), dtype)], weights=ws, outputs=[TensorInfo.of((M, N), dtype)],
                  aten="aten.addmm.default" if bias else "aten.mm.default", attrs={"M": M, "N": N, "K": K, "batch": 1})


def test_linear_bias_is_not_the_weight(h100):
    """Linear(8192, 8192) fp16 batch 1: 53.7 us / 134 MB without bias; with bias it was 22.9 us /
    0.049 MB (the bias taken as the weight matrix), now the same plus the 16 KB bias."""
    plain, biased = h100.cost(linear(1, 8192, 8192, bias=False)), h100.cost(linear(1, 8192, 8192))
    assert plain.bytes_by_level["dram"] == pytest.approx(134.25e6, rel=1e-3)
    assert biased.bytes_by_level["dram"] == pytest.approx(plain.bytes_by_level["dram"] + 8192 * 2)
    assert biased.time_s == pytest.approx(plain.time_s, rel=0.01)
    assert 50e-6 < biased.time_s < 57e-6
    # the L2-fit decision sees W (128 MiB > 50 MiB L2), not the bias: weights re-streamed per wave
    big = h100.cost(linear(4096, 8192, 8192))
    assert big.bytes_by_level["dram"] > 4096 * 8192 * 2 + 8192 * 8192 * 2 + 4096 * 8192 * 2


def test_linear_weight_as_left_operand(h100):
    """A parameter used as the left operand (W @ x) is found by its shape, not its position."""
    M, N, K = 4096, 8, 4096
    op = OpNode(name="wx", kind="matmul", dtype="bf16", flops=2.0 * M * N * K, macs=1.0 * M * N * K,
                inputs=[TensorInfo.of((K, N), "bf16")], weights=[TensorInfo.of((M, K), "bf16")],
                outputs=[TensorInfo.of((M, N), "bf16")], attrs={"M": M, "N": N, "K": K, "batch": 1})
    assert h100.cost(op).bytes_by_level["dram"] >= (M * K + K * N + M * N) * 2


# ---------------------------------------------------------------- clock scaling (issue 16)
def test_fp32_latency_scales_with_swept_clock():
    """A clock sweep used to give identical fp32 latency at 1.0, 1.5 and 1.98 GHz (fp32 peak did not
    scale with ``clock``); compute-bound fp32 time now follows the clock the kernel runs at."""
    spec = load_arch("h100")
    times = {}
    for ghz in (1.0, 1.5, 1.98):
        cm = cost_model_for(spec.model_copy(update={"clock": ghz * 1e9, "base_clock": None}))
        c = cm.cost(mm(8192, 8192, 8192, "fp32"))
        times[ghz] = (c.time_s, c.detail["clock_hz"])
    assert times[1.0][0] > times[1.5][0] > times[1.98][0]
    # time x running clock is constant (the power cap may hold 1.98 GHz to a lower clock)
    work = {g: t * f for g, (t, f) in times.items()}
    assert max(work.values()) == pytest.approx(min(work.values()), rel=0.02)


def _layer_norm(rows, width, dtype="fp16", phase="forward"):
    x = TensorInfo.of((rows, width), dtype)
    return OpNode(name="ln", kind="norm", dtype=dtype, phase=phase, inputs=[x],
                  weights=[TensorInfo.of((width,), dtype), TensorInfo.of((width,), dtype)],
                  outputs=[x, TensorInfo.of((rows, 1), "fp32"), TensorInfo.of((rows, 1), "fp32")])


def test_layer_norm_pays_a_latency_per_row_wave(h100):
    """One 128-thread CTA per row, 16 resident per SM: every wave of 132 x 16 rows adds tile_latency
    on top of the streaming time; BatchNorm (per-channel stats) stays a plain stream."""
    from accel.devices.gpu import norm_rows

    cal = h100.spec.calibration
    ln = _layer_norm(16384, 768)
    assert norm_rows(ln) == 16384
    c = h100.cost(ln)
    assert c.detail["path"] == "row_reduce" and c.detail["waves"] == math.ceil(16384 / (132 * 16))
    plain = h100.cost(stream("norm", ln.total_bytes / 2))  # stream() reads and writes nbytes
    x_bytes = ln.inputs[0].bytes  # the second walk over the rows: 2112 resident rows of 1.5 kB fit in L2
    l2 = h100.spec.memory.l2_bandwidth * cal.l2_efficiency
    assert c.detail["row_reread_from"] == "l2" and c.detail["row_reread_bytes"] == x_bytes
    assert c.time_s == pytest.approx(plain.time_s + 8 * cal.tile_latency + x_bytes / l2, rel=1e-3)
    # more rows of the same bytes -> more waves -> slower
    assert h100.cost(_layer_norm(65536, 192)).time_s > c.time_s
    x = TensorInfo.of((32, 64, 56, 56), "fp32")
    bn = OpNode(name="bn", kind="norm", dtype="fp32", inputs=[x], weights=[TensorInfo.of((64,), "fp32")] * 4,
                outputs=[x, TensorInfo.of((64,), "fp32"), TensorInfo.of((64,), "fp32")])
    assert norm_rows(bn) == 0 and h100.cost(bn).detail["path"] == "stream"
    assert norm_rows(_layer_norm(16384, 768, phase="backward")) == 0  # no per-row statistics among its inputs


def test_layer_norm_rereads_rows_from_hbm_when_resident_rows_overflow_l2(h100):
    """PyTorch's LayerNorm kernels walk each row twice. When the rows of the resident CTAs (132 SMs x 16) fit in
    the 50 MiB L2 the second walk is an L2 read in series with the stream; when they do not (fp32 rows of 16384:
    2112 x 64 kB = 138 MB) an LRU cache keeps none of the cyclic footprint and the input crosses HBM twice. The
    backward's input-gradient kernel walks the output gradient and the input twice (recognised by the per-row
    statistics among its inputs), on top of the weight-gradient kernel's second pass (Liger-Kernel's H100
    ``torch.nn.LayerNorm`` fp32 rows, 4096 x 16384: measured 0.307 ms forward, 0.642 ms backward;
    benchmarks/bench_published_kernels.py)."""
    from accel.devices.gpu import norm_reread_bytes, norm_rows

    cal, mem = h100.spec.calibration, h100.spec.memory
    hbm = mem.hbm_bandwidth * cal.hbm_efficiency
    big = _layer_norm(4096, 16384, dtype="fp32")
    c = h100.cost(big)
    x_bytes = big.inputs[0].bytes
    assert c.detail["row_reread_from"] == "dram" and c.bytes_by_level["dram"] == pytest.approx(
        big.total_bytes + x_bytes)
    assert c.time_s == pytest.approx((big.total_bytes + x_bytes) / hbm + 2 * cal.tile_latency + cal.kernel_latency,
                                     rel=1e-3)
    x = TensorInfo.of((4096, 16384), "fp32")
    stats = TensorInfo.of((4096, 1), "fp32")
    w = TensorInfo.of((16384,), "fp32")
    bwd = OpNode("ln/backward", "norm", inputs=[x, x, stats, stats], outputs=[x, w, w], dtype="fp32",
                 phase="backward")
    assert norm_rows(bwd) == 4096 and norm_reread_bytes(bwd) == 2 * x.bytes
    b = h100.cost(bwd)
    # dY, X, dX once; dY and X again in the input-gradient kernel and again in the weight-gradient kernel
    assert b.bytes_by_level["dram"] == pytest.approx(bwd.total_bytes + 4 * x.bytes)
    assert 0.55e-3 < b.time_s < 0.7e-3 and 0.25e-3 < c.time_s < 0.33e-3


def test_persistent_layer_norm_reads_each_row_once(h100):
    """A persistent LayerNorm kernel (apex FastLayerNorm, Transformer Engine: ``norm_kernel`` attr) keeps the row in
    registers: the same fp32 4096 x 16384 forward and backward cross HBM once (no second walk, no second
    weight-gradient pass), so they are cheaper than PyTorch's two-pass kernels by the re-read bytes."""
    from accel.devices.gpu import NORM_KERNEL_ATTR, norm_reread_bytes, norm_second_pass_bytes

    x = TensorInfo.of((4096, 16384), "fp32")
    stats = TensorInfo.of((4096, 1), "fp32")
    w = TensorInfo.of((16384,), "fp32")
    for op in (_layer_norm(4096, 16384, dtype="fp32"),
               OpNode("ln/backward", "norm", inputs=[x, x, stats, stats], outputs=[x, w, w], dtype="fp32",
                      phase="backward")):
        two_pass = h100.cost(op)
        op.attrs[NORM_KERNEL_ATTR] = "persistent"
        assert norm_reread_bytes(op) == 0.0 and norm_second_pass_bytes(op) == 0.0
        once = h100.cost(op)
        assert once.bytes_by_level["dram"] == pytest.approx(op.total_bytes)
        assert once.detail.get("row_reread_from", "none") == "none"
        assert once.time_s < two_pass.time_s * 0.8


def _with_cal(spec, **kw):
    return spec.model_copy(update={"calibration": spec.calibration.model_copy(update=kw)})


def test_batch1_fp32_conv_time_follows_main_loop_steps_not_flops():
    """Few tiles (N=1, 7x7 output): an fp32 conv takes ceil(K/8) main-loop steps x step latency, so
    doubling K doubles the time; cuDNN's fp32/tf32 conv kernels do not split K (conv.csv N1 rows)."""
    spec = load_arch("h100")
    cm = GpuCostModel(spec)
    lat = float(spec.calibration.mainloop_step_latency)
    assert lat > 0 and not spec.calibration.conv_fp32_split_k
    t = {}
    for cin in (256, 512):
        c = cm.cost(conv(1, cin, 512, 7, 3, dtype="fp32"))
        assert c.detail["split_k"] == 1 and c.detail["tiles"] <= spec.sm_count
        assert c.time_s >= math.ceil(cin * 9 / 8) * lat
        t[cin] = c.time_s
    assert t[512] / t[256] == pytest.approx(2.0, rel=0.1)
    # without the floor (and with split-K) the same conv is several times faster: the floor is what binds
    off = GpuCostModel(_with_cal(spec, mainloop_step_latency=0.0, conv_fp32_split_k=True))
    assert off.cost(conv(1, 512, 512, 7, 3, dtype="fp32")).time_s < t[512] / 3
    # tf32 steps cover 64 elements of K (256 B), 8x fewer than fp32's 8: faster, still K-proportional
    tf = cm.cost(conv(1, 512, 512, 7, 3, dtype="tf32"))
    assert tf.time_s >= math.ceil(512 * 9 / 64) * lat and tf.time_s < t[512] / 2


def test_main_loop_floor_spares_gemms_and_full_waves():
    """cuBLAS GEMMs (split-K / GEMV kernels) carry no step floor; a big conv is far above it."""
    spec = load_arch("h100")
    on, off = GpuCostModel(spec), GpuCostModel(_with_cal(spec, mainloop_step_latency=0.0))
    for op in (mm(1, 11008, 4096, "fp32"), mm(8, 4096, 4096, "fp32"), conv(128, 256, 256, 14, 3, dtype="fp32")):
        assert on.cost(op).time_s == pytest.approx(off.cost(op).time_s)


def test_norm_kernel_pairs_read_their_inputs_twice():
    """A normalisation backward that returns weight gradients runs two kernels over the output gradient and the
    input (PyTorch: the input gradient, then the per-feature weight/bias column reduction): its streamed bytes are
    those of one pass plus the two tensors again. Without weight gradients (1-D outputs) it stays one pass.
    BatchNorm's training forward reads its input for the batch statistics and again to normalise; in inference
    (``_no_training``) once."""
    from accel.devices.gpu import norm_second_pass_bytes

    x = TensorInfo.of((8, 1024, 4096), "bf16")
    stats = TensorInfo.of((8, 1024, 1), "fp32")
    w = TensorInfo.of((4096,), "bf16")
    with_w = OpNode("ln/backward", "norm", inputs=[x, x, stats, stats], outputs=[x, w, w], dtype="bf16",
                    phase="backward")
    no_w = OpNode("ln/backward", "norm", inputs=[x, x, stats, stats], outputs=[x], dtype="bf16", phase="backward")
    assert norm_second_pass_bytes(with_w) == 2 * x.bytes
    assert norm_second_pass_bytes(no_w) == 0.0
    bn = OpNode("bn/backward", "norm", inputs=[TensorInfo.of((32, 64, 56, 56), "fp32")] * 2,
                outputs=[TensorInfo.of((32, 64, 56, 56), "fp32"), TensorInfo.of((64,), "fp32")], dtype="fp32",
                phase="backward")
    assert norm_second_pass_bytes(bn) == 2 * bn.inputs[0].bytes
    y, c = TensorInfo.of((32, 64, 56, 56), "fp32"), TensorInfo.of((64,), "fp32")
    train_fwd = OpNode("bn", "norm", inputs=[y], outputs=[y, c, c], dtype="fp32", aten="aten._native_batch_norm_legit.default")
    eval_fwd = OpNode("bn", "norm", inputs=[y], outputs=[y, c, c], dtype="fp32",
                      aten="aten._native_batch_norm_legit_no_training.default")
    assert norm_second_pass_bytes(train_fwd) == y.bytes and norm_second_pass_bytes(eval_fwd) == 0.0
    h100 = cost_model_for(load_arch("h100"))
    one, two = h100.cost(no_w), h100.cost(with_w)
    hbm = h100.spec.memory.hbm_bandwidth * h100.spec.calibration.hbm_efficiency
    assert two.detail["kernels"] == 2 and two.time_s == pytest.approx(one.time_s + 2 * x.bytes / hbm, rel=0.01)


def test_pytorch_softmax_rereads_rows_too_long_for_its_one_read_kernels(h100):
    """PyTorch's ``host_softmax`` (``aten/src/ATen/native/cuda/SoftMax.cu``) keeps a row on chip in its warp,
    register and shared-memory kernels; rows too long for all three (a thread would hold 10+ vectors and the row
    exceeds 48 KiB of shared memory) run ``cunn_SoftMaxForward``, which walks the row three times (max, sum of
    exponentials, output). A cross-entropy's ``log_softmax`` over 50,368 fp32 logits per token (201 kB rows; 264
    resident 1024-thread CTAs = 53 MB > the 50 MiB L2) therefore reads its input three times from HBM; fp16 rows of
    32,768 (register kernel) and attention rows of 2,048 (shared memory) once."""
    from accel.devices.gpu import softmax_block_rows

    cal, mem = h100.spec.calibration, h100.spec.memory
    hbm = mem.hbm_bandwidth * cal.hbm_efficiency

    def softmax(rows: int, n: int, dtype: str, aten: str = "aten._log_softmax.default") -> OpNode:
        t = TensorInfo.of((rows, n), dtype)
        return OpNode("sm", "softmax", inputs=[t], outputs=[t], dtype=dtype, aten=aten, flops=5.0 * rows * n)

    logits = softmax(4096, 50368, "fp32")
    assert softmax_block_rows(logits) == (4096, 1024)
    c = h100.cost(logits)
    x = logits.inputs[0].bytes
    assert c.detail["path"] == "softmax_three_pass" and c.detail["row_reread_from"] == "dram"
    assert c.bytes_by_level["dram"] == pytest.approx(logits.total_bytes + 2 * x)
    assert c.time_s == pytest.approx((logits.total_bytes + 2 * x) / hbm + cal.kernel_latency, rel=1e-3)
    for one_read in (softmax(4096, 32768, "fp16"), softmax(4096, 2048, "fp16", "aten._softmax.default"),
                     softmax(4096, 1024, "fp32"), softmax(4096, 50368, "fp32", "aten.exp.default")):
        assert softmax_block_rows(one_read) == (0, 0) and h100.cost(one_read).detail["path"] == "stream"
