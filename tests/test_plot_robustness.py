"""Plots: every device kind has roofs, honest peak/energy labels, fixed colours, readable Pareto ticks,
and hostile inputs to every `accel plot` subcommand give exit 2 with one `file: field: reason` line or a
valid plot (non-finite values refused or dropped with a counted warning). Figure objects only, no PNG."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_plot import toy_records, trace  # noqa: E402
from test_sim_toydev import chain_graph  # noqa: E402

from accel.arch import load_arch  # noqa: E402
from accel.arch.loader import list_archs, read_yaml  # noqa: E402
from accel.cli import main  # noqa: E402
from accel.errors import ConfigError  # noqa: E402
from accel.plot import device_roofs, energy_figure, energy_table, pareto_figure, roofline_figure  # noqa: E402
from accel.plot.inputs import PlotInputWarning, read_results_checked  # noqa: E402
from accel.plot.roofline import roofline_from_graph  # noqa: E402
from accel.plot.style import COMPONENT_COLORS, format_si, log_ticks  # noqa: E402

DEVICE_KINDS = ("gpu", "cpu", "systolic", "fpga", "dsp")


def device_archs() -> list[str]:
    out = []
    for name, path in sorted(list_archs().items()):
        if read_yaml(path).get("kind") in DEVICE_KINDS:
            out.append(name)
    return out


# ------------------------------------------------------------------------------------------ roofs
@pytest.mark.parametrize("arch", device_archs())
def test_roofline_supports_every_device_kind(arch):
    """Before: cpu, fpga and dsp archs raised 'no roofline ceilings known for device kind'."""
    spec = load_arch(arch)
    roofs = device_roofs(spec)
    assert roofs.peaks and all(math.isfinite(v) and v > 0 for v in roofs.peaks.values())
    assert roofs.bandwidths and all(math.isfinite(v) and v > 0 for v in roofs.bandwidths.values())
    for d, v in roofs.model_peaks.items():
        assert d in roofs.peaks and math.isfinite(v) and v > 0 and roofs.model_notes[d].startswith("model ceiling")
    fig = roofline_figure(roofline_from_graph(chain_graph(2, batch=8, width=128), spec), roofs, color_by="kind")
    assert any(" roof (" in (t.name or "") for t in fig.data)


def test_fpga_dsp_cpu_peaks_follow_their_schemas():
    fpga = load_arch("arria10_gx1150")
    r = device_roofs(fpga)
    assert r.peaks[fpga.dtype] == pytest.approx(fpga.dsp_blocks * fpga.flops_per_dsp_cycle * fpga.clock)
    assert r.model_peaks[fpga.dtype] == pytest.approx(fpga.design_peak_flops * fpga.mac_efficiency)
    assert r.bandwidths == {"DRAM": fpga.dram_bandwidth}
    dsp = load_arch("hexagon_dsp")  # int8: 1024/8 = 128 lanes x 1 MAC x 2 slots x 2 contexts x 2 FLOP x 500 MHz
    r = device_roofs(dsp)
    assert r.peaks["int8"] == pytest.approx(128 * 1 * 2 * 2 * 2 * dsp.clock)
    assert r.model_peaks["int8"] == pytest.approx(r.peaks["int8"] * dsp.efficiency)
    cpu = load_arch("i7_6700k")
    r = device_roofs(cpu)
    assert r.peaks["fp32"] == pytest.approx(cpu.peak_flops("fp32")) and r.bandwidths["DRAM"] == cpu.dram_bandwidth


def test_gpu_roof_is_the_datasheet_peak_and_the_boost_ceiling_is_labelled():
    """Before: the bf16 roof of an H100 read 1070 TFLOP/s (1.83 GHz peak rescaled to 1.98 GHz boost)."""
    spec = load_arch("h100")
    cited = spec.peak["bf16"]  # the YAML's `peak:` value (989.4 TFLOP/s)
    roofs = device_roofs(spec)
    assert roofs.peaks["bf16"] == cited
    assert roofs.model_peaks["bf16"] == pytest.approx(spec.peak_at("bf16") * spec.calibration.tensor_efficiency)
    assert "1.98 GHz boost" in roofs.model_notes["bf16"]
    pts = pd.DataFrame([{"label": "k", "kind": "gemm", "dtype": "bf16", "source": "measured", "intensity": 500.0,
                         "flops_per_s": 6e14, "time_s": 1e-3}])
    names = [t.name for t in roofline_figure(pts, roofs).data]
    assert f"bf16 roof ({cited / 1e12:.4g} TFLOP/s, datasheet at 1.83 GHz)" in names
    model = [n for n in names if "model ceiling" in n]
    assert model == [f"bf16 model ceiling at 1.98 GHz boost ({roofs.model_peaks['bf16'] / 1e12:.4g} TFLOP/s)"]


# ------------------------------------------------------------------------------------------ energy
def _colors(fig) -> dict[str, str]:
    return {t.legendgroup: t.marker.color for t in fig.data}


def test_energy_colours_are_fixed_per_component_across_charts():
    """Before: colours were assigned by energy rank, so 'dram' changed colour between archs."""
    a = pd.DataFrame([{"layer": "x", "component": c, "energy_j": e} for c, e in
                      (("compute", 3.0), ("dram", 1.0), ("l2", 0.5))])
    b = pd.DataFrame([{"layer": "x", "component": c, "energy_j": e} for c, e in
                      (("dram", 5.0), ("sram", 2.0), ("compute", 1.0), ("register", 0.1))])
    ca, cb = _colors(energy_figure(a)), _colors(energy_figure(b))
    for comp in ("compute", "dram"):
        assert ca[comp] == cb[comp] == COMPONENT_COLORS[comp]
    assert len(set(cb.values())) == len(cb)  # distinct components stay distinguishable


def test_fpga_energy_is_labelled_board_power_times_time(tmp_path, capsys):
    """Before: the FPGA chart was titled 'Dynamic energy' with a component named 'board'."""
    g = chain_graph(2, batch=4, width=64)
    t = energy_table(g, load_arch("arria10_gx1150"))
    assert set(t["component"]) == {"board"}
    names = {tr.name for tr in energy_figure(t).data}
    assert names == {"board energy (power above idle x time)"}
    gpath = tmp_path / "g.json"
    g.save(gpath)
    assert main(["plot", "energy", "--graph", str(gpath), "--arch", "arria10_gx1150", "-o", str(tmp_path / "e"),
                 "--no-png"]) == 0
    html = (tmp_path / "e.html").read_text()
    assert "Board energy (power above idle x time) of" in html and "Dynamic energy" not in html


# ------------------------------------------------------------------------------------------ pareto ticks
def test_pareto_log_axes_have_readable_si_ticks():
    """Before: log axes had plotly's default ticks (bare '2', '5' between decades, no units)."""
    fig = pareto_figure(toy_records(), "latency_s", "energy_j")
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert x.type == "log" and x.tickmode == "array"
    assert list(x.ticktext) == ["1 ms", "2 ms", "5 ms", "10 ms"]
    assert list(y.ticktext) == ["1 mJ", "2 mJ", "5 mJ", "10 mJ"]
    assert list(x.tickvals) == pytest.approx([1e-3, 2e-3, 5e-3, 1e-2])
    lin = pareto_figure(toy_records(), "latency_s", "energy_j", log_x=False, log_y=False)
    assert lin.layout.xaxis.type == "linear"


