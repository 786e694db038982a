"""Bad command-line input and bad files give one clear error line and exit code 2, never a traceback."""

from __future__ import annotations

import json

import pytest

from accel.cli import main
from test_sim_toydev import chain_graph

TOY = """kind: _simtoy
name: toygpu
peak: 100 TFLOP/s
bandwidth: 1 TB/s
launch_overhead: 5 us
idle_power: 50 W
energy: {per_flop: {fp32: 1 pJ}, per_byte: {dram: 10 pJ/B}}
"""


@pytest.fixture
def files(tmp_path):
    g = tmp_path / "g.json"
    chain_graph(2, batch=16).save(g)
    a = tmp_path / "toygpu.yaml"
    a.write_text(TOY)
    return tmp_path, str(g), str(a)


def _usage_error(argv, capsys) -> str:
    """Run argv expecting an argparse usage error: exit 2 and exactly one stderr line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _error(argv, capsys) -> str:
    """Run argv expecting an accel error: exit 2 and one stderr line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("opt, value", [("--devices", "0"), ("--batch", "0"), ("--microbatches", "0"),
                                        ("--iterations", "0"), ("--top", "-1"), ("--seq-len", "0"),
                                        ("--devices", "two")])
def test_simulate_rejects_non_positive_counts(files, capsys, opt, value):
    _, g, a = files
    err = _usage_error(["simulate", "--graph", g, "--arch", a, opt, value], capsys)
    assert f"argument {opt}" in err and value in err and "accel simulate --help" in err


def test_negative_launch_overhead(files, capsys):
    _, g, a = files
    err = _error(["simulate", "--graph", g, "--arch", a, "--launch-overhead=-5 us"], capsys)
    assert "--launch-overhead" in err and ">= 0" in err


def test_graph_options_must_match_the_saved_graph(files, capsys):
    _, g, a = files
    err = _error(["simulate", "--graph", g, "--arch", a, "--batch", "4"], capsys)
    assert "meta.batch" in err and "batch=16" in err and "accel extract" in err
    err = _error(["simulate", "--graph", g, "--arch", a, "--dtype", "fp16"], capsys)
    assert "meta.dtype" in err and "dtype=fp32" in err
    err = _error(["simulate", "--graph", g, "--arch", a, "--mode", "train"], capsys)
    assert "meta.mode" in err
    # the same values as the graph are fine
    assert main(["simulate", "--graph", g, "--arch", a, "--batch", "16", "--dtype", "fp32", "--mode", "infer"]) == 0


def test_fixed_dtype_device_rejects_other_explicit_dtype(tmp_path, capsys):
    g = tmp_path / "bf16.json"
    chain_graph(2, batch=4, dtype="bf16").save(g)
    err = _error(["simulate", "--graph", str(g), "--arch", "systolic_32x32", "--dtype", "bf16"], capsys)
    assert "computes only in int8" in err and "allowed: int8" in err and "systolic_32x32.yaml: dtype" in err


def test_fixed_dtype_device_notes_the_default(files, capsys):
    _, g, _ = files
    assert main(["simulate", "--graph", g, "--arch", "systolic_32x32", "--top", "1"]) == 0
    assert "computes in int8" in capsys.readouterr().out


def test_memory_that_does_not_fit_is_an_error(files, capsys):
    tmp, g, _ = files
    small = tmp / "small.yaml"
    small.write_text(TOY + "hbm_size: 1 KiB\n")
    err = _error(["simulate", "--graph", g, "--arch", str(small)], capsys)
    assert "does not fit" in err and "1.02 kB" in err and "--no-memory-check" in err
    assert main(["simulate", "--graph", g, "--arch", str(small), "--no-memory-check"]) == 0
    assert "DOES NOT FIT" in capsys.readouterr().out


def test_unwritable_output_is_a_clean_error(files, capsys):
    tmp, g, a = files
    (tmp / "afile").write_text("x")
    err = _error(["simulate", "--graph", g, "--arch", a, "--json", str(tmp / "afile" / "r.json")], capsys)
    assert "afile" in err and "r.json" in err


