"""The kernels a decoder block runs under FP8 training: Transformer Engine's recipe in the modules Megatron-Core's
Transformer Engine layer spec builds a block from.

Micikevicius et al. 2022, "FP8 Formats for Deep Learning": every GEMM of the bf16-traced graph runs in fp8
(E4M3 / E5M2 inputs, bf16 output) at the fp8 tensor peak; attention, norms and elementwise ops stay bf16. The
backward's GEMMs (dgrad, wgrad) run with a split accumulator, promoting their partial sums to fp32 every few K
steps (``attrs["split_accumulator"]``: ``_2X_ACC_DGRAD = _2X_ACC_WGRAD = True``, ``_2X_ACC_FPROP = False``,
``transformer_engine/pytorch/module/base.py``; priced by the GPU model's ``fp8_promotion_k``).

What quantizes each GEMM's operands (Transformer Engine v1.7, ``transformer_engine/pytorch/module/``; Megatron-Core's
``get_gpt_layer_with_transformer_engine_spec``: ``TELayerNormColumnParallelLinear`` for QKV and FC1,
``TERowParallelLinear`` for the projection and FC2), one kernel per quantized tensor, not per GEMM (the trace's
q, k and v -- or gate and up -- projections read one tensor, which Megatron-Core's fused QKV / FC1 GEMM reads once):

* a norm whose output only forward GEMMs read is a ``LayerNormLinear``'s: the norm kernel writes that output in
  fp8 (``_apply_normalization(..., fp8_out=fp8)``: ``layernorm_fwd_fp8`` / ``rmsnorm_fwd_fp8``), and no cast runs;
  the backward transposes the fp8 copy for the weight-gradient GEMM (``tex.fp8_transpose(ln_out_total)``: read
  and write one byte an element) where the weights train;
* any other forward GEMM input (the attention output before the projection, the activation before FC2) is cast
  by ``_Linear.forward``: ``fp8_cast_transpose_fused`` (read 2 bytes, write the fp8 tensor and its fp8 transpose:
  4 bytes moved an element) where the weights train and the module is not sequence-parallel; under sequence
  parallelism a plain cast (3 bytes) and, in the backward, ``tex.fp8_transpose`` of it (2 bytes); a plain cast for
  frozen weights (``is_grad_enabled and weight.requires_grad`` false: no weight gradient reads a transpose);
* every input-gradient (dgrad) GEMM's output-gradient operand is cast once (``grad_output_preprocess``):
  ``fp8_cast_transpose_fused`` where the weights train (the transpose is the weight-gradient GEMM's operand), a
  plain cast for frozen weights; the output gradient of a row-parallel GEMM (projection, FC2) under sequence
  parallelism is cast on the rank's ``1 / tp`` of the tokens, gathered in fp8 and transposed whole (``FP8 case with
  gather``);
* weight-gradient (wgrad) GEMMs read those transposes and cast nothing.

A GEMM is told apart by the graph's structure (:func:`accel.train.costs.weight_gradient_gemms`), not its shape: a
microbatch of as many tokens as the hidden size gives input- and weight-gradient GEMMs the same ``M, N, K``.

The weights: each linear layer keeps persistent fp8 copies of its weight and of the weight's transpose (the dgrad
GEMM's operand) beside the 16-bit weight (``weight1_fp8`` / ``weight1_t_fp8``,
``TransformerEngineBaseModule.get_fp8_weights_scratchpad`` @v1.7), :data:`FP8_WEIGHT_CACHE_BYTES`, refreshed by one
``fp8_cast_transpose_fused`` a step, in the first microbatch's forward (``is_first_microbatch``, which
Megatron-Core's ``forward_step`` sets for the step's first microbatch: ``set_is_first_microbatch``), for frozen
weights too (the dgrad GEMM reads the transpose): :func:`fp8_weight_casts`. Under ZeRO-3 / FSDP, whose weights are
gathered for each use and freed after, no copy is kept: the cast follows each microbatch's gather (torchao's
float8 casts the weights it is handed every microbatch, too). The LM head and the embedding are not Transformer
Engine modules and stay 16-bit.
"""

from __future__ import annotations

import dataclasses
import math

import networkx as nx

from accel.graph import GemmShape, LayerGraph, OpNode, TensorInfo


#: bytes per linear-layer weight of its persistent fp8 copy and fp8 transpose (module docstring)
FP8_WEIGHT_CACHE_BYTES = 2.0
#: bytes per linear-layer weight the data-parallel group gathers with fp8 weights (``--fp8-param-gather``)
FP8_GATHER_BYTES = 1.0


def fp8_weight_casts(params: float) -> list[OpNode]:
    """The step's refresh of the fp8 weight copies of ``params`` linear-layer weights (module docstring): one
    streaming cast-transpose reading the 16-bit weights and writing both fp8 copies (4 bytes moved per weight)."""
    if params <= 0:
        return []
    n = int(params)
    return [OpNode("fp8/weight_cast_transpose", "elementwise", inputs=[TensorInfo.of((n,), "bf16")],
                   outputs=[TensorInfo.of((n,), "fp8"), TensorInfo.of((n,), "fp8")], dtype="bf16", phase="forward")]


def fp8_gemm(op: OpNode) -> OpNode:
    """GEMM ``op`` with fp8 operands: every input of two or more dimensions in fp8 (the output stays 16-bit); a
    backward GEMM with a split accumulator (module docstring)."""
    attrs = dict(op.attrs)
    if op.phase == "backward":
        attrs["split_accumulator"] = True
    inputs = [TensorInfo.of(t.shape, "fp8") if len(t.shape) > 1 else t for t in op.inputs]
    return dataclasses.replace(op, dtype="fp8", inputs=inputs, attrs=attrs)


