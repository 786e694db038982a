"""Turn a measurement directory plus a :class:`Predictor` into predicted-vs-measured rows.

One :class:`Comparison` per measured row that the predictor answers; one :class:`Skipped`
(with the reason) per row it cannot. Categories (see :data:`CATEGORIES`) follow the
measurement files; :data:`TARGETS` are the accuracy targets of the validation issue.
"""

from __future__ import annotations

import math
from functools import partial
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import pandas as pd

from accel.validate.metrics import ErrorStats
from accel.validate.ops import conv_op, copy_op, matmul_op, reduce_op
from accel.measure.llm_train import OTHER_CLASSES
from accel.validate.predictor import LLM_PART_COLUMNS, Predictor, Unsupported
from accel.validate.readers import MeasurementDir, cell_int

#: category key -> (title, file it comes from, unit of predicted/measured)
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "gemm": ("GEMM", "gemm.csv", "s"),
    "conv": ("Conv2d", "conv.csv", "s"),
    "conv_bwd": ("Conv2d backward (dgrad, wgrad)", "conv_bwd.csv", "s"),
    "layer_dev": ("Per-layer, device-bound runs", "layers.csv", "s"),
    "layer_b1": ("Per-layer, other runs, batch 1", "layers.csv", "s"),
    "layer": ("Per-layer, other runs, batch>1", "layers.csv", "s"),
    "model": ("Whole model, inference", "e2e.csv", "s"),
    "train": ("Whole model, training step", "e2e.csv", "s"),
    "pcie": ("PCIe h2d/d2h", "micro.csv", "s"),
    "dispatch": ("Eager dispatch per op class", "dispatch.csv", "s"),
    "devmem": ("Device memory (copy, read)", "micro.csv", "s"),
    "cpu_gemm": ("CPU GEMM", "cpu.csv", "s"),
    "cpu_copy": ("CPU copy", "cpu.csv", "s"),
    "cpu_model": ("CPU model latency", "cpu.csv", "s"),
    "energy": ("Energy per iteration", "energy.csv", "J"),
    "idle": ("Idle power", "energy.csv", "W"),
    "llm_block": ("LLM training block, fwd+bwd", "llm_train.csv", "s"),
    "llm_block_gemm": ("LLM block: GEMM kernels", "llm_train.csv", "s"),
    "llm_block_attention": ("LLM block: attention kernels", "llm_train.csv", "s"),
    "llm_block_other": ("LLM block: other kernels", "llm_train.csv", "s"),
    "llm_block_forward": ("LLM block: forward pass", "llm_train.csv", "s"),
    **{f"llm_block_{c}": (f"LLM block: {c} kernels", "llm_train.csv", "s") for c in OTHER_CLASSES},
}


@dataclass
class Comparison:
    """One measured row and its prediction (both in the category's unit: s, J or W)."""

    category: str
    key: str
    predicted: float
    measured: float
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> float:
        """Signed relative error (fraction; > 0 = over-prediction)."""
        return (self.predicted - self.measured) / self.measured

    @property
    def abs_error(self) -> float:
        return abs(self.error)


@dataclass
class Skipped:
    """A measured row that could not be predicted, and why."""

    category: str
    key: str
    reason: str


@dataclass(frozen=True)
class Target:
    """An accuracy target: MAPE over the selected rows of a category must be <= ``max_mape``."""

    name: str
    category: str
    max_mape: float
    select: Callable[[Comparison], bool]
    description: str


def _big_kernel(c: Comparison) -> bool:
    return c.tags.get("batch", 1) >= 32 or c.tags.get("gflop", 0.0) >= 1.0


#: the issue's accuracy targets
TARGETS: tuple[Target, ...] = (
    Target("GEMM, batch>=32 or >=1 GFLOP", "gemm", 0.15, _big_kernel,
           "gemm.csv rows with bmm batch >= 32 or 2*M*N*K*batch >= 1e9"),
    Target("Conv, batch>=32 or >=1 GFLOP", "conv", 0.15, _big_kernel,
           "conv.csv rows with N >= 32 or 2*MACs >= 1e9"),
    Target("Whole-model inference, batch>=8", "model", 0.20, lambda c: c.tags.get("batch", 0) >= 8,
           "e2e.csv infer rows with batch >= 8"),
    Target("PCIe h2d/d2h", "pcie", 0.15, lambda c: True, "micro.csv h2d and d2h rows (pinned and pageable)"),
)


