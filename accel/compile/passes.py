"""The graph passes of an inference compiler: each is a function ``LayerGraph -> LayerGraph``.

* :func:`fold_batch_norm`: a batch norm (``kind: norm``, an aten ``*batch_norm*`` op) whose only
  input is a conv/matmul output with no other consumer is folded into that op's weights: the norm
  disappears, its consumers read the conv's output, the conv gains a per-channel bias (if it had
  none) and keeps its FLOPs and MACs (folding changes weights, not work).
* :func:`fuse_epilogues`: elementwise, activation and pooling ops that consume a conv/matmul output
  (each the only consumer of the tensor before it) run as the MAC op's epilogue: the fused node
  keeps the MAC op's kind, FLOPs, MACs and attrs, reads the other operands of the epilogue ops
  (a residual add's second input) as extra inputs, and writes only the last op's outputs; the
  intermediate tensors never reach DRAM.
* :func:`fuse_elementwise_chains`: consecutive elementwise/activation ops, each the only consumer of
  the one before, become one streaming op (inputs: the chain's external inputs; outputs: the last
  op's; FLOPs: the sum).

Every pass keeps the :class:`~accel.graph.LayerGraph` invariants: a DAG whose insertion order is a
program (topological) order (a fused node takes the place of its *last* member, so every operand it
reads is computed before it), unique names, edges carrying the bytes of the tensor passed.

A fused node records what it absorbed in its attrs (JSON-serialisable, read by the cost models through
:mod:`accel.compile.fused`):

* ``fused_root``: ``{"name", "module", "kind", "elements"}`` of the op the group grew from;
* ``fused``: one ``{"name", "kind", "module", "aten", "role", "elements", "flops"}`` per absorbed op,
  ``role`` ``"folded"`` (batch norm folded into weights: no work left), ``"epilogue"`` (vector work on
  a MAC op's output) or ``"chain"`` (a member of a streaming chain);
* ``epilogue_flops``: FLOPs of the epilogue ops (a MAC node's ``flops`` stay its MACs' FLOPs);
* ``epilogue_inputs``: how many of the node's last ``inputs`` are epilogue operands (residuals).

The fused node's ``name`` is the root op's name followed by ``+label`` per absorbed op, and its ``module``
the root module followed by the same labels (``layer1.0.conv3+bn3+add+relu``), so per-layer tables
show the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from accel.graph import LayerGraph, OpNode, TensorInfo

#: ops an epilogue can grow from: matrix products with one output tensor
EPILOGUE_HOSTS: tuple[str, ...] = ("conv", "conv_transpose", "matmul")
#: kinds an epilogue may absorb (bias add, scale, ReLU/GELU..., residual add, pooling)
EPILOGUE_KINDS: tuple[str, ...] = ("elementwise", "activation", "pool")
#: kinds an elementwise chain is made of
CHAIN_KINDS: tuple[str, ...] = ("elementwise", "activation")


def is_batch_norm(op: OpNode) -> bool:
    """A forward batch norm: ``kind: norm`` recorded from an aten ``*batch_norm*`` op (not its backward).

    Workloads record every normalisation as ``norm``; only the aten name tells a batch norm (which uses
    running statistics at inference, so it folds into the preceding conv) from a layer/group norm
    (which normalises each sample by its own statistics and cannot be folded).
    """
    return op.kind == "norm" and op.phase == "forward" and "batch_norm" in op.aten and "backward" not in op.aten


def _elements(op: OpNode) -> int:
    """Elements an op streams (the larger of what it reads and writes): the vector work it stands for."""
    return max(sum(t.numel for t in op.outputs), sum(t.numel for t in op.inputs))


def _short_aten(aten: str, kind: str) -> str:
    """``aten.add_.Tensor`` -> ``add``; ``kind`` when there is no aten name."""
    parts = aten.split(".")
    name = parts[1] if len(parts) >= 2 and parts[0] == "aten" else (parts[0] if aten else "")
    return name.strip("_") or kind


def _label(root_module: str, m: dict[str, Any]) -> str:
    """How an absorbed op (its ``fused`` record) is named after the root: its module relative to the
    root's parent (``layer1.0.bn1`` after ``layer1.0.conv1`` -> ``bn1``), or its aten name when it belongs
    to the root's module or to the parent itself (the residual ``add`` of ``layer1.0``)."""
    module = m["module"]
    parent = root_module.rpartition(".")[0]
    if module == root_module:  # ops of one module (GELU's mul, pow, tanh...): their aten names
        return _short_aten(m["aten"], m["kind"])
    if module and parent and module.startswith(parent + "."):
        rel = module[len(parent) + 1:]
        # an nn.Sequential index (downsample.0 -> downsample.1) reads better with its container's name
        return f"{parent.rpartition('.')[2]}.{rel}" if rel.isdigit() else rel
    if module and not parent and module != root_module:
        return module
    return _short_aten(m["aten"], m["kind"])


