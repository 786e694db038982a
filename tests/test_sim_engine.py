"""Simulator behaviour on a toy device (no dependence on the GPU model)."""

import json

import pytest

from accel.arch import load_arch
from accel.devices import cost_model_for
from accel.errors import ConfigError
from accel.interconnect import transfer_time
from accel.sim import ParallelConfig, simulate
from accel.sim.system import system_from_device
from test_sim_toydev import chain_graph, toy_spec


def op_times(graph, spec):
    m = cost_model_for(spec)
    return [m.cost(o).time_s for o in graph]


def test_zero_launch_single_device_latency_is_sum_of_op_costs():
    spec = toy_spec()
    for g in (chain_graph(6), chain_graph(3, train=True)):
        res = simulate(g, spec)
        assert res.latency_s == pytest.approx(sum(op_times(g, spec)), rel=1e-12)
        assert res.device_utilization["toy:0"] == pytest.approx(1.0)
        assert len(res.records) == len(g)


def test_launch_bound_at_batch_1_is_max_of_host_and_device():
    L = 9e-6
    spec = toy_spec(launch_overhead="9 us")
    tiny = chain_graph(20, batch=1, width=64)            # kernels << 9 us: host bound
    dev = sum(op_times(tiny, spec))
    res = simulate(tiny, spec)
    assert dev < 0.2 * len(tiny) * L
    assert res.latency_s == pytest.approx(len(tiny) * L + op_times(tiny, spec)[-1])
    assert res.device_utilization["toy:0"] < 0.2       # the GPU mostly waits for the host
    big = chain_graph(4, batch=4096, width=4096)        # kernels >> 9 us: device bound
    dev = sum(op_times(big, spec))
    res = simulate(big, spec)
    assert res.latency_s == pytest.approx(dev + L)      # only the first launch is exposed
    for g in (tiny, big):
        r = simulate(g, spec)
        host, dev = len(g) * L, sum(op_times(g, spec))
        assert max(host, dev) <= r.latency_s + 1e-15 <= host + dev + 1e-12


def test_cuda_graphs_use_graph_launch_overhead():
    g = chain_graph(20, batch=1, width=64)
    spec = toy_spec(launch_overhead="9 us", graph_launch_overhead="1 us")
    eager, graphed = simulate(g, spec), simulate(g, spec, cuda_graphs=True)
    assert graphed.latency_s < eager.latency_s / 3
    assert graphed.latency_s == pytest.approx(max(len(g) * 1e-6 + op_times(g, spec)[-1], sum(op_times(g, spec)) + 1e-6), rel=0.05)
    with pytest.raises(ConfigError, match="graph_launch_overhead"):
        simulate(g, toy_spec(launch_overhead="9 us"), cuda_graphs=True)


def test_host_transfers_add_pcie_copies():
    spec = toy_spec()
    g = chain_graph(3, batch=256, width=1024)
    link = load_arch("pcie5")
    base = simulate(g, spec)
    res = simulate(g, spec, include_host_transfers=True)
    nbytes = 256 * 1024 * 4
    expect = base.latency_s + transfer_time(link, nbytes, direction="h2d") + transfer_time(link, nbytes, direction="d2h")
    assert res.latency_s == pytest.approx(expect)
    assert res.link_bytes["host:PCIe 5.0 x16"] == 2 * nbytes
    pageable = simulate(g, spec, include_host_transfers=True, pinned_host=False)
    assert pageable.latency_s > res.latency_s
    assert {r.stream for r in res.records} == {"h2d", "compute", "d2h"}