def test_arch_yaml_typo_names_the_typo_and_suggests(tmp_path, capsys):
    from accel.arch.loader import list_archs

    text = list_archs()["v100"].read_text()
    bad = tmp_path / "typo.yaml"
    bad.write_text(text.replace("\nclock: 1530 MHz", "\nclokc: 1530 MHz", 1))
    err = _error(["archs", "show", str(bad)], capsys)
    assert "typo.yaml: clokc: unknown field (did you mean 'clock'?)" in err
    nested = tmp_path / "nested.yaml"
    nested.write_text(text.replace("hbm_bandwidth:", "hbm_bandwith:", 1))
    err = _error(["archs", "show", str(nested)], capsys)
    assert "memory.hbm_bandwith: unknown field (did you mean 'hbm_bandwidth'?)" in err
    allowed = err.split("allowed fields here: ")[1]
    assert "hbm_size" in allowed and "sm_count" not in allowed  # the nested level's fields, not the top level's


def test_archs_unknown_kind(capsys):
    err = _error(["archs", "--kind", "gpx"], capsys)
    assert "unknown kind 'gpx'" in err and "gpu" in err


def test_cost_model_for_a_system_is_a_clear_error():
    from accel.arch import load_arch
    from accel.devices import cost_model_for
    from accel.errors import ConfigError

    with pytest.raises(KeyError) as exc:  # still a KeyError for existing callers
        cost_model_for(load_arch("dgx_h100"))
    assert isinstance(exc.value, ConfigError)
    msg = str(exc.value)
    assert "dgx_h100.yaml: kind:" in msg and "'system'" in msg and "gpu" in msg and "systolic" in msg


def _sweep_spec(tmp_path, g):
    return {"name": "t", "base": "systolic_32x32", "parameters": {"rows": [8, 16, 32]},
            "workloads": [{"graph": g, "name": "chain"}], "objectives": ["latency", "energy"],
            "search": {"method": "grid"}, "evaluator": "analytic"}


def test_sweep_typo_key_and_not_a_spec(files, capsys):
    import yaml

    tmp, g, _ = files
    d = _sweep_spec(tmp, g)
    d["workload"] = d.pop("workloads")
    spec = tmp / "typo.yaml"
    spec.write_text(yaml.safe_dump(d))
    err = _error(["sweep", str(spec), "-o", str(tmp / "r.jsonl"), "--no-progress"], capsys)
    assert "typo.yaml: workload: unknown key (did you mean 'workloads'?)" in err
    other = tmp / "other.yaml"
    other.write_text("network: alexnet\ndevices: [a, b]\n")
    err = _error(["sweep", str(other), "--no-progress"], capsys)
    assert "not a sweep spec" in err and "network" in err and "parameters" in err


def test_sweep_limit_is_success_and_resumes(files, capsys):
    import yaml

    tmp, g, _ = files
    spec = tmp / "s.yaml"
    spec.write_text(yaml.safe_dump(_sweep_spec(tmp, g)))
    out = tmp / "r.jsonl"
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress", "--limit", "2"]) == 0
    assert "stopped after --limit 2" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 2
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 0
    assert len(out.read_text().splitlines()) == 3
    _usage_error(["sweep", str(spec), "-j", "0"], capsys)
    _usage_error(["sweep", str(spec), "--limit", "-5"], capsys)


def test_plot_bad_options(files, capsys):
    tmp, g, _ = files
    err = _error(["plot", "timeline", "--graph", g, "--no-png", "--no-html", "-o", str(tmp / "t")], capsys)
    assert "--no-png/--no-html" in err
    err = _error(["plot", "pareto", str(tmp / "missing.jsonl"), "--no-png", "-o", str(tmp / "p")], capsys)
    assert "missing.jsonl" in err and "not found" in err
    res = tmp / "r.jsonl"
    res.write_text(json.dumps({"key": "a", "sweep": "s", "status": "ok", "params": {"rows": 8},
                               "objectives": {"latency_s": 1.0, "energy_j": 2.0}}) + "\n")
    err = _error(["plot", "pareto", str(res), "--color-by", "rowz", "--no-png", "-o", str(tmp / "p")], capsys)
    assert "--color-by" in err and "rowz" in err and "rows" in err
    err = _error(["plot", "roofline", "--graph", g, "--arch", "dgx_h100", "--no-png", "-o", str(tmp / "r")], capsys)
    assert "'system'" in err
    err = _usage_error(["plot", "energy", "--graph", g, "--top", "0"], capsys)
    assert "argument --top" in err


def test_pipeline_with_more_stages_than_ops(files, capsys):
    _, g, a = files  # 2 layers = 4 forward ops
    err = _error(["simulate", "--graph", g, "--arch", a, "--devices", "5", "--parallel", "pipeline", "--fabric", "nvlink4"],
                 capsys)
    assert "pipeline of 5 stages" in err and "only 4 forward ops" in err
    assert main(["simulate", "--graph", g, "--arch", a, "--devices", "4", "--parallel", "pipeline", "--fabric", "nvlink4"]) == 0


