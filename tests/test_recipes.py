"""The four extension recipes of ARCHITECTURE.md, each followed touching only the files the recipe names."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCHEMA = '''
from accel.arch.base import ComputeSpec, Throughput, Bandwidth, Power, Size, Time
from accel.arch.registry import register_kind


@register_kind("recipetoy")
class RecipeToySpec(ComputeSpec):
    """A roofline device: peak FLOP/s and memory bandwidth."""

    peak: Throughput
    bandwidth: Bandwidth
    idle_power: Power
    launch_overhead: Time
    memory: Size

    @property
    def memory_capacity(self):
        return self.memory
'''

MODEL = '''
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.errors import UnknownOpError


@register_cost_model("recipetoy")
class RecipeToyModel(CostModel):
    @property
    def launch_overhead_s(self):
        return self.spec.launch_overhead

    def cost(self, op):
        if op.kind not in ("matmul", "elementwise", "activation"):
            raise UnknownOpError(op.kind, self.spec.name, ["matmul", "elementwise", "activation"])
        tc, tm = op.flops / self.spec.peak, op.total_bytes / self.spec.bandwidth
        t = max(tc, tm)
        return OpCost(time_s=t, cycles=t * 1e9, flops=op.flops, bytes_by_level={"dram": op.total_bytes},
                      energy_j=0.0, bound="compute" if tc >= tm else "memory", utilization=tc / t if t else 0.0)
'''

YAML = '''
kind: recipetoy
name: Recipe toy accelerator
peak: 10 TFLOP/s
bandwidth: 100 GB/s
idle_power: 5 W
launch_overhead: 2 us
memory: 1 GiB
sources:
  peak: "test value"
  bandwidth: "test value"
  idle_power: "test value"
  launch_overhead: "test value"
  memory: "test value"
'''


@pytest.fixture
def toy_kind_files(tmp_path, monkeypatch):
    """The recipe's three files, in a directory outside the package (accel/arch/<kind>.py,
    accel/devices/<kind>.py, archs/<kind>/<name>.yaml): nothing in accel/ is edited."""
    import accel.arch as arch_pkg
    import accel.devices as dev_pkg

    (tmp_path / "arch").mkdir()
    (tmp_path / "devices").mkdir()
    (tmp_path / "arch" / "recipetoy.py").write_text(textwrap.dedent(SCHEMA))
    (tmp_path / "devices" / "recipetoy.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "recipe_toy.yaml").write_text(textwrap.dedent(YAML))
    monkeypatch.setattr(arch_pkg, "__path__", [*arch_pkg.__path__, str(tmp_path / "arch")])
    monkeypatch.setattr(dev_pkg, "__path__", [*dev_pkg.__path__, str(tmp_path / "devices")])
    yield tmp_path / "recipe_toy.yaml"
    from accel.arch.registry import _KINDS
    from accel.devices.base import _MODELS

    for mod in ("accel.arch.recipetoy", "accel.devices.recipetoy"):
        sys.modules.pop(mod, None)
    _KINDS.pop("recipetoy", None)
    _MODELS.pop("recipetoy", None)


def test_new_device_kind(toy_kind_files):
    from accel.arch import load_arch
    from accel.arch.registry import known_kinds
    from accel.sim import simulate

    from test_sim_toydev import chain_graph

    spec = load_arch(toy_kind_files, require_sources=True)  # the kind is found by its module name
    assert spec.kind == "recipetoy" and "recipetoy" in known_kinds()
    g = chain_graph(3, batch=8, width=256)
    r = simulate(g, spec)
    issued = [x.launch_end - x.launch_start for x in r.records if x.stream == "compute"]
    assert issued and all(t == pytest.approx(2e-6) for t in issued)  # its own launch_overhead (not host dispatch)
    assert r.energy_static_j == pytest.approx(5.0 * r.latency_s)  # ComputeSpec.static_power: its idle_power
    assert r.run.memory_capacity_bytes == 2**30 and r.run.memory_fits  # its memory_capacity
    assert r.latency_s > 0


def test_new_op_kind(monkeypatch):
    """OP_KINDS names it; a cost model without a branch for it says so in one error naming the op and device."""
    import accel.graph as graph
    from accel.devices import cost_model_for
    from accel.arch import load_arch
    from accel.errors import UnknownOpError
    from accel.graph import OpNode, TensorInfo
    from accel.sim.host import dispatch_class

    for kind in ("gpu", "cpu", "systolic"):  # load the models first: they check their tables against OP_KINDS
        importlib.import_module(f"accel.devices.{kind}")
    t = TensorInfo.of((64, 64), "fp32")
    with pytest.raises(ValueError, match="unknown kind 'toyop'"):  # step 1 not done yet
        OpNode("x/toyop", "toyop", [t], [t])
    monkeypatch.setattr(graph, "OP_KINDS", (*graph.OP_KINDS, "toyop"))  # step 1: accel/graph.py OP_KINDS
    op = OpNode("x/toyop", "toyop", [t], [t], flops=64 * 64, dtype="fp32")
    for arch in ("h100", "xeon_e5_2450"):  # step 3 not done: GPU and CPU models name the op and device
        with pytest.raises(UnknownOpError, match="op kind 'toyop'.*no cost model on device"):
            cost_model_for(load_arch(arch)).cost(op)
    # systolic/FPGA/DSP models run any non-MAC kind on their vector unit as a streaming op
    assert cost_model_for(load_arch("systolic_32x32")).cost(op).time_s > 0
    assert dispatch_class(op) == "elementwise"  # until accel/sim/host.py _CLASS_OF_KIND says otherwise


def test_new_search_method(tmp_path):
    """One SearchMethod entry: spec validation, the CLI choices and the driver all pick it up."""
    from accel.dse.methods import SEARCHERS, SearchMethod, register_search_method
    from accel.dse.search import run_sweep
    from accel.dse.spec import spec_from_dict

    def first_n(space, search):
        return iter(list(space.grid())[: search.n])

    register_search_method(SearchMethod("first_n", "the first n grid points", needs_n=True, points=first_n))
    try:
        from test_sim_toydev import chain_graph

        g = chain_graph(2, batch=8, width=128)
        gpath = tmp_path / "g.json"
        g.save(gpath)
        spec = spec_from_dict({"name": "recipe", "base": "systolic_32x32",
                               "parameters": {"rows": [8, 16, 32], "cols": [8, 16]},
                               "workloads": [{"graph": str(gpath), "name": "chain"}],
                               "objectives": ["latency"], "search": {"method": "first_n", "n": 4},
                               "evaluator": "analytic"}, str(tmp_path / "spec.yaml"))
        res = run_sweep(spec, results=tmp_path / "r.jsonl", progress=False, max_points=None)
        assert res.n_evaluated == 4 and len(res.records) == 4
        import argparse

        from accel.cli.sweep import register

        ap = argparse.ArgumentParser()
        register(ap.add_subparsers(dest="cmd"))
        sweep = ap.parse_args(["sweep", str(tmp_path / "spec.yaml"), "--method", "first_n"])
        assert sweep.method == "first_n"  # the CLI's --method choices come from SEARCHERS
        with pytest.raises(Exception, match="unknown search method 'first_m'.*first_n"):
            spec_from_dict({"name": "bad", "base": "systolic_32x32", "parameters": {"rows": [8]},
                            "workloads": [{"graph": str(gpath)}], "objectives": ["latency"],
                            "search": {"method": "first_m", "n": 1}}, "bad.yaml")
    finally:
        SEARCHERS.pop("first_n", None)


def test_new_plot(tmp_path):
    """A figure function + save_figure: HTML written with the shared style (the CLI subparser is one call)."""
    import plotly.graph_objects as go

    from accel.plot import save_figure

    def toy_figure(xs, ys) -> go.Figure:
        return go.Figure(go.Scatter(x=xs, y=ys, mode="lines"))

    save_figure(toy_figure([1, 2, 3], [3, 1, 2]), tmp_path / "toy", png=False)
    assert "plotly" in (tmp_path / "toy.html").read_text()[:20000].lower()
