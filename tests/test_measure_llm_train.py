"""``accel measure --what llm_train`` (an LLM decoder block's training step) and its ``accel validate`` categories.

CPU only: the section runs its tiny plan case here; the GPU-only columns (sustained clock/power, profiler kernel
split) are checked through a synthetic H100 llm_train.csv and the kernel-name classification.
"""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

from accel.errors import ConfigError  # noqa: E402
from accel.measure import SECTION_FILES, measure  # noqa: E402
from accel.measure.llm_train import (CUDA_COLUMNS, OTHER_CLASSES, kernel_class, other_class, per_block,  # noqa: E402
                                     sdpa_backend, split_kernels)
from accel.measure.noise import impossible  # noqa: E402
from accel.measure.shapes import LLM_TRAIN_GPU, LLM_TRAIN_TINY, plan_for  # noqa: E402
from accel.measure.timing import Timing  # noqa: E402
from accel.validate import (SECTIONS, ReferencePredictor, compare, load_predictor, read_measurements,  # noqa: E402
                            render_text, validate_dir)
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import block_module, shard_config, training_graphs  # noqa: E402

DATA = Path(__file__).parent / "data" / "validate"
REPO = Path(__file__).resolve().parents[1]


def _quiet(*_a):
    pass


@pytest.fixture(scope="module")
def cpu_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("llm_train_cpu")
    written = measure(out, device="cpu", what=["device", "llm_train"], preset="tiny", threads=1, log=_quiet)
    assert set(written) == {"device", "llm_train"}
    return out


def test_cpu_tiny_section_writes_one_block_row(cpu_dir):
    df = pd.read_csv(cpu_dir / "llm_train.csv")
    assert len(df) == 1
    r = df.iloc[0]
    label, spec, seq, mb = LLM_TRAIN_TINY[0]
    assert (r["label"], r["spec"], int(r["seq_len"]), int(r["microbatch"])) == (label, spec, seq, mb)
    assert r["dtype"] == "fp32" and int(r["blocks"]) == 1 and r["sdpa_backend"] == "sdpa"
    for col in ("ms", "fwd_ms", "tflops", "flops_per_block", "params_per_block"):
        assert math.isfinite(float(r[col])) and float(r[col]) > 0, col
    graph = training_graphs(llm_config(spec), 1, mb, seq, "fp32", "flash", 0.0)["block"]
    assert float(r["flops_per_block"]) == pytest.approx(sum(op.flops for op in graph), rel=1e-12)
    assert int(r["params_per_block"]) == graph.meta["params"]
    assert r["tflops"] == pytest.approx(r["flops_per_block"] / r["ms"] / 1e9)
    for col in CUDA_COLUMNS:  # GPU-only columns exist and are blank
        assert col in df.columns and pd.isna(r[col]), col
    assert {"ms_min", "spread", "samples", "noisy"} <= set(df.columns)
    assert json.loads((cpu_dir / "device.json").read_text())["device_type"] == "cpu"


def test_cpu_rows_are_read_and_skipped_by_a_cpu_arch(cpu_dir):
    m = read_measurements(cpu_dir)
    assert len(m.tables["llm_train.csv"]) == 1
    rep = validate_dir(cpu_dir, arch="epyc_genoa_2vcpu", only=["llm_train"])
    assert not rep.comparisons
    assert [s.category for s in rep.skipped] == ["llm_block", "llm_block_forward"]
    assert "priced for GPUs" in rep.skipped[0].reason


def test_plans_and_section_registration():
    assert SECTION_FILES["llm_train"] == "llm_train.csv" and "llm_train" in SECTIONS
    for preset in ("quick", "full"):
        p = plan_for("cuda", preset)
        assert p.llm_train == list(LLM_TRAIN_GPU) and p.llm_train_blocks == 4 and p.llm_train_seconds == 10.0
    for device, preset in (("cuda", "tiny"), ("cpu", "tiny"), ("cpu", "quick"), ("cpu", "full")):
        p = plan_for(device, preset)
        assert p.llm_train == list(LLM_TRAIN_TINY), (device, preset)
    assert plan_for("cpu", "quick").llm_train_seconds == 0.0 and plan_for("cpu", "full").llm_train_blocks == 1
    for _, spec, seq, _mb in LLM_TRAIN_GPU:  # every GPU case is a valid config of the traced length
        cfg = llm_config(spec)
        assert cfg.rope or seq <= cfg.max_positions, spec


def test_block_module_is_the_traced_block():
    cfg = shard_config(llm_config(LLM_TRAIN_TINY[0][1]), 1)
    m = block_module(cfg, 32)
    graph = training_graphs(llm_config(LLM_TRAIN_TINY[0][1]), 1, 2, 32, "fp32")["block"]
    assert sum(p.numel() for p in m.parameters()) == graph.meta["params"]
    with pytest.raises(ValueError, match="--attention"):
        block_module(cfg, 32, attention="nope")