@pytest.mark.parametrize("lo,hi,unit", [(1e-6, 3e2, "J"), (1.1e-3, 1.3e-3, "s"), (10, 2e4, "mm^2"),
                                        (1e-20, 1e20, "W"), (3.0, 3.5, "items/s")])
def test_log_ticks_cover_the_data_with_few_labelled_ticks(lo, hi, unit):
    vals, text = log_ticks(lo, hi, unit)
    inside = [v for v in vals if lo <= v <= hi]
    assert len(inside) >= 2 and len(vals) <= 16 and len(text) == len(vals)
    assert vals == sorted(vals) and all(t.endswith({"mm^2": "mm²"}.get(unit, unit)) for t in text)


def test_format_si():
    assert format_si(0.002, "s") == "2 ms" and format_si(2e-6, "J") == "2 µJ" and format_si(1500, "mm^2") == "1500 mm²"
    assert format_si(2e4, "items/s") == "20k items/s"


# ------------------------------------------------------------------------------------------ hostile inputs
GOOD = [{"key": str(i), "sweep": "s", "status": "ok", "params": {"rows": 8 * (i + 1)},
         "objectives": {"latency_s": (i + 1) * 1e-3, "energy_j": (5 - i) * 1e-3}} for i in range(4)]
GL = "".join(json.dumps(r) + "\n" for r in GOOD)
H = "dtype,M,N,K,flops,ms,tflops,bytes_min,batch\n"
CH = "name,dtype,channels_last,N,Cin,Cout,H,W,R,S,stride,pad,groups,Hout,Wout,macs,ms,tflops\n"


