"""``accel simulate --mode train`` of an LLM (named or ``gpt:`` / ``llama:`` spec) on a cluster: tensor, pipeline and
data parallelism with their flags (:mod:`accel.train`)::

    accel simulate --model "gpt:layers=96,hidden=12288,heads=96,vocab=51200" --seq-len 2048 --batch 1536 \\
        --mode train --amp fp16 --arch dgx_a100_superpod --devices 1024 --tp 8 --pp 8 --microbatch-size 1 \\
        --recompute full --json r.json

``--batch`` is the global batch (sequences per optimizer step); ``--dp`` defaults to devices / (tp x pp).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from accel.cli import positive_int
from accel.devices.gpu import NORM_KERNELS
from accel.graph import ATTENTION_KERNELS, CROSS_ENTROPY_KERNELS, POINTWISE_KERNELS
from accel.train.layout import (DEFAULT_LORA_TARGETS, GRAD_ACCUMULATION_MODES, LORA_TARGETS, P2P_MODES,
                                PIPELINE_SCHEDULES)
from accel.train.optimizer import OPTIMIZER_STEPS
from accel.units import format_si

#: flags of the cluster-training path (none of them applies to the per-device simulator)
TRAIN_FLAGS: tuple[str, ...] = ("tp", "pp", "dp", "cp", "search_layout", "microbatch_size", "layers_per_virtual_stage",
                                "first_stage_layers", "last_stage_layers", "account_for_embedding_in_pipeline_split",
                                "account_for_loss_in_pipeline_split", "lora_rank", "lora_targets", "recompute", "zero",
                                "sequence_parallel", "tp_comm_overlap", "attention", "dropout", "cross_entropy",
                                "logit_metrics", "document_len", "p2p", "grad_accumulation", "optimizer_step",
                                "pipeline_schedule", "norm_kernel", "pointwise_kernels", "fsdp_version")


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return v


def _lora_targets(text: str) -> tuple[str, ...]:
    groups = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [g for g in groups if g not in LORA_TARGETS]
    if bad or not groups:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, bad)) or 'empty list'}; allowed: "
                                         f"{', '.join(LORA_TARGETS)} (comma-separated)")
    return groups


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Flags of LLM cluster training (``--mode train`` with an LLM ``--model``)."""
    g = p.add_argument_group("LLM cluster training (--mode train with a named LLM or gpt:/llama: spec)")
    g.add_argument("--tp", type=positive_int, default=None, help="tensor-parallel degree (Megatron; default 1)")
    g.add_argument("--pp", type=positive_int, default=None, help="pipeline-parallel stages (default 1)")
    g.add_argument("--dp", type=positive_int, default=None,
                   help="data-parallel replicas (default devices / (tp x pp x cp))")
    g.add_argument("--cp", type=positive_int, default=None,
                   help="context-parallel ranks (Megatron-Core ring attention over seq-len / cp token chunks; default 1)")
    g.add_argument("--microbatch-size", type=positive_int, default=None, help="sequences per microbatch (default 1)")
    g.add_argument("--layers-per-virtual-stage", type=positive_int, default=None,
                   help="Megatron's interleaved 1F1B schedule: layers per model chunk (default: plain 1F1B)")
    g.add_argument("--first-stage-layers", type=positive_int, default=None, metavar="N",
                   help="uneven pipeline stages: blocks on the first stage (Megatron-Core "
                        "--decoder-first-pipeline-num-layers); the middle stages share the rest equally")
    g.add_argument("--last-stage-layers", type=positive_int, default=None, metavar="N",
                   help="uneven pipeline stages: blocks on the last stage, which also holds the LM head "
                        "(Megatron-Core --decoder-last-pipeline-num-layers)")
    g.add_argument("--account-for-embedding-in-pipeline-split", action="store_true", default=None,
                   help="the embedding counts as one layer in the pipeline split: the first model chunk holds one "
                        "block less (Megatron-Core's flag; the Llama 3 405B layout)")
    g.add_argument("--account-for-loss-in-pipeline-split", action="store_true", default=None,
                   help="the LM head and loss count as one layer in the pipeline split: the last model chunk holds "
                        "one block less (Megatron-Core's flag)")
    g.add_argument("--lora-rank", type=positive_int, default=None, metavar="R",
                   help="LoRA fine-tuning: every weight frozen, rank-R adapters beside --lora-targets (NeMo's "
                        "adapter_dim; default: every weight trains)")
    g.add_argument("--lora-targets", type=_lora_targets, default=None, metavar="GROUPS",
                   help=f"comma-separated projection groups the LoRA adapters wrap: {', '.join(LORA_TARGETS)} "
                        "(default qkv, NeMo's attention_qkv)")
    g.add_argument("--recompute", default=None, choices=["none", "selective", "full", "op"],
                   help="activation recomputation: selective = the attention core (Korthikanti et al.), full = each "
                        "block's forward, op = torchtitan's per-op checkpointing (keeps every other matmul's output "
                        "and the fused attention's) (default none; --search-layout tries none, selective, full)")
    g.add_argument("--zero", type=int, default=None, choices=[0, 1, 2, 3],
                   help="ZeRO stage: 1 shards the optimizer state (Megatron's distributed optimizer), 2 also "
                        "gradients, 3 also weights (FSDP) (default 0)")
    g.add_argument("--fsdp", action="store_true", default=None,
                   help="--zero 2/3 run as PyTorch FSDP (SHARD_GRAD_OP / FULL_SHARD): the data-parallel gathers and "
                        "reduce-scatters go per decoder block and microbatch, not once per step")
    g.add_argument("--fsdp-version", type=int, default=None, choices=[1, 2],
                   help="with --fsdp: 1 (default) PyTorch's FullyShardedDataParallel, 2 fully_shard (FSDP2, "
                        "torchtitan), which also copies each gathered buffer out into the parameters")
    g.add_argument("--optimizer-dtype", default=None, choices=["fp32", "bf16"],
                   help="dtype of Adam's main weights and moments and of the reduced gradients (default fp32; bf16: "
                        "Apex DistributedFusedAdam dtype / grad_sync_dtype bf16, as NeMo's Nemotron-340B config)")
    g.add_argument("--fp8-param-gather", action="store_true",
                   help="with --dtype fp8: the linear layers' weights kept in fp8 and gathered by the data-parallel "
                        "group in fp8 (Megatron-Core --fp8-param-gather, NeMo fp8_params)")
    g.add_argument("--sequence-parallel", action="store_true", default=None,
                   help="Megatron sequence parallelism (norms/dropout split over --tp ranks)")
    g.add_argument("--tp-comm-overlap", action="store_true", default=None,
                   help="Megatron-Core's --tp-comm-overlap: sequence parallelism's all-gathers / reduce-scatters "
                        "pipelined with the neighbouring GEMMs (needs --sequence-parallel)")
    g.add_argument("--no-tp-async-backward", action="store_true",
                   help="the backward's tensor-parallel collectives run exposed (default: each column-parallel "
                        "projection's all-reduce, or all-gather and reduce-scatter, beside its own GEMMs, as "
                        "Megatron-LM since 2021 and Transformer Engine; Megatron-DeepSpeed runs them exposed)")
    g.add_argument("--p2p", default=None, choices=P2P_MODES,
                   help="pipeline sends: blocking (the sending rank waits for each transfer: Megatron-LM before "
                        "Megatron-Core, Megatron-Core's non-interleaved 1F1B, DeepSpeed's pipeline engine) or "
                        "overlapped (sends run beside compute: Megatron-Core's interleaved schedule). Default: "
                        "overlapped with --layers-per-virtual-stage, blocking without")
    g.add_argument("--grad-accumulation", default=None, choices=GRAD_ACCUMULATION_MODES,
                   help="how each microbatch's weight gradients join the step's: fused (default: inside the weight-"
                        "gradient GEMM, whose epilogue reads and writes the fp32 main_grad: Megatron's "
                        "gradient_accumulation_fusion; or reduce-scattered, FSDP), autograd "
                        "(PyTorch adds them into .grad in the parameter dtype: DeepSpeed's fp16 pipeline) or fp32_copy "
                        "(cast and added into an fp32 copy after every microbatch: DeepSpeed's BF16_Optimizer)")
    g.add_argument("--pipeline-schedule", default=None, choices=PIPELINE_SCHEDULES,
                   help="pipeline schedule: megatron (default: Megatron-LM's 1F1B, interleaved with "
                        "--layers-per-virtual-stage) or deepspeed (DeepSpeed's pipeline engine: 2 (m + p - 1) steps, "
                        "neighbouring stages meeting for blocking exchanges at each)")
    g.add_argument("--optimizer-step", default=None, choices=OPTIMIZER_STEPS,
                   help="the optimizer step's kernels: fused (default: one fused Adam kernel, Apex/DeepSpeed "
                        "FusedAdam), megatron (Megatron-LM's mixed-precision optimizer: gradient copy, unscale, "
                        "clipping norm, FusedAdam, weight copy, gradient-buffer zeroing) or pytorch (clip_grad_norm_ "
                        "then AdamW's element-wise passes: Composer/llm-foundry, FSDP)")
    g.add_argument("--no-dp-overlap", action="store_true",
                   help="the data-parallel gradient reduction runs after the pipeline (default: overlapped with "
                        "the last microbatch's backward)")
    g.add_argument("--dp-bucket-params", type=positive_int, default=None, metavar="N",
                   help="parameters per data-parallel gradient bucket of the overlapped reduction (Megatron-Core "
                        "--ddp-bucket-size; default max(4e7, 1e6 x dp x cp))")
    g.add_argument("--dp-bucket-every-stage", action="store_true",
                   help="every pipeline rank reduces its gradients in buckets (Apex DistributedFusedAdam; default: "
                        "Megatron-Core's, the first pipeline rank only, the others in one collective)")
    g.add_argument("--no-dp-gather-overlap", action="store_true",
                   help="ZeRO-1/2's parameter all-gather runs in the optimizer step, exposed (Apex "
                        "DistributedFusedAdam's default; default: bucket by bucket beside the next forward, as "
                        "Megatron-Core's --overlap-param-gather)")
    g.add_argument("--search-layout", type=positive_int, default=None, metavar="N",
                   help="simulate every layout the flags leave open (--tp/--pp/--dp/--microbatch-size/"
                        "--sequence-parallel/--recompute/--zero not given) and print the N fastest that fit")
    g.add_argument("--attention", default=None, choices=ATTENTION_KERNELS,
                   help="attention kernel: flash (default; Hopper-native fused attention), flash2 (FlashAttention-2: "
                        "flash-attn 2.x, PyTorch SDPA), flash_triton (FlashAttention in Triton, pre-MLIR: "
                        "llm-foundry's attn_impl: triton), flash2_varlen (FlashAttention-2's variable-length kernel "
                        "inside flash-attn's unpad/pad gathers: llm-foundry's attn_impl: flash) or unfused (Megatron "
                        "before FlashAttention)")
    g.add_argument("--dropout", type=_probability, default=None, help="attention and hidden dropout (default 0)")
    g.add_argument("--cross-entropy", default=None, choices=CROSS_ENTROPY_KERNELS,
                   help="the loss kernel: torch (default; logits cast to fp32, log-softmax and NLL as separate "
                        "kernels, as PyTorch under autocast runs it), megatron (logits cast to fp32, Megatron-LM's "
                        "vocab-parallel loss: max, subtract, exp, sum, divide in place; scatter and multiply back), "
                        "megatron_fused (the same as Megatron-Core's cross_entropy_loss_fusion runs it: three fused "
                        "kernels forward) or fused (one kernel each way on the 16-bit logits: flash-attn's "
                        "CrossEntropyLoss, llm-foundry's default)")
    g.add_argument("--norm-kernel", default=None, choices=NORM_KERNELS,
                   help="the LayerNorms' kernels: two_pass (default; PyTorch's and apex's non-persistent LayerNorm "
                        "read each row twice and compute the weight gradients in a second kernel) or persistent "
                        "(Megatron-LM's persist_layer_norm / apex FastLayerNorm, Transformer Engine: the row stays in "
                        "registers; only for the hidden sizes those kernels are built for)")
    g.add_argument("--pointwise-kernels", default=None, choices=POINTWISE_KERNELS,
                   help="a Llama block's RMSNorm, rotary embedding and SiLU-and-multiply: fused (default; one kernel "
                        "each, as Transformer Engine, Megatron-Core and serving engines run them) or eager (op by op, "
                        "as eager PyTorch runs torchtitan's and Hugging Face's Llama: RMSNorm in fp32) or compiled "
                        "(traced eagerly, then each region of non-library ops between two GEMM / attention calls one "
                        "kernel, as torch.compile runs it to first order); a GPT block's LayerNorm and GELU are one "
                        "kernel each unless compiled")
    g.add_argument("--logit-metrics", type=int, default=None, metavar="N",
                   help="training metrics computed from every microbatch's logits without gradients, each a "
                        "cross-entropy over them (fp32 cast, log-softmax, NLL); default 0. Composer's trainer "
                        "updates llm-foundry's two (LanguageCrossEntropy, LanguagePerplexity) after each microbatch")
    g.add_argument("--document-len", type=positive_int, default=None, metavar="N",
                   help="each sequence is a pack of documents of N tokens (SFT sequence packing): the fused "
                        "attention kernel attends within each document (FlashAttention varlen, Transformer Engine "
                        "THD); for documents of mixed lengths l give E[l^2] / E[l]. Default: one document per "
                        "sequence")


