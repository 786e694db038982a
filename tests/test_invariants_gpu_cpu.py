"""Physical invariants of the GPU and CPU cost models (hypothesis property tests, issue 16).

Every bundled ``kind: gpu`` and ``kind: cpu`` arch is checked on random ops built as the extractor
(``workloads/recorder.py``) emits them: ``aten.mm`` / ``aten.addmm`` (bias first in ``weights``, as the
recorder lists the addmm arguments) / ``aten.bmm``, convolutions with and without bias, their
``convolution_backward`` (``attrs["output_mask"]``), fused attention, fused LSTM/GRU regions and the
streaming kinds. For each op and arch:

1. **compute roof**: ``time >= W / P`` where ``P`` is the fastest unit that may run the op at the
   arch's (possibly swept) clock, derived here from the YAML datasheet numbers, not from the model:
   GPU ``peak[d] * clock / quote_clock[d]`` (``quote_clock`` = ``peak_clock[d]``, else the YAML's own
   ``clock``), maximised with the fp32 FMA peak (narrow dtypes without tensor cores run on FMA units);
   CPU ``cores * simd_bits/32 * 2 * fma_units * dtype_rate[d] * vector clock``. ``W`` is the *least*
   work the op needs: ``2*M*N*K*batch`` for a GEMM; for a convolution ``2*MACs`` (``op.macs``, exact
   and groups-aware; torch's ``op.flops`` over-counts depthwise backward), divided -- on GPUs, for
   non-tensor-core stride-1 3x3/5x5 convs only -- by ``calibration.winograd_speedup * R*S/9``, the
   multiply reduction the YAML documents for cuDNN's Winograd/FFT algorithms; for attention
   ``4*b*h*Lq*Lk*d`` (halved if causal: masked tiles are skipped); for an RNN its gate GEMMs
   ``2 * sum_layers T*B*gates*H*(I_l + H) * dirs``; for streaming kinds ``op.flops``.
2. **memory roof**: ``time >= DRAM bytes reported / datasheet DRAM bandwidth``.
3. **compulsory traffic**: DRAM bytes >= every weight tensor read once (GEMM-like ops: matmul
   incl. its bias, conv, rnn; conv backward: the tensors its enabled kernels must read and write)
   and >= every input and output once on GPUs, whose model never keeps a tensor on chip between ops
   (rnn: weights + inputs; its per-step state traffic is the model's own). Exceptions, by design: an
   embedding gathers rows, so it reads ``output_bytes`` of its table, not the table; an NLL loss and advanced
   indexing touch only their indexed elements (``accel.devices.gpu.gathered_bytes``); CPU streaming
   ops and CPU direct (depthwise) convs are served from the cache level that holds their working
   set (the model's stated assumption: the producer just wrote it), so there only the bytes of the
   serving level must cover ``streamed_bytes``; CPU GEMM-path ops must still read every weight
   from DRAM.
4. **energy floor**: ``energy >= sum over levels of bytes x the device's cheapest per-byte energy``
   and ``>= DRAM bytes x per_byte.dram``.
5. **monotonic**: time non-increasing as the clock rises (GPU ``clock``; CPU ``turbo_clock`` and
   ``all_core_clock``) and as DRAM bandwidth rises (GPU ``memory.hbm_bandwidth``; CPU
   ``dram_bandwidth``); non-decreasing when the batch (matmul batch / M, conv N, attention batch,
   rnn batch, streamed elements) doubles. Variants are built the way a sweep builds them (raw YAML
   mapping, one field changed, schema-validated).
6. **FLOPs accounting**: ``cost.flops >= W`` (executed FLOPs include tile padding and split-K, never
   less than the work, except the documented Winograd/FFT and causal reductions already in ``W``),
   and the simulator's per-op records report exactly the cost model's ``flops`` (so the total it
   reports is the graph's executed FLOPs; that total is >= ``graph.total_flops`` minus the same
   documented reductions, not equal to it: padding is counted).

Before the fixes of issue 16 two of these failed: (3) for ``aten.addmm`` on GPUs (the bias was
taken as the weight matrix: 0.049 MB instead of 134 MB for Linear(8192, 8192)), and (1) for fp32 /
fp64 on GPUs at a swept clock below the YAML's (fp32 peak did not scale with ``clock``).
"""

