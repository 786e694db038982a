"""Record every aten op a model issues (on ``meta`` tensors) into a :class:`LayerGraph`.

How it works:

* :class:`Recorder` is a ``TorchDispatchMode``: it sees each aten op after autograd,
  with shapes and dtypes, and mirrors ``torch.utils.flop_counter.FlopCounterMode``'s
  dispatch exactly (same decomposition rule, same FLOP formulas) so totals agree.
* Module paths come from forward pre/post hooks on every submodule (names as in
  ``model.named_modules()``, e.g. ``"layer1.0.conv1"``); the root module is ``""``.
* Backward ops are attributed to the module (and fused region) whose forward created
  the autograd node being executed (``torch._C._current_autograd_node()``): each
  module's forward hook walks the autograd graph it created and tags its nodes.
* Fused regions: ``F.scaled_dot_product_attention`` (kind ``attention``) and
  ``nn.LSTM``/``GRU``/``RNN`` modules (kind ``rnn``) decompose into many aten ops on
  meta; consecutive ops of one region (forward, and backward separately) are merged
  into a single node whose FLOPs are the sum of its ops'.
* Data dependencies follow tensor storages: each storage remembers the op that last
  wrote it; views (which make no node) share their base's storage.

Units: FLOPs and MACs are counts, bytes are bytes.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, cast

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from accel.graph import LayerGraph, OpNode, TensorInfo
from workloads.flops import flop_count
from workloads.kinds import FILL_OPS, VIEW_OPS, attrs_of, kind_of, op_name

#: torch dtype -> accel dtype name (see accel.graph.DTYPE_BYTES).
TORCH_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "fp64", torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16",
    torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8",
    torch.uint8: "uint8", torch.bool: "bool", torch.complex64: "complex64", torch.complex128: "complex128",
}
for _n in ("float8_e4m3fn", "float8_e4m3fnuz"):
    if hasattr(torch, _n):
        TORCH_DTYPES[getattr(torch, _n)] = "fp8_e4m3"
for _n in ("float8_e5m2", "float8_e5m2fnuz"):
    if hasattr(torch, _n):
        TORCH_DTYPES[getattr(torch, _n)] = "fp8_e5m2"

#: metadata queries FlopCounterMode passes through without counting; never nodes.
_META_QUERIES = {
    torch.ops.aten.sym_is_contiguous.default, torch.ops.aten.is_contiguous.default,
    torch.ops.aten.is_contiguous.memory_format, torch.ops.aten.is_strides_like_format.default,
    torch.ops.aten.is_non_overlapping_and_dense.default, torch.ops.aten.size.default,
    torch.ops.aten.sym_size.default, torch.ops.aten.stride.default, torch.ops.aten.sym_stride.default,
    torch.ops.aten.storage_offset.default, torch.ops.aten.sym_storage_offset.default,
    torch.ops.aten.numel.default, torch.ops.aten.sym_numel.default, torch.ops.aten.dim.default,
    torch.ops.prim.layout.default,
}



def _conv_macs(func, args: tuple, attrs: dict[str, Any]) -> float:
    """Groups-aware multiply-accumulates of a convolution or convolution_backward.

    Forward: N * prod(weight shape) * prod(output spatial) (input spatial if transposed).
    Backward: that count once for grad_input and once for grad_weight (per output_mask).
    torch's FlopCounterMode formula for ``convolution_backward`` ignores ``groups`` (it
    over-counts depthwise convs by Cin); OpNode.flops keeps torch's number so totals
    match FlopCounterMode, OpNode.macs is this exact count.
    """
    backward = "convolution_backward" in str(func)
    x, w = (args[1], args[2]) if backward else (args[0], args[1])
    n = x.shape[0]
    wprod = 1
    for d in w.shape:
        wprod *= int(d)
    if attrs.get("transposed"):
        spatial = x.shape[2:]
    else:
        spatial = args[0].shape[2:] if backward else None
        if spatial is None:
            spatial = [attrs["Hout"], attrs["Wout"], attrs.get("Dout", 1)][: len(x.shape) - 2]
    sp = 1
    for d in spatial:
        sp *= int(d)
    fwd = float(n * wprod * sp)
    if not backward:
        return fwd
    mask = attrs.get("output_mask", [True, True, False])
    return fwd * (int(bool(mask[0])) + int(bool(mask[1])))


def _written_args(func, args: tuple, kwargs: dict) -> list[Any]:
    """Arguments the op's schema marks as written (``Tensor(a!)``)."""
    out = []
    for i, a in enumerate(func._schema.arguments):
        if a.alias_info is None or not a.alias_info.is_write:
            continue
        if i < len(args):
            out.append(args[i])
        elif a.name in kwargs:
            out.append(kwargs[a.name])
    return out


