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
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Iterator

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from accel.errors import ConfigError, did_you_mean

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

#: kinds that are matrix products (multiply-accumulate arrays run them); ``rnn`` is a sequence of them
MAC_KINDS: tuple[str, ...] = ("matmul", "conv", "conv_transpose", "attention")
#: kinds that stream their tensors through memory with little arithmetic (memory-bound kernels)
STREAMING_KINDS: tuple[str, ...] = ("elementwise", "activation", "norm", "softmax", "pool", "reduce", "embedding",
                                    "data_movement", "optimizer", "loss", "other")
assert set(MAC_KINDS) | set(STREAMING_KINDS) | {"rnn"} == set(OP_KINDS)

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
            raise ValueError(f"op {self.name!r}: unknown kind {self.kind!r}{did_you_mean(self.kind, OP_KINDS)}; "
                             f"allowed: {', '.join(OP_KINDS)}")
        if self.phase not in PHASES:
            raise ValueError(f"op {self.name!r}: unknown phase {self.phase!r}{did_you_mean(self.phase, PHASES)}; "
                             f"allowed: {', '.join(PHASES)}")
        for what, v in (("flops", self.flops), ("macs", self.macs)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"op {self.name!r}: {what} must be a finite number >= 0, got {v!r}")

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
        """Raise :class:`ConfigError` (a ValueError) if the graph cannot be simulated meaningfully.

        Checks: at least one op; a DAG; every tensor's bytes and every edge's bytes a finite number
        >= 0; FLOPs/MACs finite >= 0 (also checked by :class:`OpNode`); ``meta["batch"]``, when set,
        an integer >= 1. Graphs read from JSON were checked more strictly by :meth:`from_dict`.
        """
        where = self.name or "<graph>"
        if len(self.graph) == 0:
            raise ConfigError(where, "ops", "the graph has no ops; nothing to simulate")
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = nx.find_cycle(self.graph)
            raise ConfigError(where, "edges", f"the graph has a cycle: {cycle[:4]}")
        for o in self:
            for what, v in (("flops", o.flops), ("macs", o.macs)):
                if not _finite_nonneg(v):
                    raise ConfigError(where, f"op {o.name!r}.{what}", f"must be a finite number >= 0, got {v!r}")
            for group in ("inputs", "outputs", "weights"):
                for i, t in enumerate(getattr(o, group)):
                    if not _finite_nonneg(t.bytes):
                        raise ConfigError(where, f"op {o.name!r}.{group}[{i}].bytes",
                                          f"must be a finite number >= 0, got {t.bytes!r}")
        for u, v, d in self.graph.edges(data=True):
            if not _finite_nonneg(d.get("bytes", 0)):
                raise ConfigError(where, f"edge {u!r}->{v!r}", f"bytes must be a finite number >= 0, got {d.get('bytes')!r}")
        b = self.meta.get("batch")
        if b is not None and not (_is_int(b) and b >= 1):
            raise ConfigError(where, "meta.batch", f"must be an integer >= 1, got {b!r}")

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
        """Validate a serialised graph (see :class:`GraphFile`) and build it.

        Raises :class:`~accel.errors.ConfigError` ``<source>: <field>: <reason>`` on any problem:
        wrong types, non-finite or negative numbers, tensor bytes that disagree with shape x dtype,
        unknown kinds/phases/dtypes, duplicate op names, edges naming unknown ops, cycles.
        """
        if not isinstance(d, dict):
            raise ConfigError(source, None, f"expected a JSON object at top level, got {_json_type(d)}")
        if d.get("format") != cls.FORMAT:
            raise ConfigError(source, "format", f"expected {cls.FORMAT!r}, got {d.get('format')!r}")
        try:
            gf = GraphFile.model_validate(d)
        except ValidationError as exc:
            raise _graph_error(exc, d, source) from None
        g = cls(gf.name, gf.meta)
        for od in gf.ops:
            op = OpNode(od.name, od.kind, [t.info() for t in od.inputs], [t.info() for t in od.outputs],
                        [t.info() for t in od.weights], flops=float(od.flops), macs=float(od.macs), dtype=od.dtype,
                        phase=od.phase, module=od.module, aten=od.aten, attrs=dict(od.attrs), device=od.device)
            g.graph.add_node(op.name, op=op)
        for u, v, b in gf.edges:
            g.graph.add_edge(u, v, bytes=int(b))
        return g

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LayerGraph":
        """Read and validate a LayerGraph JSON file (at most :data:`MAX_GRAPH_FILE_BYTES`, UTF-8)."""
        path = Path(path)
        text = read_text_checked(path, MAX_GRAPH_FILE_BYTES, what="LayerGraph JSON")
        return cls.from_dict(parse_json_strict(text, str(path)), source=str(path))


