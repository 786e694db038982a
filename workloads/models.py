"""Built-in workloads: model constructors (no weights, no downloads), example inputs and losses.

Every model is built on the ``meta`` device from its constructor or config. Names and
descriptions live in :mod:`workloads.names` (importable without torch).

* torchvision classification models at 224x224, built as ``data/measurements/
  measure_gpu.py`` builds them (so module names match ``layers.csv``); training loss: the
  mean square of the logits, as measured.
* ``gpt2``: HF ``GPT2LMHeadModel`` (12 layers, 768 wide, sdpa attention). Its ``lm_head``
  shares the token embedding ``wte`` (tied: one parameter, counted once). Inference returns the
  logits over the 50257-token vocabulary; training uses the model's own causal-LM loss
  (``transformers.loss.loss_utils.ForCausalLMLoss``: logits upcast to fp32, labels = input ids
  shifted by one, cross-entropy over the vocabulary at every position).
* ``bert_base``: HF ``BertForMaskedLM`` (bert-base, sdpa attention, decoder tied to the word
  embeddings). Training uses the masked-LM loss exactly as ``BertForMaskedLM.forward`` computes it
  (``CrossEntropyLoss()(logits.view(-1, vocab), labels.view(-1))``) with labels = the token id at
  ~15 % of positions and -100 elsewhere, as HF's ``DataCollatorForLanguageModeling`` makes them.
  The prediction head and the cross-entropy run over *all* positions (ignored ones only drop out
  of the mean), so the recorded cost does not depend on which positions are masked -- on meta
  tensors the labels carry no values at all.
* ``gpt2_headless`` / ``bert_headless``: HF ``GPT2Model`` / ``BertModel`` (with pooler) and the
  mean-square loss on ``last_hidden_state``: the modules ``measure_gpu.py`` measured as ``gpt2`` and
  ``bert_base`` (see :data:`workloads.names.MEASURED_MODELS`); the validation harness uses these.
* ``lstm_lm``: embedding 10000x512 -> 2-layer LSTM 1024 -> linear to 10000 (its LM head), the
  measured module; training loss: mean square of the logits, as measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, cast

import torch

from workloads import flops as _flops  # noqa: F401  (registers missing FLOP formulas)
from workloads._torchvision_shim import import_torchvision
from workloads.names import (ALIASES, DTYPE_OPTIONS, IMAGE_MODELS, MODEL_NAMES, canonical_name,  # noqa: F401
                             list_models)

#: storage dtype option -> torch dtype.
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: dtype options whose tensors are built in another dtype and relabelled (see workloads.extract):
#: tf32 = fp32 tensors computing in TF32; int8/fp8 = quantized graphs traced in fp16.
BASE_DTYPE: dict[str, str] = {"tf32": "fp32", "int8": "fp16", "fp8": "fp16"}

#: fraction of positions BERT's masked-LM objective predicts (HF DataCollatorForLanguageModeling)
MLM_PROBABILITY = 0.15

#: HF config kwargs selecting the sdpa attention. ``attn_implementation`` is an ``__init__`` extra
#: (``PreTrainedConfig`` pops it from ``**kwargs``), not a config field, so type checkers reject it
#: as a literal keyword; it is passed through ``**``.
_SDPA: dict[str, Any] = {"attn_implementation": "sdpa"}

LossFactory = Callable[[torch.nn.Module, torch.Tensor], Callable[[Any], torch.Tensor]]


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
        loss: ``(model, input_ids) -> loss_fn`` building the training loss (labels included);
            None: :func:`workloads.extract.default_loss` (mean square of the output).
        loss_name: ``graph.meta["loss"]`` of a training graph.
    """

    build: Callable[[], torch.nn.Module]
    input: str
    default_seq_len: int | None = None
    vocab: int = 0
    family: str = "torchvision"
    max_seq_len: int | None = None
    loss: LossFactory | None = None
    loss_name: str = "mean_square"


def _tv(name: str, **kw) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        return getattr(import_torchvision().models, name)(**kw)
    return build