def test_kernel_names_are_classified():
    names = {
        "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4>, true>(Flash_fwd_params)":
            "attention",
        "void pytorch_flash::flash_bwd_dot_do_o_kernel<true, Flash_bwd_kernel_traits<128>>(Flash_bwd_params)":
            "attention",
        "fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<...>::Params)": "attention",
        "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x64_4x1x1_kernel0_0": "attention",
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_warpgroupsize2x1x1_execute_segment_k_off": "gemm",
        "nvjet_tst_128x256_64x4_2x1_v_bz_coopA_TNT": "gemm",
        "void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_16x16_128x2_tn_align8>(Params)": "gemm",
        "void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16, float>(...)": "gemm",
        "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>>(...)": "other",
        "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>(...)": "other",
        "Memcpy DtoD (Device -> Device)": "other",
    }
    for name, want in names.items():
        assert kernel_class(name) == want, name
    s = split_kernels([(n, 10.0) for n in names])
    assert (s["attention"], s["gemm"], s["other"], s["count"]) == (40.0, 40.0, 30.0, 11.0)
    others = {
        "void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl(...)>(...)": "elementwise",
        "void at::native::unrolled_elementwise_kernel<at::native::FillFunctor<float>, ...>(...)": "elementwise",
        "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>(...)": "norm",
        "void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernel<c10::BFloat16, float>(...)": "norm",
        "void at::native::(anonymous namespace)::layer_norm_grad_input_kernel<c10::BFloat16, float>(...)": "norm",
        "void at::native::vectorized_elementwise_kernel<4, at::native::direct_copy_kernel_cuda(...)>(...)": "copy",
        "void at::native::(anonymous namespace)::CatArrayBatchedCopy<...>(...)": "copy",
        "void at::native::index_elementwise_kernel<128, 4, ...>(...)": "copy",
        "Memcpy DtoD (Device -> Device)": "copy",
        "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::func_wrapper_t<...>>>(...)":
            "reduce",
        "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float>(...)": "misc",
    }
    for name, want in others.items():
        assert kernel_class(name) == "other" and other_class(name) == want, name
    s = split_kernels([(n, 1.0) for n in others])
    assert s["other"] == len(others) == sum(s[c] for c in OTHER_CLASSES)
    assert (s["norm"], s["copy"], s["reduce"], s["elementwise"], s["misc"]) == (3.0, 4.0, 1.0, 2.0, 1.0)
    assert sdpa_backend(["pytorch_flash::flash_fwd_kernel", "nvjet_x"]) == "flash"
    assert sdpa_backend(["fmha_cutlassB_bf16_aligned_64x64_k128_sm80"]) == "efficient"
    assert sdpa_backend(["cudnn_generated_fort_native_sdpa_sm90_flash_bprop"]) == "cudnn"
    assert sdpa_backend(["sm90_xmma_gemm_bf16", "softmax_warp_forward"]) == "math"
    t = per_block(Timing(ms=8.0, ms_min=4.0, ms_iqr=2.0, round_ms=(8.0, 12.0), samples=7), 4)
    assert (t.ms, t.ms_min, t.ms_iqr, t.round_ms, t.samples) == (2.0, 1.0, 0.5, (2.0, 3.0), 7)


def test_screening_refuses_an_impossible_block_rate():
    h100 = {**json.loads((DATA / "h100_small" / "device.json").read_text()), "device_type": "cuda"}
    row = {"dtype": "bf16", "flops_per_block": 1e15, "ms": 1.0}  # 1 PFLOP in 1 ms: 1000 PFLOP/s
    assert "physical bound" in impossible("llm_train", row, h100)
    assert impossible("llm_train", {**row, "ms": 2000.0}, h100) is None


GPT2 = LLM_TRAIN_GPU[0]  # ("gpt2-small", spec, 1024, 8)
MEGATRON = LLM_TRAIN_GPU[1]