def is_cluster_training(args: Any) -> bool:
    """Whether ``args`` asks for LLM cluster training (an LLM ``--model`` with ``--mode train``)."""
    from workloads.llm_configs import is_llm_name

    return bool(getattr(args, "model", None)) and args.mode == "train" and is_llm_name(args.model)


def check_not_training_flags(args: Any) -> None:
    """ConfigError when a cluster-training flag is given outside the cluster-training path."""
    from accel.errors import ConfigError

    for name in TRAIN_FLAGS:
        if getattr(args, name, None) not in (None, False):
            flag = "--" + name.replace("_", "-")
            raise ConfigError("<command line>", flag, "applies to LLM cluster training only (--mode train with a "
                                                      "named LLM or a gpt:/llama: --model)")


def _training_dtype(args: Any) -> str:
    from accel.errors import ConfigError

    if args.amp and args.dtype not in (None, "fp32"):
        raise ConfigError("<command line>", "--dtype", "give --amp fp16/bf16 or --dtype, not both")
    dtype = args.amp or args.dtype or "bf16"
    if dtype not in ("fp16", "bf16", "fp32", "fp8"):
        raise ConfigError("<command line>", "--dtype", f"training dtype {dtype!r} not supported; allowed: fp16, bf16, "
                                                      "fp32, fp8 (Transformer Engine's recipe: fp8 GEMMs, bf16 rest)")
    return dtype


