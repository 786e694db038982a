"""Cost-model interface: "what does this op cost on this device?".

One model per device kind (``gpu``, ``cpu``, ``systolic``, ``fpga``, ``dsp``), each a
subclass of :class:`CostModel` registered with :func:`register_cost_model`. Models are
analytical and fast (the simulator calls them once per op), and take every calibration
constant from the device's YAML spec, never from code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from accel.arch.base import DeviceSpec
from accel.devices.roofs import Roofs
from accel.errors import ConfigError
from accel.graph import OpNode


@dataclass
class OpCost:
    """Cost of one op execution on one device.

    Attributes:
        time_s: device busy time for the op, excluding host launch overhead (s).
        cycles: time in device clock cycles.
        flops: FLOPs executed (may exceed the op's FLOPs with padding/quantisation waste).
        bytes_by_level: bytes moved per memory level, e.g. {"dram": .., "l2": .., "sram": ..} (B).
        energy_j: dynamic energy of the op (J); static/idle power is added by the simulator.
        energy_by_component: energy split, e.g. {"compute": .., "dram": .., "l2": ..} (J).
        bound: what limits it: "compute", "memory", "latency" (fixed overheads) or "launch".
        utilization: achieved FLOP/s over the device's peak for this dtype (0..1).
        detail: model-specific numbers for reports (tile counts, waves, stalls...).
    """

    time_s: float
    cycles: float
    flops: float = 0.0
    bytes_by_level: dict[str, float] = field(default_factory=dict)
    energy_j: float = 0.0
    energy_by_component: dict[str, float] = field(default_factory=dict)
    bound: str = "compute"
    utilization: float = 0.0
    detail: dict[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.time_s >= 0) or not (self.cycles >= 0):
            raise ValueError(f"OpCost with negative or NaN time/cycles: {self.time_s}, {self.cycles}")


class CostModel(ABC):
    """Base class of per-kind cost models. ``cost(op)`` must be pure and fast (µs)."""

    KIND: ClassVar[str] = ""

    def __init__(self, spec: DeviceSpec):
        self.spec = spec

    @abstractmethod
    def cost(self, op: OpNode) -> OpCost:
        """Return the cost of one execution of ``op``; raise UnknownOpError for unsupported kinds."""

    #: ops are issued by an eager framework on the host CPU (GPUs): the simulator takes their issue time
    #: from the host's ``host_runtime.dispatch`` (:mod:`accel.sim.host`) instead of ``launch_overhead_s``
    eager_host_dispatch: bool = False

    #: how the device's software stack runs an inference graph by default (:mod:`accel.compile`):
    #: ``"eager"``, one kernel per recorded op (GPUs and CPUs under eager PyTorch: what their measurements
    #: are), or ``"fused"``, a graph compiler's batch-norm folding and epilogue/elementwise fusion
    #: (systolic arrays, FPGA designs, DSPs). ``simulate(compile=...)`` / ``--compile`` override it.
    default_compile: ClassVar[str] = "eager"

    def peak_macs_per_s(self) -> float | None:
        """Peak multiply-accumulates per second of the device's MAC array, for its MAC-array utilisation
        (useful MACs / (peak x latency), :attr:`accel.sim.SimResult.mac_utilization`); None where the
        model has no single array peak (GPUs and CPUs: it depends on dtype and kernel path)."""
        return None

    @property
    def launch_overhead_s(self) -> float:
        """Host-side time to issue one op through the device's own driver (s): 0 here (no host launch path);
        kinds with one return their spec's ``launch_overhead``. Not used for ``eager_host_dispatch`` devices."""
        return 0.0

    @property
    def graph_launch_overhead_s(self) -> float | None:
        """Per-kernel launch cost inside a CUDA-graph replay (s), or None: the device has no graph launch path."""
        return None

    def roofs(self) -> Roofs:
        """The device's roofline ceilings (``accel plot roofline``): peak FLOP/s per dtype with how each is
        derived, memory bandwidths, and the model's own compute ceiling where it differs from the peak
        (:meth:`Roofs.add_model_ceiling`). Kinds that have a roofline override this; the default raises
        a one-line ConfigError naming the kind."""
        raise no_roofs_error(self.spec)

    @property
    def static_power_w(self) -> float:
        """Power drawn while powered, whether busy or not (W): the one rule every caller uses (simulator static
        energy, sweeps, validation, the GPU power cap): ``energy.static_power`` if set (> 0), else ``idle_power``,
        else 0."""
        return float(self.spec.static_power)


_MODELS: dict[str, type[CostModel]] = {}


def register_cost_model(kind: str) -> Callable[[type[CostModel]], type[CostModel]]:
    """Class decorator: register the cost model for arch ``kind``."""

    def deco(cls: type[CostModel]) -> type[CostModel]:
        cls.KIND = kind
        _MODELS[kind] = cls
        return cls

    return deco


def _register_bundled() -> None:
    """Import every bundled cost model module (registering its kind), so that lists of kinds are complete."""
    import importlib
    import pkgutil

    import accel.devices as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name not in ("base", "roofs"):
            try:
                importlib.import_module(f"accel.devices.{m.name}")
            except ImportError:
                pass


def no_roofs_error(spec: DeviceSpec) -> ConfigError:
    """The one-line ConfigError for a spec whose kind has no roofline ceilings, naming the kinds that have them."""
    _register_bundled()
    kinds = sorted(k for k, cls in _MODELS.items() if not k.startswith("_") and cls.roofs is not CostModel.roofs)
    return ConfigError(spec.origin or spec.name, "kind", f"no roofline ceilings known for device kind {spec.kind!r} "
                       f"(supported: {', '.join([*kinds, 'system'])})")


def cost_model_for(spec: DeviceSpec) -> CostModel:
    """Instantiate the registered cost model for ``spec.kind``."""
    import importlib

    if spec.kind not in _MODELS:
        try:
            importlib.import_module(f"accel.devices.{spec.kind}")
        except ModuleNotFoundError:
            pass
    try:
        cls = _MODELS[spec.kind]
    except KeyError:
        from accel.errors import UnknownKindError

        _register_bundled()  # to list every bundled kind
        hint = " (a system holds several devices: give a device arch, e.g. h100)" if spec.kind == "system" else ""
        raise UnknownKindError(getattr(spec, "origin", "") or getattr(spec, "name", None), "kind",
                               f"no cost model for arch kind {spec.kind!r}{hint}; device kinds: "
                               f"{', '.join(sorted(k for k in _MODELS if not k.startswith('_')))}") from None
    return cls(spec)