def dtype_name(dt: torch.dtype) -> str:
    """accel dtype name of a torch dtype; ValueError for unsupported ones."""
    try:
        return TORCH_DTYPES[dt]
    except KeyError:
        raise ValueError(f"unsupported tensor dtype {dt}; supported: {', '.join(map(str, TORCH_DTYPES))}") from None


def tensor_info(t: torch.Tensor) -> TensorInfo:
    """TensorInfo (shape, dtype name, bytes) of ``t`` as viewed (not its whole storage)."""
    return TensorInfo.of(tuple(t.shape), dtype_name(t.dtype))


def flatten_tensors(x: Any) -> list[torch.Tensor]:
    """All tensors inside nested tuples/lists/dicts (incl. HF ModelOutput), in order."""
    out: list[torch.Tensor] = []
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
    return out


def storage_key(t: torch.Tensor) -> int:
    """Identity of the memory behind ``t`` (views share it)."""
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):
        return id(t)


@dataclass
class Region:
    """A fused region (one attention call, one RNN module call)."""

    id: int
    kind: str
    module: str
    attrs: dict[str, Any]
    source: str
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)


@dataclass
class _Rec:
    """One recorded aten op (before regions are merged)."""

    idx: int
    aten: str
    kind: str
    phase: str
    module: str
    region: int | None
    flops: int
    inputs: list[tuple[int, TensorInfo]]
    weights: list[tuple[int, TensorInfo]]
    outputs: list[tuple[int, TensorInfo]]
    deps: list[tuple[int, int, TensorInfo]]  # (producer record idx, storage key, tensor read)
    attrs: dict[str, Any]
    dtype: str
    macs: float = 0.0