# --------------------------------------------------------------------------------------------------
# Reading untrusted files

#: largest LayerGraph JSON accepted (bytes); a GPT-2 training step is ~10 MB
MAX_GRAPH_FILE_BYTES = 256 * 2**20
#: largest integer accepted for a count, dimension or byte size (2**62: no float overflow, no bignums)
MAX_COUNT = 2**62
#: most dimensions of one tensor (torch allows 64)
MAX_TENSOR_DIMS = 64


def read_text_checked(path: str | Path, max_bytes: int, what: str = "file") -> str:
    """Read a regular, UTF-8 text file of at most ``max_bytes`` bytes, else :class:`ConfigError`.

    Refuses FIFOs and devices (which could block or never end), oversized files (read stops at
    ``max_bytes + 1``), and non-UTF-8 bytes (naming the line and the byte).
    """
    path = Path(path)
    try:
        if not path.exists():
            raise ConfigError(str(path), None, "file not found")
        if not path.is_file():
            raise ConfigError(str(path), None, f"not a regular file; expected a {what}")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ConfigError(str(path), None, f"larger than the {max_bytes:,}-byte limit for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), f"line {line}",
                          f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in one JSON object")
        out[k] = v
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def parse_json_strict(text: str, source: str) -> Any:
    """``json.loads`` that rejects duplicate keys, NaN/Infinity and absurd nesting, as ConfigError."""
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(source, None, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # from the hooks above
        raise ConfigError(source, None, f"malformed JSON: {exc}") from None


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


# --------------------------------------------------------------------------------------------------
# Schema of the serialised graph (format accel.LayerGraph/1)

_Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
_NonNegFloat = Annotated[float, Field(strict=True, ge=0, le=1e30, allow_inf_nan=False)]

#: kind -> {attr: minimum} of integer attrs (checked when present; ints, not bools)
INT_ATTRS: dict[str, dict[str, int]] = {
    "matmul": {"M": 0, "N": 0, "K": 0, "batch": 1},
    "conv": {"N": 0, "Cin": 0, "Cout": 0, "H": 0, "W": 0, "D": 0, "R": 0, "S": 0, "T": 0, "Hout": 0, "Wout": 0,
             "Dout": 0, "stride": 1, "pad": 0, "dilation": 1, "groups": 1, "spatial_dims": 1},
    "attention": {"batch": 0, "heads": 0, "Lq": 0, "Lk": 0, "d": 0},
    "rnn": {"seq": 0, "seq_len": 0, "batch": 0, "input": 0, "input_size": 0, "hidden": 0, "layers": 1,
            "num_layers": 1, "gates": 1},
    "embedding": {"num_embeddings": 0, "dim": 0, "lookups": 0},
}
INT_ATTRS["conv_transpose"] = INT_ATTRS["conv"]
#: kind -> attrs every cost model needs (a graph without them cannot be simulated)
REQUIRED_ATTRS: dict[str, tuple[str, ...]] = {
    "matmul": ("M", "N", "K"),
    "conv": ("N", "Cin", "Cout", "R", "S", "Hout", "Wout"),
    "conv_transpose": ("N", "Cin", "Cout", "R", "S", "Hout", "Wout"),
}
#: kind -> attrs that must be booleans when present
BOOL_ATTRS: dict[str, tuple[str, ...]] = {
    "conv": ("transposed", "channels_last"), "conv_transpose": ("transposed", "channels_last"),
    "attention": ("causal",), "rnn": ("bidirectional",),
}
#: kind -> attrs that must be lists of ints >= minimum when present
INT_LIST_ATTRS: dict[str, dict[str, int]] = {
    "conv": {"stride_hw": 1, "pad_hw": 0, "dilation_hw": 1},
}
INT_LIST_ATTRS["conv_transpose"] = INT_LIST_ATTRS["conv"]
#: attrs an attention op's cost models need (:class:`AttentionShape`)
ATTENTION_ATTRS: tuple[str, ...] = ("batch", "heads", "Lq", "Lk", "d")


def _first_int(v: Any, default: int) -> int:
    """An int attr that may be written per spatial dim (``[2, 2]``): its first entry; ``None``/0-like -> default."""
    if isinstance(v, (list, tuple)):
        v = v[0] if v else default
    return int(v) if v not in (None, "") else default


def _need(op: "OpNode", keys: tuple[str, ...], what: str) -> dict[str, int]:
    try:
        return {k: int(op.attrs[k]) for k in keys}
    except KeyError as exc:
        raise ConfigError(op.name, f"attrs.{exc.args[0]}", f"{op.kind} op needs attrs {what}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(op.name, "attrs", f"{op.kind} op attrs must be integers: {exc}") from None


@dataclass(frozen=True)
class GemmShape:
    """``batch`` x (M x K) @ (K x N) of a ``matmul`` op, parsed once from its attrs (:meth:`of`)."""

    M: int
    N: int
    K: int
    batch: int = 1

    @classmethod
    def of(cls, op: "OpNode") -> "GemmShape":
        """The op's GEMM shape; ConfigError naming the missing attr (``op: attrs.K: matmul op needs attrs ...``)."""
        a = _need(op, REQUIRED_ATTRS["matmul"], "M, N, K (and optional batch)")
        return cls(a["M"], a["N"], a["K"], _first_int(op.attrs.get("batch"), 1) or 1)


@dataclass(frozen=True)
class ConvShape:
    """A 2-D convolution (forward, transposed, or ``convolution_backward`` with ``output_mask``), parsed once.

    ``H``/``W`` default to ``Hout``/``Wout``; ``stride``/``pad`` written per dim take the first; ``groups``
    defaults to 1; ``output_mask`` is None for a forward op, else (grad_input, grad_weight, grad_bias).
    """

    N: int
    Cin: int
    Cout: int
    H: int
    W: int
    R: int
    S: int
    stride: int
    pad: int
    groups: int
    Hout: int
    Wout: int
    transposed: bool = False
    channels_last: bool = False
    output_mask: tuple[bool, bool, bool] | None = None

    @property
    def cin_g(self) -> int:
        """Input channels per group."""
        return self.Cin // self.groups

    @property
    def cout_g(self) -> int:
        """Output channels per group."""
        return self.Cout // self.groups

    @property
    def macs(self) -> float:
        """Multiply-accumulates of the forward convolution: N*Cout*Hout*Wout*(Cin/groups)*R*S."""
        return float(self.N) * self.Hout * self.Wout * self.Cout * self.cin_g * self.R * self.S

    def dgrad(self) -> "ConvShape":
        """The grad-input kernel of this convolution's backward: grad_output (``Cout`` channels, ``Hout x Wout``)
        convolved with the transposed filters back to ``Cin`` channels, same groups, filter and MACs, costed on
        the forward's output grid (implicit GEMM M = N*Hout*Wout, N = Cin/g, K = Cout/g*R*S)."""
        return replace(self, Cin=self.Cout, Cout=self.Cin, H=self.Hout, W=self.Wout, output_mask=None)

    @classmethod
    def of(cls, op: "OpNode") -> "ConvShape":
        """The op's convolution shape; ConfigError naming the missing attr."""
        a = _need(op, REQUIRED_ATTRS["conv"], "N, Cin, Cout, R, S, Hout, Wout (optional H, W, stride, pad, groups)")
        at = op.attrs
        mask = at.get("output_mask")
        return cls(a["N"], a["Cin"], a["Cout"], _first_int(at.get("H"), a["Hout"]), _first_int(at.get("W"), a["Wout"]),
                   a["R"], a["S"], _first_int(at.get("stride"), 1) or 1, _first_int(at.get("pad"), 0),
                   _first_int(at.get("groups"), 1) or 1, a["Hout"], a["Wout"],
                   transposed=op.kind == "conv_transpose" or bool(at.get("transposed")),
                   channels_last=bool(at.get("channels_last", False)),
                   output_mask=None if mask is None else tuple(bool(m) for m in (list(mask) + [False] * 3)[:3]))  # type: ignore[arg-type]


#: values of an attention op's ``attrs["kernel"]`` naming a fused kernel that device models price only from its
#: measured speed (FlashAttention-2; FlashAttention in Triton); without the attr an op runs the device's own fused
#: attention (``flash``)
MEASURED_ATTENTION_KERNELS: tuple[str, ...] = ("flash2", "flash_triton")
#: ``--attention`` choices that run a measured kernel inside extra ops -> that kernel: ``flash2_varlen`` is
#: FlashAttention-2's variable-length entry point with the padding taken out of q, k, v before it and put back
#: into its output after it (flash-attn's ``bert_padding.unpad_input`` / ``pad_input``:
#: :func:`workloads.llm_train.unpadded_attention`)
WRAPPED_ATTENTION_KERNELS: dict[str, str] = {"flash2_varlen": "flash2"}
#: ``--attention`` choices of an LLM training block: the device's own fused kernel, the measured ones (bare or
#: wrapped), or the unfused core (batched GEMMs and a softmax kernel)
ATTENTION_KERNELS: tuple[str, ...] = ("flash", *MEASURED_ATTENTION_KERNELS, *WRAPPED_ATTENTION_KERNELS, "unfused")
#: ``--cross-entropy`` choices for an LLM training step's loss (:class:`workloads.llm_train._Head`): ``torch`` (the
#: logits cast to fp32, then log-softmax and NLL forward and backward as separate kernels: PyTorch's
#: ``cross_entropy`` under autocast), ``megatron`` (the logits cast to fp32, then Megatron-LM's vocab-parallel
#: cross-entropy: max, subtract, exp, sum and divide in place forward, a scatter and an in-place multiply backward),
#: ``megatron_fused`` (Megatron-Core's ``cross_entropy_loss_fusion``: the same math, its forward as three fused
#: kernels on the 16-bit logits) or ``fused`` (one kernel each way on the 16-bit logits: flash-attn's
#: ``CrossEntropyLoss``, llm-foundry's default ``loss_fn: fused_crossentropy``)
CROSS_ENTROPY_KERNELS: tuple[str, ...] = ("torch", "megatron", "megatron_fused", "fused")
#: ``--pointwise-kernels`` values of an LLM training block: ``fused`` runs a Llama block's RMSNorm, rotary
#: embedding of q and k and SiLU-and-multiply as one kernel each (serving engines, Transformer Engine, Megatron-Core);
#: ``eager`` traces them op by op as eager PyTorch runs torchtitan's and Hugging Face's Llama
#: (:func:`workloads.llm.pointwise_kernels`); ``compiled`` traces them eagerly, then runs every region of
#: non-library ops between two library calls as one kernel, as ``torch.compile`` does to first order
#: (:func:`accel.compile.passes.fuse_pointwise_regions`)
POINTWISE_KERNELS: tuple[str, ...] = ("fused", "eager", "compiled")
#: ``op.attrs`` key of ops that run after the microbatch's backward although a training trace records them in its
#: forward (:class:`workloads.llm_train._LogitMetrics`, Composer's train metrics): their tensors are not live while the
#: step's activations are (:func:`accel.train.costs.working_set_bytes`)
AFTER_BACKWARD = "after_backward"


@dataclass(frozen=True)
class AttentionShape:
    """Scaled-dot-product attention: ``batch`` x ``heads`` of (Lq x d) @ (d x Lk), then (Lq x Lk) @ (Lk x d)."""

    batch: int
    heads: int
    Lq: int
    Lk: int
    d: int
    causal: bool = False
    kv_heads: int = 0  # key/value heads (grouped-query attention); 0 = heads

    @property
    def group(self) -> int:
        """Query heads per key/value head (1: multi-head attention)."""
        return self.heads // self.kv_heads if self.kv_heads else 1

    @property
    def work_fraction(self) -> float:
        """Share of the ``Lq x Lk`` score matrix a flash kernel computes: 1/2 with a causal mask (the masked
        triangle is skipped), else 1. ``op.flops`` (torch's count) is of the full matrix."""
        return 0.5 if self.causal else 1.0

    def useful_flops(self, counted: float) -> float:
        """``counted`` FLOPs (torch's count, full matrix) scaled to the work a flash kernel does."""
        return counted * self.work_fraction

    @classmethod
    def of(cls, op: "OpNode") -> "AttentionShape":
        """The op's attention shape; ConfigError naming the missing attr."""
        a = _need(op, ATTENTION_ATTRS, ", ".join(ATTENTION_ATTRS))
        kv = op.attrs.get("kv_heads")
        kv_heads = int(kv) if isinstance(kv, int) and not isinstance(kv, bool) and kv > 0 and a["heads"] % kv == 0 else 0
        return cls(a["batch"], a["heads"], a["Lq"], a["Lk"], a["d"], causal=bool(op.attrs.get("causal", False)),
                   kv_heads=kv_heads)


#: meta keys with a checked type: key -> (check, description)
META_MODES = ("infer", "train")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite_nonneg(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _check_name(value: str, allowed, what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}{did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class TensorModel(_Strict):
    """One serialised tensor: ``{"shape": [..], "dtype": "fp16", "bytes": N}``; bytes = numel x dtype size."""

    shape: list[_Count] = Field(max_length=MAX_TENSOR_DIMS)
    dtype: str
    bytes: _Count

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        return _check_name(v, DTYPE_BYTES, "dtype")

    @model_validator(mode="after")
    def _consistent(self) -> "TensorModel":
        n = 1
        for d in self.shape:
            n *= d
        want = int(n * DTYPE_BYTES[self.dtype])
        if want > MAX_COUNT:
            raise ValueError(f"shape {self.shape} is too large ({want:.3g} bytes)")
        if self.bytes != want:
            raise ValueError(f"bytes: {self.bytes} disagrees with shape {self.shape} x {self.dtype} "
                             f"({DTYPE_BYTES[self.dtype]:g} B/element) = {want}")
        return self

    def info(self) -> TensorInfo:
        return TensorInfo(tuple(self.shape), self.dtype, self.bytes)


class OpModel(_Strict):
    """One serialised op (the fields of :class:`OpNode`); attrs checked per kind (:data:`INT_ATTRS`)."""

    name: str = Field(min_length=1, max_length=4096)
    kind: str
    inputs: list[TensorModel] = Field(default_factory=list)
    outputs: list[TensorModel] = Field(default_factory=list)
    weights: list[TensorModel] = Field(default_factory=list)
    flops: _NonNegFloat = 0.0
    macs: _NonNegFloat = 0.0
    dtype: str = "fp32"
    phase: str = "forward"
    module: str = ""
    aten: str = ""
    attrs: dict[str, Any] = Field(default_factory=dict)
    device: str | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return _check_name(v, OP_KINDS, "op kind")

    @field_validator("phase")
    @classmethod
    def _phase(cls, v: str) -> str:
        return _check_name(v, PHASES, "phase")

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        return _check_name(v, DTYPE_BYTES, "dtype")

    @model_validator(mode="after")
    def _attrs(self) -> "OpModel":
        a = self.attrs
        missing = [k for k in REQUIRED_ATTRS.get(self.kind, ()) if k not in a]
        if missing:
            raise ValueError(f"attrs.{missing[0]}: a {self.kind} op needs attrs {', '.join(REQUIRED_ATTRS[self.kind])}")
        for k, lo in INT_ATTRS.get(self.kind, {}).items():
            if k in a and not (_is_int(a[k]) and lo <= a[k] <= MAX_COUNT):
                raise ValueError(f"attrs.{k}: must be an integer >= {lo}, got {a[k]!r}")
        for k in BOOL_ATTRS.get(self.kind, ()):
            if k in a and not isinstance(a[k], bool):
                raise ValueError(f"attrs.{k}: must be true or false, got {a[k]!r}")
        for k, lo in INT_LIST_ATTRS.get(self.kind, {}).items():
            if k in a and not (isinstance(a[k], list) and len(a[k]) <= 3
                               and all(_is_int(x) and lo <= x <= MAX_COUNT for x in a[k])):
                raise ValueError(f"attrs.{k}: must be a list of up to 3 integers >= {lo}, got {a[k]!r}")
        if "output_mask" in a and not (isinstance(a["output_mask"], list) and len(a["output_mask"]) <= 3
                                       and all(isinstance(x, bool) for x in a["output_mask"])):
            raise ValueError(f"attrs.output_mask: must be a list of up to 3 booleans, got {a['output_mask']!r}")
        g = a.get("groups", 1)
        for k in ("Cin", "Cout"):
            if self.kind in ("conv", "conv_transpose") and k in a and a[k] % g:
                raise ValueError(f"attrs.{k}: {a[k]} channels not divisible by groups={g}")
        if self.macs > 0 and self.flops == 0 and self.kind in ("matmul", "conv", "conv_transpose", "attention"):
            pass  # FLOPs may be uncounted by torch for some kernels; MACs carry the work
        return self


class GraphFile(_Strict):
    """The JSON form of a :class:`LayerGraph` (``format: accel.LayerGraph/1``).

    ``meta``: free-form, but ``batch`` (int >= 1), ``seq_len`` (int >= 1 or null), ``mode``
    (infer/train), ``dtype`` (a dtype name) and ``param_bytes`` (finite >= 0) are checked.
    ``edges``: ``[producer, consumer, bytes]`` naming ops of this file, producer before consumer
    in ``ops`` order (the program order the simulator issues), so the graph is a DAG.
    """

    format: str
    name: str = Field(default="", max_length=4096)
    meta: dict[str, Any] = Field(default_factory=dict)
    ops: list[OpModel] = Field(min_length=1)
    edges: list[Annotated[tuple[str, str, _Count], Field(strict=False)]] = Field(default_factory=list)

    @field_validator("meta")
    @classmethod
    def _meta(cls, m: dict[str, Any]) -> dict[str, Any]:
        if "batch" in m and not (_is_int(m["batch"]) and 1 <= m["batch"] <= MAX_COUNT):
            raise ValueError(f"batch: must be an integer >= 1, got {m['batch']!r}")
        if m.get("seq_len") is not None and not (_is_int(m["seq_len"]) and 1 <= m["seq_len"] <= MAX_COUNT):
            raise ValueError(f"seq_len: must be an integer >= 1 or null, got {m['seq_len']!r}")
        if "mode" in m and m["mode"] not in META_MODES:
            raise ValueError(f"mode: {m['mode']!r} not allowed{did_you_mean(str(m['mode']), META_MODES)}; "
                             f"allowed: {', '.join(META_MODES)}")
        if "dtype" in m and m["dtype"] is not None:
            if not isinstance(m["dtype"], str):
                raise ValueError(f"dtype: must be a dtype name, got {m['dtype']!r}")
            _check_name(m["dtype"], DTYPE_BYTES, "dtype")
        if "param_bytes" in m:
            v = m["param_bytes"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= MAX_COUNT:
                raise ValueError(f"param_bytes: must be a finite number >= 0, got {v!r}")
        return m

    @model_validator(mode="after")
    def _graph(self) -> "GraphFile":
        index: dict[str, int] = {}
        for i, o in enumerate(self.ops):
            if o.name in index:
                raise ValueError(f"ops[{i}].name: duplicate op name {o.name!r} (also ops[{index[o.name]}]); "
                                 "op names must be unique")
            index[o.name] = i
        for j, (u, v, _b) in enumerate(self.edges):
            for end in (u, v):
                if end not in index:
                    raise ValueError(f"edges[{j}]: names unknown op {end!r}{did_you_mean(end, list(index)[:5000])}")
            if index[u] >= index[v]:
                what = ("a self-loop" if u == v else
                        f"consumer {v!r} comes before producer {u!r} in ops order (a cycle or a non-program order)")
                raise ValueError(f"edges[{j}]: {u!r}->{v!r} is {what}" if u == v else f"edges[{j}]: {what}")
        return self


def _loc(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _graph_error(exc: ValidationError, raw: dict[str, Any], source: str) -> ConfigError:
    """The first pydantic error as ``source: field: reason`` (extra keys first: they name typos)."""
    from accel.errors import first_error

    errs = exc.errors()
    err = first_error(errs)
    loc = tuple(p for p in err["loc"] if p not in ("tuple[str, str, function-after[...]]",))
    field = _loc(loc)
    msg = str(err["msg"]).removeprefix("Value error, ")
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head and (head.startswith(("attrs.", "ops[", "edges[")) or head in
                                     ("batch", "seq_len", "mode", "dtype", "param_bytes", "bytes")):
        field, msg = (f"{field}.{head}" if field and not head.startswith(("ops[", "edges[")) else head), rest
    if err["type"] == "extra_forbidden":
        model: Any = {0: GraphFile, 2: OpModel, 4: TensorModel}.get(len(loc) - 1, GraphFile)
        names = [f for f in model.model_fields]
        msg = f"unknown field{did_you_mean(str(loc[-1]), names)}; allowed fields here: {', '.join(names)}"
    if len(loc) >= 2 and loc[0] == "ops" and isinstance(loc[1], int):
        ops: Any = raw.get("ops")
        try:
            name = ops[loc[1]].get("name")
        except (AttributeError, IndexError, KeyError, TypeError):
            name = None
        if isinstance(name, str) and name:
            msg += f" (op {name[:80]!r})"
    if loc and loc[0] == "edges" and err["type"] in ("missing", "too_long", "tuple_type", "too_short"):
        field, msg = _loc(loc[:2]), "an edge is [producer op name, consumer op name, bytes]"
    got = err.get("input")
    if err["type"] in ("float_type", "int_type", "string_type", "list_type", "dict_type", "bool_type",
                       "model_type", "tuple_type", "finite_number", "int_from_float", "greater_than_equal",
                       "less_than_equal") and not isinstance(got, (dict, list)):
        msg += f", got {json.dumps(got)[:40] if isinstance(got, (int, float, str, bool, type(None))) else _json_type(got)}"
    more = f" (+{len(errs) - 1} more errors)" if len(errs) > 1 else ""
    return ConfigError(source, field or None, msg + more)
