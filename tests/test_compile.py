"""Device compilers as graph passes (accel.compile): batch-norm folding, epilogue fusion, elementwise chains;
the per-device default (eager for GPUs, fused for systolic/FPGA/DSP), ``simulate(compile=)``, ``--compile``,
the sweep's analytic evaluator, and the MAC-array utilisation (issue 15 item 1)."""

from __future__ import annotations

import pytest

from accel.arch import load_arch
from accel.cli import main
from accel.compile import COMPILE_MODES, compile_graph, fold_batch_norm, fuse_elementwise_chains, fuse_epilogues, resolve_compile
from accel.devices import cost_model_for
from accel.errors import ConfigError
from accel.graph import MAC_KINDS, LayerGraph, OpNode, TensorInfo
from accel.sim import simulate

BN_ATEN = "aten._native_batch_norm_legit_no_training.default"


def _t(*shape: int) -> TensorInfo:
    return TensorInfo.of(shape, "fp32")


class _Builder:
    def __init__(self, batch: int = 2, c: int = 16, hw: int = 8):
        self.g = LayerGraph("block", {"batch": batch, "mode": "infer", "dtype": "fp32"})
        self.b, self.c, self.hw = batch, c, hw
        self.n = 0

    @property
    def act(self) -> TensorInfo:
        return _t(self.b, self.c, self.hw, self.hw)

    def add(self, module: str, kind: str, deps: list[str], aten: str, inputs=None, outputs=None, weights=(), macs=0,
            attrs=None, phase="forward") -> str:
        op = OpNode(f"{module}/{kind}#{self.n}", kind, list(inputs if inputs is not None else [self.act]),
                    list(outputs if outputs is not None else [self.act]), list(weights), flops=2.0 * macs,
                    macs=float(macs), module=module, aten=aten, attrs=dict(attrs or {}), phase=phase)
        self.n += 1
        self.g.add_op(op, deps, [self.g.op(d).outputs[0].bytes for d in deps])
        return op.name

    def conv(self, module: str, deps: list[str]) -> str:
        b, c, hw = self.b, self.c, self.hw
        a = {"N": b, "Cin": c, "Cout": c, "H": hw, "W": hw, "R": 3, "S": 3, "stride": 1, "pad": 1, "groups": 1,
             "Hout": hw, "Wout": hw}
        return self.add(module, "conv", deps, "aten.convolution.default", weights=[_t(c, c, 3, 3)],
                        macs=b * c * hw * hw * c * 9, attrs=a)

    def bn(self, module: str, deps: list[str], aten: str = BN_ATEN) -> str:
        c = self.c
        return self.add(module, "norm", deps, aten, outputs=[self.act, _t(c), _t(c)], weights=[_t(c)] * 4)


def block() -> LayerGraph:
    """A stem and one residual block, then an elementwise chain and a layer norm::

        conv1 -> bn1 -> relu --------------------------+
                         \\-> layer.conv1 -> bn1 -> relu -> layer.conv2 -> bn2 -> add -> relu -+-> mul -> tanh -> add -> ln
                                                                                            \\----------------/
    """
    k = _Builder()
    c1 = k.conv("conv1", [])
    r0 = k.add("relu", "activation", [k.bn("bn1", [c1])], "aten.relu_.default")
    r1 = k.add("layer.relu", "activation", [k.bn("layer.bn1", [k.conv("layer.conv1", [r0])])], "aten.relu_.default")
    b2 = k.bn("layer.bn2", [k.conv("layer.conv2", [r1])])
    add = k.add("layer", "elementwise", [b2, r0], "aten.add_.Tensor", inputs=[k.act, k.act])
    r2 = k.add("layer.relu", "activation", [add], "aten.relu_.default")
    m = k.add("head.mul", "elementwise", [r2], "aten.mul.Tensor")
    th = k.add("head.tanh", "activation", [m], "aten.tanh.default")
    a2 = k.add("head.add", "elementwise", [th, r2], "aten.add.Tensor", inputs=[k.act, k.act])
    k.add("head.ln", "norm", [a2], "aten.native_layer_norm.default")
    return k.g