class Recorder(TorchDispatchMode):
    """TorchDispatchMode recording aten ops; see the module docstring.

    Set ``phase`` ("forward"/"backward"/"optimizer") around each part of a step.
    ``weight_keys`` are storages of parameters, buffers and optimizer state (reported as
    ``OpNode.weights`` instead of ``inputs``). ``dtype_map`` relabels tensor and op dtypes
    (bytes follow the new dtype); ``compute_dtype_map`` relabels the compute dtype of MAC ops
    (kinds in :data:`COMPUTE_KINDS`) only; ``channels_last`` marks every convolution NHWC.
    """

    def _ti(self, t: torch.Tensor) -> TensorInfo:
        """TensorInfo of ``t``: its storage's recorded dtype (:attr:`storage_dtypes`), else :attr:`dtype_map` applied."""
        name = dtype_name(t.dtype)
        stored = self.storage_dtypes.get(storage_key(t)) if self.storage_dtypes else None
        return TensorInfo.of(tuple(t.shape), stored or self.dtype_map.get(name, name))

    def __init__(self, weight_keys: set[int] | None = None, dtype_map: dict[str, str] | None = None,
                 compute_dtype_map: dict[str, str] | None = None, channels_last: bool = False,
                 storage_dtypes: dict[int, str] | None = None) -> None:
        super().__init__()
        self.phase = "forward"
        #: storage key -> recorded dtype of the tensors viewing it, whatever their traced dtype: weight-only
        #: quantized parameters (``int4``), a KV cache kept in ``fp8`` (bytes follow; op dtypes do not)
        self.storage_dtypes: dict[int, str] = dict(storage_dtypes or {})
        self.weight_keys: set[int] = set(weight_keys or ())
        #: tensor dtype name -> recorded dtype name, for every tensor and op (quantized graphs:
        #: ``{"fp16": "int8"}`` records an fp16 trace as int8 tensors, 1 byte per element)
        self.dtype_map: dict[str, str] = dict(dtype_map or {})
        #: op dtype -> recorded compute dtype for MAC ops only (:data:`COMPUTE_KINDS`), tensors
        #: unchanged (TF32: ``{"fp32": "tf32"}``)
        self.compute_dtype_map: dict[str, str] = dict(compute_dtype_map or {})
        #: the model runs in ``torch.channels_last``: every convolution records
        #: ``attrs["channels_last"] = True`` (meta kernels do not always propagate NHWC strides
        #: -- e.g. a strided 1x1 conv returns NCHW on meta -- while cuDNN keeps NHWC throughout)
        self.channels_last = bool(channels_last)
        self.records: list[_Rec] = []
        self.regions: dict[int, Region] = {}
        self.module_stack: list[str] = []
        self.region: Region | None = None
        #: an eager native call in progress (``nn.MultiheadAttention`` fast path): its id, and whether its first
        #: op has been recorded; later ops get ``attrs["issued_by"] = id`` (one host dispatch issues them all)
        self.native_call: str | None = None
        self._native_first_done = False
        self.producer: dict[int, int] = {}
        self.node_owner: dict[int, tuple[str, int | None]] = {}
        self._keep: list[Any] = []
        #: id(parameter) -> owning module path, for gradient accumulation in backward
        self.param_module: dict[int, str] = {}

    # ------------------------------------------------------------------ dispatch
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _META_QUERIES:
            return func(*args, **kwargs)
        # same rule as FlopCounterMode: try the op's decomposition first
        if func not in flop_registry and func is not torch.ops.prim.device.default:
            with self:
                r = func.decompose(*args, **kwargs)
            if r is not NotImplemented:
                return r
        out = func(*args, **kwargs)
        self._record(func, args, kwargs, out)
        return out

    def _owner(self) -> tuple[str, int | None]:
        """(module, region id) of the op being recorded now."""
        if self.phase == "backward":
            node = torch._C._current_autograd_node()
            if node is not None:
                if type(node).__name__ == "AccumulateGrad":
                    # AccumulateGrad nodes carry the leaf tensor they accumulate into (not in torch's Node stub)
                    return self.param_module.get(id(cast(Any, node).variable), ""), None
                return self.node_owner.get(node._sequence_nr(), ("", None))
            return "loss", None  # before the engine runs: seeding the loss gradient
        if self.phase == "optimizer":
            return "optimizer", None
        module = self.module_stack[-1] if self.module_stack else ""
        return module, (self.region.id if self.region is not None else None)

    def _record(self, func, args: tuple, kwargs: dict, out: Any) -> None:
        name = op_name(func)
        outs = flatten_tensors(out)
        # a fill writes its output and reads nothing: the tensor a *_like / new_* op takes gives it only a shape,
        # dtype and device, and zero_ / fill_ overwrite theirs
        ins = [] if name in FILL_OPS else flatten_tensors((args, kwargs))
        if not outs and func._schema.is_mutable:
            # in-place ops returning nothing (e.g. _foreach_add_): outputs are the written args
            outs = flatten_tensors(_written_args(func, args, kwargs))
        if not outs:
            return
        in_keys = [storage_key(t) for t in ins]
        out_keys = [storage_key(t) for t in outs]
        mutable = func._schema.is_mutable
        if name in VIEW_OPS or (not mutable and all(k in in_keys for k in out_keys)):
            # no kernel: outputs alias (or stand for) the first input's memory
            src = self.producer.get(in_keys[0]) if in_keys else None
            for k, t in zip(out_keys, outs):
                if k not in in_keys and src is not None:
                    self.producer[k] = src
                    self._keep.append(t.untyped_storage())
            return
        flops = flop_count(func, args, kwargs, out)
        macs = flops / 2
        module, region = self._owner()
        kind = "optimizer" if self.phase == "optimizer" else kind_of(func)
        attrs = attrs_of(kind, func, args, kwargs, out)
        if kind == "conv" and attrs.get("transposed"):
            kind = "conv_transpose"
        if kind in ("conv", "conv_transpose") and self.channels_last:
            attrs["channels_last"] = True
        if kind in ("conv", "conv_transpose") and flops:
            macs = _conv_macs(func, args, attrs)
        if self.native_call is not None:
            if self._native_first_done:
                attrs["issued_by"] = self.native_call
            self._native_first_done = True
        idx = len(self.records)
        inputs: list[tuple[int, TensorInfo]] = []
        weights: list[tuple[int, TensorInfo]] = []
        deps: list[tuple[int, int, TensorInfo]] = []
        seen: set[tuple[int, tuple[int, ...]]] = set()
        for t, k in zip(ins, in_keys):
            sig = (k, tuple(t.shape))
            if sig in seen:
                continue
            seen.add(sig)
            ti = self._ti(t)
            (weights if k in self.weight_keys else inputs).append((k, ti))
            p = self.producer.get(k)
            if p is not None:
                deps.append((p, k, ti))
        outputs = []
        for t, k in zip(outs, out_keys):
            outputs.append((k, self._ti(t)))
            self.producer[k] = idx
            self._keep.append(t.untyped_storage())
        floats = [t for t in outs + ins if t.is_floating_point()]
        dtype = dtype_name((floats or outs)[0].dtype)
        dtype = self.dtype_map.get(dtype, dtype)
        self.records.append(_Rec(idx, str(func), kind, self.phase, module, region, flops, inputs, weights,
                                 outputs, deps, attrs, dtype, macs))

    # ------------------------------------------------------------------ regions
    def open_region(self, kind: str, attrs: dict[str, Any], source: str, inputs: Any = ()) -> Region | None:
        """Start a fused region unless one is already open (outer region wins)."""
        if self.region is not None or self.phase != "forward":
            return None
        module = self.module_stack[-1] if self.module_stack else ""
        r = Region(len(self.regions), kind, module, attrs, source,
                   inputs=[self._ti(t) for t in flatten_tensors(inputs)])
        self.regions[r.id] = r
        self.region = r
        return r

    def close_region(self, r: Region | None, outputs: Any, stop: int) -> None:
        if r is None:
            return
        self.region = None
        r.outputs = [self._ti(t) for t in flatten_tensors(outputs)]
        self.tag_autograd(outputs, stop, r.module, r.id)

    # ------------------------------------------------------------------ autograd attribution
    @staticmethod
    def autograd_boundary(inputs: Any = None) -> int:
        """Sequence number the next autograd node will get: call it just before a call;
        nodes the call creates are numbered from here on (``inputs`` is unused)."""
        return torch._C._autograd._get_sequence_nr()

    def tag_autograd(self, outputs: Any, start: int, module: str, region: int | None) -> None:
        """Attribute the autograd nodes created since ``start`` (see :meth:`autograd_boundary`)
        and reachable from ``outputs`` to module/region, unless an inner module or region
        already claimed them. Older nodes and leaf accumulators are not visited."""
        if not torch.is_grad_enabled():
            return
        end = torch._C._autograd._get_sequence_nr()
        stack = [t.grad_fn for t in flatten_tensors(outputs) if t.grad_fn is not None]
        owner = self.node_owner
        visited: set[int] = set()
        while stack:
            node = stack.pop()
            if node is None:
                continue
            seq = node._sequence_nr()
            if seq < start or seq >= end or seq in visited:
                continue
            visited.add(seq)
            owner.setdefault(seq, (module, region))
            stack.extend(n for n, _ in node.next_functions if n is not None)

    # ------------------------------------------------------------------ graph
    def build_graph(self, name: str, meta: dict[str, Any]) -> LayerGraph:
        """Merge fused regions and turn the records into a LayerGraph (program order)."""
        groups: list[list[_Rec]] = []
        for r in self.records:
            if (r.region is not None and groups and groups[-1][0].region == r.region
                    and groups[-1][0].phase == r.phase):
                groups[-1].append(r)
            else:
                groups.append([r])
        group_of: dict[int, int] = {}
        for gi, g in enumerate(groups):
            for r in g:
                group_of[r.idx] = gi
        # tensors each group hands to later groups (outputs of merged regions)
        exported: dict[int, dict[tuple[int, tuple[int, ...]], TensorInfo]] = {}
        for gi, g in enumerate(groups):
            for r in g:
                for p, k, ti in r.deps:
                    pg = group_of[p]
                    if pg != gi:
                        exported.setdefault(pg, {})[(k, ti.shape)] = ti
        graph = LayerGraph(name, meta)
        names: list[str] = []
        for gi, g in enumerate(groups):
            op = self._group_op(gi, g, exported.get(gi))
            dep_bytes: dict[str, int] = {}
            seen: set[tuple[int, int, tuple[int, ...]]] = set()
            for r in g:
                for p, k, ti in r.deps:
                    pg = group_of[p]
                    if pg == gi or (pg, k, ti.shape) in seen:
                        continue
                    seen.add((pg, k, ti.shape))
                    dep_bytes[names[pg]] = dep_bytes.get(names[pg], 0) + ti.bytes
            graph.add_op(op, list(dep_bytes), list(dep_bytes.values()))
            names.append(op.name)
        return graph

    def _group_op(self, gi: int, g: list[_Rec], exported: dict | None) -> OpNode:
        first = g[0]
        if len(g) == 1 and first.region is None:
            kind, attrs, aten, module = first.kind, first.attrs, first.aten, first.module
            inputs = [ti for _, ti in first.inputs]
            weights = [ti for _, ti in first.weights]
            outputs = [ti for _, ti in first.outputs]
        else:
            if first.region is None:  # unreachable: only ops of one region are merged (KeyError as before)
                raise KeyError(None)
            region = self.regions[first.region]
            kind, module = region.kind, first.module
            attrs = dict(region.attrs)
            attrs["aten_ops"] = dict(Counter(r.aten for r in g))
            if "issued_by" in first.attrs:  # a fused region inside a native call
                attrs["issued_by"] = first.attrs["issued_by"]
            aten = region.source
            members = {r.idx for r in g}
            weights, wseen = [], set()
            ext: dict[int, TensorInfo] = {}  # external storages read, largest view of each
            for r in g:
                for k, ti in r.weights:
                    if (k, ti.shape) not in wseen:
                        wseen.add((k, ti.shape))
                        weights.append(ti)
                inside = {k for p, k, _ in r.deps if p in members}
                for k, ti in r.inputs:
                    if k not in inside and (k not in ext or ti.bytes > ext[k].bytes):
                        ext[k] = ti
            if first.phase == "forward" and (region.inputs or region.outputs):
                inputs, outputs = list(region.inputs), list(region.outputs)
            else:
                inputs = list(ext.values())
                outputs = _largest_view_each(exported) if exported else [ti for _, ti in g[-1].outputs]
        flops = float(sum(r.flops for r in g))
        dtype = first.dtype
        if len(g) > 1 or first.region is not None:
            # a fused region computes in the dtype it produces (attention: that of query/key/value;
            # an autocast RNN: the autocast dtype), not in that of its first internal op (the
            # CPU/meta math decomposition of attention upcasts to fp32)
            # (backward: the incoming gradient's dtype; its outputs may already be cast back to fp32)
            order = outputs + inputs if first.phase == "forward" else inputs + outputs
            floats = _FLOAT_DTYPES | set(self.dtype_map.values())
            dtype = next((ti.dtype for ti in order if ti.dtype in floats), dtype)
        if kind in COMPUTE_KINDS:
            dtype = self.compute_dtype_map.get(dtype, dtype)
        return OpNode(
            name=f"{module or '<root>'}/{kind}#{gi}",
            kind=kind,
            inputs=inputs,
            outputs=outputs,
            weights=weights,
            flops=flops,
            macs=float(sum(r.macs for r in g)),
            dtype=dtype,
            phase=first.phase,
            module=module,
            aten=aten,
            attrs=attrs,
        )


