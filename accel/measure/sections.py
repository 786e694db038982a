"""Measurement sections, ported from ``data/measurements/measure_gpu.py``.

Each section takes a :class:`Ctx` and returns the rows of one file (same file names and
columns as measure_gpu.py). CUDA kernels are timed with :func:`cuda_bench_timing` (CUDA
events, L2 flushed), CPU kernels with :func:`cpu_bench_timing` (perf_counter), each in two
rounds: ``ms`` is the median of all samples, and the optional columns ms_min, ms_iqr, spread,
rounds, samples, load1 and noisy (:meth:`Ctx.noise`, :mod:`accel.measure.noise`) say how
trustworthy it is. On CPU, gemm.csv / conv.csv rows carry an extra ``threads`` column.
"""

from __future__ import annotations

import copy
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from accel.measure.models import model_ctor, model_input, per_layer
from accel.measure.noise import DEFAULT_MAX_SPREAD, loadavg, machine_load, noisy_flag
from accel.measure.shapes import Plan
from accel.measure.timing import Timing, cpu_bench_timing, cuda_bench_timing, host_wall_timing


@dataclass
class Ctx:
    """One measurement run: torch module, device ("cuda"/"cpu"), plan, logger, noise threshold.

    ``max_spread``: a timed row whose spread (:attr:`Timing.spread`) exceeds it is flagged ``noisy``.
    """

    torch: Any
    device: str
    plan: Plan
    log: Callable[..., None] = print
    info: dict[str, Any] = field(default_factory=dict)
    max_spread: float = DEFAULT_MAX_SPREAD

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def dt(self, name: str) -> Any:
        t = self.torch
        return {"fp32": t.float32, "tf32": t.float32, "fp16": t.float16, "bf16": t.bfloat16}[name]

    def timed(self, fn: Callable[[], Any], warmup: int = 10, rep: int = 40) -> Timing:
        """Repeated timing of ``fn`` (warmup/rep are ms of running on CUDA; ignored on CPU)."""
        if self.cuda:
            return cuda_bench_timing(self.torch, fn, warmup=warmup, rep=rep)
        return cpu_bench_timing(fn)

    def bench(self, fn: Callable[[], Any], warmup: int = 10, rep: int = 40) -> float:
        """Median time of ``fn`` in ms (warmup/rep are ms of running on CUDA; ignored on CPU)."""
        return self.timed(fn, warmup, rep).ms

    def noise(self, t: Timing) -> dict[str, Any]:
        """Optional columns of a timed row: ms_min, ms_iqr, spread, rounds, samples, load1, noisy."""
        la = loadavg()
        load1 = round(la[0], 2) if la else None
        return {**t.columns(), "load1": "" if load1 is None else load1,
                "noisy": noisy_flag(t.spread, load1, self.device, os.cpu_count(), self.max_spread)}

    def set_tf32(self, on: bool) -> None:
        self.torch.backends.cuda.matmul.allow_tf32 = on
        self.torch.backends.cudnn.allow_tf32 = on

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except Exception as exc:  # the tool may be absent
        return f"error: {exc}"


# ------------------------------------------------------------------------------------ device
def sec_device(ctx: Ctx) -> dict[str, Any]:
    """device.json: versions, device properties, NVML clocks/power/PCIe (CUDA), lscpu."""
    torch = ctx.torch
    info: dict[str, Any] = {"torch": torch.__version__, "device_type": ctx.device, "threads": torch.get_num_threads(),
                            "cpu_count": os.cpu_count(), "platform": platform.platform(),
                            "load_at_start": machine_load()}
    if ctx.cuda:
        p = torch.cuda.get_device_properties(0)
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), name=p.name)
        for k in dir(p):
            if not k.startswith("_"):
                v = getattr(p, k)
                if isinstance(v, (int, float, str, bool)):
                    info["prop_" + k] = v
        for cmd, key in [(["nvidia-smi", "-q"], "nvidia_smi_q"), (["nvidia-smi", "topo", "-m"], "topo")]:
            info[key] = _run(cmd)
        try:
            import pynvml as nv

            nv.nvmlInit()
            h = nv.nvmlDeviceGetHandleByIndex(0)
            info["nvml_max_sm_clock_mhz"] = nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM)
            info["nvml_max_mem_clock_mhz"] = nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM)
            info["nvml_power_limit_mw"] = nv.nvmlDeviceGetEnforcedPowerLimit(h)
            info["nvml_pcie_gen_max"] = nv.nvmlDeviceGetMaxPcieLinkGeneration(h)
            info["nvml_pcie_width_max"] = nv.nvmlDeviceGetMaxPcieLinkWidth(h)
            info["nvml_pcie_gen_cur"] = nv.nvmlDeviceGetCurrPcieLinkGeneration(h)
            info["nvml_pcie_width_cur"] = nv.nvmlDeviceGetCurrPcieLinkWidth(h)
            info["nvml_mem_bus_width"] = nv.nvmlDeviceGetMemoryBusWidth(h)
        except Exception as exc:
            info["nvml_error"] = repr(exc)
    info["lscpu"] = _run(["lscpu"])
    info["free"] = _run(["free", "-b"])
    if not ctx.cuda:
        name = ""
        for line in str(info["lscpu"]).splitlines():
            if line.strip().startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
        info["name"] = name or platform.processor() or "cpu"
    ctx.log("device:", info["name"])
    return info