def test_energy_dynamic_plus_static():
    spec = toy_spec(idle_power="100 W", energy={"per_flop": {"fp32": "2 pJ"}, "per_byte": {"dram": "20 pJ/B"}})
    g = chain_graph(4)
    res = simulate(g, spec)
    dyn = sum(o.flops * 2e-12 + o.total_bytes * 20e-12 for o in g)
    assert res.energy_dynamic_j == pytest.approx(dyn)
    assert res.energy_static_j == pytest.approx(100 * res.latency_s)
    assert res.energy_j == pytest.approx(dyn + 100 * res.latency_s)
    assert res.avg_power_w == pytest.approx(res.energy_j / res.latency_s)
    assert res.energy_per_item_j == pytest.approx(res.energy_j / 8)
    # energy.static_power takes precedence over idle_power
    spec2 = toy_spec(idle_power="100 W", energy={"per_flop": {"fp32": "2 pJ"}, "per_byte": {"dram": "20 pJ/B"},
                                                 "static_power": "50 W"})
    assert simulate(g, spec2).energy_static_j == pytest.approx(50 * res.latency_s)


def test_per_layer_table_and_throughput():
    spec = toy_spec(launch_overhead="2 us")
    g = chain_graph(4, batch=32)
    res = simulate(g, spec)
    t = res.per_layer("module")
    assert list(t.columns) == ["group", "kind", "ops", "time_s", "pct", "gflop", "bytes", "bound", "energy_j"]
    assert t["pct"].sum() == pytest.approx(100.0)
    assert t["gflop"].sum() == pytest.approx(g.total_flops / 1e9)
    assert set(t["group"]) == {f"l{i}.fc" for i in range(4)} | {f"l{i}.act" for i in range(4)}
    assert res.per_layer("kind")["ops"].sum() == len(g)
    assert res.throughput == pytest.approx(32 / res.latency_s)
    assert simulate(g, spec, batch_items=5).items == 5
    with pytest.raises(ValueError, match="group_by"):
        res.per_layer("color")


