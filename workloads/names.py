"""Names and options of the built-in workloads, importable without torch.

Everything here is plain data (tuples and dicts of strings) so that a command line can list
models and validate options (``--help``, a warm graph-cache hit) without importing torch,
torchvision or transformers. :mod:`workloads.models` builds the models these names stand for;
a test checks that both agree.
"""

from __future__ import annotations

#: canonical names of the built-in workloads, in display order
MODEL_NAMES: tuple[str, ...] = (
    "alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "googlenet", "vit_b_16",
    "gpt2", "bert_base", "lstm_lm", "gpt2_headless", "bert_headless",
)

#: one line per model (shown by ``--help`` and ``accel extract --list``-style listings)
MODEL_DESCRIPTIONS: dict[str, str] = {
    "alexnet": "torchvision AlexNet, 224x224 images",
    "vgg16": "torchvision VGG-16, 224x224 images",
    "resnet18": "torchvision ResNet-18, 224x224 images",
    "resnet50": "torchvision ResNet-50, 224x224 images",
    "mobilenet_v2": "torchvision MobileNetV2, 224x224 images",
    "googlenet": "torchvision GoogLeNet (no aux heads), 224x224 images",
    "vit_b_16": "torchvision ViT-B/16, 224x224 images",
    "gpt2": "HF GPT2LMHeadModel (124M, tied lm_head), causal-LM cross-entropy loss, seq 512",
    "bert_base": "HF BertForMaskedLM (bert-base, tied decoder), masked-LM cross-entropy loss, seq 512",
    "lstm_lm": "LSTM language model: embedding 10000x512, 2-layer LSTM 1024, linear to 10000, seq 128",
    "gpt2_headless": "HF GPT2Model without the LM head, mean-square loss: the module measured as 'gpt2' "
                     "in data/measurements",
    "bert_headless": "HF BertModel without the MLM head, mean-square loss: the module measured as "
                     "'bert_base' in data/measurements",
}

#: accepted alternative names -> canonical name
ALIASES: dict[str, str] = {"bert": "bert_base", "lstm": "lstm_lm", "vit": "vit_b_16",
                           "bert_base_headless": "bert_headless"}

#: model name used by data/measurements (measure_gpu.py) -> the workload that builds exactly the
#: module it measured. The measurements ran the headless HF models (GPT2Model, BertModel) with a
#: mean-square loss on ``last_hidden_state``; the user-facing ``gpt2``/``bert_base`` have their heads.
MEASURED_MODELS: dict[str, str] = {"gpt2": "gpt2_headless", "bert_base": "bert_headless"}

#: dtype options of :func:`workloads.extract_model`
DTYPE_OPTIONS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8")
#: dtype options that only exist for inference (quantized graphs)
INFERENCE_ONLY_DTYPES: tuple[str, ...] = ("int8", "fp8")
MODES: tuple[str, ...] = ("infer", "train")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
AMP_DTYPES: tuple[str, ...] = ("bf16", "fp16")
#: activation layouts of :func:`workloads.extract_model` (``memory_format``); None = "contiguous"
MEMORY_FORMATS: tuple[str, ...] = ("contiguous", "channels_last")
#: models whose input is a 224x224 image (the others take token ids)
IMAGE_MODELS: tuple[str, ...] = ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "googlenet",
                                 "vit_b_16")


def list_models() -> list[str]:
    """Canonical names of the built-in workloads (aliases: see :data:`ALIASES`)."""
    return list(MODEL_NAMES)


def canonical_name(name: str) -> str:
    """Canonical model name; ValueError listing the allowed names if unknown."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in MODEL_NAMES:
        allowed = ", ".join(list(MODEL_NAMES) + [f"{a} (= {c})" for a, c in ALIASES.items()])
        raise ValueError(f"unknown model {name!r}; allowed: {allowed}")
    return key