# ------------------------------------------------------------------------------------ micro
def sec_micro(ctx: Ctx) -> list[dict[str, Any]]:
    """micro.csv: d2d copy and read bandwidth, h2d/d2h pinned and pageable, launch overhead (CUDA only)."""
    if not ctx.cuda:
        ctx.log("micro: CUDA only, skipped")
        return []
    torch, dev, rows = ctx.torch, "cuda", []
    for mb in ctx.plan.micro_mib:
        n = mb * 2**20 // 4
        a = torch.empty(n, device=dev, dtype=torch.float32).uniform_()
        b = torch.empty_like(a)
        t = ctx.timed(lambda: b.copy_(a))
        ms = t.ms
        rows.append(dict(kind="d2d_copy", bytes=n * 4, moved_bytes=2 * n * 4, ms=ms, gbps=2 * n * 4 / ms / 1e6, pinned="",
                         **ctx.noise(t)))
        a = b = None  # drop the references (frees device memory before the next case)
    for mb in [m for m in (64, 1024) if m <= max(ctx.plan.micro_mib or [0])]:
        n = mb * 2**20 // 4
        a = torch.empty(n, device=dev).uniform_()
        t = ctx.timed(lambda: a.sum())
        ms = t.ms
        rows.append(dict(kind="d_read_sum", bytes=n * 4, moved_bytes=n * 4, ms=ms, gbps=n * 4 / ms / 1e6, pinned="",
                         **ctx.noise(t)))
        a = None  # drop the references (frees device memory before the next case)
    for pinned in (True, False):
        for kb in ctx.plan.pcie_kib:
            n = kb * 1024 // 4
            h = torch.empty(n, dtype=torch.float32, pin_memory=pinned).uniform_()
            d = torch.empty(n, device=dev)
            for kind, fn in [("h2d", lambda: d.copy_(h, non_blocking=pinned)),
                             ("d2h", lambda: h.copy_(d, non_blocking=pinned))]:
                t = host_wall_timing(torch, fn, reps=20 if kb < 262144 else 8)
                ms = t.ms
                rows.append(dict(kind=kind, bytes=n * 4, moved_bytes=n * 4, ms=ms, gbps=n * 4 / ms / 1e6, pinned=pinned,
                                 **ctx.noise(t)))
            h = d = None  # drop the references (frees device memory before the next case)
    x = torch.zeros(1, device=dev)
    for _ in range(100):
        x.add_(1)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10000):
        x.add_(1)
    torch.cuda.synchronize()
    rows.append(dict(kind="launch_tiny_add_ms_per_launch", bytes=4, moved_bytes=8,
                     ms=(time.perf_counter() - t0) / 10000 * 1e3, gbps="", pinned=""))
    try:
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            with torch.cuda.graph(g):
                for _ in range(1000):
                    x.add_(1)
        torch.cuda.synchronize()
        g.replay()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            g.replay()
        torch.cuda.synchronize()
        rows.append(dict(kind="graph_tiny_add_ms_per_kernel", bytes=4, moved_bytes=8,
                         ms=(time.perf_counter() - t0) / 10000 * 1e3, gbps="", pinned=""))
    except Exception as exc:
        ctx.log("graph replay failed:", exc)
    return rows


