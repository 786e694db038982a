"""accel's cluster-training estimates against published LLM training runs (issue 13).

For every row of ``data/published/training_published.csv`` that accel can express
(:mod:`benchmarks.training_rows` says why the others cannot), simulate one training step with the published
layout on the stand-in cluster (Selene for A100 rows, Eos for H100 rows) and compare tokens/s per GPU::

    .venv/bin/python benchmarks/bench_training.py            # every expressible row
    .venv/bin/python benchmarks/bench_training.py --quick    # one row per source

What the rows do not state is filled by rules, never per row:

* the software stack of the source's era: Megatron-LM before FlashAttention (MT-NLG, Korthikanti et al.
  2022, and BLOOM's Megatron-DeepSpeed, whose ``tr11-176B-ml.slurm`` sets no dropout flag) runs the unfused
  attention core with Megatron's default dropout 0.1 (``megatron/arguments.py``:
  ``--attention-dropout`` / ``--hidden-dropout`` 0.1); Megatron-Core (README scaling runs) runs
  fused attention (Transformer Engine) with the same default hidden dropout; llm-foundry MPT runs without dropout
  (its pretraining YAMLs set ``attn_pdrop`` / ``resid_pdrop`` 0) the attention its benchmark scripts chose: the
  8-64 GPU BF16 and the FP8 tables (commit b2a43a1, Oct 2023) ran llm-foundry v0.3.0 through ``sweep.sh``, which
  passes no ``--attn_impl``, so ``submit_benchmarks.py``'s default ``triton`` (FlashAttention in Triton,
  pre-MLIR); the >= 128 GPU table (commit 5e85bd6, Jan 2024) ran ``sweep.py``: ``--attn_impl flash``
  (flash-attn 2.4.2, ``.[gpu-flash2]``) for 1b/3b/7b/70b and ``--attn_impl triton`` for 13b/30b. llm-foundry's
  ``flash`` (``llmfoundry/models/layers/attention.py`` ``flash_attn_fn`` @5e85bd6) unpads q, k and v with
  flash-attn's ``bert_padding.unpad_input``, runs ``flash_attn_varlen_func`` and pads the output back
  (``pad_input``): ``--attention flash2_varlen``; every MPT run's loss is flash-attn's fused cross-entropy
  (``FUSED_CROSS_ENTROPY``: ``--cross-entropy fused``), the others' Megatron-LM's fp32 vocab-parallel one (``--cross-entropy megatron``);
* runs whose source states ``--tp-comm-overlap`` (the Megatron-LM README) run it, with sequence parallelism;
  Megatron-LM (since Sep 2021) and Transformer Engine overlap the backward's column-parallel collectives with their
  GEMMs (``tp_async_backward``), MT-NLG's and BLOOM's Megatron-DeepSpeed does not (``SYNC_TP_BACKWARD``);
* runs before 2022 and BLOOM's Megatron-DeepSpeed have no sequence parallelism; MT-NLG's published TFLOP/s imply
  full recomputation, BLOOM's slurm script states it (``--checkpoint-activations``); BLOOM's uneven pipeline
  stages and Jean Zay's network come from ``benchmarks/training_rows.py``;
* runs whose parallel configuration names FSDP (llm-foundry MPT) shard per block and microbatch (``--fsdp``:
  SHARD_GRAD_OP = ZeRO-2, FULL_SHARD = ZeRO-3);
* NeMo 24.07's LoRA rows train rank-32 adapters on ``attention_qkv`` with every other weight frozen (the launcher's
  ``peft/llama/squad.yaml``: ``--lora-rank 32``, ``fused_adam``, no ZeRO; :data:`benchmarks.training_rows.NEMO_LORA`);
* NeMo 24.07's rows take recomputation, sequence parallelism, ``ub_tp_comm_overlap``, the loss fusion and the
  dropout from NeMo's 24.07 release configs (``benchmarks/training_rows.py`` ``NEMO_2407_CONFIGS``: no recomputation
  but Nemotron-340B's selective; dropout 0.1 in the GPT-3 and SFT configs), ZeRO-2 from their optimizer (Apex
  ``DistributedFusedAdam``) and Nemotron-340B's bf16 optimizer state; its SFT rows train on SQuAD packed to 4096
  tokens, attention within each example (``PACKED_DOCUMENT_LEN``: ``--document-len``);
* Megatron-LM since Oct 2021 (Korthikanti et al.), Megatron-Core and NeMo run LayerNorm kernels that keep the row in
  registers (``NORM_KERNEL``: ``--norm-kernel persistent``); llm-foundry and Megatron-DeepSpeed run two-pass ones;
* DeepSpeed's pipeline engine (MT-NLG, BLOOM) runs its own schedule (``DEEPSPEED_PIPELINE``: ``--pipeline-schedule
  deepspeed``);
* the optimizer step runs each stack's kernels (``OPTIMIZER_STEP``: ``--optimizer-step megatron`` for Megatron-LM
  and Megatron-Core, ``pytorch`` for Composer's FSDP clipping and DecoupledAdamW, one fused kernel for DeepSpeed and
  Apex's DistributedFusedAdam);
* unstated microbatch size, recomputation, ZeRO stage and sequence parallelism: the fastest of
  ``--microbatch-size 1|2|4|8`` (those dividing a replica's batch) x ``--recompute none|selective|full`` x
  ``--zero 0|1`` x ``--sequence-parallel`` off/on (with tp > 1) that fits in device memory (what a practitioner
  tunes; :func:`accel.train.search.search_layouts`); when none fits, the run happened all the same, so it is
  simulated without the memory check (microbatch 1, full recomputation, the largest sharding) and the row says so.

Prints per-row error and the summary (median |error|, rows within 15 % and 20 %) and the wall time of the
largest simulation (issue 13: a 3072-GPU step in < 10 s).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.train import MemoryOverflow, TrainLayout, TrainResult, simulate_training  # noqa: E402
from accel.train.search import Choices, search_layouts  # noqa: E402
from benchmarks.training_rows import TrainingRow, load_rows  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import training_graphs  # noqa: E402

#: source short name -> (attention kernel, dropout) of its software stack (module docstring)
STACKS: dict[str, tuple[str, float]] = {
    "MT-NLG (Smith et al. 2022)": ("unfused", 0.1),
    "Korthikanti et al. 2022 Tab. 5": ("unfused", 0.1),
    "Narayanan et al. 2021 PTD-P": ("unfused", 0.1),
    "Narayanan et al. 2021 ZeRO-3": ("unfused", 0.1),
    "BLOOM tr11 log": ("unfused", 0.1),
    "Megatron-LM README weak scaling": ("flash", 0.1),
    "llm-foundry MPT H100 BF16": ("flash_triton", 0.0),
    "llm-foundry MPT H100 BF16 >=128 GPUs": ("flash2_varlen", 0.0),
    "llm-foundry MPT H100 FP8": ("flash_triton", 0.0),
}
DEFAULT_STACK = ("flash", 0.0)
#: (source short name, model) -> stack, where a source's runs differ by model: llm-foundry's
#: scripts/train/benchmarking/sweep.py @5e85bd6 gives the 13b and 30b runs ``--attn_impl triton``
MODEL_STACKS: dict[tuple[str, str], tuple[str, float]] = {
    ("llm-foundry MPT H100 BF16 >=128 GPUs", "MPT-13b"): ("flash_triton", 0.0),
    ("llm-foundry MPT H100 BF16 >=128 GPUs", "MPT-30b"): ("flash_triton", 0.0),
}
#: source -> the LayerNorms' kernels (``--norm-kernel``; default ``two_pass``: PyTorch's ``F.layer_norm`` in
#: llm-foundry's LPLayerNorm, and the Megatron-DeepSpeed forks, which left Megatron-LM before its persistent kernel).
#: Megatron-LM runs apex's persistent ``FastLayerNorm`` by default since 2021-10-08 (``persist_layer_norm``,
#: NVIDIA/Megatron-LM @a2fdcdf061) and Megatron-Core / NeMo run Transformer Engine's LayerNorm, whose tuned kernels
#: keep the row in registers too (:data:`workloads.llm_train.PERSISTENT_NORM_HIDDEN_SIZES`)
NORM_KERNEL = {"Korthikanti et al. 2022 Tab. 5": "persistent", "Megatron-LM README weak scaling": "persistent",
               "NeMo 24.07 pretraining": "persistent", "NeMo 24.07 SFT": "persistent", "NeMo 24.07 LoRA": "persistent",
               "NVIDIA DGXC Benchmarking": "persistent"}
#: sources whose runs state Megatron-Core's --tp-comm-overlap (which needs sequence parallelism): the README's
#: weak-scaling table lists "--overlap-grad-reduce --overlap-param-gather --tp-comm-overlap" for every row
TP_COMM_OVERLAP = {"Megatron-LM README weak scaling"}
#: sources whose runs predate sequence parallelism (Korthikanti et al. 2022 introduced it; MT-NLG trained in 2021)
NO_SEQUENCE_PARALLEL = {"MT-NLG (Smith et al. 2022)", "BLOOM tr11 log", "Narayanan et al. 2021 PTD-P",
                        "Narayanan et al. 2021 ZeRO-3"}
#: sources trained with Megatron-DeepSpeed, which all-reduces a column-parallel layer's input gradient synchronously
#: (``copy_to_tensor_model_parallel_region``'s backward in ``ColumnParallelLinear.forward``,
#: bigscience-workshop/Megatron-DeepSpeed ``megatron/mpu/layers.py`` @119a0d2d; Megatron-LM runs it beside the weight
#: gradient by default since Sep 2021, commit 3f652469, so not yet in Narayanan et al.'s runs of early 2021): every
#: backward collective exposed (``--no-tp-async-backward``)
SYNC_TP_BACKWARD = {"MT-NLG (Smith et al. 2022)", "BLOOM tr11 log", "Narayanan et al. 2021 PTD-P"}
#: sources whose stack reduced the data-parallel gradients after the backward, not beside it (``--no-dp-overlap``):
#: Korthikanti et al. 2022, Sec. 6.3: "we do not use any overlapping of gradient all-reduces with back-propagation"
#: (their Table 5 runs have no data parallelism; the section's 530B run on 2240 GPUs, dp 8, does). DeepSpeed's
#: pipeline engine (MT-NLG, BLOOM) reduces after its schedule anyway (``--pipeline-schedule deepspeed``). Narayanan et
#: al. 2021 ran the same Megatron-LM a year earlier (its Sec. 5.9 times the data-parallel all-reduce as a phase of
#: its own)
NO_DP_OVERLAP = {"Korthikanti et al. 2022 Tab. 5", "Narayanan et al. 2021 PTD-P"}
#: sources whose pipeline sends block the sender whatever the schedule (``--p2p blocking``): DeepSpeed's pipeline
#: engine (MT-NLG, BLOOM: ``deepspeed/runtime/pipe/p2p.py`` ``send`` is ``dist.send`` or a two-rank ``dist.broadcast``
#: and asserts ``async_op == False``, microsoft/DeepSpeed @0457bb1c, Sep 2021) and Megatron-LM in 2022 (Korthikanti
#: et al.: ``megatron/p2p_communication.py`` waits on ``batch_isend_irecv``'s requests, then
#: ``torch.cuda.synchronize()``). The Megatron-Core sources take its defaults: blocking without virtual stages,
#: overlapped with them (``overlap_p2p_comm``)
BLOCKING_P2P = {"MT-NLG (Smith et al. 2022)", "BLOOM tr11 log", "Korthikanti et al. 2022 Tab. 5",
                "Narayanan et al. 2021 PTD-P"}
#: sources whose pipeline is DeepSpeed's engine (``--pipeline-schedule deepspeed``: Megatron-DeepSpeed's
#: ``PipelineModule`` under ``deepspeed/runtime/pipe/engine.py``, ``TrainSchedule`` @0457bb1c for MT-NLG and
#: @89e37ef3 for BLOOM, the same schedule)
DEEPSPEED_PIPELINE = {"MT-NLG (Smith et al. 2022)", "BLOOM tr11 log"}
#: source -> how its stack adds each microbatch's weight gradients (``--grad-accumulation``; Megatron-LM and
#: Megatron-Core fuse it into the weight-gradient GEMM, FSDP reduce-scatters every microbatch: ``fused``). DeepSpeed's
#: pipeline engine runs ``torch.autograd.backward`` per microbatch: in fp16 (MT-NLG) the gradients accumulate in
#: ``.grad`` (``autograd``); in bf16 (BLOOM, ``ZERO_STAGE=0 # important: bf16 must use z0! it implements its own zero
#: stage 1 equivalent``) it clears them before each backward and ``BF16_Optimizer.update_hp_grads`` casts and adds
#: them into fp32 after it (``fp32_copy``; deepspeed/runtime/pipe/engine.py ``_exec_backward_pass`` and
#: bf16_optimizer.py @89e37ef3, Apr 2022)
GRAD_ACCUMULATION = {"MT-NLG (Smith et al. 2022)": "autograd", "BLOOM tr11 log": "fp32_copy"}
#: source -> the optimizer step's kernels (``--optimizer-step``, :mod:`accel.train.optimizer`): Megatron-LM's
#: mixed-precision optimizer around Apex FusedAdam with its default ``--clip-grad 1.0`` (Korthikanti et al.'s
#: Megatron-LM, ``megatron/optimizer/optimizer.py`` @55ba1f7b; the README's Megatron-Core r0.8 distributed optimizer);
#: llm-foundry's Composer runs FSDP's ``clip_grad_norm_`` (the MPT YAMLs' ``gradient_clipping: norm 1.0``) and
#: ``DecoupledAdamW``'s per-tensor element-wise passes (``optimizer: decoupled_adamw``, composer v0.16.4 / v0.17.2).
#: The rest keep one fused kernel: DeepSpeed's FusedAdam (MT-NLG, BLOOM), Apex's DistributedFusedAdam (NeMo)
OPTIMIZER_STEP = {"Korthikanti et al. 2022 Tab. 5": "megatron", "Megatron-LM README weak scaling": "megatron",
                  "Narayanan et al. 2021 PTD-P": "megatron",
                  "llm-foundry MPT H100 BF16": "pytorch", "llm-foundry MPT H100 BF16 >=128 GPUs": "pytorch",
                  "llm-foundry MPT H100 FP8": "pytorch"}
#: source -> recompute implied by its published numbers or stated in its launch script (BLOOM: tr11-176B-ml.slurm
#: ``--checkpoint-activations``): MT-NLG's 126 TFLOP/s on 2,240 GPUs at 60.1 s per step
#: is Megatron's hardware-FLOP count with full recomputation, 96 B s l h^2 (1 + s/6h + V/16lh) = 125.7 TFLOP/s
IMPLIED_RECOMPUTE = {"MT-NLG (Smith et al. 2022)": "full", "BLOOM tr11 log": "full"}

#: sources whose loss is one fused cross-entropy kernel each way (``--cross-entropy fused``): llm-foundry's
#: ``ComposerMPTCausalLM`` defaults to ``loss_fn: fused_crossentropy``, flash-attn's ``CrossEntropyLoss``
#: (``llmfoundry/models/mpt/modeling_mpt.py`` at v0.3.0 and @5e85bd6; the benchmark YAMLs set no ``loss_fn``), built
#: by the ``[gpu]`` extra's ``xentropy-cuda-lib`` (v0.3.0 ``setup.py``) and, with flash-attn 2.4.2 (``[gpu-flash2]``),
#: flash-attn's Triton kernel. The other sources run Megatron-LM's fp32 vocab-parallel loss (``--cross-entropy
#: megatron``): Megatron-LM and Megatron-DeepSpeed (MT-NLG, BLOOM: ``mpu/cross_entropy.py`` on ``output.float()``)
#: and Megatron-Core under NeMo 24.07 and the README's r0.8.0 runs (``fp16_lm_cross_entropy: false``), fused where
#: the row's configs set ``cross_entropy_loss_fusion`` (``--cross-entropy megatron_fused``; NeMo's Llama-3 and
#: Nemotron-8B/22B configs: ``TrainingRow.cross_entropy_fusion``; Megatron-LM added it on 2024-06-14, 7b4a6d76c9,
#: default off, and the README lists no such flag)
FUSED_CROSS_ENTROPY = {"llm-foundry MPT H100 BF16", "llm-foundry MPT H100 BF16 >=128 GPUs", "llm-foundry MPT H100 FP8"}

#: sources trained by Composer with llm-foundry's ``ComposerMPTCausalLM``, whose two train metrics
#: (``LanguageCrossEntropy``, ``LanguagePerplexity``) each run a cross-entropy over every microbatch's logits after its
#: backward (``--logit-metrics 2``: composer v0.16-0.17 ``Trainer._eval_train_metrics``; llm-foundry
#: ``use_train_metrics`` defaults to true at v0.3.0 and @5e85bd6, and the benchmark YAMLs do not set it)
COMPOSER_TRAIN_METRICS = {"llm-foundry MPT H100 BF16": 2, "llm-foundry MPT H100 BF16 >=128 GPUs": 2,
                          "llm-foundry MPT H100 FP8": 2}

#: source -> the attention length of its packed documents (``--document-len``: E[l^2] / E[l] of the document
#: lengths ``l``, rounded to a divisor of the pack). NeMo 24.07's SFT rows train on SQuAD v1.1 packed to 4096 tokens
#: (the performance summary's table title), attention within each example (``packed_sequence``: Transformer
#: Engine's THD attention with ``cu_seqlens``). An example is NeMo's SQuAD prompt, ``Context: {context} Question:
#: {question} Answer: {answer}``: TFDS's squad/v1.1 holds 98,169 examples in 94.06 MiB, about 1,000 bytes each
#: with the question, answer, title and id, so a context of about 850 characters; at about 4 characters per
#: Llama-2 token that is about 240 tokens an example, E[l^2] / E[l] about 280 with paragraphs' spread (coefficient
#: of variation about 0.4). An estimate: the attention it leaves is a few per cent of these steps either way
#: (128 or 512 moves the rows by under 2 points)
PACKED_DOCUMENT_LEN = {"NeMo 24.07 SFT": 256, "NeMo 24.07 LoRA": 256}

#: sources whose overlapped data-parallel reduction buckets on every pipeline rank (Apex DistributedFusedAdam: NeMo
#: 24.07); the others run Megatron-Core's DDP, which buckets on the first pipeline rank only. NeMo's bucket size and
#: parameter-gather overlap per model: ``TrainingRow.dp_bucket_params`` / ``dp_gather_overlap``
#: (``benchmarks/training_rows.py`` ``NEMO_2407_CONFIGS``)
DP_BUCKETS_EVERY_STAGE = {"NeMo 24.07 pretraining", "NeMo 24.07 SFT"}

_GRAPHS: dict[tuple, dict] = {}


def _graphs(spec: str, tp: int, mb: int, seq: int, dtype: str, att: str, drop: float, loss: str,
            metrics: int, document_len: int | None = None, norm_kernel: str = "two_pass") -> dict:
    key = (spec, tp, mb, seq, dtype, att, drop, loss, metrics, document_len, norm_kernel)
    if key not in _GRAPHS:
        _GRAPHS[key] = training_graphs(llm_config(spec), tp, mb, seq, dtype, att, drop, loss, metrics, document_len,
                                       norm_kernel)
    return _GRAPHS[key]


def simulate_row(row: TrainingRow) -> tuple[TrainResult, str]:
    """The fastest fitting simulation of ``row`` (module docstring; :func:`accel.train.search.search_layouts` over
    what the row leaves open) and the choices filled in."""
    assert row.spec and row.system and row.seq_len and row.global_batch and row.dtype
    cfg = llm_config(row.spec)
    att, drop = MODEL_STACKS.get((row.source_short, row.model), STACKS.get(row.source_short, DEFAULT_STACK))
    att = row.attention or att
    drop = drop if row.dropout is None else row.dropout
    mb, cp = row.microbatch_size, row.cp or 1
    gdtype = "bf16" if row.dtype == "fp8" else row.dtype
    stated_overlap = row.tp_comm_overlap if row.tp_comm_overlap is not None else row.source_short in TP_COMM_OVERLAP
    overlap = stated_overlap and (row.tp or 1) > 1
    fixed_sp = row.sequence_parallel is not None or (row.tp or 1) == 1 or row.source_short in NO_SEQUENCE_PARALLEL
    async_backward = row.source_short not in SYNC_TP_BACKWARD
    p2p = "blocking" if row.source_short in BLOCKING_P2P else None
    accumulation = GRAD_ACCUMULATION.get(row.source_short, "fused")
    optimizer_step = row.optimizer_step or OPTIMIZER_STEP.get(row.source_short, "fused")
    schedule = "deepspeed" if row.source_short in DEEPSPEED_PIPELINE else "megatron"
    every_stage = (row.dp_buckets_every_stage if row.dp_buckets_every_stage is not None
                   else row.source_short in DP_BUCKETS_EVERY_STAGE)
    gather_overlap = row.dp_gather_overlap is not False
    choices = Choices(tp=row.tp or 1, pp=row.pp or 1, dp=row.dp or 1, cp=cp, microbatch_size=mb,
                      sequence_parallel=True if overlap else (bool(row.sequence_parallel) if fixed_sp else None),
                      recompute=row.recompute or IMPLIED_RECOMPUTE.get(row.source_short), zero=row.zero,
                      tp_comm_overlap=overlap, tp_async_backward=async_backward,
                      dp_overlap=row.source_short not in NO_DP_OVERLAP, dp_bucket_params=row.dp_bucket_params,
                      dp_buckets_every_stage=every_stage, dp_gather_overlap=gather_overlap, fsdp=row.fsdp,
                      optimizer_dtype=row.optimizer_dtype, fp8_param_gather=row.fp8_param_gather,
                      layers_per_virtual_stage=row.layers_per_virtual_stage,
                      first_stage_layers=row.first_stage_layers, last_stage_layers=row.last_stage_layers,
                      lora_rank=row.lora_rank, lora_targets=row.lora_targets,
                      p2p=p2p, grad_accumulation=accumulation, optimizer_step=optimizer_step,
                      pipeline_schedule=schedule, zero_stages=(0, 1))

    loss = ("fused" if row.source_short in FUSED_CROSS_ENTROPY
            else "megatron_fused" if row.cross_entropy_fusion else "megatron")
    metrics = COMPOSER_TRAIN_METRICS.get(row.source_short, 0)
    document_len = PACKED_DOCUMENT_LEN.get(row.source_short)

    def graphs(tp: int, m: int, seq: int) -> dict:
        return _graphs(row.spec or "", tp, m, seq, gdtype, att, drop, loss, metrics, document_len,
                       NORM_KERNEL.get(row.source_short, "two_pass"))

    fits, errors = search_layouts(graphs, cfg.layers, cfg.hidden, cfg.heads, row.system, row.num_gpus,
                                  row.global_batch, row.seq_len, row.dtype, choices, cfg.name)
    if fits:
        lay = fits[0].layout
        stack = f"{att}{'+dropout' if drop else ''}, mb {lay.microbatch_size}"
        return fits[0], (f"{stack}, recompute {lay.recompute}, zero {lay.zero}" + (", SP" if lay.sequence_parallel
                         else "") + (", TP overlap" if lay.tp_comm_overlap else ""))
    mb = mb or 1  # nothing fits: the smallest microbatch, as memory-frugal as it gets
    stack = f"{att}{'+dropout' if drop else ''}, mb {mb}"
    if not any(isinstance(e, MemoryOverflow) for e in errors):
        raise RuntimeError(f"row {row.row}: no layout runs: {errors[-1] if errors else 'none divides the model'}")
    # the run happened: accel's memory estimate is too high; the most memory-frugal layout, unchecked
    layout = TrainLayout(global_batch=row.global_batch, seq_len=row.seq_len, tp=row.tp or 1, pp=row.pp or 1,
                         dp=row.dp or 1, cp=cp, microbatch_size=mb, layers_per_virtual_stage=row.layers_per_virtual_stage,
                         first_stage_layers=row.first_stage_layers, last_stage_layers=row.last_stage_layers,
                         sequence_parallel=bool(choices.sequence_parallel if choices.sequence_parallel is not None
                                                else (row.tp or 1) > 1),
                         recompute=choices.recompute or "full", zero=row.zero if row.zero is not None else 1,
                         tp_comm_overlap=overlap, tp_async_backward=async_backward,
                         dp_overlap=row.source_short not in NO_DP_OVERLAP, dp_bucket_params=row.dp_bucket_params,
                         dp_buckets_every_stage=every_stage, dp_gather_overlap=gather_overlap,
                         fsdp=row.fsdp and (row.zero or 0) >= 2,
                         optimizer_dtype=row.optimizer_dtype, fp8_param_gather=row.fp8_param_gather,
                         lora_rank=row.lora_rank, lora_targets=row.lora_targets,
                         p2p=p2p, grad_accumulation=accumulation, optimizer_step=optimizer_step,
                         pipeline_schedule=schedule)
    r = simulate_training(graphs(layout.tp, mb, layout.local_seq_len), cfg.layers, cfg.hidden, cfg.heads, row.system,
                          layout, row.dtype, memory_check=False, model_name=cfg.name)
    return r, (f"{stack}, recompute {layout.recompute}, zero {layout.zero}{', SP' if layout.sequence_parallel else ''}"
               f"; accel's memory estimate {r.memory.total / 1e9:.0f} GB exceeds the device")


Pair = tuple[TrainingRow, TrainingRow, float, float]


def _speedup_pairs(rows: list[TrainingRow], predicted: dict[int, float], key: Callable[[TrainingRow], tuple],
                   is_base: Callable[[TrainingRow], bool], is_variant: Callable[[TrainingRow], bool]) -> list[Pair]:
    """``(base row, variant row, published speed-up, accel's)`` for every simulated variant row whose ``key`` matches
    a simulated base row's, speed-ups as tokens/s over tokens/s."""
    base = {key(r): r for r in rows if is_base(r) and r.row in predicted}
    out = []
    for r in rows:
        b = base.get(key(r)) if is_variant(r) and r.row in predicted else None
        if b is not None and r.published_tokens_per_s_per_gpu and b.published_tokens_per_s_per_gpu:
            out.append((b, r, float(r.published_tokens_per_s_per_gpu) / float(b.published_tokens_per_s_per_gpu),
                        predicted[r.row] / predicted[b.row]))
    return out


def fp8_speedup_pairs(rows: list[TrainingRow], predicted: dict[int, float]) -> list[Pair]:
    """Pairs of simulated rows that differ only in FP8 against BF16 training (same model, GPUs, sequence length,
    global batch, microbatch size and recomputation, both stated by the source): ``(bf16 row, fp8 row, published
    speed-up, accel's speed-up)``, tokens/s over tokens/s. A ratio on one stack and one cluster cancels what the
    two runs share (the cluster, the framework's overheads), so it checks FP8's own mechanisms: the fp8 GEMMs, their
    casts, the split accumulator of the backward's GEMMs."""
    return _speedup_pairs(rows, predicted,
                          lambda r: (r.model, r.num_gpus, r.seq_len, r.global_batch, r.microbatch_size, r.recompute),
                          lambda r: r.dtype == "bf16" and bool(r.microbatch_size and r.recompute),
                          lambda r: r.dtype == "fp8")


def lora_speedup_pairs(rows: list[TrainingRow], predicted: dict[int, float]) -> list[Pair]:
    """Pairs of simulated rows that differ only in LoRA against full fine-tuning (same base model, GPUs, layout,
    sequence length, global batch and dtype): ``(full row, LoRA row, published speed-up, accel's)``, tokens/s over
    tokens/s. The ratio cancels what both runs share, so it checks LoRA's own mechanisms: the frozen weights'
    missing gradients, the adapters, the vanished data-parallel reduction."""
    return _speedup_pairs(rows, predicted,
                          lambda r: (r.model.rsplit(" ", 1)[0], r.num_gpus, r.tp, r.pp, r.seq_len, r.global_batch,
                                     r.dtype),
                          lambda r: r.lora_rank is None, lambda r: bool(r.lora_rank))


def _print_pairs(title: str, pairs: list[Pair], describe: Callable[[TrainingRow], str]) -> None:
    if pairs:
        print(f"\n{title} (published / accel tokens/s ratio):")
        for b, f, pub_x, acc_x in pairs:
            print(f"  rows {b.row:>3}/{f.row:<3} {describe(f)}  published x{pub_x:.3f}  accel x{acc_x:.3f}  "
                  f"({100 * (acc_x / pub_x - 1):+.1f}%)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one row per source")
    ap.add_argument("--source", default=None, help="only rows whose short source name contains this text")
    ap.add_argument("--residuals", default=None, metavar="JSON",
                    help="write the per-row residual table that accel simulate's training interval reads "
                         "(data/uncertainty/training_published_residuals.json)")
    args = ap.parse_args(argv)
    rows = [r for r in load_rows() if r.unexpressible is None and (args.source or "") in r.source_short]
    if args.quick:
        seen: set[str] = set()
        rows = [r for r in rows if not (r.source_short in seen or seen.add(r.source_short))]  # type: ignore[func-returns-value]
    errors: list[float] = []
    predicted: dict[int, float] = {}
    residual_rows: list[dict] = []
    slowest = (0.0, "")
    print(f"{'row':>4} {'source':32} {'model':28} {'GPUs':>5} {'tp':>2} {'pp':>3} {'dp':>4} "
          f"{'published':>10} {'accel':>10} {'error':>7}  filled in")
    for row in rows:
        t0 = time.perf_counter()
        try:
            res, choice = simulate_row(row)
        except RuntimeError as exc:
            print(f"{row.row:>4} {row.source_short[:32]:32} cannot run: {exc}")
            continue
        wall = time.perf_counter() - t0
        if row.num_gpus > 1000 and wall > slowest[0]:
            slowest = (wall, f"row {row.row} ({row.num_gpus} GPUs)")
        pred = res.tokens_per_s / res.devices
        pub = float(row.published_tokens_per_s_per_gpu or 0.0)
        err = pred / pub - 1.0
        errors.append(err)
        predicted[row.row] = pred
        residual_rows.append({"row": row.row, "source": row.source_short, "model": row.model,
                              "predicted_tokens_per_s": pred, "published_tokens_per_s": pub})
        print(f"{row.row:>4} {row.source_short[:32]:32} {row.model[:28]:28} {row.num_gpus:>5} {row.tp or 1:>2} "
              f"{row.pp or 1:>3} {row.dp or 1:>4} {pub:>10.0f} {pred:>10.0f} {100 * err:>+6.1f}%  {choice}")
    if not errors:
        return 1
    absd = sorted(abs(e) for e in errors)
    print(f"\n{len(errors)} rows: median |error| {100 * statistics.median(absd):.1f}%, "
          f"mean error {100 * statistics.mean(errors):+.1f}%, max |error| {100 * absd[-1]:.1f}%; "
          f"within 15%: {sum(a <= 0.15 for a in absd)}/{len(absd)}, within 20%: {sum(a <= 0.20 for a in absd)}/{len(absd)}")
    _print_pairs("FP8 over BF16 on the same stack and configuration", fp8_speedup_pairs(rows, predicted),
                 lambda f: f"{f.model[:14]:14} mb {f.microbatch_size:<3} recompute {f.recompute:<4}")
    _print_pairs("LoRA over full fine-tuning on the same stack and layout", lora_speedup_pairs(rows, predicted),
                 lambda f: f"{f.model[:16]:16} rank {f.lora_rank} on {','.join(f.lora_targets)}")
    if slowest[1]:
        print(f"largest simulation: {slowest[1]} in {slowest[0]:.2f} s (graphs cached per model; target < 10 s)")
    if args.residuals:
        import json

        from accel.uncertainty import training_residual_table

        table = training_residual_table(residual_rows, "python benchmarks/bench_training.py --residuals "
                                                       + args.residuals)
        Path(args.residuals).write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
        q, cov = table["all"], table["leave_one_source_out_coverage"]
        print(f"residuals written to {args.residuals}: 80 % interval of step time x{math.exp(q['q_lo']):.2f} .. "
              f"x{math.exp(q['q_hi']):.2f}; leave-one-source-out coverage {100 * cov['all']:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
