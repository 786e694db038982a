"""CPU cost model: peak/threads, cache-level traffic, overheads, and MAPE on the measured host CPU."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accel.arch.loader import load_arch
from accel.devices.base import cost_model_for
from accel.devices.cpu import CpuCostModel
from accel.errors import ConfigError, UnknownOpError
from accel.graph import OP_KINDS, OpNode, TensorInfo

DATA = Path(__file__).resolve().parent / "data" / "gpu"


def mm(M, N, K, dtype="fp32"):
    return OpNode(name="mm", kind="matmul", dtype=dtype, flops=2.0 * M * N * K, macs=1.0 * M * N * K,
                  inputs=[TensorInfo.of((M, K), dtype), TensorInfo.of((K, N), dtype)],
                  outputs=[TensorInfo.of((M, N), dtype)], attrs={"M": M, "N": N, "K": K})


def copy(nbytes):
    t = TensorInfo.of((nbytes // 4,), "fp32")
    return OpNode(name="copy", kind="data_movement", dtype="fp32", inputs=[t], outputs=[t])


def host(threads=16):
    spec = load_arch("h100_host_xeon")
    return cost_model_for(spec.model_copy(update={"threads": threads}))


def test_registered_no_launch_overhead():
    cm = host()
    assert isinstance(cm, CpuCostModel)
    assert cm.launch_overhead_s == 0.0  # framework overhead is inside time_s on a CPU
    assert cm.static_power_w > 0


def test_threads_speed_up_gemm_and_monotonic():
    one, all16 = host(1), host(16)
    t1 = [one.cost(mm(n, n, n)).time_s for n in (128, 256, 512, 1024, 2048)]
    t16 = [all16.cost(mm(n, n, n)).time_s for n in (128, 256, 512, 1024, 2048)]
    assert all(b > a for a, b in zip(t1, t1[1:])) and all(b > a for a, b in zip(t16, t16[1:]))
    assert 4 < t1[-1] / t16[-1] < 16


def test_gemm_bound_and_traffic():
    c = host(16).cost(mm(4096, 4096, 4096))
    assert c.bound == "compute"
    # blocked GEMM: more traffic from each inner level than from DRAM, DRAM at least compulsory
    b = c.bytes_by_level
    assert b["l1"] >= b["l2"] >= b["l3"] >= 3 * 4096 * 4096 * 4 * 0.99
    assert c.energy_j == pytest.approx(sum(c.energy_by_component.values()))


def test_copy_served_by_level_that_fits():
    cm = host(16)
    small, mid, big = cm.cost(copy(4 << 20)), cm.cost(copy(64 << 20)), cm.cost(copy(1 << 30))
    assert small.detail["level"] == "l2" and mid.detail["level"] == "l3" and big.detail["level"] == "dram"
    bw = [2 * n / c.time_s for n, c in ((4 << 20, small), (64 << 20, mid), (1 << 30, big))]
    assert bw[0] > bw[1] > bw[2]


def test_every_kind_and_errors():
    cm = host(4)
    for kind in OP_KINDS:
        if kind == "matmul":
            op = mm(64, 64, 64)
        elif kind in ("conv", "conv_transpose"):
            op = OpNode(name="c", kind=kind, dtype="fp32", flops=2e6, inputs=[TensorInfo.of((1, 8, 16, 16), "fp32")],
                        outputs=[TensorInfo.of((1, 8, 16, 16), "fp32")],
                        attrs={"N": 1, "Cin": 8, "Cout": 8, "H": 16, "W": 16, "R": 3, "S": 3, "stride": 1,
                               "groups": 1, "Hout": 16, "Wout": 16})
        elif kind == "attention":
            op = OpNode(name="a", kind=kind, dtype="fp32", flops=1e6,
                        attrs={"batch": 1, "heads": 2, "Lq": 16, "Lk": 16, "d": 32})
        else:
            op = copy(1 << 16)
            op = OpNode(**{**op.__dict__, "kind": kind})
        c = cm.cost(op)
        assert c.time_s > 0
    bad = mm(8, 8, 8)
    object.__setattr__(bad, "kind", "warp_drive")
    with pytest.raises(UnknownOpError, match="allowed kinds"):
        cm.cost(bad)
    with pytest.raises(ConfigError, match="dtype_rate.bf16"):
        cost_model_for(load_arch("i7_6700k")).cost(mm(64, 64, 64, "bf16"))


def test_seed_cpu_peaks():
    assert load_arch("xeon_e5_2450").peak_flops("fp32") == pytest.approx(268.8e9)
    i7 = load_arch("i7_6700k")
    assert i7.peak_flops("fp32") == pytest.approx(4 * 32 * 4.0e9)


def test_host_cpu_mape_on_cpu_csv():
    """cpu.csv fp32 GEMM (1 and 16 threads) and copy rows, shipped YAML: MAPE <= 15% per group."""
    d = pd.read_csv(DATA / "cpu.csv")
    models = {t: host(t) for t in (1, 16)}
    errs: dict[str, list[float]] = {}
    for _, r in d.iterrows():
        t = int(r.threads)
        if r.kind == "cpu_gemm_fp32":
            op, g = mm(int(r.M), int(r.N), int(r.K)), "gemm"
        elif r.kind == "cpu_copy":
            op, g = copy(int(r.bytes)), "copy"
        else:
            continue
        errs.setdefault(f"{g}_t{t}", []).append(models[t].cost(op).time_s / (r.ms / 1e3) - 1)
    assert set(errs) == {"gemm_t1", "gemm_t16", "copy_t1", "copy_t16"}
    for key, e in errs.items():
        m = float(np.mean(np.abs(e)) * 100)
        print(f"host CPU {key}: MAPE {m:.1f}% (n={len(e)})")
        assert m <= 15.0, key


EPYC = Path(__file__).resolve().parent / "data" / "cpu" / "epyc_gemm_t1.csv"


def test_epyc_genoa_single_thread_gemm_mape():
    """archs/cpu/epyc_genoa_2vcpu.yaml vs this dev VM's own single-thread fp32 GEMM rows (a copy of
    tests/data/validate/epyc_cpu_quick/gemm.csv, `accel measure --device cpu --quick --threads 1`):
    MAPE <= 10% over the square and 196x3072x768 rows. The skinny 8x4096x4096 row (27 GFLOP/s
    measured: small-M BLAS path) is a known miss of the roofline model; it is asserted to stay
    under-predicted so that a change which starts to explain it is noticed."""
    spec = load_arch("epyc_genoa_2vcpu")
    assert spec.peak_flops("fp32", threads=1) == pytest.approx(32 * 3.7e9)  # 2 FMA pipes x 8 lanes x 2
    cm = cost_model_for(spec.model_copy(update={"threads": 1}))
    d = pd.read_csv(EPYC)
    assert (d.threads == 1).all() and len(d) == 6
    errs, skinny = [], None
    for _, r in d.iterrows():
        e = cm.cost(mm(int(r.M), int(r.N), int(r.K))).time_s / (r.ms / 1e3) - 1
        if int(r.M) == 8:
            skinny = e
        else:
            errs.append(e)
    m = float(np.mean(np.abs(errs)) * 100)
    print(f"EPYC single-thread GEMM: MAPE {m:.1f}% (n={len(errs)}), skinny 8x4096x4096 error {skinny:+.0%}")
    assert m <= 10.0
    assert skinny is not None and skinny < -0.5


def _relu(nbytes):
    t = TensorInfo.of((nbytes // 4,), "fp32")
    return OpNode(name="relu", kind="activation", dtype="fp32", flops=nbytes // 4, inputs=[t], outputs=[t])


def test_handoff_only_for_multithreaded_streaming_ops():
    spec = load_arch("h100_host_xeon")
    bw = spec.calibration.handoff_bandwidth
    assert bw is not None and bw > 0
    t16, t1 = host(16), host(1)
    nbytes = 4 << 20
    c = t16.cost(_relu(nbytes))
    assert c.detail["limiter"] == "handoff"
    assert c.time_s >= 2 * nbytes / bw  # reads + writes the activation
    assert t1.cost(_relu(nbytes)).detail["limiter"] != "handoff"  # one core: nothing to hand off
    assert t16.cost(copy(nbytes)).detail["limiter"] != "handoff"  # explicit copies (cpu.csv rows) exempt
    assert t16.cost(mm(512, 512, 512)).detail["limiter"] != "handoff"
    off = cost_model_for(spec.model_copy(update={
        "threads": 16, "calibration": spec.calibration.model_copy(update={"handoff_bandwidth": None})}))
    assert off.cost(_relu(nbytes)).time_s < c.time_s


def test_host_cpu_batch1_models_mape():
    """Batch-1 model rows of data/measurements/h100/cpu.csv (copied to tests/data/cpu): MAPE <= 15%
    for 1 and for 16 threads with the shipped YAML; without handoff_bandwidth the 16-thread rows are
    badly under-predicted (the effect the parameter models)."""
    workloads = pytest.importorskip("workloads")
    d = pd.read_csv(Path(__file__).resolve().parent / "data" / "cpu" / "h100_host_models.csv")
    spec = load_arch("h100_host_xeon")
    graphs = {}
    no_handoff = spec.calibration.model_copy(update={"handoff_bandwidth": None})
    errs: dict[str, list[float]] = {}
    for _, r in d.iterrows():
        name = r.kind[len("cpu_"):-len("_b1_fp32")]
        if name not in graphs:
            graphs[name] = list(workloads.extract_model(name, batch=1, mode="infer", dtype="fp32"))
        t = int(r.threads)
        for label, cal in (("shipped", spec.calibration), ("no_handoff", no_handoff)):
            cm = cost_model_for(spec.model_copy(update={"threads": t, "calibration": cal}))
            pred = sum(cm.cost(op).time_s for op in graphs[name])
            errs.setdefault(f"{label}_t{t}", []).append(pred / (r.ms / 1e3) - 1)
    m = {k: float(np.mean(np.abs(v)) * 100) for k, v in errs.items()}
    print("host CPU batch-1 models MAPE:", {k: round(v, 1) for k, v in m.items()})
    assert m["shipped_t1"] <= 15.0 and m["shipped_t16"] <= 15.0
    assert m["no_handoff_t16"] > 30.0


# ---------------------------------------------------------------- rnn and dtypes (issue 16)
def lstm(T, B, I, H, layers=1, dtype="fp32"):  # noqa: E741
    G = 4
    ws = []
    for layer in range(layers):
        k_in = I if layer == 0 else H
        ws += [TensorInfo.of((G * H,), dtype), TensorInfo.of((H, G * H), dtype), TensorInfo.of((G * H,), dtype),
               TensorInfo.of((k_in, G * H), dtype)]
    macs = sum(T * B * G * H * ((I if layer == 0 else H) + H) for layer in range(layers))
    return OpNode(name="lstm", kind="rnn", dtype=dtype, flops=2.0 * macs, macs=float(macs),
                  inputs=[TensorInfo.of((B, T, I), dtype)], weights=ws, outputs=[TensorInfo.of((B, T, H), dtype)],
                  attrs={"cell": "LSTM", "seq": T, "batch": B, "input": I, "hidden": H, "layers": layers,
                         "gates": 4, "bidirectional": False})


def test_rnn_is_gate_gemms_plus_sequential_steps():
    """rnn = per layer an input projection GEMM + T dependent step GEMMs: FLOPs are exactly the gate
    GEMMs (layer 2's input is the hidden state: the old model used input + hidden for every layer and
    missed 14% of a 2-layer 512/1024 LSTM's FLOPs), and the steps cannot be overlapped, so the op is
    slower than one GEMM of the same FLOPs and each step pays a fork/join when multi-threaded."""
    cm = host(16)
    op = lstm(128, 32, 512, 1024, layers=2)
    c = cm.cost(op)
    assert c.flops == pytest.approx(op.flops)
    assert c.detail["path"] == "rnn_steps" and c.detail["steps"] == 256
    one_gemm = cm.cost(mm(128 * 32, 4 * 1024, 512 + 1024 + 2048))  # >= the same FLOPs in one GEMM
    assert c.time_s > one_gemm.time_s
    assert c.time_s >= 256 * cm.spec.calibration.parallel_overhead
    # sequential: twice the steps take about twice the time
    assert cm.cost(lstm(256, 32, 512, 1024, layers=2)).time_s == pytest.approx(2 * c.time_s, rel=0.05)
    # every parameter (biases included) from DRAM at least once
    assert c.bytes_by_level["dram"] >= op.weight_bytes


def test_cpu_tf32_runs_as_fp32_and_fp8_is_an_error():
    cm = host(16)
    tf, fp = cm.cost(mm(1024, 1024, 1024, "tf32")), cm.cost(mm(1024, 1024, 1024, "fp32"))
    assert tf.time_s == pytest.approx(fp.time_s)
    with pytest.raises(ConfigError, match="dtype_rate.fp8_e4m3.*supported: fp32"):
        cm.cost(mm(64, 64, 64, "fp8_e4m3"))
    i8 = cost_model_for(load_arch("epyc_genoa_2vcpu")).cost(mm(1024, 1024, 1024, "int8"))
    assert i8.time_s < cost_model_for(load_arch("epyc_genoa_2vcpu")).cost(mm(1024, 1024, 1024)).time_s