def _largest_view_each(exported: dict[tuple[int, tuple[int, ...]], TensorInfo]) -> list[TensorInfo]:
    """The tensors a merged group hands on, one per storage (its largest view): later ops reading a gradient and
    its transpose read one tensor the group wrote once."""
    best: dict[int, TensorInfo] = {}
    for (k, _), ti in exported.items():
        if k not in best or ti.bytes > best[k].bytes:
            best[k] = ti
    return list(best.values())


#: op kinds whose compute dtype TF32 (``allow_tf32``) changes: matmul, cuDNN convolution/RNN, attention
COMPUTE_KINDS = frozenset({"matmul", "conv", "conv_transpose", "attention", "rnn"})

#: floating dtype names a fused region may compute in
_FLOAT_DTYPES = frozenset(name for dt, name in TORCH_DTYPES.items() if dt.is_floating_point)


# ---------------------------------------------------------------------- hooks and patches
_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _rnn_attrs(mod: torch.nn.RNNBase, args: tuple) -> dict[str, Any]:
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        seq, batch = (x.shape[1], x.shape[0]) if mod.batch_first else (x.shape[0], x.shape[1])
    elif isinstance(x, torch.Tensor) and x.dim() == 2:
        seq, batch = x.shape[0], 1
    else:  # packed sequence
        seq, batch = 0, 0
    return {
        "cell": type(mod).__name__, "seq": int(seq), "batch": int(batch), "input": int(mod.input_size),
        "hidden": int(mod.hidden_size), "layers": int(mod.num_layers), "gates": _RNN_GATES[type(mod).__name__],
        "bidirectional": bool(mod.bidirectional),
    }