@dataclass
class CategoryResult:
    category: str
    stats: ErrorStats
    worst: list[Comparison]


@dataclass
class TargetResult:
    target: Target
    stats: ErrorStats

    @property
    def passed(self) -> bool | None:
        """True/False, or None when no row was selected."""
        if self.stats.n == 0:
            return None
        return bool(self.stats.mape <= self.target.max_mape)


@dataclass
class ValidationReport:
    """Everything ``accel validate`` computed."""

    source: str
    device_name: str
    predictor: str
    comparisons: list[Comparison]
    skipped: list[Skipped]

    def by_category(self, category: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.category == category]

    def category_results(self, worst_n: int = 3) -> list[CategoryResult]:
        out = []
        for cat in CATEGORIES:
            rows = self.by_category(cat)
            if not rows:
                continue
            st = ErrorStats.of([r.predicted for r in rows], [r.measured for r in rows])
            worst = sorted(rows, key=lambda r: -r.abs_error)[:worst_n]
            out.append(CategoryResult(cat, st, worst))
        return out

    def target_results(self) -> list[TargetResult]:
        out = []
        for t in TARGETS:
            rows = [c for c in self.by_category(t.category) if t.select(c)]
            out.append(TargetResult(t, ErrorStats.of([r.predicted for r in rows], [r.measured for r in rows])))
        return out


# ------------------------------------------------------------------------------ collectors
class _Collector:
    def __init__(self, predictor: Predictor, progress: bool):
        self.p = predictor
        self.comparisons: list[Comparison] = []
        self.skipped: list[Skipped] = []
        self.progress = progress

    def add(self, category: str, key: str, measured: float, fn: Callable[[], float], **tags: Any) -> None:
        try:
            pred = float(fn())
        except Unsupported as exc:
            self.skipped.append(Skipped(category, key, str(exc)))
            return
        if not math.isfinite(pred) or pred <= 0:
            self.skipped.append(Skipped(category, key, f"predictor returned {pred!r} (must be > 0)"))
            return
        self.comparisons.append(Comparison(category, key, pred, float(measured), tags))

    def note(self, msg: str) -> None:
        if self.progress:
            print(f"[validate] {msg}", file=sys.stderr, flush=True)


def collect_gemm(col: _Collector, df: pd.DataFrame, on_cpu: bool) -> None:
    for r in df.itertuples(index=False):
        r = r._asdict()
        b = cell_int(r.get("batch"), 1)
        op = matmul_op(r["M"], r["N"], r["K"], r["dtype"], batch=b)
        key = f"{r['dtype']} {int(r['M'])}x{int(r['N'])}x{int(r['K'])}" + (f" bmm{b}" if b > 1 else "")
        if on_cpu:
            th = cell_int(r.get("threads"), 0)
            fn = partial(col.p.cpu_kernel_time, op, th) if th else partial(col.p.kernel_time, op)
        else:
            fn = partial(col.p.kernel_time, op)
        col.add("gemm", key, r["ms"] / 1e3, fn, dtype=r["dtype"], batch=b, gflop=op.flops / 1e9)


