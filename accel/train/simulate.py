"""Cluster training of a decoder-only LLM: one optimizer step on ``tp x pp x dp`` GPUs, simulated through one
representative rank per pipeline stage (every data-parallel replica and tensor-parallel rank does the same work,
so collectives are costed, not replayed per GPU). A 3072-GPU step takes well under a second to simulate.

Per microbatch, a pipeline rank runs its model chunks' blocks (priced op by op on the device's cost model,
:mod:`accel.train.costs`) with Megatron's tensor-parallel collectives on the critical path:

* without sequence parallelism, 2 all-reduces of the ``b s h`` activations per block in forward (after the
  row-parallel o_proj and fc_out/down_proj) and 2 in backward (the column-parallel inputs' gradients);
* with it, each all-reduce becomes an all-gather + a reduce-scatter of the same size (Korthikanti et al. 2022);
* in backward the column-parallel projections' collectives run beside their own GEMMs (``tp_async_backward``,
  Megatron-LM's default since 2021: :class:`accel.train.layout.TrainLayout`), losing what the collective's SMs cost
  the GEMM (:func:`overlap_share`);
* full recomputation repeats the forward's collectives in backward; the vocab-parallel embedding all-reduces
  its output; the vocab-parallel cross-entropy all-reduces 3 ``b s`` fp32 vectors (max, sum, target logit).

Stages exchange ``b s h`` activations point to point, split over the ``tp`` ranks and all-gathered inside the node
(Megatron's scatter/gather optimisation; Narayanan et al. SC'21, Sec. 4.1); a blocking send holds the sending rank
for the transfer (``TrainLayout.p2p``). The pipeline schedule (1F1B or interleaved) is simulated
(:mod:`accel.train.pipeline`; ``--pipeline-schedule deepspeed``: DeepSpeed's pipeline engine). Then the
data-parallel gradient reduction (all-reduce; ZeRO-1/2: reduce-scatter + parameter all-gather), run in gradient
buckets behind the last microbatch's backward and the first forward when ``dp_overlap`` (:mod:`accel.train.buckets`:
a bucket leaves once its last gradient is ready, the next forward waits for each bucket's gather); with ZeRO-3
(FSDP) every block's parameters are all-gathered in forward and backward and its gradients reduce-scattered, each
overlapping the block's compute, and so are ZeRO-2's under FSDP (``SHARD_GRAD_OP``: the forward all-gather and the
backward reduce-scatter, per block and microbatch); the parameters outside the blocks (FSDP's root unit) are
gathered and reduce-scattered every microbatch, exposed. Last, the optimizer step over the rank's (sharded)
parameters: the streaming kernels of ``--optimizer-step`` (:mod:`accel.train.optimizer`), priced by the device's
cost model. FP8 training adds, once a step, the refresh of the blocks' fp8 weight copies in the first microbatch's
forward (:func:`accel.train.fp8.fp8_weight_casts`; counted in ``compute``) and their bytes in memory; under ZeRO-3 a
cast after every microbatch's gather and no copy kept.

All collectives are :meth:`accel.sim.system.System.collective_cost` over the ranks' real placement (NVLink
inside a node, NICs across nodes). Every kernel runs at the pace of the job's slowest GPU: units of one SKU
differ in sustained speed (the device YAML's ``unit_variation``) and every rank waits for the slowest at each
collective, so kernel times are multiplied by :func:`accel.sim.stragglers.slowest_factor` of the job's devices.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from accel.arch.base import DeviceSpec
from accel.devices.base import CostModel
from accel.graph import LayerGraph, OpNode, TensorInfo, dtype_bytes
from accel.sim.stragglers import slowest_factor
from accel.sim.system import System, resolve_system
from accel.train.buckets import ParamSegment, gather_exposed, grad_buckets, megatron_bucket_params, reduce_exposed
from accel.train.costs import PieceCost, full_saved_bytes, price_piece
from accel.train.layout import LayoutError, TrainLayout
from accel.train.fp8 import FP8_GATHER_BYTES, FP8_WEIGHT_CACHE_BYTES, fp8_weight_casts
from accel.train.memory import STATE_BYTES, MemoryTerms, check_fits, model_state, state_bytes
from accel.train.optimizer import optimizer_step_ops
from accel.train.pipeline import PipelineRun, run_deepspeed_pipeline, run_pipeline

#: breakdown keys of :attr:`TrainResult.breakdown`, in the order printed
BREAKDOWN_KEYS: tuple[str, ...] = ("compute", "recompute", "tp_comm", "pp_comm", "pipeline_bubble", "dp_comm",
                                   "optimizer")


@dataclass(frozen=True)
class Pieces:
    """Priced pieces of one microbatch on one tensor-parallel rank and the graphs they came from."""

    block: PieceCost
    embed: PieceCost
    head: PieceCost
    block_full_saved: float
    #: parameters the LM head shares with the token embedding (a tied model's ``vocab / tp x hidden`` weight): one
    #: tensor on a rank holding both ends (``pp`` = 1), a copy on each end's rank otherwise (Megatron keeps the
    #: last stage's copy in sync with the embedding group's all-reduce)
    tied_params: float = 0.0


@dataclass(frozen=True)
class TrainResult:
    """One simulated training step (all times in s, bytes in B, FLOP/s per device).

    ``breakdown`` splits the step on its critical pipeline rank into ``compute`` (forward + backward kernels),
    ``recompute``, ``tp_comm`` (tensor-parallel collectives and context parallelism's exposed K/V ring),
    ``pp_comm`` (the rank's own blocking point-to-point sends, :attr:`accel.train.layout.TrainLayout.p2p`),
    ``pipeline_bubble`` (idle waiting on other stages, their transfers included), exposed ``dp_comm`` and
    ``optimizer``; they add up to ``step_time_s``.
    ``collectives``: per block and microbatch, the TP collectives' exposed time, the pipeline send, FSDP's gathers
    and reduce-scatters (s), and ``overlap_share_forward`` / ``_backward``: the speed a block's forward / backward
    keeps while a collective overlaps it (:func:`overlap_share`).
    """

    model: str
    system: str
    device: str
    devices: int
    layout: TrainLayout
    dtype: str
    step_time_s: float
    tokens_per_s: float
    model_flops: float
    hardware_flops: float
    model_tflops_per_device: float
    hardware_tflops_per_device: float
    mfu: float
    hfu: float
    peak_flops: float
    memory: MemoryTerms
    breakdown: dict[str, float]
    stages: list[dict[str, float]] = field(default_factory=list)
    collectives: dict[str, float] = field(default_factory=dict)
    pipeline: PipelineRun | None = field(default=None, repr=False)
    #: the critical rank's ``compute + recompute`` by kernel class (s): ``gemm`` (matmul kernels, an unfused
    #: attention core's batched GEMMs included), ``attention`` (fused attention kernels), ``other`` (the rest:
    #: norms, elementwise, copies, the loss, and any time a pass waits on the host's eager issue beyond its kernels)
    compute_by_kernel: dict[str, float] = field(default_factory=dict)
    #: compute-time factor of the job's slowest GPU against the median unit (``unit_variation`` of the device
    #: YAML, :func:`accel.sim.stragglers.slowest_factor`); included in the breakdown's compute and recompute
    slowest_device_factor: float = 1.0

    @property
    def step_time_interval(self) -> Any:
        """80 % interval of the step time from accel's error on published runs
        (:func:`accel.uncertainty.training_interval`; None without the residual table)."""
        from accel.uncertainty import training_interval

        return training_interval(self.step_time_s)

    def chrome_trace(self) -> dict[str, Any]:
        """The step as a Chrome/Perfetto trace (``--trace``): one process per pipeline stage's representative rank,
        its forward/backward ops (``F3.c1``: microbatch 3, model chunk 1) and blocking pipeline sends (``send``),
        then its exposed data-parallel communication and optimizer step; microseconds."""
        events: list[dict[str, Any]] = []
        run = self.pipeline
        if run is None:
            return {"traceEvents": events}
        for r, stage in enumerate(self.stages):
            pid = r + 1
            rank = self.layout.rank(0, 0, r)
            events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                           "args": {"name": f"stage {r} (rank {rank})"}})
            for forward, mb, c, start, end in run.spans[r]:
                events.append({"ph": "X", "name": f"{'F' if forward else 'B'}{mb}.c{c}", "cat": "forward" if forward
                               else "backward", "pid": pid, "tid": 1, "ts": start * 1e6, "dur": (end - start) * 1e6,
                               "args": {"microbatch": mb, "chunk": c}})
            for start, end in (run.sends[r] if run.sends else []):
                events.append({"ph": "X", "name": "send", "cat": "pp_comm", "pid": pid, "tid": 1, "ts": start * 1e6,
                               "dur": (end - start) * 1e6})
            t = run.step_s
            for name in ("dp_comm", "optimizer"):
                if stage[name] > 0:
                    events.append({"ph": "X", "name": name, "cat": name, "pid": pid, "tid": 1 if name == "optimizer"
                                   else 2, "ts": t * 1e6, "dur": stage[name] * 1e6})
                    t += stage[name]
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"model": self.model, "system": self.system, "step_time_s": self.step_time_s}}

    @property
    def memory_per_device_bytes(self) -> float:
        return self.memory.total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the keys of ``accel simulate --json`` for training runs."""
        d = {k: getattr(self, k) for k in ("model", "system", "device", "devices", "dtype", "step_time_s",
                                           "tokens_per_s", "model_tflops_per_device", "hardware_tflops_per_device",
                                           "mfu", "hfu", "memory_per_device_bytes")}
        iv = self.step_time_interval
        if iv is not None:
            d["step_time_interval_s"] = [iv.low, iv.high]
            d["step_time_interval_source"] = iv.source
        d.update(layout=asdict(self.layout), breakdown=dict(self.breakdown), memory=self.memory.as_dict(),
                 model_flops_per_step=self.model_flops, hardware_flops_per_step=self.hardware_flops,
                 peak_flops_per_device=self.peak_flops, stages=self.stages, collectives=self.collectives,
                 compute_by_kernel=dict(self.compute_by_kernel),
                 slowest_device_factor=self.slowest_device_factor)
        return d


def price_pieces(graphs: dict[str, LayerGraph], model: CostModel, layout: TrainLayout, hidden: int,
                 elem_bytes: float, fp8: bool = False, grad_dtype: str = "bf16") -> Pieces:
    """Price the ``block`` / ``embed`` / ``head`` graphs of :func:`workloads.llm_train.training_graphs` (``fp8``:
    the block's GEMMs in fp8, :func:`accel.train.fp8.fp8_plan`; the LM head stays bf16, as Transformer
    Engine keeps the output layer in higher precision), each piece's backward with the gradient accumulation of
    ``layout.grad_accumulation`` over its parameters in ``grad_dtype`` (:func:`grad_accumulation_s`; under ZeRO-2/3
    over the rank's shard of them, ``1 / (dp x cp)``) and, under PyTorch FSDP, its forward and backward with FSDP's
    mixed-precision casts (:func:`fsdp_cast_s`)."""
    act = layout.microbatch_size * layout.local_seq_len * hidden * elem_bytes
    tp, sp, rc = layout.tp, layout.sequence_parallel, layout.recompute

    def params(name: str) -> float:
        return float(graphs[name].meta.get("params", 0))

    shards = layout.dp * layout.cp if layout.zero >= 2 else 1  # ZeRO-2/3 keep (and accumulate) a gradient shard
    reduce_bytes = state_bytes(grad_dtype, layout.optimizer_dtype)[1]  # what FSDP reduce-scatters (_fsdp_layer_comm)

    def with_gradient_kernels(piece: PieceCost, shared: float = 0.0) -> PieceCost:
        """``piece`` with the gradient kernels of its parameters, less ``shared`` ones whose kernels another piece
        runs."""
        own = piece.param_count - shared
        extra = grad_accumulation_s(model, own / shards, layout.grad_accumulation, grad_dtype, layout.microbatches)
        fwd = 0.0
        if layout.fsdp:  # PyTorch FSDP (the layout check holds it to ZeRO-2/3)
            f, b = fsdp_cast_s(model, own, shards, layout.zero, grad_dtype, reduce_bytes, layout.microbatches,
                               layout.fsdp_version)
            fwd, extra = f, extra + b
        if not (fwd or extra):
            return piece
        return dataclasses.replace(piece, forward_s=piece.forward_s + fwd, backward_s=piece.backward_s + extra)

    tied = float(graphs["head"].meta.get("tied_params", 0))
    # Megatron's fused accumulation: each weight-gradient GEMM adds into the fp32 main gradient (PyTorch FSDP's
    # gradients are fresh each microbatch; its casts and accumulation are fsdp_cast_s)
    main_grad = layout.grad_accumulation == "fused" and not layout.fsdp
    lora = layout.lora_rank or 0  # LoRA: every piece's weights frozen, adapters in the blocks
    head = price_piece(graphs["head"], model, act, params("head"), "none", tp, sp, fp32_grad_accumulation=main_grad,
                       lora_rank=lora)
    if layout.lora_rank and layout.pp == 1:  # a frozen tied weight is one tensor in memory on a rank with both ends
        head = dataclasses.replace(head, frozen_params=head.frozen_params - tied)
    return Pieces(
        block=with_gradient_kernels(price_piece(graphs["block"], model, act, params("block"), rc, tp, sp, fp8,
                                                layout.cp, main_grad, lora, layout.lora_targets)),
        embed=with_gradient_kernels(price_piece(graphs["embed"], model, 0.0, params("embed"), "none", tp, sp,
                                                lora_rank=lora)),
        # with both ends on one rank (pp 1) a tied weight is one tensor: its gradient kernels run with the embedding's
        head=with_gradient_kernels(head, tied if layout.pp == 1 and not layout.lora_rank else 0.0),
        # full and per-op recomputation rebuild a block's whole set while its backward runs
        block_full_saved=full_saved_bytes(graphs["block"], act, tp, sp, fp8) if rc in ("full", "op") else 0.0,
        tied_params=0.0 if layout.lora_rank else tied,  # a frozen tied weight has no gradient to sum
    )


def fsdp_cast_ops(params: float, shards: int, zero: int, grad_dtype: str, reduce_bytes: float,
                  version: int = 1) -> tuple[list[OpNode], list[OpNode], list[OpNode]]:
    """PyTorch FSDP's mixed-precision kernels for one FSDP unit of ``params`` parameters in one microbatch
    (``torch/distributed/fsdp``, PyTorch 2.0-2.1, which llm-foundry's Composer ran), its flat parameter kept in fp32
    and sharded ``shards`` ways: (forward, backward, accumulation) ops.

    * forward, and again in backward under FULL_SHARD (``zero`` 3): the local fp32 shard cast to the compute dtype
      ``grad_dtype`` before the all-gather (``FlatParamHandle._use_low_precision_shard``);
    * backward, when the reduce dtype is wider than the gradient autograd computed (``reduce_bytes`` per element:
      ``MixedPrecision(reduce_dtype=float32)``, Composer's ``DEFAULT`` mixed precision): the unit's whole unsharded
      gradient cast to it before the reduce-scatter (``_post_backward_hook``: ``flat_param.grad.to(reduce_dtype)``);
    * accumulation, after every microbatch but the first: the reduced shard added to the saved one
      (``flat_param._saved_grad_shard += new_sharded_grad``, fp32);
    * FSDP2 (``version`` 2, ``fully_shard``: torch/distributed/_composable/fsdp/_fsdp_collectives.py), after each
      all-gather (forward; backward too under ``zero`` 3): the gathered buffer copied out into the unit's unsharded
      parameters (``foreach_all_gather_copy_out``: ``split_with_sizes_copy``, the whole unit read and written in the
      compute dtype). Its copy-in casts and its reduce-scatter's (``_chunk_cat`` into the reduce dtype) are FSDP1's.

    They run on FSDP's side streams, but a Hopper GEMM's CTAs hold an SM's whole register file, so a streaming
    kernel beside it gets no SM to share: its SM time, about its time alone, is taken from compute
    (:func:`fsdp_cast_s` adds it)."""
    local = max(1, int(params / max(shards, 1)))
    full = max(1, int(params))
    master, half = TensorInfo.of((local,), "fp32"), TensorInfo.of((local,), grad_dtype)

    def shard_cast() -> OpNode:
        return OpNode("fsdp/shard_to_compute_dtype", "data_movement", inputs=[master], outputs=[half],
                      dtype=grad_dtype, phase="forward")

    def copy_out() -> list[OpNode]:
        gathered = TensorInfo.of((full,), grad_dtype)
        return [OpNode("fsdp2/all_gather_copy_out", "data_movement", inputs=[gathered], outputs=[gathered],
                       dtype=grad_dtype, phase="forward")] if version == 2 else []

    backward = ([dataclasses.replace(k, phase="backward") for k in [shard_cast(), *copy_out()]]
                if zero == 3 else [])
    reduce_dtype = "fp32" if reduce_bytes == 4 else grad_dtype
    if reduce_bytes > dtype_bytes(grad_dtype):
        backward.append(OpNode("fsdp/grad_to_reduce_dtype", "data_movement", inputs=[TensorInfo.of((full,), grad_dtype)],
                               outputs=[TensorInfo.of((full,), reduce_dtype)], dtype=reduce_dtype, phase="backward"))
    shard = TensorInfo.of((local,), "fp32")
    accumulate = [OpNode("fsdp/accumulate_grad_shard", "elementwise", inputs=[shard, shard], outputs=[shard],
                         flops=float(local), dtype="fp32", phase="backward")]
    return [shard_cast(), *copy_out()], backward, accumulate


def fsdp_cast_s(model: CostModel, params: float, shards: int, zero: int, grad_dtype: str, reduce_bytes: float,
                microbatches: int, version: int = 1) -> tuple[float, float]:
    """(forward, backward) time per microbatch (s) of :func:`fsdp_cast_ops`; the shard accumulation adds nothing
    to the first microbatch, so its time is averaged over the step's ``microbatches``."""
    forward, backward, accumulate = fsdp_cast_ops(params, shards, zero, grad_dtype, reduce_bytes, version)
    acc = sum(model.cost(op).time_s for op in accumulate) * (microbatches - 1) / microbatches
    return (sum(model.cost(op).time_s for op in forward),
            sum(model.cost(op).time_s for op in backward) + acc)


def grad_accumulation_ops(params: float, mode: str, grad_dtype: str) -> list[OpNode]:
    """The streaming kernels that add one microbatch's gradients of ``params`` parameters to the step's under
    ``mode`` (:attr:`accel.train.layout.TrainLayout.grad_accumulation`): none for ``fused``; for ``autograd`` one add in
    ``grad_dtype`` (read the accumulated and the fresh gradient, write the sum); for ``fp32_copy`` a cast of the fresh
    gradient to fp32 and an fp32 add."""
    n = max(1, int(params))
    g, f = TensorInfo.of((n,), grad_dtype), TensorInfo.of((n,), "fp32")
    if mode == "autograd":
        return [OpNode("grad_accumulation/add", "elementwise", inputs=[g, g], outputs=[g], flops=float(n),
                       dtype=grad_dtype, phase="backward")]
    if mode == "fp32_copy":
        return [OpNode("grad_accumulation/cast", "data_movement", inputs=[g], outputs=[f], dtype="fp32",
                       phase="backward"),
                OpNode("grad_accumulation/add", "elementwise", inputs=[f, f], outputs=[f], flops=float(n),
                       dtype="fp32", phase="backward")]
    return []


def grad_accumulation_s(model: CostModel, params: float, mode: str, grad_dtype: str, microbatches: int) -> float:
    """Time per microbatch (s) of :func:`grad_accumulation_ops` on ``model``; ``autograd`` adds nothing to the first
    microbatch's gradient (``.grad`` is empty), so its time is averaged over the step's ``microbatches``."""
    ops = grad_accumulation_ops(params, mode, grad_dtype) if params > 0 else []
    t = sum(model.cost(op).time_s for op in ops)
    return t * (microbatches - 1) / microbatches if mode == "autograd" else t


@dataclass(frozen=True)
class _Comm:
    """Collective times of one microbatch on one rank (s)."""

    block_fwd: float
    block_bwd: float
    embed_fwd: float
    head_fwd: float
    head_bwd: float
    p2p: float


def _tp_comm(sysm: System, layout: TrainLayout, act_bytes: float, gemm_s: dict[str, float],
             gemm_share: float = 1.0, fp8: bool = False) -> _Comm:
    """Tensor-parallel and pipeline communication per microbatch (module docstring). ``gemm_s``: the block's forward
    GEMM time per :data:`accel.train.costs.GEMM_GROUPS` group; ``gemm_share``: the speed a GEMM keeps beside a
    collective (:func:`overlap_share` of an all-GEMM window). With ``layout.tp_async_backward`` a column-parallel
    group's backward collectives hide behind its input-gradient and weight-gradient GEMMs, each taken to last the
    group's forward GEMM time (same FLOPs): exposed is ``overlapped(gemm, collective, share) - gemm``. Under LoRA
    (``layout.lora_rank``) the frozen weights have no weight-gradient GEMM to hide them behind (Megatron's and
    Transformer Engine's linear backward wait for the input-gradient collective right away when the weight needs no
    gradient; sequence parallelism's re-gather of the input, which only the weight gradient reads, is not run):
    exposed, as without the asynchronous backward. ``fp8``: FP8 training gathers in fp8 under sequence parallelism,
    half the bytes: the forward all-gathers of a column-parallel GEMM's input (Transformer Engine's LayerNorm kernel
    writes its output in fp8, which ``gather_along_first_dim`` then gathers: ``_LayerNormLinear.forward`` @v1.7;
    torchao's ``Float8ColwiseParallel`` casts before its all-gather) and the backward all-gathers of a row-parallel
    GEMM's output gradient (``grad_output_preprocess``: ``cast_to_fp8``, then the gather); the reduce-scatters of
    16-bit GEMM outputs, and the LM head's gather (Megatron's output layer is not an fp8 module), stay 16-bit."""
    group = layout.tp_group()
    async_backward = layout.tp_async_backward and not layout.lora_rank
    mb_tokens = layout.microbatch_size * layout.local_seq_len

    def cost(op: str, nbytes: float) -> float:
        return sysm.collective_cost(op, nbytes, group).time_s if len(group) > 1 else 0.0

    def beside(comm_s: float, gemm_group: str) -> float:
        g = gemm_s.get(gemm_group, 0.0)
        return overlapped(g, comm_s, gemm_share) - g

    if layout.sequence_parallel:
        ag, rs = cost("allgather", act_bytes * (0.5 if fp8 else 1.0)), cost("reduce_scatter", act_bytes)
        if layout.tp_comm_overlap:
            fwd = sum(_overlapped(c, gemm_s.get(g, 0.0), layout.tp)
                      for c, g in ((ag, "qkv"), (rs, "attn_out"), (ag, "mlp_in"), (rs, "mlp_out")))
            bwd = fwd  # backward: the conjugate collectives next to the dgrad GEMMs of the same shapes
        else:
            fwd = 2 * (ag + rs)
            if async_backward:
                # row-parallel outputs' gradients all-gathered (exposed); per column-parallel group the input
                # re-gathered beside the input-gradient GEMM and that gradient reduce-scattered beside the wgrad GEMM
                bwd = 2 * ag + sum(beside(ag, g) + beside(rs, g) for g in ("qkv", "mlp_in"))
            else:
                bwd = fwd
        embed, head_f, head_b = rs, cost("allgather", act_bytes), rs
    else:
        ar = cost("allreduce", act_bytes)
        bwd = sum(beside(ar, g) for g in ("qkv", "mlp_in")) if async_backward else 2 * ar
        fwd, embed, head_f, head_b = 2 * ar, ar, 0.0, ar
    head_f += 3 * cost("allreduce", mb_tokens * 4.0)  # vocab-parallel cross-entropy (fp32)
    if layout.recompute == "full":
        bwd += fwd
    elif layout.recompute == "op":  # per-op checkpointing keeps reduce-scatter outputs, re-runs the other collectives
        bwd += 2 * ag if layout.sequence_parallel else fwd
    p2p = 0.0
    if layout.pp > 1:
        src, dst = layout.rank(0, 0, 0), layout.rank(0, 0, 1)
        p2p = sysm.send_cost(act_bytes / layout.tp, src, dst).time_s
        if not layout.sequence_parallel:
            p2p += cost("allgather", act_bytes)
    return _Comm(fwd, bwd, embed, head_f, head_b, p2p)


def _with_cp_ring(sysm: System, layout: TrainLayout, block: PieceCost, comm: _Comm) -> _Comm:
    """Add context parallelism's exposed ring traffic to a block's communication: in forward each rank passes its
    microbatch's K/V chunk ``cp - 1`` times around the ring while the attention works on the chunks it has
    (Megatron-Core's ring attention), in backward the K/V chunks and their gradients; exposed is what the
    attention core's compute does not cover, ``max(0, ring - attention)`` (recomputed forwards add theirs)."""
    if layout.cp < 2:
        return comm
    ring = layout.cp_group()
    step = sysm.send_cost(block.kv_bytes, ring[0], ring[1]).time_s
    fwd = max(0.0, (layout.cp - 1) * step - block.core_attention_s)
    bwd = max(0.0, 2 * (layout.cp - 1) * step - block.core_attention_backward_s)
    if layout.recompute in ("full", "selective"):
        bwd += fwd
    return dataclasses.replace(comm, block_fwd=comm.block_fwd + fwd, block_bwd=comm.block_bwd + bwd)


def _overlapped(comm_s: float, gemm_s: float, chunks: int) -> float:
    """Exposed time (s) of a collective split into ``chunks`` pieces pipelined with a GEMM of ``gemm_s``: the
    longer of the two streams runs through, one chunk of the shorter one is not hidden (the pipeline's fill),
    ``max(c, g) + min(c, g) / chunks``, less the GEMM's own time (counted as compute)."""
    return max(comm_s, gemm_s) + min(comm_s, gemm_s) / chunks - gemm_s


def _peak_flops(spec: DeviceSpec, model: CostModel, dtype: str) -> float:
    peaks = model.roofs().peaks
    if dtype not in peaks:
        raise LayoutError("--amp", f"{spec.name} has no {dtype} peak; allowed: {', '.join(peaks)}")
    return float(peaks[dtype])


def simulate_training(graphs: dict[str, LayerGraph], layers: int, hidden: int, heads: int,
                      system: System | DeviceSpec | str, layout: TrainLayout, dtype: str = "bf16",
                      memory_check: bool = True, model_name: str = "") -> TrainResult:
    """Simulate one training step (module docstring) of a model of ``layers`` blocks whose per-rank pieces are
    ``graphs`` (:func:`workloads.llm_train.training_graphs` for this layout's ``tp``, microbatch and sequence
    length). Raises LayoutError / MemoryOverflow (one line, naming the flag) for layouts that cannot run."""
    sysm = resolve_system(system)
    layout.check(layers, heads)
    if layout.devices > sysm.n_devices:
        hint = "" if sysm.n_devices > 1 else " (a device arch: give a system arch such as dgx_h100, eos or selene)"
        raise LayoutError("--devices", f"{layout.devices} GPUs (tp x pp x dp x cp) exceed the {sysm.n_devices} of "
                                       f"{sysm.name}; allowed: 1..{sysm.n_devices}{hint}")
    if dtype not in STATE_BYTES:
        raise LayoutError("--amp", f"training dtype {dtype!r} not supported; allowed: {', '.join(STATE_BYTES)}")
    inst = sysm.devices[0]
    model = inst.model
    fp8 = dtype == "fp8"
    if fp8 and "fp8" not in model.roofs().peaks:
        raise LayoutError("--dtype", f"{inst.spec.name} has no fp8 tensor cores; allowed: fp16, bf16, fp32")
    if layout.fp8_param_gather and not fp8:
        raise LayoutError("--fp8-param-gather", f"needs --dtype fp8 (fp8 weights), got {dtype}")
    eb = dtype_bytes("bf16" if fp8 else dtype)  # FP8 training keeps bf16 activations
    act = layout.microbatch_size * layout.local_seq_len * hidden * eb
    pace = slowest_factor(layout.devices, getattr(inst.spec, "unit_variation", None))
    pieces = _at_pace(price_pieces(graphs, model, layout, hidden, eb, fp8, "bf16" if fp8 else dtype), pace)
    comm = (_tp_comm(sysm, layout, act, pieces.block.gemm_s, overlap_share(sysm, inst.spec, 1.0), fp8)
            if layout.tp > 1 or layout.pp > 1 else _Comm(0, 0, 0, 0, 0, 0))
    comm = _with_cp_ring(sysm, layout, pieces.block, comm)
    chunks = layout.virtual_stages(layers)
    chunk_layers = layout.chunk_layers(layers)
    last = layout.pp * chunks - 1
    b = pieces.block
    fsdp = _fsdp_layer_comm(sysm, layout, b.param_count, eb, dtype) if layout.shards_per_block else (0.0, 0.0)
    fwd_window = b.forward_s + comm.block_fwd
    bwd_window = b.backward_s + b.recompute_s + comm.block_bwd
    shares = (overlap_share(sysm, inst.spec, b.forward_gemm_s / fwd_window if fwd_window > 0 else 0.0),
              overlap_share(sysm, inst.spec, (b.backward_gemm_s + b.recompute_gemm_s) / bwd_window
                            if bwd_window > 0 else 0.0))

    def fwd(r: int, c: int) -> float:
        k = c * layout.pp + r
        t = chunk_layers[k] * overlapped(fwd_window, fsdp[0], shares[0])
        if k == 0:
            t += pieces.embed.forward_s + comm.embed_fwd
        if k == last:
            t += pieces.head.forward_s + comm.head_fwd
        return t

    def bwd(r: int, c: int) -> float:
        k = c * layout.pp + r
        t = chunk_layers[k] * overlapped(bwd_window, fsdp[1], shares[1])
        if k == 0:
            t += pieces.embed.backward_s
        if k == last:
            t += pieces.head.backward_s + comm.head_bwd
        return t

    if layout.pipeline_schedule == "deepspeed":
        run = run_deepspeed_pipeline(layout.pp, layout.microbatches, fwd, bwd, comm.p2p)
    else:
        run = run_pipeline(layout.pp, layout.microbatches, chunks, fwd, bwd, comm.p2p, layout.blocking_p2p)
    res = _summarise(sysm, layout, pieces, comm, run, layers, chunks, chunk_layers, dtype, memory_check,
                     model_name, fsdp, (fwd_window, bwd_window), shares)
    return dataclasses.replace(res, slowest_device_factor=pace)


def _at_pace(pieces: Pieces, factor: float) -> Pieces:
    """``pieces`` with every kernel time times ``factor``: the job's slowest GPU sets the pace of each step
    (:func:`accel.sim.stragglers.slowest_factor`); FLOPs and bytes unchanged."""
    if factor == 1.0:
        return pieces

    def scaled(p: PieceCost) -> PieceCost:
        return dataclasses.replace(p, forward_s=p.forward_s * factor, backward_s=p.backward_s * factor,
                                   recompute_s=p.recompute_s * factor,
                                   gemm_s={k: v * factor for k, v in p.gemm_s.items()},
                                   core_attention_s=p.core_attention_s * factor,
                                   core_attention_backward_s=p.core_attention_backward_s * factor,
                                   forward_gemm_s=p.forward_gemm_s * factor, backward_gemm_s=p.backward_gemm_s * factor,
                                   recompute_gemm_s=p.recompute_gemm_s * factor,
                                   forward_attention_s=p.forward_attention_s * factor,
                                   backward_attention_s=p.backward_attention_s * factor,
                                   recompute_attention_s=p.recompute_attention_s * factor)

    return dataclasses.replace(pieces, block=scaled(pieces.block), embed=scaled(pieces.embed), head=scaled(pieces.head))


def _fsdp_layer_comm(sysm: System, layout: TrainLayout, block_params: float, eb: float,
                     dtype: str) -> tuple[float, float]:
    """FSDP per block and microbatch (s): (forward all-gather of its weights in the compute dtype, ``eb`` bytes
    each; backward: reduce-scatter of the gradients in the gradient buffer's dtype, after a second all-gather of
    the weights under ZeRO-3 / FULL_SHARD -- ZeRO-2 / SHARD_GRAD_OP keeps them from the forward)."""
    group = layout.dp_group()
    if len(group) < 2:
        return 0.0, 0.0
    w = block_params * eb
    ag = sysm.collective_cost("allgather", w, group).time_s
    rs = sysm.collective_cost("reduce_scatter", block_params * state_bytes(dtype, layout.optimizer_dtype)[1],
                              group).time_s
    return ag, (ag if layout.zero == 3 else 0.0) + rs


def _rank_params(pieces: Pieces, layout: TrainLayout, r: int, chunks: int, chunk_layers: list[int],
                 frozen: bool = False) -> float:
    """Parameters rank ``r`` of the first pipeline / data-parallel slice trains (``frozen``: holds frozen, LoRA's
    base weights): its blocks, the embedding on the first virtual stage's rank, the head on the last's; a tied head
    weight counted once where both are on it."""
    last = layout.pp * chunks - 1
    ks = [c * layout.pp + r for c in range(chunks)]

    def n(p: PieceCost) -> float:
        return p.frozen_params if frozen else p.param_count

    return (sum(chunk_layers[k] for k in ks) * n(pieces.block)
            + (n(pieces.embed) if 0 in ks else 0.0)
            + (n(pieces.head) if last in ks else 0.0)
            - (pieces.tied_params if 0 in ks and last in ks and not frozen else 0.0))


def _summarise(sysm: System, layout: TrainLayout, pieces: Pieces, comm: _Comm, run: PipelineRun, layers: int,
               chunks: int, chunk_layers: list[int], dtype: str, memory_check: bool, model_name: str,
               fsdp: tuple[float, float], windows: tuple[float, float],
               shares: tuple[float, float]) -> TrainResult:
    """The step's result from the pipeline run; ``windows``: a block's forward and its backward (with recomputation)
    per microbatch, TP collectives included (s), which FSDP's collectives overlap; ``shares``: their
    :func:`overlap_share` on the job's GPUs."""
    inst = sysm.devices[0]
    model, spec = inst.model, inst.spec
    m = layout.microbatches
    b = pieces.block
    group = layout.dp_group()
    per_rank: list[dict[str, float]] = []
    worst: MemoryTerms | None = None
    for r in range(layout.pp):
        params = _rank_params(pieces, layout, r, chunks, chunk_layers)
        ks = [c * layout.pp + r for c in range(chunks)]
        n_blocks = sum(chunk_layers[k] for k in ks)
        first_start = min((span[3] for span in run.spans[r]), default=0.0)
        dp_s = _dp_exposed(sysm, layout, params, dtype, group, run.last_backward_s[r], run.first_forward_s[r], shares,
                           n_blocks * b.param_count, _param_segments(pieces, layout, ks, n_blocks, windows), r == 0,
                           run.step_s - run.end_s[r], first_start)
        dp_s += _tied_grad_allreduce_s(sysm, layout, pieces, dtype, r)
        local = params / len(group) if layout.zero >= 1 else params
        opt_s = sum(model.cost(op).time_s
                    for op in optimizer_step_ops(layout.optimizer_step, local, params, layout.optimizer_dtype, dtype))
        fp8_weights = n_blocks * (b.param_count + b.frozen_params) if dtype == "fp8" else 0.0
        compute = m * n_blocks * (b.forward_s + b.backward_s)
        compute += m * ((pieces.embed.forward_s + pieces.embed.backward_s) if 0 in ks else 0.0)
        compute += m * ((pieces.head.forward_s + pieces.head.backward_s) if layout.pp * chunks - 1 in ks else 0.0)
        recompute = m * n_blocks * b.recompute_s
        ends = [p for p, k in ((pieces.embed, 0), (pieces.head, layout.pp * chunks - 1)) if k in ks]
        gemm = m * (n_blocks * (b.forward_gemm_s + b.backward_gemm_s + b.recompute_gemm_s)
                    + sum(p.forward_gemm_s + p.backward_gemm_s for p in ends))
        attention = m * n_blocks * (b.forward_attention_s + b.backward_attention_s + b.recompute_attention_s)
        fw, bw = windows
        fsdp_s = m * n_blocks * (overlapped(fw, fsdp[0], shares[0]) - fw + overlapped(bw, fsdp[1], shares[1]) - bw)
        tp = run.busy_s[r] - compute - recompute - fsdp_s
        tp = 0.0 if abs(tp) <= 1e-12 * run.busy_s[r] else tp  # float round-off of a rank without TP collectives
        # the fp8 weight copies: refreshed once a step and kept; under ZeRO-3 the weights are gathered for each use
        # and freed after, so they are cast after each microbatch's gather and kept by no one
        sharded = layout.zero >= 3 and layout.dp * layout.cp > 1
        cast_s = (m if sharded else 1) * sum(model.cost(op).time_s for op in fp8_weight_casts(fp8_weights))
        compute += cast_s
        per_rank.append({"rank": r, "compute": compute, "recompute": recompute, "gemm": gemm, "attention": attention,
                         "tp_comm": tp, "pp_comm": run.p2p_blocked_s[r],
                         "pipeline_bubble": run.bubble_s(r), "dp_comm": dp_s + fsdp_s, "optimizer": opt_s,
                         "step": run.step_s + dp_s + opt_s + cast_s, "params": params, "layers": float(n_blocks)})
        # each in-flight (microbatch, chunk) holds one chunk's blocks: at most the rank's largest chunk (its chunks
        # are equal but where the embedding's or the loss's slot takes a block from the first or the last)
        terms = _memory(pieces, layout, params, dtype, run.peak_inflight[r] * max(chunk_layers[k] for k in ks), r, ks,
                        chunks, _rank_params(pieces, layout, r, chunks, chunk_layers, frozen=True),
                        0.0 if sharded else fp8_weights)
        if worst is None or terms.total > worst.total:
            worst = terms
    assert worst is not None
    if memory_check and spec.memory_capacity is not None:
        check_fits(worst, float(spec.memory_capacity), spec.name)
    crit = max(per_rank, key=lambda d: d["step"])
    step = crit["step"]
    seqs = layout.global_batch
    n_mb = seqs / layout.microbatch_size
    per_mb = (layers * b.model_flops + pieces.embed.model_flops + pieces.head.model_flops) * layout.tp * layout.cp
    model_flops = n_mb * per_mb
    hw_flops = model_flops + n_mb * layers * b.recompute_flops * layout.tp * layout.cp
    peak = _peak_flops(spec, model, dtype)
    n = layout.devices
    mt, ht = model_flops / n / step, hw_flops / n / step
    return TrainResult(
        model=model_name, system=sysm.name, device=spec.name, devices=n, layout=layout, dtype=dtype,
        step_time_s=step, tokens_per_s=seqs * layout.seq_len / step, model_flops=model_flops,
        hardware_flops=hw_flops, model_tflops_per_device=mt / 1e12, hardware_tflops_per_device=ht / 1e12,
        mfu=mt / peak, hfu=ht / peak, peak_flops=peak, memory=worst,
        breakdown={k: float(crit[k]) for k in BREAKDOWN_KEYS}, stages=per_rank, pipeline=run,
        compute_by_kernel={"gemm": crit["gemm"], "attention": crit["attention"],
                           "other": crit["compute"] + crit["recompute"] - crit["gemm"] - crit["attention"]},
        collectives={"tp_block_forward_s": comm.block_fwd, "tp_block_backward_s": comm.block_bwd,
                     "p2p_s": comm.p2p, "fsdp_forward_s": fsdp[0], "fsdp_backward_s": fsdp[1],
                     "overlap_share_forward": shares[0], "overlap_share_backward": shares[1]})


def _tied_grad_allreduce_s(sysm: System, layout: TrainLayout, pieces: Pieces, dtype: str, r: int) -> float:
    """Exposed all-reduce (s) of a tied embedding / LM head weight's gradient between the first and the last
    pipeline rank, which each hold a copy (pp > 1): Megatron-Core's ``finalize_model_grads`` runs it after the
    data-parallel gradient sync (``_allreduce_word_embedding_grads``, on the fp32 ``main_grad``), DeepSpeed's
    pipeline engine before it (``ReduceTiedGrads``, on the fp32 gradient its BF16 optimizer keeps); nothing
    overlaps it. 0 on the other ranks, with ``pp`` 1 or an untied head."""
    if layout.pp < 2 or pieces.tied_params <= 0 or r not in (0, layout.pp - 1):
        return 0.0
    gb = state_bytes(dtype, layout.optimizer_dtype)[1]
    ends = [layout.rank(0, 0, 0), layout.rank(0, 0, layout.pp - 1)]
    return sysm.collective_cost("allreduce", pieces.tied_params * gb, ends).time_s


def _param_segments(pieces: Pieces, layout: TrainLayout, ks: list[int], n_blocks: int,
                    windows: tuple[float, float]) -> list[ParamSegment]:
    """A rank's parameters in the order its backward produces their gradients (:mod:`accel.train.buckets`): the
    LM head's weight on the last virtual stage's rank, its blocks (``windows``: a block's forward and backward per
    microbatch), the embedding's weight on the first's (a tied weight there, whose gradient the embedding's
    backward completes)."""
    chunks = max(1, len(ks))
    head_on, embed_on = layout.pp * chunks - 1 in ks, 0 in ks
    tied = pieces.tied_params if head_on and embed_on else 0.0
    segs: list[ParamSegment] = []
    if head_on:
        segs.append(ParamSegment(pieces.head.param_count - tied, pieces.head.backward_s, pieces.head.forward_s, True))
    segs.append(ParamSegment(n_blocks * pieces.block.param_count, n_blocks * windows[1], n_blocks * windows[0]))
    if embed_on:
        segs.append(ParamSegment(pieces.embed.param_count, pieces.embed.backward_s, pieces.embed.forward_s, True))
    return segs


def _dp_exposed(sysm: System, layout: TrainLayout, params: float, dtype: str, group: list[int],
                last_backward: float, first_forward: float, shares: tuple[float, float] = (1.0, 1.0),
                block_params: float = 0.0, segments: list[ParamSegment] | None = None, first_stage: bool = True,
                slack: float = 0.0, lead: float = 0.0) -> float:
    """Exposed data-parallel communication of one rank (s) (module docstring): what the overlapped windows do not
    hide, including the compute they lose to the collectives' SMs (``shares``: the forward's and the backward's
    :func:`overlap_share`).

    Overlapped (``dp_overlap``), the reduction and the parameter gather run in gradient buckets
    (:mod:`accel.train.buckets`) over ``segments`` (the rank's parameters in backward order; default one run of
    ``params`` over the windows) scaled to the rank's last backward and first forward: ``dp_bucket_params`` each
    (default Megatron-Core's), one bucket on a pipeline rank after the first (``first_stage`` False) unless
    ``dp_buckets_every_stage``; the gather beside the forward only with ``dp_gather_overlap``, else bucket after
    bucket in the optimizer step. ``slack``: how long before the step's end the rank's last backward ends; ``lead``:
    when its first forward starts (s).

    When the collectives run per block (:attr:`TrainLayout.shards_per_block`; their cost is in the pipeline run),
    the ``params - block_params`` parameters outside the rank's blocks (embedding, final norm, LM head: FSDP's root
    unit) are all-gathered before each microbatch's forward, whose first op (the embedding) needs them, and their
    gradients reduce-scattered after its backward, whose last op (the embedding's) produces them: nothing overlaps
    either (FSDP keeps the root unit's gathered weights through the backward), so both are exposed every microbatch."""
    if layout.dp < 2:
        return 0.0
    wb, gb, _ = state_bytes(dtype, layout.optimizer_dtype)
    if layout.fp8_param_gather and params > 0:  # the blocks' linear weights gathered in fp8, the rest 16-bit
        wb = (min(block_params, params) * FP8_GATHER_BYTES + max(0.0, params - block_params) * wb) / params
    if layout.shards_per_block:
        outside = max(0.0, params - block_params)
        if outside <= 0.0:
            return 0.0
        return layout.microbatches * (sysm.collective_cost("allgather", outside * wb, group).time_s
                                      + sysm.collective_cost("reduce_scatter", outside * gb, group).time_s)
    # DeepSpeed's BF16_Optimizer (``fp32_copy``) shards its fp32 state like ZeRO-1 but all-reduces the full fp32
    # gradients (engine.allreduce_gradients: buffered_allreduce_fallback of get_grads_for_reduction)
    op = "allreduce" if layout.zero == 0 or layout.grad_accumulation == "fp32_copy" else "reduce_scatter"

    def reduce_s(p: float) -> float:
        return sysm.collective_cost(op, p * gb, group).time_s

    def gather_s(p: float) -> float:
        return sysm.collective_cost("allgather", p * wb, group).time_s if layout.zero >= 1 else 0.0

    if not layout.dp_overlap or layout.pipeline_schedule == "deepspeed":  # DeepSpeed: ReduceGrads after the schedule
        return reduce_s(params) + gather_s(params)
    segs = segments or [ParamSegment(params, last_backward, first_forward)]
    bwd, fwd = sum(x.backward_s for x in segs), sum(x.forward_s for x in segs)
    segs = [ParamSegment(x.params, x.backward_s * (last_backward / bwd if bwd > 0 else 0.0),
                         x.forward_s * (first_forward / fwd if fwd > 0 else 0.0), x.atomic) for x in segs]
    size = None if not first_stage and not layout.dp_buckets_every_stage else (
        layout.dp_bucket_params or megatron_bucket_params(len(group)))
    try:
        buckets = grad_buckets(segs, size)
    except ValueError as exc:
        raise LayoutError("--dp-bucket-params", str(exc)) from None
    exposed = reduce_exposed(buckets, last_backward, reduce_s, shares[1], slack)
    if layout.zero >= 1:
        exposed += (gather_exposed(buckets, gather_s, shares[0], lead) if layout.dp_gather_overlap
                    else sum(gather_s(b.params) for b in buckets))  # in the optimizer step, bucket after bucket
    return exposed


def compute_share(sysm: System, spec: DeviceSpec) -> float:
    """Fraction of a GPU's SMs left to compute kernels while a collective runs: ``(sm_count - collective_sms) /
    sm_count`` (the system YAML's ``collective_sms``; 1 when not modelled or the device has no SM count)."""
    sms = getattr(spec, "sm_count", None)
    k = sysm.collective_sms
    if not k or not sms:
        return 1.0
    return max(0.0, (int(sms) - k) / int(sms))


def overlap_share(sysm: System, spec: DeviceSpec, gemm_fraction: float) -> float:
    """Speed (fraction of its solo speed) of a window of kernels, ``gemm_fraction`` of whose time is GEMMs, while a
    collective holds ``k = collective_sms`` of the GPU's ``n = sm_count`` SMs (:func:`compute_share` ``s = (n - k) / n``).

    Kernels of many CTAs (elementwise, norms, attention) lose the held SMs: they run ``1 / s`` times as long.
    A GEMM on a GPU whose GEMM kernels are persistent (the device YAML's ``persistent_gemm``: one CTA per SM, the
    tiles split among them in advance) launches ``n`` CTAs (it has at least ``n`` tiles, as a training step's GEMMs
    do); the ``k`` that find no free SM run as a second wave after the first, so the GEMM takes
    ``ceil(n / (n - k))`` times as long: 2 for any ``0 < k < n / 2`` (a lower bound: a collective shorter than
    the GEMM exposes itself whole). NVIDIA developer forum, "Compute-Communication Overlap Causes Severe GEMM
    Performance Degradation because of Tail Effect" (2025): on an H100, a cuBLAS GEMM of exactly 132 CTAs next to
    a 24-CTA ``ncclAllGather`` nearly doubled its time (MFU 80 % -> 47 %), Nsight Systems showing the tail wave.
    Other GPUs' GEMMs run many waves and lose the held SMs like the rest.

    The window's speed is the harmonic mix ``1 / (g x waves + (1 - g) / s)``, ``g = gemm_fraction``; 1 when
    collectives hold no SMs."""
    share = compute_share(sysm, spec)
    if share >= 1.0:
        return 1.0
    if share <= 0.0:
        return 0.0
    sms = int(getattr(spec, "sm_count"))  # compute_share < 1 only for a device with an SM count
    gemm_slowdown = math.ceil(sms / (sms - sysm.collective_sms)) if getattr(spec, "persistent_gemm", False) else 1.0 / share
    g = min(max(gemm_fraction, 0.0), 1.0)
    return 1.0 / (g * gemm_slowdown + (1.0 - g) / share)


def overlapped(compute_s: float, comm_s: float, share: float = 1.0) -> float:
    """Time (s) of ``compute_s`` of kernels overlapped with a ``comm_s`` collective whose kernel holds ``1 - share``
    of the SMs: while both run, compute progresses at ``share`` of its rate. If the collective outlasts the compute
    (``share x comm >= compute``) the pair takes ``comm_s``; else ``compute_s + comm_s (1 - share)``. With
    ``share`` = 1 this is ``max(compute_s, comm_s)``. ``share``: :func:`overlap_share` (persistent GEMMs lose a
    whole wave, not just the held SMs)."""
    if comm_s <= 0.0:
        return compute_s
    if share >= 1.0:
        return max(compute_s, comm_s)
    if share * comm_s >= compute_s:
        return comm_s
    return compute_s + comm_s * (1.0 - share)


def _memory(pieces: Pieces, layout: TrainLayout, params: float, dtype: str, inflight_blocks: int, r: int,
            ks: list[int], chunks: int, frozen: float = 0.0, fp8_weights: float = 0.0) -> MemoryTerms:
    w, g, o = model_state(params, dtype, layout.zero, layout.dp * layout.cp, layout.optimizer_dtype)
    w += frozen * STATE_BYTES[dtype][0]  # frozen weights (LoRA): the model copy only, not sharded
    w += fp8_weights * FP8_WEIGHT_CACHE_BYTES  # FP8 training: the linear layers' fp8 copies, not sharded
    if layout.fp8_param_gather:  # their fp8 weight is the model copy: no 16-bit one beside it
        w -= fp8_weights * STATE_BYTES[dtype][0]
    acts = inflight_blocks * pieces.block.saved_bytes + pieces.block_full_saved
    working = pieces.block.working_bytes
    if 0 in ks:
        acts += pieces.embed.saved_bytes * min(layout.microbatches, layout.pp)
        working = max(working, pieces.embed.working_bytes)
    if layout.pp * chunks - 1 in ks:
        acts += pieces.head.saved_bytes
        working = max(working, pieces.head.working_bytes)
    # one piece runs at a time: the largest transient working set on the rank is the workspace
    if layout.zero == 3 and layout.dp > 1:  # FSDP gathers one block's full weights (and gradients) at a time
        acts += 2 * pieces.block.param_count * STATE_BYTES[dtype][0]
    return MemoryTerms(w, g, o, acts, working)