def run_training(args: Any) -> int:
    """Simulate one training step and print the practitioner's summary (module docstring)."""
    from accel.errors import ConfigError
    from accel.sim import resolve_system
    from accel.train import LayoutError, MemoryOverflow, TrainLayout, simulate_training
    from workloads.llm_configs import llm_config

    t0 = time.perf_counter()
    for flag in ("csv", "graph"):
        if getattr(args, flag, None):
            raise ConfigError("<command line>", f"--{flag}", "not available for LLM cluster training; use --json "
                                                              "or --trace")
    if args.parallel != "data" or args.microbatches is not None:
        raise ConfigError("<command line>", "--parallel" if args.parallel != "data" else "--microbatches",
                          "LLM cluster training takes --tp/--pp/--dp and --microbatch-size instead")
    if args.batch is not None and len(args.batch) > 1:
        raise ConfigError("<command line>", "--batch", "LLM cluster training takes one global batch")
    try:
        cfg = llm_config(args.model)
    except ValueError as exc:
        raise ConfigError("<command line>", "--model", str(exc)) from None
    dtype = _training_dtype(args)
    system = resolve_system(args.arch)
    tp, pp, cp = args.tp or 1, args.pp or 1, args.cp or 1
    devices = args.devices or (args.dp or 1) * tp * pp * cp
    if args.dp is None and devices % (tp * pp * cp):
        raise ConfigError("<command line>", "--devices", f"{devices} not divisible by --tp {tp} x --pp {pp} x --cp {cp}")
    layout = TrainLayout(
        global_batch=args.batch[0] if args.batch else 8 * devices // (tp * pp * cp), seq_len=args.seq_len or 2048,
        tp=tp, pp=pp, cp=cp, dp=args.dp or devices // (tp * pp * cp), microbatch_size=args.microbatch_size or 1,
        layers_per_virtual_stage=args.layers_per_virtual_stage, sequence_parallel=bool(args.sequence_parallel),
        recompute=args.recompute or "none", zero=args.zero or 0, tp_comm_overlap=bool(args.tp_comm_overlap),
        dp_overlap=not args.no_dp_overlap, tp_async_backward=not args.no_tp_async_backward,
        dp_bucket_params=args.dp_bucket_params, dp_buckets_every_stage=bool(args.dp_bucket_every_stage),
        dp_gather_overlap=not args.no_dp_gather_overlap, fsdp=bool(args.fsdp), fsdp_version=args.fsdp_version or 1,
        optimizer_dtype=args.optimizer_dtype or "fp32", fp8_param_gather=bool(args.fp8_param_gather),
        first_stage_layers=args.first_stage_layers, last_stage_layers=args.last_stage_layers,
        embedding_in_split=bool(args.account_for_embedding_in_pipeline_split),
        loss_in_split=bool(args.account_for_loss_in_pipeline_split), lora_rank=args.lora_rank,
        lora_targets=args.lora_targets or DEFAULT_LORA_TARGETS, p2p=args.p2p, grad_accumulation=args.grad_accumulation or "fused",
        optimizer_step=args.optimizer_step or "fused", pipeline_schedule=args.pipeline_schedule or "megatron")
    if args.lora_targets and not args.lora_rank:
        raise ConfigError("<command line>", "--lora-targets", "names the LoRA adapters' projections; add --lora-rank R "
                                                              "(without it every weight trains)")
    if args.document_len and cp > 1:
        raise ConfigError("<command line>", "--document-len", "packed documents are not combined with --cp > 1 here")
    if args.search_layout:
        return _run_search(args, cfg, system, devices, layout, dtype, t0)
    try:
        layout.check(cfg.layers, cfg.heads, devices)
        from workloads.llm_train import training_graphs

        graphs = training_graphs(cfg, layout.tp, layout.microbatch_size, layout.local_seq_len,
                                 "bf16" if dtype == "fp8" else dtype,
                                 args.attention or "flash", args.dropout or 0.0, args.cross_entropy or "torch",
                                 args.logit_metrics or 0, args.document_len, args.norm_kernel or "two_pass",
                                 args.pointwise_kernels or "fused")
        res = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, system, layout, dtype,
                                memory_check=not args.no_memory_check, model_name=cfg.name)
    except (LayoutError, MemoryOverflow) as exc:
        flag, _, reason = str(exc).partition(": ")
        raise ConfigError("<command line>", flag, reason) from None
    except ValueError as exc:
        flag, _, reason = str(exc).partition(": ")
        if flag.startswith("--"):
            raise ConfigError("<command line>", flag, reason) from None
        raise
    print_training(res, time.perf_counter() - t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.to_dict(), f, indent=1)
        print(f"result written to {args.json}")
    if args.trace:
        with open(args.trace, "w") as f:
            json.dump(res.chrome_trace(), f)
        print(f"trace written to {args.trace} (one process per pipeline stage; open in https://ui.perfetto.dev)")
    return 0


