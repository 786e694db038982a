"""Multi-device parallelism: configuration plus the graph transformations it implies.

* ``data``: every device runs the whole graph on its own (micro)batch; gradients are
  all-reduced in buckets on a communication stream that overlaps the rest of backward, as
  PyTorch DDP's reducer does (:func:`plan_data_parallel`): a bucket closes when it holds at least
  ``first_bucket_bytes`` (1 MiB) for the first bucket and ``bucket_bytes`` (25 MiB) for the
  others, in the order gradients become ready; each gradient is copied into its bucket (scaled by
  1/devices) by a kernel on the compute stream when it is ready, and after backward each bucket is
  copied back into the gradients once its all-reduce is done (``gradient_as_bucket_view=False``,
  torch's default; ``True`` drops both copies); optimizer ops follow those copies. Items per step =
  batch_items x devices.
* ``tensor``: Megatron-style, following the data flow. In forward, a weight-carrying matmul/conv
  whose input is replicated is column-parallel (output features split, no communication: q, k and
  v of one attention, gate and up of a SwiGLU MLP, GPT-2's fused c_attn), and one whose input is
  split is row-parallel (reduction dim split, followed by an all-reduce of its output, which is
  replicated again: o_proj, down_proj). Other ops with a split input work on split activations
  (/n; a residual add of a split and a replicated tensor keeps the split); attention (and
  weightless batched matmuls) is split by heads; everything else is replicated. In backward, ops of a module that was split in
  forward are split the same way, and each column-parallel module gets an all-reduce of its
  input gradient (size = its forward input). Backward ops with no module name are split if
  they are matmul/conv/attention and their all-reduces are placed proportionally in the
  backward sequence. Items = batch_items (the graph is the whole batch).
* ``pipeline``: forward ops are cut into ``devices`` contiguous stages of equal predicted
  time; backward/optimizer ops follow their module's stage (or their mirrored position when
  the module is unknown). The graph is ONE microbatch; ``microbatches`` of them flow through
  the stages with a GPipe (all forward, then all backward) or 1F1B schedule; stage
  boundaries send activations (forward) and their gradients (backward) over the fabric.
  Items = batch_items x microbatches.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from accel.graph import LayerGraph, OpNode, TensorInfo, dtype_bytes

MODES = ("data", "tensor", "pipeline")
SCHEDULES = ("gpipe", "1f1b")
#: most pipeline microbatches per step (each one is a copy of the graph's tasks on its stage)
MAX_MICROBATCHES = 4096


#: gradient exchanges of data parallelism (:attr:`ParallelConfig.collective`)
COLLECTIVES: tuple[str, ...] = ("ring", "tree", "ps")


@dataclass(frozen=True)
class ParallelConfig:
    """How to spread one step over several devices.

    Attributes:
        mode: ``data``, ``tensor`` or ``pipeline``.
        devices: number of devices used (<= the system's device count; the system is
            replicated from its first device when it has fewer).
        collective: gradient exchange of data parallelism: all-reduce algorithm ``ring`` or ``tree``, or ``ps``
            (a parameter server: every replica pushes each gradient bucket to ``ps_servers`` servers and pulls the
            parameters back, :meth:`accel.sim.system.System.parameter_server_cost`; Li et al. OSDI 2014).
        ps_servers: parameter-server processes (``collective="ps"``), each with one NIC (one fabric link inside
            a node).
        bucket_bytes: DDP gradient bucket size (B), default 25 MiB (torch DDP bucket_cap_mb=25).
        first_bucket_bytes: size of DDP's first gradient bucket (B), default 1 MiB (torch's
            ``kDefaultFirstBucketBytes``, ``dist._DEFAULT_FIRST_BUCKET_BYTES``).
        gradient_as_bucket_view: DDP's option of that name: gradients are views of the buckets, so no
            kernel copies them in and out (default False, as in torch).
        microbatches: pipeline microbatches per step (default 4 x devices).
        schedule: pipeline schedule, ``gpipe`` or ``1f1b``.
    """

    mode: str = "data"
    devices: int = 1
    collective: str = "ring"
    ps_servers: int = 1
    bucket_bytes: float = 25 * 2**20
    first_bucket_bytes: float = 2**20
    gradient_as_bucket_view: bool = False
    microbatches: int | None = None
    schedule: str = "1f1b"

    def __post_init__(self) -> None:
        from accel.arch.system import MAX_DEVICES
        from accel.errors import ConfigError

        def bad(field: str, reason: str) -> ConfigError:  # a ValueError too
            return ConfigError("<parallel config>", field, reason)

        if self.mode not in MODES:
            raise bad("mode", f"must be one of {', '.join(MODES)}; got {self.mode!r}")
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or not 1 <= self.devices <= MAX_DEVICES:
            raise bad("devices", f"must be an integer from 1 to {MAX_DEVICES} (the simulator's limit), got {self.devices!r}")
        if self.collective not in COLLECTIVES:
            raise bad("collective", f"must be one of {', '.join(COLLECTIVES)}; got {self.collective!r}")
        if isinstance(self.ps_servers, bool) or not isinstance(self.ps_servers, int) or self.ps_servers < 1:
            raise bad("ps_servers", f"must be a positive integer, got {self.ps_servers!r}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        for name in ("bucket_bytes", "first_bucket_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise bad(name, f"must be a finite number > 0, got {v!r}")
        if not isinstance(self.gradient_as_bucket_view, bool):
            raise bad("gradient_as_bucket_view", f"must be True or False, got {self.gradient_as_bucket_view!r}")
        if self.microbatches is not None and not 1 <= self.microbatches <= MAX_MICROBATCHES:
            raise bad("microbatches", f"must be between 1 and {MAX_MICROBATCHES}, got {self.microbatches}")

    @property
    def n_microbatches(self) -> int:
        return self.microbatches or 4 * self.devices


# ---------------------------------------------------------------------------- data parallel
@dataclass(frozen=True)
class Gradient:
    """One parameter gradient as DDP's reducer sees it.

    Attributes:
        op: the backward op that produces it (DDP's autograd hook fires after it); module: that op's module.
        tensor: the gradient tensor as produced (its copies into and out of the bucket move it).
        bytes: its share of the parameter bytes all-reduced (B).
        bucket: index of its bucket, in the order the buckets' all-reduces are launched.
        index: its position among the step's gradients (the order they become ready).
    """

    op: str
    module: str
    tensor: TensorInfo
    bytes: float
    bucket: int
    index: int


@dataclass(frozen=True)
class DataParallelPlan:
    """DDP's gradient buckets of one training step (:func:`plan_data_parallel`).

    Attributes:
        grads: backward op name -> the gradients it produces, in output order.
        buckets: bytes of each bucket (B), in launch order.
        launch_after: backward op name -> the buckets whose all-reduce is launched after it (the
            op that produces a bucket's last gradient).
    """

    grads: dict[str, list[Gradient]]
    buckets: list[float]
    launch_after: dict[str, list[int]]


def _param_grads(ops: list[OpNode], graph: LayerGraph) -> list[tuple[OpNode, TensorInfo, float]]:
    """(backward op, gradient tensor, bytes) of each parameter gradient, in backward order.

    A backward op produces a parameter's gradient through an output with the shape and dtype of a
    forward op's weight (a parameter; 0-d weights such as batch norm's ``num_batches_tracked`` have no
    gradient). Under autocast this is the fp32 cast of a half-precision weight gradient, which is what
    the optimizer reads. Without such a match the shape alone is used; without any, the parameter bytes
    are spread over the backward matmul/conv ops in proportion to their FLOPs (one gradient each; a
    documented fallback). The bytes are then scaled so their total equals the graph's parameter bytes
    (``graph.weight_bytes``).
    """
    bwd = [o for o in ops if o.phase == "backward"]
    pbytes = float(graph.weight_bytes)
    if not bwd or pbytes <= 0:
        return []
    weights = {(tuple(t.shape), t.dtype) for o in ops if o.phase == "forward" for t in o.weights if len(t.shape) > 0}
    shapes = {shape for shape, _ in weights}
    found: list[tuple[OpNode, TensorInfo | None, float]] = []
    for match in (lambda t: (tuple(t.shape), t.dtype) in weights, lambda t: tuple(t.shape) in shapes):
        found = [(o, t, float(t.bytes)) for o in bwd for t in o.outputs if t.bytes > 0 and match(t)]
        if found:
            break
    if not found:
        heavy = [o for o in bwd if o.kind in ("matmul", "conv", "conv_transpose", "rnn")] or bwd
        total_f = sum(o.flops for o in heavy)
        found = [(o, None, o.flops if total_f > 0 else 1.0) for o in heavy]
    total = sum(b for _, _, b in found)
    out = []
    for o, t, b in found:
        share = pbytes * b / total
        if t is None:  # the fallback: a flat gradient of the op's dtype holding its share
            t = TensorInfo((max(1, int(share / dtype_bytes(o.dtype))),), o.dtype, int(share))
        out.append((o, t, share))
    return out


def plan_data_parallel(ops: list[OpNode], graph: LayerGraph, cfg: ParallelConfig) -> DataParallelPlan:
    """DDP's gradient buckets: the gradients in the order they become ready (backward program order; DDP
    rebuilds its buckets in that order after the first step), assigned as torch's
    ``compute_bucket_assignment_by_size`` does: a gradient joins the open bucket, which closes once it
    holds at least its limit, ``first_bucket_bytes`` for the first bucket and ``bucket_bytes`` for every
    later one (torch ``Reducer::rebuild_buckets``: limits ``[kDefaultFirstBucketBytes, bucket_bytes_cap]``);
    the last bucket holds what is left. A bucket's all-reduce is launched after the op producing its last
    gradient. Empty for one device or another mode."""
    if cfg.mode != "data" or cfg.devices < 2:
        return DataParallelPlan({}, [], {})
    grads: dict[str, list[Gradient]] = {}
    buckets: list[float] = []
    launch_after: dict[str, list[int]] = {}
    acc, last = 0.0, ""
    for i, (op, tensor, nbytes) in enumerate(_param_grads(ops, graph)):
        k, name = len(buckets), op.name
        grads.setdefault(name, []).append(Gradient(name, op.module, tensor, nbytes, k, i))
        acc += nbytes
        last = name
        if acc >= (cfg.first_bucket_bytes if k == 0 else cfg.bucket_bytes):
            buckets.append(acc)
            launch_after.setdefault(name, []).append(k)
            acc = 0.0
    if acc > 0:
        launch_after.setdefault(last, []).append(len(buckets))
        buckets.append(acc)
    return DataParallelPlan(grads, buckets, launch_after)


# ---------------------------------------------------------------------------- tensor parallel
SPLIT_KINDS = ("matmul", "conv", "attention", "conv_transpose")


def _scale_tensors(ts: list[TensorInfo], f: float) -> list[TensorInfo]:
    return [TensorInfo(t.shape, t.dtype, int(t.bytes * f)) for t in ts]


def _ceil_div(a, n):
    return max(1, -(-int(a) // n))


def _split_axis(ts: list[TensorInfo], size: int, n: int, axis: int | None = None) -> list[TensorInfo]:
    """``ts`` with one axis of length ``size`` cut to ``ceil(size / n)`` (bytes in proportion): ``axis`` if
    given and of that length, else the last axis of that length; a tensor without one keeps its shape and 1/n
    of its bytes. Shapes stay consistent with the split attrs, so cost models that find a GEMM's operands by
    their element counts (``accel.devices.gpu.gemm_operands``) still find them."""
    out = []
    for t in ts:
        dims = list(t.shape)
        if axis is not None and len(dims) > axis and dims[axis] == size:
            i: int | None = axis
        else:
            i = next((j for j in range(len(dims) - 1, -1, -1) if dims[j] == size), None)
        if i is None or size <= 0:
            out.append(TensorInfo(t.shape, t.dtype, int(t.bytes / n)))
            continue
        dims[i] = _ceil_div(size, n)
        out.append(TensorInfo(tuple(dims), t.dtype, int(t.bytes * dims[i] / size)))
    return out


def shard_op(op: OpNode, n: int, how: str) -> OpNode:
    """Copy of ``op`` with 1/n of its work, for tensor parallelism.

    ``how``: ``scale:F`` (keep fraction F of everything), ``col`` (split output features: matmul N, conv Cout; weights and outputs /n),
    ``row`` (split reduction: matmul K, conv Cin; weights and inputs /n), ``heads``
    (attention heads or bmm batch /n; all tensors /n), ``act`` (split activations of an
    elementwise-like op: all tensors /n).
    """
    if how.startswith("scale:"):  # keep a fraction of the work, e.g. "scale:0.25" (fused optimizer shards)
        f = float(how.split(":", 1)[1])
        if not 0 < f <= 1:
            raise ValueError(f"shard fraction must be in (0, 1], got {f}")
        return dataclasses.replace(op, inputs=_scale_tensors(op.inputs, f), outputs=_scale_tensors(op.outputs, f),
                                   weights=_scale_tensors(op.weights, f), flops=op.flops * f, macs=op.macs * f)
    if n == 1:
        return op
    f = 1.0 / n
    attrs = dict(op.attrs)
    ins, outs, ws = op.inputs, op.outputs, op.weights
    conv = op.kind in ("conv", "conv_transpose")
    if how == "col":
        if op.kind == "matmul" and "N" in attrs:
            ws, outs = _split_axis(ws, int(attrs["N"]), n), _split_axis(outs, int(attrs["N"]), n)
            attrs["N"] = _ceil_div(attrs["N"], n)
        elif conv and "Cout" in attrs:
            ws, outs = _split_axis(ws, int(attrs["Cout"]), n, 0), _split_axis(outs, int(attrs["Cout"]), n, 1)
            attrs["Cout"] = _ceil_div(attrs["Cout"], n)
        else:
            ws, outs = _scale_tensors(ws, f), _scale_tensors(outs, f)
    elif how == "row":
        if op.kind == "matmul" and "K" in attrs:
            ws, ins = _split_axis(ws, int(attrs["K"]), n), _split_axis(ins, int(attrs["K"]), n)
            attrs["K"] = _ceil_div(attrs["K"], n)
        elif conv and "Cin" in attrs:
            ws, ins = _split_axis(ws, int(attrs["Cin"]), n, 1), _split_axis(ins, int(attrs["Cin"]), n, 1)
            attrs["Cin"] = _ceil_div(attrs["Cin"], n)
        else:
            ws, ins = _scale_tensors(ws, f), _scale_tensors(ins, f)
    elif how == "heads":
        if op.kind == "attention" and "heads" in attrs:
            attrs["heads"] = _ceil_div(attrs["heads"], n)
        elif op.kind == "matmul" and attrs.get("batch", 1) >= n:
            attrs["batch"] = _ceil_div(attrs["batch"], n)
        elif op.kind == "matmul" and "N" in attrs:
            attrs["N"] = _ceil_div(attrs["N"], n)
        ins, outs, ws = _scale_tensors(ins, f), _scale_tensors(outs, f), _scale_tensors(ws, f)
    elif how == "act":
        ins, outs, ws = _scale_tensors(ins, f), _scale_tensors(outs, f), _scale_tensors(ws, f)
    else:
        raise ValueError(f"unknown shard mode {how!r}")
    return dataclasses.replace(op, name=op.name, attrs=attrs, inputs=ins, outputs=outs, weights=ws,
                               flops=op.flops * f, macs=op.macs * f)


@dataclass
class TensorPlan:
    """Per-op sharding decisions and where the all-reduces go.

    Attributes:
        shard: op name -> shard mode (absent: replicated).
        allreduce_after: op name -> bytes to all-reduce right after that op.
    """

    shard: dict[str, str]
    allreduce_after: dict[str, float]


def plan_tensor_parallel(graph: LayerGraph, n: int) -> TensorPlan:
    """Megatron-style plan over ``graph``'s ops in program order (see module docstring)."""
    shard: dict[str, str] = {}
    ar: dict[str, float] = {}
    if n == 1:
        return TensorPlan(shard, ar)
    ops = list(graph)
    fwd = [o for o in ops if o.phase == "forward"]
    bwd = [o for o in ops if o.phase == "backward"]
    col_mods: dict[str, float] = {}   # module -> forward input bytes (for its backward all-reduce)
    row_mods: set[str] = set()
    act_mods: set[str] = set()
    split: set[str] = set()  # forward ops whose output is split over the devices
    col_order: list[tuple[int, float]] = []  # (forward index, bytes) of column-parallel ops
    for i, o in enumerate(fwd):
        split_input = any(p in split for p in graph.predecessors(o.name))
        if o.kind in ("matmul", "conv") and o.weights:
            if not split_input:
                shard[o.name] = "col"
                col_mods[o.module] = col_mods.get(o.module, 0.0) + o.input_bytes
                col_order.append((i, float(o.input_bytes)))
                split.add(o.name)
            else:
                shard[o.name] = "row"
                row_mods.add(o.module)
                ar[o.name] = float(o.output_bytes)
        elif o.kind in SPLIT_KINDS and (split_input or not o.weights):
            shard[o.name] = "heads"
            act_mods.add(o.module)
            split.add(o.name)
        elif split_input:
            shard[o.name] = "act"
            act_mods.add(o.module)
            split.add(o.name)
    # backward
    have_modules = any(o.module for o in bwd)
    last_of_module: dict[str, str] = {}
    for o in bwd:
        m = o.module
        if m and m in col_mods:
            shard[o.name] = "col" if o.kind in ("matmul", "conv") else "act"
            last_of_module[m] = o.name
        elif m and m in row_mods:
            shard[o.name] = "row" if o.kind in ("matmul", "conv") else "act"
        elif m and m in act_mods:
            shard[o.name] = "heads" if o.kind in SPLIT_KINDS else "act"
        elif not m and o.kind in SPLIT_KINDS:
            shard[o.name] = "heads"
    if have_modules:
        for m, name in last_of_module.items():
            ar[name] = ar.get(name, 0.0) + col_mods[m]
    elif bwd and col_order:
        nf = max(len(fwd), 1)
        for fi, nbytes in col_order:
            pos = min(len(bwd) - 1, int((1.0 - (fi + 1) / nf) * len(bwd)))
            name = bwd[pos].name
            ar[name] = ar.get(name, 0.0) + nbytes
    # optimizer: parameters of split modules are split. A fused optimizer op over many
    # parameters (no split module of its own) keeps the unsplit share plus 1/n of the split share.
    split_w = sum(o.weight_bytes for o in fwd if shard.get(o.name) in ("col", "row"))
    all_w = sum(o.weight_bytes for o in fwd)
    for o in ops:
        if o.phase != "optimizer":
            continue
        if o.module and (o.module in col_mods or o.module in row_mods):
            shard[o.name] = "act"
        elif all_w > 0 and split_w > 0:
            frac = (all_w - split_w) / all_w + split_w / all_w / n
            shard[o.name] = f"scale:{frac:.6g}"
    return TensorPlan(shard, ar)