def _rec(**objectives) -> str:
    return json.dumps({"key": "z", "status": "ok", "params": {}, "objectives": objectives}) + "\n"


#: name -> (files to write {name: str|bytes}, argv after "plot", expected rc, text expected in stderr)
CASES = {
    "pareto missing": ({}, ["pareto", "{d}/nope.jsonl"], 2, "results file not found"),
    "pareto empty": ({"r.jsonl": ""}, ["pareto", "{d}/r.jsonl"], 2, "no results in file"),
    "pareto truncated": ({"r.jsonl": GL + GL[:40]}, ["pareto", "{d}/r.jsonl"], 0, "skipped 1 unreadable line"),
    "pareto non-utf8": ({"r.jsonl": GL.encode() + b"\xff\xfe\n"}, ["pareto", "{d}/r.jsonl"], 0, "not UTF-8"),
    "pareto binary": ({"r.jsonl": b"\xff\x00\xfe" * 50}, ["pareto", "{d}/r.jsonl"], 2, "no readable record"),
    "pareto array lines": ({"r.jsonl": "[1,2]\n[3]\n"}, ["pareto", "{d}/r.jsonl"], 2, "not a JSON object"),
    "pareto objectives list": ({"r.jsonl": json.dumps({"key": "a", "status": "ok", "objectives": [1]}) + "\n"},
                               ["pareto", "{d}/r.jsonl"], 2, "'objectives' is not an object"),
    "pareto params list": ({"r.jsonl": json.dumps({"key": "a", "status": "ok", "params": [1],
                                                   "objectives": {"latency_s": 1, "energy_j": 1}}) + "\n"},
                           ["pareto", "{d}/r.jsonl"], 2, "'params' is not an object"),
    "pareto key list": ({"r.jsonl": json.dumps({"key": [1], "status": "ok"}) + "\n"},
                        ["pareto", "{d}/r.jsonl"], 2, "no string 'key'"),
    "pareto string objective": ({"r.jsonl": _rec(latency_s="x", energy_j=1)}, ["pareto", "{d}/r.jsonl"], 2,
                                "none with finite positive"),
    "pareto bool objective": ({"r.jsonl": _rec(latency_s=True, energy_j=1)}, ["pareto", "{d}/r.jsonl"], 2,
                              "none with finite positive"),
    "pareto NaN": ({"r.jsonl": GL + '{"key":"n","status":"ok","objectives":{"latency_s":NaN,"energy_j":1}}\n'},
                   ["pareto", "{d}/r.jsonl"], 0, "NaN is not valid JSON"),
    "pareto Infinity": ({"r.jsonl": GL + '{"key":"n","status":"ok","objectives":{"latency_s":Infinity,"energy_j":1}}\n'},
                        ["pareto", "{d}/r.jsonl"], 0, "skipped 1 unreadable line"),
    "pareto negative": ({"r.jsonl": GL + _rec(latency_s=-1, energy_j=1)}, ["pareto", "{d}/r.jsonl"], 0,
                        "dropped 1 of 5 feasible record(s): 1 latency_s negative"),
    "pareto zero on log": ({"r.jsonl": GL + _rec(latency_s=0, energy_j=1)}, ["pareto", "{d}/r.jsonl"], 0,
                           "latency_s zero (log axis)"),
    "pareto only NaN": ({"r.jsonl": '{"key":"n","status":"ok","objectives":{"latency_s":NaN,"energy_j":1}}\n'},
                        ["pareto", "{d}/r.jsonl"], 2, "no readable record"),
    "pareto all infeasible": ({"r.jsonl": json.dumps({"key": "a", "status": "infeasible", "params": {}}) + "\n"},
                              ["pareto", "{d}/r.jsonl"], 2, "0 of 1 record(s) have status 'ok'"),
    "pareto unknown --x": ({"r.jsonl": GL}, ["pareto", "{d}/r.jsonl", "--x", "nope"], 2, "unknown objective 'nope'"),
    "pareto --y absent": ({"r.jsonl": GL}, ["pareto", "{d}/r.jsonl", "--y", "area"], 2, "not in the results"),
    "pareto unknown --color-by": ({"r.jsonl": GL}, ["pareto", "{d}/r.jsonl", "--color-by", "zz"], 2,
                                  "unknown parameter 'zz'"),
    "pareto directory": ({}, ["pareto", "{d}"], 2, "not a regular file"),
    "timeline list of ints": ({"t.json": "[1,2,3]"}, ["timeline", "{d}/t.json"], 2, "no complete"),
    "timeline not a trace": ({"t.json": '{"a": 1}'}, ["timeline", "{d}/t.json"], 2, "traceEvents: missing"),
    "timeline null": ({"t.json": "null"}, ["timeline", "{d}/t.json"], 2, "traceEvents: missing"),
    "timeline zero events": ({"t.json": '{"traceEvents": []}'}, ["timeline", "{d}/t.json"], 2, "no complete"),
    "timeline ts string": ({"t.json": '{"traceEvents":[{"ph":"X","ts":"abc","dur":1}]}'},
                           ["timeline", "{d}/t.json"], 2, "no complete"),
    "timeline ts missing": ({"t.json": '{"traceEvents":[{"ph":"X","dur":1}]}'}, ["timeline", "{d}/t.json"], 2,
                            "no complete"),
    "timeline ts NaN": ({"t.json": '{"traceEvents":[{"ph":"X","ts":NaN,"dur":1}]}'}, ["timeline", "{d}/t.json"], 2,
                        "NaN is not valid JSON"),
    "timeline negative dur": ({"t.json": json.dumps({"traceEvents": trace()["traceEvents"]
                                                     + [{"ph": "X", "ts": 0, "dur": -5}]})},
                              ["timeline", "{d}/t.json"], 0, "negative 'dur'"),
    # before: a warning line and then the error line (two lines on stderr for one bad input)
    "timeline only negative dur": ({"t.json": '{"traceEvents":[{"ph":"X","ts":0,"dur":-5}]}'},
                                   ["timeline", "{d}/t.json"], 2, "1 of 1 skipped; first: traceEvents[0]: negative 'dur'"),
    "timeline odd args": ({"t.json": '{"traceEvents":[{"ph":"M","name":"process_name","pid":1,"args":"x"},'
                                     '{"ph":"X","ts":0,"dur":5,"pid":[1],"tid":{"a":1},"args":[1]}]}'},
                          ["timeline", "{d}/t.json"], 0, ""),
    "timeline non-utf8": ({"t.json": b'{"traceEvents":[\xff]}'}, ["timeline", "{d}/t.json"], 2, "not UTF-8"),
    "timeline empty file": ({"t.json": ""}, ["timeline", "{d}/t.json"], 2, "empty file"),
    "timeline directory": ({}, ["timeline", "{d}"], 2, "not a regular file"),
    "roofline missing dir": ({}, ["roofline", "--measurements", "{d}/nope"], 2, "measurement directory not found"),
    "roofline empty dir": ({"m/.keep": ""}, ["roofline", "--measurements", "{d}/m"], 2, "no gemm.csv/conv.csv rows"),
    "roofline missing column": ({"m/gemm.csv": "dtype,M,N\nfp32,1,2\n"}, ["roofline", "--measurements", "{d}/m"], 2,
                                "missing column"),
    "roofline M text": ({"m/gemm.csv": H + "fp32,abc,2,3,1,1,1,1,\n"}, ["roofline", "--measurements", "{d}/m"], 2,
                        "column M"),
    "roofline M zero": ({"m/gemm.csv": H + "fp32,0,2,3,1,1,1,1,\n"}, ["roofline", "--measurements", "{d}/m"], 2,
                        "column M"),
    "roofline ms inf": ({"m/gemm.csv": H + "fp32,4,2,3,1,inf,1,1,\n"}, ["roofline", "--measurements", "{d}/m"], 2,
                        "column ms"),
    "roofline ms zero": ({"m/gemm.csv": H + "fp32,4,2,3,1,0,1,1,\n"}, ["roofline", "--measurements", "{d}/m"], 2,
                         "column ms"),
    "roofline non-utf8": ({"m/gemm.csv": H.encode() + b"fp32,4,2,3,1,1,1,1,\xff\n"},
                          ["roofline", "--measurements", "{d}/m"], 2, "gemm.csv"),
    "roofline empty csv": ({"m/gemm.csv": ""}, ["roofline", "--measurements", "{d}/m"], 2, "gemm.csv"),
    "roofline conv groups 0": ({"m/conv.csv": CH + "x,fp16,True,1,64,64,56,56,3,3,1,1,0,56,56,1,0.05,1\n"},
                               ["roofline", "--measurements", "{d}/m"], 2, "groups"),
    "roofline gemm.csv is a dir": ({"m/gemm.csv/.keep": ""}, ["roofline", "--measurements", "{d}/m"], 2,
                                   "not a regular file"),
    "roofline measurements is a file": ({"m": "x"}, ["roofline", "--measurements", "{d}/m"], 2, "not a directory"),
    "roofline graph not a graph": ({"g.json": "[1, 2]"}, ["roofline", "--graph", "{d}/g.json"], 2, "g.json"),
    "energy graph non-utf8": ({"g.json": b"\xff\xff"}, ["energy", "--graph", "{d}/g.json"], 2, "g.json"),
    "output is a directory": ({"t.json": json.dumps(trace()), "o.html/.keep": ""},
                              ["timeline", "{d}/t.json", "-o", "{d}/o"], 2, "not a regular file"),
    "output under a file": ({"t.json": json.dumps(trace()), "f": "x"}, ["timeline", "{d}/t.json", "-o", "{d}/f/o"], 2,
                            "is not a directory"),
    "output in a missing folder": ({"t.json": json.dumps(trace())},
                                   ["timeline", "{d}/t.json", "-o", "{d}/new/sub/o"], 0, ""),
}


