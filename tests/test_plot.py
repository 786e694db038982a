"""Plots: each figure builds from small inputs and writes HTML and a non-empty PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "dse"
sys.path.insert(0, str(DATA))
import toykind  # noqa: E402

from accel.arch import validate_arch_dict  # noqa: E402
from accel.arch.loader import read_yaml  # noqa: E402
from accel.errors import ConfigError  # noqa: E402
from accel.plot import (Roofs, energy_figure, energy_table, pareto_figure, png_available, roofline_figure,  # noqa: E402
                        roofline_from_measurements, save_figure, timeline_figure)
from accel.plot.export import browser_path  # noqa: E402

PNG_SKIP = "PNG export needs Chromium for kaleido (apt-get install -y chromium, or set BROWSER_PATH)"


def toy_spec():
    return validate_arch_dict(read_yaml(DATA / "toy_arch.yaml"), "toy_arch.yaml")


def toy_records():
    recs = []
    for i, (lat, en) in enumerate([(1, 5), (2, 2), (5, 1), (3, 3), (4, 4)]):
        recs.append({"key": str(i), "status": "ok", "params": {"rows": 8 * (i + 1), "dataflow": "ws" if i % 2 else "os"},
                     "objectives": {"latency_s": lat * 1e-3, "energy_j": en * 1e-3}})
    recs.append({"key": "x", "status": "infeasible", "params": {"rows": 1}, "reason": "too small"})
    return recs


def trace():
    ev = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "gpu0"}},
          {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "compute"}}]
    for i in range(5):
        ev.append({"ph": "X", "name": f"op{i}", "cat": "conv" if i % 2 else "norm", "pid": 1, "tid": 1,
                   "ts": 10.0 * i, "dur": 8.0, "args": {"kind": "conv" if i % 2 else "norm"}})
    return {"traceEvents": ev}


def check_written(paths, want_png):
    html = [p for p in paths if p.suffix == ".html"]
    assert html and html[0].stat().st_size > 1000 and "plotly" in html[0].read_text()[:200000].lower()
    if want_png:
        png = [p for p in paths if p.suffix == ".png"]
        assert png and png[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png[0].stat().st_size > 5000


def test_pareto_figure_highlights_front(tmp_path):
    fig = pareto_figure(toy_records(), "latency_s", "energy_j", color_by="dataflow")
    front = [t for t in fig.data if t.name.startswith("Pareto front")][0]
    assert sorted(zip(front.x, front.y)) == [(1e-3, 5e-3), (2e-3, 2e-3), (5e-3, 1e-3)]
    assert "rows = " in front.hovertext[0]
    assert fig.layout.xaxis.title.text == "latency (s)" and fig.layout.xaxis.type == "log"
    check_written(save_figure(fig, tmp_path / "pareto", png=False), False)


def test_roofline_from_measurement_rows(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "gemm.csv").write_text("dtype,M,N,K,flops,ms,tflops,bytes_min,batch\n"
                                "bf16,4096,4096,4096,137438953472.0,0.2,687,100663296,\n"
                                "bf16,256,256,256,33554432.0,0.01,3.3,393216,\n")
    (d / "conv.csv").write_text("name,dtype,channels_last,N,Cin,Cout,H,W,R,S,stride,pad,groups,Hout,Wout,macs,ms,tflops\n"
                                "r50,fp16,True,32,64,64,56,56,3,3,1,1,1,56,56,3699376128,0.05,148\n")
    pts = roofline_from_measurements(d)
    assert len(pts) == 3 and set(pts["source"]) == {"measured"}
    big = pts[pts["label"].str.contains("4096")].iloc[0]
    assert big["flops_per_s"] == pytest.approx(137438953472.0 / 0.2e-3)
    assert big["intensity"] == pytest.approx(137438953472.0 / (3 * 4096 * 4096 * 2))
    fig = roofline_figure(pts, Roofs("test", {"bf16": 989e12, "fp16": 989e12}, {"HBM": 3.35e12}))
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert any("roof" in t.name for t in fig.data)
    check_written(save_figure(fig, tmp_path / "roof", png=False), False)
    with pytest.raises(ConfigError):
        roofline_from_measurements(tmp_path / "nope")


def test_energy_breakdown_sums_to_model_energy(tmp_path):
    spec = toy_spec()
    g = toykind.toy_graph(4)
    t = energy_table(g, spec)
    from accel.devices import cost_model_for

    cm = cost_model_for(spec)
    assert t["energy_j"].sum() == pytest.approx(sum(cm.cost(op).energy_j for op in g))
    assert set(t["component"]) == {"compute", "dram"} and list(dict.fromkeys(t["layer"])) == [f"layer{i}" for i in range(4)]
    fig = energy_figure(t, top=2)
    assert fig.layout.barmode == "stack"
    assert any("(other 2 layers)" in list(tr.x) for tr in fig.data if tr.x is not None)
    with pytest.raises(ValueError):
        energy_figure(pd.DataFrame({"layer": ["a"]}))


def test_timeline_from_trace(tmp_path):
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(trace()))
    fig = timeline_figure(p)
    assert {t.name for t in fig.data} == {"conv", "norm"}
    assert sum(len(t.x) for t in fig.data) == 5 and fig.layout.xaxis.title.text == "time (ms)"
    bad = tmp_path / "bad.json"
    bad.write_text('{"traceEvents": []}')
    with pytest.raises(ConfigError, match="no complete"):
        timeline_figure(bad)


def test_timeline_from_records():
    recs = [{"name": "a", "device": "d0", "stream": "compute", "kind": "matmul", "start": 0.0, "end": 1e-3},
            {"name": "b", "device": "d0", "stream": "h2d", "kind": "copy", "start": 0.0, "end": 5e-4}]
    fig = timeline_figure(recs)
    assert set(fig.layout.yaxis.categoryarray) == {"d0 / compute", "d0 / h2d"}


@pytest.mark.slow
@pytest.mark.skipif(not png_available(), reason=PNG_SKIP)
def test_png_export_all_figures(tmp_path):
    figs = {
        "pareto": pareto_figure(toy_records(), "latency_s", "energy_j"),
        "energy": energy_figure(energy_table(toykind.toy_graph(3), toy_spec())),
        "timeline": timeline_figure(trace()),
        "roofline": roofline_figure(pd.DataFrame([{"label": "k", "kind": "gemm", "dtype": "bf16", "source": "measured",
                                                   "intensity": 100.0, "flops_per_s": 1e14, "time_s": 1e-3}]),
                                    Roofs("t", {"bf16": 1e15}, {"HBM": 3e12})),
    }
    for name, fig in figs.items():
        check_written(save_figure(fig, tmp_path / name), True)


def test_missing_browser_gives_clear_error(tmp_path, monkeypatch):
    from accel.plot import ExportError

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    assert browser_path() is None
    with pytest.raises(ExportError, match="apt-get install -y chromium"):
        save_figure(pareto_figure(toy_records(), "latency_s", "energy_j"), tmp_path / "p")
    assert (tmp_path / "p.html").exists()


def test_cli_plot_pareto_and_timeline(tmp_path, capsys):
    from accel.cli import main

    res = tmp_path / "r.jsonl"
    res.write_text("\n".join(json.dumps({**r, "sweep": "s"}) for r in toy_records()) + "\n")
    assert main(["plot", "pareto", str(res), "--x", "latency", "--y", "energy", "-o", str(tmp_path / "p"), "--no-png"]) == 0
    assert (tmp_path / "p.html").exists()
    assert main(["plot", "pareto", str(res), "--x", "area", "-o", str(tmp_path / "p"), "--no-png"]) == 2
    assert "area_mm2" in capsys.readouterr().err
    tr = tmp_path / "t.json"
    tr.write_text(json.dumps(trace()))
    assert main(["plot", "timeline", str(tr), "-o", str(tmp_path / "t"), "--no-png"]) == 0
    assert (tmp_path / "t.html").exists()


def test_roofline_facets_per_dtype_when_measured_and_predicted():
    rows = []
    for d in ("fp32", "bf16"):
        for src, f in (("measured", 1e13), ("predicted", 1.2e13)):
            rows.append({"label": f"k {d}", "kind": "gemm", "dtype": d, "source": src, "intensity": 50.0,
                         "flops_per_s": f, "time_s": 1e-3})
    fig = roofline_figure(pd.DataFrame(rows), Roofs("t", {"fp32": 6.7e13, "bf16": 9.9e14}, {"HBM": 3.35e12}))
    titles = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("fp32 (peak 67") for t in titles) and any(t.startswith("bf16 (peak 990") for t in titles)
    assert {t.name for t in fig.data} == {"roof", "measured", "predicted"}
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_roofline_of_fixed_dtype_accelerator_uses_its_dtype_and_modelled_dram_bytes():
    """On a systolic array the roof is its own dtype's and x is FLOPs per DRAM byte its model moves."""
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.plot import device_roofs
    from accel.plot.roofline import roofline_from_graph
    from test_sim_toydev import chain_graph

    g = chain_graph(2, batch=8, width=256)  # fp32 graph
    spec = load_arch("systolic_32x32")
    pts = roofline_from_graph(g, spec)
    assert set(pts["dtype"]) == {spec.dtype} and set(pts["x_basis"]) == {"dram"}
    mm = next(op for op in g if op.kind == "matmul")
    dram = cost_model_for(spec).cost(mm).bytes_by_level["dram"]
    row = pts[pts["label"].str.startswith(mm.module)].iloc[0]
    assert row["intensity"] == pytest.approx(mm.flops / dram)
    assert row["intensity"] != pytest.approx(mm.arithmetic_intensity)
    fig = roofline_figure(pts, device_roofs(spec), color_by="kind")
    assert "DRAM byte" in fig.layout.xaxis.title.text
    assert any(t.name.startswith(f"{spec.dtype} roof") for t in fig.data)


def test_energy_figure_names_what_a_bar_is():
    table = pd.DataFrame([{"layer": k, "component": "compute", "energy_j": e} for k, e in
                          (("matmul", 3.0), ("norm", 1.0), ("pool", 0.5))])
    fig = energy_figure(table, "t", top=2, group_label="op kind")
    assert fig.layout.xaxis.title.text == "op kind"
    assert any(a.text == "per op kind" for a in fig.layout.annotations)
    assert any("(other 1 op kinds)" in list(tr.x) for tr in fig.data if tr.x is not None)
    assert energy_figure(table, "t").layout.xaxis.title.text == "layer"  # default unchanged