def _record(op: OpNode, role: str) -> dict[str, Any]:
    return {"name": op.name, "kind": op.kind, "module": op.module, "aten": op.aten, "role": role,
            "elements": _elements(op), "flops": float(op.flops)}


def _root(op: OpNode) -> dict[str, Any]:
    return dict(op.attrs.get("fused_root") or {"name": op.name, "module": op.module, "aten": op.aten,
                                               "kind": op.kind, "elements": _elements(op)})


def _names(root: dict[str, Any], fused: list[dict[str, Any]]) -> tuple[str, str]:
    """(node name, module) of a group: the root's, then ``+label`` per absorbed op."""
    tail = "".join(f"+{_label(root['module'], m)}" for m in fused)
    return root["name"] + tail, (root["module"] or _short_aten(root["aten"], root["kind"])) + tail


def _without_one(tensors: list[TensorInfo], produced: TensorInfo | None, all_of_it: bool) -> list[TensorInfo]:
    """``tensors`` less the one that is ``produced`` (same elements and dtype: a view between the ops may have
    reshaped it; every copy if ``all_of_it``)."""
    if produced is None:
        return list(tensors)
    out, dropped = [], False
    for t in tensors:
        if t.numel == produced.numel and t.dtype == produced.dtype and (all_of_it or not dropped):
            dropped = True
            continue
        out.append(t)
    return out


@dataclass
class _Group:
    """Ops merged into one node (``members`` in chain order; the first is the root) and that node."""

    members: list[str]
    node: OpNode


def _rewrite(graph: LayerGraph, groups: list[_Group]) -> LayerGraph:
    """A new graph with each group's members replaced by its node, placed where its last member was.

    Edges between members vanish; an edge into or out of a group becomes an edge of its node (two edges
    from one producer into one group carry the larger tensor: it is read once).
    """
    rep: dict[str, str] = {}
    last: dict[str, _Group] = {}
    for grp in groups:
        for m in grp.members:
            rep[m] = grp.node.name
        last[grp.members[-1]] = grp
    out = LayerGraph(graph.name, dict(graph.meta))
    g = out.graph
    taken = set(graph.graph.nodes) - set(rep)
    for name in graph.graph.nodes:
        if name in last:
            node = last[name].node
            if node.name in taken:  # a hand-made graph may already hold that name
                i = 2
                while f"{node.name}~{i}" in taken:
                    i += 1
                node = replace(node, name=f"{node.name}~{i}")
                for m in last[name].members:
                    rep[m] = node.name
            taken.add(node.name)
            g.add_node(node.name, op=node)
        elif name not in rep:
            g.add_node(name, op=graph.op(name))
    for u, v, d in graph.graph.edges(data=True):
        a, b = rep.get(u, u), rep.get(v, v)
        if a == b:
            continue
        nb = int(d.get("bytes", 0))
        if g.has_edge(a, b):
            g.edges[a, b]["bytes"] = max(g.edges[a, b]["bytes"], nb)
        else:
            g.add_edge(a, b, bytes=nb)
    return out


def _only_consumer(graph: LayerGraph, name: str) -> str | None:
    """The one op that reads ``name``'s output, or None (no consumer, or several)."""
    succ = list(graph.graph.successors(name))
    return succ[0] if len(succ) == 1 else None