def _mha_fast_path(m: torch.nn.Module, args: tuple) -> bool:
    """Whether eager PyTorch on a GPU/CPU runs this ``nn.MultiheadAttention`` call as one native op
    (``torch._native_multi_head_attention``: in_proj, attention and out_proj issued by a single host call).

    The conditions of ``MultiheadAttention.forward``'s fast path (torch/nn/modules/activation.py): eval
    mode without grad, batched self-attention (query is key is value) with ``batch_first``, packed in_proj
    with a bias, no bias_k / zero-attn, an even head count, no autocast, the fast path enabled. On meta
    tensors the real module takes the slow path (its device check), so the recorder sees its ops one by
    one; they are tagged so the host issues them as the one call they are on a real device.
    """
    if not isinstance(m, torch.nn.MultiheadAttention) or len(args) < 3:
        return False
    q, k, v = args[0], args[1], args[2]
    return (not m.training and not torch.is_grad_enabled() and m.batch_first and q is k and k is v
            and getattr(q, "dim", lambda: 0)() == 3 and m._qkv_same_embed_dim and m.in_proj_bias is not None
            and m.bias_k is None and not m.add_zero_attn and m.num_heads % 2 == 0
            and not torch.is_autocast_enabled() and torch.backends.mha.get_fastpath_enabled())