from __future__ import annotations

import copy
import math
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.arch.loader import extract_sources, list_archs, read_yaml, validate_arch_dict
from accel.devices.base import OpCost, cost_model_for
from accel.devices.gpu import gathered_bytes, streamed_bytes
from accel.graph import LayerGraph, OpNode, TensorInfo, dtype_bytes
from accel.units import FREQUENCY, BANDWIDTH, THROUGHPUT, parse_quantity

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _raw_by_kind() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {"gpu": {}, "cpu": {}}
    for name, path in list_archs().items():
        plain, _ = extract_sources(read_yaml(path))
        if plain.get("kind") in out:
            plain.pop("sources", None)
            out[plain["kind"]][name] = plain
    return out


RAW = _raw_by_kind()
GPU_ARCHS = sorted(RAW["gpu"])
CPU_ARCHS = sorted(RAW["cpu"])


@lru_cache(maxsize=None)
def model(name: str, clock_scale: float = 1.0, bw_scale: float = 1.0):
    """Cost model of bundled arch ``name`` with its clock(s) and DRAM bandwidth scaled, built as a
    sweep builds a design point (raw mapping, fields replaced, schema-validated)."""
    kind = "gpu" if name in RAW["gpu"] else "cpu"
    data = copy.deepcopy(RAW[kind][name])
    if kind == "gpu":
        if clock_scale != 1.0:
            data["clock"] = f"{parse_quantity(data['clock'], FREQUENCY) * clock_scale!r} Hz"
            data.pop("base_clock", None)  # informational; must not exceed the (swept) boost clock
        if bw_scale != 1.0:
            bw = parse_quantity(data["memory"]["hbm_bandwidth"], BANDWIDTH)
            data["memory"]["hbm_bandwidth"] = f"{bw * bw_scale!r} B/s"
    else:
        if clock_scale != 1.0:
            for f in ("turbo_clock", "all_core_clock", "base_clock"):
                data[f] = f"{parse_quantity(data[f], FREQUENCY) * clock_scale!r} Hz"
        if bw_scale != 1.0:
            data["dram_bandwidth"] = f"{parse_quantity(data['dram_bandwidth'], BANDWIDTH) * bw_scale!r} B/s"
    return cost_model_for(validate_arch_dict(data, f"{name}(clock x{clock_scale}, bw x{bw_scale})"))


# ------------------------------------------------------------------ datasheet roofs (from the YAML)
def gpu_peak(name: str, dtype: str, clock_scale: float = 1.0) -> float:
    """Fastest datasheet FLOP/s that may run ``dtype`` on GPU ``name`` at ``clock_scale`` x its clock:
    each peak is quoted at ``peak_clock`` (else the YAML's clock) and scales linearly with the clock."""
    raw = RAW["gpu"][name]
    clock = parse_quantity(raw["clock"], FREQUENCY) * clock_scale
    quoted = {k: parse_quantity(v, FREQUENCY) for k, v in (raw.get("peak_clock") or {}).items()}

    def at(d: str) -> float:
        return parse_quantity(raw["peak"][d], THROUGHPUT) * clock / quoted.get(d, parse_quantity(raw["clock"], FREQUENCY))

    key = _gpu_key(name, dtype)
    return max(at(key), at("fp32"))


def _gpu_key(name: str, dtype: str) -> str:
    peaks = RAW["gpu"][name]["peak"]
    if dtype.startswith("fp8") and dtype not in peaks:
        return "fp8"
    if dtype == "tf32" and "tf32" not in peaks:
        return "fp32"
    return dtype


def cpu_peak(name: str, dtype: str, clock_scale: float = 1.0) -> float:
    spec = model(name).spec
    rate = spec.dtype_rate.get(dtype, spec.dtype_rate["fp32"])
    clock = spec.clock_for() * clock_scale
    return spec.active_cores * spec.simd_bits / 32 * 2 * spec.fma_units * max(rate, spec.dtype_rate["fp32"]) * clock


def dram_bw(name: str, bw_scale: float = 1.0) -> float:
    spec = model(name).spec
    return (spec.memory.hbm_bandwidth if name in RAW["gpu"] else spec.dram_bandwidth) * bw_scale


