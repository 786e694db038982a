"""The host is part of the system: eager dispatch (host_runtime.dispatch) and pageable staging copies
(host_runtime.staging_copy) of the host CPU arch."""

import json
from pathlib import Path

import pandas as pd
import pytest

from accel.arch import load_arch
from accel.arch.loader import validate_arch_dict
from accel.calibrate.direct import fit_staging, pageable_rows
from accel.errors import ConfigError
from accel.interconnect import transfer_time
from accel.validate import validate_dir, with_measured_memory
from accel.validate.readers import read_measurements

H100_DIR = Path(__file__).resolve().parents[1] / "data" / "measurements" / "h100"


def test_fit_reproduces_the_shipped_host_values():
    """fit_staging on the shipped micro.csv gives the h100_host_xeon YAML's staging_copy (to its rounding)."""
    micro = pd.read_csv(H100_DIR / "micro.csv")
    host = load_arch("h100_host_xeon")
    fits = {f.path: f for f in fit_staging(micro, load_arch("pcie5"), host.calibration.core_dram_bandwidth)}
    sc = host.host_runtime.staging_copy
    assert fits["host_runtime.staging_copy.h2d_efficiency"].value == pytest.approx(sc.h2d_efficiency, abs=0.001)
    assert fits["host_runtime.staging_copy.d2h_efficiency"].value == pytest.approx(sc.d2h_efficiency, abs=0.001)
    assert fits["host_runtime.staging_copy.latency"].value == pytest.approx(sc.latency, abs=0.06e-6)
    assert len(pageable_rows(micro)) == 12
    assert all(f.residual < 0.10 for f in fits.values())


def test_staging_follows_host_memory_bandwidth_and_direction():
    link, host = load_arch("pcie5"), load_arch("h100_host_xeon")
    n = 2**30
    h2d = transfer_time(link, n, pinned=False, direction="h2d", host=host)
    d2h = transfer_time(link, n, pinned=False, direction="d2h", host=host)
    assert d2h < h2d  # measured: 84 ms vs 132 ms for 1 GiB
    fast = host.model_copy(update={"calibration": host.calibration.model_copy(
        update={"core_dram_bandwidth": 2 * host.calibration.core_dram_bandwidth})})
    d2h_fast = transfer_time(link, n, pinned=False, direction="d2h", host=fast)
    pinned = transfer_time(link, n, pinned=True, direction="d2h")
    # the staging term halves; the DMA term stays
    assert d2h_fast - pinned == pytest.approx((d2h - pinned - host.host_runtime.staging_copy.latency) / 2
                                              + host.host_runtime.staging_copy.latency, rel=1e-9)


def test_link_yaml_with_pageable_says_where_it_moved():
    base = {"kind": "link", "name": "x", "generation": "g", "lanes": 16, "lane_rate": "32 Gbit/s",
            "per_direction_bandwidth": "63 GB/s", "efficiency": 0.8, "latency": "10 us", "energy_per_byte": "40 pJ/B"}
    with pytest.raises(ConfigError, match="moved to the host CPU arch"):
        validate_arch_dict({**base, "pageable": {"bandwidth_h2d": "8 GB/s", "bandwidth_d2h": "10 GB/s", "latency": "20 us"}},
                           "l.yaml")


def test_validate_uses_the_directory_hosts_memory(tmp_path):
    """A directory measured on a host whose core copies twice as fast predicts faster pageable copies."""
    d = tmp_path / "other"
    d.mkdir()
    (d / "device.json").write_text((H100_DIR / "device.json").read_text())
    (d / "micro.csv").write_text((H100_DIR / "micro.csv").read_text())
    cpu = pd.read_csv(H100_DIR / "cpu.csv")
    cpu = cpu[cpu["kind"] == "cpu_copy"].copy()
    cpu["ms"] = cpu["ms"] / 2
    cpu.to_csv(d / "cpu.csv", index=False)
    host = load_arch("h100_host_xeon")
    faster, note = with_measured_memory(host, read_measurements(d))
    assert "one core copies at" in note
    assert faster.calibration.core_dram_bandwidth == pytest.approx(2 * 2**29 / (cpu["ms"].max() / 1e3))
    shipped, note0 = with_measured_memory(host, read_measurements(H100_DIR))
    assert note0 == "" and shipped is host  # the shipped cpu.csv gives the arch's own value
    key = "d2h 1GiB pageable"
    a = {c.key: c.predicted for c in validate_dir(H100_DIR, only=["micro"]).comparisons}
    b = {c.key: c.predicted for c in validate_dir(d, only=["micro"]).comparisons}
    assert b[key] < 0.75 * a[key]
    assert b["d2h 1GiB pinned"] == pytest.approx(a["d2h 1GiB pinned"])


def test_bare_device_simulates_pageable_with_the_default_host():
    from accel.sim.system import DEFAULT_HOST, resolve_system

    sysm = resolve_system("h100")
    assert sysm.host_name == DEFAULT_HOST and sysm.host_spec.host_runtime.staging_copy is not None
    assert json.loads(json.dumps(DEFAULT_HOST)) == "h100_host_xeon"


def _chain(n: int = 6):
    from test_sim_toydev import chain_graph

    return chain_graph(n, batch=1, width=64)


def _host_with(**dispatch):
    from accel.arch.cpu import HostRuntime

    host = load_arch("h100_host_xeon")
    d = host.host_runtime.dispatch.model_copy(update=dispatch)
    return host.model_copy(update={"host_runtime": (host.host_runtime or HostRuntime()).model_copy(update={"dispatch": d})})


