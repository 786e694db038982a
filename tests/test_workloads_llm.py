"""Decoder LLM workloads: named configs and spec strings, prefill/decode phases, the KV cache, GQA, block repetition."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import workloads  # noqa: E402
from workloads.llm_configs import LLM_CONFIGS, llm_config  # noqa: E402


def _matmul_flops(g) -> float:
    return sum(o.flops for o in g if o.kind == "matmul")


@pytest.mark.parametrize("name, params", [("llama2-7b", 6_738_415_616), ("llama3-8b", 8_030_261_248),
                                          ("llama2-70b", 68_976_648_192)])
def test_parameter_counts_match_the_published_models(name, params):
    g = workloads.extract_model(name, phase="decode", context=8, batch=1, dtype="bf16")
    assert g.meta["params"] == params
    assert g.meta["param_bytes"] == 2 * params


def test_decode_reads_the_kv_cache_at_kv_heads_and_counts_its_bytes():
    cfg = LLM_CONFIGS["llama3-8b"]  # GQA: 32 query heads, 8 KV heads of 128
    b, ctx = 4, 300
    g = workloads.extract_model("llama3-8b", phase="decode", context=ctx, batch=b, dtype="bf16")
    attn = g.ops(kind="attention")
    assert len(attn) == cfg.layers
    for o in attn:
        assert (o.attrs["heads"], o.attrs["kv_heads"], o.attrs["Lq"], o.attrs["Lk"]) == (32, 8, 1, ctx)
        assert [t.shape for t in o.weights] == [(b, 8, ctx, 128)] * 2  # the cache, read once (not also as inputs)
        assert [t.shape for t in o.inputs] == [(b, 32, 1, 128)]
        assert o.flops == 4 * b * 32 * 1 * ctx * 128  # QK^T and PV, 2 FLOPs per MAC
    kv = 2 * cfg.layers * b * ctx * 8 * 128 * 2
    assert g.meta["kv_cache_bytes"] == kv == sum(o.weight_bytes for o in attn)
    # the new token's K and V are written into the cache: one token per sequence per layer
    writes = [o for o in g.ops(kind="data_movement") if o.module.endswith("self_attn")]
    assert len(writes) == 2 * cfg.layers and all(o.output_bytes == b * 8 * 128 * 2 for o in writes)


def test_prefill_flops_are_two_per_parameter_per_token_and_the_head_runs_once():
    cfg = LLM_CONFIGS["llama2-7b"]
    b, s = 2, 128
    g = workloads.extract_model("llama2-7b", phase="prefill", seq_len=s, batch=b, dtype="fp16")
    h, f = cfg.hidden, cfg.ffn
    block = 4 * h * h + 3 * h * f  # q, k, v, o (MHA) + gate, up, down
    assert _matmul_flops(g) == 2 * b * s * cfg.layers * block + 2 * b * h * cfg.vocab  # LM head: last token only
    attn = g.ops(kind="attention")
    assert all(o.attrs["causal"] and o.attrs["Lq"] == o.attrs["Lk"] == s for o in attn)
    assert g.meta["kv_cache_bytes"] == cfg.kv_cache_bytes(b, s, 2)


def test_one_block_is_traced_and_repeated():
    g = workloads.extract_model("llama3.1-405b", phase="decode", context=64, batch=1, dtype="bf16")
    rb = g.meta["repeated_block"]
    assert rb["count"] == 126 and rb["module"] == "layers.0"
    blocks = {o.module.split(".")[1] for o in g if o.module.startswith("layers.")}
    assert blocks == {str(i) for i in range(126)}
    assert len(g) == 3 + 126 * rb["ops"]  # embedding; blocks; final norm + LM head
    g.validate()
    # each block reads the previous block's output: the graph is one chain through the blocks
    first = g.ops()[0].name
    order = g.topological_order()
    assert order[0] == first and order[-1].startswith("lm_head")
    norm1 = [o.name for o in g if o.module == "layers.5.input_layernorm"][0]
    assert any(p.startswith("layers.4/") for p in g.predecessors(norm1))


def test_gpt_spec_string_and_gptj_parallel_residual():
    g = workloads.extract_model("gpt:layers=4,hidden=256,heads=4,vocab=1000", seq_len=32, batch=2, dtype="fp32")
    cfg = llm_config("gpt:layers=4,hidden=256,heads=4,vocab=1000")
    assert cfg.ffn == 4 * 256 and cfg.tied and not cfg.rope
    assert not llm_config("gpt:layers=4,hidden=256,heads=4,vocab=1000,tied=0").tied
    assert llm_config("llama:layers=2,hidden=64,heads=4,tied=1").tied
    assert g.meta["phase"] == "forward" and g.meta["kv_cache_bytes"] == 0
    assert g.ops(kind="matmul")[-1].outputs[0].shape == (64, 1000)  # logits at every position (no cache)
    j = workloads.extract_model("gpt-j-6b", phase="decode", context=16, batch=1, dtype="fp16")
    block = [o for o in j if o.module.startswith("layers.0")]
    assert sum(o.kind == "norm" for o in block) == 1  # one LayerNorm feeds attention and MLP


@pytest.mark.parametrize("kw, match", [
    (dict(name="llama2-7b", phase="decode"), "context"),
    (dict(name="llama2-7b", phase="decode", context=4097), "too long"),
    (dict(name="llama2-7b", phase="prefill", seq_len=5000), "too long"),
    (dict(name="llama2-7b", phase="verify"), "unknown phase"),
    (dict(name="llama2-7b", phase="prefill", context=5), "decode only"),
    (dict(name="resnet18", phase="decode", context=5), "decoder LLMs"),
    (dict(name="llama2-7b", mode="train"), "inference"),
    (dict(name="llama:layers=2,hidden=64", phase="prefill"), "missing heads"),
    (dict(name="llama:layers=2,hidden=64,heads=4,kv_heads=3"), "not divisible by kv_heads"),
    (dict(name="llama:layers=2,hiden=64,heads=4"), "did you mean 'hidden'"),
    (dict(name="gpt:layers=2,hidden=64,heads=4,tied=2"), "tied must be 0 .* or 1"),
])
def test_bad_llm_options_name_the_problem(kw, match):
    with pytest.raises(ValueError, match=match):
        workloads.extract_model(kw.pop("name"), **kw)


def test_decode_is_bandwidth_bound_and_memory_counts_the_cache():
    from accel.sim import simulate

    g = workloads.extract_model("llama2-7b", phase="decode", context=2048, batch=16, dtype="bf16")
    r = simulate(g, "h100", cuda_graphs=True)
    busy = {}
    for rec in r.records:
        if rec.stream == "compute":
            busy[(rec.kind, rec.bound)] = busy.get((rec.kind, rec.bound), 0.0) + rec.end - rec.start
    total = sum(busy.values())
    memory = sum(t for (k, b), t in busy.items() if b == "memory")
    assert memory / total > 0.9  # weights and the KV cache stream from HBM
    assert r.run.memory_bytes_max >= g.meta["param_bytes"] + g.meta["kv_cache_bytes"]
    # a decode step cannot beat reading the weights and the cache once at the datasheet bandwidth
    assert r.latency_s > (g.meta["param_bytes"] + g.meta["kv_cache_bytes"]) / 3.35e12


def test_cli_simulate_decode_prints_per_token_latency(capsys, monkeypatch, tmp_path):
    from accel.cli import main

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path))
    assert main(["simulate", "--model", "llama:layers=2,hidden=256,heads=4,kv_heads=2", "--phase", "decode",
                 "--context", "512", "--batch", "4", "--dtype", "bf16", "--arch", "h100"]) == 0
    out = capsys.readouterr().out
    assert "per token" in out and "tokens/s" in out and "KV cache" in out and "-bound" in out
    assert main(["simulate", "--model", "resnet18", "--phase", "decode"]) == 2
    err = capsys.readouterr().err
    assert "--phase" in err and len(err.strip().splitlines()) == 1


def test_weight_only_quantization_and_fp8_kv_cache():
    from accel.arch import load_arch
    from accel.devices import cost_model_for

    kw = dict(phase="decode", context=1024, batch=8, dtype="bf16")
    base = workloads.extract_model("llama3-8b", **kw)
    q4 = workloads.extract_model("llama3-8b", weights="int4", kv_dtype="fp8", **kw)
    proj = [o for o in q4 if o.module == "layers.0.self_attn.q_proj"][0]
    assert proj.dtype == "bf16" and [(t.dtype, t.bytes) for t in proj.weights] == [("int4", 4096 * 4096 // 2)]
    head = [o for o in q4 if o.module == "lm_head"][0]
    assert head.weights[0].dtype == "bf16"  # embeddings and the LM head keep the model dtype
    cfg = LLM_CONFIGS["llama3-8b"]
    block = 4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336
    assert q4.meta["param_bytes"] == base.meta["param_bytes"] - cfg.layers * block * 1.5  # 2 B -> 0.5 B each
    assert q4.meta["kv_cache_bytes"] * 2 == base.meta["kv_cache_bytes"] and q4.meta["kv_elem_bytes"] == 1
    attn = q4.ops(kind="attention")[0]
    assert attn.weight_bytes * 2 == base.ops(kind="attention")[0].weight_bytes
    h100 = cost_model_for(load_arch("h100"))
    c16, c4 = h100.cost([o for o in base if o.module == "layers.0.mlp.gate_proj"][0]), h100.cost(
        [o for o in q4 if o.module == "layers.0.mlp.gate_proj"][0])
    assert c4.detail["dequant_s"] > 0 and c4.time_s < 0.5 * c16.time_s  # a quarter of the weight bytes
    a16, a8 = h100.cost(base.ops(kind="attention")[0]), h100.cost(attn)
    assert a8.detail["path"] == "flash_decode" and a8.bound == "memory" and a8.time_s < 0.7 * a16.time_s  # + launch floor
    with pytest.raises(ValueError, match="kv_dtype applies"):
        workloads.extract_model("llama3-8b", kv_dtype="fp8", dtype="bf16")
    with pytest.raises(ValueError, match="unknown weights"):
        workloads.extract_model("llama3-8b", weights="int3", phase="decode", context=8)


@pytest.mark.parametrize("dtype", ["fp8", "int8"])
def test_w8a8_serving_quantizes_the_projections_and_keeps_the_rest_16_bit(dtype):
    """fp8/int8 LLMs run as engines serve a quantized checkpoint: 8-bit projection GEMMs (inputs and weights), the
    kernels feeding them write 8 bits, the KV cache is 8-bit; residual adds, norms' inputs, the LM head and the
    projections' outputs (what a tensor-parallel all-reduce sums) stay bf16."""
    kw = dict(phase="decode", context=1024, batch=8)
    base = workloads.extract_model("llama3-8b", dtype="bf16", **kw)
    q = workloads.extract_model("llama3-8b", dtype=dtype, **kw)
    assert (q.meta["dtype"], q.meta["activation_dtype"], q.meta["kv_dtype"]) == (dtype, "bf16", dtype)
    by_module = {o.module: o for o in q if o.module.startswith("layers.0") or not o.module.startswith("layers")}
    for name in ("self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"):
        gemm = by_module[f"layers.0.{name}"]
        assert gemm.dtype == dtype and {t.dtype for t in gemm.inputs + gemm.weights} == {dtype}
        assert [t.dtype for t in gemm.outputs] == ["bf16"]
    assert by_module["layers.0.input_layernorm"].outputs[0].dtype == dtype  # quantization fused into the norm
    assert by_module["layers.0.mlp"].outputs[0].dtype == dtype  # ... and into SiLU-and-multiply
    assert by_module["norm"].outputs[0].dtype == "bf16"  # the final norm feeds the 16-bit LM head
    head = by_module["lm_head"]
    assert head.dtype == "bf16" and head.weights[0].dtype == "bf16"
    adds = [o for o in q if o.module == "layers.0" and o.kind == "elementwise"]
    assert adds and all(t.dtype == "bf16" for o in adds for t in o.inputs + o.outputs)  # the residual stream
    cfg = LLM_CONFIGS["llama3-8b"]
    block = 4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336
    assert q.meta["param_bytes"] == base.meta["param_bytes"] - cfg.layers * block  # 2 B -> 1 B per projection weight
    assert q.meta["kv_cache_bytes"] * 2 == base.meta["kv_cache_bytes"]
    q_gemm, b_gemm = by_module["layers.0.mlp.up_proj"], [o for o in base if o.module == "layers.0.mlp.up_proj"][0]
    assert q_gemm.flops == b_gemm.flops and q_gemm.input_bytes * 2 == b_gemm.input_bytes
    norm = by_module["layers.0.input_layernorm"].name
    edges = [q.graph.edges[norm, v]["bytes"] for v in q.graph.successors(norm)]
    assert len(edges) == 3 and set(edges) == {8 * 4096}  # its fp8 output, to q, k and v
    with pytest.raises(ValueError, match="does not apply"):
        workloads.extract_model("llama3-8b", dtype=dtype, weights="int4", **kw)


