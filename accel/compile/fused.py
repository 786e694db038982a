"""Reading a fused node (:mod:`accel.compile.passes`) from a cost model: the one place that knows its attrs.

A fused node is an :class:`~accel.graph.OpNode` whose ``attrs["fused"]`` lists the ops it absorbed.
For a MAC node (conv/matmul) those are its epilogue (vector work on the array's outputs, priced by the
device: pipelined behind the array or on its vector unit) and folded batch norms (no work left); for a
streaming node they are the rest of its elementwise chain. Unfused ops have no such attrs, and every
function here then describes no extra work, so cost models price them exactly as before.
"""

from __future__ import annotations

from typing import Any, Collection

from accel.graph import MAC_KINDS, OpNode, TensorInfo


def members(op: OpNode) -> list[dict[str, Any]]:
    """The ``fused`` records of ``op`` (empty for an unfused op)."""
    return list(op.attrs.get("fused") or ())


def is_fused(op: OpNode) -> bool:
    return bool(op.attrs.get("fused"))


def is_free(op: OpNode, free_kinds: Collection[str]) -> bool:
    """``op`` costs nothing on a device that pipelines ``free_kinds`` behind its MAC array
    (``fused_kinds`` of systolic/FPGA specs): its kind and every kind it absorbed are among them."""
    if op.kind not in free_kinds:
        return False
    return all(m["kind"] in free_kinds for m in members(op) if m["role"] != "folded")


def vector_elements(op: OpNode, free_kinds: Collection[str] = ()) -> int:
    """Elements of vector work a fused node stands for, leaving out kinds in ``free_kinds``.

    A MAC node: its epilogue ops' elements (the array's own work is priced from its shape). A fused
    streaming chain: its root's and every member's elements (one pass over the data per op). An unfused
    op: 0 (the caller prices it from its tensors, as before).
    """
    ms = members(op)
    if not ms:
        return 0
    work = sum(int(m["elements"]) for m in ms if m["role"] != "folded" and m["kind"] not in free_kinds)
    if op.kind in MAC_KINDS:
        return work
    root = op.attrs.get("fused_root") or {}
    own = int(root.get("elements", 0)) if root.get("kind", op.kind) not in free_kinds else 0
    return own + work


def epilogue_inputs(op: OpNode) -> list[TensorInfo]:
    """The extra operands a MAC node's epilogue reads (a residual add's second input): its last
    ``attrs["epilogue_inputs"]`` inputs."""
    k = int(op.attrs.get("epilogue_inputs", 0) or 0)
    return list(op.inputs[len(op.inputs) - k:]) if k > 0 else []


def epilogue_flops(op: OpNode) -> float:
    """FLOPs of a MAC node's epilogue (0 for other ops: a chain's FLOPs are in its ``flops``)."""
    return float(op.attrs.get("epilogue_flops", 0.0) or 0.0)