def test_eager_issue_time_is_the_hosts_per_op_class():
    """Each op's host issue interval = classes.get(its class, kernel_launch) + framework of the host driving the GPU."""
    from accel.sim import simulate
    from accel.sim.host import dispatch_class

    host = _host_with(classes={"library": 100e-6})
    r = simulate(_chain(), "h100", host=host)
    d = host.host_runtime.dispatch
    for rec in r.records:
        want = (100e-6 if rec.kind == "matmul" else d.kernel_launch) + d.framework
        assert rec.launch_end - rec.launch_start == pytest.approx(want, rel=1e-9), rec.name
    g = _chain()
    assert {dispatch_class(o) for o in g} == {"library", "elementwise"}
    shipped = simulate(_chain(), "h100")  # default host: every op kernel_launch + framework
    assert r.latency_s > shipped.latency_s


def test_unknown_dispatch_class_names_the_allowed_ones(tmp_path):
    p = tmp_path / "host.yaml"
    text = (Path(__file__).resolve().parents[1] / "archs" / "cpu" / "h100_host_xeon.yaml").read_text()
    p.write_text(text.replace("    reference_clock: 4.0 GHz", "    reference_clock: 4.0 GHz\n    classes: {gemm: 20 us}"))
    with pytest.raises(ConfigError, match="unknown dispatch class gemm; allowed: library, elementwise"):
        load_arch(p)


def test_host_without_dispatch_scales_the_default_by_clock():
    """A host YAML with no dispatch of its own: the default host's times x reference_clock / turbo_clock."""
    from accel.sim.host import host_dispatch

    epyc, ref = load_arch("epyc_genoa_2vcpu"), load_arch("h100_host_xeon")
    d, how = host_dispatch(epyc)
    k = float(ref.host_runtime.dispatch.reference_clock) / float(epyc.turbo_clock)
    assert d.framework == pytest.approx(ref.host_runtime.dispatch.framework * k)
    assert d.kernel_launch == pytest.approx(ref.host_runtime.dispatch.kernel_launch * k)
    assert "scaled by its clock" in how
    own, how0 = host_dispatch(ref)
    assert own is ref.host_runtime.dispatch and how0 == ""


def test_dse_analytic_and_simulate_use_one_host_rule():
    """The sweep's analytic evaluator charges the same per-op host issue time as accel.sim (host-bound chain)."""
    from accel.dse.evaluate import PreparedWorkload, _run_analytic, dedupe_ops
    from accel.sim import simulate

    g = _chain(10)
    spec = load_arch("h100")
    sim = simulate(g, spec)
    ana = _run_analytic(spec, PreparedWorkload("chain", 1, dedupe_ops(g), None, len(g)))
    assert ana["latency_s"] == pytest.approx(sim.latency_s, rel=0.05)
    assert sim.run.host_launch_s == pytest.approx(ana["latency_s"], rel=0.05)


def test_validate_compares_dispatch_csv_with_the_host_model(tmp_path):
    """A CUDA directory's dispatch.csv rows are predicted by the host's bare per-class dispatch."""
    import shutil

    d = tmp_path / "with_dispatch"
    shutil.copytree(Path(__file__).resolve().parent / "data" / "validate" / "h100_small", d)
    (d / "dispatch.csv").write_text("kind,op_class,op,calls,ms\ndispatch,elementwise,add,200,0.009\n"
                                    "dispatch,library,conv2d_3x3,200,0.03\ndispatch,module,nn_relu_module,200,0.011\n")
    rep = validate_dir(d, only=["dispatch"])
    got = {c.key: c for c in rep.comparisons if c.category == "dispatch"}
    assert set(got) == {"elementwise add", "library conv2d_3x3"}  # the module row is informational
    launch = load_arch("h100_host_xeon").host_runtime.dispatch.kernel_launch
    assert got["elementwise add"].predicted == pytest.approx(launch)
    assert got["library conv2d_3x3"].predicted == pytest.approx(launch)  # no class time measured on that host


def test_mha_fast_path_is_one_host_dispatch():
    """ViT's nn.MultiheadAttention in eval/no-grad runs as one native call: its in_proj, attention and out_proj
    ops are tagged (issued_by) and only the first pays host issue time; training keeps every op."""
    import workloads
    from accel.sim import simulate
    from accel.sim.host import issued_by_call

    g = workloads.extract_model("vit_b_16", batch=1, dtype="fp16")
    blk = [o for o in g if o.module == "encoder.layers.encoder_layer_0.self_attention"]
    assert [issued_by_call(o) for o in blk] == [False] + [True] * (len(blk) - 1) and len(blk) >= 4
    assert {o.kind for o in blk} >= {"matmul", "attention"}
    tagged = sum(issued_by_call(o) for o in g)
    assert tagged == 12 * (len(blk) - 1)  # every encoder block
    r = simulate(g, "h100")
    per_op = [x.launch_end - x.launch_start for x in r.records if x.stream == "compute"]
    assert sum(t == 0.0 for t in per_op) == tagged
    d = load_arch("h100_host_xeon").host_runtime.dispatch
    assert r.run.host_launch_s == pytest.approx((len(g) - tagged) * (d.kernel_launch + d.framework))
    train = workloads.extract_model("vit_b_16", batch=2, mode="train", dtype="fp32")
    assert not any(issued_by_call(o) for o in train)
