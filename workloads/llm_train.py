"""Training graphs of one tensor-parallel rank of a decoder-only LLM, for the cluster-training simulator
(:mod:`accel.train`).

A 100-billion-parameter model is never traced whole. Three small graphs are traced, each for ONE
microbatch on ONE tensor-parallel rank, forward + backward (the optimizer step is priced by
:mod:`accel.train` from the parameter count, as Megatron's fused Adam runs over flat buffers):

* ``block``: one decoder block (:class:`workloads.llm.Block`, attention core in submodule
  ``self_attn.core``) with its Megatron shard: ``heads / tp``
  query heads, ``kv_heads / tp`` key/value heads (replicated when ``kv_heads < tp``), ``ffn / tp`` MLP width;
  the column-parallel q/k/v, gate/up (fc_in) and the row-parallel o_proj, down (fc_out) GEMMs are
  exactly the rank's share (Shoeybi et al. 2019, Megatron-LM, Sec. 3). Norms and residual adds run on the
  full hidden state (sequence parallelism is applied by the simulator to those ops);
* ``embed``: the vocab-parallel token embedding (``vocab / tp`` rows; plus learned positions) of the first
  pipeline stage;
* ``head``: the final norm, the vocab-parallel LM head (``vocab / tp`` columns) and the cross-entropy loss in
  fp32 over the rank's logits, of the last pipeline stage.

The attention core is ``flash`` (one fused kernel priced from its GEMMs and exponentials: Hopper-native kernels
such as cuDNN's fused attention under Transformer Engine), ``flash2`` (the same op run by the FlashAttention-2
kernel, ``attrs["kernel"] = "flash2"``: flash-attn 2.x and PyTorch's SDPA flash backend, which the GPU model
holds to its published utilisation, ``calibration.flash2_efficiency``), ``flash_triton`` (FlashAttention in
Triton: HazyResearch's pre-MLIR ``flash_attn_triton.py``, which llm-foundry's ``attn_impl: triton`` copies; priced
at a ratio of FlashAttention-2's speed, ``calibration.attention_efficiency.flash_triton``), ``flash2_varlen``
(FlashAttention-2's variable-length kernel inside flash-attn's unpad / pad gathers, as llm-foundry's
``attn_impl: flash`` runs it: :func:`unpadded_attention`) or ``unfused`` (Megatron-LM before
FlashAttention, as in Korthikanti et al. 2022: ``Q K^T`` batched GEMM, one fused scale-mask-softmax kernel,
dropout, ``P V`` batched GEMM). ``dropout`` > 0 adds
attention dropout (unfused only) and the hidden dropout of Megatron's fused bias-dropout-add after the
attention and MLP outputs (one elementwise kernel each). ``norm_kernel`` says which kernels run the LayerNorms
(:data:`accel.devices.gpu.NORM_KERNELS`): ``two_pass`` (PyTorch's, apex's non-persistent fused LayerNorm) or
``persistent`` (Megatron-LM's ``persist_layer_norm``, apex ``FastLayerNorm``; Transformer Engine's tuned kernels),
which exists only for the hidden sizes of :data:`PERSISTENT_NORM_HIDDEN_SIZES` (other widths fall back to two-pass).

Parameters and activations are in the training dtype (fp16 / bf16: Megatron's half-precision model
copy; fp32 master weights live in the optimizer). Ops of the scaffolding loss that drives ``backward()``
through the block are dropped; every remaining op has phase ``forward`` or ``backward``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from accel.devices.gpu import NORM_KERNEL_ATTR, NORM_KERNELS
from accel.graph import (AFTER_BACKWARD, ATTENTION_KERNELS, CROSS_ENTROPY_KERNELS, MEASURED_ATTENTION_KERNELS,
                         WRAPPED_ATTENTION_KERNELS, LayerGraph)
from workloads.llm import Attention, Block, _norm, pointwise_kernels
from workloads.llm_configs import LlmConfig
from workloads.recorder import fused_kernel

#: dtypes a training graph is traced in (the model copy the GEMMs read)
TRAIN_DTYPES: tuple[str, ...] = ("fp16", "bf16", "fp32")

#: hidden sizes a persistent LayerNorm kernel is built for; other widths run the two-pass kernel. Megatron-LM's list
#: (``megatron/model/fused_layer_norm.py`` ``persist_ln_hidden_sizes``, NVIDIA/Megatron-LM @a2fdcdf061, 2021-10-08:
#: "If the hidden size is not supported, fall back to the non-persistent kernel"); Transformer Engine registers its
#: tuned LayerNorm kernels for the same sizes and 768 (``ln_fwd_cuda_kernel.cu`` @d0067d0)
PERSISTENT_NORM_HIDDEN_SIZES: frozenset[int] = frozenset((
    768, 1024, 1536, 2048, 2304, 3072, 3840, 4096, 5120, 6144, 8192, 10240, 12288, 12800, 15360, 16384, 18432,
    20480, 24576, 25600, 30720, 32768, 40960, 49152, 65536))


#: aten prefix of LayerNorm's forward and backward ops (``native_layer_norm``, ``native_layer_norm_backward``)
LAYER_NORM_ATEN = "aten.native_layer_norm"


def mark_norm_kernel(graph: LayerGraph, norm_kernel: str) -> None:
    """Tag the LayerNorm ops of ``graph`` (``aten.native_layer_norm`` forward and backward) with ``norm_kernel``
    (module docstring) where a kernel of that family exists for their width (``persistent``:
    :data:`PERSISTENT_NORM_HIDDEN_SIZES`). RMSNorm is traced as one fused kernel already and is left as it is."""
    if norm_kernel == "two_pass":
        return
    for name in graph.graph.nodes:
        op = graph.graph.nodes[name]["op"]
        if (op.kind == "norm" and str(op.aten).startswith(LAYER_NORM_ATEN) and op.outputs
                and op.outputs[0].shape[-1] in PERSISTENT_NORM_HIDDEN_SIZES):
            op.attrs[NORM_KERNEL_ATTR] = norm_kernel


def shard_config(cfg: LlmConfig, tp: int) -> LlmConfig:
    """The per-rank block of ``cfg`` under ``tp``-way Megatron tensor parallelism: query heads and the MLP width
    split ``tp`` ways, key/value heads too when there are at least ``tp`` of them (else each rank keeps one
    group: GQA replicates K/V heads). ValueError naming ``--tp`` when heads or ffn do not split."""
    if tp < 1 or cfg.heads % tp or cfg.ffn % tp:
        raise ValueError(f"--tp: {tp} must divide heads ({cfg.heads}) and ffn ({cfg.ffn}) of {cfg.name}")
    if cfg.kv_heads >= tp and cfg.kv_heads % tp:
        raise ValueError(f"--tp: {tp} must divide kv_heads ({cfg.kv_heads}) of {cfg.name}")
    kv = cfg.kv_heads // tp if cfg.kv_heads >= tp else 1
    return dataclasses.replace(cfg, heads=cfg.heads // tp, kv_heads=kv, ffn=cfg.ffn // tp, head_dim=cfg.head_dim)


class CoreAttention(nn.Module):
    """``softmax(Q K^T / sqrt(d) + causal mask) V`` over a microbatch: flash (one kernel) or unfused."""

    def __init__(self, kernel: str, dropout: float):
        super().__init__()
        self.kernel, self.dropout = kernel, dropout

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, gqa: bool) -> torch.Tensor:
        if self.kernel == "flash2_varlen":
            return unpadded_attention(q, k, v, gqa)
        if self.kernel != "unfused":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        if gqa:
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2))
        probs = fused_kernel("softmax", lambda s: torch.softmax(s * (q.shape[-1] ** -0.5), dim=-1), scores)
        if self.dropout:
            probs = fused_kernel("elementwise", lambda p: F.dropout(p, self.dropout, training=True), probs)
        return torch.matmul(probs, v)


#: host synchronisations in one flash-attn ``bert_padding.unpad_input`` call (flash-attn 2.x, which llm-foundry's
#: ``flash_attn_fn`` @5e85bd6 calls for the query, the key and the value): ``torch.nonzero(attention_mask.flatten())``
#: reads its output size from the device, ``seqlens_in_batch.max().item()`` its value
UNPAD_HOST_SYNCS = 2
#: ops that call then issues to the drained device at the host's pace: ``max`` between the syncs, ``cumsum`` and
#: ``F.pad`` of ``cu_seqlens`` after them, and the ``index_first_axis`` gather
UNPAD_HOST_PACED_OPS = 4


def unpadded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, gqa: bool) -> torch.Tensor:
    """Causal attention through FlashAttention-2's variable-length entry point, as flash-attn's ``bert_padding``
    wraps it and llm-foundry's ``attn_impl: flash`` calls it (``llmfoundry/models/layers/attention.py``
    ``flash_attn_fn`` @5e85bd6: ``unpad_input`` of the query, the key and the value, ``flash_attn_varlen_func``,
    ``pad_input`` of the output). ``q``, ``k``, ``v``: ``(batch, heads, seq, head_dim)``.

    Unpadding gathers each tensor's token rows into a ``(tokens, heads x head_dim)`` buffer (``index_first_axis``:
    one gather kernel reading and writing every element; its backward zeroes a full-size gradient and scatters
    into it); padding zeroes a ``(batch x seq, heads x head_dim)`` buffer and scatters the output rows into it
    (``index_put_first_axis``; its backward gathers the rows back). A pretraining batch has no padding, so every
    token is kept and the shapes do not change: what the wrapper adds is those kernels' memory traffic, 4 full
    copies forward and 4 backward. Each ``unpad_input`` also waits for the device twice (``torch.nonzero``'s output
    size, ``seqlens_in_batch.max().item()``), then issues ``max``, ``cumsum``, ``pad`` and the gather to an empty queue:
    :func:`training_graphs` tags each unpad gather with :data:`UNPAD_HOST_SYNCS` and :data:`UNPAD_HOST_PACED_OPS`
    (:meth:`accel.sim.host.IssueRule.host_paced_s` prices the device's idle time)."""
    batch, heads, seq, head_dim = q.shape
    rows = torch.arange(batch * seq, device=q.device)

    def unpad(t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).reshape(batch * seq, t.shape[1] * head_dim).index_select(0, rows)

    def per_head(t: torch.Tensor, n: int) -> torch.Tensor:
        return t.view(batch, seq, n, head_dim).transpose(1, 2)

    o = F.scaled_dot_product_attention(per_head(unpad(q), heads), per_head(unpad(k), k.shape[1]),
                                       per_head(unpad(v), v.shape[1]), is_causal=True, enable_gqa=gqa)
    rows_out = o.transpose(1, 2).reshape(batch * seq, heads * head_dim)
    padded = torch.zeros(batch * seq, heads * head_dim, dtype=rows_out.dtype, device=rows_out.device)
    padded[rows] = rows_out
    return per_head(padded, heads)


class _TrainAttention(Attention):
    """:class:`workloads.llm.Attention` without a KV cache, its core in :class:`CoreAttention`."""

    def __init__(self, cfg: LlmConfig, kernel: str, dropout: float):
        super().__init__(cfg, 1, 0)
        self.core = CoreAttention(kernel, dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, start: int,
                use_cache: bool) -> torch.Tensor:
        c = self.cfg
        B, T, _ = x.shape
        q, k, v = self.qkv(x, cos, sin)
        o = self.core(q, k, v, c.kv_heads != c.heads)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, c.heads * c.head_dim))


