"""Decoder-only language models by configuration, importable without torch.

A :class:`LlmConfig` is the handful of numbers of a Hugging Face ``config.json`` that fix the work of
a decoder-only transformer. Named configs (:data:`LLM_CONFIGS`) copy their model's published
``config.json`` (cited in ``source``; nothing is downloaded). Spec strings build one on the command
line::

    llama:layers=32,hidden=4096,heads=32,kv_heads=8,ffn=14336,vocab=128256
    gpt:layers=96,hidden=12288,heads=96,vocab=51200

``llama:`` is the Llama family (RMSNorm, rotary positions, SwiGLU MLP, no biases, untied LM head,
grouped-query attention when ``kv_heads < heads``); ``gpt:`` is GPT-2/GPT-3 (LayerNorm, learned positions,
GELU MLP of ``4 x hidden``, biases, LM head tied to the token embedding). Keys not given take the
family's defaults (:data:`FAMILY_DEFAULTS`); ``tied=0`` gives a model its own LM-head matrix (``tied=1`` makes the
head reuse the token embedding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accel.errors import did_you_mean

#: ``--phase`` values: a whole forward pass (``None``), a prompt's prefill, one decode step with a KV cache
LLM_PHASES: tuple[str, ...] = ("prefill", "decode")


@dataclass(frozen=True)
class LlmConfig:
    """One decoder-only transformer.

    Attributes:
        name: display name. family: ``llama`` or ``gpt`` (block structure, see the module docstring).
        layers: decoder blocks. hidden: model width. heads: query heads. kv_heads: key/value heads
        (= heads: MHA; 1: MQA; in between: GQA). ffn: MLP inner width. vocab: vocabulary size.
        max_positions: longest context the positions cover. head_dim: per-head width (default hidden/heads).
        rotary_dim: dimensions per head that rotary positions rotate (default head_dim; GPT-J: 64).
        parallel_residual: attention and MLP both read the block input and add to it (GPT-J, GPT-NeoX).
        attn_bias / mlp_bias / head_bias: the attention projections / MLP / LM head carry biases.
        rope: rotary positions (default: llama yes, gpt no: learned position embeddings).
        tied: the LM head reuses the token embedding. source: where the numbers come from.
    """

    name: str
    family: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    max_positions: int
    head_dim: int = 0
    rotary_dim: int = 0
    parallel_residual: bool = False
    attn_bias: bool = False
    mlp_bias: bool = False
    head_bias: bool = False
    rope: bool | None = None
    tied: bool = False
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = self.name or self.family
        for f in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "max_positions"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{where}: {f} must be a positive integer, got {v!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"{where}: unknown family {self.family!r}; allowed: {', '.join(FAMILIES)}")
        if not self.head_dim:
            if self.hidden % self.heads:
                raise ValueError(f"{where}: hidden {self.hidden} is not divisible by heads {self.heads}; give head_dim")
            object.__setattr__(self, "head_dim", self.hidden // self.heads)
        if self.heads % self.kv_heads:
            raise ValueError(f"{where}: heads {self.heads} is not divisible by kv_heads {self.kv_heads}")
        if self.rope is None:
            object.__setattr__(self, "rope", self.family == "llama")
        if not self.rotary_dim:
            object.__setattr__(self, "rotary_dim", self.head_dim)
        if self.rotary_dim > self.head_dim or self.rotary_dim % 2:
            raise ValueError(f"{where}: rotary_dim {self.rotary_dim} must be even and <= head_dim {self.head_dim}")

    def kv_cache_bytes(self, batch: int, tokens: int, elem_bytes: float) -> float:
        """KV-cache size (B): ``2 (K and V) x layers x batch x tokens x kv_heads x head_dim x elem_bytes``."""
        return 2.0 * self.layers * batch * tokens * self.kv_heads * self.head_dim * elem_bytes


FAMILIES: tuple[str, ...] = ("llama", "gpt")

#: keys a spec string may set, per family, and their defaults (None: required)
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {"layers": None, "hidden": None, "heads": None, "kv_heads": 0, "ffn": 0, "vocab": 32000,
              "max_positions": 4096, "head_dim": 0, "tied": 0},
    "gpt": {"layers": None, "hidden": None, "heads": None, "kv_heads": 0, "ffn": 0, "vocab": 50257,
            "max_positions": 2048, "head_dim": 0, "tied": 1},
}

_HF = "Hugging Face config.json of "
#: named configs, each from its model's published config.json
LLM_CONFIGS: dict[str, LlmConfig] = {c.name: c for c in (
    LlmConfig("llama2-7b", "llama", 32, 4096, 32, 32, 11008, 32000, 4096, source=_HF + "meta-llama/Llama-2-7b-hf"),
    LlmConfig("llama2-13b", "llama", 40, 5120, 40, 40, 13824, 32000, 4096, source=_HF + "meta-llama/Llama-2-13b-hf"),
    LlmConfig("llama2-70b", "llama", 80, 8192, 64, 8, 28672, 32000, 4096, source=_HF + "meta-llama/Llama-2-70b-hf"),
    LlmConfig("llama3-8b", "llama", 32, 4096, 32, 8, 14336, 128256, 8192, source=_HF + "meta-llama/Meta-Llama-3-8B"),
    LlmConfig("llama3-70b", "llama", 80, 8192, 64, 8, 28672, 128256, 8192, source=_HF + "meta-llama/Meta-Llama-3-70B"),
    LlmConfig("llama3.1-8b", "llama", 32, 4096, 32, 8, 14336, 128256, 131072,
              source=_HF + "meta-llama/Llama-3.1-8B"),
    LlmConfig("llama3.1-70b", "llama", 80, 8192, 64, 8, 28672, 128256, 131072,
              source=_HF + "meta-llama/Llama-3.1-70B"),
    LlmConfig("llama3.1-405b", "llama", 126, 16384, 128, 8, 53248, 128256, 131072,
              source=_HF + "meta-llama/Llama-3.1-405B"),
    LlmConfig("mistral-7b", "llama", 32, 4096, 32, 8, 14336, 32000, 32768,
              source=_HF + "mistralai/Mistral-7B-v0.1 (sliding-window attention of 4096 not modelled)"),
    LlmConfig("gpt-j-6b", "gpt", 28, 4096, 16, 16, 16384, 50400, 2048, rotary_dim=64, parallel_residual=True,
              mlp_bias=True, head_bias=True, rope=True,
              source=_HF + "EleutherAI/gpt-j-6b (rotary_dim 64, parallel attention+MLP, no attention biases)"),
)}


def is_llm_name(name: str) -> bool:
    """Whether ``name`` is a named LLM config or a ``family:key=value,...`` spec string."""
    key = str(name).strip().lower()
    return key in LLM_CONFIGS or key.split(":", 1)[0] in FAMILIES and ":" in key


def llm_config(name: str) -> LlmConfig:
    """The config of a named LLM or a spec string; ValueError naming the bad key or value and the allowed ones."""
    key = str(name).strip().lower()
    if key in LLM_CONFIGS:
        return LLM_CONFIGS[key]
    family, sep, body = key.partition(":")
    if not sep or family not in FAMILIES:
        raise ValueError(f"unknown LLM {name!r}; allowed: {', '.join(LLM_CONFIGS)}, or a spec "
                         f"'{'|'.join(FAMILIES)}:layers=..,hidden=..,heads=..[,kv_heads=..,ffn=..,vocab=..]'")
    defaults = FAMILY_DEFAULTS[family]
    values: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = item.partition("=")
        k = k.strip()
        if k not in defaults:
            raise ValueError(f"{name}: unknown key {k!r}{did_you_mean(k, list(defaults))}; allowed: {', '.join(defaults)}")
        try:
            values[k] = int(v.strip())
        except ValueError:
            raise ValueError(f"{name}: {k} must be a positive integer, got {v.strip()!r}") from None
    missing = [k for k, d in defaults.items() if d is None and k not in values]
    if missing:
        raise ValueError(f"{name}: missing {', '.join(missing)} (a spec needs layers, hidden and heads)")
    cfg = {**{k: d for k, d in defaults.items() if d is not None}, **values}
    tied = cfg.pop("tied")
    if tied not in (0, 1):
        raise ValueError(f"{name}: tied must be 0 (a separate LM-head matrix) or 1 (the head reuses the token "
                         f"embedding), got {tied}")
    cfg["kv_heads"] = cfg["kv_heads"] or cfg["heads"]
    cfg["ffn"] = cfg["ffn"] or (4 * cfg["hidden"] if family == "gpt" else _llama_ffn(cfg["hidden"]))
    gpt = family == "gpt"
    return LlmConfig(key, family, attn_bias=gpt, mlp_bias=gpt, tied=bool(tied), source="spec string", **cfg)


def _llama_ffn(hidden: int) -> int:
    """Llama's default MLP width: 2/3 of 4 x hidden, rounded up to a multiple of 256 (the reference code's rule)."""
    return 256 * -(-(8 * hidden // 3) // 256)