def _write(d: Path, files: dict) -> None:
    for name, content in files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/.keep") or name.endswith(".keep"):
            continue
        p.write_bytes(content.encode() if isinstance(content, str) else content)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    def hang(*_):
        raise TimeoutError("accel plot hung")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        rc = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_plot_inputs(case, tmp_path, capsys):
    """Before: 26 of these raised tracebacks (UnicodeDecodeError, KeyError, ZeroDivisionError, ...) or drew NaN."""
    files, argv, want_rc, want_text = CASES[case]
    _write(tmp_path, files)
    argv = ["plot"] + [a.format(d=tmp_path) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "out" / "fig")]
    if argv[1] == "roofline" or argv[1] == "energy":
        argv += ["--arch", "tpu_v1"]
    rc, err = _run(argv + ["--no-png"], capsys)
    assert rc == want_rc, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc == 2:  # exactly one line: the error (FILE: FIELD: REASON); no warning line before it
        assert len(lines) == 1 and lines[0].startswith("accel plot: error: "), err
        assert lines[0].count(": ") >= 3, err
    else:
        assert all(ln.startswith("accel plot: warning: ") for ln in lines), err
        html = [a for a in argv if a == "-o"] and Path(argv[argv.index("-o") + 1] + ".html")
        assert html.is_file() and html.stat().st_size > 1000
    assert want_text in err