# ------------------------------------------------------------------------------------ gemm
def sec_gemm(ctx: Ctx) -> list[dict[str, Any]]:
    """gemm.csv: ``a @ b`` per shape and dtype (fp32 with TF32 off, tf32 with it on), then bmm."""
    torch, dev, rows = ctx.torch, ctx.device, []
    extra = {} if ctx.cuda else {"threads": torch.get_num_threads()}
    for dname in ctx.plan.gemm_dtypes:
        if ctx.cuda:
            ctx.set_tf32(dname == "tf32")
        dt = ctx.dt(dname)
        for (m, n, k) in ctx.plan.gemm:
            flops = 2.0 * m * n * k
            if dname == "fp32" and flops > 2 * 8192**3:
                continue
            try:
                a = torch.randn(m, k, device=dev, dtype=dt)
                b = torch.randn(k, n, device=dev, dtype=dt)
                t = ctx.timed(lambda: a @ b)
                ms = t.ms
                rows.append(dict(dtype=dname, M=m, N=n, K=k, flops=flops, ms=ms, tflops=flops / ms / 1e9,
                                 bytes_min=(m * k + k * n + m * n) * a.element_size(), **extra, **ctx.noise(t)))
                a = b = None  # drop the references (frees device memory before the next case)
            except Exception as exc:
                ctx.log("gemm fail", dname, m, n, k, exc)
        ctx.log("gemm", dname, "done")
    for dname in ctx.plan.bmm_dtypes:
        dt = ctx.dt(dname)
        for (bh, s, d) in ctx.plan.bmm:
            q = torch.randn(bh, s, d, device=dev, dtype=dt)
            kT = torch.randn(bh, d, s, device=dev, dtype=dt)
            t = ctx.timed(lambda: torch.bmm(q, kT))
            ms = t.ms
            flops = 2.0 * bh * s * s * d
            rows.append(dict(dtype=dname, M=s, N=s, K=d, batch=bh, flops=flops, ms=ms, tflops=flops / ms / 1e9,
                             bytes_min=(2 * bh * s * d + bh * s * s) * q.element_size(), **extra, **ctx.noise(t)))
    if ctx.cuda:
        ctx.set_tf32(False)
    return rows


