"""The published LLM training runs of ``data/published/training_published.csv`` as typed simulator inputs.

Each CSV row becomes a :class:`TrainingRow`: the model as an accel LLM spec string (from
``data/published/training_models.yaml``), the GPU and the accel system that stands in for the cluster, the
parallel layout (tp / pp / dp / cp, virtual pipeline stages, microbatch, global batch in sequences, sequence
length), dtype, activation recomputation, sequence parallelism, ZeRO stage, and the published throughput in
tokens/s per GPU with how it was derived. A row accel cannot express carries the reasons in ``unexpressible``;
nothing is simulated here. Run as a script for a summary::

    python benchmarks/training_rows.py

Published throughput, in order of preference (one function each, formula in its docstring):
``tokens_per_s_per_gpu`` as published; else ``iteration_time_s`` (:func:`tokens_from_iteration_time`); else
``tokens_per_s_total`` (:func:`tokens_from_total`); else ``samples_per_s`` (:func:`tokens_from_samples`); else
``tflops_per_gpu`` through the source's own FLOP formula, which is published only for the Megatron-LM README rows
(:func:`megatron_flops_per_token`, :func:`tokens_from_megatron_tflops`). Other TFLOP/s-only or MFU-only rows get
no tokens/s (``published_tokens_per_s_per_gpu`` None) and say so.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.train.layout import DEFAULT_LORA_TARGETS  # noqa: E402
from workloads.llm_configs import LlmConfig, llm_config  # noqa: E402

CSV_PATH = ROOT / "data" / "published" / "training_published.csv"
MODELS_PATH = ROOT / "data" / "published" / "training_models.yaml"

SYSTEMS_DIR = ROOT / "archs" / "systems"

#: accel system arch (archs/systems/<name>.yaml) standing in for each GPU's cluster: Selene (DGX A100 80GB
#: SuperPOD) and Eos (DGX H100 SuperPOD); B200 has none
SYSTEMS: dict[str, str | None] = {"a100": "selene", "h100": "eos", "b200": None}
#: sources whose cluster accel has: BLOOM ran on Jean Zay's A100 partition (4 Omni-Path links per 8-GPU node;
#: bigscience-workshop/bigscience train/tr11-176B-ml/README.md, Hardware)
SOURCE_SYSTEMS: dict[str, str] = {"BLOOM tr11 log": "jean_zay_a100"}
#: source -> (blocks on the first, on the last pipeline stage) of runs with uneven stages. BLOOM: Megatron-DeepSpeed
#: ``--pp-partition-method 'type:transformer|embedding'``, which its README spells out for tp4 x pp12: "pp rank 0:
#: [embed | 5 transformer blocks]", ranks 1-10: 6 blocks, "pp rank 11: [5 transformer blocks | embed]"
#: (tr11-176B-ml/README.md @39ed8110482e9eb87d0e094ede05e4d02c40e298)
PIPELINE_PARTITIONS: dict[str, tuple[int, int]] = {"BLOOM tr11 log": (5, 5)}

class NemoConfig(NamedTuple):
    """What one NeMo 24.07 release config sets beyond the layout (module docstring of :data:`NEMO_2407_CONFIGS`)."""

    recompute: str               # activations_checkpoint_granularity (null: "none")
    sequence_parallel: bool
    tp_comm_overlap: bool        # ub_tp_comm_overlap
    cross_entropy_fusion: bool   # cross_entropy_loss_fusion (absent: Megatron-Core's default, false)
    dropout: float               # hidden_dropout = attention_dropout
    bucket_cap_mb: float         # optim.bucket_cap_mb (absent: Apex DistributedFusedAdam's default, 100)
    param_sync_overlap: bool     # optim.overlap_param_sync (absent: Apex's default, false)


#: NeMo 24.07's release configs for the models of its 24.07 performance summary (NVIDIA/NeMo-Framework-Launcher
#: @ tag 24.07: launcher_scripts/conf/training/{gpt3,llama,nemotron}/<model>.yaml; the SFT rows
#: conf/fine_tuning/llama/squad.yaml): model -> :class:`NemoConfig`. ``cross_entropy_loss_fusion: true`` (Megatron-Core's
#: fused vocab-parallel loss) is set by the llama3_8b/70b and nemotron_8b/22b configs only; ``hidden_dropout`` and
#: ``attention_dropout`` are 0.1 in the gpt3 and the SFT (squad.yaml) configs, 0.0 in the llama and nemotron ones.
#: The summary states the layouts it ran (TP/PP/CP/VP, MBS), not these, so the release configs fill them.
#: Granularity null = no recomputation. Every one of those configs sets ``optim.name: distributed_fused_adam``: Apex's
#: DistributedFusedAdam, whose docstring says it "implements the ZeRO-2 algorithm, which distributes the optimizer
#: state and gradients between parallel processes" (NEMO_ZERO). Its ``bucket_cap_mb`` (400 for gpt3 5b, 220 for 20b
#: and 175b, 125 for the llama ones, 100 for nemotron 8b/22b, 50 for 340b) and ``overlap_param_sync: true`` are set
#: by every pretraining config; squad.yaml sets neither, so Apex's defaults hold there: 100 and false
#: (apex/contrib/optimizers/distributed_fused_adam.py @f9f19d5c, 2024-07-23: ``bucket_cap_mb: float = 100.0``,
#: ``overlap_param_sync: bool = False``; a bucket is ``bucket_cap_mb`` MiB of ``grad_sync_dtype`` elements).
#: Read at tag 24.07 = 8325688d8345a5513660f0f8390f0482a721c009
NEMO_2407_CONFIGS: dict[str, NemoConfig] = {
    "GPT3-5B": NemoConfig("none", False, False, False, 0.1, 400, True),
    "GPT3-20B": NemoConfig("none", True, True, False, 0.1, 220, True),
    "GPT3-175B": NemoConfig("none", True, False, False, 0.1, 220, True),
    "LLAMA2-7B": NemoConfig("none", False, False, False, 0.0, 125, True),
    "LLAMA2-13B": NemoConfig("none", False, False, False, 0.0, 125, True),
    "LLAMA2-70B": NemoConfig("none", True, True, False, 0.0, 125, True),
    "Nemotron-8B": NemoConfig("none", True, True, True, 0.0, 100, True),
    "Nemotron-22B": NemoConfig("none", True, True, True, 0.0, 100, True),
    "Nemotron-340B": NemoConfig("selective", True, False, False, 0.0, 50, True),
    "LLAMA3-8B": NemoConfig("none", False, False, True, 0.0, 125, True),
    "LLAMA3-70B": NemoConfig("none", True, True, True, 0.0, 125, True),
    "LLAMA2-7B SFT": NemoConfig("none", False, False, False, 0.1, 100, False),
    "LLAMA2-13B SFT": NemoConfig("none", False, False, False, 0.1, 100, False),
    "LLAMA2-70B SFT": NemoConfig("none", False, False, False, 0.1, 100, False),
    "LLAMA2-7B LoRA": NemoConfig("none", False, False, False, 0.0, 100, False),
    "LLAMA2-13B LoRA": NemoConfig("none", False, False, False, 0.0, 100, False),
    "LLAMA2-70B LoRA": NemoConfig("none", False, False, False, 0.0, 100, False),
}
NEMO_SOURCES = ("NeMo 24.07 pretraining", "NeMo 24.07 SFT", "NeMo 24.07 LoRA")
#: NeMo 24.07's LoRA rows (launcher tag 24.07 ``conf/peft/llama/squad.yaml``: ``peft_scheme: lora``,
#: ``lora_tuning.adapter_dim: 32``, no ``target_modules``, so NeMo's default ``attention_qkv``: ``get_target_modules``
#: in ``nemo/collections/nlp/parts/peft_config.py``; no recomputation, no sequence parallelism, dropout 0, and
#: ``optim.name: fused_adam`` -- not the distributed optimizer, so no ZeRO): source -> (rank, target groups, ZeRO stage)
NEMO_LORA = {"NeMo 24.07 LoRA": (32, ("qkv",), 0)}
#: models whose NeMo 24.07 release config keeps the optimizer in bf16 (``optim.dtype: bf16``,
#: ``grad_sync_dtype: bf16``; the other configs leave both at fp32)
NEMO_BF16_OPTIMIZER = {"Nemotron-340B"}
NEMO_ZERO = 2

#: Megatron/NeMo pad the vocabulary to a multiple of this x tp (make_vocab_size_divisible_by default;
#: megatron/training/tokenizer/tokenizer.py _vocab_size_with_padding @937571cfd49d0194c06123af93e310cd3637cf50)
MEGATRON_VOCAB_MULTIPLE = 128
#: "NM" token counts of the CSV (OPT "2M", LLaMA "4M" tokens per batch) are read as N x 2^20 tokens
TOKEN_SUFFIX = {"K": 2**10, "M": 2**20}

# ---- reasons a row is unexpressible (fixed texts, so the summary can count them) --------------------------
R_B200 = "B200 not modelled (no accel system for DGX B200)"
R_GPU_UNSTATED = "GPU type not stated by the source"
R_MODEL = "model config not found (no entry in training_models.yaml)"
R_FP8 = "fp8 training on a GPU without fp8 tensor cores (A100)"
R_DTYPE = "training precision not stated"
R_PARALLEL = "parallel degrees (tp/pp/dp) not stated"
R_INCONSISTENT = "published tp*pp*dp*cp != num_gpus"
R_CP = "context parallelism: seq_len not divisible by 2 x cp (load-balanced chunks)"
R_EP = "expert parallelism (ep > 1) not modelled"
R_APPROX = "published figure is approximate ('up to' / 'around'), not a measured value"
R_NO_TOKENS = "no throughput convertible to tokens/s (only MFU, or TFLOP/s without the source's FLOP formula)"
R_SEQ = "sequence length not stated"
R_BATCH = "global batch not divisible by dp x microbatch size"
R_TP_SPLIT = "tp does not divide the model's heads / kv_heads / ffn / vocab"
R_PP_SPLIT = "pp does not divide the model's layers (uneven pipeline stages)"
R_VP_SPLIT = "interleaved pipeline: layers not divisible by pp x vp, or microbatches not divisible by pp"
R_ZERO3_PP = "ZeRO-3 / FSDP combined with pp > 1 not modelled"
R_TOO_BIG = "more GPUs than the stand-in system has"

#: (prefix of the CSV's source text, short name), first match wins
SOURCES: tuple[tuple[str, str], ...] = (
    ("Smith et al. 2022", "MT-NLG (Smith et al. 2022)"),
    ("Zhang et al. 2022", "OPT (Zhang et al. 2022)"),
    ("BigScience BLOOM-176B", "BLOOM tr11 log"),
    ("Touvron et al. 2023", "LLaMA (Touvron et al. 2023)"),
    ("Korthikanti et al. 2022", "Korthikanti et al. 2022 Tab. 5"),
    ('Megatron-LM README "Training Speed and Scalability" model table', "Megatron-LM README weak scaling"),
    ('Megatron-LM README "Training Speed and Scalability" strong', "Megatron-LM README strong scaling"),
    ("Megatron-LM examples/llama", "Megatron-LM llama FP8 table"),
    ("NeMo performance summary, Pretraining", "NeMo 24.07 pretraining"),
    ("NeMo performance summary, Finetuning SFT", "NeMo 24.07 SFT"),
    ("NeMo performance summary, Finetuning LoRA", "NeMo 24.07 LoRA"),
    ("NeMo long-sequence performance: LLAMA3-8B (FP8) - B200", "NeMo long-sequence B200"),
    ("NeMo long-sequence performance: LLAMA2-7B (FP8) - H100", "NeMo long-sequence H100"),
    ('MosaicML llm-foundry MPT training benchmarks: "H100 80GB BF16 (Large', "llm-foundry MPT H100 BF16 >=128 GPUs"),
    ('MosaicML llm-foundry MPT training benchmarks: "H100 80GB BF16"', "llm-foundry MPT H100 BF16"),
    ('MosaicML llm-foundry MPT training benchmarks: "H100 80GB FP8"', "llm-foundry MPT H100 FP8"),
)

#: Korthikanti et al. 2022 Table 5 rows: virtual pipeline stages per rank. The paper, Sec. 6: "We use the
#: interleaving schedule with three interleaving stages (m = 3) for the 175B and 530B models" (read in a stored copy
#: of its text); Calculon encodes the same (calculon-ai/calculon validation/seqsel/tab5/*.json
#: "pipeline_interleaving" @caa4b11f8fe1fee3ba57adaacb7590d7deabd053: 3 for gpt3-175B and turing-530B, 1 for the others)
KORTHIKANTI_VP: dict[str, int] = {"GPT-3 175B": 3, "MT-NLG 530B": 3}


@dataclass(frozen=True)
class TrainingRow:
    """One published training run, as accel inputs.

    Attributes:
        row: index of the row in the CSV (0-based, ``#`` lines skipped). source_short: short source name.
        model: the CSV's model text. model_key: its entry in ``training_models.yaml`` (None: none).
        spec: accel LLM spec (``llm_config(spec)``), with this row's max_positions / padded vocab applied.
        gpu: ``a100``, ``h100`` or ``b200`` (None: not stated). system: accel system arch name (``selene``,
        ``eos``; None for B200 / unknown GPU). num_gpus: GPUs of the run.
        tp / pp / dp / cp: tensor-, pipeline-, data-, context-parallel degrees (None: not stated).
        vp: virtual pipeline stages per pipeline rank (Megatron's interleaved schedule; None: not published).
        layers_per_virtual_stage: ``layers / (pp x vp)`` when vp > 1 (accel's form of vp), else None.
        microbatch_size: sequences per microbatch (None: not published). global_batch: sequences per step.
        seq_len: tokens per sequence. dtype: ``fp16``, ``bf16`` or ``fp8`` (see ``caveats`` when assumed).
        recompute: ``none``, ``selective`` or ``full`` when the source says, else None.
        sequence_parallel: Korthikanti et al.'s sequence parallelism (False when tp == 1; None: not stated).
        tp_comm_overlap: Megatron-Core's ``--tp-comm-overlap`` / NeMo's ``ub_tp_comm_overlap`` as the source or its
        release configs state it (None: not stated).
        optimizer_dtype: Adam's state and gradient-reduction dtype (``fp32``; ``bf16`` where the source's configs set
        it).
        cross_entropy_fusion: the source's configs set Megatron-Core's ``cross_entropy_loss_fusion`` (None: not
        stated).
        dropout: hidden and attention dropout probability the source's configs set (None: not stated).
        dp_bucket_params: parameters per data-parallel gradient bucket the source's configs set (None: not stated,
        Megatron-Core's default). dp_gather_overlap: whether the ZeRO parameter all-gather overlaps the forward
        (None: not stated, overlapped).
        lora_rank / lora_targets: LoRA fine-tuning's adapter rank and target groups (:data:`NEMO_LORA`;
        :attr:`accel.train.layout.TrainLayout.lora_rank`; None: every weight trains).
        attention: the attention core's kernel where the run's configs fix it (``--attention``; None: the
        source's rule in ``bench_training.STACKS``). dp_buckets_every_stage: whether the overlapped gradient
        reduction buckets on every pipeline rank (Apex DistributedFusedAdam) or the first only (Megatron-Core's DDP;
        None: the source's rule, ``bench_training.DP_BUCKETS_EVERY_STAGE``). fp8_param_gather: the run keeps its
        linear layers' weights in fp8 and gathers them so (``--fp8-param-gather``; NeMo ``fp8_params``).
        optimizer_step: the optimizer step's kernels where the run's configs fix them (``--optimizer-step``; None:
        the source's rule, ``bench_training.OPTIMIZER_STEP``).
        fsdp: the run shards with PyTorch FSDP (its parallel configuration names FSDP): ZeRO-2/3's collectives go per
        block and microbatch (:attr:`accel.train.layout.TrainLayout.fsdp`).
        zero: ZeRO stage 0..3 (FSDP FULL_SHARD = 3, SHARD_GRAD_OP = 2, Megatron distributed optimizer = 1;
        0 when dp == 1; None: not stated).
        published_tokens_per_s_per_gpu: the published throughput as tokens/s per GPU (None: not derivable).
        published_basis: how that number was derived from the CSV.
        published_params_b: the CSV's params_b when numeric (billions).
        caveats: assumptions and differences that do not stop a comparison.
        unexpressible: ``"; "``-joined reasons accel cannot express the row (None: expressible).
    """

    row: int
    source_short: str
    model: str
    model_key: str | None
    spec: str | None
    gpu: str | None
    system: str | None
    num_gpus: int
    tp: int | None
    pp: int | None
    dp: int | None
    cp: int | None
    vp: int | None
    layers_per_virtual_stage: int | None
    first_stage_layers: int | None
    last_stage_layers: int | None
    microbatch_size: int | None
    global_batch: int | None
    seq_len: int | None
    dtype: str | None
    recompute: str | None
    sequence_parallel: bool | None
    zero: int | None
    tp_comm_overlap: bool | None
    fsdp: bool
    optimizer_dtype: str
    published_tokens_per_s_per_gpu: float | None
    published_basis: str
    published_params_b: float | None
    caveats: tuple[str, ...]
    unexpressible: str | None
    cross_entropy_fusion: bool | None = None
    dropout: float | None = None
    dp_bucket_params: int | None = None
    dp_gather_overlap: bool | None = None
    lora_rank: int | None = None
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    attention: str | None = None
    dp_buckets_every_stage: bool | None = None
    fp8_param_gather: bool = False
    optimizer_step: str | None = None

    @property
    def expressible(self) -> bool:
        return self.unexpressible is None

    @property
    def reasons(self) -> tuple[str, ...]:
        """The unexpressible reasons, one per entry (empty when expressible)."""
        return tuple(self.unexpressible.split("; ")) if self.unexpressible else ()


@dataclass(frozen=True)
class ModelEntry:
    """One model of ``training_models.yaml`` (see its header for the flags)."""

    key: str
    csv_models: tuple[str, ...]
    spec: str
    source: str
    notes: str
    untied_output_layer: bool = False
    positions_follow_seq_len: bool = False
    megatron_vocab_padding: bool = False


# ---- published throughput: one conversion per function ---------------------------------------------------

def tokens_from_iteration_time(global_batch: int, seq_len: int, iteration_time_s: float, num_gpus: int) -> float:
    """Tokens/s per GPU from an iteration time: ``global_batch x seq_len / iteration_time_s / num_gpus``."""
    return global_batch * seq_len / iteration_time_s / num_gpus


def tokens_from_total(tokens_per_s_total: float, num_gpus: int) -> float:
    """Tokens/s per GPU from the whole run's tokens/s: ``tokens_per_s_total / num_gpus``."""
    return tokens_per_s_total / num_gpus


def tokens_from_samples(samples_per_s: float, seq_len: int, num_gpus: int) -> float:
    """Tokens/s per GPU from sequences/s: ``samples_per_s x seq_len / num_gpus``."""
    return samples_per_s * seq_len / num_gpus


def megatron_flops_per_token(cfg: LlmConfig, seq_len: int) -> float:
    """Megatron-LM's model FLOPs per token of one training iteration (forward + backward, no recompute).

    NVIDIA/Megatron-LM ``megatron/training/training.py`` ``num_floating_point_operations(args, batch_size)``
    @937571cfd49d0194c06123af93e310cd3637cf50 (core_r0.8.0, the release of the README's H100 table) returns,
    per iteration of ``B`` sequences of ``s`` tokens::

        12 B s L h^2 ( (1 + g/a + s/h) (a d / h)  +  (ffn / h) (3/2 if swiglu else 1)  +  V / (2 L h) )

    with ``L`` layers, ``h`` hidden, ``a`` heads, ``g`` query groups (= kv_heads), ``d`` kv_channels (head
    dim), ``V`` the padded vocabulary, one expert (dense). Per token: the same without ``B s``. The ``llama``
    family is SwiGLU (gated), ``gpt`` is not.
    """
    L, h, a = cfg.layers, cfg.hidden, cfg.heads
    attention = (1 + cfg.kv_heads / a + seq_len / h) * (a * cfg.head_dim / h)
    mlp = cfg.ffn / h * (1.5 if cfg.family == "llama" else 1.0)
    logit = cfg.vocab / (2 * L * h)
    return 12.0 * L * h * h * (attention + mlp + logit)


def tokens_from_megatron_tflops(tflops_per_gpu: float, cfg: LlmConfig, seq_len: int) -> float:
    """Tokens/s per GPU from Megatron's logged TFLOP/s per GPU:
    ``tflops_per_gpu x 1e12 / megatron_flops_per_token(cfg, seq_len)`` (Megatron logs
    ``num_floating_point_operations / iteration_time / world_size / 1e12``)."""
    return tflops_per_gpu * 1e12 / megatron_flops_per_token(cfg, seq_len)


# ---- CSV cell parsing --------------------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    """A float, or None for an empty / non-numeric cell."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _int(v: Any) -> int | None:
    f = _num(v)
    if f is None:
        return None
    if f != int(f):
        raise ValueError(f"expected an integer, got {v!r}")
    return int(f)


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def parse_count(v: Any) -> int | None:
    """``2048`` -> 2048; ``8K`` -> 8192; ``2M`` -> 2 x 2^20 (binary K/M, the convention of these sources);
    empty -> None."""
    s = _text(v).strip()
    if not s:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KM]?)", s, flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read a count from {v!r}")
    n = float(m.group(1)) * TOKEN_SUFFIX.get(m.group(2).upper(), 1)
    if n != int(n):
        raise ValueError(f"{v!r} is not a whole number")
    return int(n)


def parse_gpu(text: str) -> str | None:
    """``a100`` / ``h100`` / ``b200`` from the CSV's gpu cell; None when the source does not state it."""
    t = text.strip().lower()
    if not t or t.startswith("not stated"):
        return None
    for g in ("a100", "h100", "b200"):
        if t.startswith(g):
            return g
    raise ValueError(f"unknown GPU {text!r}")


def parse_dtype(text: str) -> str | None:
    """``fp16`` / ``bf16`` / ``fp8`` from the CSV's precision cell; None when not stated or ambiguous."""
    t = text.lower()
    found = [d for d in ("fp8", "bf16", "fp16") if re.search(rf"(?<![a-z0-9]){d}(?![0-9])", t)]
    if not found or t.startswith("not stated") or "not verified" in t or len(found) > 1:
        return None
    return found[0]


def parse_recompute(parallel_config: str, tflops_basis: str) -> str | None:
    """Activation recomputation as the source states it: Korthikanti rows (``full activation recompute`` /
    ``selective recompute``), llm-foundry rows (``activation checkpointing True/False``: composer checkpoints
    every block = full), BLOOM (TFLOPs counted "incl. activation recompute", the 4 x 2 coefficient = full
    recomputation); else None."""
    t = parallel_config.lower()
    if "selective recompute" in t:
        return "selective"
    if "full activation recompute" in t or "activation checkpointing true" in t:
        return "full"
    if "activation checkpointing false" in t:
        return "none"
    if "incl. activation recompute" in tflops_basis.lower():
        return "full"
    return None


def parse_zero(parallel_config: str) -> int | None:
    """ZeRO stage as stated: FSDP FULL_SHARD / plain "Fully Sharded Data Parallel" = 3, SHARD_GRAD_OP = 2,
    "ZeRO stage 1" = 1; Megatron's ``--overlap-param-gather`` = 1 (it asserts ``--use-distributed-optimizer``,
    megatron/training/arguments.py @937571cfd49d0194c06123af93e310cd3637cf50); else None."""
    t = parallel_config
    if "SHARD_GRAD_OP" in t:
        return 2
    if "FULL_SHARD" in t or "Fully Sharded Data Parallel" in t:
        return 3
    m = re.search(r"ZeRO stage (\d)", t)
    if m:
        return int(m.group(1))
    if "--overlap-param-gather" in t:
        return 1
    return None


@functools.lru_cache(maxsize=None)
def system_gpus(system: str, systems_dir: Path | str = SYSTEMS_DIR) -> int | None:
    """GPUs of an accel system arch: ``nodes`` x the devices of one node, read from
    ``archs/systems/<system>.yaml`` (None when the file is not there)."""
    path = Path(systems_dir) / f"{system}.yaml"
    if not path.exists():
        return None
    with open(path) as f:
        doc = yaml.safe_load(f)
    return int(doc.get("nodes", 1)) * sum(int(d.get("count", 1)) for d in doc["devices"])


def source_short(source: str) -> str:
    for prefix, short in SOURCES:
        if source.startswith(prefix):
            return short
    raise ValueError(f"unknown source {source[:80]!r}: add it to SOURCES")


# ---- models -----------------------------------------------------------------------------------------------

def model_entries(path: Path | str = MODELS_PATH) -> dict[str, ModelEntry]:
    """``{key: ModelEntry}`` of every model in ``training_models.yaml``, those of the out-of-sample benchmarks
    (no ``csv_models``) included."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    return {key: ModelEntry(key, tuple(e["csv_models"]), str(e["spec"]), str(e["source"]), str(e.get("notes") or ""),
                            bool(e.get("untied_output_layer", False)), bool(e.get("positions_follow_seq_len", False)),
                            bool(e.get("megatron_vocab_padding", False)))
            for key, e in doc["models"].items()}


def load_models(path: Path | str = MODELS_PATH) -> dict[str, ModelEntry]:
    """``{CSV model text: ModelEntry}`` from ``training_models.yaml``; ValueError when a text is listed twice."""
    out: dict[str, ModelEntry] = {}
    for key, entry in model_entries(path).items():
        for name in entry.csv_models:
            if name in out:
                raise ValueError(f"{path}: CSV model {name!r} listed under both {out[name].key} and {key}")
            out[name] = entry
    return out


def _with_keys(spec: str, **keys: int) -> str:
    """``spec`` (a ``family:k=v,...`` string) with ``keys`` set (replacing any given)."""
    family, sep, body = spec.partition(":")
    if not sep:
        raise ValueError(f"{spec!r} is a named config; give a spec string to override {', '.join(keys)}")
    items = [x for x in body.split(",") if x and x.split("=")[0].strip() not in keys]
    return f"{family}:" + ",".join(items + [f"{k}={v}" for k, v in keys.items()])


def row_spec(entry: ModelEntry, seq_len: int | None, tp: int | None) -> str:
    """The model's spec for one run: learned positions sized to ``seq_len`` (positions_follow_seq_len, or a
    gpt spec shorter than the run), a separate LM-head matrix (untied_output_layer: ``tied=0``), the vocabulary
    padded Megatron's way for ``tp`` (megatron_vocab_padding)."""
    spec, cfg, keys = entry.spec, llm_config(entry.spec), {}
    if seq_len is not None and not cfg.rope and (entry.positions_follow_seq_len or seq_len > cfg.max_positions):
        keys["max_positions"] = seq_len
    if entry.untied_output_layer:
        keys["tied"] = 0
    if entry.megatron_vocab_padding and tp is not None:
        multiple = MEGATRON_VOCAB_MULTIPLE * tp
        keys["vocab"] = -(-cfg.vocab // multiple) * multiple
    return _with_keys(spec, **keys) if keys else spec


def param_count(cfg: LlmConfig) -> int:
    """Parameters of ``cfg`` as workloads.llm.DecoderLM builds it: token embedding (+ learned positions),
    per block two norms (LayerNorm weight+bias for gpt, RMSNorm weight for llama), q/k/v/o projections and the
    MLP (gpt: fc_in/fc_out with biases; llama: gate/up/down), final norm, and an LM head unless tied."""
    h, hd = cfg.hidden, cfg.head_dim
    q, kv = cfg.heads * hd, cfg.kv_heads * hd
    norm = 2 * h if cfg.family == "gpt" else h
    attn = h * q + 2 * h * kv + q * h + (q + 2 * kv + h if cfg.attn_bias else 0)
    if cfg.family == "llama":
        mlp = 3 * h * cfg.ffn
    else:
        mlp = 2 * h * cfg.ffn + (cfg.ffn + h if cfg.mlp_bias else 0)
    block = 2 * norm + attn + mlp
    embed = cfg.vocab * h + (0 if cfg.rope else cfg.max_positions * h)
    head = (0 if cfg.tied else cfg.vocab * h) + (cfg.vocab if cfg.head_bias else 0)
    return embed + cfg.layers * block + norm + head


# ---- rows -------------------------------------------------------------------------------------------------

def _throughput(r: pd.Series, global_batch: int | None, seq_len: int | None, num_gpus: int,
                short: str, cfg: LlmConfig | None) -> tuple[float | None, str]:
    """(tokens/s per GPU, basis) in the module docstring's order of preference."""
    tok = _num(r["tokens_per_s_per_gpu"])
    if tok is not None:
        return tok, "tokens_per_s_per_gpu as published"
    it = _num(r["iteration_time_s"])
    if it is not None and global_batch is not None and seq_len is not None:
        return (tokens_from_iteration_time(global_batch, seq_len, it, num_gpus),
                f"iteration_time_s: {global_batch} seq x {seq_len} tok / {it:g} s / {num_gpus} GPUs")
    total = _num(r["tokens_per_s_total"])
    if total is not None:
        return tokens_from_total(total, num_gpus), f"tokens_per_s_total {total:g} / {num_gpus} GPUs"
    sps = _num(r["samples_per_s"])
    if sps is not None and seq_len is not None:
        return tokens_from_samples(sps, seq_len, num_gpus), f"samples_per_s {sps:g} x {seq_len} tok / {num_gpus} GPUs"
    tf = _num(r["tflops_per_gpu"])
    if tf is not None and short == "Megatron-LM README weak scaling" and cfg is not None and seq_len is not None:
        return (tokens_from_megatron_tflops(tf, cfg, seq_len),
                f"tflops_per_gpu {tf:g} / Megatron-LM num_floating_point_operations per token "
                f"({megatron_flops_per_token(cfg, seq_len):.6g} FLOP at seq {seq_len}, "
                "megatron/training/training.py @937571cfd49d0194c06123af93e310cd3637cf50)")
    if tf is not None:
        return None, f"only tflops_per_gpu {tf:g} ({_text(r['tflops_basis']) or 'basis not stated'}); the source's " \
                     "FLOP formula is not published/verified, so no tokens/s"
    mfu = _num(r["mfu_pct"])
    if mfu is not None:
        return None, f"only MFU {mfu:g} % (peak and FLOP formula not published), so no tokens/s"
    return None, "no throughput published"


def _layout_reasons(cfg: LlmConfig, tp: int, pp: int, dp: int, vp: int | None, mb: int | None,
                    gb: int | None, zero: int | None, ends: tuple[int, int] | None = None) -> list[str]:
    """accel's layout constraints (accel/train/layout.py, workloads/llm_train.py) this row breaks (``ends``: the
    uneven stages' (first, last) block counts)."""
    out = []
    if cfg.heads % tp or cfg.ffn % tp or cfg.vocab % tp or (cfg.kv_heads >= tp and cfg.kv_heads % tp):
        out.append(R_TP_SPLIT)
    if ends:
        rest, middle = cfg.layers - sum(ends), pp - 2
        uneven_bad = rest != 0 if middle <= 0 else (rest < middle or rest % middle != 0)
        if uneven_bad:
            out.append(R_PP_SPLIT)
    elif cfg.layers % pp:
        out.append(R_PP_SPLIT)
    if gb is not None and gb % (dp * (mb or 1)):
        out.append(R_BATCH)
    if vp is not None and vp > 1 and not cfg.layers % pp:
        microbatches = gb // (dp * mb) if gb is not None and mb else None
        if cfg.layers % (pp * vp) or (microbatches is not None and microbatches % pp):
            out.append(R_VP_SPLIT)
    if zero == 3 and pp > 1:
        out.append(R_ZERO3_PP)
    return out


def _caveats(short: str, r: pd.Series, gpu: str | None, dtype_assumed: bool, mb: int | None, pp: int | None,
             model: str) -> list[str]:
    c = []
    if dtype_assumed:
        c.append(f"bf16 assumed (the source's precision cell: {_text(r['precision']) or 'empty'}); fp16 and bf16 have "
                 "the same dense tensor-core peak on A100/H100")
    if _text(r["gpu"]).lower().startswith("not stated"):
        c.append(f"GPU: {_text(r['gpu'])}")
    if mb is None and pp is not None:
        c.append("micro-batch size not published")
    if "secondary" in _text(r["verification"]):
        c.append(f"secondary source: {_text(r['verification'])}")
    if short == "MT-NLG (Smith et al. 2022)":
        c.append("A100 80GB vs 40GB: secondary sources conflict; selene is DGX A100 80GB")
    if short == "BLOOM tr11 log":
        c.append("Jean Zay's network topology is not published (jean_zay_a100.yaml assumes a non-blocking fat tree); "
                 "ALiBi and the embedding LayerNorm are not modelled")
    if short.startswith("Megatron-LM README"):
        c.append("cluster not named in the README; eos (DGX H100 SuperPOD) stands in")
    if short.startswith("llm-foundry"):
        c.append("MosaicML platform H100 cluster (network not published); eos stands in")
    if short.startswith("NeMo") and gpu == "h100":
        c.append("DGX-H100 cluster not named; eos stands in")
    return c


def _parallel(r: pd.Series, short: str, model: str) -> tuple[int | None, ...]:
    """(tp, pp, dp, cp, vp, ep) as published; tp = pp = 1 where the source says "no TP/PP", cp = 1 where
    tp/pp/dp are given without it, vp of the Korthikanti rows from :data:`KORTHIKANTI_VP`."""
    tp, pp, dp, cp, vp, ep = (_int(r[k]) for k in ("tp", "pp", "dp", "cp", "vp", "ep"))
    if tp is None and pp is None and dp is not None and "no TP/PP" in _text(r["parallel_config"]):
        tp = pp = 1
    if tp is not None and pp is not None and dp is not None and cp is None:
        cp = 1
    if vp is None and short == "Korthikanti et al. 2022 Tab. 5":
        vp = KORTHIKANTI_VP.get(model)
    return tp, pp, dp, cp, vp, ep


def _global_batch(r: pd.Series, seq_len: int | None) -> int | None:
    """Sequences per step; a batch published in tokens is divided by seq_len (None when that is unknown or
    does not divide)."""
    unit, n = _text(r["global_batch_unit"]), parse_count(r["global_batch"])
    if unit.startswith("sequences"):
        return n
    if not unit.startswith("tokens"):
        raise ValueError(f"unknown global_batch_unit {unit!r}")
    return n // seq_len if n is not None and seq_len and n % seq_len == 0 else None


def _sequence_parallel(parallel_config: str, short: str, tp: int | None) -> bool | None:
    if "sequence parallel" in parallel_config.lower():
        return True
    if short == "Korthikanti et al. 2022 Tab. 5":
        return False  # the baseline rows; Calculon's *_full.json: tensor_par_comm_type "ar", seq_par_ag_redo false
    return False if tp == 1 else None


def _reasons(t: TrainingRow, r: pd.Series, ep: int | None, cfg: LlmConfig | None) -> list[str]:
    """Why accel cannot express row ``t`` (empty: it can)."""
    out = []
    if t.gpu is None:
        out.append(R_GPU_UNSTATED)
    elif t.system is None:
        out.append(R_B200)
    if t.spec is None:
        out.append(R_MODEL)
    if t.dtype == "fp8" and t.gpu == "a100":
        out.append(R_FP8)
    elif t.dtype is None:
        out.append(R_DTYPE)
    if t.tp is None or t.pp is None or t.dp is None:
        out.append(R_PARALLEL)
    elif t.tp * t.pp * t.dp * (t.cp or 1) != t.num_gpus:
        out.append(R_INCONSISTENT)
    if t.cp is not None and t.cp > 1 and t.seq_len and t.seq_len % (2 * t.cp):
        out.append(R_CP)
    if ep is not None and ep > 1:
        out.append(R_EP)
    notes, tbasis = _text(r["notes"]), _text(r["tflops_basis"])
    if '"up to"' in notes or '"up to' in tbasis or '"around"' in notes:
        out.append(R_APPROX)
    if t.seq_len is None:
        out.append(R_SEQ)
    if t.published_tokens_per_s_per_gpu is None:
        out.append(R_NO_TOKENS)
    capacity = system_gpus(t.system) if t.system else None
    if capacity is not None and t.num_gpus > capacity:
        out.append(R_TOO_BIG)
    if cfg is not None and t.tp and t.pp and t.dp:
        ends = (t.first_stage_layers, t.last_stage_layers) if t.first_stage_layers and t.last_stage_layers else None
        out += _layout_reasons(cfg, t.tp, t.pp, t.dp, t.vp, t.microbatch_size, t.global_batch, t.zero, ends)
    return out


def _one_row(i: int, r: pd.Series, models: dict[str, ModelEntry]) -> TrainingRow:
    short = source_short(_text(r["source"]))
    model = _text(r["model"])
    entry = models.get(model)
    pcfg = _text(r["parallel_config"])
    gpu = parse_gpu(_text(r["gpu"]))
    num_gpus = _int(r["num_gpus"])
    if num_gpus is None:
        raise ValueError(f"row {i}: num_gpus missing")
    dtype = parse_dtype(_text(r["precision"]))
    dtype_assumed = dtype is None and gpu in ("a100", "h100")
    tp, pp, dp, cp, vp, ep = _parallel(r, short, model)
    mb = _int(r["micro_batch"])
    seq_len = parse_count(r["seq_len"])
    global_batch = _global_batch(r, seq_len)
    spec = row_spec(entry, seq_len, tp) if entry else None
    cfg = llm_config(spec) if spec else None
    tokens, basis = _throughput(r, global_batch, seq_len, num_gpus, short, cfg)
    zero = parse_zero(pcfg)
    lora = NEMO_LORA.get(short)
    if zero is None and short in NEMO_SOURCES:
        zero = lora[2] if lora else NEMO_ZERO
    lpv = cfg.layers // (pp * vp) if cfg and pp and vp and vp > 1 and cfg.layers % (pp * vp) == 0 else None
    ends = PIPELINE_PARTITIONS.get(short)
    nemo = NEMO_2407_CONFIGS.get(model) if short in NEMO_SOURCES else None
    recompute = parse_recompute(pcfg, _text(r["tflops_basis"])) or (nemo.recompute if nemo else None)
    sp = _sequence_parallel(pcfg, short, tp)
    if sp is None and nemo:
        sp = nemo.sequence_parallel and (tp or 1) > 1
    row = TrainingRow(
        row=i, source_short=short, model=model, model_key=entry.key if entry else None, spec=spec, gpu=gpu,
        system=SOURCE_SYSTEMS.get(short, SYSTEMS[gpu] if gpu else None), num_gpus=num_gpus, tp=tp, pp=pp, dp=dp,
        cp=cp, vp=vp, layers_per_virtual_stage=lpv, first_stage_layers=ends[0] if ends else None,
        last_stage_layers=ends[1] if ends else None, microbatch_size=mb, global_batch=global_batch, seq_len=seq_len,
        dtype="bf16" if dtype_assumed else dtype, recompute=recompute,
        sequence_parallel=sp, zero=0 if zero is None and dp == 1 else zero,
        tp_comm_overlap=(nemo.tp_comm_overlap and (tp or 1) > 1) if nemo else None, fsdp="fsdp" in pcfg.lower(),
        optimizer_dtype="bf16" if nemo and model in NEMO_BF16_OPTIMIZER else "fp32",
        published_tokens_per_s_per_gpu=tokens, published_basis=basis, published_params_b=_num(r["params_b"]),
        caveats=tuple(_caveats(short, r, gpu, dtype_assumed, mb, pp, model)), unexpressible=None,
        cross_entropy_fusion=nemo.cross_entropy_fusion if nemo else None, dropout=nemo.dropout if nemo else None,
        dp_bucket_params=(int(nemo.bucket_cap_mb * 2**20) // (2 if model in NEMO_BF16_OPTIMIZER else 4)) if nemo
        else None, dp_gather_overlap=nemo.param_sync_overlap if nemo else None,
        lora_rank=lora[0] if lora else None, lora_targets=lora[1] if lora else DEFAULT_LORA_TARGETS)
    reasons = _reasons(row, r, ep, cfg)
    return dataclasses.replace(row, unexpressible="; ".join(dict.fromkeys(reasons)) or None)


def load_rows(path: Path | str = CSV_PATH, models_path: Path | str = MODELS_PATH) -> list[TrainingRow]:
    """Every row of the training CSV (``#`` lines are its header notes) as a :class:`TrainingRow`."""
    df = pd.read_csv(path, comment="#")
    models = load_models(models_path)
    return [_one_row(int(i), r, models) for i, r in df.iterrows()]


def summary(rows: list[TrainingRow]) -> str:
    ok = [r for r in rows if r.expressible]
    lines = [f"{len(rows)} published training rows: {len(ok)} expressible, {len(rows) - len(ok)} unexpressible", "",
             "unexpressible reasons (a row may have several):"]
    reasons = Counter(x for r in rows for x in r.reasons)
    lines += [f"  {n:4d}  {reason}" for reason, n in reasons.most_common()]
    lines += ["", "by source (expressible / rows):"]
    by_src: dict[str, list[TrainingRow]] = {}
    for r in rows:
        by_src.setdefault(r.source_short, []).append(r)
    lines += [f"  {sum(r.expressible for r in rs):4d} / {len(rs):<4d} {src}" for src, rs in by_src.items()]
    return "\n".join(lines)


def main() -> int:
    print(summary(load_rows()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
