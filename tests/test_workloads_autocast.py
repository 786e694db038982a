"""Autocast (mixed precision) emulation on meta tensors: workloads.autocast.AutocastMode."""

from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import workloads  # noqa: E402
from workloads.autocast import AutocastMode, policy  # noqa: E402


class _AtenLog(TorchDispatchMode):
    """(aten op name, output dtype) of every op run in its scope."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        self.ops.append((func.overloadpacket.__name__, getattr(first, "dtype", None)))
        return out


def _train_ops(model, x, ctx):
    for p in model.parameters():
        p.grad = None
    log = _AtenLog()
    with log:
        with ctx:
            loss = model(x).float().square().mean()
        loss.backward()
    return log.ops


def test_same_aten_ops_as_real_autocast_on_conv_linear_matmul():
    """On real CPU tensors, for ops whose CPU and CUDA autocast policies agree (conv, linear, bmm,
    ReLU, ...), the emulation issues exactly the ops torch.autocast does, forward and backward."""

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)
            self.fc = torch.nn.Linear(8 * 6 * 6, 16)

        def forward(self, x):
            h = self.fc(torch.relu(self.conv(x)).flatten(1))
            return torch.bmm(h.view(2, 4, 4), h.view(2, 4, 4)) + 1.0

    torch.manual_seed(0)
    net, x = Net(), torch.randn(2, 3, 8, 8)
    real = _train_ops(net, x, torch.autocast("cpu", dtype=torch.bfloat16))
    ours = _train_ops(net, x, AutocastMode(torch.bfloat16))
    assert ours == real
    casts = Counter(d for name, d in real if name == "_to_copy")
    assert casts[torch.bfloat16] >= 5 and casts[torch.float32] >= 4  # weights down, grads back up


def test_resnet18_amp_training_step_graph():
    g32 = workloads.extract_model("resnet18", batch=4, mode="train")
    amp = workloads.extract_model("resnet18", batch=4, mode="train", amp="bf16")
    assert amp.meta["amp"] == "bf16" and "amp" not in g32.meta
    assert sum(o.flops for o in amp) == pytest.approx(sum(o.flops for o in g32))  # casts add no FLOPs

    def casts(phase, src, dst):
        return [o for o in amp if o.phase == phase and o.kind == "data_movement" and o.dtype == dst
                and any(t.dtype == src for t in o.inputs + o.weights)]

    # forward: every conv/linear parameter cast once (20 conv weights, fc weight + bias), plus the image
    fwd = casts("forward", "fp32", "bf16")
    assert sum(1 for o in fwd if o.weights) == 22 and len(fwd) == 23
    # backward: each of those 22 parameter gradients is cast back to fp32 (ToCopyBackward)
    assert len(casts("backward", "bf16", "fp32")) == 22
    for o in amp:
        if o.kind in ("conv", "matmul", "norm", "activation", "pool"):
            assert o.dtype == "bf16", (o.name, o.dtype)
        if o.phase == "optimizer":
            assert o.dtype == "fp32"  # master weights and momentum stay fp32
    assert len(amp) == len(g32) + 23 + 22 + 2  # + the loss's bf16 -> fp32 output cast and its backward


def test_fp32_ops_and_weight_cache():
    """layer_norm / softmax run in fp32 (inputs cast up), linear in bf16 (inputs cast down);
    a parameter used twice in one forward is cast once (autocast's weight cache)."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(16, 16)
            self.ln = torch.nn.LayerNorm(16)

        def forward(self, x):
            h = self.ln(self.fc(x))
            return torch.softmax(self.fc(h), dim=-1)

    x = torch.randn(4, 16, device="meta")
    blk = Block().to("meta")
    mode = AutocastMode(torch.bfloat16)
    log = _AtenLog()
    with log, mode:
        y = blk(x)
    assert y.dtype == torch.float32
    assert mode.casts == {"weights": 2, "activations": 4}  # fc.weight, fc.bias; x, ln in, ln out, softmax in
    dtypes = {name: d for name, d in log.ops}
    assert dtypes["addmm"] == torch.bfloat16 and dtypes["native_layer_norm"] == torch.float32
    assert dtypes["_softmax"] == torch.float32


def test_policy_lists_and_errors():
    assert policy(torch.conv2d) == "lower" and policy(torch.nn.functional.linear) == "lower"
    assert policy(torch.Tensor.softmax) == "fp32_opt_dtype" and policy(torch.layer_norm) == "fp32"
    assert policy(torch.relu) is None and policy(torch.addcmul) == "promote"
    with pytest.raises(ValueError, match="bfloat16 or torch.float16"):
        AutocastMode(torch.float32)
    with pytest.raises(ValueError, match="allowed: bf16, fp16"):
        workloads.extract_model("resnet18", mode="train", amp="int8")


def test_cli_amp_on_a_graph_without_it_is_refused(tmp_path, capsys):
    from accel.cli import main

    path = tmp_path / "g.json"
    workloads.extract_model("alexnet", batch=2).save(path)
    rc = main(["simulate", "--graph", str(path), "--amp", "bf16"])
    err = capsys.readouterr().err
    assert rc != 0 and "meta.amp" in err and "--amp bf16" in err


def test_dse_workload_amp_field():
    from pydantic import ValidationError

    from accel.dse.spec import WorkloadSpec

    w = WorkloadSpec(model="resnet18", mode="train", amp="bf16")
    assert w.label == "resnet18_b1_train_fp32_amp_bf16"
    assert "amp" not in WorkloadSpec(model="resnet18").label
    with pytest.raises(ValidationError, match="bf16"):
        WorkloadSpec(model="resnet18", amp="int8")


def test_fp16_amp_training_uses_grad_scaler_kernels():
    """fp16 autocast trains with GradScaler: scaled loss, one fused unscale + inf check over all
    gradients (reads and writes every gradient once), scale update; bf16 has none of them."""
    bf = workloads.extract_model("resnet18", batch=2, mode="train", amp="bf16")
    fp = workloads.extract_model("resnet18", batch=2, mode="train", amp="fp16")
    assert fp.meta["grad_scaler"] is True and "grad_scaler" not in bf.meta
    aten = Counter(o.aten.split(".")[1] for o in fp if o.phase == "optimizer")
    assert aten["_amp_foreach_non_finite_check_and_unscale_"] == 1 and aten["_amp_update_scale_"] == 1
    assert not any("_amp_" in o.aten for o in bf)
    unscale = next(o for o in fp if "non_finite_check_and_unscale" in o.aten)
    grad_bytes = fp.meta["param_bytes"]  # fp32 master gradients
    assert sum(t.bytes for t in unscale.outputs) == pytest.approx(grad_bytes, rel=1e-6)
    assert len(fp) == len(bf) + 8  # loss * scale (+ its backward), inv_scale (3), found_inf, unscale, update
    with pytest.raises(ValueError, match="only used with mode='train'"):
        workloads.extract(torch.nn.Linear(4, 4), torch.randn(2, 4), mode="infer", grad_scaler=True)


def test_fused_regions_compute_in_their_tensors_dtype():
    """Attention / RNN regions take the dtype they compute in (their outputs' in forward, the
    incoming gradient's in backward), not that of their first internal op: the CPU/meta math
    decomposition of bf16 attention upcasts to fp32. Under autocast, nn.MultiheadAttention
    (a Python composite) runs its projections and attention in bf16 too."""
    for kw in ({"dtype": "bf16"}, {"amp": "bf16"}):
        g = workloads.extract_model("gpt2", batch=1, mode="train", seq_len=32, **kw)
        att = [o for o in g if o.kind == "attention"]
        assert len(att) == 24 and {o.dtype for o in att} == {"bf16"}, kw
    vit = workloads.extract_model("vit_b_16", batch=1, mode="train", amp="bf16")
    assert {o.dtype for o in vit if o.kind in ("attention", "matmul")} == {"bf16"}
    lstm = workloads.extract_model("lstm_lm", batch=2, mode="train", amp="bf16", seq_len=8)
    assert {o.dtype for o in lstm if o.kind == "rnn"} == {"bf16"}  # cuDNN RNNs are autocast
    g32 = workloads.extract_model("gpt2", batch=1, seq_len=32)
    assert {o.dtype for o in g32 if o.kind == "attention"} == {"fp32"}
