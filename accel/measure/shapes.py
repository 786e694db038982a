"""What to measure: shape and model sets per preset (``tiny``, ``quick``, ``full``) and device.

``full`` on CUDA is exactly the set of ``data/measurements/measure_gpu.py`` (which
produced ``data/measurements/h100``); ``quick`` is a subset that runs in a few minutes
on an H100; ``tiny`` is a smoke test (seconds, CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRESETS = ("tiny", "quick", "full")

#: (name, Cin, Cout, H(=W) input, kernel, stride, pad, groups), as in measure_gpu.py
CONV_SHAPES: tuple[tuple[str, int, int, int, int, int, int, int], ...] = (
    ("alexnet.c1", 3, 64, 224, 11, 4, 2, 1), ("alexnet.c2", 64, 192, 27, 5, 1, 2, 1),
    ("alexnet.c3", 192, 384, 13, 3, 1, 1, 1), ("alexnet.c4", 384, 256, 13, 3, 1, 1, 1),
    ("alexnet.c5", 256, 256, 13, 3, 1, 1, 1),
    ("vgg.c1_1", 3, 64, 224, 3, 1, 1, 1), ("vgg.c1_2", 64, 64, 224, 3, 1, 1, 1),
    ("vgg.c2_1", 64, 128, 112, 3, 1, 1, 1), ("vgg.c2_2", 128, 128, 112, 3, 1, 1, 1),
    ("vgg.c3_1", 128, 256, 56, 3, 1, 1, 1), ("vgg.c3_2", 256, 256, 56, 3, 1, 1, 1),
    ("vgg.c4_1", 256, 512, 28, 3, 1, 1, 1), ("vgg.c4_2", 512, 512, 28, 3, 1, 1, 1),
    ("vgg.c5_1", 512, 512, 14, 3, 1, 1, 1),
    ("rn.stem", 3, 64, 224, 7, 2, 3, 1), ("rn.l1.1x1a", 64, 64, 56, 1, 1, 0, 1),
    ("rn.l1.3x3", 64, 64, 56, 3, 1, 1, 1), ("rn.l1.1x1b", 64, 256, 56, 1, 1, 0, 1),
    ("rn.l2.1x1a", 256, 128, 56, 1, 1, 0, 1), ("rn.l2.3x3s2", 128, 128, 56, 3, 2, 1, 1),
    ("rn.l2.3x3", 128, 128, 28, 3, 1, 1, 1), ("rn.l2.1x1b", 128, 512, 28, 1, 1, 0, 1),
    ("rn.l3.3x3", 256, 256, 14, 3, 1, 1, 1), ("rn.l3.1x1b", 256, 1024, 14, 1, 1, 0, 1),
    ("rn.l4.3x3", 512, 512, 7, 3, 1, 1, 1), ("rn.l4.1x1b", 512, 2048, 7, 1, 1, 0, 1),
    ("rn.l4.1x1a", 2048, 512, 7, 1, 1, 0, 1),
    ("mbv2.stem", 3, 32, 224, 3, 2, 1, 1), ("mbv2.dw32", 32, 32, 112, 3, 1, 1, 32),
    ("mbv2.pw32_16", 32, 16, 112, 1, 1, 0, 1), ("mbv2.pw16_96", 16, 96, 112, 1, 1, 0, 1),
    ("mbv2.dw96s2", 96, 96, 112, 3, 2, 1, 96), ("mbv2.dw144", 144, 144, 56, 3, 1, 1, 144),
    ("mbv2.pw144_24", 144, 24, 56, 1, 1, 0, 1), ("mbv2.dw384", 384, 384, 14, 3, 1, 1, 384),
    ("mbv2.pw384_64", 384, 64, 14, 1, 1, 0, 1), ("mbv2.dw960", 960, 960, 7, 3, 1, 1, 960),
    ("mbv2.pw320_1280", 320, 1280, 7, 1, 1, 0, 1),
)


#: an ``llm_train`` case: (label, LLM spec for :func:`workloads.llm_configs.llm_config`, seq_len, microbatch)
LlmTrainCase = tuple[str, str, int, int]
#: ``llm_train`` on GPUs (quick and full): single-GPU decoder blocks of the published H100 training runs that
#: accel's cluster model predicts too fast at tensor-parallel 1-2, plus GPT-2 small as an anchor
LLM_TRAIN_GPU: tuple[LlmTrainCase, ...] = (
    ("gpt2-small", "gpt:layers=1,hidden=768,heads=12,vocab=50257", 1024, 8),
    ("megatron-gpt-1.7b", "gpt:layers=24,hidden=2048,heads=16,vocab=131072,max_positions=4096", 4096, 1),
    ("llama2-7b", "llama2-7b", 4096, 1),
    ("mpt-7b", "gpt:layers=32,hidden=4096,heads=32,vocab=50368,max_positions=2048", 2048, 6),
    ("mpt-760m-32k", "gpt:layers=24,hidden=1536,heads=12,vocab=50368,max_positions=32768", 32768, 1),
    ("llama3-8b-8k", "llama3-8b", 8192, 1),
)
#: ``llm_train`` on CPUs and in the ``tiny`` preset: one tiny block (seconds)
LLM_TRAIN_TINY: tuple[LlmTrainCase, ...] = (
    ("tiny-gpt", "gpt:layers=1,hidden=64,heads=4,vocab=256,max_positions=64", 32, 2),
)


#: GEMMs of LLM training steps that the square and inference shapes leave out (M, N, K): per block of hidden size
#: ``h`` on ``t`` tokens, a projection's forward ``(t, h, h)`` and weight gradients ``(h, h, t)`` / ``(4h, h, t)``,
#: whose output is a few waves of tiles and whose reduction runs over every token, so split-K or stream-K
#: decides their speed (MPT-760M at 49,152 tokens, MPT-1B at 28,672, a 7B at 16,384)
TRAINING_GEMMS: tuple[tuple[int, int, int], ...] = (
    (49152, 1536, 1536), (1536, 1536, 49152), (6144, 1536, 49152),
    (28672, 2048, 2048), (2048, 2048, 28672), (8192, 2048, 28672),
    (4096, 4096, 16384), (16384, 4096, 16384),
)


def _full_gemm() -> list[tuple[int, int, int]]:
    sq = [(n, n, n) for n in [128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384]]
    llm = [(m, n, k) for m in [1, 8, 32, 128, 512, 2048, 8192]
           for (n, k) in [(4096, 4096), (11008, 4096), (4096, 11008), (12288, 4096), (50257, 768), (3072, 768),
                          (768, 3072)]]
    odd = [(1000, 1000, 1000), (1023, 1023, 1023), (1025, 1025, 1025), (4095, 4097, 4096), (96, 96, 96),
           (64, 4096, 64), (4096, 64, 4096), (32768, 128, 128), (128, 128, 32768), (2048, 2048, 128),
           (197 * 32, 768, 768), (197 * 32, 3072, 768), (49 * 64, 512, 2048)]
    return sq + llm + odd + list(TRAINING_GEMMS)


@dataclass
class Plan:
    """Everything one ``accel measure`` run measures.

    Attributes:
        gemm: (M, N, K) shapes; gemm_dtypes: dtypes to run them in; bmm: (batch, seq, head_dim) for q @ k^T.
        conv: conv shapes (see :data:`CONV_SHAPES`); conv_batches; conv_dtypes; conv_bwd_batches: batches of
            the backward kernels (conv_bwd.csv, same shapes and dtypes).
        layer_models / layer_batches / layer_dtypes: per-module timing runs (layers.csv).
        e2e_models / e2e_batches / e2e_dtypes / train: whole-model latency (e2e.csv); train adds train_sgd rows.
        micro_mib: d2d copy sizes (MiB); pcie_kib: host<->device copy sizes (KiB).
        energy: which energy workloads ("idle", "gemm8192_bf16", "d2d_copy_1GiB", "resnet50_b128_fp16"...).
        cpu_gemm / cpu_copy_mib / cpu_models: host CPU tests (cpu.csv).
        llm_train: decoder-block training cases (llm_train.csv, :data:`LlmTrainCase`); llm_train_blocks: independent
            blocks run in sequence per step; llm_train_seconds: length of the sustained run with NVML clock and
            power samples (s; 0: none).
    """

    gemm: list[tuple[int, int, int]] = field(default_factory=list)
    gemm_dtypes: list[str] = field(default_factory=list)
    bmm: list[tuple[int, int, int]] = field(default_factory=list)
    bmm_dtypes: list[str] = field(default_factory=list)
    conv: list[tuple[str, int, int, int, int, int, int, int]] = field(default_factory=list)
    conv_batches: list[int] = field(default_factory=list)
    conv_dtypes: list[str] = field(default_factory=list)
    conv_bwd_batches: list[int] = field(default_factory=list)
    layer_models: list[str] = field(default_factory=list)
    layer_batches: list[int] = field(default_factory=list)
    layer_dtypes: list[str] = field(default_factory=list)
    e2e_models: list[str] = field(default_factory=list)
    e2e_batches: list[int] = field(default_factory=list)
    e2e_dtypes: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)
    micro_mib: list[int] = field(default_factory=list)
    pcie_kib: list[int] = field(default_factory=list)
    energy: list[str] = field(default_factory=list)
    cpu_gemm: list[int] = field(default_factory=list)
    cpu_copy_mib: list[int] = field(default_factory=list)
    cpu_models: list[str] = field(default_factory=list)
    llm_train: list[LlmTrainCase] = field(default_factory=list)
    llm_train_blocks: int = 1
    llm_train_seconds: float = 0.0


ALL_MODELS = ["alexnet", "vgg16", "resnet50", "resnet18", "mobilenet_v2", "googlenet", "vit_b_16", "gpt2",
              "bert_base", "lstm_lm"]
ENERGY_FULL = ["idle", "gemm8192_bf16", "gemm8192_fp16", "gemm8192_tf32", "gemm8192_fp32", "gemm2048_bf16",
               "gemm1024_bf16", "d2d_copy_1GiB"] + [f"{m}_b{b}_{d}" for m in ("resnet50", "mobilenet_v2", "vgg16")
                                                   for d, b in (("fp16", 128), ("fp32", 64), ("fp16", 1))]


def _gpu_llm() -> dict[str, Any]:
    """The ``llm_train`` fields of the GPU quick and full plans: 4 blocks per step, 10 s sustained."""
    return {"llm_train": list(LLM_TRAIN_GPU), "llm_train_blocks": 4, "llm_train_seconds": 10.0}


def _subset(names: list[str]) -> list[tuple[str, int, int, int, int, int, int, int]]:
    return [s for s in CONV_SHAPES if s[0] in names]


def plan_for(device: str, preset: str) -> Plan:
    """The measurement plan for ``device`` ("cuda" or "cpu") and ``preset`` (tiny, quick, full)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    if device == "cuda":
        if preset == "full":
            return Plan(gemm=_full_gemm(), gemm_dtypes=["fp32", "tf32", "fp16", "bf16"],
                        bmm=[(96, 512, 64), (128, 2048, 128), (16, 4096, 128)], bmm_dtypes=["fp16", "bf16"],
                        conv=list(CONV_SHAPES), conv_batches=[1, 32, 128], conv_dtypes=["fp32", "tf32", "fp16", "bf16"],
                        conv_bwd_batches=[32],
                        layer_models=list(ALL_MODELS), layer_batches=[1, 32], layer_dtypes=["fp32", "fp16"],
                        e2e_models=list(ALL_MODELS), e2e_batches=[1, 8, 32, 128],
                        e2e_dtypes=["fp32", "tf32", "fp16", "bf16"], train=["fp32", "bf16_amp"],
                        micro_mib=[1, 4, 16, 32, 64, 128, 256, 1024, 4096],
                        pcie_kib=[4, 64, 1024, 16384, 262144, 1048576], energy=list(ENERGY_FULL),
                        cpu_gemm=[256, 512, 1024, 2048, 4096], cpu_copy_mib=[1, 8, 64, 512],
                        cpu_models=["resnet50", "mobilenet_v2", "alexnet"], **_gpu_llm())
        if preset == "quick":
            return Plan(gemm=[(n, n, n) for n in (256, 1024, 2048, 4096, 8192)]
                        + [(m, n, k) for m in (1, 32, 512, 4096) for (n, k) in ((4096, 4096), (12288, 4096), (50257, 768))]
                        + [(1023, 1023, 1023), (197 * 32, 768, 768), (4096, 64, 4096)] + list(TRAINING_GEMMS),
                        gemm_dtypes=["fp32", "tf32", "fp16", "bf16"],
                        bmm=[(96, 512, 64), (128, 2048, 128)], bmm_dtypes=["fp16", "bf16"],
                        conv=_subset(["alexnet.c1", "alexnet.c2", "vgg.c2_2", "vgg.c4_2", "rn.stem", "rn.l1.3x3",
                                      "rn.l2.1x1b", "rn.l3.3x3", "rn.l4.1x1a", "mbv2.dw32", "mbv2.pw16_96",
                                      "mbv2.dw144", "mbv2.pw320_1280"]),
                        conv_batches=[1, 32], conv_dtypes=["fp32", "tf32", "fp16", "bf16"], conv_bwd_batches=[32],
                        layer_models=["resnet50", "gpt2"], layer_batches=[1, 32], layer_dtypes=["fp32", "fp16"],
                        e2e_models=["resnet50", "mobilenet_v2", "gpt2", "lstm_lm"], e2e_batches=[1, 8, 32],
                        e2e_dtypes=["fp32", "fp16", "bf16"], train=["fp32"],
                        micro_mib=[1, 16, 256, 1024], pcie_kib=[64, 1024, 16384, 262144],
                        energy=["idle", "gemm8192_bf16", "gemm8192_fp16", "d2d_copy_1GiB", "resnet50_b128_fp16"],
                        cpu_gemm=[256, 512, 1024, 2048], cpu_copy_mib=[1, 8, 64],
                        cpu_models=["resnet50", "mobilenet_v2", "alexnet"], **_gpu_llm())
        return Plan(gemm=[(256, 256, 256), (1024, 1024, 1024)], gemm_dtypes=["fp32", "fp16"],
                    conv=_subset(["rn.l3.3x3"]), conv_batches=[1], conv_dtypes=["fp32"], conv_bwd_batches=[8],
                    micro_mib=[16], pcie_kib=[1024], energy=[], cpu_gemm=[128], cpu_copy_mib=[1],
                    llm_train=list(LLM_TRAIN_TINY), llm_train_blocks=4, llm_train_seconds=1.0)
    if device != "cpu":
        raise ValueError(f"unknown device {device!r}; allowed: cuda, cpu")
    if preset == "full":
        return Plan(gemm=[(n, n, n) for n in (128, 256, 512, 1024, 2048, 4096)]
                    + [(m, 4096, 4096) for m in (1, 8, 32, 128)] + [(197 * 8, 768, 768), (196, 3072, 768)],
                    gemm_dtypes=["fp32"], conv=list(CONV_SHAPES), conv_batches=[1, 8], conv_dtypes=["fp32"],
                    conv_bwd_batches=[8],
                    layer_models=["alexnet", "resnet18", "resnet50", "mobilenet_v2", "lstm_lm"], layer_batches=[1],
                    layer_dtypes=["fp32"], e2e_models=["alexnet", "resnet18", "resnet50", "mobilenet_v2", "vgg16", "lstm_lm"],
                    e2e_batches=[1, 8], e2e_dtypes=["fp32"], train=["fp32"],
                    cpu_gemm=[256, 512, 1024, 2048], cpu_copy_mib=[1, 8, 64, 512],
                    cpu_models=["resnet50", "mobilenet_v2", "alexnet"], llm_train=list(LLM_TRAIN_TINY))
    if preset == "quick":
        return Plan(gemm=[(n, n, n) for n in (128, 256, 512, 1024)] + [(8, 4096, 4096), (196, 3072, 768)],
                    gemm_dtypes=["fp32"],
                    conv=_subset(["alexnet.c2", "alexnet.c3", "vgg.c3_2", "rn.stem", "rn.l1.3x3", "rn.l2.1x1b",
                                  "rn.l3.3x3", "rn.l4.1x1a", "mbv2.dw144", "mbv2.pw144_24"]),
                    conv_batches=[1], conv_dtypes=["fp32"], conv_bwd_batches=[1],
                    layer_models=["resnet18", "mobilenet_v2"], layer_batches=[1], layer_dtypes=["fp32"],
                    e2e_models=["alexnet", "resnet18", "mobilenet_v2"], e2e_batches=[1], e2e_dtypes=["fp32"],
                    cpu_gemm=[256, 512, 1024], cpu_copy_mib=[1, 8, 64], cpu_models=["mobilenet_v2", "alexnet"],
                    llm_train=list(LLM_TRAIN_TINY))
    # tiny: a few small kernels, one small model; seconds on a laptop
    return Plan(gemm=[(64, 64, 64), (256, 256, 256)], gemm_dtypes=["fp32"],
                conv=[("tiny.c3x3", 16, 32, 28, 3, 1, 1, 1), ("tiny.dw", 32, 32, 28, 3, 1, 1, 32)],
                conv_batches=[1], conv_dtypes=["fp32"], conv_bwd_batches=[1],
                layer_models=["lstm_tiny"], layer_batches=[1], layer_dtypes=["fp32"],
                e2e_models=["lstm_tiny"], e2e_batches=[1], e2e_dtypes=["fp32"],
                cpu_gemm=[64, 128], cpu_copy_mib=[1], cpu_models=[], llm_train=list(LLM_TRAIN_TINY))
