"""dispatch.csv: eager framework dispatch time per op class on this host (``accel measure --what dispatch``).

Eager PyTorch issues every op from one host thread; how long that takes is a property of the host
CPU and the framework (:mod:`accel.sim.host`). This section times bare ``torch`` calls on tiny
tensors, so the device work is negligible and the loop measures the host:

    ms per call = wall time of ``calls`` back-to-back calls (then one device synchronize) / calls

for representative ops of each dispatch class (:data:`accel.arch.cpu.DISPATCH_CLASSES`): cuBLAS/cuDNN
``library`` calls (conv2d, linear, matmul), ``elementwise`` (add, relu, mul), ``reduction`` (sum,
max-pool, softmax), ``norm`` (layer norm, eval batch norm), ``copy`` (cat, transposed contiguous,
embedding gather). ``op_class = native`` times one ``nn.MultiheadAttention`` fast-path call (in_proj,
attention and out_proj issued by one host call: :func:`accel.sim.host.issued_by_call`). One more row,
``op_class = module``, times a call through ``nn.Module.__call__``
(``nn.ReLU()``) minus nothing: with the ``elementwise`` relu row it shows the per-module Python cost
that the host's ``dispatch.framework`` also holds. On CUDA the tensors are on the GPU (dispatch +
kernel launch); on CPU they are host tensors (dispatch + a tiny CPU kernel).

``accel calibrate`` reads it: the median ``ms`` of each class is ``host_runtime.dispatch.classes.<class>``
(GPU directories), or the CPU arch's ``calibration.op_overhead`` (the ``elementwise`` median; CPU
directories).

Columns: kind (``dispatch``), op_class, op, calls, ms (per call), and the noise columns of
:meth:`accel.measure.sections.Ctx.noise`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from accel.measure.timing import ROUNDS, Timing, summarize

#: calls per timed sample (one synchronize per sample)
CALLS_PER_SAMPLE = 200
#: samples per round
SAMPLES_PER_ROUND = 10


def _ops(torch: Any, dev: str) -> list[tuple[str, str, Callable[[], Any]]]:
    """(op class, op name, zero-argument call) on tiny tensors of ``dev``."""
    F = torch.nn.functional
    a = torch.randn(8, 16, device=dev)
    b = torch.randn(8, 16, device=dev)
    x = torch.randn(1, 8, 8, 8, device=dev)
    w = torch.randn(8, 8, 3, 3, device=dev)
    lw, lb = torch.randn(16, 16, device=dev), torch.randn(16, device=dev)
    m = torch.randn(16, 16, device=dev)
    rm, rv = torch.zeros(8, device=dev), torch.ones(8, device=dev)
    bw, bb = torch.ones(8, device=dev), torch.zeros(8, device=dev)
    idx = torch.randint(0, 64, (8,), device=dev)
    table = torch.randn(64, 16, device=dev)
    relu = torch.nn.ReLU()
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).to(dev).eval()
    seq = torch.randn(1, 4, 16, device=dev)
    return [
        ("library", "conv2d_3x3", lambda: F.conv2d(x, w, padding=1)),
        ("library", "linear", lambda: F.linear(a, lw, lb)),
        ("library", "matmul", lambda: torch.matmul(m, m)),
        ("elementwise", "add", lambda: torch.add(a, b)),
        ("elementwise", "relu", lambda: torch.relu(a)),
        ("elementwise", "mul_scalar", lambda: a * 2.0),
        ("reduction", "sum", lambda: a.sum()),
        ("reduction", "max_pool2d", lambda: F.max_pool2d(x, 2)),
        ("reduction", "softmax", lambda: torch.softmax(a, -1)),
        ("norm", "layer_norm", lambda: F.layer_norm(a, (16,))),
        ("norm", "batch_norm_eval", lambda: F.batch_norm(x, rm, rv, bw, bb, training=False)),
        ("copy", "cat", lambda: torch.cat([a, b])),
        ("copy", "transpose_contiguous", lambda: a.t().contiguous()),
        ("copy", "embedding", lambda: F.embedding(idx, table)),
        ("module", "nn_relu_module", lambda: relu(a)),
        # the nn.MultiheadAttention fast path (eval, no grad): one native call for in_proj, attention, out_proj
        ("native", "mha_fast_path", lambda: mha(seq, seq, seq, need_weights=False)),
    ]


def dispatch_timing(torch: Any, fn: Callable[[], Any], cuda: bool, calls: int = CALLS_PER_SAMPLE,
                    samples: int = SAMPLES_PER_ROUND, rounds: int = ROUNDS) -> Timing:
    """:class:`Timing` of the host time per call of ``fn`` (ms): ``calls`` calls, then a synchronize, per sample."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(20):
        fn()
    sync()
    out: list[list[float]] = []
    for _ in range(rounds):
        ts = []
        for _ in range(samples):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            sync()
            ts.append((time.perf_counter() - t) * 1e3 / calls)
        out.append(ts)
    return summarize(out)


def sec_dispatch(ctx: Any) -> list[dict[str, Any]]:
    """dispatch.csv rows (see the module docstring)."""
    torch = ctx.torch
    dev = "cuda" if ctx.cuda else "cpu"
    rows = []
    with torch.no_grad():
        for op_class, name, fn in _ops(torch, dev):
            try:
                t = dispatch_timing(torch, fn, ctx.cuda)
            except Exception as exc:  # an op this torch build lacks: log, go on
                ctx.log("dispatch fail", name, repr(exc)[:200])
                continue
            rows.append(dict(kind="dispatch", op_class=op_class, op=name, calls=CALLS_PER_SAMPLE, ms=t.ms,
                             **ctx.noise(t)))
    return rows