def _mac_work(g: LayerGraph) -> tuple[float, float]:
    ops = [o for o in g if o.kind in MAC_KINDS]
    return sum(o.flops for o in ops), sum(o.macs for o in ops)


def _program_order_ok(g: LayerGraph) -> bool:
    pos = {name: i for i, name in enumerate(g.graph.nodes)}
    return all(pos[u] < pos[v] for u, v in g.graph.edges)


# ------------------------------------------------------------------ the passes
def test_fused_block_groups_names_and_tensors():
    g = block()
    f = compile_graph(g, "fused")
    f.validate()
    assert _program_order_ok(f)
    assert [o.module for o in f] == ["conv1+bn1+relu", "layer.conv1+bn1+relu", "layer.conv2+bn2+add+relu",
                                     "head.mul+tanh+add", "head.ln"]
    assert f.meta["compile"] == "fused" and f.meta["ops_before_compile"] == len(g) == 14
    assert g.meta.get("compile") is None and len(g) == 14  # the input graph is not modified
    stem, l1, l2, chain, ln = list(f)
    # batch norm folded: no norm left but the layer norm, each conv gains a bias, keeps its FLOPs/MACs
    assert [o.kind for o in f] == ["conv", "conv", "conv", "elementwise", "norm"]
    assert ln.aten == "aten.native_layer_norm.default"
    for o in (stem, l1, l2):
        assert [w.shape for w in o.weights] == [(16, 16, 3, 3), (16,)]
        assert [m["role"] for m in o.attrs["fused"]][0] == "folded"
    # the residual add reads the stem's output as an extra input; only the last op's output is written
    assert l2.name == "layer.conv2/conv#6+bn2+add+relu"
    assert len(l2.inputs) == 2 and l2.attrs["epilogue_inputs"] == 1 and len(l2.outputs) == 1
    assert set(f.predecessors(l2.name)) == {stem.name, l1.name}
    assert f.graph.edges[stem.name, l2.name]["bytes"] == stem.outputs[0].bytes
    assert stem.attrs.get("epilogue_inputs") == 0  # relu: no operand besides the conv output
    # the chain reads the block's output once (the add's second operand is the same tensor) and writes once
    assert chain.inputs == [_t(2, 16, 8, 8), _t(2, 16, 8, 8)] and chain.outputs == [_t(2, 16, 8, 8)]
    assert [m["role"] for m in chain.attrs["fused"]] == ["chain", "chain"]
    assert set(f.predecessors(chain.name)) == {l2.name}


def test_folding_and_fusion_preserve_mac_work_and_drop_ops():
    g = block()
    for passes in ((fold_batch_norm,), (fold_batch_norm, fuse_epilogues), (fold_batch_norm, fuse_epilogues,
                                                                           fuse_elementwise_chains)):
        f = g
        for p in passes:
            f = p(f)
        f.validate()
        assert _program_order_ok(f)
        assert _mac_work(f) == _mac_work(g)  # exactly
        assert len(f) < len(g)
    assert len(fold_batch_norm(g)) == len(g) - 3
    # every op's FLOPs are accounted for: MAC ops' own, epilogue FLOPs in attrs, chains summed
    f = compile_graph(g, "fused")
    total = sum(o.flops + o.attrs.get("epilogue_flops", 0.0) for o in f)
    assert total == pytest.approx(g.total_flops)


def test_batch_norm_is_not_folded_when_the_conv_output_is_also_read_elsewhere():
    k = _Builder()
    c = k.conv("conv", [])
    k.bn("bn", [c])
    k.add("side", "elementwise", [c], "aten.mul.Tensor")
    g = k.g
    assert fold_batch_norm(g) is g  # nothing to fold
    k2 = _Builder()
    k2.bn("bn", [k2.conv("conv", [])], aten="aten.native_batch_norm_backward.default")
    assert fold_batch_norm(k2.g) is k2.g  # not a forward batch norm


