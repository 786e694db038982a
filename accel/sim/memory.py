"""Device memory footprint estimate (capacity check), per device of a simulation.

Estimate (bytes):
  * inference: parameters + the KV cache of an LLM step (``graph.meta["kv_cache_bytes"]``) + the largest
    single op's inputs + outputs (live activations);
  * training:  parameters x (2 + optimizer state factor) (weights, gradients, state:
    SGD momentum 1, Adam 2) + all forward activations (saved for backward, upper bound);
  * tensor parallel divides parameters and activations of split ops by n (approximation:
    all by n); pipeline keeps a stage's parameters and, for training, the activations of
    the microbatches in flight (1F1B: n - stage, GPipe: all microbatches).
It is a capacity check, not an allocator simulation; the capacity is ``DeviceSpec.memory_capacity``.
"""

from __future__ import annotations

from accel.graph import LayerGraph, OpNode

OPTIMIZER_STATE = {"sgd": 1.0, "adam": 2.0}


def footprint(graph: LayerGraph, ops: list[OpNode], training: bool, param_fraction: float = 1.0,
              act_fraction: float = 1.0, inflight: int = 1) -> float:
    """Bytes needed on one device holding ``param_fraction`` of the weights (see module doc)."""
    params = float(graph.weight_bytes) * param_fraction
    fwd = [o for o in ops if o.phase == "forward"]
    if training:
        k = OPTIMIZER_STATE.get(str(graph.meta.get("optimizer", "sgd")).lower(), 1.0)
        acts = sum(o.output_bytes for o in fwd) * act_fraction * inflight
        return params * (2.0 + k) + acts
    live = max((o.input_bytes + o.output_bytes for o in fwd), default=0) * act_fraction
    kv_cache = float(graph.meta.get("kv_cache_bytes", 0) or 0) * param_fraction  # split like the heads
    return params + kv_cache + live