def collect_conv(col: _Collector, df: pd.DataFrame, on_cpu: bool, backward: bool = False) -> None:
    """conv.csv rows (forward), or conv_bwd.csv rows (``backward``: ``pass`` dgrad/wgrad, costed as
    ``aten.convolution_backward`` with that output_mask, in the row's layout)."""
    for r in df.to_dict("records"):  # not itertuples: "pass" is a keyword, renamed there
        cl = str(r.get("channels_last", False)).strip().lower() in ("true", "1")
        op = conv_op(r["N"], r["Cin"], r["Cout"], r["H"], r["W"], r["R"], r["S"], r["stride"], r["pad"],
                     r["groups"], r["Hout"], r["Wout"], r["dtype"], channels_last=cl)
        name = r.get("name") or f"c{int(r['Cin'])}-{int(r['Cout'])}k{int(r['R'])}"
        key = f"{r['dtype']} {name} N{int(r['N'])}"
        if backward:
            mask = [r["pass"] == "dgrad", r["pass"] == "wgrad", False]
            op = replace(op, name=f"conv_{r['pass']}", phase="backward", attrs={**op.attrs, "output_mask": mask})
            key = f"{r['dtype']} {r['pass']} {name} N{int(r['N'])}{' NHWC' if cl else ''}"
        th = cell_int(r.get("threads"), 0) if on_cpu else 0
        fn = partial(col.p.cpu_kernel_time, op, th) if th else partial(col.p.kernel_time, op)
        col.add("conv_bwd" if backward else "conv", key, r["ms"] / 1e3, fn, dtype=r["dtype"], batch=int(r["N"]),
                gflop=op.flops / 1e9, **({"pass": r["pass"], "channels_last": cl} if backward else {}))


#: a layers.csv run counts as device-bound when its hooked whole-model time is within this fraction of the
#: unhooked e2e.csv time of the same model/dtype/batch (the profiling hooks then did not slow it down)
DEVICE_BOUND_TOLERANCE = 0.10


def device_bound_runs(layers: pd.DataFrame, e2e: pd.DataFrame | None) -> dict[tuple[str, str, int], bool]:
    """(model, dtype, batch) -> whether the hooked run in layers.csv was device-bound (needs e2e.csv)."""
    out: dict[tuple[str, str, int], bool] = {}
    if e2e is None:
        return out
    infer = e2e[e2e["mode"] == "infer"]
    ref = {(r.model, r.dtype, int(r.batch)): r.ms for r in infer.itertuples()}
    for r in layers[layers["layer"] == "<model>"].itertuples():
        k = (r.model, r.dtype, int(r.batch))
        if k in ref:
            out[k] = abs(r.ms - ref[k]) <= DEVICE_BOUND_TOLERANCE * ref[k]
    return out


def collect_layers(col: _Collector, df: pd.DataFrame, e2e: pd.DataFrame | None = None) -> None:
    """Leaf rows of layers.csv, split into device-bound runs (hooked total ~ e2e time: per-layer times are
    kernel times) and host-bound runs by batch (there the times include the profiling hooks' host cost)."""
    leaves = df[df["leaf"] == True]  # noqa: E712
    bound = device_bound_runs(df, e2e)
    for (model, dtype, batch), grp in leaves.groupby(["model", "dtype", "batch"], sort=False):
        col.note(f"layers: {model} {dtype} batch {int(batch)} ({len(grp)} leaf rows)")
        try:
            times = col.p.layer_times(model, int(batch), dtype)
        except Unsupported as exc:
            for r in grp.itertuples(index=False):
                col.skipped.append(Skipped("layer", f"{model} {dtype} b{int(batch)} {r.layer}", str(exc)))
            continue
        dev_bound = bound.get((model, dtype, int(batch)))
        cat = "layer_dev" if dev_bound else ("layer_b1" if int(batch) == 1 else "layer")
        for r in grp.itertuples(index=False):
            key = f"{model} {dtype} b{int(batch)} {r.layer}"
            t = times.get(r.layer, 0.0)
            if t <= 0:
                col.skipped.append(Skipped("layer", key, f"no ops extracted for this module "
                                                         f"({getattr(r, 'type', '?')}: identity in eval mode?)"))
                continue
            col.comparisons.append(Comparison(cat, key, t, r.ms / 1e3,
                                              dict(model=model, dtype=dtype, batch=int(batch),
                                                   type=getattr(r, "type", ""), device_bound=dev_bound)))


def collect_e2e(col: _Collector, df: pd.DataFrame) -> None:
    for r in df.itertuples(index=False):
        cat = "model" if r.mode == "infer" else "train"
        key = f"{r.model} {r.mode} {r.dtype} b{int(r.batch)}"
        col.note(f"e2e: {key}")
        col.add(cat, key, r.ms / 1e3,
                partial(col.p.model_latency, r.model, r.mode, r.dtype, int(r.batch)),
                model=r.model, mode=r.mode, dtype=r.dtype, batch=int(r.batch))