def _gpt2_config() -> Any:
    import_torchvision()  # transformers imports torchvision when installed: shim it first
    from transformers import GPT2Config

    return GPT2Config(n_layer=12, n_embd=768, n_head=12, **_SDPA)


def _bert_config() -> Any:
    import_torchvision()
    from transformers import BertConfig

    return BertConfig(**_SDPA)


def _gpt2_lm() -> torch.nn.Module:
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(_gpt2_config())


def _gpt2_headless() -> torch.nn.Module:
    from transformers import GPT2Model

    return GPT2Model(_gpt2_config())


def _bert_mlm() -> torch.nn.Module:
    from transformers import BertForMaskedLM

    return BertForMaskedLM(_bert_config())


def _bert_headless() -> torch.nn.Module:
    from transformers import BertModel

    return BertModel(_bert_config())


def _logits(out: Any) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out


def _vocab_size(model: torch.nn.Module) -> int:
    """``model.config.vocab_size`` of an HF model."""
    config: Any = model.config
    return int(config.vocab_size)


def causal_lm_loss(model: torch.nn.Module, input_ids: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """GPT2LMHeadModel's training loss with ``labels = input_ids`` (what ``model(ids, labels=ids).loss`` runs).

    HF's ``ForCausalLMLoss``: ``logits.float()``, labels padded with -100 and shifted left by one,
    ``cross_entropy(logits.view(-1, vocab), labels.view(-1), ignore_index=-100)`` (mean).
    """
    loss_impl: Callable[..., torch.Tensor]
    try:
        from transformers.loss.loss_utils import ForCausalLMLoss
    except ImportError:  # older transformers: the model's own loss_function property
        loss_impl = cast(Callable[..., torch.Tensor], model.loss_function)
    else:
        loss_impl = ForCausalLMLoss
    vocab = _vocab_size(model)
    labels = input_ids

    def loss_fn(out: Any) -> torch.Tensor:
        return loss_impl(_logits(out), labels, vocab_size=vocab)

    return loss_fn


def mlm_labels(input_ids: torch.Tensor, probability: float = MLM_PROBABILITY,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Masked-LM labels: the token id at a random ``probability`` fraction of positions, -100 elsewhere.

    On meta tensors the result has the right shape and dtype but no values (costs do not depend on them).
    """
    pick = torch.rand(input_ids.shape, generator=generator, device=input_ids.device) < probability
    return torch.where(pick, input_ids, torch.full_like(input_ids, -100))


def masked_lm_loss(model: torch.nn.Module, input_ids: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """BertForMaskedLM's training loss (what ``model(ids, labels=labels).loss`` runs) on :func:`mlm_labels`.

    ``CrossEntropyLoss()(logits.view(-1, vocab), labels.view(-1))``: ignore_index -100, mean over
    the masked positions; logits are computed (and the loss kernels run) at every position.
    """
    vocab = _vocab_size(model)
    labels = mlm_labels(input_ids)

    def loss_fn(out: Any) -> torch.Tensor:
        return torch.nn.CrossEntropyLoss()(_logits(out).view(-1, vocab), labels.view(-1))

    return loss_fn


MODELS: dict[str, ModelSpec] = {
    "alexnet": ModelSpec(_tv("alexnet"), "image"),
    "vgg16": ModelSpec(_tv("vgg16"), "image"),
    "resnet18": ModelSpec(_tv("resnet18"), "image"),
    "resnet50": ModelSpec(_tv("resnet50"), "image"),
    "mobilenet_v2": ModelSpec(_tv("mobilenet_v2"), "image"),
    "googlenet": ModelSpec(_tv("googlenet", aux_logits=False, init_weights=False), "image"),
    "vit_b_16": ModelSpec(_tv("vit_b_16"), "image"),
    "gpt2": ModelSpec(_gpt2_lm, "tokens", 512, 50257, "transformers", max_seq_len=1024,
                      loss=causal_lm_loss, loss_name="causal_lm_cross_entropy"),
    "bert_base": ModelSpec(_bert_mlm, "tokens", 512, 30522, "transformers", max_seq_len=512,
                           loss=masked_lm_loss, loss_name="masked_lm_cross_entropy"),
    "lstm_lm": ModelSpec(LSTMNet, "tokens", 128, 10000, "torch"),
    "gpt2_headless": ModelSpec(_gpt2_headless, "tokens", 512, 50257, "transformers", max_seq_len=1024),
    "bert_headless": ModelSpec(_bert_headless, "tokens", 512, 30522, "transformers", max_seq_len=512),
}
assert tuple(MODELS) == MODEL_NAMES, "workloads.names.MODEL_NAMES and workloads.models.MODELS disagree"
assert {k for k, s in MODELS.items() if s.input == "image"} == set(IMAGE_MODELS)


def base_dtype(dtype: str) -> str:
    """Storage dtype a dtype option's tensors are traced in (``tf32`` -> fp32, ``int8``/``fp8`` -> fp16)."""
    if dtype not in DTYPE_OPTIONS:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPE_OPTIONS)}")
    return BASE_DTYPE.get(dtype, dtype)


