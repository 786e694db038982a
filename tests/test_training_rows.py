"""The published training runs as simulator inputs (benchmarks/training_rows.py, data/published/training_models.yaml):
every CSV row loads, is either complete or says why accel cannot express it, and the conversions to tokens/s per
GPU, the model specs and the parsed layouts match hand-checked numbers."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from workloads.llm_configs import llm_config

ROOT = Path(__file__).resolve().parents[1]


def _load_module():
    name = "training_rows"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "training_rows.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses resolve their module while the class is built
    spec.loader.exec_module(mod)
    return mod


tr = _load_module()


@pytest.fixture(scope="module")
def rows():
    return tr.load_rows()


@pytest.fixture(scope="module")
def csv():
    return pd.read_csv(tr.CSV_PATH, comment="#")


def _row(rows, i):
    (r,) = [x for x in rows if x.row == i]
    return r


def test_all_rows_load(rows, csv):
    assert len(rows) == len(csv) == 156
    assert [r.row for r in rows] == list(range(156))
    assert all(isinstance(r, tr.TrainingRow) for r in rows)
    assert all(r.model == m for r, m in zip(rows, csv["model"]))


def test_each_row_is_complete_or_says_why(rows):
    for r in rows:
        if r.expressible:
            assert r.spec and r.published_tokens_per_s_per_gpu and r.published_tokens_per_s_per_gpu > 0, r
            assert r.gpu in ("a100", "h100") and r.system in ("selene", "eos", "jean_zay_a100"), r
            assert r.dtype in ("fp16", "bf16") or (r.dtype == "fp8" and r.gpu == "h100"), r
            assert r.seq_len and r.global_batch and r.num_gpus > 0, r
            assert None not in (r.tp, r.pp, r.dp, r.cp), r
        else:
            assert r.reasons and all(x.strip() for x in r.reasons), r
        assert r.published_basis, r
        assert r.recompute in (None, "none", "selective", "full")
        assert r.zero in (None, 0, 1, 2, 3)
        assert r.gpu in (None, "a100", "h100", "b200")
        assert r.dtype in (None, "fp16", "bf16", "fp8")
        if r.published_tokens_per_s_per_gpu is not None:
            assert r.published_tokens_per_s_per_gpu > 0


def test_expressible_layouts_fill_the_gpus_and_split_the_model(rows):
    ok = [r for r in rows if r.expressible]
    assert len(ok) >= 80
    for r in ok:
        assert r.tp * r.pp * r.dp * r.cp == r.num_gpus, r
        assert r.cp is not None and r.seq_len is not None and r.seq_len % (2 * r.cp) == 0
        cfg = llm_config(r.spec)
        assert cfg.heads % r.tp == 0 and cfg.ffn % r.tp == 0 and cfg.vocab % r.tp == 0, r
        if r.first_stage_layers is None:
            assert cfg.layers % r.pp == 0, r
        else:  # uneven stages (BLOOM): the middle stages share the rest equally
            rest = cfg.layers - r.first_stage_layers - r.last_stage_layers
            assert rest > 0 and rest % (r.pp - 2) == 0, r
        assert r.global_batch % (r.dp * (r.microbatch_size or 1)) == 0, r
        if not cfg.rope:
            assert r.seq_len <= cfg.max_positions, r
        if r.layers_per_virtual_stage:
            assert r.layers_per_virtual_stage * r.pp * r.vp == cfg.layers


def test_reasons_are_the_fixed_texts(rows):
    known = {v for k, v in vars(tr).items() if k.startswith("R_")}
    for r in rows:
        assert set(r.reasons) <= known, r.reasons


def test_summary_prints_counts_and_reasons(rows, capsys):
    assert tr.main() == 0
    out = capsys.readouterr().out
    n_ok = sum(r.expressible for r in rows)
    assert f"156 published training rows: {n_ok} expressible, {156 - n_ok} unexpressible" in out
    assert tr.R_PARALLEL in out and tr.R_B200 in out


# ---- hand-checked conversions --------------------------------------------------------------------------------

def test_korthikanti_gpt3_175b_full_recompute_from_iteration_time(rows):
    r = _row(rows, 8)
    assert r.model == "GPT-3 175B" and r.recompute == "full" and r.sequence_parallel is False
    # 64 sequences x 2048 tokens / 18.13 s / 64 GPUs
    assert r.published_tokens_per_s_per_gpu == pytest.approx(64 * 2048 / 18.13 / 64, rel=1e-12)
    assert r.published_tokens_per_s_per_gpu == pytest.approx(112.96194, abs=1e-5)
    assert (r.tp, r.pp, r.dp, r.microbatch_size, r.global_batch, r.seq_len) == (8, 8, 1, 1, 64, 2048)
    assert (r.vp, r.layers_per_virtual_stage, r.dtype, r.system) == (3, 4, "fp16", "selene")
    sel = _row(rows, 9)
    assert sel.recompute == "selective" and sel.sequence_parallel is True
    assert sel.published_tokens_per_s_per_gpu == pytest.approx(2048 / 13.75, rel=1e-12)


def test_megatron_readme_row_from_the_flop_formula(rows):
    """GPT 1.7B on 48 H100: 408.8 TFLOP/s per GPU. Megatron's FLOPs per token (L 24, h 2048, a = g = 16,
    s 4096, ffn 4h, V 131072): 12 L h^2 ((1 + 1 + s/h) + 4 + V/(2 L h)) = 12*24*2048^2 * (8 + 4/3)."""
    r = _row(rows, 14)
    per_token = 12 * 24 * 2048**2 * (1 + 1 + 4096 / 2048 + 4 + 131072 / (2 * 24 * 2048))
    assert per_token == 11_274_289_152
    assert tr.megatron_flops_per_token(llm_config(r.spec), 4096) == pytest.approx(per_token, rel=1e-15)
    assert r.published_tokens_per_s_per_gpu == pytest.approx(408.8e12 / per_token, rel=1e-12)
    assert r.published_tokens_per_s_per_gpu == pytest.approx(36259.492, abs=1e-3)
    assert (r.tp, r.pp, r.dp, r.zero, r.system, r.expressible) == (1, 1, 48, 1, "eos", True)


def test_megatron_formula_for_a_gated_gqa_model():
    """llama3-8b (SwiGLU, 8 of 32 query groups) at s 8192: the gated MLP counts 3/2."""
    L, h, s, V = 32, 4096, 8192, 128256
    want = 12 * L * h * h * ((1 + 8 / 32 + s / h) + 14336 / h * 1.5 + V / (2 * L * h))
    assert tr.megatron_flops_per_token(llm_config("llama3-8b"), s) == pytest.approx(want, rel=1e-15)


def test_published_tflops_and_tokens_agree_through_the_formula(rows, csv):
    """Sources that publish both model TFLOP/s and tokens/s per GPU (Megatron-LM llama table, NeMo pretraining,
    llm-foundry MPT) agree with Megatron's FLOP formula and these specs (padded vocab included): the formula and
    the architectures are right. (SFT/LoRA rows count FLOPs differently and are skipped.)"""
    checked = 0
    for r in rows:
        tf, tok = csv.loc[r.row, "tflops_per_gpu"], csv.loc[r.row, "tokens_per_s_per_gpu"]
        if r.spec is None or pd.isna(tf) or pd.isna(tok) or "SFT" in r.model or "LoRA" in r.model:
            continue
        implied = tok * tr.megatron_flops_per_token(llm_config(r.spec), r.seq_len) / 1e12
        tol = 0.02 if r.source_short.startswith("llm-foundry") else 0.01
        assert implied == pytest.approx(tf, rel=tol), (r.row, r.model, implied, tf)
        checked += 1
    assert checked >= 90


def test_other_conversions(rows):
    bloom = _row(rows, 4)  # 2048 x 2048 tokens / 104.70 s / 384 GPUs (= 19.561 samples/s x 2048 / 384)
    assert bloom.published_tokens_per_s_per_gpu == pytest.approx(2048 * 2048 / 104.70 / 384, rel=1e-12)
    assert bloom.published_tokens_per_s_per_gpu == pytest.approx(19.561 * 2048 / 384, rel=1e-4)
    assert (bloom.zero, bloom.recompute, bloom.dtype, bloom.microbatch_size) == (1, "full", "bf16", 2)
    # 70 layers over 12 stages as the README lists them: embedding + 5, 10 x 6, 5 + embedding; on Jean Zay
    assert bloom.expressible and (bloom.first_stage_layers, bloom.last_stage_layers) == (5, 5)
    assert bloom.system == "jean_zay_a100"
    mtnlg = _row(rows, 0)
    assert mtnlg.published_tokens_per_s_per_gpu == pytest.approx(1920 * 2048 / 60.1 / 2240, rel=1e-12)
    assert mtnlg.expressible and mtnlg.zero is None and mtnlg.microbatch_size is None
    mpt = _row(rows, 79)
    assert mpt.published_tokens_per_s_per_gpu == 1007.0 and mpt.published_basis.startswith("tokens_per_s_per_gpu")
    assert tr.tokens_from_total(515636, 512) == pytest.approx(1007.1, abs=0.05)
    assert tr.tokens_from_samples(251, 2048, 512) == pytest.approx(1004.0)


def test_parsing(rows):
    assert tr.parse_count("8K") == 8192 and tr.parse_count("1024K") == 2**20 and tr.parse_count("2M") == 2 * 2**20
    assert tr.parse_count("2048") == 2048 and tr.parse_count(float("nan")) is None
    assert tr.parse_dtype("amp_bf16") == "bf16" and tr.parse_dtype("FP8 (hybrid)") == "fp8"
    assert tr.parse_dtype("fp16 (Calculon config)") == "fp16"
    assert tr.parse_dtype("mixed precision (fp16/bf16 not verified here)") is None
    opt = _row(rows, 3)  # "2M" tokens of 2048 -> 1024 sequences; FSDP
    assert (opt.global_batch, opt.zero, opt.dtype) == (1024, 3, "fp16")
    assert tr.R_APPROX in opt.reasons and tr.R_PARALLEL in opt.reasons
    b200 = _row(rows, 60)  # 1024K tokens, B200, CP 16, published degrees inconsistent
    assert (b200.seq_len, b200.gpu, b200.system, b200.cp) == (2**20, "b200", None, 16)
    assert {tr.R_B200, tr.R_INCONSISTENT} <= set(b200.reasons)
    nemo = _row(rows, 28)  # NeMo GPT3-5B FP8 on H100: expressible (fp8 GEMMs on Hopper)
    assert nemo.dtype == "fp8" and nemo.gpu == "h100" and nemo.unexpressible is None
    mpt3 = _row(rows, 91)  # SHARD_GRAD_OP, no activation checkpointing
    assert (mpt3.zero, mpt3.recompute, mpt3.tp, mpt3.pp, mpt3.cp, mpt3.dp) == (2, "none", 1, 1, 1, 512)
    mpt70 = _row(rows, 79)  # FULL_SHARD, activation checkpointing
    assert (mpt70.zero, mpt70.recompute, mpt70.sequence_parallel) == (3, "full", False)
    llama = _row(rows, 25)  # Megatron-LM llama FP8 table: GPU not stated, CP 2
    assert llama.gpu is None and tr.R_GPU_UNSTATED in llama.reasons and llama.cp == 2
    lora = _row(rows, 43)  # NeMo 24.07 LoRA: rank 32 on qkv (peft/llama/squad.yaml), fused_adam (no ZeRO)
    assert lora.unexpressible is None and (lora.lora_rank, lora.lora_targets, lora.zero) == (32, ("qkv",), 0)
    assert _row(rows, 40).lora_rank is None  # the SFT row trains every weight


# ---- model specs -----------------------------------------------------------------------------------------------

def test_every_csv_model_has_one_yaml_entry(csv):
    models = tr.load_models()
    assert set(csv["model"].unique()) == set(models), set(csv["model"].unique()) ^ set(models)
    for entry in set(models.values()):
        assert entry.source.strip() and entry.spec.strip()


def test_every_spec_parses_and_matches_the_published_size(rows):
    models = tr.load_models()
    for r in rows:
        assert r.spec, r  # every CSV model was found
        cfg = llm_config(r.spec)
        if r.published_params_b is None:
            continue
        entry = models[r.model]
        assert cfg.tied == (cfg.family == "gpt" and not entry.untied_output_layer), (r.row, r.model)
        params = tr.param_count(cfg)  # an untied_output_layer row's spec has tied=0: its head counts
        assert params / 1e9 == pytest.approx(r.published_params_b, rel=0.10), (r.row, r.model, params)


def test_mpt_specs_reproduce_numparams_exactly(rows, csv):
    """llm-foundry's NumParams (in the notes) equals the gpt spec's parameter count with max_positions = seq_len:
    learned positions, biases and tied head, as the benchmark configs have."""
    n = 0
    for r in rows:
        m = re.search(r"NumParams=(\d+)", str(csv.loc[r.row, "notes"]))
        if m:
            cfg = llm_config(r.spec)
            assert cfg.max_positions == r.seq_len
            assert tr.param_count(cfg) == int(m.group(1)), (r.row, r.model)
            n += 1
    assert n == 77


def test_param_count_matches_known_models():
    # Llama-2-7B: 6,738,415,616 parameters (Hugging Face safetensors index total / 2 bytes)
    assert tr.param_count(llm_config("llama2-7b")) == 6_738_415_616
    # GPT-2 small (124,439,808 with its 1024-position table)
    assert tr.param_count(llm_config("gpt:layers=12,hidden=768,heads=12,vocab=50257,max_positions=1024")) == 124_439_808


def test_megatron_vocab_padding(rows):
    by_model = {(r.model, r.tp): llm_config(r.spec).vocab for r in rows if r.source_short == "NeMo 24.07 pretraining"}
    # GPT-2 BPE 50257 padded to a multiple of 128 x tp
    assert by_model[("GPT3-5B", 1)] == 50304
    assert by_model[("GPT3-20B", 2)] == 50432
    assert by_model[("GPT3-175B", 4)] == 50688


def test_nemo_rows_take_the_release_configs(rows):
    """NeMo 24.07's summary states layouts, not recomputation: the rows take NeMo-Framework-Launcher @24.07's
    configs (no recomputation, Nemotron-340B selective; ub_tp_comm_overlap only where those configs set it)."""
    nemo = {r.model: r for r in rows if r.source_short.startswith("NeMo 24.07") and r.expressible}
    assert nemo["Nemotron-340B"].recompute == "selective"
    assert all(r.recompute == "none" for m, r in nemo.items() if m != "Nemotron-340B")
    assert nemo["GPT3-20B"].tp_comm_overlap is True and nemo["GPT3-20B"].sequence_parallel is True
    assert all(r.tp_comm_overlap is False for m, r in nemo.items() if m.startswith("GPT3-175B"))
    assert nemo["LLAMA2-7B"].tp_comm_overlap is False and nemo["LLAMA2-7B"].sequence_parallel is False
    # Apex DistributedFusedAdam: ZeRO-2; the LoRA config's fused_adam shards nothing
    assert {r.zero for m, r in nemo.items() if not m.endswith("LoRA")} == {2}
    assert {r.zero for m, r in nemo.items() if m.endswith("LoRA")} == {0}
    assert {m for m, r in nemo.items() if r.optimizer_dtype == "bf16"} == {"Nemotron-340B"}  # optim.dtype: bf16
    others = [r for r in rows if not r.source_short.startswith("NeMo")]
    assert all(r.tp_comm_overlap is None for r in others)
    # cross_entropy_loss_fusion: true in llama3_8b/70b.yaml and nemotron_8b/22b.yaml only
    assert {m for m, r in nemo.items() if r.cross_entropy_fusion} == {"LLAMA3-8B", "LLAMA3-70B", "Nemotron-8B",
                                                                      "Nemotron-22B"}
    assert all(r.cross_entropy_fusion is None for r in others)
    # hidden_dropout / attention_dropout: 0.1 in the gpt3 and the SFT (squad.yaml) configs, 0.0 in llama and nemotron
    assert {m for m, r in nemo.items() if r.dropout} == {"GPT3-5B", "GPT3-20B", "GPT3-175B", "LLAMA2-7B SFT",
                                                        "LLAMA2-13B SFT", "LLAMA2-70B SFT"}
    assert all(r.dropout in (0.0, 0.1) for r in nemo.values()) and all(r.dropout is None for r in others)


def test_fp8_bf16_pairs_share_everything_but_the_dtype():
    """bench_training's same-stack FP8 / BF16 speed-up check pairs rows that differ only in the training dtype."""
    from benchmarks.bench_training import fp8_speedup_pairs

    rows = [r for r in tr.load_rows() if r.unexpressible is None]
    published = {r.row: float(r.published_tokens_per_s_per_gpu) for r in rows if r.published_tokens_per_s_per_gpu}
    pairs = fp8_speedup_pairs(rows, published)
    assert len(pairs) >= 4
    for b, f, pub_x, acc_x in pairs:
        assert (b.dtype, f.dtype) == ("bf16", "fp8") and b.source_short != f.source_short
        assert (b.model, b.num_gpus, b.seq_len, b.microbatch_size, b.recompute) == (
            f.model, f.num_gpus, f.seq_len, f.microbatch_size, f.recompute)
        assert acc_x == pytest.approx(pub_x)


def test_lora_pairs_share_everything_but_the_frozen_weights():
    """bench_training's same-stack LoRA / full fine-tuning check pairs NeMo 24.07's LLAMA2-7B SFT and LoRA rows (same
    GPUs, layout, sequence, batch and dtype); the 13B and 70B rows ran different layouts and are not paired."""
    from benchmarks.bench_training import lora_speedup_pairs

    rows = [r for r in tr.load_rows() if r.unexpressible is None]
    published = {r.row: float(r.published_tokens_per_s_per_gpu) for r in rows if r.published_tokens_per_s_per_gpu}
    pairs = lora_speedup_pairs(rows, published)
    assert [(b.model, f.model) for b, f, _, _ in pairs] == [("LLAMA2-7B SFT", "LLAMA2-7B LoRA")]
    for b, f, pub_x, acc_x in pairs:
        assert (b.num_gpus, b.tp, b.pp, b.seq_len, b.global_batch, b.dtype) == \
            (f.num_gpus, f.tp, f.pp, f.seq_len, f.global_batch, f.dtype)
        assert b.lora_rank is None and f.lora_rank == 32 and pub_x == pytest.approx(acc_x)  # published as predicted
