"""GPU cost model: tiled GEMM with wave quantisation, L2/HBM traffic, power-capped clock.

Everything device-specific comes from :class:`accel.arch.gpu.GpuSpec` (datasheet numbers plus
a few calibrated efficiencies in ``calibration:``); nothing here is fitted per shape.

Model, per op kind:

* ``matmul``: for every candidate CTA tile (``tiles.tensor`` or ``tiles.fma``) and split-K factor,
  ``tiles = ceil(M/tm) * ceil(N/tn) * batch * split`` and ``waves = ceil(tiles / (SMs * ctas_per_sm))``;
  compute ``waves * (2*tm*tn*K/split) / per-SM rate + waves * tile_latency``; DRAM traffic from tile
  reuse (compulsory if A and B fit in L2, else re-read per wave); L2 traffic ``tiles * tile bytes``;
  the DRAM time uses ``min(hbm_bandwidth * hbm_efficiency, active SMs * sm_bandwidth)``. With
  ``stream_k`` a stream-K candidate spreads the last wave over all SMs. The fastest candidate wins
  (as cuBLAS heuristics pick); busy time = ``max(compute, dram, l2)``. Tensor-core dtypes whose rows
  are not ``alignment``-aligned run at ``unaligned_efficiency`` of the fp16 peak.
  A, B and the bias are found among the op's tensors by shape (:func:`gemm_operands`): for
  ``aten.addmm`` the extractor lists the bias before ``W^T``. Split-K slices are at least ``calibration.split_k_min_depth`` deep.
* ``conv`` / ``conv_transpose``: implicit GEMM (M = N*Hout*Wout, N = Cout/g, K = Cin/g*R*S per group,
  input tile reused by the R*S taps); depthwise / tiny groups run a direct kernel (FMA rate x
  ``direct_conv_efficiency`` per layout, or memory bound); unaligned input channels (RGB stems) use
  unaligned tensor kernels for fp16 and FMA kernels otherwise; fp32 stride-1 3x3/5x5 layers that cuDNN
  runs with Winograd/FFT get ``winograd_speedup``; tensor-core convs on NCHW tensors (``attrs
  ["channels_last"]`` false or absent) pay NCHW<->NHWC transposes, and NCHW 1x1 convs are per-image
  GEMMs over H*W pixels.
* ``attention`` (flash: QK^T and PV as batched GEMMs, Q/K/V/O once through DRAM; its backward five GEMMs,
  Q/K/V/O/dO read and dQ/dK/dV written once; the softmax's one exponential per score on the special-function
  units, after the GEMMs as FlashAttention-2 -- PyTorch's SDPA flash kernel -- issues them), ``rnn`` (per layer
  an input-projection GEMM, then per time step a dependent recurrent GEMM + pointwise kernel, times
  added; ``W_hh`` L2-resident if it fits, else re-read every step; roofline if its attrs are missing).
* streaming kinds (elementwise, norm, softmax, pool, ...): ``max(bytes / HBM, flops / FMA peak)``.
  A row normalisation (LayerNorm forward, or its input-gradient backward: one ``row_norm_cta_threads`` CTA per row)
  adds ``tile_latency`` per wave of resident CTAs (load + CTA reduction latency that the wave's lock-step CTAs cannot
  hide) and walks each row twice: the second walk from L2 when the resident rows fit there, else from HBM (once,
  with no second weight-gradient pass, for a ``persistent`` kernel that keeps the row in registers: ``NORM_KERNELS``).
* main-loop latency: a CTA walks K in steps of ``calibration.mainloop_k_bytes`` per operand row, each
  step waiting on its loads, so compute time >= ``ceil(K_slice / k_step) * mainloop_step_latency``
  (the critical path of one CTA; implicit-GEMM convolutions only: it binds for few deep-K tiles, as at
  batch 1; cuBLAS runs such GEMMs split-K). Convolutions
  on fp32 tensors split K only if ``calibration.conv_fp32_split_k``.
* every kernel adds ``kernel_latency``; library GEMM/conv calls add ``library_latency``.
* power cap: if ``static + dynamic power`` at boost clock exceeds ``tdp``, the SM clock drops to the
  fraction ``s`` where it meets the cap, with dynamic energy per FLOP ~ ``s**(k-1)``
  (``calibration.dvfs_power_exponent = k``); memory time does not scale with the SM clock.

Host issue time is NOT included in ``time_s``: GPUs are driven by an eager framework on the host
CPU (``eager_host_dispatch``), so the simulator adds the host's per-op dispatch time
(:mod:`accel.sim.host`; ``detail["kernels"]`` says how many kernels an op launches). ``energy_j`` is
dynamic energy; static power is ``static_power_w``.
"""

from __future__ import annotations

import dataclasses

import math
from typing import Callable, ClassVar
from dataclasses import dataclass

from accel.arch.gpu import GpuSpec, RelativeAttentionSpeed
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.roofs import Roofs, ghz
from accel.energy import op_energy
from accel.errors import ConfigError, UnknownOpError
from accel.graph import (MEASURED_ATTENTION_KERNELS, OP_KINDS, STREAMING_KINDS, AttentionShape, ConvShape, GemmShape,
                         OpNode, dtype_bytes)
#: op kinds this model prices (every canonical kind)
SUPPORTED_KINDS: tuple[str, ...] = OP_KINDS
_MEMORY_KINDS = STREAMING_KINDS
#: GEMM split-K partial sums are accumulated in fp32 (bytes per element)
_ACC_BYTES = 4.0


def rnn_shape(op: OpNode) -> dict[str, int] | None:
    """Shape of a fused RNN op from its attrs (``seq``/``seq_len``, ``batch``, ``input``/``input_size``,
    ``hidden``, ``layers``/``num_layers``, ``gates`` (LSTM 4, GRU 3), ``bidirectional``); None if incomplete."""
    a = op.attrs
    seq, inp = a.get("seq", a.get("seq_len")), a.get("input", a.get("input_size"))
    if seq is None or inp is None or "batch" not in a or "hidden" not in a:
        return None
    cell = str(a.get("cell", "LSTM")).upper()
    gates = int(a.get("gates", 4 if cell == "LSTM" else 3 if cell == "GRU" else 1))
    return {"seq": int(seq), "batch": int(a["batch"]), "input": int(inp), "hidden": int(a["hidden"]),
            "layers": int(a.get("layers", a.get("num_layers", 1))), "gates": gates,
            "dirs": 2 if a.get("bidirectional") else 1}


def gemm_operands(op: OpNode, M: int, N: int, K: int, batch: int) -> tuple[float, float, float]:
    """DRAM bytes of a matmul's operands: ``(A, B, extra)`` for ``(M x K) @ (K x N)`` x ``batch``.

    The operands are found among ``op.inputs + op.weights`` (in that order) by size, not by
    position: A has ``M*K*batch`` elements, B ``K*N*batch`` (or ``K*N``, broadcast over the batch).
    The extractor lists a call's tensor arguments in order, split into activations (``inputs``)
    and parameters (``weights``), so ``aten.addmm(bias, x, W^T)`` arrives as ``inputs=[x]``,
    ``weights=[bias, W^T]``: the bias is *not* the weight matrix. Every other tensor (the addmm
    bias or ``C`` matrix, fp8 scales) is ``extra``: read once by the epilogue. An operand that
    is not found (a graph without tensor shapes) is counted at its dense size ``elements x
    dtype bytes``.
    """
    pool = list(op.inputs) + list(op.weights)
    eb = dtype_bytes(op.dtype)

    def take(*sizes: int) -> float | None:
        for i, t in enumerate(pool):
            if t.numel in sizes:
                return float(pool.pop(i).bytes)
        return None

    a = take(M * K * batch)
    b = take(K * N * batch, K * N)
    a_bytes = a if a is not None else M * K * batch * eb
    b_bytes = b if b is not None else K * N * eb
    return a_bytes, b_bytes, float(sum(t.bytes for t in pool))


def _quantized_weights(op: OpNode, K: int, N: int) -> float:
    """Elements of a weight-only quantized GEMM's weight matrix (``K x N`` stored narrower than the op's
    dtype: int8/int4/fp8 weights with 16-bit activations), else 0."""
    eb = dtype_bytes(op.dtype)
    return float(sum(t.numel for t in op.weights if t.numel == K * N and dtype_bytes(t.dtype) < eb))


#: aten ops of the negative log-likelihood loss (``cross_entropy``'s second half, after ``log_softmax``), which
#: touch one element per target of their ``(N, C, ...)`` log-probability operand (:func:`streamed_bytes`)
NLL_LOSS_OPS: tuple[str, ...] = ("aten.nll_loss_forward.", "aten.nll_loss2d_forward.", "aten.nll_loss_backward.",
                                 "aten.nll_loss2d_backward.")


def _nll_loss_bytes(op: OpNode) -> int | None:
    """Bytes of an NLL loss kernel (B), else None. PyTorch's ``nll_loss_forward`` gathers the log-probability of
    each target, ``N`` elements of the ``N x C`` input, plus the targets (and the class weights, if any);
    ``nll_loss_backward`` writes its zero-filled ``N x C`` gradient and scatters ``N`` values into it
    (``aten/src/ATen/native/cuda/Loss.cu``: ``nll_loss_forward_reduce_cuda_kernel_2d`` /
    ``nll_loss_backward_reduce_cuda_kernel_2d``). Neither reads the ``N x C`` operand whole."""
    if op.kind != "loss" or not str(op.aten).startswith(NLL_LOSS_OPS) or len(op.inputs) < 2:
        return None
    backward = "_backward." in str(op.aten)
    log_probs = op.inputs[1] if backward else op.inputs[0]
    others = [t for t in op.inputs if t is not log_probs]
    targets = next((t for t in others if t.dtype.startswith(("int", "uint"))), max(others, key=lambda t: t.numel))
    gathered = targets.numel * dtype_bytes(log_probs.dtype)
    return int(sum(t.bytes for t in others) + gathered + op.output_bytes)