def collect_dispatch(col: _Collector, df: pd.DataFrame) -> None:
    """dispatch.csv rows of the dispatch classes (not the informational ``module`` row)."""
    from accel.arch.cpu import DISPATCH_CLASSES

    for r in df.to_dict("records"):
        c = str(r["op_class"])
        if c in DISPATCH_CLASSES:
            col.add("dispatch", f"{c} {r['op']}", float(r["ms"]) / 1e3, partial(col.p.dispatch_time, c), op_class=c)


def collect_micro(col: _Collector, df: pd.DataFrame) -> None:
    for r in df.itertuples(index=False):
        r = r._asdict()
        kind, nbytes, ms = str(r["kind"]), int(r["bytes"]), float(r["ms"])
        if kind in ("h2d", "d2h"):
            pinned = bool(r.get("pinned"))
            key = f"{kind} {_fmt_bytes(nbytes)} {'pinned' if pinned else 'pageable'}"
            col.add("pcie", key, ms / 1e3, partial(col.p.transfer_time, kind, nbytes, pinned),
                    kind=kind, bytes=nbytes, pinned=pinned)
        elif kind == "d2d_copy":
            col.add("devmem", f"d2d_copy {_fmt_bytes(nbytes)}", ms / 1e3,
                    partial(col.p.kernel_time, copy_op(nbytes)), bytes=nbytes)
        elif kind == "d_read_sum":
            col.add("devmem", f"read_sum {_fmt_bytes(nbytes)}", ms / 1e3,
                    partial(col.p.kernel_time, reduce_op(nbytes)), bytes=nbytes)
        # launch_* / graph_* rows are calibration inputs of the launch-overhead fields: not validated


_CPU_MODEL = re.compile(r"^cpu_(?P<model>.+)_b(?P<batch>\d{1,12})_(?P<dtype>fp32|fp16|bf16)$")


def collect_cpu(col: _Collector, df: pd.DataFrame) -> None:
    for r in df.itertuples(index=False):
        r = r._asdict()
        kind, th, ms = str(r["kind"]), int(r["threads"]), float(r["ms"])
        if kind.startswith("cpu_gemm_"):
            dtype = kind.rsplit("_", 1)[1]
            op = matmul_op(r["M"], r["N"], r["K"], dtype)
            col.add("cpu_gemm", f"{dtype} {int(r['M'])}x{int(r['N'])}x{int(r['K'])} t{th}", ms / 1e3,
                    partial(col.p.cpu_kernel_time, op, th), threads=th, gflop=op.flops / 1e9)
        elif kind == "cpu_copy":
            n = int(r["bytes"])
            col.add("cpu_copy", f"copy {_fmt_bytes(n)} t{th}", ms / 1e3,
                    partial(col.p.cpu_kernel_time, copy_op(n), th), threads=th, bytes=n)
        elif (m := _CPU_MODEL.match(kind)) and not 1 <= int(m["batch"]) <= _MAX_NAMED_SIZE:
            col.skipped.append(Skipped("cpu_model", kind, f"batch in the kind name must be 1..{_MAX_NAMED_SIZE}"))
        elif m:
            model, batch, dtype = m["model"], int(m["batch"]), m["dtype"]
            col.note(f"cpu: {model} b{batch} t{th}")
            col.add("cpu_model", f"{model} b{batch} {dtype} t{th}", ms / 1e3,
                    partial(col.p.cpu_model_latency, model, batch, dtype, th),
                    model=model, threads=th, batch=batch)
        else:
            col.skipped.append(Skipped("cpu", kind, "unknown cpu.csv kind"))


