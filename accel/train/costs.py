"""Per-microbatch costs of the pieces a pipeline rank runs, priced op by op with the device's cost model.

The pieces are the training graphs of :mod:`workloads.llm_train` (one tensor-parallel rank, one microbatch):
a decoder block, the first stage's embedding and the last stage's LM head + loss. For each piece:

* ``forward_s`` / ``backward_s``: the sum of its ops' device times (s) -- the kernels of one CUDA stream
  run back to back -- or, where the host issues ops slower than the GPU runs them, the sum of the host's
  issue times (:func:`accel.sim.host.issue_rule`): ``max(sum device, sum issue)``;
* ``recompute_s``: what ``--recompute`` re-runs in backward (s): ``selective`` the attention core's forward
  (ops under :data:`CORE_ATTENTION`; Korthikanti et al. 2022, Sec. 4.2), ``full`` the whole forward;
* flops of each (model FLOPs: forward + backward; hardware FLOPs add the recomputation);
* ``gemm_s``: the forward time of the GEMMs next to each tensor-parallel collective (:data:`GEMM_GROUPS`),
  which ``--tp-comm-overlap`` hides the collectives behind;
* ``forward_gemm_s`` / ``backward_gemm_s`` / ``recompute_gemm_s``: the part of ``forward_s`` / ``backward_s`` /
  ``recompute_s`` spent in GEMM kernels (s), which a concurrent collective slows differently from the rest
  (:func:`accel.train.simulate.overlap_share`); ``*_attention_s`` likewise in fused attention kernels (ops of kind
  ``attention``; an unfused core's batched GEMMs count as GEMMs);
* ``saved_bytes``: activations kept from forward for backward (B): every forward op's output that a backward
  op reads (per producing op, the largest edge into backward; a dropout's one-byte mask besides, for its own
  backward) plus the piece's input. A fused attention
  kernel keeps q, k, v, its output and the fp32 row log-sum-exp (FlashAttention's backward inputs; the traced
  backward of ``scaled_dot_product_attention`` on the meta device is the math path, so its edges are not used).
  ``selective`` recomputation drops what the attention core's own ops keep (their outputs; q, k, v stay, kept
  where the trace copies them into an unfused core's layout too: :func:`_core_inputs_unsaved`);
  ``full`` keeps only the input;
* ``working_bytes``: the piece's transient working set beyond ``saved_bytes`` (:func:`working_set_bytes`), which
  the step's memory adds once (one piece runs at a time).

FP8 training (``fp8=True``): Transformer Engine's recipe, :mod:`accel.train.fp8` (the projections' GEMMs in fp8, one
cast per quantized tensor, a norm feeding only GEMMs writing fp8).

LoRA fine-tuning (``lora_rank`` > 0): the piece's weights are frozen, so the backward runs none of the ops that end
in a parameter's gradient (:func:`frozen_weight_ops`), the forward keeps nothing only they read, FP8 casts skip the
transpose only a weight gradient reads, and rank-``lora_rank`` adapters (:func:`lora_adapter_kernels`) join the
target projections; the piece's ``param_count`` is then the adapters' and ``frozen_params`` the model's.

With sequence parallelism the ops of the sequence-parallel region run on ``seq_len / tp`` tokens: their time
and saved bytes are divided by ``tp``. That region is a block's norms and residual adds (its ops not under
``self_attn`` or ``mlp``) and the final norm before the LM head (:data:`SEQUENCE_PARALLEL_REGIONS`); the LM head
and the loss run on the whole sequence (Megatron's output layer is a ``ColumnParallelLinear`` that all-gathers
the sequence first), and so does the vocab-parallel embedding (each rank looks up every token in its vocabulary
shard, then reduce-scatters the sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import dataclasses

import networkx as nx

from accel.devices.base import CostModel
from accel.graph import AFTER_BACKWARD, GemmShape, LayerGraph, OpNode, TensorInfo, dtype_bytes
from accel.sim.host import issue_rule
from accel.train.fp8 import fp8_plan
from accel.train.layout import LayoutError

#: module path prefixes of a block's tensor-parallel regions (sharded by Megatron; the rest is replicated
#: without sequence parallelism and split by sequence with it)
TP_REGIONS: tuple[str, ...] = ("block.self_attn", "block.mlp")
#: module paths whose ops (with their submodules', minus :data:`TP_REGIONS`) run in Megatron's sequence-parallel
#: region, on ``seq_len / tp`` tokens under sequence parallelism (Korthikanti et al. 2022, Sec. 4.2.2): the block
#: and the final norm (``_Head.norm``). Not the LM head nor the loss: Megatron-LM's and Megatron-Core's output
#: layer is a ``ColumnParallelLinear(sequence_parallel=...)``, which all-gathers the sequence before its GEMM, so the
#: logits and the vocab-parallel cross-entropy cover every token (``vocab / tp`` columns); nor the embedding, whose
#: ``VocabParallelEmbedding`` looks up every token before reduce-scattering to the sequence-parallel region
SEQUENCE_PARALLEL_REGIONS: tuple[str, ...] = ("block", "norm")
#: module path of the attention core (:class:`workloads.llm_train.CoreAttention`), what ``selective`` recomputes
CORE_ATTENTION = "block.self_attn.core"
#: tensor-parallel GEMM groups next to Megatron's collectives: projection module name -> group. ``qkv`` and
#: ``mlp_in`` (column-parallel) follow an all-gather, ``attn_out`` and ``mlp_out`` (row-parallel) precede a
#: reduce-scatter (:attr:`PieceCost.gemm_s`)
GEMM_GROUPS: dict[str, str] = {"q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "o_proj": "attn_out",
                               "gate_proj": "mlp_in", "up_proj": "mlp_in", "fc_in": "mlp_in",
                               "down_proj": "mlp_out", "fc_out": "mlp_out"}
#: the groups of row-parallel GEMMs (Megatron's ``RowParallelLinear``: the projection and the MLP's output)
ROW_PARALLEL_GROUPS: frozenset[str] = frozenset({"attn_out", "mlp_out"})


def gemm_group(op: OpNode) -> str | None:
    """The :data:`GEMM_GROUPS` group of matmul ``op`` (a linear layer's GEMM), None for any other op."""
    return GEMM_GROUPS.get(op.module.rsplit(".", 1)[-1]) if op.kind == "matmul" else None


@dataclass(frozen=True)
class PieceCost:
    """One piece (block / embed / head) for one microbatch on one tensor-parallel rank (module docstring).

    ``core_attention_s`` / ``core_attention_backward_s``: time of the attention core's forward / backward ops (s);
    ``kv_bytes``: the K and V one microbatch's attention reads on this rank (B), what a context-parallel ring
    passes on. ``forward_gemm_s`` / ``backward_gemm_s`` / ``recompute_gemm_s``: device time of the GEMM kernels
    (ops of kind ``matmul``; FP8's cast-transposes excluded) within ``forward_s`` / ``backward_s`` / ``recompute_s``
    (s)."""

    forward_s: float
    backward_s: float
    recompute_s: float
    forward_flops: float
    backward_flops: float
    recompute_flops: float
    saved_bytes: float
    input_bytes: float
    param_count: float
    gemm_s: dict[str, float] = dataclasses.field(default_factory=dict)
    core_attention_s: float = 0.0
    core_attention_backward_s: float = 0.0
    kv_bytes: float = 0.0
    forward_gemm_s: float = 0.0
    backward_gemm_s: float = 0.0
    recompute_gemm_s: float = 0.0
    forward_attention_s: float = 0.0
    backward_attention_s: float = 0.0
    recompute_attention_s: float = 0.0
    #: parameters held but not trained (LoRA's frozen base weights): in memory as weights only; ``param_count``
    #: counts the trained ones (gradients, optimizer state, data-parallel reduction)
    frozen_params: float = 0.0
    #: the piece's transient working set (B): the most bytes live at once while it runs beyond what its forward
    #: keeps for backward (:func:`working_set_bytes`)
    working_bytes: float = 0.0

    @property
    def model_flops(self) -> float:
        return self.forward_flops + self.backward_flops

    @property
    def hardware_flops(self) -> float:
        return self.model_flops + self.recompute_flops


def in_sequence_parallel_region(module: str) -> bool:
    """Whether an op of module path ``module`` runs in the sequence-parallel region
    (:data:`SEQUENCE_PARALLEL_REGIONS`, less the tensor-parallel regions :data:`TP_REGIONS`)."""
    def under(prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)
    return under(SEQUENCE_PARALLEL_REGIONS) and not under(TP_REGIONS)


def _sp_scale(op: OpNode, tp: int, sequence_parallel: bool) -> float:
    """``1 / tp`` for an op of the sequence-parallel region under sequence parallelism, else 1."""
    if sequence_parallel and in_sequence_parallel_region(op.module):
        return 1.0 / tp
    return 1.0


#: aten ops by which a recorded op contains a dropout: eager CUDA's ``native_dropout``, or the decomposition the
#: meta device records (``bernoulli_`` into a mask, then ``div_`` and ``mul``)
DROPOUT_ATEN_OPS: tuple[str, ...] = ("aten.native_dropout.default", "aten.bernoulli_.float")


def is_dropout(op: OpNode) -> bool:
    """Whether forward op ``op`` (a fused region or a single aten op) draws a dropout mask."""
    aten = op.attrs.get("aten_ops") or {}
    return op.phase == "forward" and any(k in aten for k in DROPOUT_ATEN_OPS)


def dropout_mask_bytes(op: OpNode) -> float:
    """Bytes of the mask dropout op ``op`` keeps for backward: one per element of its output (B). PyTorch's
    ``native_dropout`` returns a ``bool`` mask, which ``native_dropout_backward`` reads (the meta device's
    decomposition records it in the input's dtype); fused attention kernels regenerate theirs and keep none."""
    return float(op.outputs[0].numel) if op.outputs else 0.0


def _saved_bytes(graph: LayerGraph, fp8: bool = False, dead: set[str] | None = None) -> dict[str, tuple[float, float]]:
    """Per forward op, (bytes of its outputs that backward reads, bytes of its inputs it keeps itself): the
    largest edge into a backward op, except for fused attention (module docstring). ``fp8``: a 16-bit tensor that a
    backward GEMM reads (a weight-gradient operand) is kept as its fp8 copy, half the bytes: Transformer Engine's
    ``Linear`` / ``LayerNormLinear`` save the fp8 transpose ``inputmat_t`` instead of the 16-bit input, and the
    norm and activation kernels before them keep their own inputs, not these outputs (the eager trace's backward
    edges from a norm's or activation's output are the decomposed autograd's, not Transformer Engine's). Backward ops
    in ``dead`` (:func:`frozen_weight_ops`) read nothing: with frozen weights a GEMM's input is kept only where another
    backward op reads it (the trace's edges from a norm's output into its own backward, which stand for the input the
    norm's kernel keeps, stay: the same bytes). A dropout (:func:`is_dropout`) keeps its mask for its own backward,
    one byte an element (:func:`dropout_mask_bytes`), besides whatever other backward ops read of its output: the
    traced backward reads the decomposed mask through the fused region's output, which the largest-edge rule would
    otherwise count once for both (Korthikanti et al. 2022, Sec. 4.1: the ``a s^2 b`` attention-dropout mask and the
    two ``s b h`` hidden-dropout masks of a block's ``34 s b h + 5 a s^2 b`` bytes)."""
    g = graph.graph
    dead = dead or set()
    saved: dict[str, tuple[float, float]] = {}
    gemm_operand: set[str] = set()
    masks: dict[str, float] = {}
    for u, v, data in g.edges(data=True):
        fwd, bwd = g.nodes[u]["op"], g.nodes[v]["op"]
        if fwd.phase == "forward" and bwd.phase == "backward" and bwd.kind != "attention" and fwd.kind != "attention":
            if bwd.kind == "matmul" and fwd.outputs and dtype_bytes(fwd.outputs[0].dtype) == 2:
                gemm_operand.add(u)  # Transformer Engine's module keeps it in fp8, read or not
            if v in dead:
                continue
            if is_dropout(fwd) and bwd.kind == "elementwise" and bwd.module == fwd.module:
                masks[u] = dropout_mask_bytes(fwd)  # its own backward reads the mask, not the output
                saved.setdefault(u, (0.0, 0.0))
                continue
            saved[u] = (max(saved.get(u, (0.0, 0.0))[0], float(data.get("bytes", 0.0))), 0.0)
    if fp8:
        saved = {u: (own / 2.0, inputs) if u in gemm_operand else (own, inputs) for u, (own, inputs) in saved.items()}
    for u, mask in masks.items():
        own, inputs = saved[u]
        saved[u] = (own + mask, inputs)
    for name in g.nodes:
        op = g.nodes[name]["op"]
        if op.phase == "forward" and op.kind == "attention":
            saved[name] = (float(op.output_bytes) + _lse_bytes(op), float(op.input_bytes))
    return saved


def context_parallel_kernels(attention: OpNode, cp: int) -> tuple[list[OpNode], list[OpNode]]:
    """(forward, backward) bookkeeping kernels of Transformer Engine's ring attention on one context-parallel rank,
    around the per-step attention kernels of the forward attention op ``attention`` (its inputs q, k, v: one rank's
    ``seq_len / cp`` tokens, two load-balanced causal chunks), per block and microbatch. Transformer Engine 1.x
    ``AttnFuncWithCP`` (``transformer_engine/pytorch/attention.py`` @v1.7, what Megatron-Core's
    ``--context-parallel-size`` runs) takes ``cp`` steps, one per K/V chunk of the ring:

    * forward: K and V concatenated into the ring's first buffer (``torch.cat``); the output zeroed; in each step
      after the first a ``.contiguous()`` copy of the half the step reads (half of q where the K/V come from a later
      rank, half of K/V where from an earlier one); per step the output correction
      (``flash_attn_fwd_out_correction``: the step's output times ``exp(lse_step - lse)`` added into the running
      output: read both, write one);
    * backward: K/V copied into the first buffer; in each step after the first the half copies (q, out and dout
      where q is halved, K/V otherwise); per step dq accumulated (``dq.add_``; the first step copies, ``copy_``), dk
      and dv concatenated (``torch.cat``) and added into the running dkv (``dkv.add_``; the first step copies).

    A step after the first touches half of q or half of K/V depending on the rank; over the ``cp`` ranks and steps
    1..cp-1 each half is taken equally often, so those steps are priced at their rank average: 3/4 of q's and of
    K/V's bytes, half a q-half copy and half a K/V-half copy. The softmax statistics (one value per query and head)
    are left out. ``([], [])`` for ``cp`` 1."""
    if cp < 2:
        return [], []
    q, k, v = attention.inputs[:3]
    nq, nkv = q.numel, k.numel + v.numel

    def t(n: float) -> TensorInfo:
        return TensorInfo.of((max(1, int(round(n))),), q.dtype)

    def op(tag: str, kind: str, phase: str, inputs: list[float], output: float) -> OpNode:
        return OpNode(f"{attention.name}/cp_{tag}", kind, inputs=[t(n) for n in inputs], outputs=[t(output)],
                      dtype=q.dtype, phase=phase, module=attention.module)

    later = 0.75  # the rank-averaged share of q (and of K/V) a step after the first touches
    fwd = [op("kv_cat", "data_movement", "forward", [k.numel, v.numel], nkv),
           op("out_zero", "elementwise", "forward", [], nq),
           op("out_correction_0", "elementwise", "forward", [nq, nq], nq)]
    bwd = [op("kv_copy", "data_movement", "backward", [nkv], nkv),
           op("dq_0", "data_movement", "backward", [nq], nq),
           op("dkv_cat_0", "data_movement", "backward", [nkv / 2, nkv / 2], nkv),
           op("dkv_0", "data_movement", "backward", [nkv], nkv)]
    for i in range(1, cp):
        fwd += [op(f"half_copy_{i}", "data_movement", "forward", [(nq + nkv) / 4], (nq + nkv) / 4),
                op(f"out_correction_{i}", "elementwise", "forward", [later * nq, later * nq], later * nq)]
        bwd += [op(f"half_copy_{i}", "data_movement", "backward", [(3 * nq + nkv) / 4], (3 * nq + nkv) / 4),
                op(f"dq_{i}", "elementwise", "backward", [later * nq, later * nq], later * nq),
                op(f"dkv_cat_{i}", "data_movement", "backward", [later * nkv / 2, later * nkv / 2], later * nkv),
                op(f"dkv_{i}", "elementwise", "backward", [later * nkv, later * nkv], later * nkv)]
    return fwd, bwd


def frozen_weight_ops(graph: LayerGraph) -> set[str]:
    """Names of ``graph``'s backward ops that frozen weights make dead: the ops that end in a parameter's gradient
    (terminal backward ops of kind ``matmul`` on one matrix -- :func:`weight_gradient_gemms` --, ``reduce`` -- a
    bias's gradient -- or ``embedding`` -- an embedding table's), then every backward op all of whose consumers are
    dead (the embedding's whole backward: nothing before it needs a gradient). A norm's backward, which gives its
    input's gradient and its weight's in one kernel, stays."""
    g = graph.graph
    dead = set(weight_gradient_gemms(graph))
    for name in g.nodes:
        op: OpNode = g.nodes[name]["op"]
        if op.phase == "backward" and op.kind in ("reduce", "embedding") and g.out_degree(name) == 0:
            dead.add(name)
    for name in reversed(list(nx.topological_sort(g))):  # consumers before producers: one pass settles it
        if (name not in dead and g.nodes[name]["op"].phase == "backward" and g.out_degree(name) > 0
                and all(v in dead for v in g.successors(name))):
            dead.add(name)
    return dead


def lora_adapter_kernels(base: list[OpNode], rank: int) -> tuple[list[OpNode], list[OpNode], int]:
    """(forward kernels, backward kernels, parameters) of one LoRA adapter (Hu et al. 2021, "LoRA: Low-Rank
    Adaptation of Large Language Models") beside the frozen forward GEMMs ``base`` of one :data:`GEMM_GROUPS` group,
    which share their input (``M x K``; q, k and v take one adapter on the fused QKV weight, as NeMo's
    ``attention_qkv`` does): ``y += (x A) B``, ``A``: ``K x rank``, ``B``: ``rank x N`` with ``N`` the group's summed
    output width. Forward: the down GEMM, the up GEMM and the add into the base output. Backward: ``B``'s input- and
    weight-gradient GEMMs, ``A``'s, and the add of the adapter's input gradient into the base's. In the compute
    dtype (bf16 under FP8 training: Transformer Engine's FP8 covers its own modules, not the adapters). Per
    tensor-parallel rank, with the base GEMMs' per-rank ``K`` and ``N``; a row-parallel adapter's all-reduce of its
    ``M x rank`` activation is left out (``rank`` columns: negligible next to the block's collectives)."""
    shapes = [GemmShape.of(op) for op in base]
    m, k = shapes[0].batch * shapes[0].M, shapes[0].K
    n = sum(g.N for g in shapes)
    dt = base[0].dtype if base[0].dtype != "fp8" else "bf16"
    name, module = base[0].name.rsplit("/", 1)[0], base[0].module.rsplit(".", 1)[0]

    def gemm(tag: str, phase: str, mm: int, nn: int, kk: int, weight: bool) -> OpNode:
        ins = [TensorInfo.of((mm, kk), dt)] + ([] if weight else [TensorInfo.of((kk, nn), dt)])
        ws = [TensorInfo.of((kk, nn), dt)] if weight else []
        return OpNode(f"{name}/lora_{tag}", "matmul", inputs=ins, weights=ws, outputs=[TensorInfo.of((mm, nn), dt)],
                      flops=2.0 * mm * nn * kk, macs=float(mm * nn * kk), dtype=dt, phase=phase, module=module,
                      attrs={"M": mm, "N": nn, "K": kk})

    def add(tag: str, phase: str, rows: int, cols: int) -> OpNode:
        t = TensorInfo.of((rows, cols), dt)
        return OpNode(f"{name}/lora_{tag}", "elementwise", inputs=[t, t], outputs=[t], dtype=dt, phase=phase,
                      module=module)

    fwd = [gemm("down", "forward", m, rank, k, True), gemm("up", "forward", m, n, rank, True),
           add("add", "forward", m, n)]
    bwd = [gemm("up_dgrad", "backward", m, rank, n, True), gemm("up_wgrad", "backward", rank, n, m, False),
           gemm("down_dgrad", "backward", m, k, rank, True), gemm("down_wgrad", "backward", k, rank, m, False),
           add("dgrad_add", "backward", m, k)]
    return fwd, bwd, rank * (k + n)


def weight_gradient_gemms(graph: LayerGraph) -> set[str]:
    """Names of ``graph``'s weight-gradient GEMMs: backward matmuls of one matrix (batch 1) whose output no op reads
    (the parameter's gradient; an input gradient always feeds the next backward op)."""
    g = graph.graph
    out: set[str] = set()
    for name in g.nodes:
        op: OpNode = g.nodes[name]["op"]
        if op.kind == "matmul" and op.phase == "backward" and g.out_degree(name) == 0 and GemmShape.of(op).batch == 1:
            out.add(name)
    return out


def accumulating_into_fp32(op: OpNode) -> OpNode:
    """Weight-gradient GEMM ``op`` accumulating into an fp32 main gradient (Megatron-LM's
    ``--gradient-accumulation-fusion``, on by default: ``fused_weight_gradient_mlp_cuda.wgrad_gemm_accum_fp32``;
    Transformer Engine's ``fuse_wgrad_accumulation``, which Megatron-Core and NeMo set): ``D = A B + C`` with ``C = D``
    the parameter's fp32 ``main_grad``, so the epilogue reads and writes 4 bytes per gradient element where a plain
    GEMM writes one 16-bit gradient."""
    g = GemmShape.of(op)
    main = TensorInfo.of(op.outputs[0].shape if op.outputs else (g.M, g.N), "fp32")
    return dataclasses.replace(op, inputs=list(op.inputs) + [main], outputs=[main], attrs=dict(op.attrs))


def _fp8_kernels(graph: LayerGraph, wgrad: set[str], dead: set[str], trained: bool, tp: int,
                 sequence_parallel: bool) -> dict[str, list[OpNode]]:
    """:func:`accel.train.fp8.fp8_plan` of ``graph``, whose linear layers' GEMMs are those of a :data:`GEMM_GROUPS`
    group (row-parallel: :data:`ROW_PARALLEL_GROUPS`)."""
    groups = {n: gemm_group(graph.graph.nodes[n]["op"]) for n in graph.graph.nodes}
    return fp8_plan(graph, {n for n, grp in groups.items() if grp}, wgrad,
                    {n for n, grp in groups.items() if grp in ROW_PARALLEL_GROUPS}, dead, trained, tp, sequence_parallel)


def price_piece(graph: LayerGraph, model: CostModel, input_bytes: float, param_count: float, recompute: str,
                tp: int = 1, sequence_parallel: bool = False, fp8: bool = False, cp: int = 1,
                fp32_grad_accumulation: bool = False, lora_rank: int = 0,
                lora_targets: tuple[str, ...] = ()) -> PieceCost:
    """Price ``graph`` (one piece's forward + backward ops) on ``model`` (module docstring). ``input_bytes``:
    the piece's input activation (B) on one rank before sequence-parallel splitting. ``fp8``: FP8 training
    (:func:`accel.train.fp8.fp8_plan`). ``cp`` > 1: the graph holds one
    context-parallel rank's ``seq_len / cp`` tokens; its attention core attends over all ``seq_len`` keys
    (load-balanced causal chunks: ``cp`` times the traced ``(s/cp)^2`` work), so those ops cost ``cp`` times more,
    and Transformer Engine's ring bookkeeping (:func:`context_parallel_kernels`) joins the core's forward and
    backward.
    ``fp32_grad_accumulation``: the weight-gradient GEMMs accumulate into fp32 main gradients
    (:func:`accumulating_into_fp32`). ``lora_rank`` > 0: LoRA fine-tuning -- the piece's weights are frozen, so the
    backward skips what only their gradients need (:func:`frozen_weight_ops`) and the forward keeps no activation
    for it, and each group of ``lora_targets`` gets an adapter of that rank (:func:`lora_adapter_kernels`); the
    returned ``param_count`` is then the adapters' and ``frozen_params`` the given ``param_count``."""
    rule = issue_rule(model)
    dev = {"forward": 0.0, "backward": 0.0, "core": 0.0, "core_bwd": 0.0}
    gemm_dev = {"forward": 0.0, "backward": 0.0, "core": 0.0}
    attn_dev = {"forward": 0.0, "backward": 0.0}
    issue = {"forward": 0.0, "backward": 0.0}
    flops = {"forward": 0.0, "backward": 0.0, "core": 0.0}
    dead = frozen_weight_ops(graph) if lora_rank > 0 else set()
    saved_by_op = _saved_bytes(graph, fp8=fp8, dead=dead)
    kept = input_bytes * (1.0 / tp if sequence_parallel else 1.0)
    saved = {"all": kept, "core": 0.0}
    timed: dict[str, tuple[float, float, float]] = {}  # op -> (time, GEMM time, scale)
    gemm_s: dict[str, float] = {}
    kv_bytes = 0.0
    attention: OpNode | None = None  # the attention core's forward kernel (context_parallel_kernels)
    wgrad = weight_gradient_gemms(graph)
    accumulate = wgrad if fp32_grad_accumulation else set()
    plan = _fp8_kernels(graph, wgrad, dead, lora_rank == 0, tp, sequence_parallel) if fp8 else {}
    adapted: dict[str, list[OpNode]] = {}  # LoRA target group -> its frozen forward GEMMs
    for name in graph.graph.nodes:
        op: OpNode = graph.graph.nodes[name]["op"]
        if op.phase not in issue or name in dead:
            continue
        group = gemm_group(op)
        if lora_rank > 0 and group in lora_targets and op.phase == "forward":
            adapted.setdefault(group, []).append(op)
        f = _sp_scale(op, tp, sequence_parallel)
        if cp > 1 and op.module.startswith(CORE_ATTENTION):
            if op.attrs.get("documents"):
                raise LayoutError("--document-len", "packed documents are not combined with --cp > 1 here")
            f *= cp
        kernels = list(plan.get(name, [op]))
        if name in accumulate:
            kernels[-1] = accumulating_into_fp32(kernels[-1])
        times = [model.cost(k).time_s * f for k in kernels]
        t = sum(times) + rule.host_paced_s(op)  # the device idles after the host syncs before it
        dev[op.phase] += t
        t_gemm = sum(tk for k, tk in zip(kernels, times) if k.kind == "matmul")
        gemm_dev[op.phase] += t_gemm
        if op.kind == "attention":
            attn_dev[op.phase] += t
        if group and op.phase == "forward":
            gemm_s[group] = gemm_s.get(group, 0.0) + t
        issue[op.phase] += sum(rule.time(k) for k in kernels)
        flops[op.phase] += op.flops * f
        own, inputs = saved_by_op.get(name, (0.0, 0.0))
        saved["all"] += (own + inputs) * f
        timed[name] = (t, t_gemm, f)
        if op.phase == "backward" and op.module.startswith(CORE_ATTENTION):
            dev["core_bwd"] += t
        if op.phase == "forward" and op.module.startswith(CORE_ATTENTION):
            if op.kind == "attention" and len(op.inputs) >= 3:
                kv_bytes = float(op.inputs[1].bytes + op.inputs[2].bytes)
                attention = op
            dev["core"] += t
            gemm_dev["core"] += t_gemm
            flops["core"] += op.flops * f
            saved["core"] += own * f
    def charge(kernels: list[OpNode], phase: str, core: str | None = None) -> None:
        """Add kernels the trace does not hold (ring bookkeeping, LoRA adapters) to ``phase``'s times and FLOPs;
        ``core``: also to the attention core's."""
        for k in kernels:
            t_k = model.cost(k).time_s
            dev[phase] += t_k
            gemm_dev[phase] += t_k if k.kind == "matmul" else 0.0
            issue[phase] += rule.time(k)
            flops[phase] += k.flops
            if core:
                dev[core] += t_k

    if cp > 1 and attention is not None:  # Transformer Engine's ring-attention bookkeeping (context_parallel_kernels)
        cp_fwd, cp_bwd = context_parallel_kernels(attention, cp)
        charge(cp_fwd, "forward", "core")
        charge(cp_bwd, "backward", "core_bwd")
    adapter_params = 0
    for base in adapted.values():  # LoRA adapters (lora_adapter_kernels), outside the attention core
        fwd_k, bwd_k, n_params = lora_adapter_kernels(base, lora_rank)
        adapter_params += n_params
        charge(fwd_k, "forward")
        charge(bwd_k, "backward")
    param_count, frozen = (float(adapter_params), param_count) if lora_rank > 0 else (param_count, 0.0)
    fwd = max(dev["forward"], issue["forward"])
    bwd = max(dev["backward"], issue["backward"])
    working = working_set_bytes(graph, saved_by_op, tp, sequence_parallel, dead)
    by_kernel = {"forward_gemm_s": gemm_dev["forward"], "backward_gemm_s": gemm_dev["backward"],
                 "forward_attention_s": attn_dev["forward"], "backward_attention_s": attn_dev["backward"]}
    if recompute == "full":
        return PieceCost(fwd, bwd, fwd, flops["forward"], flops["backward"], flops["forward"], kept, input_bytes,
                         param_count, gemm_s, dev["core"], dev["core_bwd"], kv_bytes, **by_kernel,
                         recompute_gemm_s=gemm_dev["forward"], recompute_attention_s=attn_dev["forward"],
                         frozen_params=frozen, working_bytes=working)
    if recompute == "selective":  # the core's attention kernel is all the forward's (one core per block)
        kept_inputs = _core_inputs_unsaved(graph, saved_by_op, tp, sequence_parallel)
        return PieceCost(fwd, bwd, dev["core"], flops["forward"], flops["backward"], flops["core"],
                         saved["all"] - saved["core"] + kept_inputs, input_bytes, param_count, gemm_s, dev["core"], dev["core_bwd"],
                         kv_bytes, **by_kernel, recompute_gemm_s=gemm_dev["core"], recompute_attention_s=attn_dev["forward"],
                         frozen_params=frozen, working_bytes=working)
    if recompute == "op":
        rerun_s, rerun_gemm_s, rerun_flops, kept_op = _op_checkpoint_terms(graph, timed)
        return PieceCost(fwd, bwd, rerun_s, flops["forward"], flops["backward"], rerun_flops, kept + kept_op,
                         input_bytes, param_count, gemm_s, dev["core"], dev["core_bwd"], kv_bytes, **by_kernel,
                         recompute_gemm_s=rerun_gemm_s, frozen_params=frozen, working_bytes=working)
    return PieceCost(fwd, bwd, 0.0, flops["forward"], flops["backward"], 0.0, saved["all"], input_bytes,
                     param_count, gemm_s, dev["core"], dev["core_bwd"], kv_bytes, **by_kernel, frozen_params=frozen,
                     working_bytes=working)


def op_checkpoint_saved(graph: LayerGraph) -> set[str]:
    """The forward ops whose outputs torchtitan's per-op selective activation checkpointing keeps (``--recompute
    op``); backward re-runs every other forward op of the block. torchtitan's ``_apply_ac_to_transformer_block``
    (``selective_ac_option = 'op'``, the default of its Llama configs; torchtitan/parallelisms/parallelize_llama.py
    @9dec370) marks MUST_SAVE the ops of ``_save_list`` -- ``aten.mm``, the SDPA flash / efficient kernels,
    ``reduce_scatter_tensor``, ``abs`` / ``max`` -- "except every second mm": the block's 1st, 3rd, 5th ... matrix
    multiply in forward order (for Llama wq, wv, w1, w2 kept; wk, wo, w3 recomputed) and its fused attention. An
    unfused core's batched matmuls are ``aten.bmm``, not on the list: recomputed, and not counted."""
    g = graph.graph
    keep: set[str] = set()
    mm = 0
    for name in g.nodes:
        op: OpNode = g.nodes[name]["op"]
        if op.phase != "forward":
            continue
        if op.kind == "attention":
            keep.add(name)
        elif op.kind == "matmul" and not op.module.startswith(CORE_ATTENTION):
            mm += 1
            if mm % 2 == 1:
                keep.add(name)
    return keep


def _op_checkpoint_terms(graph: LayerGraph,
                         timed: dict[str, tuple[float, float, float]]) -> tuple[float, float, float, float]:
    """Under ``--recompute op`` (:func:`op_checkpoint_saved`): (recomputed time, its GEMM time (s), recomputed FLOPs,
    bytes the kept ops' outputs hold (B)) from ``timed``: each priced op's (time, GEMM time, scale)."""
    keep = op_checkpoint_saved(graph)
    time_s = gemm_s = flops = kept = 0.0
    for name, (t, t_gemm, f) in timed.items():
        op: OpNode = graph.graph.nodes[name]["op"]
        if op.phase != "forward":
            continue
        if name in keep:
            kept += (float(op.output_bytes) + (_lse_bytes(op) if op.kind == "attention" else 0.0)) * f
        else:
            time_s, gemm_s, flops = time_s + t, gemm_s + t_gemm, flops + op.flops * f
    return time_s, gemm_s, flops, kept


def _lse_bytes(op: OpNode) -> float:
    """The fp32 row log-sum-exp a fused attention kernel keeps besides its output (B): one per query row and head."""
    q = op.inputs[0] if op.inputs else None
    return q.numel / q.shape[-1] * 4.0 if q is not None and q.shape else 0.0


def _core_inputs_unsaved(graph: LayerGraph, saved_by_op: dict[str, tuple[float, float]], tp: int,
                         sequence_parallel: bool) -> float:
    """Bytes (B) of the attention core's inputs that ``selective`` recomputation keeps (the core re-runs from them:
    q, k and v) but that no backward op outside the core reads, so the saved bytes of the other ops do not hold them:
    the outputs of forward ops outside :data:`CORE_ATTENTION` that feed the core, where the trace copies them into
    the core's layout first (an unfused core on a microbatch of several sequences) rather than the backward reading
    them straight from the projections. 0 for a fused core: its attention kernel's saved inputs are q, k and v
    (:func:`_saved_bytes`), which ``selective`` keeps."""
    g = graph.graph
    if any(g.nodes[n]["op"].kind == "attention" and g.nodes[n]["op"].phase == "forward"
           and g.nodes[n]["op"].module.startswith(CORE_ATTENTION) for n in g.nodes):
        return 0.0
    total = 0.0
    seen: set[str] = set()
    for u, v, data in g.edges(data=True):
        src, dst = g.nodes[u]["op"], g.nodes[v]["op"]
        if (src.phase == "forward" and dst.phase == "forward" and dst.module.startswith(CORE_ATTENTION)
                and not src.module.startswith(CORE_ATTENTION) and u not in saved_by_op and u not in seen):
            seen.add(u)
            total += float(data.get("bytes", 0.0)) * _sp_scale(src, tp, sequence_parallel)
    return total


def working_set_bytes(graph: LayerGraph, saved_by_op: dict[str, tuple[float, float]], tp: int = 1,
                      sequence_parallel: bool = False, dead: set[str] | None = None) -> float:
    """The piece's transient working set (B): the most tensor bytes live at once while its ops run in recorded
    order, less what its forward keeps for backward (``saved_by_op``, :func:`_saved_bytes`; counted apart as
    activations). A tensor lives from the op that writes it to the last op that reads it (its largest edge; a
    fused attention's output and log-sum-exp, not the meta trace's score matrix); backward ops in ``dead`` read
    nothing; ops marked :data:`accel.graph.AFTER_BACKWARD` (Composer's train metrics)
    run when the step's activations are gone and are left out. The LM head's is the large one: under
    ``--cross-entropy torch`` the 16-bit logits, their fp32 copy and the log-softmax's output live together, then
    the fp32 gradients (Llama 3's 128K vocabulary at 16K tokens: about 17 GB beyond the saved log-softmax output)."""
    g = graph.graph
    dead = dead or set()
    order = {n: i for i, n in enumerate(g.nodes)}
    last: dict[str, int] = {}
    size: dict[str, float] = {}
    for u, v, data in g.edges(data=True):
        op: OpNode = g.nodes[u]["op"]
        if v in dead or op.attrs.get(AFTER_BACKWARD) or g.nodes[v]["op"].attrs.get(AFTER_BACKWARD):
            continue
        b = (float(op.output_bytes) + _lse_bytes(op)) if op.kind == "attention" else float(data.get("bytes", 0.0))
        last[u] = max(last.get(u, -1), order[v])
        size[u] = max(size.get(u, 0.0), b * _sp_scale(op, tp, sequence_parallel))
    delta = [0.0] * (len(order) + 1)
    for u, b in size.items():
        delta[order[u]] += b
        delta[last[u] + 1] -= b
    live = peak = 0.0
    for d in delta:
        live += d
        peak = max(peak, live)
    kept = sum((own + inputs) * _sp_scale(g.nodes[n]["op"], tp, sequence_parallel)
               for n, (own, inputs) in saved_by_op.items())
    return max(0.0, peak - kept)


def full_saved_bytes(graph: LayerGraph, input_bytes: float, tp: int = 1, sequence_parallel: bool = False,
                     fp8: bool = False) -> float:
    """Activations one piece keeps without recomputation (B): under ``--recompute full`` the one block being
    recomputed holds these while its backward runs (``fp8``: GEMM operands kept in fp8, :func:`_saved_bytes`)."""
    total = input_bytes * (1.0 / tp if sequence_parallel else 1.0)
    for name, (own, inputs) in _saved_bytes(graph, fp8).items():
        total += (own + inputs) * _sp_scale(graph.graph.nodes[name]["op"], tp, sequence_parallel)
    return total
