"""Eager host dispatch: the host thread's time to issue each graph op to an accelerator.

Eager PyTorch issues ops from one host thread. Its time per op is a property of the host CPU and
the framework, not of the accelerator, so it lives in the host CPU arch
(``host_runtime.dispatch``, :class:`accel.arch.cpu.HostDispatch`)::

    t_issue(op) = dispatch.classes.get(dispatch_class(op), dispatch.kernel_launch) + dispatch.framework

The device runs an op when it has been issued and the device is free (:mod:`accel.sim.engine`):
long kernels hide host time, short ones leave the device waiting (host-bound batch-1 inference).

Ops that an earlier op's native call launches (``attrs["issued_by"]``: the ``nn.MultiheadAttention``
fast path) cost no issue time of their own (:func:`issued_by_call`).

A host without its own ``dispatch`` takes :data:`accel.sim.system.DEFAULT_HOST`'s, scaled by
single-core clock: ``t = t_default * reference_clock / turbo_clock`` (same framework, the same
instructions at another clock; microarchitecture differences are not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from accel.arch.base import DeviceSpec
from accel.arch.cpu import DISPATCH_CLASSES, CpuSpec, HostDispatch
from accel.errors import ConfigError
from accel.graph import OpNode

if TYPE_CHECKING:
    from accel.devices.base import CostModel

#: op kind -> dispatch class (:data:`accel.arch.cpu.DISPATCH_CLASSES`); kinds not listed: ``elementwise``
_CLASS_OF_KIND: dict[str, str] = {
    "matmul": "library", "conv": "library", "conv_transpose": "library", "attention": "library", "rnn": "library",
    "norm": "norm",
    "reduce": "reduction", "pool": "reduction", "softmax": "reduction", "loss": "reduction",
    "data_movement": "copy", "embedding": "copy",
}
assert set(_CLASS_OF_KIND.values()) <= set(DISPATCH_CLASSES)


def dispatch_class(op: OpNode) -> str:
    """Dispatch class of ``op``: ``library`` (cuBLAS/cuDNN calls: matmul, conv, attention, rnn), ``norm``,
    ``reduction`` (reduce, pool, softmax, loss), ``copy`` (data movement, embedding gathers), else
    ``elementwise``."""
    return _CLASS_OF_KIND.get(op.kind, "elementwise")


def issued_by_call(op: OpNode) -> bool:
    """Whether ``op`` is launched from inside a native call that an earlier op's dispatch issued
    (``attrs["issued_by"]``, set by the recorder for the ``nn.MultiheadAttention`` fast path: in_proj,
    attention and out_proj run under one ``torch._native_multi_head_attention`` call). Such ops cost no
    host issue time of their own: their kernel launches happen in the native call's C++ code, which the
    first op's dispatch stands for (their few microseconds of C++ launch each are not modelled)."""
    return "issued_by" in op.attrs


def default_host() -> CpuSpec:
    """The host CPU arch used when a system names none (:data:`accel.sim.system.DEFAULT_HOST`)."""
    from accel.arch import load_arch
    from accel.sim.system import DEFAULT_HOST

    return as_host(load_arch(DEFAULT_HOST))


def as_host(spec: DeviceSpec) -> CpuSpec:
    """``spec`` as a host CPU spec; ConfigError naming its file when it is another kind."""
    if not isinstance(spec, CpuSpec):
        raise ConfigError(spec.origin or spec.name, "kind",
                          f"a host must be a CPU arch (kind: cpu); {spec.name!r} is kind {spec.kind!r}")
    return spec


def host_dispatch(host: DeviceSpec | None = None) -> tuple[HostDispatch, str]:
    """The dispatch model of host CPU spec ``host`` (default :func:`default_host`) and how it was obtained
    (``""``: the host's own).

    Its own ``host_runtime.dispatch`` if present; else the default host's scaled by
    ``reference_clock / host.turbo_clock``. Raises ConfigError when neither is possible.
    """
    cpu = default_host() if host is None else as_host(host)
    own = _own(cpu)
    if own is not None:
        return own, ""
    ref = default_host()
    base = _own(ref)
    if base is None or base.reference_clock is None:
        raise ConfigError(ref.origin or ref.name, "host_runtime.dispatch.reference_clock",
                          "the default host needs a dispatch model with its reference_clock")
    clock = cpu.turbo_clock
    factor = float(base.reference_clock) / float(clock)
    how = (f"dispatch of {ref.name} scaled by its clock / this host's ({base.reference_clock / 1e9:.3g} / "
           f"{clock / 1e9:.3g} GHz = x{factor:.3g})")
    return base.scaled(factor), how


def _own(host: CpuSpec) -> HostDispatch | None:
    """The host's own ``host_runtime.dispatch``, or None."""
    return host.host_runtime.dispatch if host.host_runtime is not None else None


class EagerIssue:
    """Per-op host issue time of one host driving accelerators eagerly (cached per op class)."""

    def __init__(self, dispatch: HostDispatch):
        self.dispatch = dispatch
        self._by_class = {c: dispatch.issue_time(c) for c in DISPATCH_CLASSES}

    def time(self, op: OpNode) -> float:
        """Host issue time of ``op`` (s); 0 for an op issued by a preceding native call (:func:`issued_by_call`)."""
        if issued_by_call(op):
            return 0.0
        return self._by_class[dispatch_class(op)]

    @property
    def typical(self) -> float:
        """Issue time of an elementwise op (s): the one-number summary (``kernel_launch + framework``)."""
        return self._by_class["elementwise"]


@dataclass(frozen=True)
class IssueRule:
    """How the host issues one device's ops: ``time(op)`` per compute op, ``typical`` (s) for copies and
    collectives, and ``note`` (how the host's dispatch was obtained; ``""``: its own or not eager)."""

    time: Callable[[OpNode], float]
    typical: float
    note: str = ""
    #: host synchronisation on a drained device (s; :attr:`accel.arch.cpu.HostDispatch.sync`), 0 when not eager
    sync: float = 0.0

    def host_paced_s(self, op: OpNode) -> float:
        """Device idle time (s) that ``op`` adds by following host synchronisations: ``attrs["host_syncs"]`` syncs
        (each drains the device's queue, then the device waits ``sync``) and ``attrs["host_paced_ops"]`` ops the host
        then issues to the empty queue, ``op`` among them, each at the ``typical`` issue time (their kernels are
        shorter than their issue, so the device runs at the host's pace until the next long kernel)."""
        syncs, paced = op.attrs.get("host_syncs", 0), op.attrs.get("host_paced_ops", 0)
        return float(syncs) * self.sync + float(paced) * self.typical if syncs or paced else 0.0


def issue_rule(model: CostModel, host: DeviceSpec | None = None) -> IssueRule:
    """The host issue rule of a device's cost model ``model``, eagerly driven: the host CPU's dispatch (``host``
    spec, default :data:`accel.sim.system.DEFAULT_HOST`) for ``eager_host_dispatch`` devices (GPUs), else the
    device's own ``launch_overhead_s`` for every op. The one rule the simulator and the DSE share."""
    if model.eager_host_dispatch:
        dispatch, note = host_dispatch(host)
        eager = EagerIssue(dispatch)
        return IssueRule(eager.time, eager.typical, note, float(dispatch.sync))
    lo = float(model.launch_overhead_s)
    return IssueRule(lambda op: lo, lo)


def issue_time_of(model: CostModel, host: DeviceSpec | None = None) -> Callable[[OpNode], float]:
    """Host issue time per op (s) of ``model`` driven by ``host`` (:func:`issue_rule`)."""
    return issue_rule(model, host).time