#: largest size / batch a workload or kind name may carry (``gemm8192_bf16``, ``cpu_resnet50_b8_fp32``)
_MAX_NAMED_SIZE = 1 << 20
_GEMM_W = re.compile(r"^gemm(?P<n>\d{1,12})_(?P<dtype>fp32|tf32|fp16|bf16)$")
_MODEL_W = re.compile(r"^(?P<model>.+)_b(?P<batch>\d{1,12})_(?P<dtype>fp32|tf32|fp16|bf16)$")
_COPY_W = re.compile(r"^d2d_copy_(?P<n>\d{1,12})(?P<unit>[KMG]i?B)$")


def collect_energy(col: _Collector, df: pd.DataFrame) -> None:
    for r in df.itertuples(index=False):
        r = r._asdict()
        w, iters, joules = str(r["workload"]), int(r["iters"]), float(r["joules"])
        if w == "idle":
            secs = float(r.get("seconds") or 0)
            if secs > 0:
                col.add("idle", "idle", joules / secs, col.p.idle_power)
            continue
        if iters <= 0:
            col.skipped.append(Skipped("energy", w, "iters must be > 0"))
            continue
        per_iter = joules / iters
        if (m := _GEMM_W.match(w) or _COPY_W.match(w) or _MODEL_W.match(w)) and not \
                1 <= int(m.groupdict().get("n") or m.groupdict().get("batch") or 1) <= _MAX_NAMED_SIZE:
            col.skipped.append(Skipped("energy", w, f"size or batch in the workload name must be 1..{_MAX_NAMED_SIZE}"))
        elif (m := _GEMM_W.match(w)):
            n = int(m["n"])
            op = matmul_op(n, n, n, m["dtype"])
            col.add("energy", w, per_iter, partial(col.p.kernel_energy, op), dtype=m["dtype"])
        elif (m := _COPY_W.match(w)):
            scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 1e3, "MB": 1e6, "GB": 1e9}[m["unit"]]
            n = int(int(m["n"]) * scale)
            col.add("energy", w, per_iter, partial(col.p.kernel_energy, copy_op(n)))
        elif (m := _MODEL_W.match(w)):
            col.note(f"energy: {w}")
            col.add("energy", w, per_iter,
                    partial(col.p.model_energy, m["model"], m["dtype"], int(m["batch"])),
                    model=m["model"], batch=int(m["batch"]))
        else:
            col.skipped.append(Skipped("energy", w, "unknown energy.csv workload name"))