def test_fabric_needs_several_devices(files, capsys):
    _, g, a = files
    err = _error(["simulate", "--graph", g, "--arch", a, "--fabric", "pcie4"], capsys)
    assert "--fabric" in err and "--devices N" in err


def test_utilisation_of_identical_devices_is_compact(files, capsys):
    _, g, a = files
    assert main(["simulate", "--graph", g, "--arch", a, "--devices", "3", "--fabric", "nvlink4"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("utilisation"))
    assert "3x toygpu: 0:" in line and " 2:" in line and line.count("toygpu") == 1


def test_unsupported_op_kind_names_the_op(tmp_path, capsys):
    from accel.graph import LayerGraph, OpNode, TensorInfo

    g = LayerGraph("rnnmodel", {"batch": 1, "mode": "infer", "dtype": "fp32"})
    x = TensorInfo.of((1, 16, 32), "fp32")
    g.add_op(OpNode("enc/lstm", "rnn", [x], [x], flops=1e6, dtype="fp32", module="enc"), [], [])
    path = tmp_path / "rnn.json"
    g.save(path)
    err = _error(["simulate", "--graph", str(path), "--arch", "systolic_32x32"], capsys)
    # rnn is costed on systolic arrays as its gate GEMMs (issue 16); without its shape the error names
    # the op and the attrs it needs
    assert "enc/lstm: attrs: rnn op needs attrs seq, batch, input, hidden" in err


def test_sweep_unknown_spec_name_lists_bundled(capsys):
    err = _error(["sweep", "no_such_experiment", "--no-progress"], capsys)
    assert "no bundled experiment" in err and "systolic_size_sweep" in err
    err = _error(["sweep", "no_such_file.yaml", "--no-progress"], capsys)
    assert "no_such_file.yaml" in err and "not found" in err


def test_cross_field_arch_error_names_the_field(tmp_path, capsys):
    from accel.arch.loader import list_archs

    bad = tmp_path / "idle.yaml"
    bad.write_text(list_archs()["v100"].read_text().replace("idle_power: 56.8 W", "idle_power: 560 W", 1))
    err = _error(["archs", "show", str(bad)], capsys)
    assert "idle.yaml: idle_power: idle_power must be below tdp" in err


def test_options_that_would_be_ignored_are_errors(files, capsys):
    _, g, a = files
    err = _error(["simulate", "--graph", g, "--arch", a, "--microbatches", "4"], capsys)
    assert "--microbatches" in err and "pipeline" in err
    err = _error(["simulate", "--graph", g, "--arch", a, "--devices", "2", "--fabric", "nvlink4", "--parallel",
                  "pipeline", "--iterations", "3"], capsys)
    assert "--iterations" in err and "--microbatches" in err
    assert main(["simulate", "--graph", g, "--arch", a, "--devices", "2", "--fabric", "nvlink4", "--parallel",
                 "pipeline", "--microbatches", "3"]) == 0


def test_optimizer_needs_training(files, capsys):
    _, g, a = files  # an inference graph
    err = _error(["simulate", "--graph", g, "--arch", a, "--optimizer", "adam"], capsys)
    assert "--optimizer" in err and "train" in err
    tmp = files[0]
    t = tmp / "train.json"
    graph = chain_graph(2, batch=4, train=True)
    graph.meta["optimizer"] = "sgd"
    graph.save(t)
    err = _error(["simulate", "--graph", str(t), "--arch", a, "--optimizer", "adam"], capsys)
    assert "meta.optimizer" in err and "optimizer=sgd" in err
    assert main(["simulate", "--graph", str(t), "--arch", a, "--optimizer", "sgd"]) == 0


def test_bare_accel_prints_help_and_one_error_line(capsys):
    """Bare `accel` printed the help and exited 2 with nothing on stderr (bench_bad_inputs: CLI arguments)."""
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert "simulate" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("accel: error: a COMMAND is required")


def test_tiny_throughput_is_not_printed_as_zero():
    """A 1e29 s launch overhead gave `throughput 0.0 items/s` (bench_bad_inputs, issue 17 item 3)."""
    from accel.units import format_rate

    assert format_rate(2e-28, "items/s") == "2e-28 items/s"
    assert format_rate(1234.56, "items/s") == "1,234.6 items/s"