#: aten ops of advanced indexing (``x[idx]`` and ``x[idx] = v``), which touch only the indexed elements of ``x``
#: (:func:`_indexed_bytes`)
INDEX_GATHER_OPS: tuple[str, ...] = ("aten.index.Tensor",)
INDEX_SCATTER_OPS: tuple[str, ...] = ("aten.index_put_.", "aten._index_put_impl_.")


def _indexed_bytes(op: OpNode) -> int | None:
    """Bytes of an advanced-indexing kernel (B), else None. A gather ``x[i, j]`` (``aten.index``) reads its index
    tensors and as many elements of ``x`` as it writes; an in-place scatter ``x[i, j] = v`` (``aten.index_put_``:
    inputs ``x``, the index tensors, ``v``) reads the index tensors and ``v`` and writes the indexed elements: as many
    as ``v`` holds, or for a broadcast scalar ``v`` the index tensors' broadcast count (a boolean mask counts all its
    elements, the most it can select) times the elements of the trailing dimensions left unindexed (an upper bound
    where leading dimensions are sliced: the recorded op does not say which dimensions the indices address). Neither
    reads nor writes the rest of ``x``."""
    aten = str(op.aten)
    if aten.startswith(INDEX_GATHER_OPS) and op.inputs:
        return int(sum(t.bytes for t in op.inputs[1:]) + 2 * op.output_bytes)
    if not aten.startswith(INDEX_SCATTER_OPS) or len(op.inputs) < 3:
        return None
    target, indices, values = op.inputs[0], op.inputs[1:-1], op.inputs[-1]
    indexed_dims = sum(len(t.shape) if t.dtype == "bool" else 1 for t in indices)
    masks = math.prod(t.numel for t in indices if t.dtype == "bool")
    rows = max((t.numel for t in indices if t.dtype != "bool"), default=1)
    spread = masks * rows * math.prod(target.shape[indexed_dims:])
    written = min(values.numel if values.numel > 1 else spread, target.numel)
    return int(sum(t.bytes for t in indices) + values.bytes + written * dtype_bytes(target.dtype))


def gathered_bytes(op: OpNode) -> int | None:
    """Bytes of a kernel that touches only the indexed elements of one of its operands (B): an NLL loss
    (:func:`_nll_loss_bytes`) or advanced indexing (:func:`_indexed_bytes`); None for any other op."""
    for rule in (_nll_loss_bytes, _indexed_bytes):
        touched = rule(op)
        if touched is not None:
            return touched
    return None


def streamed_bytes(op: OpNode) -> int:
    """Bytes a streaming op moves: every input, weight and output once, except an embedding lookup,
    which reads only the gathered rows (as many bytes as it writes) and its indices, not the table, and the
    gathers and scatters of :func:`gathered_bytes` (NLL loss, advanced indexing)."""
    if op.kind == "embedding":
        return op.input_bytes + 2 * op.output_bytes
    touched = gathered_bytes(op)
    return op.total_bytes if touched is None else touched




#: ``op.attrs`` key naming a row normalisation's kernel family (:data:`NORM_KERNELS`; absent: ``two_pass``)
NORM_KERNEL_ATTR = "norm_kernel"
#: row normalisation kernel families. ``two_pass``: PyTorch's LayerNorm, and apex's non-persistent fused LayerNorm
#: (``fused_layer_norm_cuda``), walk each row twice in forward and backward and compute the weight gradients in a
#: second kernel (:func:`norm_reread_bytes`, :func:`norm_second_pass_bytes`). ``persistent``: apex's
#: ``FastLayerNorm`` (``apex.contrib.layer_norm``, Megatron-LM's ``persist_layer_norm``) and Transformer Engine's
#: tuned LayerNorm keep the row in registers: the forward loads it once, computes the statistics and normalises from
#: registers (TE ``ln_fwd_tuned_kernel``: ``x[it].load_from`` once, ``stats.compute(xf)``, then ``y = rs * (xf -
#: mu)``); the backward loads X and dY once, writes dX and per-CTA partial weight gradients, which a small finalize
#: kernel sums (NVIDIA/TransformerEngine ``transformer_engine/common/normalization/layernorm`` @d0067d0)
NORM_KERNELS: tuple[str, ...] = ("two_pass", "persistent")


def persistent_norm(op: OpNode) -> bool:
    """Whether ``op`` is a normalisation run by a kernel that keeps its rows in registers (:data:`NORM_KERNELS`)."""
    return op.kind == "norm" and op.attrs.get(NORM_KERNEL_ATTR) == "persistent"


def norm_rows(op: OpNode) -> int:
    """Rows of a row-wise normalisation kernel (LayerNorm / RMSNorm), forward or backward, else 0.

    Recognised by its per-row statistics: a forward ``norm`` op whose second output, or a backward ``norm`` op one
    of whose inputs, has the main output's leading dims and size 1 in the normalised trailing dims (LayerNorm's
    mean/rstd ``(B, T, 1)``). BatchNorm's per-channel ``(C,)`` statistics do not match (its inference kernel is
    elementwise with the running statistics)."""
    if op.kind != "norm" or not op.outputs:
        return 0
    if op.phase == "forward":
        stats = [op.outputs[1].shape] if len(op.outputs) >= 2 else []
    elif op.phase == "backward":
        stats = [t.shape for t in op.inputs]
    else:
        return 0
    return next((rows for shape in stats if (rows := _stat_rows(op.outputs[0].shape, shape))), 0)


def _stat_rows(main: tuple[int, ...], stats: tuple[int, ...]) -> int:
    """Rows of ``main`` when ``stats`` is its per-row statistics shape (leading dims kept, trailing dims 1), else 0."""
    if not main or len(stats) != len(main) or stats[-1] != 1:
        return 0
    k = len(main)
    while k > 0 and stats[k - 1] == 1 and main[k - 1] != 1:
        k -= 1
    if k == len(main) or tuple(stats[:k]) != tuple(main[:k]) or any(d != 1 for d in stats[k:]):
        return 0
    return int(math.prod(stats))


def norm_reread_bytes(op: OpNode) -> float:
    """Bytes a row normalisation (:func:`norm_rows`) reads twice within its one-CTA-per-row kernel (B), else 0.

    PyTorch's LayerNorm kernels (``aten/src/ATen/native/cuda/layer_norm_kernel.cu``) walk each row twice: the
    forward (``vectorized_layer_norm_kernel_impl``) computes the row's statistics (``compute_stats``), then loads
    the row again from global memory to normalise and store it; the backward's input-gradient kernel
    (``layer_norm_grad_input_kernel_vectorized``) sums over the row of the output gradient and the input, then
    loads both again to write the input gradient. The twice-read tensors are the inputs shaped like the main
    output (the forward's input; the backward's output gradient and input)."""
    return _twice_read_bytes(op) if norm_rows(op) and not persistent_norm(op) else 0.0


def _twice_read_bytes(op: OpNode) -> float:
    """Bytes of ``op``'s inputs shaped like its main output (what a row normalisation walks twice)."""
    main = op.outputs[0].shape
    return float(sum(t.bytes for t in op.inputs if t.shape == main))


#: head dimensions each fused-attention kernel family is compiled for; a head dimension in between runs the next
#: larger kernel, its tiles padded: FlashAttention-2's ``HEADDIM_SWITCH`` (Dao-AILab/flash-attention
#: ``csrc/flash_attn/src/static_switch.h``: 32, 64, 96, 128, 160, 192, 224, 256); FlashAttention in Triton, which
#: computes on ``BLOCK_HEADDIM = max(triton.next_power_of_2(d), 16)`` columns and takes ``d <= 128``
#: (llm-foundry ``llmfoundry/models/layers/flash_attn_triton.py`` @0227d9f7b9c792e275e018bfac3a21dea4739323, from
#: HazyResearch's). cuDNN's fused attention (``flash``) takes any multiple of 8 and is not listed
ATTENTION_KERNEL_HEAD_DIMS: dict[str, tuple[int, ...]] = {
    "flash2": (32, 64, 96, 128, 160, 192, 224, 256),
    "flash_triton": (16, 32, 64, 128),
}


def kernel_head_dim(kernel: str, d: int) -> int:
    """Head dimension the ``kernel`` family computes for a head of ``d`` (:data:`ATTENTION_KERNEL_HEAD_DIMS`):
    the smallest compiled one that holds it; ``d`` itself for a family that takes any, or beyond its largest."""
    return min((k for k in ATTENTION_KERNEL_HEAD_DIMS.get(kernel, ()) if k >= d), default=d)


#: aten ops of PyTorch's softmax / log-softmax forward, which run ``host_softmax`` over the last dimension
#: (``aten/src/ATen/native/cuda/SoftMax.cu``)
SOFTMAX_FORWARD_ATEN: tuple[str, ...] = ("aten._softmax.", "aten._log_softmax.")
#: shared memory a CUDA block gets without opting in (B): the bound of PyTorch's row-caching softmax kernel
#: (``cunn_SoftMaxForwardSmem`` is used when ``dim_size * sizeof(scalar_t)`` plus its reduction buffer fits in
#: ``sharedMemPerBlock``, 48 KiB on every CUDA GPU)
SOFTMAX_SMEM_PER_BLOCK = 48 * 1024