def torch_dtype(dtype: str) -> torch.dtype:
    """torch dtype the tensors of a dtype option are built in; ValueError listing the allowed names if unknown."""
    return DTYPES[base_dtype(dtype)]


def build_model(name: str, batch: int = 1, dtype: str = "fp32", seq_len: int | None = None,
                memory_format: str | None = None) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], dict]:
    """Build workload ``name`` on the meta device with its example inputs.

    Returns ``(module, example_inputs, info)`` where ``info`` holds the canonical name, the
    sequence length used (``None`` for image models), the family, ``loss_fn`` (the training loss
    with its labels, or None for the mean-square default) and ``loss`` (its name). Float
    parameters and image inputs are cast to ``dtype``'s storage dtype (:func:`base_dtype`);
    token ids stay int64. ``memory_format="channels_last"`` puts image models' 4-D parameters
    and the input in NHWC strides (``torch.channels_last``).
    """
    key = canonical_name(name)
    spec = MODELS[key]
    tdt = torch_dtype(dtype)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    channels_last = _channels_last(memory_format)
    if spec.input == "image":
        if seq_len is not None:
            raise ValueError(f"model {key!r} takes 224x224 images: seq_len is not allowed (got {seq_len})")
        seq = None
    else:
        if channels_last:
            raise ValueError(f"memory_format 'channels_last' applies to image models (convolutions); "
                             f"model {key!r} takes token ids: allowed memory_format: contiguous")
        seq = spec.default_seq_len if seq_len is None else seq_len
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
        if spec.max_seq_len is not None and seq > spec.max_seq_len:
            raise ValueError(f"seq_len {seq} too long for model {key!r}: allowed 1..{spec.max_seq_len}")
    with torch.device("meta"):
        model = spec.build()
        if spec.input == "image":
            x = torch.empty(batch, 3, 224, 224, dtype=tdt)
        else:
            x = torch.randint(0, spec.vocab, (batch, cast(int, seq)), dtype=torch.int64)  # validated above
        loss_fn = spec.loss(model, x) if spec.loss is not None else None
    model = model.to(dtype=tdt)
    if channels_last:
        # torch's stub omits Module.to's memory_format keyword (accepted at runtime, documented)
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        x = x.contiguous(memory_format=torch.channels_last)
    return model, (x,), {"model": key, "seq_len": seq, "family": spec.family, "loss_fn": loss_fn,
                         "loss": spec.loss_name}


def _channels_last(memory_format: str | None) -> bool:
    from workloads.names import MEMORY_FORMATS

    if memory_format is None or memory_format == "contiguous":
        return False
    if memory_format == "channels_last":
        return True
    raise ValueError(f"unknown memory_format {memory_format!r}; allowed: {', '.join(MEMORY_FORMATS)} (or None)")