@contextmanager
def module_hooks(rec: Recorder, model: torch.nn.Module) -> Iterator[None]:
    """Maintain ``rec.module_stack`` and autograd attribution for every submodule of ``model``."""
    handles = []
    boundaries: dict[int, list[int]] = {}
    rnn_regions: dict[int, list[Region | None]] = {}

    for name, mod in model.named_modules():
        for p in mod.parameters(recurse=False):
            rec.param_module.setdefault(id(p), name)
        is_rnn = type(mod).__name__ in _RNN_GATES and isinstance(mod, torch.nn.RNNBase)

        def pre(m, args, kwargs, _name=name, _rnn=is_rnn):
            rec.module_stack.append(_name)
            if rec.native_call is None and _mha_fast_path(m, args):
                rec.native_call, rec._native_first_done = f"{_name}:native_mha", False
            boundaries.setdefault(id(m), []).append(rec.autograd_boundary())
            if _rnn:
                rnn_regions.setdefault(id(m), []).append(
                    rec.open_region("rnn", _rnn_attrs(m, args), f"torch.nn.{type(m).__name__}", args))

        def post(m, args, kwargs, output, _name=name, _rnn=is_rnn):
            if rec.module_stack and rec.module_stack[-1] == _name:
                rec.module_stack.pop()
            if rec.native_call == f"{_name}:native_mha":
                rec.native_call = None
            bnd = boundaries[id(m)].pop() if boundaries.get(id(m)) else rec.autograd_boundary()
            if _rnn:
                rec.close_region(rnn_regions[id(m)].pop(), output, bnd)
            rec.tag_autograd(output, bnd, _name, None)

        handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(mod.register_forward_hook(post, with_kwargs=True, always_call=True))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def attention_regions(rec: Recorder) -> Iterator[None]:
    """Group each ``F.scaled_dot_product_attention`` call into one ``attention`` node.

    Patches ``torch.nn.functional.scaled_dot_product_attention`` for the duration (used by
    HF transformers' sdpa attention and by ``nn.MultiheadAttention``); restored on exit.
    """
    orig = F.scaled_dot_product_attention

    def sdpa(*args: Any, **kwargs: Any) -> torch.Tensor:
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal")
        a = dict(zip(names, args))
        a.update(kwargs)
        q, k = a.get("query"), a.get("key")
        attrs: dict[str, Any] = {"causal": bool(a.get("is_causal", False)),
                                 "masked": a.get("attn_mask") is not None}
        if isinstance(q, torch.Tensor) and q.dim() == 4 and isinstance(k, torch.Tensor):
            attrs.update(batch=int(q.shape[0]), heads=int(q.shape[1]), Lq=int(q.shape[2]), Lk=int(k.shape[2]),
                         d=int(q.shape[3]), kv_heads=int(k.shape[1]), dv=int(a["value"].shape[3]))
        # a KV cache (a buffer) is read as the op's weights, not counted again as an input
        qkvm = [t for t in (a.get(n) for n in ("query", "key", "value", "attn_mask"))
                if not (isinstance(t, torch.Tensor) and storage_key(t) in rec.weight_keys)]
        stop = rec.autograd_boundary()
        r = rec.open_region("attention", attrs, "torch.nn.functional.scaled_dot_product_attention", qkvm)
        out = None
        try:
            out = orig(*args, **kwargs)
            return out
        finally:
            rec.close_region(r, out, stop)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = orig