def test_fifo_as_output_is_refused_not_waited_on(tmp_path, capsys):
    (tmp_path / "t.json").write_text(json.dumps(trace()))
    os.mkfifo(tmp_path / "o.html")
    rc, err = _run(["plot", "timeline", str(tmp_path / "t.json"), "-o", str(tmp_path / "o"), "--no-png"], capsys)
    assert rc == 2 and "not a regular file" in err


def test_results_reader_caps_file_and_line_sizes(tmp_path, monkeypatch):
    p = tmp_path / "r.jsonl"
    long = json.dumps({"key": "L", "status": "ok", "params": {"x": "y" * 5000}, "objectives": {}})
    p.write_text(GL + long + "\n" + GL)
    with pytest.warns(PlotInputWarning, match=r"line 5: longer than 1,000 bytes; skipped 1"):
        recs = read_results_checked(p, max_line=1000)
    assert {r["key"] for r in recs} == {"0", "1", "2", "3"}
    with pytest.raises(ConfigError, match="over the 100-byte limit"):
        read_results_checked(p, max_bytes=100)


def test_non_finite_points_are_dropped_with_a_count():
    pts = pd.DataFrame([{"label": str(i), "kind": "gemm", "dtype": "bf16", "source": "measured", "intensity": x,
                         "flops_per_s": y, "time_s": 1e-3} for i, (x, y) in
                        enumerate([(10.0, 1e12), (float("nan"), 1e12), (5.0, float("inf")), (-1.0, 1e12)])])
    with pytest.warns(PlotInputWarning, match="dropped 3 of 4 point"):
        fig = roofline_figure(pts)
    assert sum(len(t.x) for t in fig.data) == 1
    with warnings.catch_warnings():  # nothing left: one error, no warning before it (one stderr line)
        warnings.simplefilter("error", PlotInputWarning)
        with pytest.raises(ConfigError, match=r"no point has a finite.*\(3 dropped\)"):
            roofline_figure(pts.iloc[1:])
    table = pd.DataFrame([{"layer": "a", "component": "dram", "energy_j": e} for e in (1.0, float("nan"), -2.0)])
    with pytest.warns(PlotInputWarning, match="dropped 2 of 3 row"):
        energy_figure(table)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlotInputWarning)
        with pytest.raises(ConfigError, match=r"no positive, finite energy to plot \(2 of 2 row"):
            energy_figure(table.iloc[1:])


def test_warnings_then_an_error_print_only_the_error(tmp_path, capsys):
    """A truncated line (a warning) followed by an unknown --sweep (an error) printed two stderr lines."""
    (tmp_path / "r.jsonl").write_text(GL + GL[:40])
    rc, err = _run(["plot", "pareto", str(tmp_path / "r.jsonl"), "--sweep", "nope", "-o", str(tmp_path / "o"),
                    "--no-png"], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("accel plot: error: "), err