def softmax_block_rows(op: OpNode) -> tuple[int, int]:
    """(rows, CTA threads) of a PyTorch softmax / log-softmax forward (:data:`SOFTMAX_FORWARD_ATEN`) that runs the
    basic block kernel ``cunn_SoftMaxForward``, which walks each row three times from global memory (its maximum,
    the sum of exponentials, then the output), else (0, 0).

    ``host_softmax`` over the last dimension of ``N`` elements of ``b`` bytes (``ILP = 16 / b``) picks, in order:
    the warp kernel when ``N <= 1024`` and ``N b <= 4096``; the register-caching kernel when a thread holds fewer
    than 10 vectors of the row (``ceil(N / (block x ILP)) < 10``, ``block`` = ``SoftMax_getBlockSize``: ``N / ILP``
    rounded up to a warp multiple, at most 1024 threads); the shared-memory kernel when the row and the block's
    reduction buffer (one fp32 per warp) fit in :data:`SOFTMAX_SMEM_PER_BLOCK`; else the basic kernel. Only the
    last reads its row more than once. The softmax is taken over the last dimension (``cross_entropy``'s
    ``log_softmax`` over ``(N, C)`` logits, attention scores)."""
    if not op.aten.startswith(SOFTMAX_FORWARD_ATEN) or not op.inputs or not op.inputs[0].shape:
        return 0, 0
    x = op.inputs[0]
    n = int(x.shape[-1])
    eb = max(1, int(round(x.bytes / max(x.numel, 1))))
    if n <= 1024 and n * eb <= 4096:
        return 0, 0
    ilp = max(1, 16 // eb)
    block = min(32 * math.ceil(max(n // ilp, 1) / 32), 1024)
    if math.ceil(n / (block * ilp)) < 10 or n * eb + block // 32 * 4 < SOFTMAX_SMEM_PER_BLOCK:
        return 0, 0
    return int(x.numel // n), block


#: aten op of BatchNorm's training-mode forward (batch statistics), as traced (``_no_training`` is inference)
BATCH_NORM_TRAINING = "aten._native_batch_norm_legit."


def norm_second_pass_bytes(op: OpNode) -> float:
    """Bytes a normalisation kernel pair reads a second time (B), else 0.

    * A backward that also returns weight gradients: PyTorch computes the input gradient in one kernel and the
      per-feature weight and bias gradients in another, a column reduction that reads the output gradient and the
      input again: LayerNorm (``aten/src/ATen/native/cuda/layer_norm_kernel.cu``: ``layer_norm_grad_input_kernel``,
      then ``GammaBetaBackwardCUDAKernel``), BatchNorm (``batch_norm_backward``: the per-channel reductions of
      ``dY`` and ``dY (X - mean)``, then the elementwise input gradient); apex's and Transformer Engine's fused
      norms likewise. Recognised by a 1-D output beside the input gradient; the re-read tensors are the inputs
      shaped like it.
    * BatchNorm's training forward (:data:`BATCH_NORM_TRAINING`): the per-channel batch statistics are one pass
      over the input (``batch_norm_stats``), normalising it another (``batch_norm_elemt``); the input is read twice.
      A row normalisation's second walk over its row inside one kernel is :func:`norm_reread_bytes`. A
      ``persistent`` normalisation kernel (:data:`NORM_KERNELS`) reads nothing twice."""
    if op.kind != "norm" or len(op.outputs) < 2 or persistent_norm(op):
        return 0.0
    main = op.outputs[0].shape
    if len(main) < 2 or not any(len(o.shape) == 1 for o in op.outputs[1:]):
        return 0.0
    reread = float(sum(t.bytes for t in op.inputs if t.shape == main))
    if op.phase == "backward":
        return reread
    return reread if op.phase == "forward" and str(op.aten).startswith(BATCH_NORM_TRAINING) else 0.0


@dataclass
class GemmPlan:
    """The chosen execution of one GEMM (all times at boost clock, s; bytes in B)."""

    tile_m: int
    tile_n: int
    split_k: int           # 0 = stream-K
    tiles: int
    waves: int
    compute_s: float       # scales with 1/clock
    fixed_s: float         # per-wave tile latency (does not scale)
    dram_s: float
    l2_s: float
    dram_bytes: float
    l2_bytes: float
    flops_executed: float  # FLOPs executed (K padding and split-K included, predicated-off tile edges not)

    @property
    def time_s(self) -> float:
        return max(self.compute_s + self.fixed_s, self.dram_s, self.l2_s)


#: split-K bound for grad-weight GEMMs: effectively none (the plan's own split_k_min_depth / GPU-full rules stop it)
_WGRAD_MAX_SPLIT = 1 << 16


@register_cost_model("gpu")
class GpuCostModel(CostModel):
    """Analytical GPU cost model (see module docstring). ``spec`` is a :class:`GpuSpec`."""

    eager_host_dispatch = True
    #: op kind -> cost method, filled in below the class
    _BY_KIND: ClassVar[dict[str, Callable[["GpuCostModel", OpNode], OpCost]]] = {}

    spec: GpuSpec

    def __init__(self, spec: GpuSpec):
        if not isinstance(spec, GpuSpec):
            raise TypeError(f"GpuCostModel needs a GpuSpec, got {type(spec).__name__}")
        super().__init__(spec)
        self._file = spec.origin or spec.name

    # ------------------------------------------------------------------ public
    def cost(self, op: OpNode) -> OpCost:
        """Cost of one execution of ``op`` (time excludes host launch overhead)."""
        method = self._BY_KIND.get(op.kind)
        if method is None:
            raise UnknownOpError(op.kind, self.spec.name, SUPPORTED_KINDS)
        return method(self, op)

    def _conv_any(self, op: OpNode) -> OpCost:
        """Forward (or transposed) convolution, or ``aten.convolution_backward`` (attrs ``output_mask``)."""
        return self._conv_backward(op) if "output_mask" in op.attrs else self._conv(op)

    @property
    def graph_launch_overhead_s(self) -> float | None:
        """Per-kernel launch cost inside a CUDA graph replay (s): the YAML's ``graph_launch_overhead``."""
        return float(self.spec.graph_launch_overhead)

    def roofs(self) -> Roofs:
        """``peak[d]`` as cited (datasheet, at ``peak_clock[d]``); HBM and L2 bandwidth. Model ceiling =
        ``peak_at(d)`` (rescaled to the boost ``clock``) x ``calibration.tensor_efficiency`` (tensor-core
        dtypes) or ``fma_efficiency``."""
        spec = self.spec
        roofs = Roofs(spec.name, {d: float(v) for d, v in spec.peak.items()},
                      {"HBM": spec.memory.hbm_bandwidth, "L2": spec.memory.l2_bandwidth},
                      peak_notes={d: "datasheet" + (f" at {ghz(spec.peak_clock[d])}" if d in spec.peak_clock else "")
                                  for d in spec.peak})
        cal = spec.calibration
        for d in spec.peak:
            parts = []
            quoted = spec.peak_clock.get(d, spec.clock)
            if abs(quoted - spec.clock) > 1e-9 * spec.clock:
                parts.append(f"at {ghz(spec.clock)} boost")
            tensor = d in spec.tensor_core_dtypes
            eff = cal.tensor_efficiency if tensor else cal.fma_efficiency
            if eff < 1.0:
                parts.append(f"{'tensor' if tensor else 'fma'}_efficiency {eff:g}")
            roofs.add_model_ceiling(d, spec.peak_at(d) * eff, parts)
        return roofs

    # ------------------------------------------------------------------ helpers
    def _peak_key(self, dtype: str) -> str:
        """``peak`` entry whose units run ``dtype``: itself; ``fp8`` for ``fp8_e4m3``/``fp8_e5m2``;
        ``fp32`` for ``tf32`` on GPUs without TF32 tensor cores (TF32 is a math mode PyTorch only
        uses where the hardware has it: pre-Ampere GPUs run those GEMMs in fp32 on FMA units)."""
        if dtype in self.spec.peak:
            return dtype
        if dtype.startswith("fp8") and "fp8" in self.spec.peak:
            return "fp8"
        if dtype == "tf32":
            return "fp32"
        raise ConfigError(self._file, f"peak.{dtype}",
                          f"no peak throughput for dtype {dtype!r} on {self.spec.name}; defined: "
                          f"{', '.join(self.spec.peak)} (fp8_e4m3/fp8_e5m2 use peak.fp8)")

    def _is_tensor(self, key: str) -> bool:
        return key in self.spec.tensor_core_dtypes

    def _rate_per_cycle(self, key: str, aligned: bool = True, derate: float = 1.0) -> float:
        """Achievable FLOP per SM-clock cycle (whole GPU) of the GEMM main loop."""
        cal = self.spec.calibration
        if self._is_tensor(key):
            rate = self.spec.peak_per_cycle(key) * cal.tensor_efficiency
            if not aligned:
                ref = "fp16" if "fp16" in self.spec.peak else key
                rate = min(rate, self.spec.peak_per_cycle(ref) * cal.unaligned_efficiency)
        else:
            # GEMM libraries run 16-bit GEMMs on GPUs without fast half math with fp32 arithmetic
            # (cublasGemmEx compute type 32F), so never below the fp32 FMA rate
            per_cycle = self.spec.peak_per_cycle(key)
            if dtype_bytes(key) < 4:
                per_cycle = max(per_cycle, self.spec.peak_per_cycle("fp32"))
            rate = per_cycle * cal.fma_efficiency
        return rate * derate

    def _aligned(self, dims: tuple[int, ...], elem_bytes: float) -> bool:
        align = self.spec.calibration.alignment
        return all((d * elem_bytes) % align == 0 for d in dims)

    def _gemm_plan(self, M: int, N: int, K: int, batch: int, key: str, elem_bytes: float, out_bytes: float,
                   a_total: float, b_total: float, c_total: float, aligned: bool = True,
                   derate: float = 1.0, a_reuse: float = 1.0, tile_class: str | None = None,
                   max_split: int | None = None, step_latency_bound: bool = False) -> GemmPlan:
        """Pick the fastest (tile, split-K) for a ``batch`` x (M x K)(K x N) GEMM at boost clock.

        ``a_reuse``: how many K-columns of A share one loaded element (R*S for implicit-GEMM convolution,
        whose input tile is loaded once with its halo and reused by every filter tap).
        ``max_split``: largest split-K factor (default ``spec.max_split_k``); the loop also stops once
        a split's K is under ``calibration.split_k_min_depth`` or the tiles fill the GPU twice.
        ``step_latency_bound``: the kernel takes at least one CTA's main loop, ``ceil(K_slice / k_step) *
        calibration.mainloop_step_latency`` (implicit-GEMM convolutions: cuBLAS GEMMs with few tiles run
        split-K / GEMV kernels instead, and gemm.csv shows no such floor).
        """
        spec, cal, mem = self.spec, self.spec.calibration, self.spec.memory
        unit = tile_class or ("tensor" if self._is_tensor(key) else "fma")
        tiles_cls = spec.tiles[unit]
        k_step = max(1.0, getattr(cal.mainloop_k_bytes, unit) / elem_bytes)  # K elements per main-loop step
        rate_cycle = self._rate_per_cycle(key, aligned, derate)
        sm_rate = rate_cycle / spec.sm_count * spec.clock  # FLOP/s per SM at boost
        slots = spec.sm_count * spec.ctas_per_sm
        hbm = mem.hbm_bandwidth * cal.hbm_efficiency
        l2bw = mem.l2_bandwidth * cal.l2_efficiency
        fits_l2 = (a_total + b_total) <= mem.l2_size
        best: GemmPlan | None = None
        for tm, tn in tiles_cls:
            mt, nt = math.ceil(M / tm), math.ceil(N / tn)
            splits = [1 << i for i in range(int(math.log2(max_split or spec.max_split_k)) + 1)]
            if max_split is not None:
                # also the split that just fills the GPU (not only powers of two)
                fill = slots // max(mt * nt * batch, 1)
                if 1 < fill <= max_split and fill not in splits:
                    splits = sorted(splits + [fill])
            last = 1
            for split in splits:
                ks = math.ceil(K / split)
                if split > 1:
                    # a K-slice is at least split_k_min_depth deep: split s of a shorter K runs
                    # ceil(K/depth) slices (so a K just below a multiple of depth*s is never slower than one above it)
                    ks = max(ks, cal.split_k_min_depth)
                    split = math.ceil(K / ks)
                    if split <= last or mt * nt * batch * (split // 2) >= slots:
                        break
                    last = split
                tiles = mt * nt * batch * split
                waves = math.ceil(tiles / slots)
                tile_flops = 2.0 * tm * tn * ks
                # FLOPs that draw energy: padding rows/columns of a tile larger than the matrix are
                # predicated off (they cost time in the tile schedule, not energy)
                exec_flops = tiles * 2.0 * min(tm, M) * min(tn, N) * ks
                # critical path: the kernel cannot end before one CTA has walked its K slice, one main-loop
                # step (its loads' latency) after another; binds when few deep-K tiles run (batch 1)
                step_floor = math.ceil(ks / k_step) * cal.mainloop_step_latency if step_latency_bound else 0.0
                compute = max(waves * tile_flops * spec.ctas_per_sm / sm_rate, step_floor)
                fixed = waves * cal.tile_latency
                # operand bytes one CTA streams (padding rows are not loaded)
                tile_bytes = (min(tm, M) / a_reuse + min(tn, N)) * ks * elem_bytes
                l2_bytes = tiles * tile_bytes + c_total
                if fits_l2:
                    dram = a_total + b_total + c_total
                else:
                    rows = min(mt, max(1, round(math.sqrt(slots))))
                    cols = min(nt, math.ceil(slots / rows))
                    per_wave = (rows * min(tm, M) / a_reuse + cols * min(tn, N)) * K * elem_bytes
                    full_waves = math.ceil(mt * nt * batch / (rows * cols))
                    dram = max(a_total + b_total, min(full_waves * per_wave, tiles * tile_bytes)) + c_total
                if split > 1:  # fp32 partials written and re-read for the reduction
                    ws = (split - 1) * M * N * batch * _ACC_BYTES * 2
                    l2_bytes += ws
                    dram += ws if ws > mem.l2_size else 0.0
                # few active CTAs cannot saturate HBM: each SM pulls at most sm_bandwidth
                active = min(tiles, slots)
                dram_s = dram / min(hbm, active / spec.ctas_per_sm * cal.sm_bandwidth)
                plan = GemmPlan(tm, tn, split, tiles, waves, compute, fixed, dram_s, l2_bytes / l2bw,
                                dram, l2_bytes, exec_flops)
                if best is None or plan.time_s < best.time_s * (1 - 1e-9):
                    best = plan
                if split == 1 and spec.stream_k and tiles > slots:
                    # stream-K: the tiles*K iterations spread evenly over all SMs; each SM fixes up one
                    # partial tile (fp32 partials through L2) and pays one extra tile latency
                    frac_waves = tiles / slots
                    fix_bytes = slots * tm * tn * _ACC_BYTES * 2
                    sk = GemmPlan(tm, tn, 0, tiles, math.ceil(frac_waves),
                                  max(frac_waves * tile_flops * spec.ctas_per_sm / sm_rate, step_floor),
                                  (math.ceil(frac_waves) + 1) * cal.tile_latency, dram_s,
                                  (l2_bytes + fix_bytes) / l2bw, dram, l2_bytes + fix_bytes, exec_flops)
                    if sk.time_s < best.time_s * (1 - 1e-9):
                        best = sk
        assert best is not None
        return best

    def _power_capped(self, energy_key: str, compute_s: float, fixed_s: float, other_s: float, flops: float,
                      bytes_by_level: dict[str, float], serial_s: float = 0.0,
                      tdp: float | None = None) -> tuple[float, float, float, dict[str, float]]:
        """Apply the board power cap.

        Args:
            compute_s: clock-scaled part of the busy time at boost clock (s).
            fixed_s: clock-independent latency in series with compute (per-wave tile latency) (s).
            other_s: the part that does not scale with SM clock (memory, fixed latencies) (s).
            serial_s: extra time in series with the kernel (e.g. layout-transform kernels) (s).
            tdp: the power limit to cap at (W; default the device's ``tdp``).
        Returns (clock fraction s, busy time (s), dynamic energy (J), energy breakdown).
        """
        spec, cal = self.spec, self.spec.calibration
        static = self.static_power_w
        _, parts = op_energy(spec.energy, energy_key, flops, bytes_by_level, device=self._file)
        e_comp = parts.get("compute", 0.0)
        e_mem = sum(v for k, v in parts.items() if k != "compute")
        kexp = cal.dvfs_power_exponent

        def at(s: float) -> tuple[float, float]:
            t = max(compute_s / s + fixed_s, other_s) + cal.kernel_latency + serial_s
            e = e_comp * s ** (kexp - 1.0) + e_mem
            return t, e

        limit = spec.tdp if tdp is None else tdp
        s = 1.0
        t, e = at(1.0)
        if t > 0 and static + e / t > limit:
            lo, hi = cal.min_clock_fraction, 1.0
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                tm_, em_ = at(mid)
                if static + em_ / tm_ > limit:
                    hi = mid
                else:
                    lo = mid
            s = lo
            t, e = at(s)
        scale = s ** (kexp - 1.0)
        parts = {k: (v * scale if k == "compute" else v) for k, v in parts.items()}
        return s, t, e, parts

    def _energy_key(self, dtype: str) -> str:
        return dtype if dtype in self.spec.energy.per_flop else "fp32"

    def _finish(self, op: OpNode, key: str, compute_s: float, other_s: float, flops_exec: float,
                bytes_by_level: dict[str, float], detail: dict, fixed_s: float = 0.0,
                serial_s: float = 0.0, useful_flops: float | None = None) -> OpCost:
        """Apply the power cap and package an OpCost (times in s, at boost clock on input).

        ``useful_flops``: the FLOPs that utilisation counts (default ``op.flops``; one kernel of a multi-kernel
        op passes its own share).
        """
        ekey = op.dtype if op.dtype in self.spec.energy.per_flop else self._energy_key(key)
        s, t, e, parts = self._power_capped(ekey, compute_s, fixed_s, other_s, flops_exec, bytes_by_level, serial_s)
        clock = self.spec.clock * s
        busy = max(compute_s / s + fixed_s, other_s)
        if busy < self.spec.calibration.kernel_latency:
            bound = "latency"
        else:
            bound = "compute" if compute_s / s + fixed_s >= other_s else "memory"
        peak = self.spec.peak_at(key)
        useful = op.flops if useful_flops is None else useful_flops
        util = (useful / t) / peak if t > 0 and peak > 0 else 0.0
        detail = {**detail, "clock_hz": clock, "clock_fraction": s, "peak_key": key, "energy_dtype": ekey}
        return OpCost(time_s=t, cycles=t * clock, flops=flops_exec, bytes_by_level=bytes_by_level, energy_j=e,
                      energy_by_component=parts, bound=bound, utilization=min(util, 1.0), detail=detail)

    # ------------------------------------------------------------------ kinds
    def _gemm_cost(self, op: OpNode, M: int, N: int, K: int, batch: int, a_total: float, b_total: float,
                   c_total: float, derate: float = 1.0, extra_detail: dict | None = None,
                   aligned: bool | None = None, a_reuse: float = 1.0, key: str | None = None,
                   serial_s: float = 0.0, extra_dram: float = 0.0, flop_reduction: float = 1.0,
                   max_split: int | None = None, useful_flops: float | None = None,
                   out_elem_bytes: float | None = None, dequant_weights: float = 0.0,
                   split_accumulator: bool = False) -> OpCost:
        """Cost of a GEMM-shaped op (``key``: peak entry whose units run it; default from op.dtype).

        ``flop_reduction``: a fast algorithm (Winograd/FFT) executes this many times fewer FLOPs
        (its speed-up is part of ``derate``; this only scales the executed FLOPs and their energy).
        ``useful_flops`` / ``out_elem_bytes``: for one kernel of a multi-kernel op (conv backward), its own
        FLOPs and output element size (default: the op's FLOPs and first output's).
        ``dequant_weights``: weight elements a weight-only quantized GEMM dequantizes in its main loop, once per
        M tile: ``dequant_weights x ceil(M / tile_m) x calibration.dequant_ops_per_weight`` ALU instructions at
        the FMA pipes' instruction rate (``peak_at("fp32") / 2``), added to the main loop's compute time.
        ``split_accumulator``: an fp8 GEMM that promotes its partial sums to fp32 registers
        (:meth:`_promotion_s`, added to the main loop's compute time).
        """
        key = key or self._peak_key(op.dtype)
        eb = dtype_bytes(op.dtype)
        if out_elem_bytes is not None:
            ob = out_elem_bytes
        else:
            ob = op.outputs[0].bytes / max(op.outputs[0].numel, 1) if op.outputs else eb
        if aligned is None:
            aligned = self._aligned((K, N), eb)
        plan = self._gemm_plan(M, N, K, batch, key, eb, ob, a_total, b_total, c_total, aligned, derate, a_reuse,
                               max_split=max_split, step_latency_bound=op.kind in ("conv", "conv_transpose"))
        levels = {"dram": plan.dram_bytes + extra_dram, "l2": plan.l2_bytes + extra_dram, "smem": plan.l2_bytes}
        dequant_s = 0.0
        if dequant_weights:
            passes = math.ceil(M / plan.tile_m) if plan.tile_m else 1
            alu_per_s = self.spec.peak_at("fp32") / 2.0
            dequant_s = dequant_weights * passes * self.spec.calibration.dequant_ops_per_weight / alu_per_s
        promotion_s = self._promotion_s(plan, key, aligned, derate) if split_accumulator else 0.0
        kernels = 1 + (1 if plan.split_k > 1 else 0) + (2 if serial_s > 0 else 0)
        detail = {"kernels": kernels,
                  "tile_m": plan.tile_m, "tile_n": plan.tile_n, "split_k": plan.split_k, "tiles": plan.tiles,
                  "waves": plan.waves, "aligned": int(aligned), "M": M, "N": N, "K": K, "batch": batch,
                  **(extra_detail or {})}
        if dequant_s:
            detail["dequant_s"] = dequant_s
        if promotion_s:
            detail["promotion_s"] = promotion_s
        return self._finish(op, key, plan.compute_s + dequant_s + promotion_s, max(plan.dram_s, plan.l2_s),
                            plan.flops_executed / flop_reduction, levels, detail, fixed_s=plan.fixed_s,
                            serial_s=serial_s + self.spec.calibration.library_latency, useful_flops=useful_flops)

    def _promotion_s(self, plan: GemmPlan, key: str, aligned: bool, derate: float) -> float:
        """Main-loop time (s, at boost clock) that an fp8 GEMM with a split accumulator spends promoting its
        partial sums: every ``p = calibration.fp8_promotion_k`` K elements a CTA waits for its tensor-core
        accumulators and adds them into fp32 registers, one FADD per element of its ``tile_m x tile_n`` tile
        (CUTLASS ``GmmaFP8Accumulation::promote_core``: ``warpgroup_wait<0>()``, then ``accum(i) +=
        accum_temp(i)``), before it issues the next MMAs, so the adds run in series with them. Per tile that is
        ``tile_m x tile_n x K_slice / p`` FADDs at the SM's FP32 instruction rate ``r_add = peak_fp32 / 2 /
        sm_count`` against ``2 x tile_m x tile_n x K_slice`` FLOPs at its tensor rate ``r_mma``: the main loop
        grows by ``r_mma / (2 x r_add x p)`` of its compute time (0.25 for H100 fp8 at ``p`` = 128). The adds'
        own energy is not counted, so the power cap lets the lengthened kernel clock a little higher. 0 on a GPU
        without ``fp8_promotion_k``."""
        p = self.spec.calibration.fp8_promotion_k
        if not p or key != "fp8":
            return 0.0
        r_mma = self._rate_per_cycle(key, aligned, derate)
        r_add = self.spec.peak_per_cycle("fp32") / 2.0
        return plan.compute_s * r_mma / (2.0 * r_add * p)

    def _matmul(self, op: OpNode) -> OpCost:
        g = GemmShape.of(op)
        M, N, K, batch = g.M, g.N, g.K, g.batch
        a_total, b_total, extra = gemm_operands(op, M, N, K, batch)
        # the bias / C operand is read once by the epilogue, like the output is written once
        c_total = (op.output_bytes or M * N * batch * dtype_bytes(op.dtype)) + extra
        return self._gemm_cost(op, M, N, K, batch, a_total, b_total, c_total, dequant_weights=_quantized_weights(op, K, N),
                               split_accumulator=bool(op.attrs.get("split_accumulator")))

    def _conv(self, op: OpNode) -> OpCost:
        """The op as one convolution kernel (its own shape and tensors): :meth:`_conv_kernel`."""
        return self._conv_kernel(op, ConvShape.of(op), float(op.input_bytes), float(op.weight_bytes),
                                 float(op.output_bytes))

    def _conv_kernel(self, op: OpNode, c: ConvShape, in_b: float, w_b: float, out_b: float,
                     useful_flops: float | None = None) -> OpCost:
        """Convolution of shape ``c`` reading ``in_b``/``w_b`` and writing ``out_b`` bytes: implicit GEMM
        (M=N*Hout*Wout, N=Cout/g, K=Cin/g*R*S per group), or a direct kernel for depthwise / tiny groups, or FMA
        kernels when channels are not tensor-core aligned. ``useful_flops``: as in :meth:`_finish` (one kernel
        of a backward op passes its own; its output elements are then ``op.dtype``)."""
        n, cin, cout, R, S, hout, wout = c.N, c.Cin, c.Cout, c.R, c.S, c.Hout, c.Wout
        groups, stride = c.groups, c.stride
        cal = self.spec.calibration
        eb = dtype_bytes(op.dtype)
        cin_g, cout_g = cin // groups, cout // groups
        key = self._peak_key(op.dtype)
        if groups > 1 and min(cin_g, cout_g) < cal.direct_group_channels:
            # depthwise / tiny groups: direct convolution on FMA units
            layout = "channels_last" if c.channels_last else "nchw"
            eff = getattr(cal.direct_conv_efficiency, layout)
            # 2*MACs, not op.flops: torch's FLOP formula for convolution_backward ignores groups and
            # over-counts depthwise backward by Cin x (workloads/flops.py); MACs are exact.
            flops = 2.0 * op.macs if op.macs else op.flops
            compute = flops / (self.spec.peak_per_cycle("fp32") * self.spec.clock * eff)
            dram = in_b + w_b + out_b
            mem_s = dram / (self.spec.memory.hbm_bandwidth * cal.hbm_efficiency)
            return self._finish(op, key, compute, mem_s, flops, {"dram": dram, "l2": dram},
                                {"path": "direct", "layout": layout, "groups": groups, "kernels": 1},
                                serial_s=cal.library_latency)
        if c.transposed:
            # transposed conv = GEMM over the input grid scattering Cout*R*S outputs per pixel (same MACs)
            hin, win = c.H, c.W
            M, Ng, Kg, reuse = n * hin * win, cout_g * R * S, cin_g, 1.0
        else:
            M, Ng, Kg, reuse = n * hout * wout, cout_g, cin_g * R * S, float(R * S)
        path = "implicit_gemm"
        batch = groups
        aligned = self._aligned((cin_g, cout_g), eb)
        if self._is_tensor(key) and (cin_g * eb) % cal.alignment:
            # unaligned input channels (e.g. RGB stems): cuDNN has unaligned tensor-core kernels for fp16
            # only; other dtypes fall back to FMA kernels
            if op.dtype != "fp16":
                key, path, aligned = "fp32", "implicit_gemm_fma", True
        elif self._is_tensor(key) and R * S == 1 and not c.transposed and not c.channels_last:
            # NCHW 1x1 convolution: per image a GEMM (Cout x Cin) @ (Cin x H*W); rows of H*W pixels
            M, Ng, Kg, batch = cout_g, hout * wout, cin_g, n * groups
            aligned = self._aligned((Ng, Kg), eb)
            path = "nchw_gemm"
        derate = cal.conv_efficiency.tensor if self._is_tensor(key) else cal.conv_efficiency.fma
        reduction = self._fast_conv_reduction(key, stride, R, S, M, cin_g, hout)
        if reduction > 1.0:
            derate *= reduction
            path += "_winograd" if R == 3 else "_fft"
        serial, extra = 0.0, 0.0
        if self._is_tensor(key) and R * S > 1 and not c.channels_last:
            # tensor-core kernels want NHWC: NCHW input/output go through transpose kernels (read + write
            # each); 1x1 convolutions are plain GEMMs on NCHW and need none
            extra = 2.0 * (in_b + out_b)
            t_eff = cal.layout_transform_efficiency.bytes4 if eb >= 4 else cal.layout_transform_efficiency.bytes2
            serial = extra / (self.spec.memory.hbm_bandwidth * t_eff) + 2 * cal.kernel_latency
            path += "_nchw_transform"
        # convolutions on fp32 tensors (FMA or TF32 kernels) split K only if the library does
        max_split = None if cal.conv_fp32_split_k or eb < 4 else 1
        return self._gemm_cost(op, M, Ng, Kg, batch, in_b, w_b, out_b, derate=derate,
                               extra_detail={"path": path}, aligned=aligned, a_reuse=reuse, key=key,
                               serial_s=serial, extra_dram=extra, flop_reduction=reduction, max_split=max_split,
                               useful_flops=useful_flops, out_elem_bytes=None if useful_flops is None else eb)

    def _fast_conv_reduction(self, key: str, stride: int, R: int, S: int, rows: int, cin_g: int, hout: int) -> float:
        """Multiply reduction of cuDNN's Winograd/FFT algorithms for a conv on FMA units (1.0: none).

        cuDNN picks FFT for 5x5 and Winograd for deep, small-image 3x3 layers with enough output
        pixels (``rows`` = N*Hout*Wout) to amortise the transforms: fewer multiplies. A transform's
        cost does not grow with the filter, so the saving scales with the taps (R*S/9 relative to 3x3).
        """
        cal = self.spec.calibration
        if not self._is_tensor(key) and stride == 1 and R == S and rows >= cal.winograd_min_rows and (
                R == 5 or (R == 3 and cin_g >= cal.winograd_min_channels and hout <= cal.winograd_max_size)):
            return cal.winograd_speedup * (R * S) / 9.0
        return 1.0

    def _conv_backward(self, op: OpNode) -> OpCost:
        """``convolution_backward``: cuDNN runs grad-input (dgrad), grad-weight (wgrad) and grad-bias
        as separate kernels, each per ``attrs["output_mask"]``; the op's cost is their sum.

        - dgrad: a convolution of grad_output (Cout channels) with the transposed filters back to
          Cin channels, same MACs as the forward conv (costed by :meth:`_conv`, so it gets the same
          implicit-GEMM / Winograd / layout-transform paths), writing the full-size grad_input;
        - wgrad: a GEMM ``[Cin/g*R*S x N*Hout*Wout] @ [N*Hout*Wout x Cout/g]`` per group, reading
          grad_output and the input. Its few output tiles and very long K are split over the whole
          GPU (modelling choice: cuDNN/CUTLASS grad-weight kernels split the N*H*W reduction as far
          as needed, unlike cuBLAS's split-K heuristic ``max_split_k``); tensor-core wgrad on NCHW
          tensors pays the same NHWC transposes as the forward conv;
        - grad_bias: a reduction over grad_output (memory bound).
        Depthwise / tiny-group convs take the direct path on the whole op (``op.macs`` counts both).
        """
        c = ConvShape.of(op)
        a = op.attrs
        n, cin, cout, R, S, hout, wout, H, W = c.N, c.Cin, c.Cout, c.R, c.S, c.Hout, c.Wout, c.H, c.W
        groups, cin_g, cout_g = c.groups, c.cin_g, c.cout_g
        mask = list(c.output_mask or (False, False, False))
        transposed = c.transposed
        if (groups > 1 and min(cin_g, cout_g) < self.spec.calibration.direct_group_channels) or transposed:
            return self._conv(op)  # direct kernels (op.macs counts dgrad + wgrad) / transposed: forward form
        eb = dtype_bytes(op.dtype)
        x_b, y_b, w_b = n * cin * H * W * eb, n * cout * hout * wout * eb, cout * cin_g * R * S * eb
        macs = float(n * hout * wout * cout_g * cin_g * R * S * groups)
        parts: list[tuple[str, OpCost]] = []
        if mask[0]:  # reads grad_output and the filters, writes grad_input
            parts.append(("dgrad", self._conv_kernel(op, c.dgrad(), y_b, w_b, x_b, useful_flops=2.0 * macs)))
        if mask[1]:
            key = self._peak_key(op.dtype)
            if self._is_tensor(key) and (cin_g * eb) % self.spec.calibration.alignment and op.dtype != "fp16":
                key = "fp32"  # unaligned channels: FMA kernels, as in the forward conv
            derate = (self.spec.calibration.conv_efficiency.tensor if self._is_tensor(key)
                      else self.spec.calibration.conv_efficiency.fma)
            # cuDNN's grad-weight has Winograd (WINOGRAD_NONFUSED) and FFT algorithms too; same eligibility
            reduction = self._fast_conv_reduction(key, c.stride, R, S, n * hout * wout, cin_g, hout)
            serial, extra = 0.0, 0.0
            if self._is_tensor(key) and R * S > 1 and not c.channels_last:
                # as in the forward conv: tensor-core kernels want NHWC, so the NCHW input and
                # grad_output go through transpose kernels (read + write each)
                extra = 2.0 * (x_b + y_b)
                cal = self.spec.calibration
                t_eff = cal.layout_transform_efficiency.bytes4 if eb >= 4 else cal.layout_transform_efficiency.bytes2
                serial = extra / (self.spec.memory.hbm_bandwidth * t_eff) + 2 * cal.kernel_latency
            # as dW^T = X_col^T @ dY: A = the input's im2col (each loaded element reused by the R*S taps)
            parts.append(("wgrad", self._gemm_cost(op, cin_g * R * S, cout_g, n * hout * wout, groups, x_b, y_b, w_b,
                                                   derate=derate * reduction, aligned=self._aligned((cin_g, cout_g), eb),
                                                   a_reuse=float(R * S), key=key, flop_reduction=reduction,
                                                   max_split=_WGRAD_MAX_SPLIT, serial_s=serial, extra_dram=extra,
                                                   useful_flops=2.0 * macs, out_elem_bytes=eb,
                                                   extra_detail={"path": "wgrad_gemm" + ("_fast" if reduction > 1 else "")})))
        if mask[2]:
            hbm = self.spec.memory.hbm_bandwidth * self.spec.calibration.hbm_efficiency
            adds = float(n * cout * hout * wout)
            parts.append(("bias_grad", self._finish(op, self._peak_key(op.dtype), 0.0, y_b / hbm, adds,
                                                    {"dram": y_b + cout * eb, "l2": y_b + cout * eb},
                                                    {"path": "bias_grad_reduce", "kernels": 1}, useful_flops=adds)))
        if not parts:
            raise ConfigError(op.name, "attrs.output_mask", f"{a['output_mask']!r} asks for no gradient")
        return self._sum_costs(op, parts)

    def _sum_costs(self, op: OpNode, parts: list[tuple[str, OpCost]]) -> OpCost:
        """One OpCost for kernels run back to back: times, FLOPs, bytes and energy add up."""
        t = sum(c.time_s for _, c in parts)
        levels: dict[str, float] = {}
        comps: dict[str, float] = {}
        for _, c in parts:
            for k, v in c.bytes_by_level.items():
                levels[k] = levels.get(k, 0.0) + v
            for k, v in c.energy_by_component.items():
                comps[k] = comps.get(k, 0.0) + v
        longest = max(parts, key=lambda p: p[1].time_s)[1]
        detail: dict = {"path": "+".join(f"{name}:{c.detail.get('path', '')}" for name, c in parts),
                        "kernels": sum(int(c.detail.get("kernels", 1)) for _, c in parts)}
        for name, c in parts:
            detail[f"{name}_s"] = c.time_s
        clock = longest.cycles / longest.time_s if longest.time_s > 0 else self.spec.clock
        util = sum(c.utilization * c.time_s for _, c in parts) / t if t > 0 else 0.0
        return OpCost(time_s=t, cycles=t * clock, flops=sum(c.flops for _, c in parts), bytes_by_level=levels,
                      energy_j=sum(c.energy_j for _, c in parts), energy_by_component=comps, bound=longest.bound,
                      utilization=util, detail=detail)

    def _attention(self, op: OpNode) -> OpCost:
        """Fused (flash) attention: QK^T and PV as batched GEMMs; DRAM traffic = Q, K, V, O once.

        Decode-shaped attention (the ``Lq x group`` query rows of a KV group fewer than the smallest GEMM
        tile's M) runs as a decode kernel (flash-decoding, FlashInfer, TensorRT-LLM XQA): the group's query
        rows packed into ``mma_tile_m``-row MMA fragments, the KV length split over the SMs; compute = the
        FLOPs padded to whole fragments at the tensor peak x ``tensor_efficiency``, memory = its bytes.

        Every path adds the softmax's exponentials, one per computed score, at ``sfu_per_clock x sm_count x
        clock`` (:meth:`_softmax_exp_s`). A backward op is FlashAttention's backward (:meth:`_attention_backward`).
        """
        at = AttentionShape.of(op)
        if op.phase == "backward":
            return self._attention_backward(op, at)
        b, h, lq, lk, d = at.batch, at.heads, at.Lq, at.Lk, at.d
        key = self._peak_key(op.dtype)
        eb = dtype_bytes(op.dtype)
        frac = at.work_fraction
        rows = lq * at.group
        mma = self.spec.mma_tile_m
        exp_s = self._softmax_exp_s(at)
        if mma and self._is_tensor(key) and rows < min(tm for tm, _ in self.spec.tiles["tensor"]):
            executed = 4.0 * b * h * lq * lk * d * frac * (math.ceil(rows / mma) * mma / rows)
            compute = executed / (self.spec.peak_at(key) * self.spec.calibration.tensor_efficiency) + exp_s
            dram = float(op.total_bytes)
            mem_s = dram / (self.spec.memory.hbm_bandwidth * self.spec.calibration.hbm_efficiency)
            return self._finish(op, key, compute, mem_s, executed, {"dram": dram, "l2": dram},
                                {"path": "flash_decode", "kernels": 1, "rows": rows})
        p1 = self._gemm_plan(lq, lk, d, b * h, key, eb, eb, 0.0, 0.0, 0.0)
        p2 = self._gemm_plan(lq, d, lk, b * h, key, eb, eb, 0.0, 0.0, 0.0)
        compute = (p1.compute_s + p2.compute_s) * frac + exp_s
        dram = float(op.total_bytes) or (2 * lq + 2 * lk) * d * b * h * eb
        mem_s = dram / (self.spec.memory.hbm_bandwidth * self.spec.calibration.hbm_efficiency)
        levels = {"dram": dram, "l2": (p1.l2_bytes + p2.l2_bytes) * frac}
        executed = (p1.flops_executed + p2.flops_executed) * frac
        cost = self._finish(op, key, compute, mem_s, executed, levels, {"path": "flash", "kernels": 1})
        floor = self._kernel_floor_s(op, key, 4.0 * b * h * lq * lk * d * frac)
        return self._at_least(cost, floor * self._measured_clock_ratio(op, key, compute, mem_s, executed, levels))

    def _measured_clock_ratio(self, op: OpNode, key: str, compute_s: float, other_s: float, flops: float,
                              bytes_by_level: dict[str, float]) -> float:
        """How much longer a measured attention rate takes on this device than where it was measured: the clock the
        power cap gives the op at ``calibration.attention_measured_tdp`` over the clock at this device's ``tdp``
        (the op's compute at boost clock ``compute_s``, the rest ``other_s``, s). 1 when the YAML gives no
        measurement limit or the device's is not lower (a higher limit is not assumed to raise a measured rate)."""
        ref = self.spec.calibration.attention_measured_tdp
        if not ref or ref <= self.spec.tdp or flops <= 0:
            return 1.0
        ekey = op.dtype if op.dtype in self.spec.energy.per_flop else self._energy_key(key)
        here = self._power_capped(ekey, compute_s, 0.0, other_s, flops, bytes_by_level)[0]
        there = self._power_capped(ekey, compute_s, 0.0, other_s, flops, bytes_by_level, tdp=ref)[0]
        return there / here if here > 0 else 1.0

    def _at_least(self, cost: OpCost, floor_s: float) -> OpCost:
        """``cost`` taking at least ``floor_s`` (a measured kernel rate, which already includes whatever clock the
        power cap left it): the longer time, its cycles and utilisation rescaled, energy unchanged."""
        if floor_s <= cost.time_s:
            return cost
        clock = cost.cycles / cost.time_s if cost.time_s > 0 else self.spec.clock
        return dataclasses.replace(cost, time_s=floor_s, cycles=floor_s * clock, bound="compute",
                                   utilization=cost.utilization * cost.time_s / floor_s,
                                   detail={**cost.detail, "measured_kernel_floor_s": floor_s})

    def _kernel_floor_s(self, op: OpNode, key: str, useful_flops: float) -> float:
        """Least time of a fused attention op (s): its useful FLOPs (a causal mask's skipped half not counted) at
        the efficiency its kernel family was measured to reach on this GPU, a fraction of the datasheet tensor peak
        (``peak``, the peak those measurements are quoted against). The family is ``attrs["kernel"]`` (``flash2``:
        FlashAttention-2) or ``flash`` (the Hopper-native fused kernel); the fraction comes from
        ``calibration.attention_efficiency`` for the op's direction, head dimension, key length and mask (16-bit ops:
        what the curves measured), else for
        ``flash2`` from ``calibration.flash2_efficiency``; 0 when neither applies. A family the YAML gives relative to
        another (``flash_triton``: FlashAttention in Triton against FlashAttention-2) takes that family's fraction
        times its ``forward`` / ``backward`` ratio. A kernel compiled for fixed head dimensions runs a head of ``d``
        on the next larger one, ``d_k`` (:func:`kernel_head_dim`): the fraction is the one measured at ``d_k``, and
        it applies to ``d_k / d`` times the useful FLOPs (the padded columns are computed)."""
        cal = self.spec.calibration
        asked = kernel = str(op.attrs.get("kernel") or "flash")
        d = AttentionShape.of(op).d
        d_k = kernel_head_dim(asked, d)
        useful_flops *= d_k / d if d > 0 else 1.0
        direction = "backward" if op.phase == "backward" else "forward"
        ratio = 1.0
        relative = getattr(cal.attention_efficiency, kernel, None) if cal.attention_efficiency else None
        if isinstance(relative, RelativeAttentionSpeed):
            ratio, kernel = float(getattr(relative, direction)), relative.relative_to
        eff: float | None = None
        curves = getattr(cal.attention_efficiency, kernel, None) if cal.attention_efficiency else None
        if curves is not None and op.dtype in ("bf16", "fp16"):  # the curves were measured in 16-bit
            at = AttentionShape.of(op)
            eff = curves.efficiency(direction, d_k, at.Lk, at.causal)
        if eff is None and kernel == "flash2":
            eff = cal.flash2_efficiency
        if not eff and asked in MEASURED_ATTENTION_KERNELS:
            raise ConfigError(self._file, f"calibration.attention_efficiency.{asked}",
                              f"no measured speed of the {asked} attention kernel on {self.spec.name} (needed by "
                              f"--attention {asked}); give it in the YAML or use --attention flash or unfused")
        if not eff:
            return 0.0
        return useful_flops / (float(self.spec.peak.get(key) or self.spec.peak_at(key)) * eff * ratio)

    def _softmax_exp_s(self, at: AttentionShape) -> float:
        """Time of the softmax's exponentials (s): one per computed score, ``batch x heads x Lq x Lk x
        work_fraction``, at ``sfu_per_clock x sm_count x clock`` (0 when the YAML gives no ``sfu_per_clock``).
        For head dim 128 an H100's matrix FLOPs outnumber them 512 to 1 while its tensor cores outrun the
        special-function units ~250-fold, so they cost about half the GEMMs' time (Shah et al. 2024,
        FlashAttention-3, Sec. 3)."""
        rate = self.spec.sfu_per_clock
        if not rate:
            return 0.0
        return at.batch * at.heads * at.Lq * at.Lk * at.work_fraction / (rate * self.spec.sm_count * self.spec.clock)

    def _attention_backward(self, op: OpNode, at: AttentionShape) -> OpCost:
        """FlashAttention backward (Dao 2023, FlashAttention-2, Algorithm 2): per KV block, S = Q K^T is
        recomputed, then dV = P^T dO, dP = dO V^T, dQ = dS K and dK = dS^T Q: five batched GEMMs of the forward's
        shape (2.5x its matrix FLOPs), one exponential per score (:meth:`_softmax_exp_s`); DRAM: Q, O, dO, dQ of
        ``Lq`` rows and K, V, dK, dV of ``Lk`` rows once (``d`` wide), plus the fp32 row log-sum-exp. The
        recorded op's tensors are not used: on the meta device autograd records the math path's backward."""
        b, h, lq, lk, d = at.batch, at.heads, at.Lq, at.Lk, at.d
        kvh = at.kv_heads or h
        key = self._peak_key(op.dtype)
        eb = dtype_bytes(op.dtype)
        frac = at.work_fraction
        plans = [self._gemm_plan(lq, lk, d, b * h, key, eb, eb, 0.0, 0.0, 0.0),   # S = Q K^T
                 self._gemm_plan(lq, lk, d, b * h, key, eb, eb, 0.0, 0.0, 0.0),   # dP = dO V^T
                 self._gemm_plan(lk, d, lq, b * h, key, eb, eb, 0.0, 0.0, 0.0),   # dV = P^T dO
                 self._gemm_plan(lk, d, lq, b * h, key, eb, eb, 0.0, 0.0, 0.0),   # dK = dS^T Q
                 self._gemm_plan(lq, d, lk, b * h, key, eb, eb, 0.0, 0.0, 0.0)]   # dQ = dS K
        compute = sum(p.compute_s for p in plans) * frac + self._softmax_exp_s(at)
        dram = (4.0 * b * h * lq + 4.0 * b * kvh * lk) * d * eb + 4.0 * b * h * lq
        mem_s = dram / (self.spec.memory.hbm_bandwidth * self.spec.calibration.hbm_efficiency)
        levels = {"dram": dram, "l2": sum(p.l2_bytes for p in plans) * frac}
        executed = sum(p.flops_executed for p in plans) * frac
        cost = self._finish(op, key, compute, mem_s, executed, levels, {"path": "flash_backward", "kernels": 1})
        floor = self._kernel_floor_s(op, key, 10.0 * b * h * lq * lk * d * frac)
        return self._at_least(cost, floor * self._measured_clock_ratio(op, key, compute, mem_s, executed, levels))

    def _rnn(self, op: OpNode) -> OpCost:
        """LSTM/GRU (cuDNN style), per layer (both directions together):

        - one GEMM projecting the inputs of all time steps: ``(T*B) x (G*H*D) x K_in`` (``W_ih``);
        - then per time step, each dependent on the last (no overlap between steps): a recurrent
          GEMM ``B x G*H x H`` per direction (``W_hh``) and a pointwise gate kernel. ``W_hh`` is read
          from DRAM once and then hits L2 if all directions' ``W_hh`` fit in L2; otherwise every step
          re-reads it from DRAM (the step GEMM's own DRAM time);
        - biases (``b_ih``, ``b_hh``) and any parameter bytes beyond ``W_ih``/``W_hh`` are read once.

        Falls back to a roofline if the attrs are missing."""
        r = rnn_shape(op)
        if r is None:
            return self._roofline(op, {"path": "rnn_roofline", "kernels": 1})
        cal, mem = self.spec.calibration, self.spec.memory
        hbm = mem.hbm_bandwidth * cal.hbm_efficiency
        key = self._peak_key(op.dtype)
        eb = dtype_bytes(op.dtype)
        H, G, B, T, D = r["hidden"], r["gates"], r["batch"], r["seq"], r["dirs"]
        compute = fixed = dram = l2 = flops = gemm_w = 0.0
        kernels = 0
        for layer in range(r["layers"]):
            k_in = r["input"] if layer == 0 else H * D
            w_ih, w_hh = k_in * G * H * D * eb, G * H * H * D * eb
            gemm_w += w_ih + w_hh
            resident = w_hh <= mem.l2_size
            proj = self._gemm_plan(T * B, G * H * D, k_in, 1, key, eb, eb, T * B * k_in * eb, w_ih, T * B * G * H * D * eb)
            step_io = (0.0, 0.0, 0.0) if resident else (B * H * D * eb, w_hh, B * G * H * D * eb)
            step = self._gemm_plan(B, G * H, H, D, key, eb, eb, *step_io)
            # kernels run back to back: each GEMM's time is its plan's time (the objective its tile
            # and split-K were chosen by); only its compute part scales with the SM clock
            compute += proj.compute_s + T * step.compute_s
            fixed += (proj.time_s - proj.compute_s) + T * (step.time_s - step.compute_s) \
                + (1 + T) * cal.library_latency + 2 * T * cal.kernel_latency
            # h (and c) written per step; W_hh from DRAM once if L2-resident, else every step (step_io)
            state = T * B * H * D * eb * 2
            dram += proj.dram_bytes + state + (w_hh if resident else T * step.dram_bytes)
            fixed += (w_hh / hbm if resident else 0.0) + state / hbm
            l2 += proj.l2_bytes + T * step.l2_bytes
            flops += proj.flops_executed + T * step.flops_executed
            kernels += 1 + 2 * T
        rest = max(float(op.weight_bytes) - gemm_w, 0.0)  # biases
        dram += rest
        fixed += rest / hbm
        return self._finish(op, key, compute, 0.0, flops, {"dram": dram, "l2": l2},
                            {"path": "rnn_steps", "steps": T * r["layers"], "kernels": kernels,
                             "w_hh_l2_resident": G * H * H * D * eb <= mem.l2_size},
                            fixed_s=fixed)

    def _roofline(self, op: OpNode, detail: dict) -> OpCost:
        key = self._peak_key(op.dtype)
        rate = self._rate_per_cycle(key) * self.spec.clock
        dram = float(op.total_bytes)
        mem_s = dram / (self.spec.memory.hbm_bandwidth * self.spec.calibration.hbm_efficiency)
        return self._finish(op, key, op.flops / rate, mem_s, op.flops, {"dram": dram}, {**detail, "kernels": 1})

    def _resident_rows(self, threads: int) -> int:
        """Rows in flight for a one-CTA-per-row kernel of ``threads`` threads: ``sm_count x (max_threads_per_sm //
        threads)`` (at least one CTA per SM)."""
        return self.spec.sm_count * max(1, self.spec.max_threads_per_sm // threads)

    def _row_rereads(self, rows: int, threads: int, walked: float, walks: int) -> tuple[float, float, float, str]:
        """A one-CTA-per-row kernel (``threads`` threads) that walks ``walked`` bytes of its ``rows`` rows ``walks``
        more times: (re-read bytes, their serial time in s, their HBM bytes, where they come from). From L2, at
        ``l2_bandwidth x l2_efficiency`` in series with the stream, when the resident CTAs' rows fit there
        (``min(rows, resident) x walked / rows <= memory.l2_size``); else from HBM, as traffic like the first walk
        (an LRU cache streaming a cyclic footprint larger than itself keeps none of it). :meth:`_memory_bound`."""
        cal, mem = self.spec.calibration, self.spec.memory
        again = walks * walked
        if not again:
            return 0.0, 0.0, 0.0, "none"
        if min(rows, self._resident_rows(threads)) * walked / rows <= mem.l2_size:
            return again, again / (mem.l2_bandwidth * cal.l2_efficiency), 0.0, "l2"
        return again, 0.0, again, "dram"

    def _memory_bound(self, op: OpNode) -> OpCost:
        """Streaming kernel: every input, weight and output byte crosses HBM once (a normalisation backward with
        weight gradients reads its output gradient and input twice, BatchNorm's training forward its input:
        :func:`norm_second_pass_bytes`; PyTorch's basic softmax kernel reads its rows three times:
        :func:`softmax_block_rows`, the re-reads found in L2 or HBM as a row normalisation's below).

        A row normalisation (LayerNorm forward, or its input-gradient backward: :func:`norm_rows`) runs one
        ``calibration.row_norm_cta_threads``-thread CTA per row that loads its row, reduces it across the CTA
        (shuffles + shared memory + barriers), then loads the row again (:func:`norm_reread_bytes`), normalises it
        and stores it. The CTAs of a wave start together and do the same steps, so each wave's load latency +
        reduction is not hidden behind other CTAs' traffic: ``ceil(rows / resident CTAs)`` waves each add
        ``tile_latency`` (the per-wave fixed latency the GEMM model uses) to the streaming time. The second load
        finds the row in L2 when the rows of the resident CTAs fit there (``min(rows, resident) x bytes per row <=
        memory.l2_size``): it is then read at L2 bandwidth (``l2_bandwidth x l2_efficiency``), in series with the
        HBM traffic (the lock-step CTAs re-read together while HBM idles). Otherwise the cache, streaming a cyclic
        footprint larger than itself, keeps none of it (LRU) and the second load is HBM traffic like the first."""
        cal, mem = self.spec.calibration, self.spec.memory
        second = norm_second_pass_bytes(op)
        dram = float(streamed_bytes(op)) + second
        l2_bytes = dram
        fma = self.spec.peak_per_cycle("fp32") * self.spec.clock * cal.fma_efficiency
        compute = op.flops / fma
        detail: dict = {"path": "stream", "kernels": 1}
        if second:
            detail.update(path="norm_two_pass", kernels=2, reread_bytes=second)
        serial = 0.0
        rows = norm_rows(op)
        if rows:
            waves = math.ceil(rows / self._resident_rows(cal.row_norm_cta_threads))
            walked = 0.0 if persistent_norm(op) else _twice_read_bytes(op)  # norm_reread_bytes, rows known
            again, again_s, again_dram, source = self._row_rereads(rows, cal.row_norm_cta_threads, walked, 1)
            serial = waves * cal.tile_latency + again_s
            dram += again_dram
            l2_bytes += again
            detail.update(path="row_reduce", rows=rows, waves=waves, row_reread_bytes=again, row_reread_from=source)
        soft_rows, threads = softmax_block_rows(op)
        if soft_rows:  # the basic softmax kernel's second and third walks over each row
            again, again_s, again_dram, source = self._row_rereads(soft_rows, threads, float(op.inputs[0].bytes), 2)
            serial += again_s
            dram += again_dram
            l2_bytes += again
            detail.update(path="softmax_three_pass", rows=soft_rows, row_reread_bytes=again, row_reread_from=source)
        mem_s = dram / (mem.hbm_bandwidth * cal.hbm_efficiency)
        return self._finish(op, "fp32", compute, mem_s, op.flops, {"dram": dram, "l2": l2_bytes}, detail,
                            serial_s=serial)


#: op kind -> cost method (one table; the kinds it lists are :data:`SUPPORTED_KINDS`)
GpuCostModel._BY_KIND = {
    "matmul": GpuCostModel._matmul, "conv": GpuCostModel._conv_any, "conv_transpose": GpuCostModel._conv_any,
    "attention": GpuCostModel._attention, "rnn": GpuCostModel._rnn,
    **{k: GpuCostModel._memory_bound for k in STREAMING_KINDS},
}
assert set(GpuCostModel._BY_KIND) == set(SUPPORTED_KINDS)