class _TrainBlock(Block):
    """A :class:`workloads.llm.Block` with :class:`_TrainAttention` and optional hidden dropout."""

    def __init__(self, cfg: LlmConfig, kernel: str, dropout: float):
        super().__init__(cfg, 1, 0)
        self.self_attn = _TrainAttention(cfg, kernel, dropout)
        self.dropout = dropout

    def _drop(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        if not self.dropout:
            return residual + x
        return fused_kernel("elementwise", lambda a, r: r + F.dropout(a, self.dropout, training=True), x, residual)

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, start: int,
                use_cache: bool) -> torch.Tensor:
        y = self.input_layernorm(x)
        a = self.self_attn(y, cos, sin, start, use_cache)
        if self.parallel:
            return self._drop(a + self.mlp(y), x)
        x = self._drop(a, x)
        return self._drop(self.mlp(self.post_attention_layernorm(x)), x)


class _BlockStep(nn.Module):
    """One block over a microbatch's hidden state (rotary tables precomputed, no KV cache)."""

    def __init__(self, cfg: LlmConfig, seq_len: int, kernel: str = "flash", dropout: float = 0.0):
        super().__init__()
        self.block = _TrainBlock(cfg, kernel, dropout)
        self.rope = bool(cfg.rope)
        if self.rope:
            self.register_buffer("rope_cos", torch.ones(seq_len, cfg.rotary_dim), persistent=False)
            self.register_buffer("rope_sin", torch.zeros(seq_len, cfg.rotary_dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos = self.rope_cos if self.rope else None
        sin = self.rope_sin if self.rope else None
        return self.block(x, cos, sin, 0, False)


def block_module(cfg: LlmConfig, seq_len: int, attention: str = "flash", dropout: float = 0.0) -> nn.Module:
    """The module :func:`training_graphs` traces as its ``block`` piece: one decoder block of ``cfg`` (pass
    :func:`shard_config` of it for one tensor-parallel rank) over a ``(microbatch, seq_len, hidden)`` hidden state,
    attention core ``attention`` (:data:`ATTENTION_KERNELS`), dropout ``dropout``. Built on the current default
    device and dtype (``accel measure``'s ``llm_train`` section runs it on a real GPU). ValueError naming the flag
    for a bad ``--attention`` or ``--dropout``."""
    if attention not in ATTENTION_KERNELS:
        raise ValueError(f"--attention: unknown {attention!r}; allowed: {', '.join(ATTENTION_KERNELS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout: {dropout!r} must be in [0, 1)")
    return _BlockStep(cfg, seq_len, attention, dropout)


class _Embed(nn.Module):
    """The first stage's vocab-parallel token embedding (+ learned positions)."""

    def __init__(self, cfg: LlmConfig, vocab_shard: int, seq_len: int):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_shard, cfg.hidden)
        self.positions = None if cfg.rope else nn.Embedding(seq_len, cfg.hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(ids)
        if self.positions is not None:
            x = x + self.positions(torch.arange(ids.shape[1], device=ids.device))
        return x


def _logits_max(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Megatron's ``calculate_logits_max``: the fp32 logits (a copy when they are 16-bit) and their row max."""
    logits = logits.float()
    return logits, torch.max(logits, dim=-1)[0]


def _predicted_logits(logits: torch.Tensor, target: torch.Tensor,
                      logits_max: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``calculate_predicted_logits``: subtract the row max in place, gather the target logits, ``exp`` in place and
    the row sum; returns (target mask, flat masked target, target logits with the row sums, exp logits)."""
    vocab = logits.shape[-1]
    logits.sub_(logits_max.unsqueeze(dim=-1))
    target_mask = (target < 0) | (target >= vocab)
    masked_target = target.clone()
    masked_target[target_mask] = 0
    logits_2d = logits.view(-1, vocab)
    masked_target_1d = masked_target.view(-1)
    predicted = logits_2d[torch.arange(logits_2d.shape[0], device=logits.device), masked_target_1d].view_as(target)
    predicted = predicted.masked_fill(target_mask, 0.0)
    torch.exp(logits, out=logits)
    return target_mask, masked_target_1d, torch.cat((predicted, logits.sum(dim=-1))), logits


def _cross_entropy_loss(exp_logits: torch.Tensor, predicted_sum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``calculate_cross_entropy_loss``: the loss, and the softmax divided in place for backward."""
    predicted, sum_exp = torch.split(predicted_sum, predicted_sum.shape[0] // 2)
    exp_logits.div_(sum_exp.unsqueeze(dim=-1))
    return exp_logits, torch.log(sum_exp) - predicted


def _logits_gradient(softmax: torch.Tensor, target_mask: torch.Tensor, masked_target_1d: torch.Tensor,
                     grad_output: torch.Tensor) -> torch.Tensor:
    """``calculate_gradients``: subtract 1 at the targets (a scatter) and multiply by the incoming gradient, both in
    place on the kept softmax."""
    grad_2d = softmax.view(-1, softmax.shape[-1])
    arange_1d = torch.arange(grad_2d.shape[0], device=softmax.device)
    grad_2d[arange_1d, masked_target_1d] -= 1.0 - target_mask.view(-1).float()
    return softmax.mul_(grad_output.unsqueeze(dim=-1))


class _VocabParallelCrossEntropy(torch.autograd.Function):
    """Megatron-LM's vocab-parallel cross-entropy over one tensor-parallel rank's fp32 logits, op for op
    (``megatron/core/tensor_parallel/cross_entropy.py`` @ core_r0.8.0, ``megatron/mpu/cross_entropy.py`` in
    2021-22): forward = row max, in-place subtract, gather of the target logits, in-place ``exp``, row sum,
    in-place divide to the softmax it keeps for backward; backward = scatter-subtract 1 at the targets, in-place
    multiply by the incoming gradient. Its three all-reduces of per-token scalars over the tensor-parallel group
    (``b x s`` floats each) are left out."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, logits_max = _logits_max(logits)  # fp32 already (the caller's output.float()): no copy
        target_mask, masked_target_1d, predicted_sum, exp_logits = _predicted_logits(logits, target, logits_max)
        softmax, loss = _cross_entropy_loss(exp_logits, predicted_sum)
        ctx.save_for_backward(softmax, target_mask, masked_target_1d)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        softmax, target_mask, masked_target_1d = ctx.saved_tensors
        return _logits_gradient(softmax, target_mask, masked_target_1d, grad_output), None


class _FusedVocabParallelCrossEntropy(torch.autograd.Function):
    """Megatron-Core's ``fused_vocab_parallel_cross_entropy`` (``megatron/core/fusions/fused_cross_entropy.py`` @
    core_r0.8.0, ``cross_entropy_loss_fusion``): the same steps as :class:`_VocabParallelCrossEntropy` on the 16-bit
    logits, its forward three ``jit_fuser`` (``torch.compile``) kernels, each traced as one node
    (:func:`workloads.recorder.fused_kernel`): cast + row max (reads 2 B, writes 4 B per logit), subtract + gather +
    ``exp`` + row sum (4 + 4), divide (4 + 4). Its backward (``calculate_gradients``: scatter, multiply, cast to
    bf16) is traced op by op, which moves a little more than the fused kernel (14 B per logit against about 10). The
    all-reduces over the tensor-parallel group are left out, as in the unfused one."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits32, logits_max = fused_kernel("loss", _logits_max, logits)
        target_mask, masked_target_1d, predicted_sum, exp_logits = fused_kernel(
            "loss", _predicted_logits, logits32, target, logits_max)
        softmax, loss = fused_kernel("loss", _cross_entropy_loss, exp_logits, predicted_sum)
        ctx.save_for_backward(softmax, target_mask, masked_target_1d)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        softmax, target_mask, masked_target_1d = ctx.saved_tensors
        return _logits_gradient(softmax, target_mask, masked_target_1d, grad_output).to(torch.bfloat16), None


class _LogitMetrics(nn.Module):
    """``count`` training metrics computed from each microbatch's logits without gradients, each one PyTorch
    ``cross_entropy`` (summed) over the 16-bit logits under autocast: a cast to fp32, a log-softmax and an NLL
    gather. Composer's trainer updates every train metric after each microbatch's backward
    (``Trainer._eval_train_metrics``, composer v0.16-0.17), and llm-foundry's ``ComposerMPTCausalLM`` has two,
    ``LanguageCrossEntropy`` and ``LanguagePerplexity`` (a subclass that runs the same loss in its ``update``;
    ``use_train_metrics`` defaults to true at v0.3.0 and @5e85bd6)."""

    def __init__(self, count: int):
        super().__init__()
        self.count = count

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.no_grad():
            for _ in range(self.count):
                F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), reduction="sum")


class _Head(nn.Module):
    """The last stage's final norm, vocab-parallel LM head and cross-entropy: ``torch`` casts the logits to fp32 and
    runs log-softmax and NLL as separate kernels; ``fused`` runs one kernel forward (reading the 16-bit logits once,
    keeping the row log-sum-exp) and one backward (reading them again, writing their gradient), as flash-attn's
    ``CrossEntropyLoss`` does (``flash_attn/losses/cross_entropy.py``: apex's xentropy CUDA kernel in flash-attn
    1.x, a Triton kernel in 2.x), traced as one node each way (:data:`CROSS_ENTROPY_KERNELS`)."""

    def __init__(self, cfg: LlmConfig, vocab_shard: int, loss: str = "torch", logit_metrics: int = 0):
        super().__init__()
        self.norm = _norm(cfg)
        self.lm_head = nn.Linear(cfg.hidden, vocab_shard, bias=False)
        self.loss = loss
        self.metrics = _LogitMetrics(logit_metrics)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.lm_head(self.norm(x))
        self.metrics(logits, labels)
        if self.loss == "fused":
            return fused_kernel("loss", lambda lg, lb: F.cross_entropy(lg.view(-1, lg.shape[-1]), lb.view(-1)),
                                logits, labels)
        if self.loss == "megatron_fused":
            return _FusedVocabParallelCrossEntropy.apply(logits, labels).mean()
        logits = logits.float()
        if self.loss == "megatron":
            return _VocabParallelCrossEntropy.apply(logits, labels).mean()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))