def test_chrome_trace_is_perfetto_json(tmp_path):
    spec = toy_spec(launch_overhead="2 us")
    g = chain_graph(3, train=True)
    res = simulate(g, spec, include_host_transfers=True, parallel=ParallelConfig("data", 2))
    path = tmp_path / "t.json"
    res.to_chrome_trace(path)
    tr = json.loads(path.read_text())
    xs = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    assert {e["pid"] for e in xs} == {1, 2}
    names = {(e["pid"], e["args"]["name"]) for e in tr["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {n for _, n in names} >= {"compute", "host", "comm", "h2d", "d2h"}
    ops = [e for e in xs if e.get("cat") not in ("launch",)]
    assert len(ops) == len(res.records)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in xs)
    assert max(e["ts"] + e["dur"] for e in xs) == pytest.approx(res.latency_s * 1e6)
    res.to_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["latency_s"] == res.latency_s


def test_deadlock_free_and_deterministic():
    spec = toy_spec(launch_overhead="3 us")
    g = chain_graph(5, train=True)
    a = simulate(g, spec, parallel=ParallelConfig("pipeline", 3, microbatches=5))
    b = simulate(g, spec, parallel=ParallelConfig("pipeline", 3, microbatches=5))
    assert a.latency_s == b.latency_s and len(a.records) == len(b.records)


def test_system_object_accepted_and_bad_parallel_config():
    sysm = system_from_device(toy_spec())
    assert simulate(chain_graph(2), sysm).system == "toy"
    with pytest.raises(ValueError, match="mode: must be one of data, tensor, pipeline"):
        ParallelConfig("expert", 2)
    with pytest.raises(ValueError, match="schedule"):
        ParallelConfig("pipeline", 2, schedule="zigzag")


def test_memory_footprint_check():
    g = chain_graph(4, batch=8, width=1024, train=True)
    params = 4 * 1024 * 1024 * 4
    acts = sum(o.output_bytes for o in g.ops(phase="forward"))
    res = simulate(g, toy_spec(hbm_size="1 GiB"))
    assert res.run.memory_bytes_max == pytest.approx(params * 3 + acts)  # weights + grads + SGD momentum + acts
    assert res.run.memory_fits and res.run.memory_capacity_bytes == 2**30
    assert not simulate(g, toy_spec(hbm_size="10 MiB")).run.memory_fits
    tp = simulate(g, toy_spec(hbm_size="10 MiB"), parallel=ParallelConfig("tensor", 8))
    assert tp.run.memory_bytes_max == pytest.approx((params * 3 + acts) / 8)
    inf = simulate(chain_graph(4, batch=8, width=1024), toy_spec())
    assert inf.run.memory_bytes_max == pytest.approx(params + 2 * 8 * 1024 * 4)
    assert inf.run.memory_capacity_bytes == 0.0  # unknown capacity: not checked


def test_launch_overhead_override():
    g = chain_graph(10, batch=1, width=64)
    spec = toy_spec(launch_overhead="9 us")
    r = simulate(g, spec, launch_overhead=30e-6)
    assert r.latency_s == pytest.approx(10 * 2 * 30e-6 + op_times(g, spec)[-1])
    with pytest.raises(ValueError):
        simulate(g, spec, launch_overhead=-1.0)


def test_link_ports_are_resources():
    from accel.sim.engine import Task, run_tasks
    from accel.sim.result import TaskInfo

    def info(name):
        return TaskInfo(name, "d0", "", "copy", "", "forward")

    # two different streams, same port: serialised; different ports: overlapped
    same = [Task(0, "h2d", 1.0, info("a"), resources=("0:pcie:rx",)), Task(0, "comm", 1.0, info("b"), resources=("0:pcie:rx",))]
    sched = run_tasks(same, 1)
    assert sched.makespan == pytest.approx(2.0)
    assert [(r.name, r.start, r.end) for r in sched.records] == [("a", 0.0, 1.0), ("b", 1.0, 2.0)]
    assert sched.records[0].launch_end == pytest.approx(0.0)  # issued at once (launch 0)
    diff = [Task(0, "h2d", 1.0, info("a"), resources=("0:pcie:rx",)), Task(0, "d2h", 1.0, info("b"), resources=("0:pcie:tx",))]
    assert run_tasks(diff, 1).makespan == pytest.approx(1.0)


def test_pcie_fabric_shares_the_host_link_with_copies():
    spec = toy_spec()
    g = chain_graph(4, batch=64, width=2048, train=True)
    sysm = __import__("accel.sim.system", fromlist=["x"]).system_from_device(spec)
    pc = simulate(g, sysm.with_devices(2, "pcie5"), include_host_transfers=True, parallel=ParallelConfig("data", 2))
    ports = {r.link for r in pc.records if r.kind in ("copy", "allreduce")}
    assert ports == {"PCIe 5.0 x16"}
    # the output d2h (tx) cannot overlap an all-reduce (tx+rx) on the same PCIe port
    for dev in pc.devices:
        busy = sorted((r.start, r.end) for r in pc.records if r.device == dev and r.kind in ("copy", "allreduce"))
        assert all(e <= s2 + 1e-15 for (_, e), (s2, _) in zip(busy, busy[1:]))


def test_iterations_overlap_copies_with_compute():
    spec = toy_spec()
    g = chain_graph(4, batch=4096, width=1024)
    one = simulate(g, spec, include_host_transfers=True)
    four = simulate(g, spec, include_host_transfers=True, iterations=4)
    compute = sum(op_times(g, spec))
    h2d = [r for r in one.records if r.stream == "h2d"][0].duration
    d2h = [r for r in one.records if r.stream == "d2h"][0].duration
    assert one.latency_s == pytest.approx(h2d + compute + d2h)
    assert four.items == 4 * one.items
    assert four.latency_s < 4 * one.latency_s
    # copies hide behind compute (compute > copies here): first h2d + 4 computes + last d2h
    assert four.latency_s == pytest.approx(h2d + 4 * compute + d2h, rel=1e-6)
    train = simulate(chain_graph(2, train=True), spec, iterations=3)
    assert train.latency_s == pytest.approx(3 * simulate(chain_graph(2, train=True), spec).latency_s)
    with pytest.raises(ValueError, match="iterations"):
        simulate(g, spec, iterations=0)