# ------------------------------------------------------------------------------------ conv
def _conv_row(shape: tuple[str, int, int, int, int, int, int, int], dname: str, cl: bool, batch: int, ho: int,
              t: Timing, ctx: Ctx, extra: dict[str, Any]) -> dict[str, Any]:
    """One conv.csv / conv_bwd.csv row: the shape (name, Cin, Cout, H=W, R=S, stride, pad, groups), MACs, time."""
    name, ci, co, hw, k, st, pd, g = shape
    macs = batch * co * ho * ho * (ci // g) * k * k
    row: dict[str, Any] = dict(name=name, dtype=dname, channels_last=cl)
    if "pass" in extra:
        row["pass"] = extra["pass"]
    row.update(N=batch, Cin=ci, Cout=co, H=hw, W=hw, R=k, S=k, stride=st, pad=pd, groups=g, Hout=ho, Wout=ho,
               macs=macs, ms=t.ms, tflops=2 * macs / t.ms / 1e9)
    row.update({k2: v for k2, v in extra.items() if k2 != "pass"})
    row.update(ctx.noise(t))
    return row


def sec_conv(ctx: Ctx) -> list[dict[str, Any]]:
    """conv.csv: Conv2d forward per shape, batch and dtype (fp16/bf16 channels_last, cudnn.benchmark on)."""
    torch, dev, rows = ctx.torch, ctx.device, []
    extra = {} if ctx.cuda else {"threads": torch.get_num_threads()}
    torch.backends.cudnn.benchmark = True
    for dname in ctx.plan.conv_dtypes:
        cl = dname in ("fp16", "bf16")
        if ctx.cuda:
            ctx.set_tf32(dname == "tf32")
        dt = ctx.dt(dname)
        for batch in ctx.plan.conv_batches:
            for (name, ci, co, hw, k, st, pd, g) in ctx.plan.conv:
                try:
                    conv = torch.nn.Conv2d(ci, co, k, st, pd, groups=g, bias=False).to(dev, dt)
                    x = torch.randn(batch, ci, hw, hw, device=dev, dtype=dt)
                    if cl:
                        conv = conv.to(memory_format=torch.channels_last)
                        x = x.to(memory_format=torch.channels_last)
                    with torch.no_grad():
                        y = conv(x)
                        t = ctx.timed(lambda: conv(x))
                    rows.append(_conv_row((name, ci, co, hw, k, st, pd, g), dname, cl, batch, y.shape[2], t, ctx, extra))
                    conv = x = y = None  # drop the references (frees device memory before the next case)
                except Exception as exc:
                    ctx.log("conv fail", name, dname, batch, exc)
        ctx.log("conv", dname, "done")
    if ctx.cuda:
        ctx.set_tf32(False)
    return rows


def sec_conv_bwd(ctx: Ctx) -> list[dict[str, Any]]:
    """conv_bwd.csv: the two backward kernels of a Conv2d as autograd runs them
    (``aten.convolution_backward`` with output_mask grad-input only = ``dgrad``, grad-weight only =
    ``wgrad``), per shape, batch (``plan.conv_bwd_batches``) and dtype, in NCHW (what eager training of
    an NCHW model runs, for every dtype) and, for fp16/bf16, channels_last too. cudnn.benchmark on."""
    torch, dev, rows = ctx.torch, ctx.device, []
    extra = {} if ctx.cuda else {"threads": torch.get_num_threads()}
    torch.backends.cudnn.benchmark = True
    aten = torch.ops.aten
    for dname in ctx.plan.conv_dtypes:
        if ctx.cuda:
            ctx.set_tf32(dname == "tf32")
        dt = ctx.dt(dname)
        for cl in ((False, True) if dname in ("fp16", "bf16") else (False,)):
            fmt = torch.channels_last if cl else torch.contiguous_format
            for batch in ctx.plan.conv_bwd_batches:
                for (name, ci, co, hw, k, st, pd, g) in ctx.plan.conv:
                    try:
                        x = torch.randn(batch, ci, hw, hw, device=dev, dtype=dt).to(memory_format=fmt)
                        w = torch.randn(co, ci // g, k, k, device=dev, dtype=dt).to(memory_format=fmt)
                        ho = (hw + 2 * pd - k) // st + 1
                        gy = torch.randn(batch, co, ho, ho, device=dev, dtype=dt).to(memory_format=fmt)
                        for pass_, mask in (("dgrad", [True, False, False]), ("wgrad", [False, True, False])):
                            def run(mask: list[bool] = mask) -> Any:
                                return aten.convolution_backward(gy, x, w, None, [st, st], [pd, pd], [1, 1], False,
                                                                 [0, 0], g, mask)
                            t = ctx.timed(run)
                            rows.append(_conv_row((name, ci, co, hw, k, st, pd, g), dname, cl, batch, ho, t, ctx,
                                                  {"pass": pass_, **extra}))
                        x = w = gy = None  # drop the references (frees device memory before the next case)
                    except Exception as exc:
                        ctx.log("conv_bwd fail", name, dname, batch, exc)
        ctx.log("conv_bwd", dname, "done")
    if ctx.cuda:
        ctx.set_tf32(False)
    return rows


# ------------------------------------------------------------------------------------ models
def sec_layers(ctx: Ctx) -> list[dict[str, Any]]:
    """layers.csv: every module's time in eager inference (no_grad), median of 12 iterations."""
    torch, rows = ctx.torch, []
    torch.backends.cudnn.benchmark = True
    if ctx.cuda:
        ctx.set_tf32(False)
    for name in ctx.plan.layer_models:
        try:
            base = model_ctor(torch, name)().to(ctx.device).eval()
        except Exception as exc:
            ctx.log("layers: cannot build", name, repr(exc)[:300])
            continue
        for dname in ctx.plan.layer_dtypes:
            for batch in ctx.plan.layer_batches:
                if name == "vgg16" and batch > 16:
                    batch = 16
                try:
                    dt = ctx.dt(dname)
                    model = copy.deepcopy(base).to(ctx.device, dt).eval()
                    x = model_input(torch, name, batch, dt, ctx.device)
                    for r in per_layer(torch, model, x, ctx.device):
                        r.update(model=name, dtype=dname, batch=batch)
                        rows.append(r)
                    model = x = None  # drop the references (frees device memory before the next case)
                    if ctx.cuda:
                        torch.cuda.empty_cache()
                except Exception as exc:
                    ctx.log("layers fail", name, dname, batch, repr(exc)[:300])
        ctx.log("layers", name, "done")
    return rows


def sec_e2e(ctx: Ctx) -> list[dict[str, Any]]:
    """e2e.csv: whole-model inference latency per dtype/batch, then train_sgd steps."""
    torch, rows = ctx.torch, []
    torch.backends.cudnn.benchmark = True
    for name in ctx.plan.e2e_models:
        try:
            base = model_ctor(torch, name)().to(ctx.device).eval()
        except Exception as exc:
            ctx.log("e2e: cannot build", name, repr(exc)[:300])
            continue
        for dname in ctx.plan.e2e_dtypes:
            if ctx.cuda:
                ctx.set_tf32(dname == "tf32")
            dt = ctx.dt(dname)
            for batch in ctx.plan.e2e_batches:
                if name in ("gpt2", "bert_base", "vgg16", "vit_b_16") and batch > 32:
                    continue
                try:
                    model = copy.deepcopy(base).to(ctx.device, dt).eval()
                    x = model_input(torch, name, batch, dt, ctx.device)
                    with torch.no_grad():
                        t = ctx.timed(lambda: model(x), warmup=50, rep=200)
                        ms = t.ms
                    rows.append(dict(model=name, mode="infer", dtype=dname, batch=batch, ms=ms,
                                     items_per_s=batch / ms * 1e3, params=sum(p.numel() for p in model.parameters()),
                                     **ctx.noise(t)))
                    model = x = None  # drop the references (frees device memory before the next case)
                    if ctx.cuda:
                        torch.cuda.empty_cache()
                except Exception as exc:
                    ctx.log("e2e fail", name, dname, batch, repr(exc)[:200])
        for dname in ctx.plan.train:
            try:
                if ctx.cuda:
                    ctx.set_tf32(False)
                model = copy.deepcopy(base).train()
                x = model_input(torch, name, 32 if name not in ("gpt2", "bert_base") else 8, torch.float32, ctx.device)
                if not ctx.cuda:
                    x = x[: max(1, min(ctx.plan.e2e_batches or [1]))]
                opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

                def step() -> None:
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast(ctx.device, dtype=torch.bfloat16, enabled=(dname == "bf16_amp")):
                        out = model(x)
                        out = out.last_hidden_state if hasattr(out, "last_hidden_state") else out
                        if isinstance(out, tuple):
                            out = out[0]
                        loss = out.float().square().mean()
                    loss.backward()
                    opt.step()

                t = ctx.timed(step, warmup=50, rep=300)
                ms = t.ms
                rows.append(dict(model=name, mode="train_sgd", dtype=dname, batch=x.shape[0], ms=ms,
                                 items_per_s=x.shape[0] / ms * 1e3, params=sum(p.numel() for p in model.parameters()),
                                 **ctx.noise(t)))
                model = x = opt = None  # drop the references (frees device memory before the next case)
                if ctx.cuda:
                    torch.cuda.empty_cache()
            except Exception as exc:
                ctx.log("train fail", name, dname, repr(exc)[:200])
        del base
        ctx.log("e2e", name, "done")
    if ctx.cuda:
        ctx.set_tf32(False)
    return rows


# ------------------------------------------------------------------------------------ energy
def sec_energy(ctx: Ctx) -> list[dict[str, Any]]:
    """energy.csv: NVML total-energy counter over ~3 s of back-to-back runs (CUDA only)."""
    if not ctx.cuda:
        ctx.log("energy: needs NVML on a CUDA device, skipped")
        return []
    import pynvml as nv

    torch, dev, rows = ctx.torch, "cuda", []
    nv.nvmlInit()
    h = nv.nvmlDeviceGetHandleByIndex(0)

    def measure(label: str, fn: Callable[[], Any], work: float, unit: str, seconds: float = 3.0) -> None:
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        one = time.perf_counter() - t
        iters = max(10, int(seconds / max(one, 1e-6)))
        torch.cuda.synchronize()
        e0 = nv.nvmlDeviceGetTotalEnergyConsumption(h)
        t0 = time.perf_counter()
        clocks, powers = [], []
        for i in range(iters):
            fn()
            if i % max(1, iters // 20) == 0:
                clocks.append(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
                powers.append(nv.nvmlDeviceGetPowerUsage(h))
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        joules = (nv.nvmlDeviceGetTotalEnergyConsumption(h) - e0) / 1e3
        rows.append(dict(workload=label, iters=iters, seconds=dt, joules=joules, avg_w=joules / dt,
                         sampled_power_w_median=sorted(powers)[len(powers) // 2] / 1e3 if powers else "",
                         sm_clock_mhz_median=sorted(clocks)[len(clocks) // 2] if clocks else "",
                         work_per_iter=work, work_unit=unit, joules_per_unit=joules / (iters * work),
                         ms_per_iter=dt / iters * 1e3))
        ctx.log("energy", label, f"{joules / dt:.0f} W")

    import re

    torch.backends.cudnn.benchmark = True
    for w in ctx.plan.energy:
        try:
            if w == "idle":
                time.sleep(1.0)
                e0 = nv.nvmlDeviceGetTotalEnergyConsumption(h)
                time.sleep(3.0)
                e1 = nv.nvmlDeviceGetTotalEnergyConsumption(h)
                rows.append(dict(workload="idle", iters=0, seconds=3.0, joules=(e1 - e0) / 1e3, avg_w=(e1 - e0) / 3e3))
            elif (m := re.match(r"^gemm(\d+)_(fp32|tf32|fp16|bf16)$", w)):
                n, dname = int(m[1]), m[2]
                ctx.set_tf32(dname == "tf32")
                a = torch.randn(n, n, device=dev, dtype=ctx.dt(dname))
                b = torch.randn(n, n, device=dev, dtype=ctx.dt(dname))
                measure(w, lambda: a @ b, 2.0 * n**3, "flop")
                a = b = None  # drop the references (frees device memory before the next case)
                ctx.set_tf32(False)
            elif w == "d2d_copy_1GiB":
                nb = 2**30
                a = torch.empty(nb // 4, device=dev).uniform_()
                b = torch.empty_like(a)
                measure(w, lambda: b.copy_(a), 2.0 * nb, "byte")
                a = b = None  # drop the references (frees device memory before the next case)
            elif (m := re.match(r"^(.+)_b(\d+)_(fp32|fp16|bf16)$", w)):
                mname, batch, dname = m[1], int(m[2]), m[3]
                model = model_ctor(torch, mname)().to(dev, ctx.dt(dname)).eval()
                x = model_input(torch, mname, batch, ctx.dt(dname), dev)
                with torch.no_grad():
                    measure(w, lambda: model(x), batch, "image")
                model = x = None  # drop the references (frees device memory before the next case)
                torch.cuda.empty_cache()
            else:
                ctx.log("energy: unknown workload", w)
        except Exception as exc:
            ctx.log("energy fail", w, repr(exc)[:200])
    return rows


# ------------------------------------------------------------------------------------ cpu
def sec_cpu(ctx: Ctx) -> list[dict[str, Any]]:
    """cpu.csv: host fp32 GEMM, copy bandwidth and batch-1 model latency with 1 and all threads."""
    torch, rows = ctx.torch, []
    nthreads_now = torch.get_num_threads()
    nthreads_all = int(ctx.info.get("default_threads", nthreads_now))
    try:
        for threads in sorted({1, nthreads_all}):
            torch.set_num_threads(threads)
            for n in ctx.plan.cpu_gemm:
                a, b = torch.randn(n, n), torch.randn(n, n)
                t = cpu_bench_timing(lambda: a @ b, min_time_s=0.5)
                s = t.ms / 1e3
                rows.append(dict(kind="cpu_gemm_fp32", threads=threads, M=n, N=n, K=n, ms=s * 1e3,
                                 gflops=2 * n**3 / s / 1e9, **ctx.noise(t)))
            for mb in ctx.plan.cpu_copy_mib:
                n = mb * 2**20 // 4
                a = torch.empty(n).uniform_()
                b = torch.empty_like(a)
                t = cpu_bench_timing(lambda: b.copy_(a), min_reps=5, min_time_s=0.0, max_reps=10)
                s = t.ms / 1e3
                rows.append(dict(kind="cpu_copy", threads=threads, bytes=n * 4, ms=s * 1e3, gbps=2 * n * 4 / s / 1e9,
                                 **ctx.noise(t)))
            for mname in ctx.plan.cpu_models:
                try:
                    model = model_ctor(torch, mname)().eval()
                except Exception as exc:
                    ctx.log("cpu: cannot build", mname, repr(exc)[:200])
                    continue
                x = torch.randn(1, 3, 224, 224)
                with torch.no_grad():
                    t = cpu_bench_timing(lambda: model(x), warmup=3, min_reps=5, max_reps=10, min_time_s=0.0)
                rows.append(dict(kind=f"cpu_{mname}_b1_fp32", threads=threads, ms=t.ms, **ctx.noise(t)))
            ctx.log("cpu threads", threads, "done")
    finally:
        torch.set_num_threads(nthreads_now)
    return rows