def _absorb(graph: LayerGraph, host: OpNode, chain: list[OpNode], role: str,
            extra_weights: list[TensorInfo] | None = None, keep_outputs: bool = False) -> OpNode:
    """``host`` with ``chain`` (each reading the one before) absorbed as ``role`` members.

    A member's inputs, less the tensor the op before it produced, are the group's extra inputs (a
    residual add's second operand); when no other op feeds the member, every copy of that tensor is
    dropped (``x * x`` reads one tensor).
    """
    root = _root(host)
    fused = list(host.attrs.get("fused", [])) + [_record(o, role) for o in chain]
    name, module = _names(root, fused)
    inputs = list(host.inputs)
    n_extra = int(host.attrs.get("epilogue_inputs", 0))
    prev: OpNode = host
    for o in chain:
        produced = prev.outputs[0] if prev.outputs else None
        alone = not (set(graph.predecessors(o.name)) - {prev.name})
        ext = _without_one(o.inputs, produced, all_of_it=alone)
        inputs += ext
        n_extra += len(ext)
        prev = o
    attrs = {**host.attrs, "fused_root": root, "fused": fused}
    work = sum(float(o.flops) for o in chain if role != "folded")
    if role == "epilogue":
        attrs["epilogue_flops"] = float(host.attrs.get("epilogue_flops", 0.0)) + work
        attrs["epilogue_inputs"] = n_extra
    weights = list(host.weights) + [w for o in chain if role != "folded" for w in o.weights] + list(extra_weights or [])
    outputs = list(host.outputs) if keep_outputs else list(chain[-1].outputs)
    flops = float(host.flops) + (work if role == "chain" else 0.0)
    return replace(host, name=name, module=module, inputs=inputs, outputs=outputs, weights=weights, flops=flops,
                   macs=float(host.macs) + (sum(float(o.macs) for o in chain) if role == "chain" else 0.0),
                   attrs=attrs)


def _out_channels(op: OpNode) -> int | None:
    if op.kind in ("conv", "conv_transpose"):
        v = op.attrs.get("Cout")
    else:
        v = op.attrs.get("N")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _bias(op: OpNode) -> list[TensorInfo]:
    """The per-channel bias a folded batch norm leaves on ``op`` (none if it already has a 1-D one)."""
    c = _out_channels(op)
    if c is None or any(len(w.shape) == 1 and w.numel == c for w in op.weights):
        return []
    dtype = op.weights[0].dtype if op.weights else op.dtype
    return [TensorInfo.of((c,), dtype)]


def fold_batch_norm(graph: LayerGraph) -> LayerGraph:
    """Fold each inference batch norm into the conv/matmul before it (see the module docstring)."""
    groups: list[_Group] = []
    for bn in graph:
        if not is_batch_norm(bn):
            continue
        preds = graph.predecessors(bn.name)
        if len(preds) != 1:
            continue
        host = graph.op(preds[0])
        if host.kind not in EPILOGUE_HOSTS or host.phase != "forward" or _only_consumer(graph, host.name) != bn.name:
            continue
        node = _absorb(graph, host, [bn], "folded", extra_weights=_bias(host), keep_outputs=True)
        groups.append(_Group([host.name, bn.name], node))
    return _rewrite(graph, groups) if groups else graph


def _epilogue_ok(op: OpNode, numel: int) -> bool:
    """``op`` can run on a MAC op's output of ``numel`` elements as it leaves the array."""
    if op.kind not in EPILOGUE_KINDS or op.phase != "forward" or not op.outputs:
        return False
    return op.kind == "pool" or max(t.numel for t in op.outputs) <= numel  # no broadcast to a larger tensor


def fuse_epilogues(graph: LayerGraph) -> LayerGraph:
    """Merge the elementwise/activation/pool ops after each conv/matmul into it (see the module docstring)."""
    groups: list[_Group] = []
    used: set[str] = set()
    for host in graph:
        if host.kind not in EPILOGUE_HOSTS or host.phase != "forward" or not host.outputs or host.name in used:
            continue
        chain: list[OpNode] = []
        cur, numel = host.name, host.outputs[0].numel
        while (nxt := _only_consumer(graph, cur)) is not None and nxt not in used:
            op = graph.op(nxt)
            if not _epilogue_ok(op, numel):
                break
            chain.append(op)
            cur, numel = nxt, op.outputs[0].numel
        if chain:
            used.update([host.name] + [o.name for o in chain])
            groups.append(_Group([host.name] + [o.name for o in chain], _absorb(graph, host, chain, "epilogue")))
    return _rewrite(graph, groups) if groups else graph


def fuse_elementwise_chains(graph: LayerGraph) -> LayerGraph:
    """Merge runs of elementwise/activation ops, each the only consumer of the one before, into one op."""
    groups: list[_Group] = []
    used: set[str] = set()
    for head in graph:
        if head.kind not in CHAIN_KINDS or head.phase != "forward" or head.name in used:
            continue
        chain: list[OpNode] = []
        cur = head.name
        while (nxt := _only_consumer(graph, cur)) is not None and nxt not in used:
            op = graph.op(nxt)
            if op.kind not in CHAIN_KINDS or op.phase != "forward":
                break
            chain.append(op)
            cur = nxt
        if chain:
            used.update([head.name] + [o.name for o in chain])
            groups.append(_Group([head.name] + [o.name for o in chain], _absorb(graph, head, chain, "chain")))
    return _rewrite(graph, groups) if groups else graph


