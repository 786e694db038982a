"""Decoder-only LLMs (:mod:`workloads.llm_configs`) as layer graphs: a forward pass, a prompt's prefill, or one
decode step with a KV cache.

The model is written here in plain torch, the way serving engines run it rather than as Hugging Face's
eager code: RMSNorm, the rotary embedding of q and k, and SiLU-and-multiply are one fused kernel each
(:func:`workloads.recorder.fused_kernel`, as vLLM's and TensorRT-LLM's kernels), attention is one
``scaled_dot_product_attention`` call with grouped-query heads (``enable_gqa``: K/V are read at ``kv_heads``,
never expanded), and the KV cache is a preallocated buffer per layer:

* ``prefill`` (``seq_len`` prompt tokens): K and V of the prompt are written into the cache (a copy of
  ``seq_len`` tokens), causal flash attention runs over the prompt, the LM head runs on the last position
  only (the next token's logits), as engines do;
* ``decode`` (one new token per sequence; ``context`` = the cache length it attends over, itself included):
  the token's K/V are written at position ``context - 1``; attention reads the whole cache of ``context``
  tokens (non-causal: one query);
* no phase: the plain forward over ``seq_len`` tokens with logits at every position (no cache).

Only ONE decoder block is traced; the graph repeats its ops ``layers`` times (names ``layers.<i>``, each
block reading the previous one's output, each with its own cache) and says so in
``meta["repeated_block"]``. So a 126-layer 405B model's graph is ready in about a second. Parameter counts
in ``meta`` cover all layers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from accel.graph import POINTWISE_KERNELS, LayerGraph, OpNode, TensorInfo, dtype_bytes
from workloads.llm_configs import LLM_PHASES, LlmConfig, llm_config
from workloads.recorder import fused_kernel

#: module path of the one traced block (its ops are repeated for the others)
BLOCK = "layers.0"


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


_EAGER: list[bool] = [False]


@contextlib.contextmanager
def pointwise_kernels(mode: str) -> Iterator[None]:
    """Trace the Llama blocks' norms, rotary embedding and SwiGLU as :data:`accel.graph.POINTWISE_KERNELS` ``mode``
    while inside; ValueError naming ``--pointwise-kernels`` for another value. ``eager`` is eager PyTorch's
    torchtitan / Hugging Face Llama: RMSNorm in fp32 (``x.float()``, ``pow``, ``mean``, ``+ eps``, ``rsqrt``, ``*``,
    cast back, ``* weight``: torchtitan/models/norms.py ``RMSNorm`` @9dec370, transformers' ``LlamaRMSNorm``), the
    rotation as ``q * cos + rotate_half(q) * sin`` (slices, ``neg``, ``cat``, two ``*``, ``+``: transformers'
    ``apply_rotary_pos_emb``; torchtitan's complex-number form is three kernels, a cast to fp32, a complex multiply
    and a cast back, moving about as many bytes), ``F.silu(g) * u`` as two kernels."""
    if mode not in POINTWISE_KERNELS:
        raise ValueError(f"--pointwise-kernels: unknown {mode!r}; allowed: {', '.join(POINTWISE_KERNELS)}")
    _EAGER.append(mode in ("eager", "compiled"))  # compiled: traced eagerly, fused afterwards
    try:
        yield
    finally:
        _EAGER.pop()


def _eager_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """torchtitan's / Hugging Face's eager RMSNorm: normalised in fp32, cast back, scaled (:func:`pointwise_kernels`)."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).type_as(x) * weight


class RMSNorm(nn.Module):
    """Root-mean-square norm (Llama): ``x / sqrt(mean(x^2) + eps) * weight``, one fused kernel."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _EAGER[-1]:
            return _eager_rms_norm(x, self.weight, self.eps)
        return fused_kernel("norm", lambda a, w: _rms_norm(a, w, self.eps), x, self.weight)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rotary_dim: int) -> torch.Tensor:
    """Rotary embedding of the first ``rotary_dim`` dims of each head (NeoX half-split form)."""
    r, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    x1, x2 = r[..., : rotary_dim // 2], r[..., rotary_dim // 2:]
    out = r * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat((out, rest), dim=-1) if rest.shape[-1] else out


class Attention(nn.Module):
    """Multi-head / grouped-query attention with a per-layer KV cache (see the module docstring)."""

    k_cache: torch.Tensor
    v_cache: torch.Tensor

    def __init__(self, cfg: LlmConfig, batch: int, cache_tokens: int):
        super().__init__()
        self.cfg = cfg
        h, hd = cfg.hidden, cfg.head_dim
        self.q_proj = nn.Linear(h, cfg.heads * hd, bias=cfg.attn_bias)
        self.k_proj = nn.Linear(h, cfg.kv_heads * hd, bias=cfg.attn_bias)
        self.v_proj = nn.Linear(h, cfg.kv_heads * hd, bias=cfg.attn_bias)
        self.o_proj = nn.Linear(cfg.heads * hd, h, bias=cfg.attn_bias)
        if cache_tokens:
            shape = (batch, cfg.kv_heads, cache_tokens, hd)
            self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
            self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def qkv(self, x: torch.Tensor, cos: torch.Tensor | None,
            sin: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-head q (``heads``), k and v (``kv_heads``) of ``x``, q and k rotated (one fused kernel)."""
        c = self.cfg
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, c.heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
        if cos is not None and sin is not None and _EAGER[-1]:
            q, k = _rotate(q, cos, sin, c.rotary_dim), _rotate(k, cos, sin, c.rotary_dim)
        elif cos is not None and sin is not None:
            q, k = fused_kernel("elementwise", lambda a, b: (_rotate(a, cos, sin, c.rotary_dim),
                                                             _rotate(b, cos, sin, c.rotary_dim)), q, k)
        return q, k, v

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, start: int,
                use_cache: bool) -> torch.Tensor:
        c = self.cfg
        B, T, _ = x.shape
        q, k, v = self.qkv(x, cos, sin)
        if use_cache:
            self.k_cache[:, :, start:start + T] = k
            self.v_cache[:, :, start:start + T] = v
        if start == 0:  # prefill / plain forward: causal flash attention over the prompt
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=c.kv_heads != c.heads)
        else:  # decode: the new tokens' queries over every cached key
            o = F.scaled_dot_product_attention(q, self.k_cache[:, :, :start + T], self.v_cache[:, :, :start + T],
                                               enable_gqa=c.kv_heads != c.heads)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, c.heads * c.head_dim))


