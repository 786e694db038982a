"""llm_train.csv: one decoder block of an LLM trained forward + backward on this device, as accel's cluster model
prices it.

:mod:`accel.train` prices a training step from ONE tensor-parallel rank's block graph
(:func:`workloads.llm_train.training_graphs` ``["block"]``, priced by :func:`accel.train.costs.price_piece`).
This section runs that very module (:func:`workloads.llm_train.block_module`, tensor-parallel 1, attention
core ``flash`` = PyTorch's ``scaled_dot_product_attention``, no dropout) on the real device, so
``accel validate`` can tell whether a gap comes from the GEMMs, the attention kernels, the elementwise /
norm kernels or the clocks the GPU sustains under a long training load.

For each plan case ``(label, spec, seq_len, microbatch)`` (:data:`accel.measure.shapes.LLM_TRAIN_GPU`):
``blocks`` independent copies of the block (``plan.llm_train_blocks``: 4 on GPUs, 1 on CPUs) in bf16 on CUDA
(fp32 on CPU), input ``x`` = randn(microbatch, seq_len, hidden) with ``requires_grad``; one step = forward
through all blocks in sequence, ``out.backward(g)`` with a preallocated random gradient ``g`` (no loss
kernels), then every parameter's (and x's) ``.grad = None``. Columns (times in ms per block):

* ``ms``: median time of one step / blocks (:meth:`Ctx.timed`: CUDA events; perf_counter on CPU), with the
  noise columns of :meth:`Ctx.noise` for that timing; ``fwd_ms``: the forward alone (autograd recording);
* ``flops_per_block``: model FLOPs of one block's forward + backward, summed over the ops of accel's own traced
  block graph; ``tflops`` = flops_per_block / ms (TFLOP/s); ``params_per_block``;
* CUDA only (blank on CPU): ``sustained_ms``: steps run back to back for at least ``plan.llm_train_seconds``
  (host wall clock / steps / blocks) with NVML sampled every :data:`NVML_SAMPLE_S`:
  ``sm_clock_mhz_median`` (MHz), ``power_w_median`` (W), ``power_w_avg`` (W, energy counter / time),
  ``power_cap_frac`` (fraction of samples with the software power cap active), ``throttle_reasons`` (every
  clock-event reason seen), ``nvml_samples`` -- blank when pynvml or NVML is unavailable;
  ``gemm_ms`` / ``attention_ms`` / ``other_ms``: device kernel time of one profiled step (``torch.profiler``,
  CUDA activity) by kernel name (:func:`kernel_class`), / blocks, and ``other_ms`` split into ``norm_ms`` /
  ``elementwise_ms`` / ``reduce_ms`` / ``copy_ms`` / ``misc_ms`` (:func:`other_class`); ``kernels_per_block``; ``sdpa_backend``
  (which SDPA kernel ran: flash, efficient, cudnn, math, from the profiled kernel names; ``sdpa`` on CPU);
  ``peak_mem_gib`` (largest allocated device memory of the case, GiB).

A case that fails (e.g. out of memory) is logged and skipped; the others go on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from accel.measure.sections import Ctx
from accel.measure.timing import Timing

#: substrings (lower case) of attention kernel names: FlashAttention-2 (``pytorch_flash::flash_fwd_kernel``),
#: memory-efficient attention (``fmha_cutlassF``), cuDNN fused attention (``..._sdpa_..._flash_fprop_...``)
ATTENTION_MARKERS: tuple[str, ...] = ("flash", "fmha", "attention", "sdpa")
#: substrings (lower case) of GEMM kernel names: cuBLAS/cuBLASLt (``sm90_xmma_gemm_...``, ``nvjet_...`` on Hopper
#: with CUDA 12.6+, ``cublasLt::splitKreduce_kernel``), CUTLASS, wgmma kernels
GEMM_MARKERS: tuple[str, ...] = ("gemm", "xmma", "cutlass", "sm90_", "sm80_", "wgmma", "cublas", "nvjet")
#: the ``other`` kernels split further by name (lower case), first match wins, the rest ``misc``: ``norm``
#: (LayerNorm / RMSNorm / BatchNorm forward and backward, ``GammaBetaBackwardCUDAKernel``), ``copy`` (copies and
#: casts, ``direct_copy_kernel_cuda``, ``CatArrayBatchedCopy``, memcpy / memset, advanced indexing), ``reduce``
#: (``reduce_kernel``), ``elementwise`` (PyTorch's vectorized / unrolled elementwise kernels: activations, residual
#: adds, fills)
OTHER_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("norm", ("layer_norm", "layernorm", "rms_norm", "rmsnorm", "batch_norm", "batchnorm", "gammabeta", "welford")),
    ("copy", ("copy", "memcpy", "memset", "catarray", "index")),
    ("reduce", ("reduce",)),
    ("elementwise", ("elementwise", "pointwise")),
)
#: sub-classes of the ``other`` kernels (:func:`other_class`), which add up to ``other``
OTHER_CLASSES: tuple[str, ...] = (*(c for c, _ in OTHER_MARKERS), "misc")
#: seconds between NVML samples in the sustained run
NVML_SAMPLE_S = 0.1
#: NVML clock-event (throttle) reason bits -> name (nvmlClocksEventReasons / nvmlClocksThrottleReasons)
CLOCK_REASONS: dict[int, str] = {0x1: "gpu_idle", 0x2: "app_clocks", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
                                 0x10: "sync_boost", 0x20: "sw_thermal", 0x40: "hw_thermal", 0x80: "hw_power_brake",
                                 0x100: "display_clocks"}
#: warm-up steps and timed steps of ``ms`` / ``fwd_ms`` (on CUDA :meth:`Ctx.timed` counts milliseconds, so these
#: are scaled by a one-step estimate)
WARMUP_STEPS, TIMED_STEPS = 5, 20
#: columns that only a CUDA run fills (blank on CPU)
CUDA_COLUMNS: tuple[str, ...] = ("sustained_ms", "sustained_s", "sm_clock_mhz_median", "power_w_median", "power_w_avg",
                                 "power_cap_frac", "throttle_reasons", "nvml_samples", "gemm_ms", "attention_ms",
                                 "other_ms", *(f"{c}_ms" for c in OTHER_CLASSES), "kernels_per_block", "peak_mem_gib")


def kernel_class(name: str) -> str:
    """``attention``, ``gemm`` or ``other`` for a device kernel name (:data:`ATTENTION_MARKERS` first, then
    :data:`GEMM_MARKERS`, case-insensitive)."""
    n = name.lower()
    if any(m in n for m in ATTENTION_MARKERS):
        return "attention"
    if any(m in n for m in GEMM_MARKERS):
        return "gemm"
    return "other"


def other_class(name: str) -> str:
    """The :data:`OTHER_CLASSES` entry of an ``other`` kernel's name (:data:`OTHER_MARKERS`, case-insensitive)."""
    n = name.lower()
    for cls, marks in OTHER_MARKERS:
        if any(m in n for m in marks):
            return cls
    return "misc"