@pytest.fixture(scope="module")
def h100_dir(tmp_path_factory):
    """A synthetic H100 llm_train.csv: gpt2-small with the profiler split, a megatron block without it."""
    d = tmp_path_factory.mktemp("llm_train_h100")
    shutil.copy(DATA / "h100_small" / "device.json", d / "device.json")
    rows = [dict(label=GPT2[0], spec=GPT2[1], seq_len=GPT2[2], microbatch=GPT2[3], dtype="bf16", blocks=4,
                 attention="flash", sdpa_backend="flash", ms=1.6, fwd_ms=0.55, sustained_ms=1.7, sm_clock_mhz_median=1755,
                 power_w_median=610.0, gemm_ms=0.9, attention_ms=0.12, other_ms=0.45, norm_ms=0.1,
                 elementwise_ms=0.25, reduce_ms=0.02, copy_ms=0.08, misc_ms=0.0),
            dict(label=MEGATRON[0], spec=MEGATRON[1], seq_len=MEGATRON[2], microbatch=MEGATRON[3], dtype="bf16",
                 blocks=4, attention="flash", sdpa_backend="", ms=3.5, fwd_ms=1.2, sustained_ms="",
                 sm_clock_mhz_median="", power_w_median="", gemm_ms="", attention_ms="", other_ms="")]
    pd.DataFrame(rows).to_csv(d / "llm_train.csv", index=False)
    return d


def test_validate_prices_the_block_as_the_cluster_model(h100_dir):
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.train.costs import price_piece

    rep = validate_dir(h100_dir)
    text = render_text(rep)
    print(text)
    blocks = {c.key: c for c in rep.by_category("llm_block")}
    assert len(blocks) == 2 and len(rep.by_category("llm_block_gemm")) == 1
    assert len(rep.by_category("llm_block_attention")) == 1 and len(rep.by_category("llm_block_other")) == 1
    assert {c.category for c in rep.comparisons} == {"llm_block", "llm_block_forward", "llm_block_gemm",
                                                     "llm_block_attention", "llm_block_other",
                                                     *(f"llm_block_{c}" for c in OTHER_CLASSES if c != "misc")}
    assert len(rep.by_category("llm_block_forward")) == 2  # fwd_ms of both rows
    for line in ("LLM training block, fwd+bwd", "LLM block: GEMM kernels", "LLM block: attention kernels",
                 "LLM block: other kernels"):
        assert line in text

    cm = cost_model_for(load_arch("h100"))
    for label, spec, seq, mb in (GPT2, MEGATRON):
        cfg = llm_config(spec)
        graph = training_graphs(cfg, 1, mb, seq, "bf16", "flash2", 0.0)["block"]  # sdpa_backend flash = FA2
        piece = price_piece(graph, cm, mb * seq * cfg.hidden * 2.0, float(graph.meta["params"]), "none", 1, False)
        c = blocks[f"{label} s{seq} mb{mb} bf16"]
        assert c.predicted == pytest.approx(piece.forward_s + piece.backward_s, rel=1e-9)
        fwd = {f.key: f for f in rep.by_category("llm_block_forward")}[c.key]
        assert fwd.predicted == pytest.approx(piece.forward_s, rel=1e-9)
        assert c.tags["label"] == label and c.tags["seq_len"] == seq and c.tags["microbatch"] == mb

    c = blocks[f"{GPT2[0]} s{GPT2[2]} mb{GPT2[3]} bf16"]
    assert c.measured == pytest.approx(1.6e-3)
    assert c.tags["sustained_over_short"] == pytest.approx(1.7 / 1.6) and c.tags["sm_clock_mhz_median"] == 1755
    assert c.tags["sdpa_backend"] == "flash"
    assert "sustained_over_short" not in blocks[f"{MEGATRON[0]} s{MEGATRON[2]} mb{MEGATRON[3]} bf16"].tags
    parts = {cat: rep.by_category(f"llm_block_{cat}")[0] for cat in ("gemm", "attention", "other")}
    assert parts["gemm"].measured == pytest.approx(0.9e-3) and parts["other"].measured == pytest.approx(0.45e-3)
    cfg = llm_config(GPT2[1])
    graph = training_graphs(cfg, 1, GPT2[3], GPT2[2], "bf16", "flash2", 0.0)["block"]
    gemm = sum(cm.cost(op).time_s for op in graph if op.kind == "matmul")
    att = sum(cm.cost(op).time_s for op in graph if op.kind == "attention")
    assert parts["gemm"].predicted == pytest.approx(gemm, rel=1e-9)
    assert parts["attention"].predicted == pytest.approx(att, rel=1e-9)
    norm = sum(cm.cost(op).time_s for op in graph if op.kind == "norm")
    elementwise = sum(cm.cost(op).time_s for op in graph if op.kind in ("elementwise", "activation"))
    assert rep.by_category("llm_block_norm")[0].predicted == pytest.approx(norm, rel=1e-9)
    assert rep.by_category("llm_block_elementwise")[0].predicted == pytest.approx(elementwise, rel=1e-9)
    assert rep.by_category("llm_block_norm")[0].measured == pytest.approx(0.1e-3)
    subs = sum(rep.by_category(f"llm_block_{c}")[0].predicted for c in OTHER_CLASSES if c != "misc")
    assert subs == pytest.approx(parts["other"].predicted, rel=1e-9)
    # price_piece's total is max(device, host issue) per pass; the parts are the device time only, so they add
    # up to the total unless a pass is issue-bound (gpt2-small's small elementwise kernels: total ~13 % above)
    split = sum(p.predicted for p in parts.values())
    assert split <= c.predicted * (1 + 1e-9) and split == pytest.approx(c.predicted, rel=0.2)