# ---------------------------------------------------------------------------- pipeline parallel
def _cut_bytes(fwd: list[OpNode], graph) -> list[float]:
    """cut[p] = bytes of tensors live across a cut placed just before forward op p."""
    idx = {o.name: i for i, o in enumerate(fwd)}
    diff = [0.0] * (len(fwd) + 2)
    g = graph.graph
    for o in fwd:
        i = idx[o.name]
        far, nb = i, 0.0
        for v in g.successors(o.name):
            j = idx.get(v)
            if j is not None and j > i:
                far = max(far, j)
                nb = max(nb, float(g.edges[o.name, v].get("bytes", 0)))
        if far > i:
            diff[i + 1] += nb
            diff[far + 1] -= nb
    cut, acc = [0.0] * (len(fwd) + 1), 0.0
    for p in range(len(fwd) + 1):
        acc += diff[p]
        cut[p] = acc
    return cut


def assign_stages(ops: list[OpNode], fwd_times: dict[str, float], n: int, graph=None,
                  window: float = 0.25) -> dict[str, int]:
    """Stage index per op: forward cut into ``n`` contiguous stages of ~equal time.

    Each cut is placed, among the forward positions whose cumulative time is within
    ``window`` x (stage time) of the ideal boundary, where the fewest activation bytes cross
    (needs ``graph`` for edge bytes; without it the ideal-time position is used). Backward
    and optimizer ops follow their module's stage, else their mirrored position.
    """
    fwd = [o for o in ops if o.phase == "forward"]
    times = [fwd_times.get(o.name, 0.0) for o in fwd]
    total = sum(times) or 1.0
    before = [0.0]
    for t in times:
        before.append(before[-1] + t)          # before[p] = time of ops[0:p]
    cut = _cut_bytes(fwd, graph) if graph is not None else None
    cuts: list[int] = []
    lo_p = 1
    for k in range(1, n):
        target = total * k / n
        best, best_key = None, None
        for p in range(lo_p, len(fwd)):
            dt = abs(before[p] - target)
            if dt > window * total / n and before[p] < target:
                continue
            if dt > window * total / n:
                break
            key = ((cut[p] if cut is not None else 0.0), dt)
            if best_key is None or key < best_key:
                best, best_key = p, key
        if best is None:  # no position inside the window: nearest to the target
            best = min(range(lo_p, max(lo_p + 1, len(fwd))), key=lambda p: abs(before[min(p, len(fwd))] - target))
        best = min(max(best, lo_p), len(fwd))
        cuts.append(best)
        lo_p = best + 1 if best < len(fwd) else best
    stage: dict[str, int] = {}
    module_stage: dict[str, int] = {}
    s = 0
    for p, o in enumerate(fwd):
        while s < len(cuts) and p >= cuts[s]:
            s += 1
        stage[o.name] = s
        if o.module:
            module_stage.setdefault(o.module, s)
    others = [o for o in ops if o.phase != "forward"]
    bwd = [o for o in others if o.phase == "backward"]
    for j, o in enumerate(bwd):
        if o.module and o.module in module_stage:
            stage[o.name] = module_stage[o.module]
        else:  # mirrored position: early backward ops belong to late stages
            stage[o.name] = min(n - 1, max(0, int((1.0 - j / max(len(bwd), 1)) * n - 1e-9)))
    opt = [o for o in others if o.phase == "optimizer"]
    for j, o in enumerate(opt):
        if o.module and o.module in module_stage:
            stage[o.name] = module_stage[o.module]
        else:
            stage[o.name] = min(n - 1, int(j / max(len(opt), 1) * n))
    return stage


def pipeline_order(stage: int, n_stages: int, m: int, schedule: str) -> list[tuple[str, int]]:
    """Per-stage sequence of (``"F"``/``"B"``, microbatch) for GPipe or 1F1B."""
    if schedule == "gpipe":
        return [("F", k) for k in range(m)] + [("B", k) for k in range(m)]
    warm = min(n_stages - stage - 1, m)
    seq = [("F", k) for k in range(warm)]
    f, b = warm, 0
    while f < m:
        seq.append(("F", f))
        f += 1
        seq.append(("B", b))
        b += 1
    seq += [("B", k) for k in range(b, m)]
    return seq
