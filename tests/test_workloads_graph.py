"""Structure of extracted graphs: phases, MACs, bytes, module names, attrs, JSON, errors."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import networkx as nx
import pytest

torch = pytest.importorskip("torch")

import workloads  # noqa: E402
from accel.graph import LayerGraph  # noqa: E402

DATA = Path(__file__).parent / "data" / "workloads"


@pytest.fixture(scope="module")
def r50():
    return workloads.extract_model("resnet50")


@pytest.fixture(scope="module")
def r18_train():
    return workloads.extract_model("resnet18", mode="train")


def test_resnet50_macs_params_and_meta(r50):
    assert r50.total_macs == pytest.approx(4.09e9, rel=0.005)
    m = r50.meta
    assert m["model"] == "resnet50" and m["batch"] == 1 and m["mode"] == "infer" and m["dtype"] == "fp32"
    assert m["params"] == 25557032 and m["param_bytes"] == 4 * 25557032
    assert m["input_shapes"] == [[1, 3, 224, 224]] and m["seq_len"] is None
    assert {o.phase for o in r50} == {"forward"}


def test_alexnet_macs():
    assert workloads.extract_model("alexnet").total_macs == pytest.approx(0.714e9, rel=0.005)


def test_param_counts_match_measured_models():
    with open(DATA / "model_params.csv") as f:
        for row in csv.DictReader(f):
            seq = 16 if row["model"] in ("gpt2", "lstm_lm") else None
            name = workloads.MEASURED_MODELS.get(row["model"], row["model"])  # the module measured
            g = workloads.extract_model(name, seq_len=seq)
            assert g.meta["params"] == int(row["params"]), row["model"]


def test_conv_attrs_and_bytes(r50):
    conv1 = r50.ops(kind="conv")[0]
    assert conv1.module == "conv1"
    assert conv1.attrs.items() >= {"N": 1, "Cin": 3, "Cout": 64, "H": 224, "W": 224, "R": 7, "S": 7, "stride": 2,
                                "pad": 3, "groups": 1, "Hout": 112, "Wout": 112, "transposed": False}.items()
    assert conv1.macs == 1 * 64 * 112 * 112 * 3 * 7 * 7
    assert [w.bytes for w in conv1.weights] == [64 * 3 * 7 * 7 * 4]
    assert conv1.inputs[0].bytes == 3 * 224 * 224 * 4
    assert conv1.outputs[0].shape == (1, 64, 112, 112) and conv1.outputs[0].bytes == 64 * 112 * 112 * 4


def test_bf16_halves_bytes():
    g32 = workloads.extract_model("resnet18")
    g16 = workloads.extract_model("resnet18", dtype="bf16")
    c32, c16 = g32.ops(kind="conv")[0], g16.ops(kind="conv")[0]
    assert c16.dtype == "bf16" and c32.dtype == "fp32"
    assert c16.weight_bytes * 2 == c32.weight_bytes and c16.output_bytes * 2 == c32.output_bytes
    assert g16.meta["param_bytes"] * 2 == g32.meta["param_bytes"]
    assert g16.total_flops == g32.total_flops


def test_edges_are_a_dag_in_program_order_with_tensor_bytes(r50):
    r50.validate()
    order = {n: i for i, n in enumerate(r50.graph.nodes)}
    for u, v, d in r50.graph.edges(data=True):
        assert order[u] < order[v]
        assert d["bytes"] > 0
    conv1, bn1 = r50.ops()[0], r50.ops()[1]
    assert bn1.module == "bn1" and r50.predecessors(bn1.name) == [conv1.name]
    assert r50.graph.edges[conv1.name, bn1.name]["bytes"] == conv1.outputs[0].bytes
    # residual adds have two producers
    adds = [o for o in r50.ops(kind="elementwise") if "add" in o.aten]
    assert adds and all(len(r50.predecessors(o.name)) == 2 for o in adds)
    assert nx.is_weakly_connected(r50.graph)


def test_training_phases_and_three_x_forward(r18_train):
    g = r18_train
    phases = {o.phase for o in g}
    assert phases == {"forward", "backward", "optimizer"}
    fwd = sum(o.flops for o in g.ops(phase="forward"))
    assert fwd == workloads.extract_model("resnet18").total_flops
    assert g.total_flops / fwd == pytest.approx(3.0, abs=0.1)
    opt = g.ops(phase="optimizer")
    assert opt and all(o.kind == "optimizer" for o in opt)
    # SGD momentum (foreach): every parameter is updated
    n_params = len(list(workloads.build_model("resnet18")[0].parameters()))
    assert max(len(o.outputs) for o in opt) == n_params
    # program order: forward, then backward, then optimizer
    seq = [o.phase for o in g]
    assert seq.index("backward") > max(i for i, p in enumerate(seq) if p == "forward")
    assert seq.index("optimizer") > max(i for i, p in enumerate(seq) if p == "backward")
    g.validate()


def test_backward_ops_are_attributed_to_modules(r18_train):
    bwd = r18_train.ops(phase="backward")
    convs = [o for o in bwd if o.kind == "conv"]
    assert len(convs) == 20 and all(o.module.endswith(("conv1", "conv2", "downsample.0")) for o in convs)
    assert {o.module for o in bwd if o.kind == "matmul"} == {"fc"}
    assert sum(1 for o in bwd if o.module == "") == 0
    # optimizer update depends on gradients produced in backward
    first_opt = r18_train.ops(phase="optimizer")[1]
    preds = {r18_train.op(p).phase for p in r18_train.predecessors(first_opt.name)}
    assert "backward" in preds


def test_module_names_match_layers_csv():
    leaves = defaultdict(set)
    with open(DATA / "layers_leaf_modules.csv") as f:
        for row in csv.DictReader(f):
            leaves[row["model"]].add(row["layer"])
    for model, names in leaves.items():
        seq = 32 if model in ("gpt2", "lstm_lm") else None
        g = workloads.extract_model(workloads.MEASURED_MODELS.get(model, model), seq_len=seq)
        got = {o.module for o in g}
        assert names <= got, f"{model}: missing {sorted(names - got)[:5]}"


def test_lstm_is_one_rnn_op():
    g = workloads.extract_model("lstm_lm", seq_len=16, batch=2)
    rnn = g.ops(kind="rnn")
    assert len(rnn) == 1 and rnn[0].module == "lstm"
    a = rnn[0].attrs
    assert (a["seq"], a["batch"], a["input"], a["hidden"], a["layers"], a["gates"]) == (16, 2, 512, 1024, 2, 4)
    # 2 layers x 16 steps x (input + hidden GEMMs), 4 gates
    macs = 16 * 2 * 4 * 1024 * (512 + 1024) + 16 * 2 * 4 * 1024 * (1024 + 1024)
    assert rnn[0].macs == macs
    assert [t.shape for t in rnn[0].inputs] == [(2, 16, 512)]
    assert rnn[0].outputs[0].shape == (2, 16, 1024)
    assert len(rnn[0].weights) == 8  # w_ih, w_hh, b_ih, b_hh per layer


def test_json_round_trip(tmp_path, r18_train):
    path = r18_train.save(tmp_path / "g.json")
    g2 = LayerGraph.load(path)
    assert list(g2.graph.nodes) == list(r18_train.graph.nodes)
    assert g2.total_flops == r18_train.total_flops and g2.meta == r18_train.meta
    assert [o.to_dict() for o in g2] == [o.to_dict() for o in r18_train]
    assert sorted(g2.graph.edges(data="bytes")) == sorted(r18_train.graph.edges(data="bytes"))


def test_unknown_model_and_bad_options():
    with pytest.raises(ValueError, match="allowed: .*resnet50"):
        workloads.extract_model("resnet51")
    with pytest.raises(ValueError, match="dtype"):
        workloads.extract_model("alexnet", dtype="fp64")
    with pytest.raises(ValueError, match="mode"):
        workloads.extract_model("alexnet", mode="eval")
    with pytest.raises(ValueError, match="optimizer"):
        workloads.extract_model("alexnet", mode="train", optimizer="lbfgs")
    with pytest.raises(ValueError, match="seq_len"):
        workloads.extract_model("alexnet", seq_len=10)
    with pytest.raises(ValueError, match="seq_len"):
        workloads.extract_model("bert", seq_len=1000)


def test_aliases_and_list_models():
    names = workloads.list_models()
    for n in ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "googlenet", "vit_b_16", "gpt2",
              "bert_base", "lstm_lm", "gpt2_headless", "bert_headless"):
        assert n in names
    assert workloads.extract_model("bert", seq_len=16).meta["model"] == "bert_base"


def test_seq_len_parameter_and_default():
    assert workloads.extract_model("lstm_lm").meta["seq_len"] == 128
    g = workloads.extract_model("bert", seq_len=32, batch=2)
    assert g.meta["seq_len"] == 32 and g.meta["input_shapes"] == [[2, 32]]
    assert {o.attrs["Lq"] for o in g.ops(kind="attention")} == {32}


def test_views_make_no_nodes_and_memory_moves_do():
    class M(torch.nn.Module):
        def forward(self, x):
            y = x.view(8, 4).t()          # views: no node
            z = y.contiguous()            # materialised transpose: data movement
            return torch.cat([z, z], 0)   # data movement

    g = workloads.extract(M(), torch.empty(32))
    assert [o.kind for o in g] == ["data_movement", "data_movement"]
    assert g.ops()[0].outputs[0].shape == (4, 8)


def test_cli_extract(tmp_path, capsys):
    from accel.cli import main

    out = tmp_path / "a.json"
    assert main(["extract", "--model", "alexnet", "--batch", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "GFLOPs" in text and "conv" in text and "61,100,840" in text
    g = LayerGraph.load(out)
    assert g.meta["batch"] == 2 and g.total_macs == pytest.approx(2 * 0.714e9, rel=0.005)
    assert main(["extract", "--model", "nope"]) == 2
    assert "allowed" in capsys.readouterr().err


def test_user_module_is_left_untouched():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
    w = m[0].weight.detach().clone()
    g = workloads.extract(m, torch.randn(2, 3, 16, 16), mode="train", dtype="bf16")
    assert m[0].weight.device.type == "cpu" and m[0].weight.dtype == torch.float32
    assert torch.equal(m[0].weight, w) and m[0].weight.grad is None
    assert g.meta["dtype"] == "bf16" and g.meta["params"] == 8 * 3 * 9 + 8 + 16
    assert {o.phase for o in g} == {"forward", "backward", "optimizer"}


def test_depthwise_conv_backward_macs_are_groups_aware():
    """FlopCounterMode's conv-backward formula ignores groups; flops follow it, macs do not."""
    g = workloads.extract_model("mobilenet_v2", mode="train")
    dw = [o for o in g.ops(phase="backward", kind="conv") if o.attrs["groups"] > 1]
    assert dw
    for o in dw:
        a = o.attrs
        fwd_macs = a["N"] * a["Cout"] * a["Hout"] * a["Wout"] * (a["Cin"] // a["groups"]) * a["R"] * a["S"]
        assert o.macs == fwd_macs * sum(a["output_mask"][:2])
        assert o.flops > 2 * o.macs  # torch's over-count, kept for FlopCounterMode equality
    for o in g.ops(phase="forward", kind="conv"):
        assert o.flops == 2 * o.macs