def _cell_float(v: Any) -> float | None:
    """A finite number > 0 from an optional cell, else None (blank, NaN, text, <= 0)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def _llm_part(times: Callable[[], dict[str, float]], part: str) -> float:
    got = times()
    if part not in got:
        raise Unsupported(f"no {part} time for this block")
    return got[part]


#: PyTorch SDPA backend that ran a row's attention (llm_train.csv ``sdpa_backend``) -> accel's training attention
#: kernel (``accel.graph.ATTENTION_KERNELS``): SDPA's ``flash`` backend is FlashAttention-2 (PyTorch's
#: ``aten/src/ATen/native/transformers/cuda/flash_attn``), held to ``calibration.flash2_efficiency``; the memory-
#: efficient backend is a FlashAttention-2-class fused kernel too; cuDNN's fused attention is the Hopper-native
#: ``flash``; the math backend is the unfused QK^T / softmax / PV path. Unknown or unrecorded: SDPA's default for
#: 16-bit inputs on a GPU, its flash backend.
SDPA_KERNELS: dict[str, str] = {"flash": "flash2", "efficient": "flash2", "cudnn": "flash", "math": "unfused"}


def collect_llm_train(col: _Collector, df: pd.DataFrame) -> None:
    """llm_train.csv rows (ms per block): ``llm_block`` compares ``ms`` with the cluster-training model's block
    time (:meth:`Predictor.llm_block_times` ``total``), ``llm_block_forward`` ``fwd_ms`` with its forward pass; where
    the profiler columns are filled, ``llm_block_gemm`` / ``_attention`` / ``_other`` compare ``gemm_ms`` /
    ``attention_ms`` / ``other_ms`` (device kernel time by kernel name) with the cost model's per-op time of those
    kinds, and ``llm_block_norm`` / ``_elementwise`` / ``_reduce`` / ``_copy`` / ``_misc`` the ``other`` kernels' split
    (:data:`accel.measure.llm_train.OTHER_CLASSES`; a part measured as 0 is not compared). Tags: label, dtype, seq_len, microbatch,
    sdpa_backend, sustained_over_short (``sustained_ms / ms``) and sm_clock_mhz_median where measured."""
    for r in df.to_dict("records"):
        spec, seq, mb, dtype = str(r["spec"]), int(r["seq_len"]), int(r["microbatch"]), str(r["dtype"])
        lab = r.get("label")
        label = lab if isinstance(lab, str) and lab else spec
        key = f"{label} s{seq} mb{mb} {dtype}"
        ms = float(r["ms"])
        tags: dict[str, Any] = dict(label=label, dtype=dtype, seq_len=seq, microbatch=mb)
        backend = r.get("sdpa_backend")
        if isinstance(backend, str) and backend:
            tags["sdpa_backend"] = backend
        kernel = SDPA_KERNELS.get(str(backend), "flash2")
        tags["attention_model"] = kernel
        sus = _cell_float(r.get("sustained_ms"))
        if sus is not None:
            tags["sustained_over_short"] = sus / ms
        clock = _cell_float(r.get("sm_clock_mhz_median"))
        if clock is not None:
            tags["sm_clock_mhz_median"] = clock
        col.note(f"llm_train: {key}")
        times = partial(col.p.llm_block_times, spec, seq, mb, dtype, kernel)
        col.add("llm_block", key, ms / 1e3, partial(_llm_part, times, "total"), **tags)
        for part, column in LLM_PART_COLUMNS.items():
            v = _cell_float(r.get(column))
            if v is not None and v > 0:
                col.add(f"llm_block_{part}", key, v / 1e3, partial(_llm_part, times, part), **tags)


def _fmt_bytes(n: int) -> str:
    for unit, s in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= s and n % s == 0:
            return f"{n // s}{unit}"
    return f"{n}B"


#: category group -> (file, collector). ``only`` in :func:`compare` selects by these names.
SECTIONS = ("gemm", "conv", "conv_bwd", "layers", "e2e", "micro", "dispatch", "cpu", "energy", "llm_train")


def compare(mdir: MeasurementDir, predictor: Predictor, only: Iterable[str] | None = None,
            progress: bool = False) -> ValidationReport:
    """Compare every row of ``mdir`` (or the sections in ``only``) with ``predictor``."""
    want = set(only) if only else set(SECTIONS)
    bad = want - set(SECTIONS)
    if bad:
        raise ValueError(f"unknown section(s) {', '.join(sorted(bad))}; allowed: {', '.join(SECTIONS)}")
    col = _Collector(predictor, progress)
    on_cpu = mdir.device_type == "cpu"
    t = mdir.tables
    if "gemm" in want and "gemm.csv" in t:
        collect_gemm(col, t["gemm.csv"], on_cpu)
    if "conv" in want and "conv.csv" in t:
        collect_conv(col, t["conv.csv"], on_cpu)
    if "conv_bwd" in want and "conv_bwd.csv" in t:
        collect_conv(col, t["conv_bwd.csv"], on_cpu, backward=True)
    if "layers" in want and "layers.csv" in t:
        collect_layers(col, t["layers.csv"], t.get("e2e.csv"))
    if "e2e" in want and "e2e.csv" in t:
        collect_e2e(col, t["e2e.csv"])
    if "micro" in want and "micro.csv" in t:
        collect_micro(col, t["micro.csv"])
    if "dispatch" in want and "dispatch.csv" in t:
        collect_dispatch(col, t["dispatch.csv"])
    if "cpu" in want and "cpu.csv" in t:
        collect_cpu(col, t["cpu.csv"])
    if "energy" in want and "energy.csv" in t:
        collect_energy(col, t["energy.csv"])
    if "llm_train" in want and "llm_train.csv" in t:
        collect_llm_train(col, t["llm_train.csv"])
    return ValidationReport(str(mdir.path), mdir.device_name, predictor.description, col.comparisons, col.skipped)