def gpu_dtypes(name: str) -> list[str]:
    peaks = RAW["gpu"][name]["peak"]
    out = [d for d in peaks if d != "fp8"]
    if "fp8" in peaks:
        out += ["fp8_e4m3", "fp8_e5m2"]
    return out


def cpu_dtypes(name: str) -> list[str]:
    return list(model(name).spec.dtype_rate)


# ------------------------------------------------------------------ ops, as the extractor emits them
T = TensorInfo.of


def op_matmul(M: int, N: int, K: int, batch: int, dtype: str, form: str) -> OpNode:
    """``form``: ``addmm`` (Linear with bias: weights = [bias, W^T]), ``mm`` (Linear without bias),
    ``mm_wfirst`` (grad-input GEMM: activation @ weight), ``bmm`` (two activations)."""
    flops = 2.0 * M * N * K * batch
    if form == "bmm":
        ins, ws = [T((batch, M, K), dtype), T((batch, K, N), dtype)], []
        out = T((batch, M, N), dtype)
    else:
        batch = 1
        flops = 2.0 * M * N * K
        out = T((M, N), dtype)
        if form == "mm_wfirst":  # the parameter is the left operand: W (M x K) @ x (K x N)
            ins, ws = [T((K, N), dtype)], [T((M, K), dtype)]
        else:
            ins = [T((M, K), dtype)]
            ws = [T((N,), dtype), T((K, N), dtype)] if form == "addmm" else [T((K, N), dtype)]
    aten = {"addmm": "aten.addmm.default", "bmm": "aten.bmm.default"}.get(form, "aten.mm.default")
    return OpNode(name=f"mm_{form}", kind="matmul", dtype=dtype, flops=flops, macs=flops / 2, inputs=ins, weights=ws,
                  outputs=[out], aten=aten, attrs={"M": M, "N": N, "K": K, "batch": batch})


def _conv_attrs(n, cin, cout, h, r, stride, groups, ho, cl, transposed=False):
    return {"N": n, "Cin": cin, "Cout": cout, "H": h, "W": h, "R": r, "S": r, "stride": stride, "pad": r // 2,
            "dilation": 1, "groups": groups, "Hout": ho, "Wout": ho, "transposed": transposed, "spatial_dims": 2,
            "channels_last": cl}