def fp8_cast(name: str, shape: tuple[int, ...], phase: str, module: str, transpose: bool) -> OpNode:
    """A cast of a bf16 ``shape`` tensor to fp8 (read 2 bytes an element, write 1), with ``transpose`` also its fp8
    transpose (write 1 more): ``cast_to_fp8`` / ``fp8_cast_transpose_fused``."""
    outputs = [TensorInfo.of(shape, "fp8")] + ([TensorInfo.of(shape[::-1], "fp8")] if transpose else [])
    return OpNode(f"{name}/fp8_cast{'_transpose' if transpose else ''}", "elementwise",
                  inputs=[TensorInfo.of(shape, "bf16")], outputs=outputs, dtype="bf16", phase=phase, module=module)


def fp8_transpose(name: str, shape: tuple[int, ...], phase: str, module: str) -> OpNode:
    """The transpose of an fp8 ``shape`` tensor (read and write 1 byte an element): ``tex.fp8_transpose``."""
    return OpNode(f"{name}/fp8_transpose", "data_movement", inputs=[TensorInfo.of(shape, "fp8")],
                  outputs=[TensorInfo.of(shape[::-1], "fp8")], dtype="fp8", phase=phase, module=module)


def _operand_shape(op: OpNode) -> tuple[int, int]:
    """The ``M x K`` operand of GEMM ``op`` (the activation or output gradient it quantizes), batches stacked."""
    g = GemmShape.of(op)
    return (g.batch * g.M, g.K)


def _fp8_norm(op: OpNode) -> OpNode:
    """Norm ``op`` writing its normalized output in fp8 (its statistics stay as they are)."""
    out = [TensorInfo.of(op.outputs[0].shape, "fp8")] + list(op.outputs[1:])
    return dataclasses.replace(op, outputs=out)


def fp8_plan(graph: LayerGraph, linears: set[str], wgrad: set[str], row_parallel: set[str],
             dead: set[str] | None = None, trained: bool = True, tp: int = 1,
             sequence_parallel: bool = False) -> dict[str, list[OpNode]]:
    """Op name -> the kernels it runs under FP8 training, for the ops of ``graph`` FP8 changes (module docstring):
    each GEMM of a linear layer (``linears``: the projections' forward and backward GEMMs; an attention core's
    batched GEMMs stay bf16) in fp8 after the casts it needs, a norm whose forward readers are all such GEMMs writing
    fp8. ``wgrad``: the weight-gradient GEMMs (:func:`accel.train.costs.weight_gradient_gemms`); ``row_parallel``:
    the GEMMs of row-parallel layers; ``dead``: backward ops frozen weights skip; ``trained`` False: frozen weights
    (LoRA), casts without transposes; ``sequence_parallel`` with ``tp`` > 1: Megatron's sequence parallelism."""
    g = graph.graph
    dead = dead or set()
    sp = sequence_parallel and tp > 1
    plan: dict[str, list[OpNode]] = {}
    fp8_norms: set[str] = set()  # norms that write their output in fp8 (LayerNormLinear)
    cast_forward: set[str] = set()  # producers of forward GEMM inputs already cast
    transposed: set[str] = set()  # forward producers whose fp8 copy the backward has transposed
    for name in nx.topological_sort(g):
        op: OpNode = g.nodes[name]["op"]
        if op.phase == "forward" and op.kind == "norm":
            readers = [v for v in g.successors(name) if g.nodes[v]["op"].phase == "forward"]
            if readers and all(v in linears for v in readers):
                fp8_norms.add(name)
                plan[name] = [_fp8_norm(op)]
            continue
        if name not in linears or name in dead:
            continue
        gemm = fp8_gemm(op)
        if op.phase == "forward":
            producers = [p for p in g.predecessors(name) if g.nodes[p]["op"].phase == "forward"]
            key = producers[0] if producers else name
            kernels: list[OpNode] = []
            if key not in fp8_norms and key not in cast_forward:
                cast_forward.add(key)
                kernels.append(fp8_cast(name, _operand_shape(op), "forward", op.module, trained and not sp))
            plan[name] = kernels + [gemm]
        elif name in wgrad:
            kernels = []
            for p in g.predecessors(name):
                pop: OpNode = g.nodes[p]["op"]
                if pop.phase != "forward" or p in transposed:
                    continue
                if p in fp8_norms or (sp and p in cast_forward):  # the forward kept fp8 without its transpose
                    transposed.add(p)
                    shape = GemmShape.of(op)  # the layer's input, tokens x in-features, is this GEMM's K x N
                    kernels.append(fp8_transpose(name, (shape.K, shape.N), "backward", op.module))
            plan[name] = kernels + [gemm]
        else:  # an input-gradient GEMM: cast its output gradient
            m, k = _operand_shape(op)
            if sp and name in row_parallel:  # cast the rank's share, gather in fp8, transpose whole
                kernels = [fp8_cast(name, (math.ceil(m / tp), k), "backward", op.module, False)]
                if trained:
                    kernels.append(fp8_transpose(name, (m, k), "backward", op.module))
            else:
                kernels = [fp8_cast(name, (m, k), "backward", op.module, trained)]
            plan[name] = kernels + [gemm]
    return plan