def test_epilogue_does_not_absorb_a_broadcast_to_a_larger_tensor():
    k = _Builder()
    c = k.conv("conv", [])
    k.add("outer", "elementwise", [c], "aten.mul.Tensor", outputs=[_t(4, 16, 8, 8)])
    assert fuse_epilogues(k.g) is k.g


def test_modes_are_checked_and_training_graphs_run_eager():
    g = block()
    assert COMPILE_MODES == ("eager", "fused")
    assert compile_graph(g, "eager") is g
    f = compile_graph(g, "fused")
    assert compile_graph(f, "fused") is f  # idempotent
    saved = LayerGraph.from_dict(f.to_dict())  # a compiled graph survives JSON and runs as compiled
    assert [o.name for o in saved] == [o.name for o in f] and saved.op(list(f)[2].name).attrs == list(f)[2].attrs
    assert simulate(saved, "h100").run.compile == "fused"
    with pytest.raises(ConfigError, match="already compiled 'fused'"):
        compile_graph(f, "eager")
    with pytest.raises(ConfigError, match="compile: 'foo' is not a compile mode; allowed: eager, fused"):
        compile_graph(g, "foo")
    with pytest.raises(ConfigError, match="compile: 'fuse' is not a compile mode \\(did you mean 'fused'\\?\\)"):
        simulate(g, "tpu_v1", compile="fuse")
    assert resolve_compile(None, ["fused"], training=True) == "eager"
    with pytest.raises(ConfigError, match="devices default to different compile modes"):
        resolve_compile(None, ["eager", "fused"], training=False)
    k = _Builder()
    k.add("grad", "elementwise", [k.conv("conv", [])], "aten.mul.Tensor", phase="backward")
    train = k.g
    with pytest.raises(ConfigError, match="training step: use compile 'eager'"):
        compile_graph(train, "fused")
    assert simulate(train, "arria10_gx1150").run.compile == "eager"  # an FPGA's default does not apply to training
    with pytest.raises(ConfigError, match="training step"):
        simulate(train, "arria10_gx1150", compile="fused")


# ------------------------------------------------------------------ devices and simulate
def test_default_compile_is_a_device_capability():
    assert {k: cost_model_for(load_arch(a)).default_compile for k, a in
            (("gpu", "h100"), ("cpu", "xeon_e5_2450"), ("systolic", "tpu_v1"), ("fpga", "arria10_gx1150"),
             ("dsp", "hexagon_dsp"))} == {"gpu": "eager", "cpu": "eager", "systolic": "fused", "fpga": "fused",
                                          "dsp": "fused"}
    g = block()
    for arch, mode in (("h100", "eager"), ("tpu_v1", "fused"), ("zhang2015_vc707", "fused"), ("hexagon_dsp", "fused")):
        r = simulate(g, arch)
        assert r.run.compile == mode and r.summary()["compile"] == mode
        assert r.run.ops == (14 if mode == "eager" else 5)
    # GPU numbers do not move unless asked
    assert simulate(g, "h100").latency_s == simulate(g, "h100", compile="eager").latency_s
    assert simulate(g, "h100", compile="fused").run.compile == "fused"


def test_fused_kinds_stay_free_inside_an_epilogue_and_a_residual_is_read():
    """TPU v1 pipelines activation and pooling (fused_kinds); the residual add is vector work on the fused
    conv, overlapped with the array, and its second operand is read from DRAM."""
    f = compile_graph(block(), "fused")
    m = cost_model_for(load_arch("tpu_v1"))
    stem, l1, l2 = list(f)[:3]
    assert stem.attrs["fused"][-1]["kind"] == "activation"
    assert m.cost(stem).detail["epilogue_cycles"] == 0  # relu: free on TPU v1
    assert m.cost(l2).detail["epilogue_cycles"] > 0  # the add is not in fused_kinds
    assert m.cost(l2).detail["epilogue_words"] == 2 * 16 * 8 * 8
    assert m.cost(l2).bytes_by_level["dram"] > m.cost(l1).bytes_by_level["dram"]


