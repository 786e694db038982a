"""The models measured in layers.csv / e2e.csv / energy.csv / cpu.csv, as in measure_gpu.py.

torchvision is imported only through ``workloads._torchvision_shim.import_torchvision()``
(PyPI torchvision's C++ ops don't load beside the CPU torch wheel); if the shim is
absent (a bare GPU machine with a matching torchvision) plain ``import torchvision`` is used.
"""

from __future__ import annotations

import json
from typing import Any, Callable


def _torchvision_models() -> Any:
    """torchvision.models: through the shim on CPU-only torch builds; plainly on CUDA builds.

    A CUDA torch build ships with a matching torchvision whose C++ ops load; declaring the
    ``torchvision::`` schemas before it loads (what the shim does) would clash with them.
    """
    import torch

    if torch.version.cuda is None:
        try:
            from workloads._torchvision_shim import import_torchvision
        except ImportError:
            pass
        else:
            return import_torchvision().models
    import torchvision

    return torchvision.models


def lstm_net(torch: Any, vocab: int = 10000, emb: int = 512, hidden: int = 1024, layers: int = 2) -> Any:
    """The LSTM language model of the measurements: embedding, LSTM, linear back to the vocabulary."""

    class LSTMNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, emb)
            self.lstm = torch.nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            self.fc = torch.nn.Linear(hidden, vocab)

        def forward(self, x: Any) -> Any:
            h, _ = self.lstm(self.emb(x))
            return self.fc(h)

    return LSTMNet()


def model_ctor(torch: Any, name: str) -> Callable[[], Any]:
    """Constructor of measured model ``name`` (random weights, no downloads)."""
    if name == "lstm_lm":
        return lambda: lstm_net(torch)
    if name == "lstm_tiny":
        return lambda: lstm_net(torch, vocab=200, emb=32, hidden=64, layers=1)
    if name in ("gpt2", "bert_base"):
        from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

        if name == "gpt2":
            return lambda: GPT2Model(GPT2Config(n_layer=12, n_embd=768, n_head=12,
                                                attn_implementation="sdpa"))  # type: ignore[call-arg]
        return lambda: BertModel(BertConfig(attn_implementation="sdpa"))  # type: ignore[call-arg]
    tvm = _torchvision_models()
    table = {
        "alexnet": lambda: tvm.alexnet(), "vgg16": lambda: tvm.vgg16(), "resnet50": lambda: tvm.resnet50(),
        "resnet18": lambda: tvm.resnet18(), "mobilenet_v2": lambda: tvm.mobilenet_v2(),
        "googlenet": lambda: tvm.googlenet(aux_logits=False, init_weights=False), "vit_b_16": lambda: tvm.vit_b_16(),
    }
    if name not in table:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(sorted(table) + ['gpt2', 'bert_base', 'lstm_lm', 'lstm_tiny'])}")
    return table[name]


def model_input(torch: Any, name: str, batch: int, dt: Any, device: str) -> Any:
    """Input batch: token ids (seq 512 for gpt2/bert, 128 for the LSTM) or 224x224 images."""
    if name in ("gpt2", "bert_base"):
        return torch.randint(0, 30000, (batch, 512), device=device)
    if name == "lstm_lm":
        return torch.randint(0, 10000, (batch, 128), device=device)
    if name == "lstm_tiny":
        return torch.randint(0, 200, (batch, 16), device=device)
    return torch.randn(batch, 3, 224, 224, device=device, dtype=dt)


def fmt_shape(torch: Any, t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return "x".join(map(str, t.shape))
    if isinstance(t, (tuple, list)):
        return ";".join(fmt_shape(torch, u) for u in t if isinstance(u, (torch.Tensor, tuple, list)))
    if hasattr(t, "last_hidden_state"):
        return fmt_shape(torch, t.last_hidden_state)
    return ""


def module_attrs(torch: Any, m: Any) -> str:
    keys = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "groups", "in_features",
            "out_features", "num_features", "normalized_shape", "hidden_size", "num_layers", "num_embeddings",
            "embedding_dim", "embed_dim", "num_heads", "nx", "nf"]
    d = {}
    for k in keys:
        if hasattr(m, k):
            v = getattr(m, k)
            if isinstance(v, (int, tuple, list)):
                d[k] = v
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor):
        d["weight_shape"] = list(w.shape)
    return json.dumps(d)


def per_layer(torch: Any, model: Any, x: Any, device: str, iters: int = 12) -> list[dict[str, Any]]:
    """Time of every module (leaves and containers), median over ``iters`` forward passes (ms).

    CUDA: events recorded in forward pre/post hooks (GPU time between them). CPU: perf_counter
    in the same hooks (execution is synchronous). Containers include their own forward's work.
    """
    import time

    mods = [(n or "<model>", m) for n, m in model.named_modules()]
    ev: dict[str, list[list[Any]]] = {}
    shapes: dict[str, list[str]] = {}
    hooks = []
    cuda = device == "cuda"

    def stamp() -> Any:
        if cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def pre(n: str) -> Callable:
        def f(m: Any, inp: Any) -> None:
            ev.setdefault(n, []).append([stamp(), None])
            shapes.setdefault(n, [fmt_shape(torch, inp), ""])
        return f

    def post(n: str) -> Callable:
        def f(m: Any, inp: Any, out: Any) -> None:
            ev[n][-1][1] = stamp()
            if not shapes[n][1]:
                shapes[n][1] = fmt_shape(torch, out)
        return f

    for n, m in mods:
        hooks.append(m.register_forward_pre_hook(pre(n)))
        hooks.append(m.register_forward_hook(post(n)))
    try:
        with torch.no_grad():
            for _ in range(3):
                model(x)
            if cuda:
                torch.cuda.synchronize()
            ev.clear()
            for _ in range(iters):
                model(x)
            if cuda:
                torch.cuda.synchronize()
    finally:
        for h in hooks:
            h.remove()

    def elapsed_ms(a: Any, b: Any) -> float:
        return a.elapsed_time(b) if cuda else (b - a) * 1e3

    rows = []
    order = {n: i for i, (n, _) in enumerate(mods)}
    md = dict(mods)
    for n, lst in ev.items():
        calls_per_iter = max(1, len(lst) // iters)
        ts = []
        for it in range(iters):
            chunk = lst[it * calls_per_iter:(it + 1) * calls_per_iter]
            ts.append(sum(elapsed_ms(a, b) for a, b in chunk if b is not None))
        ts.sort()
        m = md[n]
        rows.append(dict(layer=n, index=order[n], type=type(m).__name__, leaf=len(list(m.children())) == 0,
                         depth=0 if n == "<model>" else n.count(".") + 1, calls=calls_per_iter,
                         in_shape=shapes[n][0], out_shape=shapes[n][1], attrs=module_attrs(torch, m),
                         params=sum(p.numel() for p in m.parameters()), ms=ts[len(ts) // 2]))
    rows.sort(key=lambda r: r["index"])
    return rows