class MLP(nn.Module):
    """SwiGLU (Llama: ``down(silu(gate(x)) * up(x))``, SiLU-and-multiply fused) or GELU (GPT: ``fc2(gelu(fc1(x)))``)."""

    def __init__(self, cfg: LlmConfig):
        super().__init__()
        self.swiglu = cfg.family == "llama"
        if self.swiglu:
            self.gate_proj = nn.Linear(cfg.hidden, cfg.ffn, bias=cfg.mlp_bias)
            self.up_proj = nn.Linear(cfg.hidden, cfg.ffn, bias=cfg.mlp_bias)
            self.down_proj = nn.Linear(cfg.ffn, cfg.hidden, bias=cfg.mlp_bias)
        else:
            self.fc_in = nn.Linear(cfg.hidden, cfg.ffn, bias=cfg.mlp_bias)
            self.fc_out = nn.Linear(cfg.ffn, cfg.hidden, bias=cfg.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swiglu and _EAGER[-1]:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        if self.swiglu:
            return self.down_proj(fused_kernel("activation", lambda g, u: F.silu(g) * u, self.gate_proj(x), self.up_proj(x)))
        return self.fc_out(F.gelu(self.fc_in(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-norm decoder block: ``x + attn(norm1(x))`` then ``+ mlp(norm2(.))``; or, with a parallel residual,
    ``x + attn(norm(x)) + mlp(norm(x))`` (GPT-J)."""

    def __init__(self, cfg: LlmConfig, batch: int, cache_tokens: int):
        super().__init__()
        self.parallel = cfg.parallel_residual
        self.input_layernorm = _norm(cfg)
        self.self_attn = Attention(cfg, batch, cache_tokens)
        if not self.parallel:
            self.post_attention_layernorm = _norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, start: int,
                use_cache: bool) -> torch.Tensor:
        y = self.input_layernorm(x)
        a = self.self_attn(y, cos, sin, start, use_cache)
        if self.parallel:
            return x + a + self.mlp(y)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x))


def _norm(cfg: LlmConfig) -> nn.Module:
    return RMSNorm(cfg.hidden) if cfg.family == "llama" else nn.LayerNorm(cfg.hidden)


class DecoderLM(nn.Module):
    """Token embedding (+ learned positions), ``layers`` blocks, final norm, LM head.

    ``phase``: None (all positions' logits, no cache), ``prefill`` or ``decode`` (the last position's
    logits; K/V written to the cache of ``cache_tokens`` positions). ``start``: tokens already cached.
    """

    def __init__(self, cfg: LlmConfig, layers: int, batch: int, phase: str | None, start: int, tokens: int):
        super().__init__()
        self.cfg, self.phase, self.start = cfg, phase, start
        cache_tokens = start + tokens if phase else 0
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.hidden)
        if not cfg.rope:
            self.embed_positions = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.layers = nn.ModuleList(Block(cfg, batch, cache_tokens) for _ in range(layers))
        self.norm = _norm(cfg)
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab, bias=cfg.head_bias)
        if cfg.tied:
            self.lm_head.weight = self.embed_tokens.weight
        if cfg.rope:  # the rotation tables of the positions this step uses (precomputed, as engines do)
            self.register_buffer("rope_cos", torch.ones(tokens, cfg.rotary_dim), persistent=False)
            self.register_buffer("rope_sin", torch.zeros(tokens, cfg.rotary_dim), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.embed_tokens(ids)
        if not self.cfg.rope:
            x = x + self.embed_positions(torch.arange(self.start, self.start + T, device=ids.device))
        cos = self.rope_cos if self.cfg.rope else None
        sin = self.rope_sin if self.cfg.rope else None
        for layer in self.layers:
            x = layer(x, cos, sin, self.start, self.phase is not None)
        if self.phase is not None:
            x = x[:, -1:]
        return self.lm_head(self.norm(x))


#: weight-only quantization of the blocks' projection weights (activations stay in the model dtype)
WEIGHT_DTYPES: tuple[str, ...] = ("int8", "int4", "fp8")
#: parameter-name endings of the projection weights that weight-only quantization stores narrow
QUANTIZED_WEIGHTS: tuple[str, ...] = ("_proj.weight", "fc_in.weight", "fc_out.weight")
#: KV-cache dtypes other than the model's
KV_DTYPES: tuple[str, ...] = ("fp8", "int8")
#: 8-bit serving dtypes, run as the engines run them (W8A8, :func:`quantize_activations`)
W8A8_DTYPES: tuple[str, ...] = ("fp8", "int8")
#: the 16-bit dtype a W8A8 model keeps between its GEMMs (residual stream, norms, embeddings, LM head,
#: tensor-parallel all-reduces): bf16, the dtype of the quantized Llama 3 checkpoints engines serve
W8A8_ACTIVATION_DTYPE = "bf16"


def extract_llm(name: str, batch: int = 1, seq_len: int | None = None, phase: str | None = None,
                context: int | None = None, dtype: str = "fp16", mode: str = "infer", weights: str | None = None,
                kv_dtype: str | None = None) -> LayerGraph:
    """Layer graph of LLM ``name`` (a named config or a spec string, :func:`workloads.llm_configs.llm_config`).

    Args:
        batch: sequences. seq_len: prompt tokens (prefill / plain forward; default 2048, at most
            ``max_positions``); for decode, the new tokens per sequence (default 1).
        phase: None, ``prefill`` or ``decode`` (see the module docstring). context: decode only (required): the
            KV-cache length the step attends over, its own new tokens included (``seq_len < context <=
            max_positions``); the new tokens sit at positions ``context - seq_len .. context - 1``.
        dtype: fp32 / fp16 / bf16 (weights, activations and the KV cache), or fp8 / int8: W8A8 serving as
            TensorRT-LLM and vLLM run a quantized checkpoint (:func:`quantize_activations`: the blocks'
            projection GEMMs, their weights and the KV cache in 8 bits, everything else in
            :data:`W8A8_ACTIVATION_DTYPE`). mode: ``infer`` (LLM training graphs: issue 13).
        weights: weight-only quantization (:data:`WEIGHT_DTYPES`): the decoder blocks' projection weights are
            stored as int8 / int4 / fp8 (AWQ/GPTQ-style; embeddings and the LM head keep ``dtype``), the GEMMs
            compute in ``dtype`` and dequantize the weights in their main loop (the GPU model prices that).
        kv_dtype: the KV cache's dtype (:data:`KV_DTYPES`) when it is not ``dtype`` (an fp8 cache).

    Returns:
        LayerGraph with ``meta``: model, family, phase, batch, seq_len, context, params / param_bytes (every
        layer), kv_cache_bytes (the cache after this step, every layer), repeated_block, llm (the config).
    """
    from workloads.extract import extract
    from workloads.models import torch_dtype

    cfg = llm_config(name)
    if mode != "infer":
        raise ValueError(f"{cfg.name}: LLM graphs are inference graphs (mode 'infer'); training of LLM specs "
                         "comes with multi-node training (issue 13)")
    tokens = _checked_tokens(cfg, batch, seq_len, phase, context)
    start = context - tokens if phase == "decode" and context is not None else 0
    with torch.device("meta"):
        model = DecoderLM(cfg, 1, batch, phase, start, tokens)
        ids = torch.zeros(batch, tokens, dtype=torch.int64)
    _check_quantization(dtype, weights, kv_dtype, phase)
    w8a8 = dtype if dtype in W8A8_DTYPES else None
    if w8a8:  # traced in 16 bits, the projections' weights and the cache stored narrow, then the GEMMs quantized
        dtype, weights, kv_dtype = W8A8_ACTIVATION_DTYPE, w8a8, (w8a8 if phase else None)
    model = model.to(dtype=torch_dtype(dtype))

    def stored(pname: str) -> str | None:
        """The dtype a parameter/buffer is stored in when it is not the model's (None)."""
        if weights and pname.startswith(BLOCK + ".") and pname.endswith(QUANTIZED_WEIGHTS):
            return weights
        if kv_dtype and pname.endswith(("k_cache", "v_cache")):
            return kv_dtype
        return None

    one = extract(model, (ids,), mode="infer", dtype=dtype, name=cfg.name, _copy=False,
                  stored_dtypes=stored if (weights or kv_dtype) else None)
    if w8a8:
        quantize_activations(one, w8a8)
    graph = repeat_block(one, cfg.layers)
    eb = dtype_bytes(_recorded(one))

    def nbytes(named: Any) -> float:
        total = 0.0
        for n, p in named:
            dt = stored(n)
            total += p.numel() * (dtype_bytes(dt) if dt else eb)
        return total

    block_params = sum(p.numel() for p in model.layers[0].parameters())
    rest = sum(p.numel() for p in model.parameters()) - block_params
    params = rest + cfg.layers * block_params
    block_bytes = nbytes((f"{BLOCK}.{n}", p) for n, p in model.layers[0].named_parameters())
    rest_bytes = nbytes(model.named_parameters()) - block_bytes
    kv_eb = dtype_bytes(kv_dtype) if kv_dtype else eb
    graph.meta.update({
        "model": cfg.name, "family": cfg.family, "phase": phase or "forward", "seq_len": tokens,
        "context": start + tokens if phase == "decode" else 0, "params": int(params),
        "param_bytes": int(rest_bytes + cfg.layers * block_bytes),
        "kv_cache_bytes": int(cfg.kv_cache_bytes(batch, start + tokens, kv_eb)) if phase else 0,
        "kv_elem_bytes": kv_eb, "weights_dtype": weights or _recorded(one), "kv_dtype": kv_dtype or _recorded(one),
        "repeated_block": {"module": BLOCK, "count": cfg.layers,
                           "ops": sum(1 for o in one if _in_block(o.module))},
        "llm": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "source"}, "llm_source": cfg.source,
    })
    if w8a8:
        graph.meta.update({"dtype": w8a8, "activation_dtype": dtype})
    return graph


def _checked_tokens(cfg: LlmConfig, batch: int, seq_len: int | None, phase: str | None, context: int | None) -> int:
    """The step's new tokens per sequence, after checking batch, phase, seq_len and context (ValueError)."""
    if phase is not None and phase not in LLM_PHASES:
        raise ValueError(f"unknown phase {phase!r}; allowed: {', '.join(LLM_PHASES)} (or none)")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    tokens = seq_len if seq_len is not None else (1 if phase == "decode" else min(2048, cfg.max_positions))
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
    if phase == "decode":
        if context is None or not isinstance(context, int) or isinstance(context, bool) or context <= tokens:
            raise ValueError(f"context (KV-cache tokens the decode step attends over, its own {tokens} included) "
                             f"must be an integer > {tokens}, got {context!r}")
        if context > cfg.max_positions:
            raise ValueError(f"context {context} too long for {cfg.name}: allowed {tokens + 1}..{cfg.max_positions}")
    elif context is not None:
        raise ValueError("context applies to --phase decode only")
    elif tokens > cfg.max_positions:
        raise ValueError(f"seq_len {tokens} too long for {cfg.name}: allowed 1..{cfg.max_positions}")
    return tokens


def _check_quantization(dtype: str, weights: str | None, kv_dtype: str | None, phase: str | None) -> None:
    """ValueError unless weights / kv_dtype name allowed dtypes and quantize a 16-bit model's step with a cache."""
    for what, value, allowed in (("weights", weights, WEIGHT_DTYPES), ("kv_dtype", kv_dtype, KV_DTYPES)):
        if value is not None and value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)} (or none)")
    if (weights or kv_dtype) and dtype not in ("fp16", "bf16"):
        raise ValueError(f"weights/kv_dtype quantize an fp16 or bf16 model; dtype {dtype!r} does not apply")
    if kv_dtype and not phase:
        raise ValueError("kv_dtype applies to --phase prefill/decode (a step with a KV cache)")


def quantize_activations(graph: LayerGraph, dtype: str) -> None:
    """Turn a graph whose projection weights are stored in ``dtype`` (8 bits) into W8A8 serving, in place.

    This is how TensorRT-LLM (ModelOpt FP8 / SmoothQuant INT8 checkpoints) and vLLM (``quantization=fp8``) run
    a quantized decoder: each projection GEMM (a matmul whose weight matrix is stored in ``dtype``) reads an
    8-bit activation and an 8-bit weight and computes at the ``dtype`` tensor-core rate, writing a 16-bit
    output; the residual stream, norms, rotary embedding, attention's arithmetic, the embedding table, the LM
    head and the tensor-parallel all-reduces stay 16-bit; the KV cache is stored in 8 bits. The quantization
    of a GEMM's input is fused into the kernel that produces it (the engines' RMSNorm, SiLU-and-multiply and
    attention kernels with a quantized output): a producer whose every consumer is a quantized GEMM writes
    its one output in ``dtype`` (and the edges carry those bytes).
    """
    g = graph.graph
    quantized = {n for n in g.nodes if _is_quantized_gemm(g.nodes[n]["op"], dtype)}
    for n in quantized:
        op = g.nodes[n]["op"]
        g.nodes[n]["op"] = dataclasses.replace(
            op, dtype=dtype, inputs=[TensorInfo.of(t.shape, dtype) if len(t.shape) > 1 else t for t in op.inputs])
    for n in g.nodes:
        op, succ = g.nodes[n]["op"], list(g.successors(n))
        if n in quantized or len(op.outputs) != 1 or not succ or not set(succ) <= quantized:
            continue
        out = TensorInfo.of(op.outputs[0].shape, dtype)
        g.nodes[n]["op"] = dataclasses.replace(op, outputs=[out])
        for v in succ:
            g.edges[n, v]["bytes"] = int(out.bytes)


def _is_quantized_gemm(op: OpNode, dtype: str) -> bool:
    """A matmul whose weight matrices are all stored in ``dtype`` (a quantized projection; a bias stays 16-bit)."""
    matrices = [w for w in op.weights if len(w.shape) > 1]
    return op.kind == "matmul" and bool(matrices) and all(w.dtype == dtype for w in matrices)


def _recorded(graph: LayerGraph) -> str:
    """The element dtype the graph's float tensors were recorded in (its ``dtype`` option's storage)."""
    dt = str(graph.meta.get("dtype", "fp16"))
    return {"tf32": "fp32"}.get(dt, dt)


def _in_block(module: str) -> bool:
    return module == BLOCK or module.startswith(BLOCK + ".")


_BLOCK_RE = re.compile(r"(^|\.)" + re.escape(BLOCK) + r"(?=$|[./#])")


def _renamed(text: str, i: int) -> str:
    return _BLOCK_RE.sub(lambda m: f"{m.group(1)}layers.{i}", text, count=1)


def repeat_block(one: LayerGraph, count: int) -> LayerGraph:
    """``one`` (a graph with a single traced block, module :data:`BLOCK`) with that block's ops repeated
    ``count`` times in program order: copy ``i`` is renamed ``layers.<i>``, reads copy ``i-1``'s output
    where block 0 read the block input, and the ops after the block read the last copy's output.

    The block must take one input (the hidden state: every edge into it comes from one op) and give one
    output (every edge out of it leaves one op); ValueError otherwise.
    """
    g = one.graph
    block = [n for n in g.nodes if _in_block(g.nodes[n]["op"].module)]
    inside = set(block)
    sources = {u for n in block for u in g.predecessors(n) if u not in inside}
    sinks = {n for n in block for v in g.successors(n) if v not in inside}
    if len(sources) > 1 or len(sinks) != 1:
        raise ValueError(f"cannot repeat {BLOCK}: it reads {len(sources)} ops and feeds {len(sinks)} outside; "
                         "a repeatable block has one input and one output")
    out_op = next(iter(sinks))
    out = LayerGraph(one.name, dict(one.meta))
    order = list(g.nodes)
    first = order.index(block[0])
    if order[first:first + len(block)] != block:
        raise ValueError(f"cannot repeat {BLOCK}: its ops are not contiguous in program order")

    def add(node: str, op: OpNode, rename: dict[str, str]) -> None:
        deps = [rename.get(u, u) for u in g.predecessors(node)]
        out.add_op(op, deps, [g.edges[u, node]["bytes"] for u in g.predecessors(node)])

    for n in order[:first]:
        add(n, g.nodes[n]["op"], {})
    prev_out: str | None = None
    for i in range(count):
        names = {n: (n if i == 0 else _renamed(n, i)) for n in block}
        rename = dict(names)
        if prev_out is not None:
            rename.update({s: prev_out for s in sources})
        for n in block:
            op = g.nodes[n]["op"]
            if i:
                op = _copy_op(op, names[n], _renamed(op.module, i))
            add(n, op, rename)
        prev_out = names[out_op]
    for n in order[first + len(block):]:
        add(n, g.nodes[n]["op"], {out_op: prev_out} if prev_out else {})
    return out


def _copy_op(op: OpNode, name: str, module: str) -> OpNode:
    return dataclasses.replace(op, name=name, module=module, attrs=dict(op.attrs))