def test_against_a_reference_directory_is_exact(h100_dir):
    rep = compare(read_measurements(h100_dir), ReferencePredictor(h100_dir), only=["llm_train"])
    assert len(rep.comparisons) == 11 and all(abs(c.error) < 1e-12 for c in rep.comparisons)  # misc_ms 0


def test_bad_llm_train_rows_are_refused_or_skipped(tmp_path):
    shutil.copy(DATA / "h100_small" / "device.json", tmp_path / "device.json")
    base = dict(label="x", spec=GPT2[1], seq_len=1024, microbatch=8, dtype="bf16", ms=1.0)
    pd.DataFrame([{**base, "microbatch": 0}]).to_csv(tmp_path / "llm_train.csv", index=False)
    with pytest.raises(ConfigError, match="llm_train.csv: row 2, column microbatch: must be >= 1, got 0"):
        read_measurements(tmp_path)
    pd.DataFrame([{**base, "gemm_ms": -1.0}]).to_csv(tmp_path / "llm_train.csv", index=False)
    with pytest.raises(ConfigError, match="column gemm_ms: must be >= 0"):
        read_measurements(tmp_path)
    pd.DataFrame([{**base, "spec": "gpt:layers=1,hidden=768,heads=5"},
                  {**base, "seq_len": 4096}]).to_csv(tmp_path / "llm_train.csv", index=False)
    rep = validate_dir(tmp_path, only=["llm_train"])
    assert not rep.comparisons and len(rep.skipped) == 2
    assert "not divisible by heads" in rep.skipped[0].reason and "max_positions" in rep.skipped[1].reason


def test_directories_without_llm_train_keep_their_categories():
    fake = load_predictor(f"{DATA / 'fake_predictor.py'}:Roofline")
    rep = compare(read_measurements(DATA / "h100_small"), fake)
    assert not any(c.category.startswith("llm") for c in rep.comparisons)
    assert not any(s.category.startswith("llm") for s in rep.skipped)
    rep = validate_dir(REPO / "data" / "measurements" / "h100", only=["gemm"])
    assert {c.category for c in rep.comparisons} == {"gemm"} and len(rep.comparisons) > 100


class _FakeNvml:
    """Stands in for pynvml: a GPU at 1500 MHz, 600-700 W, power-capped on every other sample."""

    NVML_CLOCK_SM = 1

    def __init__(self):
        self.n = 0
        self.energy = 0

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        raise RuntimeError("no PCI bus id here")

    def nvmlDeviceGetHandleByIndex(self, i):
        return "gpu0"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self.energy += 650_000  # mJ per read
        return self.energy

    def nvmlDeviceGetClockInfo(self, h, which):
        return 1500

    def nvmlDeviceGetPowerUsage(self, h):
        self.n += 1
        return 600_000 + 100_000 * (self.n % 2)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4 if self.n % 2 else 0x0


def test_sustained_run_samples_clock_and_power(monkeypatch):
    import sys
    import time

    import torch

    from accel.measure import llm_train
    from accel.measure.sections import Ctx

    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(llm_train, "NVML_SAMPLE_S", 0.0)
    ctx = Ctx(torch=torch, device="cpu", plan=plan_for("cpu", "tiny"), log=_quiet)
    out = llm_train._sustained(ctx, lambda: time.sleep(0.002), step_ms=2.0, seconds=0.05, blocks=2)
    assert out["nvml_samples"] >= 10 and out["sm_clock_mhz_median"] == 1500.0
    assert out["power_w_median"] in (600.0, 700.0) and 0.3 < out["power_cap_frac"] < 0.7
    assert out["throttle_reasons"] == "sw_power_cap"
    assert out["power_w_avg"] == pytest.approx(650.0 / out["sustained_s"], rel=0.05)
    assert 1.0 <= out["sustained_ms"] < 5.0  # per block: one 2 ms step / 2 blocks, plus overhead
    monkeypatch.setitem(sys.modules, "pynvml", None)  # no pynvml: timing only, NVML columns absent
    out = llm_train._sustained(ctx, lambda: None, step_ms=1.0, seconds=0.01, blocks=1)
    assert set(out) == {"sustained_ms", "sustained_s"}