def _run_search(args: Any, cfg: Any, system: Any, devices: int, base: Any, dtype: str, t0: float) -> int:
    """``--search-layout N``: the N fastest layouts that fit (:func:`accel.train.search.search_layouts`)."""
    from accel.errors import ConfigError
    from accel.train.search import Choices, search_layouts
    from workloads.llm_train import training_graphs

    choices = Choices(tp=args.tp, pp=args.pp, dp=args.dp, cp=base.cp, microbatch_size=args.microbatch_size,
                      sequence_parallel=args.sequence_parallel, recompute=args.recompute, zero=args.zero,
                      tp_comm_overlap=bool(args.tp_comm_overlap), tp_async_backward=not args.no_tp_async_backward,
                      dp_overlap=not args.no_dp_overlap, dp_bucket_params=args.dp_bucket_params,
                      dp_buckets_every_stage=bool(args.dp_bucket_every_stage),
                      dp_gather_overlap=not args.no_dp_gather_overlap, fsdp=bool(args.fsdp),
                      fsdp_version=args.fsdp_version or 1, optimizer_dtype=args.optimizer_dtype or "fp32",
                      fp8_param_gather=bool(args.fp8_param_gather),
                      layers_per_virtual_stage=args.layers_per_virtual_stage,
                      first_stage_layers=args.first_stage_layers, last_stage_layers=args.last_stage_layers,
                      embedding_in_split=bool(args.account_for_embedding_in_pipeline_split),
                      loss_in_split=bool(args.account_for_loss_in_pipeline_split), lora_rank=args.lora_rank,
                      lora_targets=args.lora_targets or DEFAULT_LORA_TARGETS, p2p=args.p2p,
                      grad_accumulation=args.grad_accumulation or "fused",
                      optimizer_step=args.optimizer_step or "fused", pipeline_schedule=args.pipeline_schedule or "megatron")
    gdtype = "bf16" if dtype == "fp8" else dtype

    def graphs(tp: int, mb: int, seq: int) -> Any:
        return training_graphs(cfg, tp, mb, seq, gdtype, args.attention or "flash", args.dropout or 0.0,
                               args.cross_entropy or "torch", args.logit_metrics or 0, args.document_len,
                               args.norm_kernel or "two_pass", args.pointwise_kernels or "fused")

    fits, errors = search_layouts(graphs, cfg.layers, cfg.hidden, cfg.heads, system, devices, base.global_batch,
                                  base.seq_len, dtype, choices, cfg.name)
    if not fits:
        last = str(errors[-1]) if errors else "no layout divides the model and the batch"
        raise ConfigError("<command line>", "--search-layout", f"no layout of {devices} GPUs fits or runs: {last}")
    print(f"{cfg.name}: {len(fits)} layouts fit on {devices} x {fits[0].device} ({len(errors)} did not); "
          f"the {min(args.search_layout, len(fits))} fastest:")
    shown = fits[:args.search_layout]
    uneven = any(r.layout.uneven for r in shown)
    print(f"  {'tp':>3} {'pp':>3} {'dp':>5} {'mb':>3} {'SP':>3} {'recompute':>9} {'ZeRO':>4} {'step':>10} "
          f"{'tokens/s/GPU':>12} {'MFU':>6} {'memory':>8}" + ("  layers per stage" if uneven else ""))
    for r in shown:
        lay = r.layout
        stages = _stage_text(lay.stage_layers(cfg.layers)) if lay.uneven else "even"
        print(f"  {lay.tp:>3} {lay.pp:>3} {lay.dp:>5} {lay.microbatch_size:>3} {'yes' if lay.sequence_parallel else 'no':>3} "
              f"{lay.recompute:>9} {lay.zero:>4} {format_si(r.step_time_s, 's'):>10} "
              f"{r.tokens_per_s / r.devices:>12,.0f} {100 * r.mfu:>5.1f}% {r.memory.total / 1e9:>6.1f}GB"
              + (f"  {stages}" if uneven else ""))
    print(f"  searched in {time.perf_counter() - t0:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.to_dict() for r in shown], f, indent=1)
        print(f"result written to {args.json}")
    return 0


def _stage_text(counts: list[int]) -> str:
    """``5 + 10 x 6 + 5``: per-stage block counts with runs of equal middle stages folded."""
    first, last, middle = counts[0], counts[-1], counts[1:-1]
    mid = (f"{len(middle)} x {middle[0]}" if middle and len(set(middle)) == 1 else " + ".join(map(str, middle)))
    return " + ".join(x for x in (str(first), mid, str(last)) if x)


def print_training(res: Any, wall_s: float) -> None:
    """The summary a practitioner reads: step time, its breakdown, throughput, TFLOP/s, MFU/HFU, memory."""
    lay = res.layout
    print(f"{res.model}: train step on {res.devices} x {res.device} ({res.system})")
    print(f"  layout: tp {lay.tp} x pp {lay.pp} x dp {lay.dp}; global batch {lay.global_batch} x {lay.seq_len} tokens; "
          f"microbatch {lay.microbatch_size} ({lay.microbatches} per pipeline)"
          + (f"; {lay.layers_per_virtual_stage} layers per virtual stage" if lay.layers_per_virtual_stage else "")
          + (f"; layers per stage {_stage_text(lay.stage_layers(int(sum(s['layers'] for s in res.stages))))}"
             if lay.uneven else "")
          + ("; sequence parallel" if lay.sequence_parallel else "")
          + (f"; LoRA rank {lay.lora_rank} on {', '.join(lay.lora_targets)}, the rest frozen" if lay.lora_rank else "")
          + f"; recompute {lay.recompute}; ZeRO {lay.zero}" + (" (FSDP)" if lay.fsdp else "") + f"; {res.dtype}")
    iv = res.step_time_interval
    interval = (f"  (80 % interval {format_si(iv.low, 's')} to {format_si(iv.high, 's')}, {iv.source})"
                if iv is not None else "")
    print(f"  step time: {format_si(res.step_time_s, 's')}{interval}")
    print(f"  tokens/s: {res.tokens_per_s:,.0f} ({res.tokens_per_s / res.devices:,.0f} per GPU)")
    print(f"  per GPU: {res.model_tflops_per_device:.1f} model TFLOP/s (MFU {100 * res.mfu:.1f}%), "
          f"{res.hardware_tflops_per_device:.1f} hardware TFLOP/s (HFU {100 * res.hfu:.1f}%) of "
          f"{res.peak_flops / 1e12:.0f} peak")
    if res.slowest_device_factor != 1.0:
        print(f"  kernels at the pace of the slowest of {res.devices} GPUs: x{res.slowest_device_factor:.3f} the median "
              "unit (unit_variation of the device YAML)")
    print("  breakdown (critical pipeline rank):")
    for k, v in res.breakdown.items():
        print(f"    {k:16s} {format_si(v, 's'):>10s}  {100 * v / res.step_time_s:5.1f}%")
    if res.compute_by_kernel:
        print("  compute + recompute by kernel: " + ", ".join(f"{k} {format_si(v, 's')}"
                                                          for k, v in res.compute_by_kernel.items()))
    m = res.memory
    print(f"  memory per GPU: {m.total / 1e9:.1f} GB (weights {m.weights / 1e9:.1f}, gradients {m.gradients / 1e9:.1f}, "
          f"optimizer {m.optimizer / 1e9:.1f}, activations {m.activations / 1e9:.1f}, workspace {m.workspace / 1e9:.1f})")
    print(f"  simulated in {wall_s:.2f} s")
