"""A toy device kind + cost model for simulator tests (no dependence on the GPU model).

Other ``test_sim*`` / ``test_system*`` files import from here. Cost: time =
max(flops / peak, bytes / bandwidth) + fixed; energy = flops * e_flop + bytes * e_byte.
"""

from __future__ import annotations

from accel.arch.base import Bandwidth, ComputeSpec, Size, Throughput, Time
from accel.arch.registry import register_kind
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.graph import LayerGraph, OpNode, TensorInfo


def _define():
    """Register the toy kind once (this module may be imported under two names)."""
    from accel.arch.registry import schema_for
    from accel.devices.base import _MODELS

    try:
        spec_cls = schema_for("_simtoy")
        return spec_cls, _MODELS["_simtoy"]
    except KeyError:
        pass

    @register_kind("_simtoy")
    class SimToySpec(ComputeSpec):
        peak: Throughput
        bandwidth: Bandwidth
        fixed: Time = 0.0
        launch_overhead: Time = 0.0
        graph_launch_overhead: Time | None = None
        hbm_size: Size | None = None

        @property
        def memory_capacity(self) -> float | None:  # the capability interface (accel.arch.base.DeviceSpec)
            return self.hbm_size


    @register_cost_model("_simtoy")
    class SimToyModel(CostModel):
        @property
        def launch_overhead_s(self) -> float:  # its own launch path (accel.devices.base.CostModel)
            return float(self.spec.launch_overhead)

        @property
        def graph_launch_overhead_s(self) -> float | None:
            g = self.spec.graph_launch_overhead
            return None if g is None else float(g)

        def cost(self, op: OpNode) -> OpCost:
            s = self.spec
            nbytes = op.total_bytes
            tc, tm = op.flops / s.peak, nbytes / s.bandwidth
            t = max(tc, tm) + s.fixed
            e_flop = s.energy.per_flop.get(op.dtype, 0.0)
            e_byte = s.energy.per_byte.get("dram", 0.0)
            e = op.flops * e_flop + nbytes * e_byte
            return OpCost(time_s=t, cycles=t * 1e9, flops=op.flops, bytes_by_level={"dram": nbytes}, energy_j=e,
                          energy_by_component={"compute": op.flops * e_flop, "dram": nbytes * e_byte},
                          bound="compute" if tc >= tm else "memory", utilization=tc / t if t else 0.0)

    return SimToySpec, SimToyModel


SimToySpec, SimToyModel = _define()


def toy_spec(**kw) -> SimToySpec:
    """A 100 TFLOP/s, 1 TB/s toy device (override any field)."""
    d = {"kind": "_simtoy", "name": "toy", "peak": "100 TFLOP/s", "bandwidth": "1 TB/s"}
    d.update(kw)
    from accel.arch.loader import validate_arch_dict
    return validate_arch_dict(d, "<toy>")


def chain_graph(n_layers: int = 4, batch: int = 8, width: int = 1024, train: bool = False, dtype: str = "fp32") -> LayerGraph:
    """An MLP-like chain: per layer a matmul (weights) then a relu; optional backward+SGD."""
    g = LayerGraph("chain", {"batch": batch, "mode": "train" if train else "infer", "dtype": dtype})
    prev: list[str] = []
    act = TensorInfo.of((batch, width), dtype)
    w = TensorInfo.of((width, width), dtype)
    for i in range(n_layers):
        mm = OpNode(f"l{i}.fc/mm", "matmul", [act], [act], [w], flops=2.0 * batch * width * width,
                    macs=1.0 * batch * width * width, dtype=dtype, module=f"l{i}.fc",
                    attrs={"M": batch, "N": width, "K": width, "batch": 1})
        g.add_op(mm, prev, [act.bytes] * len(prev))
        r = OpNode(f"l{i}.act/relu", "elementwise", [act], [act], flops=batch * width, dtype=dtype, module=f"l{i}.act")
        g.add_op(r, [mm.name], [act.bytes])
        prev = [r.name]
    if train:
        loss = OpNode("loss", "loss", [act], [TensorInfo.of((1,), dtype)], flops=batch * width, dtype=dtype)
        g.add_op(loss, prev, [act.bytes])
        prev = ["loss"]
        for i in reversed(range(n_layers)):
            r = OpNode(f"l{i}.act/relu_bwd", "elementwise", [act, act], [act], flops=batch * width, dtype=dtype,
                       phase="backward", module=f"l{i}.act")
            g.add_op(r, prev, [act.bytes] * len(prev))
            dgrad = OpNode(f"l{i}.fc/mm_dgrad", "matmul", [act], [act], [w], flops=2.0 * batch * width * width,
                           macs=1.0 * batch * width * width, dtype=dtype, phase="backward", module=f"l{i}.fc",
                           attrs={"M": batch, "N": width, "K": width, "batch": 1})
            wgrad = OpNode(f"l{i}.fc/mm_wgrad", "matmul", [act, act], [w], [w], flops=2.0 * batch * width * width,
                           macs=1.0 * batch * width * width, dtype=dtype, phase="backward", module=f"l{i}.fc",
                           attrs={"M": width, "N": width, "K": batch, "batch": 1})
            g.add_op(dgrad, [r.name], [act.bytes])
            g.add_op(wgrad, [r.name], [act.bytes])
            prev = [dgrad.name]
        for i in range(n_layers):
            g.add_op(OpNode(f"l{i}.fc/sgd", "optimizer", [w, w], [w], [w], flops=3.0 * width * width, dtype=dtype,
                            phase="optimizer", module=f"l{i}.fc"), [f"l{i}.fc/mm_wgrad"], [w.bytes])
    return g


def test_toy_cost_model_is_roofline():
    spec = toy_spec()
    from accel.devices import cost_model_for
    op = chain_graph(1).op("l0.fc/mm")
    c = cost_model_for(spec).cost(op)
    assert c.time_s == max(op.flops / 100e12, op.total_bytes / 1e12)