def _scalar(out: Any) -> torch.Tensor:
    return out if out.dim() == 0 else out.float().square().mean()


def _scalars_only(op: Any) -> bool:
    """An op on 0-d tensors only (the scaffolding loss's gradient seed)."""
    return all(len(t.shape) == 0 for t in [*op.inputs, *op.outputs])


class _WithParameter(nn.Module):
    """``module`` beside a one-element parameter: the extractor's training step builds an optimizer over the
    parameters, so a parameterless module (an activation, a loss) gets one; its optimizer ops are dropped."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.inner = module
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, *args: Any) -> Any:
        return self.inner(*args)


def trace_training_graph(module: nn.Module, inputs: tuple[Any, ...], dtype: str, name: str) -> LayerGraph:
    """The forward and backward ops of one training step of ``module`` on ``inputs`` (meta tensors), traced in
    ``dtype``: the extractor's step without the scaffolding loss that seeds ``backward()`` (ops of module
    ``loss``, and ops on 0-d tensors only) and without the optimizer step; every op has phase ``forward`` or
    ``backward``."""
    from workloads.extract import extract

    if not any(p.requires_grad for p in module.parameters()):
        module = _WithParameter(module)
    g = extract(module, inputs, mode="train", loss_fn=_scalar, optimizer="sgd", dtype=dtype, name=name, _copy=False)
    keep = LayerGraph(g.name, dict(g.meta))
    gg = g.graph
    for n in gg.nodes:
        op = gg.nodes[n]["op"]
        if op.phase == "optimizer" or op.module == "loss" or (op.module == "" and _scalars_only(op)):
            continue
        deps = [u for u in gg.predecessors(n) if u in keep.graph]
        keep.add_op(op, deps, [gg.edges[u, n]["bytes"] for u in deps])
    return keep


def check_document_len(document_len: int, seq_len: int, attention: str) -> None:
    """ValueError naming ``--document-len`` unless ``seq_len`` packs whole documents of ``document_len`` tokens into
    a fused attention kernel (:func:`packed_attention`)."""
    if isinstance(document_len, bool) or not isinstance(document_len, int) or document_len < 1:
        raise ValueError(f"--document-len: must be a positive integer, got {document_len!r}")
    if seq_len % document_len:
        raise ValueError(f"--document-len: {document_len} does not divide --seq-len {seq_len} (a sequence packs "
                         "whole documents)")
    if attention == "unfused":
        raise ValueError("--document-len: packed documents need a fused attention kernel (its variable-length "
                         "entry point); allowed with --attention " + ", ".join(a for a in ATTENTION_KERNELS
                                                                              if a != "unfused"))


def packed_attention(graph: LayerGraph, seq_len: int, document_len: int) -> None:
    """Make ``graph``'s fused attention ops (forward and backward) attend within documents of ``document_len``
    tokens, as sequence packing runs them: each sequence of ``seq_len`` tokens is a pack of ``seq_len /
    document_len`` documents and the attention kernel's variable-length entry point (FlashAttention's
    ``flash_attn_varlen_func``, Transformer Engine's ``qkv_format="thd"`` with ``cu_seqlens``) computes one causal
    attention per document (NeMo's packed SFT, ``docs/.../sequence_packing``). That is a batch of ``seq_len /
    document_len`` times as many sequences of ``document_len`` tokens: the ops' ``batch`` grows and ``Lq``, ``Lk``
    and the FLOPs shrink by that factor; the tensors read and written stay the same. For documents of mixed
    lengths ``l``, the length with the same attention work is ``E[l^2] / E[l]``. In place."""
    docs = seq_len // document_len
    for name in graph.graph.nodes:
        op = graph.graph.nodes[name]["op"]
        if op.kind == "attention" and op.attrs.get("Lq") == seq_len and op.attrs.get("Lk") == seq_len:
            op.attrs.update(batch=op.attrs["batch"] * docs, Lq=document_len, Lk=document_len, documents=docs)
            op.flops /= docs


def training_graphs(cfg: LlmConfig, tp: int, microbatch: int, seq_len: int, dtype: str = "bf16",
                    attention: str = "flash", dropout: float = 0.0, cross_entropy: str = "torch",
                    logit_metrics: int = 0, document_len: int | None = None,
                    norm_kernel: str = "two_pass", pointwise: str = "fused") -> dict[str, LayerGraph]:
    """``{"block", "embed", "head"}`` training graphs (forward + backward) of one tensor-parallel rank for one
    microbatch of ``microbatch`` sequences of ``seq_len`` tokens, attention core ``attention`` (one of
    :data:`ATTENTION_KERNELS`), dropout probability ``dropout`` (module docstring), loss kernel ``cross_entropy``
    (:data:`CROSS_ENTROPY_KERNELS`), ``logit_metrics`` training metrics computed from the logits
    (:class:`_LogitMetrics`), ``document_len``: each sequence a pack of documents of that many tokens
    (:func:`packed_attention`; None: one document), ``norm_kernel``: the LayerNorms' kernels (module docstring),
    ``pointwise``: a Llama block's RMSNorm, rotary embedding and SwiGLU fused or eager
    (:data:`accel.graph.POINTWISE_KERNELS`).
    ValueError naming the flag for a bad ``--tp``, ``--seq-len``, ``--attention``, ``--dropout``,
    ``--cross-entropy``, ``--logit-metrics``, ``--document-len``, ``--norm-kernel``, ``--pointwise-kernels`` or
    dtype."""
    if norm_kernel not in NORM_KERNELS:
        raise ValueError(f"--norm-kernel: unknown {norm_kernel!r}; allowed: {', '.join(NORM_KERNELS)}")
    if document_len is not None:
        check_document_len(document_len, seq_len, attention)
    if attention not in ATTENTION_KERNELS:
        raise ValueError(f"--attention: unknown {attention!r}; allowed: {', '.join(ATTENTION_KERNELS)}")
    if cross_entropy not in CROSS_ENTROPY_KERNELS:
        raise ValueError(f"--cross-entropy: unknown {cross_entropy!r}; allowed: {', '.join(CROSS_ENTROPY_KERNELS)}")
    if logit_metrics < 0:
        raise ValueError(f"--logit-metrics: {logit_metrics!r} must be >= 0")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout: {dropout!r} must be in [0, 1)")
    if dtype not in TRAIN_DTYPES:
        raise ValueError(f"--amp/--dtype: training dtype {dtype!r} not supported; allowed: {', '.join(TRAIN_DTYPES)}")
    if seq_len > cfg.max_positions and not cfg.rope:
        raise ValueError(f"--seq-len: {seq_len} exceeds {cfg.name}'s max_positions {cfg.max_positions} "
                         "(learned positions); give max_positions in the spec")
    if cfg.vocab % tp:
        raise ValueError(f"--tp: {tp} must divide vocab ({cfg.vocab}) of {cfg.name} (vocab-parallel embedding)")
    shard = shard_config(cfg, tp)
    from workloads.models import torch_dtype

    tdt = torch_dtype(dtype)
    with torch.device("meta"):
        block = block_module(shard, seq_len, attention, dropout)
        x = torch.zeros(microbatch, seq_len, cfg.hidden, dtype=tdt, requires_grad=True)
        embed = _Embed(cfg, cfg.vocab // tp, seq_len)
        ids = torch.zeros(microbatch, seq_len, dtype=torch.int64)
        head = _Head(cfg, cfg.vocab // tp, cross_entropy, logit_metrics)
        h = torch.zeros(microbatch, seq_len, cfg.hidden, dtype=tdt, requires_grad=True)
    with pointwise_kernels(pointwise):
        block_graph = trace_training_graph(block, (x,), dtype, f"{cfg.name} block (tp {tp})")
        head_graph = trace_training_graph(head, (h, ids.clone()), dtype, f"{cfg.name} head + loss (tp {tp})")
    kernel = WRAPPED_ATTENTION_KERNELS.get(attention, attention)
    for name in block_graph.graph.nodes:
        op = block_graph.graph.nodes[name]["op"]
        if kernel in MEASURED_ATTENTION_KERNELS and op.kind == "attention":
            op.attrs["kernel"] = kernel
        if (attention == "flash2_varlen" and op.phase == "forward" and op.module.startswith("block.self_attn.core")
                and op.aten.startswith("aten.index_select")):  # unpad_input's host syncs, one per gathered q / k / v
            op.attrs.update(host_syncs=UNPAD_HOST_SYNCS, host_paced_ops=UNPAD_HOST_PACED_OPS)
    if document_len is not None:
        packed_attention(block_graph, seq_len, document_len)
    graphs = {
        "block": block_graph,
        "embed": trace_training_graph(embed, (ids,), dtype, f"{cfg.name} embedding (tp {tp})"),
        "head": head_graph,
    }
    if pointwise == "compiled":
        from accel.compile.passes import fuse_pointwise_regions

        graphs = {k: fuse_pointwise_regions(g) for k, g in graphs.items()}
    for name in graphs["head"].graph.nodes:  # Composer evaluates its train metrics after the microbatch's backward
        op = graphs["head"].graph.nodes[name]["op"]
        if op.module == "metrics" or op.module.startswith("metrics."):
            op.attrs[AFTER_BACKWARD] = True
    for graph in graphs.values():
        mark_norm_kernel(graph, norm_kernel)
    # a tied LM head reads the token embedding's weight: the head graph's own copy of it is that same tensor where
    # one rank holds both (accel.train.simulate counts it once there)
    graphs["head"].meta["tied_params"] = (cfg.vocab // tp) * cfg.hidden if cfg.tied else 0
    return graphs
