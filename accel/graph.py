"""LayerGraph: the contract between ``workloads/`` (torch) and ``accel/`` (no torch).

A LayerGraph is a :class:`networkx.DiGraph` whose nodes are ops (one aten-level
kernel or one fused layer) and whose edges are tensors flowing between them.
Node attribute ``"op"`` holds an :class:`OpNode`; edge attribute ``"bytes"`` holds
the size of the tensor passed (bytes). It serialises to JSON so accel runs without
torch installed.

Units: FLOPs and MACs are counts per op execution; bytes are bytes; shapes are
element counts per dimension.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import networkx as nx

#: Bytes per element for every dtype name the extractor emits.
DTYPE_BYTES: dict[str, float] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "int4": 0.5, "bool": 1,
    "complex64": 8, "complex128": 16,
}

#: Canonical op kinds. Cost models dispatch on these; the extractor maps aten ops onto them.
OP_KINDS: tuple[str, ...] = (
    "matmul",        # GEMM / linear / bmm / addmm (MACs = M*N*K*batch); attrs: M, N, K, batch
    "conv",          # convolution (any dims); attrs: N, Cin, Cout, H, W, R, S, stride, pad, groups, Hout, Wout
    "conv_transpose",
    "attention",     # fused scaled-dot-product attention; attrs: batch, heads, Lq, Lk, d, causal
    "rnn",           # fused LSTM/GRU cell sequence (if not decomposed)
    "elementwise",   # add, mul, relu, gelu, ... (memory bound)
    "activation",
    "norm",          # batch/layer/group norm
    "softmax",
    "pool",
    "reduce",
    "embedding",     # gather of rows
    "data_movement", # view-like copies, cat, transpose materialised, pad
    "optimizer",     # fused optimizer update (SGD/Adam) over a parameter tensor
    "loss",
    "other",
)

PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of ``dtype`` (e.g. ``"bf16"`` -> 2). Raises ValueError on unknown names."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPE_BYTES)}") from None


@dataclass
class TensorInfo:
    """One tensor: shape (elements per dim), dtype name, and size in bytes."""

    shape: tuple[int, ...]
    dtype: str
    bytes: int

    @classmethod
    def of(cls, shape: tuple[int, ...] | list[int], dtype: str) -> "TensorInfo":
        n = 1
        for d in shape:
            n *= int(d)
        return cls(tuple(int(d) for d in shape), dtype, int(n * dtype_bytes(dtype)))

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class OpNode:
    """One op of a workload.

    Attributes:
        name: unique node id inside the graph (e.g. ``"layer1.0.conv1/conv#12"``).
        kind: canonical kind, one of :data:`OP_KINDS`.
        inputs / outputs / weights: activations read, activations written, parameters read.
        flops: floating point operations (a MAC counts 2), as torch's FlopCounterMode counts them.
        macs: multiply-accumulates (0 for ops that do none).
        dtype: compute dtype name (``"fp32"``, ``"bf16"``...).
        phase: ``"forward"``, ``"backward"`` or ``"optimizer"``.
        module: dotted path of the torch module that issued it ("" at top level).
        aten: the aten op name (``"aten.convolution.default"``), for traceability.
        attrs: kind-specific shape attributes (see :data:`OP_KINDS`), JSON-serialisable.
        device: optional placement hint (device name in a System), set by partitioners.
    """

    name: str
    kind: str
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    weights: list[TensorInfo] = field(default_factory=list)
    flops: float = 0.0
    macs: float = 0.0
    dtype: str = "fp32"
    phase: str = "forward"
    module: str = ""
    aten: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    device: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise ValueError(f"op {self.name!r}: unknown kind {self.kind!r}; allowed: {', '.join(OP_KINDS)}")
        if self.phase not in PHASES:
            raise ValueError(f"op {self.name!r}: unknown phase {self.phase!r}; allowed: {', '.join(PHASES)}")
        if self.flops < 0 or self.macs < 0:
            raise ValueError(f"op {self.name!r}: negative flops/macs ({self.flops}, {self.macs})")

    @property
    def input_bytes(self) -> int:
        return sum(t.bytes for t in self.inputs)

    @property
    def output_bytes(self) -> int:
        return sum(t.bytes for t in self.outputs)

    @property
    def weight_bytes(self) -> int:
        return sum(t.bytes for t in self.weights)

    @property
    def total_bytes(self) -> int:
        """Compulsory DRAM traffic if nothing is cached: inputs + weights + outputs (bytes)."""
        return self.input_bytes + self.weight_bytes + self.output_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per compulsory byte (FLOP/B)."""
        b = self.total_bytes
        return self.flops / b if b else float("inf")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("inputs", "outputs", "weights"):
            for t in d[key]:
                t["shape"] = list(t["shape"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OpNode":
        d = dict(d)
        for key in ("inputs", "outputs", "weights"):
            d[key] = [TensorInfo(tuple(t["shape"]), t["dtype"], int(t["bytes"])) for t in d.get(key, [])]
        return cls(**d)


class LayerGraph:
    """A workload: a DAG of :class:`OpNode` plus metadata (model name, batch, mode).

    ``graph`` is the underlying :class:`networkx.DiGraph`; node key is ``OpNode.name``,
    node attribute ``op`` the OpNode, edge attribute ``bytes`` the tensor size passed.
    Insertion order of nodes is a valid topological (program) order.
    """

    FORMAT = "accel.LayerGraph/1"

    def __init__(self, name: str = "", meta: dict[str, Any] | None = None):
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self.graph: nx.DiGraph = nx.DiGraph()

    # construction -------------------------------------------------------------------
    def add_op(self, op: OpNode, deps: list[str] | tuple[str, ...] = (), edge_bytes: list[int] | None = None) -> OpNode:
        """Add ``op`` after the ops named in ``deps`` (edges carry ``edge_bytes`` bytes each)."""
        if op.name in self.graph:
            raise ValueError(f"duplicate op name {op.name!r} in graph {self.name!r}")
        self.graph.add_node(op.name, op=op)
        for i, d in enumerate(deps):
            if d not in self.graph:
                raise ValueError(f"op {op.name!r} depends on unknown op {d!r}")
            b = edge_bytes[i] if edge_bytes is not None else 0
            self.graph.add_edge(d, op.name, bytes=int(b))
        return op

    # queries ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __iter__(self) -> Iterator[OpNode]:
        """Ops in program (insertion) order."""
        for n in self.graph.nodes:
            yield self.graph.nodes[n]["op"]

    def op(self, name: str) -> OpNode:
        return self.graph.nodes[name]["op"]

    def ops(self, phase: str | None = None, kind: str | None = None) -> list[OpNode]:
        return [o for o in self if (phase is None or o.phase == phase) and (kind is None or o.kind == kind)]

    def predecessors(self, name: str) -> list[str]:
        return list(self.graph.predecessors(name))

    def topological_order(self) -> list[str]:
        return list(nx.topological_sort(self.graph))

    @property
    def total_flops(self) -> float:
        return float(sum(o.flops for o in self))

    @property
    def total_macs(self) -> float:
        return float(sum(o.macs for o in self))

    @property
    def weight_bytes(self) -> int:
        """Bytes of distinct parameters (counted once even if read by several ops)."""
        return int(self.meta.get("param_bytes", sum(o.weight_bytes for o in self.ops(phase="forward"))))

    def kind_counts(self) -> dict[str, int]:
        return dict(Counter(o.kind for o in self))

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ops": len(self),
            "flops": self.total_flops,
            "macs": self.total_macs,
            "kinds": self.kind_counts(),
            **{k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool))},
        }

    def validate(self) -> None:
        """Raise ValueError if the graph is not a DAG or an edge points at a missing op."""
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = nx.find_cycle(self.graph)
            raise ValueError(f"graph {self.name!r} has a cycle: {cycle[:4]}")

    # serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.FORMAT,
            "name": self.name,
            "meta": self.meta,
            "ops": [o.to_dict() for o in self],
            "edges": [[u, v, int(d.get("bytes", 0))] for u, v, d in self.graph.edges(data=True)],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> "LayerGraph":
        if d.get("format") != cls.FORMAT:
            raise ValueError(f"{source}: format: expected {cls.FORMAT!r}, got {d.get('format')!r}")
        g = cls(d.get("name", ""), d.get("meta", {}))
        for od in d["ops"]:
            op = OpNode.from_dict(od)
            g.graph.add_node(op.name, op=op)
        for u, v, b in d.get("edges", []):
            if u not in g.graph or v not in g.graph:
                raise ValueError(f"{source}: edges: edge {u!r}->{v!r} names an unknown op")
            g.graph.add_edge(u, v, bytes=int(b))
        g.validate()
        return g

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LayerGraph":
        path = Path(path)
        return cls.from_dict(json.loads(path.read_text()), source=str(path))
