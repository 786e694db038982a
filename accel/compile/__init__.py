"""Device compilers as graph passes: what a device's software stack does to the graph before it runs.

Two modes (:data:`COMPILE_MODES`):

* ``eager``: the graph as recorded, one kernel per op. This is what GPUs and CPUs run under eager
  PyTorch, and what their measurements (and calibration) are: their default.
* ``fused``: an inference compiler's passes (:data:`PASSES`, :mod:`accel.compile.passes`): batch norms
  folded into the conv/matmul before them, elementwise/activation/pooling ops run as the MAC op's
  epilogue (bias, ReLU/GELU, residual add), and the remaining elementwise chains merged into one
  streaming op. The default of devices whose toolchain compiles the whole graph (TPU-style systolic
  arrays, FPGA designs, DSPs): ``CostModel.default_compile``.

Which is used is decided in one place, :func:`resolve_compile`: an explicit ``compile=`` (``accel simulate
--compile``, a sweep's ``sim_options.compile``) wins, else the devices' common default. ``fused`` is an
inference transformation (batch norm folds with running statistics; a training step keeps every forward
activation for backward), so a training graph (any backward or optimizer op) runs ``eager`` by default and
an explicit ``fused`` on one is refused with a one-line error.

How this relates to a device's ``fused_kinds`` (systolic and FPGA specs): ``fused_kinds`` is hardware,
the op kinds the datapath applies for free to the array's outputs (TPU v1's activation pipeline:
activation and pooling). The compile pass decides the grouping (which ops ride on which MAC op, which
tensors stay on chip); the cost model then prices a fused node's epilogue, leaving out the kinds in
``fused_kinds`` (:func:`accel.compile.fused.is_free`, :func:`accel.compile.fused.vector_elements`). Under
``eager`` a stand-alone op of a ``fused_kinds`` kind stays free, as before.

    from accel.compile import compile_graph
    fused = compile_graph(graph, "fused")   # a new LayerGraph; ``graph`` is not modified
"""

from __future__ import annotations

from typing import Callable, Iterable

from accel.compile.passes import fold_batch_norm, fuse_elementwise_chains, fuse_epilogues, is_batch_norm
from accel.errors import ConfigError, did_you_mean
from accel.graph import LayerGraph

#: compile modes, in ``--compile`` order
COMPILE_MODES: tuple[str, ...] = ("eager", "fused")
#: mode -> passes applied in order
PASSES: dict[str, tuple[Callable[[LayerGraph], LayerGraph], ...]] = {
    "eager": (),
    "fused": (fold_batch_norm, fuse_epilogues, fuse_elementwise_chains),
}
assert tuple(PASSES) == COMPILE_MODES

__all__ = ["COMPILE_MODES", "PASSES", "check_mode", "compile_graph", "resolve_compile", "is_training", "compile_note",
           "fold_batch_norm", "fuse_epilogues", "fuse_elementwise_chains", "is_batch_norm"]


def check_mode(mode: object, where: str = "<simulate>", field: str = "compile") -> str:
    """``mode`` if it is a compile mode, else a one-line ConfigError listing them."""
    if not isinstance(mode, str) or mode not in COMPILE_MODES:
        hint = did_you_mean(mode, COMPILE_MODES) if isinstance(mode, str) else ""
        raise ConfigError(where, field, f"{mode!r} is not a compile mode{hint}; allowed: {', '.join(COMPILE_MODES)}")
    return mode


def is_training(graph: LayerGraph) -> bool:
    """The graph is a training step (it has backward or optimizer ops)."""
    return any(o.phase != "forward" for o in graph)


def resolve_compile(requested: str | None, defaults: Iterable[str], training: bool, where: str = "<simulate>",
                    field: str = "compile", compiled: str | None = None) -> str:
    """The compile mode of a run: ``requested`` if given, else the mode a graph was already ``compiled`` in
    (its ``meta["compile"]``), else the devices' ``default_compile`` (which must agree); ``eager`` for a
    training graph, which refuses an explicit ``fused``. Errors read ``<where>: <field>: reason``."""
    if requested is not None:
        check_mode(requested, where, field)
    elif compiled is not None:
        requested = check_mode(compiled, where, "meta.compile")
    if training:
        if requested == "fused":
            raise ConfigError(where, field, "'fused' compiles inference graphs (batch norm folded with running "
                                                "statistics, activations not kept for backward); this graph is a "
                                                "training step: use compile 'eager'")
        return "eager"
    if requested is not None:
        return requested
    modes = sorted({check_mode(d, where, "default_compile") for d in defaults})
    if len(modes) > 1:
        raise ConfigError(where, field, f"the devices default to different compile modes ({', '.join(modes)}); "
                                            f"choose one: {', '.join(COMPILE_MODES)}")
    return modes[0] if modes else "eager"


def compile_graph(graph: LayerGraph, mode: str) -> LayerGraph:
    """``graph`` after ``mode``'s passes (:data:`PASSES`): the same object for ``eager`` (and for a graph
    already compiled in ``mode``), else a new graph with ``meta["compile"] = mode`` and
    ``meta["ops_before_compile"]``. The result passes :meth:`LayerGraph.validate`."""
    check_mode(mode)
    done = graph.meta.get("compile")
    if done == mode or (mode == "eager" and done is None):
        return graph
    where = graph.name or "<graph>"
    if done is not None:
        raise ConfigError(where, "meta.compile", f"the graph was already compiled {done!r}; it cannot be run {mode!r} "
                                                 "(compile the recorded graph instead)")
    if is_training(graph):
        resolve_compile(mode, (), training=True, where=where)  # raises
    out = graph
    for p in PASSES[mode]:
        out = p(out)
    if out is graph:  # nothing to fuse: still a distinct, marked graph
        out = LayerGraph(graph.name, dict(graph.meta))
        out.graph = graph.graph.copy()
    out.meta = {**graph.meta, "compile": mode, "ops_before_compile": len(graph)}
    return out


def compile_note(before: LayerGraph, after: LayerGraph, mode: str, defaulted: bool) -> str:
    """One line for reports: ``compile: fused (device default): 174 -> 73 ops (53 batch norms folded, ...)``."""
    src = "device default" if defaulted else "--compile"
    if mode == "eager":
        return f"compile: eager ({src}): {len(before)} ops as recorded"
    folded = epi = chain = 0
    for o in after:
        for m in o.attrs.get("fused") or ():
            role = m.get("role")
            folded += role == "folded"
            epi += role == "epilogue"
            chain += role == "chain"
    return (f"compile: fused ({src}): {len(before)} -> {len(after)} ops ({folded} batch norms folded, {epi} ops fused "
            f"into MAC epilogues, {chain} into elementwise chains)")
