"""SimPy system simulator: schedule a LayerGraph onto a System of devices and links.

Public API::

    from accel.sim import simulate, ParallelConfig
    res = simulate(graph, "h100", cuda_graphs=False, include_host_transfers=False,
                   parallel=ParallelConfig(mode="data", devices=8))
    res.latency_s, res.throughput, res.energy_j, res.per_layer("module"), res.to_chrome_trace("t.json")
"""

from accel.sim.parallelism import ParallelConfig
from accel.sim.result import OpRecord, RunInfo, SimResult
from accel.sim.simulate import MemoryFitWarning, simulate
from accel.sim.system import DEFAULT_HOST_LINK, DeviceInstance, System, resolve_system

__all__ = ["simulate", "MemoryFitWarning", "ParallelConfig", "SimResult", "RunInfo", "OpRecord", "System", "DeviceInstance",
           "resolve_system", "DEFAULT_HOST_LINK"]
