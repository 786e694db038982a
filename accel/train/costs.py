"""Per-microbatch costs of the pieces a pipeline rank runs, priced op by op with the device's cost model.

The pieces are the training graphs of :mod:`workloads.llm_train` (one tensor-parallel rank, one microbatch):
a decoder block, the first stage's embedding and the last stage's LM head + loss. For each piece:

* ``forward_s`` / ``backward_s``: the sum of its ops' device times (s) -- the kernels of one CUDA stream
  run back to back -- or, where the host issues ops slower than the GPU runs them, the sum of the host's
  issue times (:func:`accel.sim.host.issue_rule`): ``max(sum device, sum issue)``;
* ``recompute_s``: what ``--recompute`` re-runs in backward (s): ``selective`` the attention core's forward
  (ops under :data:`CORE_ATTENTION`; Korthikanti et al. 2022, Sec. 4.2), ``full`` the whole forward;
* flops of each (model FLOPs: forward + backward; hardware FLOPs add the recomputation);
* ``saved_bytes``: activations kept from forward for backward (B): every forward op's output that a backward
  op reads (per producing op, the largest edge into backward) plus the piece's input. A fused attention
  kernel keeps q, k, v, its output and the fp32 row log-sum-exp (FlashAttention's backward inputs; the traced
  backward of ``scaled_dot_product_attention`` on the meta device is the math path, so its edges are not used).
  ``selective`` recomputation drops what the attention core's own ops keep (their outputs; q, k, v stay);
  ``full`` keeps only the input.

With sequence parallelism the ops outside the tensor-parallel regions (norms, residual adds: ops not under
``self_attn`` or ``mlp``) run on ``seq_len / tp`` tokens: their time and saved bytes are divided by ``tp``.
"""

from __future__ import annotations

from dataclasses import dataclass

from accel.devices.base import CostModel
from accel.graph import LayerGraph, OpNode
from accel.sim.host import issue_rule

#: module path prefixes of a block's tensor-parallel regions (sharded by Megatron; the rest is replicated
#: without sequence parallelism and split by sequence with it)
TP_REGIONS: tuple[str, ...] = ("block.self_attn", "block.mlp")
#: module path of the attention core (:class:`workloads.llm_train.CoreAttention`), what ``selective`` recomputes
CORE_ATTENTION = "block.self_attn.core"


@dataclass(frozen=True)
class PieceCost:
    """One piece (block / embed / head) for one microbatch on one tensor-parallel rank (module docstring)."""

    forward_s: float
    backward_s: float
    recompute_s: float
    forward_flops: float
    backward_flops: float
    recompute_flops: float
    saved_bytes: float
    input_bytes: float
    param_count: float

    @property
    def model_flops(self) -> float:
        return self.forward_flops + self.backward_flops

    @property
    def hardware_flops(self) -> float:
        return self.model_flops + self.recompute_flops


def _sp_scale(op: OpNode, tp: int, sequence_parallel: bool) -> float:
    if not sequence_parallel or op.module.startswith(TP_REGIONS):
        return 1.0
    return 1.0 / tp


def _saved_bytes(graph: LayerGraph) -> dict[str, tuple[float, float]]:
    """Per forward op, (bytes of its outputs that backward reads, bytes of its inputs it keeps itself): the
    largest edge into a backward op, except for fused attention (module docstring)."""
    g = graph.graph
    saved: dict[str, tuple[float, float]] = {}
    for u, v, data in g.edges(data=True):
        fwd, bwd = g.nodes[u]["op"], g.nodes[v]["op"]
        if fwd.phase == "forward" and bwd.phase == "backward" and bwd.kind != "attention" and fwd.kind != "attention":
            saved[u] = (max(saved.get(u, (0.0, 0.0))[0], float(data.get("bytes", 0.0))), 0.0)
    for name in g.nodes:
        op = g.nodes[name]["op"]
        if op.phase == "forward" and op.kind == "attention":
            q = op.inputs[0]
            lse = q.numel / q.shape[-1] * 4.0 if q.shape else 0.0
            saved[name] = (float(op.output_bytes) + lse, float(op.input_bytes))
    return saved


def price_piece(graph: LayerGraph, model: CostModel, input_bytes: float, param_count: float, recompute: str,
                tp: int = 1, sequence_parallel: bool = False) -> PieceCost:
    """Price ``graph`` (one piece's forward + backward ops) on ``model`` (module docstring). ``input_bytes``:
    the piece's input activation (B) on one rank before sequence-parallel splitting."""
    rule = issue_rule(model)
    dev = {"forward": 0.0, "backward": 0.0, "core": 0.0}
    issue = {"forward": 0.0, "backward": 0.0}
    flops = {"forward": 0.0, "backward": 0.0, "core": 0.0}
    saved_by_op = _saved_bytes(graph)
    kept = input_bytes * (1.0 / tp if sequence_parallel else 1.0)
    saved = {"all": kept, "core": 0.0}
    for name in graph.graph.nodes:
        op: OpNode = graph.graph.nodes[name]["op"]
        if op.phase not in issue:
            continue
        f = _sp_scale(op, tp, sequence_parallel)
        t = model.cost(op).time_s * f
        dev[op.phase] += t
        issue[op.phase] += rule.time(op)
        flops[op.phase] += op.flops * f
        own, inputs = saved_by_op.get(name, (0.0, 0.0))
        saved["all"] += (own + inputs) * f
        if op.phase == "forward" and op.module.startswith(CORE_ATTENTION):
            dev["core"] += t
            flops["core"] += op.flops * f
            saved["core"] += own * f
    fwd = max(dev["forward"], issue["forward"])
    bwd = max(dev["backward"], issue["backward"])
    if recompute == "full":
        return PieceCost(fwd, bwd, fwd, flops["forward"], flops["backward"], flops["forward"], kept, input_bytes,
                         param_count)
    if recompute == "selective":
        return PieceCost(fwd, bwd, dev["core"], flops["forward"], flops["backward"], flops["core"],
                         saved["all"] - saved["core"], input_bytes, param_count)
    return PieceCost(fwd, bwd, 0.0, flops["forward"], flops["backward"], 0.0, saved["all"], input_bytes,
                     param_count)


def full_saved_bytes(graph: LayerGraph, input_bytes: float, tp: int = 1, sequence_parallel: bool = False) -> float:
    """Activations one piece keeps without recomputation (B): under ``--recompute full`` the one block being
    recomputed holds these while its backward runs."""
    total = input_bytes * (1.0 / tp if sequence_parallel else 1.0)
    for name, (own, inputs) in _saved_bytes(graph).items():
        total += (own + inputs) * _sp_scale(graph.graph.nodes[name]["op"], tp, sequence_parallel)
    return total