#: op kinds a training step's compiler (TorchInductor under ``torch.compile``) leaves as library calls: they
#: bound its fused regions (:func:`fuse_pointwise_regions`)
EXTERN_KINDS: tuple[str, ...] = ("matmul", "attention", "conv", "conv_transpose", "rnn", "embedding", "loss")


def _regions(graph: LayerGraph) -> list[list[str]]:
    """The fusible regions of ``graph``: within each maximal run of consecutive (in program order) ops of one phase
    that are not :data:`EXTERN_KINDS`, each weakly connected set of two or more (a run is convex: any path between
    two of its ops stays inside it, so its regions can each be one kernel)."""
    runs: list[list[str]] = []
    cur: list[str] = []
    for name in graph.graph.nodes:
        op = graph.op(name)
        if op.kind in EXTERN_KINDS or (cur and graph.op(cur[-1]).phase != op.phase):
            if len(cur) > 1:
                runs.append(cur)
            cur = [] if op.kind in EXTERN_KINDS else [name]
            continue
        cur.append(name)
    if len(cur) > 1:
        runs.append(cur)
    regions: list[list[str]] = []
    for run in runs:
        order = {n: i for i, n in enumerate(run)}
        for part in nx.weakly_connected_components(graph.graph.subgraph(run)):
            if len(part) > 1:
                regions.append(sorted(part, key=order.__getitem__))
    return regions


def _region_node(graph: LayerGraph, region: list[str]) -> OpNode:
    """One streaming kernel for ``region``: it reads what enters the region once (its members' inputs less the
    tensors other members wrote; a tensor an outside op wrote read once however many members read it) and writes
    what leaves it (each member's output that an op outside reads, or that nothing reads: the piece's output);
    its FLOPs are the members'."""
    g = graph.graph
    members = set(region)
    ops = [graph.op(n) for n in region]
    read = float(sum(o.input_bytes for o in ops))
    entering: dict[str, list[float]] = {}
    for v in region:
        for u in g.predecessors(v):
            b = float(g.edges[u, v].get("bytes", 0))
            if u in members:
                read -= b  # written by a member: stays on chip
            else:
                entering.setdefault(u, []).append(b)
    read -= sum(sum(bs) - max(bs) for bs in entering.values())  # one read per outside tensor
    written = 0.0
    for u in region:
        outside = [float(g.edges[u, v].get("bytes", 0)) for v in g.successors(u) if v not in members]
        if outside:
            written += max(outside)
        elif not list(g.successors(u)):
            written += float(graph.op(u).output_bytes)
    aten: dict[str, int] = {}
    for o in ops:
        for k, c in (o.attrs.get("aten_ops") or {}).items():
            aten[k] = aten.get(k, 0) + int(c)
    first = ops[0]
    return OpNode(f"{first.name}+{len(ops) - 1}", "elementwise",
                  inputs=[TensorInfo.of((max(1, round(max(read, 0.0) / 2)),), "bf16")],
                  outputs=[TensorInfo.of((max(1, round(written / 2)),), "bf16")],
                  flops=float(sum(o.flops for o in ops)), dtype="bf16", phase=first.phase, module=first.module,
                  attrs={"aten_ops": aten, "compiled_ops": len(ops)})


def fuse_pointwise_regions(graph: LayerGraph) -> LayerGraph:
    """A training step as ``torch.compile`` (TorchInductor) runs it, to first order: every fusible region
    (:func:`_regions`: norms, element-wise ops, reductions, copies between two library calls -- GEMMs, attention, the
    fused loss) becomes one generated kernel (:func:`_region_node`), in forward and in backward; the library calls
    stay as they are. Not modelled: the kernels' own efficiency (priced as streaming ops, like eager ones), fusion
    into a GEMM's epilogue, and the partitioner's choice of what backward recomputes (the forward keeps what the eager
    trace keeps, each region's largest tensor into backward)."""
    groups = [_Group(r, _region_node(graph, r)) for r in _regions(graph)]
    return _rewrite(graph, groups) if groups else graph