#: the recorder that :func:`fused_kernel` reports to (set by :func:`fused_kernel_regions`), or None
_FUSED_RECORDER: list[Recorder] = []


@contextmanager
def fused_kernel_regions(rec: Recorder) -> Iterator[None]:
    """Let :func:`fused_kernel` calls made while ``rec`` records group their aten ops into one node."""
    _FUSED_RECORDER.append(rec)
    try:
        yield
    finally:
        _FUSED_RECORDER.pop()


def fused_kernel(kind: str, fn: Callable[..., Any], *args: Any, attrs: dict[str, Any] | None = None) -> Any:
    """``fn(*args)``, recorded as ONE node of ``kind`` when a recorder is active (:func:`fused_kernel_regions`).

    For the fused kernels serving engines run where eager PyTorch issues several ops (vLLM/TensorRT-LLM's
    RMSNorm, rotary embedding of q and k together, SiLU-and-multiply): the node's inputs are ``args``' tensors
    (parameters and buffers are its weights), its outputs ``fn``'s, its FLOPs the sum of the aten ops' (0 for
    elementwise work, as everywhere).
    Outside a recording, or inside another region, it is just ``fn(*args)``.
    """
    rec = _FUSED_RECORDER[-1] if _FUSED_RECORDER else None
    if rec is None:
        return fn(*args)
    stop = rec.autograd_boundary()
    acts = [a for a in args if not (isinstance(a, torch.Tensor) and storage_key(a) in rec.weight_keys)]
    r = rec.open_region(kind, dict(attrs or {}), f"fused_kernel:{getattr(fn, '__name__', kind)}", acts)
    out = None
    try:
        out = fn(*args)
        return out
    finally:
        rec.close_region(r, out, stop)