def sdpa_backend(kernel_names: Iterable[str]) -> str:
    """Which ``scaled_dot_product_attention`` backend ran, from a step's kernel names: ``cudnn``, ``flash``
    (FlashAttention-2), ``efficient`` (memory-efficient, CUTLASS fmha), ``sdpa`` (another attention kernel) or
    ``math`` (no attention kernel: batched GEMMs and softmax)."""
    att = [n.lower() for n in kernel_names if kernel_class(n) == "attention"]
    if not att:
        return "math"
    for backend, marks in (("cudnn", ("cudnn",)), ("flash", ("flash",)), ("efficient", ("fmha", "cutlass", "efficient"))):
        if any(m in n for n in att for m in marks):
            return backend
    return "sdpa"


def split_kernels(kernels: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Summed duration per :func:`kernel_class` of ``(kernel name, duration)`` pairs (duration's unit), the
    ``other`` ones also per :func:`other_class`, plus ``count``."""
    out = {"gemm": 0.0, "attention": 0.0, "other": 0.0, **{c: 0.0 for c in OTHER_CLASSES}, "count": 0.0}
    for name, dur in kernels:
        cls = kernel_class(name)
        out[cls] += float(dur)
        if cls == "other":
            out[other_class(name)] += float(dur)
        out["count"] += 1
    return out


@dataclass
class _Nvml:
    """NVML handle of the CUDA device and the samples of one sustained run."""

    nv: Any
    handle: Any
    clocks: list[float] = field(default_factory=list)
    powers: list[float] = field(default_factory=list)
    reasons: list[int] = field(default_factory=list)

    @classmethod
    def open(cls, torch: Any) -> "_Nvml | None":
        """The current CUDA device's NVML handle (by PCI bus id, else index 0), or None without pynvml/NVML."""
        try:
            import pynvml as nv

            nv.nvmlInit()
        except Exception:
            return None
        try:
            p = torch.cuda.get_device_properties(torch.cuda.current_device())
            bus = f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
            handle = nv.nvmlDeviceGetHandleByPciBusId(bus)
        except Exception:
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(0)
            except Exception:
                return None
        return cls(nv, handle)

    def energy_mj(self) -> float | None:
        """Total energy counter (mJ), or None where unsupported."""
        try:
            return float(self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception:
            return None

    def sample(self) -> None:
        """Record the SM clock (MHz), the board power (W) and the clock-event reason bits now."""
        nv, h = self.nv, self.handle
        try:
            self.clocks.append(float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)))
            self.powers.append(float(nv.nvmlDeviceGetPowerUsage(h)) / 1e3)
        except Exception:
            return
        fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
        try:
            if fn is not None:
                self.reasons.append(int(fn(h)))
        except Exception:
            pass

    def columns(self, joules: float | None, seconds: float) -> dict[str, Any]:
        """sm_clock_mhz_median, power_w_median, power_w_avg, power_cap_frac, throttle_reasons, nvml_samples."""
        def med(v: list[float]) -> Any:
            return sorted(v)[len(v) // 2] if v else ""

        seen = 0
        for r in self.reasons:
            seen |= r
        return {"sm_clock_mhz_median": med(self.clocks), "power_w_median": med(self.powers),
                "power_w_avg": joules / seconds if joules is not None and seconds > 0 else "",
                "power_cap_frac": (sum(1 for r in self.reasons if r & 0x4) / len(self.reasons)) if self.reasons else "",
                "throttle_reasons": "+".join(n for b, n in CLOCK_REASONS.items() if seen & b) or
                                    ("none" if self.reasons else ""),
                "nvml_samples": len(self.clocks)}


def _profile_split(torch: Any, step: Callable[[], None], blocks: int) -> dict[str, Any]:
    """gemm_ms / attention_ms / other_ms / kernels_per_block / sdpa_backend of one step under ``torch.profiler``
    (CUDA activity: device kernel, memcpy and memset durations), per block."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    kernels: list[tuple[str, float]] = []
    # CUDA activity alone records the kernels; should a torch build need the CPU side too, retry with both
    for activities in ([ProfilerActivity.CUDA], [ProfilerActivity.CPU, ProfilerActivity.CUDA]):
        with profile(activities=activities) as prof:
            step()
            torch.cuda.synchronize()
        kernels = [(str(getattr(e, "trace_name", None) or e.name), float(e.time_range.elapsed_us()))
                   for e in prof.events() if e.device_type == DeviceType.CUDA]
        if kernels:
            break
    if not kernels:
        raise RuntimeError("the profiler recorded no CUDA kernels")
    s = split_kernels(kernels)
    return {**{f"{c}_ms": s[c] / 1e3 / blocks for c in ("gemm", "attention", "other", *OTHER_CLASSES)},
            "kernels_per_block": s["count"] / blocks, "sdpa_backend": sdpa_backend(n for n, _ in kernels)}


def _sustained(ctx: Ctx, step: Callable[[], None], step_ms: float, seconds: float, blocks: int) -> dict[str, Any]:
    """sustained_ms (per block), sustained_s and the NVML columns of ``step`` run back to back for >= ``seconds``."""
    nvml = _Nvml.open(ctx.torch)
    if nvml is None:
        ctx.log("llm_train: pynvml/NVML unavailable, no clock and power columns")
    iters = max(3, math.ceil(seconds * 1e3 / max(step_ms, 1e-3)))
    ctx.sync()
    e0 = nvml.energy_mj() if nvml else None
    t0 = last = time.perf_counter()
    for _ in range(iters):
        step()
        now = time.perf_counter()
        if nvml is not None and now - last >= NVML_SAMPLE_S:
            nvml.sample()
            last = now
    ctx.sync()
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"sustained_ms": elapsed * 1e3 / (iters * blocks), "sustained_s": round(elapsed, 3)}
    if nvml is not None:
        e1 = nvml.energy_mj()
        out.update(nvml.columns((e1 - e0) / 1e3 if e0 is not None and e1 is not None else None, elapsed))
    return out


def per_block(t: Timing, blocks: int) -> Timing:
    """``t`` (a step of ``blocks`` blocks) per block: every time divided by ``blocks`` (the spread is unchanged)."""
    return Timing(ms=t.ms / blocks, ms_min=t.ms_min / blocks, ms_iqr=t.ms_iqr / blocks,
                  round_ms=tuple(r / blocks for r in t.round_ms), samples=t.samples)


def _case(ctx: Ctx, label: str, spec: str, seq_len: int, microbatch: int) -> dict[str, Any]:
    """One llm_train.csv row (module docstring)."""
    from workloads.llm_configs import llm_config
    from workloads.llm_train import block_module, shard_config, training_graphs

    torch, dev = ctx.torch, ctx.device
    blocks = max(1, int(ctx.plan.llm_train_blocks))
    cfg = llm_config(spec)
    shard = shard_config(cfg, 1)
    dname = "bf16" if ctx.cuda else "fp32"
    dt = ctx.dt(dname)
    graph = training_graphs(cfg, 1, microbatch, seq_len, dname, "flash", 0.0)["block"]
    flops = float(sum(op.flops for op in graph))
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.device(dev):
        mods = [block_module(shard, seq_len, "flash", 0.0).to(dt).train() for _ in range(blocks)]
    params = [p for m in mods for p in m.parameters()]
    x = torch.randn(microbatch, seq_len, cfg.hidden, device=dev, dtype=dt, requires_grad=True)
    g = torch.randn(microbatch, seq_len, cfg.hidden, device=dev, dtype=dt)

    def forward() -> Any:
        h = x
        for m in mods:
            h = m(h)
        return h

    def fwd_only() -> None:
        forward()

    def step() -> None:
        forward().backward(g)
        for p in params:
            p.grad = None
        x.grad = None

    for _ in range(2):
        step()
    ctx.sync()
    t0 = time.perf_counter()
    step()
    ctx.sync()
    est_ms = (time.perf_counter() - t0) * 1e3
    warm, rep = max(10, int(WARMUP_STEPS * est_ms)), max(20, int(TIMED_STEPS * est_ms))
    t = per_block(ctx.timed(step, warmup=warm, rep=rep), blocks)
    tf = per_block(ctx.timed(fwd_only, warmup=warm // 3, rep=rep // 3), blocks)
    row: dict[str, Any] = dict(label=label, spec=spec, seq_len=seq_len, microbatch=microbatch, dtype=dname,
                               blocks=blocks, attention="flash", sdpa_backend="sdpa", hidden=cfg.hidden,
                               params_per_block=sum(p.numel() for p in mods[0].parameters()),
                               flops_per_block=flops, ms=t.ms, fwd_ms=tf.ms, tflops=flops / t.ms / 1e9)
    row.update({c: "" for c in CUDA_COLUMNS})
    if ctx.cuda:
        seconds = float(ctx.plan.llm_train_seconds)
        if seconds > 0:
            try:
                row.update(_sustained(ctx, step, t.ms * blocks, seconds, blocks))
            except Exception as exc:
                ctx.log("llm_train: sustained run failed", label, repr(exc)[:200])
        try:
            row.update(_profile_split(torch, step, blocks))
        except Exception as exc:
            ctx.log("llm_train: profiler split failed", label, repr(exc)[:200])
        row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    row.update(ctx.noise(t))
    return row


def sec_llm_train(ctx: Ctx) -> list[dict[str, Any]]:
    """llm_train.csv: per plan case, one LLM decoder block's forward + backward (ms per block) and, on CUDA,
    its sustained time with SM clock and power, and its kernel time split into GEMM / attention / other
    (module docstring)."""
    torch, rows = ctx.torch, []
    for label, spec, seq_len, microbatch in ctx.plan.llm_train:
        try:
            row = _case(ctx, label, spec, int(seq_len), int(microbatch))
            rows.append(row)
            extra = "" if row["sustained_ms"] == "" else f", sustained {row['sustained_ms']:.4g} ms"
            ctx.log("llm_train", label, f"{row['ms']:.4g} ms/block, {row['tflops']:.4g} TFLOP/s{extra}, "
                    f"SM clock {row['sm_clock_mhz_median'] or '?'} MHz, SDPA {row['sdpa_backend']}")
        except Exception as exc:
            ctx.log("llm_train fail", label, repr(exc)[:300])
        if ctx.cuda:
            torch.cuda.empty_cache()
    return rows


__all__ = ["ATTENTION_MARKERS", "CLOCK_REASONS", "CUDA_COLUMNS", "GEMM_MARKERS", "OTHER_CLASSES", "OTHER_MARKERS",
           "kernel_class", "other_class", "per_block", "sdpa_backend", "sec_llm_train", "split_kernels"]
