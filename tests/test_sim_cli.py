"""`accel simulate` and `accel archs` on a saved synthetic graph and a toy device YAML."""

import json

import pytest

from accel.cli import main
from test_sim_toydev import chain_graph

TOY = """kind: _simtoy
name: toygpu
peak: 100 TFLOP/s
bandwidth: 1 TB/s
launch_overhead: 5 us
graph_launch_overhead: 1 us
idle_power: 50 W
energy: {per_flop: {fp32: 1 pJ}, per_byte: {dram: 10 pJ/B}}
"""


@pytest.fixture
def files(tmp_path):
    g = tmp_path / "g.json"
    chain_graph(4, batch=16, train=True).save(g)
    a = tmp_path / "toygpu.yaml"
    a.write_text(TOY)
    return tmp_path, str(g), str(a)


def test_simulate_graph_prints_summary_and_table(files, capsys):
    tmp, g, a = files
    rc = main(["simulate", "--graph", g, "--arch", a, "--trace", str(tmp / "t.json"), "--json", str(tmp / "r.json"), "--top", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    for word in ("latency", "throughput", "energy", "J/item", "average power", "per-layer", "layer/module", "bound"):
        assert word in out, word
    assert "batch=16" in out
    table = out.split("by time:")[1].split("\n\n")[0].strip().splitlines()
    assert len(table) == 1 + 3
    r = json.loads((tmp / "r.json").read_text())
    assert r["latency_s"] > 0 and r["items"] == 16 and len(r["records"]) == 25
    assert any(e["ph"] == "X" for e in json.loads((tmp / "t.json").read_text())["traceEvents"])


def test_simulate_multi_device_and_options(files, capsys):
    tmp, g, a = files
    assert main(["simulate", "--graph", g, "--arch", a, "--devices", "4", "--parallel", "data", "--fabric", "nvlink4",
                 "--cuda-graphs", "--host-transfers", "--group-by", "kind", "--batch", "16", "--launch-overhead", "20 us"]) == 0
    out = capsys.readouterr().out
    assert "4 device(s), data-parallel" in out and "fabric:NVLink 4" in out and "host:PCIe 5.0" in out
    assert "(64 items simulated)" in out
    assert main(["simulate", "--graph", g, "--arch", a, "--devices", "2", "--parallel", "pipeline", "--microbatches", "4"]) == 0
    assert "(64 items simulated)" in capsys.readouterr().out


def test_simulate_errors_are_clean(files, capsys):
    tmp, g, a = files
    assert main(["simulate", "--graph", str(tmp / "missing.json"), "--arch", a]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["simulate", "--graph", g, "--arch", "no_such_arch"]) == 2
    assert "no arch named 'no_such_arch'" in capsys.readouterr().err


def test_archs_list_and_show(capsys):
    assert main(["archs", "--kind", "link"]) == 0
    out = capsys.readouterr().out
    assert "pcie5" in out and "nvlink4" in out and "system" not in out.split("\n", 1)[1]
    assert main(["archs", "show", "nvlink4", "--sources"]) == 0
    out = capsys.readouterr().out
    assert '"per_direction_bandwidth": 450000000000.0' in out and "nccl-tests/issues/212" in out
    assert main(["archs", "show"]) == 2


def test_bad_launch_overhead_unit(files, capsys):
    tmp, g, a = files
    assert main(["simulate", "--graph", g, "--arch", a, "--launch-overhead", "20 GB"]) == 2
    assert "--launch-overhead: 20 GB: wrong unit" in capsys.readouterr().err


def test_main_job_real_model_on_h100(capsys):
    """`accel simulate --model resnet18 --arch h100` end to end (needs workloads + GPU model)."""
    assert main(["simulate", "--model", "resnet18", "--arch", "h100", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "batch=1 (default)" in out
    assert " conv " in out  # a conv layer appears in the per-layer table
    assert "latency" in out and "J/item" in out
