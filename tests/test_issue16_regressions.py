"""Issue 16 regressions whose other tests cannot run against the pre-fix code (they import modules
or options added by the fix): each test here uses only APIs that existed before the fix, so it fails
on the old behaviour and passes on the fixed one. Synthetic graphs only; no torch model is traced.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "data" / "dse"))
import toykind  # noqa: E402  (registers the dse_toy kind)
from test_sim_toydev import chain_graph  # noqa: E402

from accel.arch import load_arch  # noqa: E402
from accel.arch.loader import list_archs  # noqa: E402
from accel.cli import main  # noqa: E402
from accel.devices import cost_model_for  # noqa: E402
from accel.graph import OpNode, TensorInfo  # noqa: E402

SYSTOLIC = sorted(n for n, p in list_archs().items() if p.parent.name == "systolic")


# ------------------------------------------------------------------- 4. systolic DRAM floor
def _conv(N, Cin, Cout, H, R, stride):
    pad = R // 2
    ho = (H + 2 * pad - R) // stride + 1
    macs = N * Cout * ho * ho * Cin * R * R
    T = lambda s: TensorInfo.of(s, "int8")  # noqa: E731
    return OpNode("cv", "conv", inputs=[T((N, Cin, H, H))], outputs=[T((N, Cout, ho, ho))],
                  weights=[T((Cout, Cin, R, R))], flops=2.0 * macs, macs=macs, dtype="int8",
                  attrs={"N": N, "Cin": Cin, "Cout": Cout, "H": H, "W": H, "R": R, "S": R, "stride": stride,
                         "pad": pad, "groups": 1, "Hout": ho, "Wout": ho})


def resnet50_convs(N: int = 1) -> list[OpNode]:
    """The 53 convolutions of torchvision's ResNet-50 at 224x224 (stem, 16 bottlenecks, 4 downsamples)."""
    shapes = [(3, 64, 224, 7, 2)]  # Cin, Cout, H_in, R, stride
    H, cin = 56, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            s = stride if b == 0 else 1
            shapes += [(cin, width, H, 1, 1), (width, width, H, 3, s), (width, 4 * width, H // s, 1, 1)]
            if b == 0:
                shapes.append((cin, 4 * width, H, 1, s))
            cin, H = 4 * width, H // s
    return [_conv(N, *s) for s in shapes]


@pytest.mark.parametrize("arch", SYSTOLIC)
def test_resnet50_convs_never_beat_the_dram_roof(arch):
    """Before: the initial scratchpad fill was free, so 47 of the 53 ResNet-50 convs on TPU v1 (shared
    DRAM port) finished faster than their DRAM bytes / DRAM bandwidth."""
    ops = resnet50_convs()
    assert len(ops) == 53
    m = cost_model_for(load_arch(arch))
    s = m.spec
    bw = s.dram_bandwidth if s.dram_bandwidth_shared else 3 * s.dram_bandwidth  # per-stream ports: 3 streams
    for op in ops:
        c = m.cost(op)
        assert c.time_s >= c.bytes_by_level["dram"] / bw * (1 - 1e-9), op.attrs


# ------------------------------------------------------------------- 11. resume extracts nothing
def test_resumed_sweep_loads_no_workload_when_every_point_is_stored(tmp_path, monkeypatch):
    """Before: a resumed sweep extracted every model workload even with all points already stored."""
    import accel.dse.evaluate as ev
    from accel.dse import run_sweep, spec_from_dict

    calls = []

    def fake_load(w, spec, *a, **kw):
        calls.append(w.model)
        return toykind.toy_graph(batch=w.batch)

    monkeypatch.setattr(ev, "load_workload_graph", fake_load)
    data = TESTS / "data" / "dse"
    spec = spec_from_dict({"name": "toy", "base": str(data / "toy_arch.yaml"),
                           "parameters": {"rows": [8, 16], "cols": [8, 16]},
                           "workloads": [{"model": "resnet50", "batch": 2}],
                           "objectives": ["latency", "energy"]}, "toy_spec.yaml")
    r1 = run_sweep(spec, results=tmp_path / "r.jsonl", progress=False)
    assert r1.n_evaluated == 4 and calls == ["resnet50"]
    r2 = run_sweep(spec, results=tmp_path / "r.jsonl", progress=False)
    assert r2.n_reused == 4 and r2.n_evaluated == 0
    assert calls == ["resnet50"]  # nothing loaded on resume


# ------------------------------------------------------------------- 13. impossible measurements
def test_measure_refuses_a_physically_impossible_row_with_a_warning(tmp_path, monkeypatch):
    """Before: `accel measure` wrote a 256^3 fp32 GEMM timed at 10 ns (3.4 PFLOP/s on a CPU) silently."""
    pytest.importorskip("torch")
    import accel.measure.sections as sections
    from accel.measure import measure

    base = {"dtype": "fp32", "M": 256, "N": 256, "K": 256, "flops": 2.0 * 256**3, "bytes_min": 786432}
    monkeypatch.setattr(sections, "sec_gemm", lambda ctx: [{**base, "ms": 5.0}, {**base, "M": 257, "ms": 1e-5}])
    logged: list[str] = []
    measure(tmp_path, device="cpu", what=["gemm"], preset="tiny", log=lambda *a: logged.append(" ".join(map(str, a))))
    rows = list(csv.DictReader((tmp_path / "gemm.csv").open()))
    assert [r["M"] for r in rows] == ["256"]
    assert any("M=257" in ln and "physical" in ln for ln in logged), logged  # a warning names the row


# ------------------------------------------------------------------- 17. labels
def test_per_layer_gflop_column_is_the_ops_flops(tmp_path, capsys):
    """Before: the per-layer GFLOP column showed tile-padded FLOPs (2.582 per 1030^3 fp16 matmul on h100)
    and its rows summed to 5.166 while the header said 4.373 GFLOP."""
    g = chain_graph(2, batch=1030, width=1030, dtype="fp16")
    path = tmp_path / "g.json"
    g.save(path)
    assert main(["simulate", "--graph", str(path), "--arch", "h100", "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{g.total_flops / 1e9:.3f} GFLOP per execution" in out
    lines = out[out.index("per-layer"):].splitlines()
    col = lines[1].split().index("GFLOP")
    rows = {ln.split()[0]: float(ln.split()[col + 1]) for ln in lines[2:] if re.match(r"\s+l\d\.(fc|act)\s", ln)}
    assert len(rows) == 4
    for name in ("l0.fc", "l1.fc"):
        assert rows[name] == round(2 * 1030**3 / 1e9, 3)  # 2.185, not the padded 2.582
    assert sum(rows.values()) == pytest.approx(g.total_flops / 1e9, abs=4 * 0.0005)  # 3-decimal display


def test_energy_component_colour_does_not_depend_on_the_arch():
    """Before: colours were assigned by energy rank, so 'dram' was red on one arch and blue on another."""
    from accel.plot import energy_figure

    a = pd.DataFrame([{"layer": "x", "component": c, "energy_j": e} for c, e in
                      (("compute", 3.0), ("dram", 1.0), ("l2", 0.5))])
    b = pd.DataFrame([{"layer": "x", "component": c, "energy_j": e} for c, e in
                      (("dram", 5.0), ("sram", 2.0), ("compute", 1.0), ("register", 0.1))])
    ca = {t.legendgroup: t.marker.color for t in energy_figure(a).data}
    cb = {t.legendgroup: t.marker.color for t in energy_figure(b).data}
    assert ca["dram"] == cb["dram"] and ca["compute"] == cb["compute"]
    assert len(set(cb.values())) == len(cb)