def test_mac_array_utilisation_is_reported_for_array_devices():
    g = block()
    r = simulate(g, "tpu_v1")
    spec = load_arch("tpu_v1")
    macs = sum(o.macs for o in g)
    dev = r.devices[0]
    assert r.mac_utilization[dev] == pytest.approx(macs / (spec.rows * spec.cols * spec.clock * r.latency_s))
    assert r.summary()["mac_utilization"] == r.mac_utilization
    assert r.device_utilization[dev] == pytest.approx(1.0)  # busy the whole time; the array is not
    assert 0 < r.mac_utilization[dev] < 0.5
    assert simulate(g, "h100").mac_utilization == {}  # no single array peak


# ------------------------------------------------------------------ CLI
def test_cli_compile_flag(tmp_path, capsys):
    path = tmp_path / "block.json"
    block().save(path)
    assert main(["simulate", "--graph", str(path), "--arch", "h100", "--compile", "fused", "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert "compile: fused (--compile): 14 -> 5 ops (3 batch norms folded, 4 ops fused into MAC epilogues, " \
           "2 into elementwise chains)" in out
    assert "layer.conv2+bn2+add+relu" in out and "14 ops" in out
    assert main(["simulate", "--graph", str(path), "--arch", "h100"]) == 0
    assert "compile: eager (device default): 14 ops as recorded" in capsys.readouterr().out
    assert main(["simulate", "--graph", str(path), "--arch", "tpu_v1"]) == 0
    out = capsys.readouterr().out
    assert "compile: fused (device default)" in out and "MAC array" in out
    rc = None
    try:
        rc = main(["simulate", "--graph", str(path), "--arch", "h100", "--compile", "foo"])
    except SystemExit as exc:  # argparse usage error
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--compile" in err and "invalid choice: 'foo'" in err and "\n" not in err, err
    from test_sim_toydev import chain_graph

    train = tmp_path / "train.json"
    chain_graph(2, batch=4, train=True).save(train)
    assert main(["simulate", "--graph", str(train), "--arch", "arria10_gx1150", "--compile", "fused"]) == 2
    err = capsys.readouterr().err.strip()
    assert "<command line>: --compile: 'fused' compiles inference graphs" in err and "\n" not in err, err
    assert main(["simulate", "--graph", str(train), "--arch", "arria10_gx1150"]) == 0
    assert "compile: eager (device default)" in capsys.readouterr().out


# ------------------------------------------------------------------ the sweep's analytic evaluator
def test_dse_analytic_uses_the_simulators_compile_rule():
    from accel.dse.evaluate import PreparedWorkload, _run_analytic, dedupe_ops

    g = block()
    w = PreparedWorkload("block", 2, dedupe_ops(g), g, len(g))
    for arch in ("tpu_v1", "h100"):
        spec = load_arch(arch)
        cm = cost_model_for(spec)
        mode = cm.default_compile
        ops = list(compile_graph(g, mode))
        dev = sum(cm.cost(o).time_s for o in ops)
        assert _run_analytic(spec, w)["device_time_s"] == pytest.approx(dev)
    tpu = load_arch("tpu_v1")
    w_eager = PreparedWorkload("block", 2, dedupe_ops(g), g, len(g), compile="eager")  # sim_options.compile: eager
    assert _run_analytic(tpu, w_eager)["device_time_s"] > _run_analytic(tpu, w)["device_time_s"]


def test_sweep_workloads_are_prepared_in_both_modes(tmp_path):
    from accel.dse.evaluate import evaluate_point, make_context, prepare_workloads
    from accel.dse.spec import spec_from_dict

    p = tmp_path / "block.json"
    block().save(p)
    raw = {"name": "c", "base": "tpu_v1", "parameters": {"rows": [64, 128]}, "workloads": [{"graph": str(p)}],
           "objectives": ["latency"]}
    (w,) = prepare_workloads(spec_from_dict(raw))
    assert w.compile is None and w.fused_ops is not None
    assert sum(n for _, n in w.unique_ops) == 14 and sum(n for _, n in w.fused_ops) == 5
    pt = {"rows": 128}
    fused = evaluate_point(make_context(spec_from_dict(raw)), pt)
    eager = evaluate_point(make_context(spec_from_dict({**raw, "sim_options": {"compile": "eager"}})), pt)
    assert fused["status"] == eager["status"] == "ok"
    assert fused["objectives"]["latency_s"] < eager["objectives"]["latency_s"]
    assert fused["key"] != eager["key"]  # the option is part of the resume key


def test_sweep_spec_checks_sim_options_compile(tmp_path):
    from accel.dse.spec import load_spec

    p = tmp_path / "s.yaml"
    p.write_text("name: s\nbase: tpu_v1\nparameters: {rows: [64, 128]}\nworkloads: [{model: resnet18}]\n"
                 "objectives: [latency]\nsim_options: {compile: fuse}\n")
    with pytest.raises(ConfigError, match="sim_options.compile: 'fuse' not allowed \\(did you mean 'fused'\\?\\)"):
        load_spec(p)


# ------------------------------------------------------------------ ResNet-50 (extracted)
@pytest.fixture(scope="module")
def resnet50_b8() -> LayerGraph:
    import workloads

    return workloads.extract_model("resnet50", batch=8, mode="infer", dtype="fp32")


@pytest.mark.slow
def test_resnet50_folding_and_fusion_preserve_mac_work(resnet50_b8):
    g = resnet50_b8
    f = compile_graph(g, "fused")
    f.validate()
    assert _program_order_ok(f)
    assert _mac_work(f) == _mac_work(g)
    assert len(f) < len(g) // 2
    assert not [o for o in f if o.kind == "norm"]  # all 53 batch norms folded
    assert not [o for o in f if o.kind in ("elementwise", "activation")]  # adds and ReLUs in conv epilogues
    names = {o.module for o in f}
    assert {"conv1+bn1+relu+maxpool", "layer1.0.conv1+bn1+relu", "layer1.0.conv3+bn3+add+relu",
            "layer1.0.downsample.0+downsample.1"} <= names


@pytest.mark.slow
def test_tpu_v1_resnet50_fused_is_faster_and_led_by_fused_convs(resnet50_b8, tmp_path, capsys):
    g = resnet50_b8
    fused, eager = simulate(g, "tpu_v1"), simulate(g, "tpu_v1", compile="eager")
    assert fused.run.compile == "fused" and eager.run.compile == "eager"
    assert fused.latency_s < 0.6 * eager.latency_s
    dev = fused.devices[0]
    assert fused.mac_utilization[dev] > 1.5 * eager.mac_utilization[dev]
    top = fused.per_layer("module").head(5)
    assert set(top["kind"]) == {"conv"} and all("+" in str(m) for m in top["group"]), top
    top_eager = eager.per_layer("module").head(5)
    assert set(top_eager["kind"]) <= {"elementwise", "norm"}  # what the issue complained about
    # the CLI's per-layer table shows the fused groups
    path = tmp_path / "r50.json"
    g.save(path)
    assert main(["simulate", "--graph", str(path), "--arch", "tpu_v1", "--top", "5"]) == 0
    out = capsys.readouterr().out
    table = out.split("by time:")[1].strip().splitlines()[1:]
    assert len(table) == 5 and all("+" in ln and " conv " in ln for ln in table), table