def test_w8a8_tensor_parallel_all_reduces_stay_16_bit():
    """The row-parallel projections write bf16, so a tensor-parallel group sums 16-bit activations under W8A8, as
    under bf16 (the all-reduce moves the same bytes), while the fp8 GEMMs take less time than the bf16 ones."""
    from accel.sim import simulate
    from accel.sim.parallelism import ParallelConfig
    from accel.sim.system import resolve_system

    spec = "llama:layers=2,hidden=1024,heads=8,kv_heads=2,ffn=2816,vocab=4096"
    system = resolve_system("h100").with_devices(2, "nvlink4")
    runs = {}
    for dtype in ("bf16", "fp8"):
        g = workloads.extract_model(spec, dtype=dtype, phase="decode", context=64, batch=64)
        res = simulate(g, system, parallel=ParallelConfig("tensor", 2), cuda_graphs=True, memory_check="off")
        dev = res.devices[0]
        runs[dtype] = ([r.bytes for r in res.records if r.device == dev and r.kind == "allreduce"],
                       sum(r.end - r.start for r in res.records if r.device == dev and r.kind == "matmul"))
    assert runs["fp8"][0] and runs["fp8"][0] == runs["bf16"][0]
    assert runs["fp8"][1] < runs["bf16"][1]


def test_plot_roofline_of_a_w8a8_llm_draws_fp8_and_bf16_points(tmp_path, capsys, monkeypatch):
    """`accel plot roofline --dtype fp8` on an LLM: fp8 projection GEMMs and bf16 LM head / attention points under
    both roofs on a Hopper; a GPU without fp8 tensor cores is a one-line error."""
    from accel.cli import main
    from accel.plot import roofline_from_graph
    from accel.arch import load_arch

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "cache"))
    spec = "llama:layers=2,hidden=1024,heads=8,kv_heads=2,ffn=2816,vocab=4096"
    g = workloads.extract_model(spec, dtype="fp8", phase="prefill", seq_len=512, batch=4)
    pts = roofline_from_graph(g, load_arch("h100"))
    assert {"fp8", "bf16"} <= set(pts["dtype"])
    out = tmp_path / "r"
    assert main(["plot", "roofline", "--model", spec, "--phase", "prefill", "--seq-len", "512", "--dtype", "fp8",
                 "--arch", "h100", "--no-png", "-o", str(out)]) == 0
    assert out.with_suffix(".html").exists()
    capsys.readouterr()
    assert main(["plot", "roofline", "--model", spec, "--phase", "prefill", "--seq-len", "512", "--dtype", "fp8",
                 "--arch", "a100", "--no-png", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "peak.fp8" in err


def test_w8a8_quantizes_biased_projections_too():
    """GPT-J's MLP linears carry a bias: the weight matrix is 8-bit, the bias stays 16-bit, the GEMM runs in fp8
    (not the weight-only dequantizing path)."""
    g = workloads.extract_model("gpt-j-6b", dtype="fp8", phase="decode", context=64, batch=4)
    fc_in = [o for o in g if o.module == "layers.0.mlp.fc_in"][0]
    assert fc_in.dtype == "fp8" and sorted(w.dtype for w in fc_in.weights) == ["bf16", "fp8"]


def test_cli_decode_defaults_to_cuda_graphs(capsys, monkeypatch, tmp_path):
    from accel.cli import main

    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path))
    args = ["simulate", "--model", "llama:layers=2,hidden=256,heads=4,kv_heads=2", "--phase", "decode",
            "--context", "64", "--dtype", "bf16", "--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert "CUDA graphs (a decode step" in capsys.readouterr().out
    import json

    assert json.loads((tmp_path / "r.json").read_text())["cuda_graphs"] is True
    assert main(args + ["--no-cuda-graphs"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["cuda_graphs"] is False