def op_conv(n: int, cin: int, cout: int, h: int, r: int, stride: int, groups: int, dtype: str, bias: bool,
            cl: bool, backward: tuple[bool, bool, bool] | None = None) -> OpNode:
    ho = (h + 2 * (r // 2) - r) // stride + 1
    macs = float(n) * cout * ho * ho * (cin // groups) * r * r
    x, y, w = T((n, cin, h, h), dtype), T((n, cout, ho, ho), dtype), T((cout, cin // groups, r, r), dtype)
    attrs = _conv_attrs(n, cin, cout, h, r, stride, groups, ho, cl)
    if backward is None:
        return OpNode(name="conv", kind="conv", dtype=dtype, flops=2 * macs, macs=macs, inputs=[x],
                      weights=[w] + ([T((cout,), dtype)] if bias else []), outputs=[y],
                      aten="aten.convolution.default", attrs=attrs)
    k = sum(backward[:2])
    outs = ([x] if backward[0] else []) + ([w] if backward[1] else []) + ([T((cout,), dtype)] if backward[2] else [])
    # torch's FlopCounter formula ignores groups (over-counts depthwise backward); macs is exact
    return OpNode(name="conv_bwd", kind="conv", dtype=dtype, flops=2 * k * macs * groups, macs=k * macs,
                  inputs=[y, x], weights=[w], outputs=outs, phase="backward",
                  aten="aten.convolution_backward.default", attrs={**attrs, "output_mask": list(backward)})


def op_conv_transpose(n: int, cin: int, cout: int, h: int, r: int, stride: int, dtype: str) -> OpNode:
    ho = (h - 1) * stride - 2 * (r // 2) + r
    macs = float(n) * cin * h * h * cout * r * r
    return OpNode(name="convT", kind="conv_transpose", dtype=dtype, flops=2 * macs, macs=macs,
                  inputs=[T((n, cin, h, h), dtype)], weights=[T((cin, cout, r, r), dtype)],
                  outputs=[T((n, cout, ho, ho), dtype)], aten="aten.convolution.default",
                  attrs=_conv_attrs(n, cin, cout, h, r, stride, 1, ho, False, transposed=True))


def op_attention(b: int, h: int, lq: int, lk: int, d: int, causal: bool, dtype: str) -> OpNode:
    q, kv, o = T((b, h, lq, d), dtype), T((b, h, lk, d), dtype), T((b, h, lq, d), dtype)
    return OpNode(name="sdpa", kind="attention", dtype=dtype, flops=4.0 * b * h * lq * lk * d,
                  macs=2.0 * b * h * lq * lk * d, inputs=[q, kv, kv], outputs=[o],
                  aten="aten._scaled_dot_product_flash_attention.default",
                  attrs={"batch": b, "heads": h, "Lq": lq, "Lk": lk, "d": d, "causal": causal})


def rnn_macs(T_: int, B: int, I: int, H: int, L: int, G: int, D: int) -> float:  # noqa: E741
    return float(sum(T_ * B * G * H * ((I if layer == 0 else H * D) + H) * D for layer in range(L)))


def op_rnn(T_: int, B: int, I: int, H: int, L: int, cell: str, bidir: bool, dtype: str) -> OpNode:  # noqa: E741
    G, D = {"LSTM": 4, "GRU": 3}[cell], 2 if bidir else 1
    ws = []
    for layer in range(L):
        k_in = I if layer == 0 else H * D
        for _ in range(D):
            ws += [T((G * H,), dtype), T((H, G * H), dtype), T((G * H,), dtype), T((k_in, G * H), dtype)]
    macs = rnn_macs(T_, B, I, H, L, G, D)
    return OpNode(name="rnn", kind="rnn", dtype=dtype, flops=2 * macs, macs=macs, inputs=[T((B, T_, I), dtype)],
                  weights=ws, outputs=[T((B, T_, H * D), dtype), T((L * D, B, H), dtype)], aten="torch.nn." + cell,
                  attrs={"cell": cell, "seq": T_, "batch": B, "input": I, "hidden": H, "layers": L, "gates": G,
                         "bidirectional": bidir})


def op_stream(kind: str, rows: int, cols: int, dtype: str) -> OpNode:
    x = T((rows, cols), dtype)
    if kind == "embedding":
        idx = T((rows,), "int64")
        table = T((50257, cols), dtype)
        return OpNode(name="emb", kind=kind, dtype=dtype, inputs=[idx], weights=[table], outputs=[T((rows, cols), dtype)],
                      aten="aten.embedding.default", attrs={"num_embeddings": 50257, "dim": cols, "lookups": rows})
    if kind == "norm":
        return OpNode(name="ln", kind=kind, dtype=dtype, flops=8.0 * rows * cols, inputs=[x],
                      weights=[T((cols,), dtype), T((cols,), dtype)], outputs=[x], aten="aten.native_layer_norm.default")
    if kind == "optimizer":  # Adam-like: param, grad, two moments
        return OpNode(name="opt", kind=kind, dtype=dtype, flops=10.0 * rows * cols, inputs=[x], phase="optimizer",
                      weights=[x, x, x], outputs=[x, x, x], aten="aten._foreach_add_.List")
    if kind == "reduce":
        return OpNode(name="red", kind=kind, dtype=dtype, flops=1.0 * rows * cols, inputs=[x], outputs=[T((rows,), dtype)])
    n_in = 2 if kind == "elementwise" else 1
    return OpNode(name=kind, kind=kind, dtype=dtype, flops=float(rows * cols), inputs=[x] * n_in, outputs=[x],
                  aten=f"aten.{kind}")


# ------------------------------------------------------------------ strategies
dims = st.one_of(st.sampled_from([1, 3, 8, 64, 127, 128, 768, 1000, 1024, 4096]), st.integers(1, 6000))


@st.composite
def ops(draw, dtypes: list[str]) -> OpNode:
    """A random op of any kind (dtype from ``dtypes``), shaped like the extractor's output."""
    dtype = draw(st.sampled_from(dtypes))
    which = draw(st.sampled_from(["matmul", "matmul", "conv", "conv_bwd", "conv_transpose", "attention", "rnn",
                                  "stream"]))
    if which == "matmul":
        form = draw(st.sampled_from(["addmm", "mm", "mm_wfirst", "bmm"]))
        batch = draw(st.integers(1, 16)) if form == "bmm" else 1
        return op_matmul(draw(dims), draw(dims), draw(dims), batch, dtype, form)
    if which in ("conv", "conv_bwd"):
        groups = draw(st.sampled_from([1, 1, 1, 2, 32]))
        cin = groups * draw(st.sampled_from([1, 3, 8, 16, 64, 256]))
        cout = groups * draw(st.sampled_from([1, 8, 16, 64, 256]))
        r = draw(st.sampled_from([1, 3, 5, 7]))
        h = draw(st.sampled_from([7, 14, 28, 56, 112, 224]))
        stride = draw(st.sampled_from([1, 1, 2]))
        n = draw(st.sampled_from([1, 2, 8, 32, 64]))
        bias, cl = draw(st.booleans()), draw(st.booleans())
        mask = None
        if which == "conv_bwd":
            mask = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()).filter(any))
        return op_conv(n, cin, cout, h, r, stride, groups, dtype, bias, cl, mask)
    if which == "conv_transpose":
        return op_conv_transpose(draw(st.sampled_from([1, 4, 16])), draw(st.sampled_from([16, 64, 256])),
                                 draw(st.sampled_from([3, 16, 64])), draw(st.sampled_from([4, 8, 16, 32])),
                                 draw(st.sampled_from([2, 3, 4])), draw(st.sampled_from([1, 2])), dtype)
    if which == "attention":
        return op_attention(draw(st.integers(1, 16)), draw(st.sampled_from([1, 8, 12, 32])),
                            draw(st.sampled_from([1, 64, 128, 512, 1024, 2048])),
                            draw(st.sampled_from([64, 128, 512, 1024, 2048])), draw(st.sampled_from([32, 64, 128])),
                            draw(st.booleans()), dtype)
    if which == "rnn":
        return op_rnn(draw(st.sampled_from([1, 8, 35, 128])), draw(st.sampled_from([1, 4, 32, 128])),
                      draw(st.sampled_from([64, 512, 1024])), draw(st.sampled_from([64, 256, 1024, 4096])),
                      draw(st.integers(1, 3)), draw(st.sampled_from(["LSTM", "GRU"])), draw(st.booleans()), dtype)
    kind = draw(st.sampled_from(["elementwise", "activation", "norm", "softmax", "pool", "reduce", "embedding",
                                 "data_movement", "optimizer", "loss"]))
    return op_stream(kind, draw(dims), draw(dims), dtype)


def double_batch(op: OpNode) -> OpNode:
    """``op`` with its batch dimension doubled (same builder, same other parameters)."""
    a, d = op.attrs, op.dtype
    if op.kind == "matmul":
        if op.aten == "aten.bmm.default":
            return op_matmul(a["M"], a["N"], a["K"], 2 * a["batch"], d, "bmm")
        form = op.name.removeprefix("mm_")
        if form == "mm_wfirst":  # the activation is the right operand: batch rows are its N
            return op_matmul(a["M"], 2 * a["N"], a["K"], 1, d, form)
        return op_matmul(2 * a["M"], a["N"], a["K"], 1, d, form)
    if op.kind == "conv":
        g = a["groups"]
        mask = tuple(a["output_mask"]) if "output_mask" in a else None
        return op_conv(2 * a["N"], a["Cin"], a["Cout"], a["H"], a["R"], a["stride"], g, d,
                       len(op.weights) > 1, a["channels_last"], mask)
    if op.kind == "conv_transpose":
        return op_conv_transpose(2 * a["N"], a["Cin"], a["Cout"], a["H"], a["R"], a["stride"], d)
    if op.kind == "attention":
        return op_attention(2 * a["batch"], a["heads"], a["Lq"], a["Lk"], a["d"], a["causal"], d)
    if op.kind == "rnn":
        return op_rnn(a["seq"], 2 * a["batch"], a["input"], a["hidden"], a["layers"], a["cell"], a["bidirectional"], d)
    rows = op.inputs[0].shape[0]
    cols = op.outputs[0].shape[1] if len(op.outputs[0].shape) > 1 else op.inputs[0].shape[1]
    return op_stream(op.kind, 2 * rows, cols, d)


# ------------------------------------------------------------------ lower bounds
def least_work(op: OpNode, gpu_arch: str | None) -> float:
    """Least FLOPs ``op`` needs (see the module docstring, item 1)."""
    a = op.attrs
    if op.kind == "matmul":
        return 2.0 * a["M"] * a["N"] * a["K"] * a["batch"]
    if op.kind in ("conv", "conv_transpose"):
        w = 2.0 * op.macs
        if gpu_arch is not None and a["stride"] == 1 and a["R"] in (3, 5) and op.kind == "conv":
            spec = model(gpu_arch).spec
            key = _gpu_key(gpu_arch, op.dtype)
            if key not in spec.tensor_core_dtypes or (a["Cin"] // a["groups"] * dtype_bytes(op.dtype)) % spec.calibration.alignment:
                w /= spec.calibration.winograd_speedup * a["R"] * a["S"] / 9.0
        return w
    if op.kind == "attention":
        return 4.0 * a["batch"] * a["heads"] * a["Lq"] * a["Lk"] * a["d"] * (0.5 if a["causal"] else 1.0)
    if op.kind == "rnn":
        return 2.0 * rnn_macs(a["seq"], a["batch"], a["input"], a["hidden"], a["layers"], a["gates"],
                              2 if a["bidirectional"] else 1)
    return op.flops


def compulsory_dram(op: OpNode, gpu: bool, c: OpCost) -> float:
    """Bytes that must cross DRAM at least once (module docstring, item 3)."""
    if not gpu and c.detail.get("path") not in ("gemm", "rnn_steps"):
        return 0.0  # CPU streaming / direct-conv path: from the level holding the working set (below)
    if op.kind == "embedding":
        return float(op.output_bytes) if gpu else 0.0
    touched = gathered_bytes(op)
    if touched is not None:
        return float(touched) if gpu else 0.0
    if op.kind in ("conv", "conv_transpose") and "output_mask" in op.attrs:
        x, y = op.inputs[1].bytes, op.inputs[0].bytes
        w = op.weights[0].bytes
        m = op.attrs["output_mask"]
        need = 0.0
        if m[0]:
            need = max(need, y + w + x)  # dgrad: reads grad_out and W, writes grad_input
        if m[1]:
            need = max(need, x + y + w)  # wgrad: reads input and grad_out, writes grad_weight
        if m[2]:
            need = max(need, y)
        return need
    gemm_like = op.kind in ("matmul", "conv", "conv_transpose", "attention", "rnn")
    if gpu:
        return float(op.total_bytes) if op.kind not in ("rnn",) else float(op.weight_bytes + op.input_bytes)
    # CPU GEMMs: at least every weight from DRAM (inputs may come from the cache the producer filled)
    return float(op.weight_bytes) if gemm_like else 0.0


def check_roofs_and_floors(name: str, op: OpNode, c: OpCost, gpu: bool, clock_scale: float = 1.0) -> None:
    what = f"{name} {op.kind} {op.aten} {op.dtype} {op.attrs}"
    peak = gpu_peak(name, op.dtype, clock_scale) if gpu else cpu_peak(name, op.dtype, clock_scale)
    work = least_work(op, name if gpu else None)
    tol = 1 - 1e-9
    assert c.time_s > 0 and math.isfinite(c.time_s), what
    assert c.time_s >= work / peak * tol, f"{what}: {c.time_s:.3e} s < {work:.3e} FLOP / {peak:.3e} FLOP/s"
    dram = c.bytes_by_level.get("dram", 0.0)
    assert c.time_s >= dram / dram_bw(name) * tol, f"{what}: {c.time_s:.3e} s < {dram:.3e} B / DRAM bandwidth"
    need = compulsory_dram(op, gpu, c)
    assert dram >= need * tol, f"{what}: DRAM {dram:.4g} B < compulsory {need:.4g} B"
    if not gpu and c.detail.get("path") in ("stream", "direct"):
        assert sum(c.bytes_by_level.values()) >= streamed_bytes(op) * tol, what
    assert c.flops >= work * tol, f"{what}: cost.flops {c.flops:.4g} < least work {work:.4g}"
    per_byte = model(name).spec.energy.per_byte
    floor = sum(b for b in c.bytes_by_level.values()) * min(per_byte.values())
    assert c.energy_j >= floor * tol, f"{what}: energy {c.energy_j:.3e} J < bytes x cheapest {floor:.3e} J"
    assert c.energy_j >= dram * per_byte["dram"] * tol, what


def check_monotonic(name: str, op: OpNode) -> None:
    what = f"{name} {op.kind} {op.aten} {op.dtype} {op.attrs}"
    eps = 1 + 1e-9
    t_clock = [model(name, clock_scale=s).cost(op).time_s for s in (0.5, 0.8, 1.0, 1.25)]
    assert all(b <= a * eps for a, b in zip(t_clock, t_clock[1:])), f"{what}: time vs clock {t_clock}"
    t_bw = [model(name, bw_scale=s).cost(op).time_s for s in (0.5, 1.0, 2.0)]
    assert all(b <= a * eps for a, b in zip(t_bw, t_bw[1:])), f"{what}: time vs DRAM bandwidth {t_bw}"
    m = model(name)
    t1, t2 = m.cost(op).time_s, m.cost(double_batch(op)).time_s
    assert t2 >= t1 / eps, f"{what}: doubling the batch made it faster ({t1:.4e} -> {t2:.4e} s)"


# ------------------------------------------------------------------ the properties
@pytest.mark.parametrize("name", GPU_ARCHS)
@SETTINGS
@given(data=st.data())
def test_gpu_roofs_floors_and_flops(name, data):
    op = data.draw(ops(gpu_dtypes(name)))
    check_roofs_and_floors(name, op, model(name).cost(op), gpu=True)
    # at a swept clock every peak (fp32/fp64 included) scales with it
    for scale in (0.5, 0.75, 1.25):
        check_roofs_and_floors(name, op, model(name, clock_scale=scale).cost(op), gpu=True, clock_scale=scale)


@pytest.mark.parametrize("name", GPU_ARCHS)
@SETTINGS
@given(data=st.data())
def test_gpu_monotonic(name, data):
    check_monotonic(name, data.draw(ops(gpu_dtypes(name))))


@pytest.mark.parametrize("name", CPU_ARCHS)
@SETTINGS
@given(data=st.data())
def test_cpu_roofs_floors_and_flops(name, data):
    op = data.draw(ops(cpu_dtypes(name)))
    check_roofs_and_floors(name, op, model(name).cost(op), gpu=False)
    for scale in (0.5, 1.25):
        check_roofs_and_floors(name, op, model(name, clock_scale=scale).cost(op), gpu=False, clock_scale=scale)


@pytest.mark.parametrize("name", CPU_ARCHS)
@SETTINGS
@given(data=st.data())
def test_cpu_monotonic(name, data):
    check_monotonic(name, data.draw(ops(cpu_dtypes(name))))


# ------------------------------------------------------------------ named regressions (issue 16)
@pytest.mark.parametrize("name", GPU_ARCHS + CPU_ARCHS)
def test_linear_bias_keeps_weight_traffic(name):
    """addmm (Linear with bias) lists the bias before W^T in ``weights``: its DRAM traffic and time
    must be those of the bias-free mm plus the bias, not the bias instead of W."""
    m = model(name)
    dtype = "fp16" if name in RAW["gpu"] and "fp16" in RAW["gpu"][name]["peak"] else "fp32"
    plain, biased = (m.cost(op_matmul(1, 8192, 8192, 1, dtype, f)) for f in ("mm", "addmm"))
    w = 8192 * 8192 * dtype_bytes(dtype)
    assert plain.bytes_by_level["dram"] >= w and biased.bytes_by_level["dram"] >= w
    assert biased.bytes_by_level["dram"] >= plain.bytes_by_level["dram"]
    assert biased.time_s >= plain.time_s * (1 - 1e-9)
    assert biased.time_s == pytest.approx(plain.time_s, rel=0.05)


def test_h100_linear_8192_numbers():
    """The issue's case: Linear(8192, 8192) fp16 batch 1 on H100 is weight-streaming bound
    (134 MB at ~3 TB/s ~ 50 us) with or without bias (was 22.9 us / 0.049 MB with bias)."""
    m = model("h100")
    c = m.cost(op_matmul(1, 8192, 8192, 1, "fp16", "addmm"))
    assert c.bytes_by_level["dram"] == pytest.approx(134.3e6, rel=0.01)
    assert 45e-6 < c.time_s < 60e-6


@pytest.mark.parametrize("name,dtype", [(n, d) for n in GPU_ARCHS for d in ("fp32", "fp64") if d in RAW["gpu"][n]["peak"]])
def test_gpu_fma_dtypes_scale_with_clock(name, dtype):
    """A compute-bound FMA GEMM takes ~1/(clock it runs at): time x the power-capped clock is the
    same at the YAML clock and at half of it (fixed latencies aside), and halving the clock makes
    it >= 1.5x slower. Before the fix fp32/fp64 latency was identical at every clock."""
    op = op_matmul(8192, 8192, 8192, 1, dtype, "mm")
    full, half = model(name).cost(op), model(name, clock_scale=0.5).cost(op)
    assert half.time_s * half.detail["clock_hz"] == pytest.approx(full.time_s * full.detail["clock_hz"], rel=0.02)
    assert half.time_s > 1.5 * full.time_s


@pytest.mark.parametrize("name", GPU_ARCHS)
def test_gpu_peaks_scale_with_clock(name):
    spec, half = model(name).spec, model(name, clock_scale=0.5).spec
    for d in spec.peak:
        assert half.peak_at(d) == pytest.approx(spec.peak_at(d) / 2, rel=1e-9), d


@pytest.mark.parametrize("name", CPU_ARCHS)
def test_cpu_peak_scales_with_clock(name):
    spec, half = model(name).spec, model(name, clock_scale=0.5).spec
    assert half.peak_flops("fp32") == pytest.approx(spec.peak_flops("fp32") / 2, rel=1e-9)


# ------------------------------------------------------------------ FLOPs in = FLOPs reported (simulator)
@pytest.mark.parametrize("name", ["h100", "v100", "h100_host_xeon", "i7_6700k"])
def test_simulator_reports_cost_model_flops(name):
    """The simulator's records carry exactly each op's ``cost.flops`` (no op lost or double-counted);
    their total is >= the graph's FLOPs minus the documented reductions (padding counts)."""
    from accel.sim import simulate

    gpu = name in RAW["gpu"]
    dt = "fp16" if gpu else "fp32"
    g = LayerGraph("inv", {"batch": 4})
    prev: list[str] = []
    for i, op in enumerate([op_matmul(4, 1000, 768, 1, dt, "addmm"), op_conv(4, 64, 64, 28, 3, 1, 1, dt, True, True),
                            op_conv(4, 64, 64, 28, 3, 1, 64, dt, False, True), op_attention(4, 12, 128, 128, 64, True, dt),
                            op_rnn(16, 4, 256, 256, 2, "LSTM", False, dt), op_stream("norm", 512, 768, dt),
                            op_stream("embedding", 512, 768, dt)]):
        op.name = f"op{i}"
        g.add_op(op, prev)
        prev = [op.name]
    res = simulate(g, model(name).spec)
    m = model(name)
    recs = {r.name: r.flops for r in res.records if r.stream == "compute"}
    assert set(recs) == {o.name for o in g}
    for o in g:
        assert recs[o.name] == pytest.approx(m.cost(o).flops or o.flops, rel=1e-12), o.name
    least = sum(least_work(o, name if gpu else None) for o in g)
    assert sum(recs.values()) >= least * (1 - 1e-9)


def test_gpu_peak_without_quote_clock_is_rejected():
    """Every peak needs the clock it is quoted at (else a ``clock`` sweep cannot scale it)."""
    from accel.errors import ConfigError

    data = copy.deepcopy(RAW["gpu"]["h100"])
    data["peak_clock"] = {k: v for k, v in data["peak_clock"].items() if k not in ("fp32", "fp64")}
    with pytest.raises(ConfigError, match=r"peak_clock: .*no entry for fp64, fp32.*scale with `clock`"):
        validate_arch_dict(data, "g.yaml")
