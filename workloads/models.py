"""Built-in workloads: model constructors (no weights, no downloads) and example inputs.

Every model is built on the ``meta`` device from its constructor or config, the same
way ``/work/shared/measurements/measure_gpu.py`` builds them (so module names match
``layers.csv``): torchvision classification models at 224x224, HF ``GPT2Model`` /
``BertModel`` (12 layers, 768 wide, sdpa attention) fed token ids, and an LSTM
language model (embedding 10000x512, 2-layer LSTM hidden 1024, linear to 10000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from workloads._torchvision_shim import import_torchvision

#: dtype option -> torch dtype.
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class LSTMNet(torch.nn.Module):
    """LSTM language model of layers.csv ``lstm_lm``: embedding -> 2-layer LSTM -> linear."""

    def __init__(self, vocab: int = 10000, emb: int = 512, hidden: int = 1024, layers: int = 2):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.lstm = torch.nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
        self.fc = torch.nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(x))
        return self.fc(h)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named workload.

    Attributes:
        build: constructor returning the module (called under ``torch.device("meta")``).
        input: "image" (N,3,224,224 float) or "tokens" (N, seq_len int64 ids < vocab).
        default_seq_len: token count for "tokens" inputs (None for images).
        vocab: exclusive upper bound of generated token ids.
        family: "torchvision", "transformers" or "torch".
        max_seq_len: longest sequence the model accepts (position embeddings), None if unbounded.
    """

    build: Callable[[], torch.nn.Module]
    input: str
    default_seq_len: int | None = None
    vocab: int = 0
    family: str = "torchvision"
    max_seq_len: int | None = None


def _tv(name: str, **kw) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        return getattr(import_torchvision().models, name)(**kw)
    return build


def _gpt2() -> torch.nn.Module:
    import_torchvision()  # transformers imports torchvision when installed: shim it first
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config(n_layer=12, n_embd=768, n_head=12, attn_implementation="sdpa"))


def _bert() -> torch.nn.Module:
    import_torchvision()
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(attn_implementation="sdpa"))


MODELS: dict[str, ModelSpec] = {
    "alexnet": ModelSpec(_tv("alexnet"), "image"),
    "vgg16": ModelSpec(_tv("vgg16"), "image"),
    "resnet18": ModelSpec(_tv("resnet18"), "image"),
    "resnet50": ModelSpec(_tv("resnet50"), "image"),
    "mobilenet_v2": ModelSpec(_tv("mobilenet_v2"), "image"),
    "googlenet": ModelSpec(_tv("googlenet", aux_logits=False, init_weights=False), "image"),
    "vit_b_16": ModelSpec(_tv("vit_b_16"), "image"),
    "gpt2": ModelSpec(_gpt2, "tokens", 512, 50257, "transformers", max_seq_len=1024),
    "bert_base": ModelSpec(_bert, "tokens", 512, 30522, "transformers", max_seq_len=512),
    "lstm_lm": ModelSpec(LSTMNet, "tokens", 128, 10000, "torch"),
}

#: accepted alternative names -> canonical name.
ALIASES: dict[str, str] = {"bert": "bert_base", "lstm": "lstm_lm", "vit": "vit_b_16"}


def list_models() -> list[str]:
    """Canonical names of the built-in workloads (aliases: see :data:`ALIASES`)."""
    return list(MODELS)


def canonical_name(name: str) -> str:
    """Canonical model name; ValueError listing the allowed names if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in MODELS:
        allowed = ", ".join(list(MODELS) + [f"{a} (= {c})" for a, c in ALIASES.items()])
        raise ValueError(f"unknown model {name!r}; allowed: {allowed}")
    return key


def torch_dtype(dtype: str) -> torch.dtype:
    """torch dtype of a dtype option; ValueError listing the allowed names if unknown."""
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}") from None


def build_model(name: str, batch: int = 1, dtype: str = "fp32",
                seq_len: int | None = None) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], dict]:
    """Build workload ``name`` on the meta device with its example inputs.

    Returns ``(module, example_inputs, info)`` where ``info`` holds the canonical name and
    the sequence length used (``None`` for image models). Float parameters and image
    inputs are cast to ``dtype``; token ids stay int64.
    """
    key = canonical_name(name)
    spec = MODELS[key]
    tdt = torch_dtype(dtype)
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if spec.input == "image":
        if seq_len is not None:
            raise ValueError(f"model {key!r} takes 224x224 images: seq_len is not allowed (got {seq_len})")
        seq = None
    else:
        seq = spec.default_seq_len if seq_len is None else seq_len
        if not isinstance(seq, int) or seq < 1:
            raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
        if spec.max_seq_len is not None and seq > spec.max_seq_len:
            raise ValueError(f"seq_len {seq} too long for model {key!r}: allowed 1..{spec.max_seq_len}")
    with torch.device("meta"):
        model = spec.build()
        if spec.input == "image":
            x = torch.empty(batch, 3, 224, 224, dtype=tdt)
        else:
            x = torch.randint(0, spec.vocab, (batch, seq), dtype=torch.int64)
    model = model.to(dtype=tdt)
    return model, (x,), {"model": key, "seq_len": seq, "family": spec.family}
