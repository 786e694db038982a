"""Regression tests for issue 17 item 1-3: validation at every boundary (graph JSON, YAML, arch
schemas, simulated results). Each test failed before the fix (see the comment on each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.arch.loader import MAX_YAML_NODES, load_arch, read_yaml
from accel.errors import ConfigError, ResultRangeError
from accel.graph import LayerGraph, OpNode, TensorInfo
from accel.sim import ParallelConfig, simulate

TOY = Path(__file__).parent / "data" / "dse" / "toy_graph.json"
ARCHS = Path(__file__).parent.parent / "archs"


def _toy() -> dict:
    return json.loads(TOY.read_text())


def _load(d, tmp_path: Path) -> LayerGraph:
    p = tmp_path / "g.json"
    p.write_text(d if isinstance(d, str) else json.dumps(d))
    return LayerGraph.load(p)


def _one_line(exc: BaseException, *parts: str) -> None:
    s = str(exc)
    assert "\n" not in s
    for p in parts:
        assert p in s, s


# ---------------------------------------------------------------------------------------------- graph JSON
@pytest.mark.parametrize("mutate, field, reason", [
    # before: negative bytes simulated to `energy -59.6 kJ`
    (lambda d: d["ops"][0]["inputs"][0].__setitem__("bytes", -5), "ops[0].inputs[0].bytes", "greater than or equal to 0"),
    # before: `nan GFLOP`
    (lambda d: d["ops"][0].__setitem__("flops", "NaN"), "ops[0].flops", "valid number"),
    # before: one of two same-named ops silently dropped
    (lambda d: d["ops"][1].__setitem__("name", "l0/mm"), "ops[1].name", "duplicate op name 'l0/mm'"),
    (lambda d: d["ops"][0].__setitem__("kind", "matmull"), "ops[0].kind", "did you mean 'matmul'"),
    (lambda d: d["ops"][0].__setitem__("phase", "backwrd"), "ops[0].phase", "did you mean 'backward'"),
    (lambda d: d["ops"][0].__setitem__("dtype", "fp61"), "ops[0].dtype", "unknown dtype"),
    # before: negative batch gave negative throughput
    (lambda d: d["meta"].__setitem__("batch", -2), "meta.batch", "integer >= 1"),
    (lambda d: d["meta"].__setitem__("batch", 0), "meta.batch", "integer >= 1"),
    (lambda d: d["ops"][0]["attrs"].__setitem__("M", -1), "ops[0].attrs.M", "integer >= 0"),
    (lambda d: d["ops"][0]["attrs"].__setitem__("M", "64"), "ops[0].attrs.M", "integer >= 0"),
    (lambda d: d["ops"][0]["attrs"].pop("K"), "ops[0].attrs.K", "needs attrs M, N, K"),
    (lambda d: d["ops"][0]["inputs"][0].__setitem__("bytes", 1), "ops[0].inputs[0].bytes", "disagrees with shape"),
    (lambda d: d["edges"].append(["l1/mm", "l0/mm", 0]), "edges[11]", "comes before"),
    (lambda d: d["edges"].append(["l1/mm", "l1/mm", 0]), "edges[11]", "self-loop"),
    (lambda d: d["edges"].append(["l1/mmm", "l0/mm", 0]), "edges[11]", "did you mean 'l1/mm'"),
    (lambda d: d["edges"].__setitem__(0, ["l0/mm"]), "edges[0]", "[producer op name, consumer op name, bytes]"),
    # before: an empty graph gave `throughput inf`
    (lambda d: d.__setitem__("ops", []), "ops", "at least 1"),
    # before: TypeError / AttributeError tracebacks
    (lambda d: d.__setitem__("ops", {}), "ops", "valid list"),
    (lambda d: d["ops"].__setitem__(0, "x"), "ops[0]", "dictionary"),
    (lambda d: d["ops"][0].__setitem__("inputs", None), "ops[0].inputs", "valid list"),
    (lambda d: d["ops"][0].__setitem__("flop", 3), "ops[0].flop", "did you mean 'flops'"),
    (lambda d: d.__setitem__("meta", []), "meta", "dictionary"),
    (lambda d: d["meta"].__setitem__("mode", "trian"), "meta.mode", "did you mean 'train'"),
    (lambda d: d["ops"][0].update(kind="conv", attrs=dict(N=1, Cin=3, Cout=8, R=3, S=3, Hout=4, Wout=4, groups=0)),
     "ops[0].attrs.groups", "integer >= 1"),
])
def test_graph_json_schema_errors(tmp_path, mutate, field, reason):
    d = _toy()
    mutate(d)
    with pytest.raises(ConfigError) as ei:
        _load(d, tmp_path)
    _one_line(ei.value, f"g.json: {field}: ", reason)


@pytest.mark.parametrize("text, where", [
    ("{", "line 1"),                                    # truncated
    ('{"format": "accel.LayerGraph/1", "format": 1}', "duplicate key 'format'"),
    ('{"format": "accel.LayerGraph/1", "ops": [{"name": "a", "kind": "other", "flops": Infinity}]}', "Infinity"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ("[1, 2]", "expected a JSON object"),
    ('"x"', "expected a JSON object"),
])
def test_graph_json_malformed(tmp_path, text, where):
    with pytest.raises(ConfigError) as ei:
        _load(text, tmp_path)
    _one_line(ei.value, "g.json", where)


def test_graph_file_not_utf8_not_regular(tmp_path):
    p = tmp_path / "g.json"
    p.write_bytes(TOY.read_bytes().replace(b'"toy"', b'"t\xffy"', 1))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xff"):
        LayerGraph.load(p)
    with pytest.raises(ConfigError, match="not a regular file"):
        LayerGraph.load(tmp_path)


def test_graph_json_valid_roundtrip_and_zero_matmul(tmp_path):
    g = _load(_toy(), tmp_path)
    assert len(g) == 12 and g.graph.number_of_edges() == 11
    d = _toy()
    d["ops"][0]["attrs"].update(M=0, N=0, K=0)  # a 0x0x0 matmul is valid input
    assert _load(d, tmp_path).op("l0/mm").attrs["M"] == 0


def test_opnode_rejects_nonfinite_flops():
    with pytest.raises(ValueError, match="finite"):  # before: NaN passed the `< 0` check
        OpNode("x", "elementwise", flops=float("nan"))


# ---------------------------------------------------------------------------------------------- YAML
LAUGHS = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + LAUGHS


@pytest.mark.parametrize("text, reason", [
    ("kind: gpu\nname: x\nname: y\n", "duplicate key 'name' (first defined on line 2)"),  # before: last wins
    (LAUGHS, f"more than {MAX_YAML_NODES:,} nodes"),                                       # before: grew without end
    ("a: &a [*a]\n", "recursive alias"),
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("- 1\n", "expected a mapping"),
    ("a: !!python/object:os.system {}\n", "could not determine a constructor"),
])
def test_yaml_hostile(tmp_path, text, reason):
    p = tmp_path / "a.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        read_yaml(p)
    _one_line(ei.value, str(p), reason)


def test_yaml_merge_keys_still_work(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("base: &b {x: 1, y: 2}\nz:\n  <<: *b\n  x: 3\n")
    assert read_yaml(p)["z"] == {"x": 3, "y": 2}


def test_yaml_not_utf8_oversized_fifo(tmp_path):
    import os

    p = tmp_path / "a.yaml"
    p.write_bytes(b"kind: gpu\nname: \xff\n")
    with pytest.raises(ConfigError, match=r"line 2: not UTF-8 text"):  # before: UnicodeDecodeError traceback
        read_yaml(p)
    p.write_text("a: 1\n" + "#" * 2_000_000)
    with pytest.raises(ConfigError, match="limit"):
        read_yaml(p)
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):  # before: blocked forever
        read_yaml(fifo)


def _mutated_arch(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    text = (ARCHS / rel).read_text()
    assert old in text
    p = tmp_path / Path(rel).name
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("rel, old, new, field, reason", [
    # before: ZeroDivisionError / inf latency
    ("systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: .inf\n", "word_bytes", "finite"),
    ("systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: 1e300\n", "word_bytes", "out of range"),
    # before: a typo in fused_kinds silently changed results
    ("systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nfused_kinds: [actvation]\n", "fused_kinds",
     "did you mean 'activation'"),
    ("systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: itn8\n", "dtype", "did you mean 'int8'"),
    ("systolic/systolic_32x32.yaml", "    dram: 87.5 pJ/B", "    drma: 87.5 pJ/B", "energy.per_byte", "did you mean 'dram'"),
    ("systolic/systolic_32x32.yaml", "    int8: 0.02 pJ", "    itn8: 0.02 pJ", "energy.per_flop", "unknown dtype"),
    # before: a tiny-but-valid bandwidth gave `latency inf s`
    ("systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 1e-300 B/s", "dram_bandwidth",
     "outside the supported range"),
    ("gpu/h100.yaml", "tensor_core_dtypes: [", "tensor_core_dtypes: [bf61, ", "tensor_core_dtypes", "unknown dtype"),
])
def test_arch_schema_rejects(tmp_path, rel, old, new, field, reason):
    p = _mutated_arch(tmp_path, rel, old, new)
    with pytest.raises(ConfigError) as ei:
        load_arch(p)
    _one_line(ei.value, f"{p}: {field}: ", reason)


def test_system_device_count_bounded(tmp_path):
    from accel.arch.system import MAX_DEVICES

    p = _mutated_arch(tmp_path, "systems/dgx_h100.yaml", "count: 8", "count: 100000")
    with pytest.raises(ConfigError, match=f"less than or equal to {MAX_DEVICES}"):  # before: never finished
        load_arch(p)
    with pytest.raises(ConfigError, match="devices"):
        ParallelConfig(devices=MAX_DEVICES + 1)


def test_every_bundled_arch_still_loads():
    from accel.arch.loader import list_archs

    for name in list_archs():
        load_arch(name)


# ---------------------------------------------------------------------------------------------- results
def _graph(*ops: OpNode, batch: int = 1) -> LayerGraph:
    g = LayerGraph("t", {"batch": batch})
    prev: list[str] = []
    for o in ops:
        g.add_op(o, deps=prev)
        prev = [o.name]
    return g


def _mm(name: str, m: int, n: int, k: int) -> OpNode:
    return OpNode(name, "matmul", [TensorInfo.of((m, k), "fp32")], [TensorInfo.of((m, n), "fp32")],
                  [TensorInfo.of((k, n), "fp32")], flops=2.0 * m * n * k, macs=1.0 * m * n * k,
                  attrs={"M": m, "N": n, "K": k, "batch": 1})


def _ew(name: str, n: int) -> OpNode:
    return OpNode(name, "elementwise", [TensorInfo.of((n,), "fp32")], [TensorInfo.of((n,), "fp32")], flops=float(n))


@pytest.mark.parametrize("arch", ["h100", "i7_6700k", "tpu_v1", "systolic_32x32", "arria10_gx1150", "hexagon_dsp"])
def test_zero_size_matmul_on_every_kind(arch):
    # before: ZeroDivisionError in the GPU and systolic cost models
    res = simulate(_graph(_mm("z", 0, 0, 0), _mm("z2", 0, 64, 64), _ew("e", 4096)), arch)
    assert res.latency_s > 0 and res.energy_j >= 0 and res.throughput > 0
    by_name = {r.name: r for r in res.records}
    assert by_name["z"].flops == 0 and by_name["z"].bytes == 0
    assert by_name["z2"].flops == 0 and by_name["z2"].bytes <= 64 * 64 * 4  # reads at most its weight


def test_result_errors_name_the_quantity():
    # before: a graph of only empty ops on a device without launch overhead gave `throughput inf`
    with pytest.raises(ResultRangeError) as ei:
        simulate(_graph(_mm("z", 0, 0, 0)), "tpu_v1")
    _one_line(ei.value, "tpu_v1.yaml: latency: ", "is 0")
    # before: negative batch -> negative throughput
    with pytest.raises(ConfigError, match="batch_items"):
        simulate(_graph(_ew("e", 16)), "h100", batch_items=-3)
    g = _graph(_ew("e", 16))
    g.meta["batch"] = -3
    with pytest.raises(ConfigError, match="meta.batch"):
        simulate(g, "h100")
    # before: negative bytes built in code -> negative energy
    g = _graph(_ew("e", 16))
    g.op("e").inputs[0].bytes = -10
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.bytes"):
        simulate(g, "h100")
    with pytest.raises(ConfigError, match="no ops"):
        simulate(LayerGraph("empty"), "h100")


def test_task_count_bounded():
    g = _graph(*[_ew(f"e{i}", 16) for i in range(100)])
    with pytest.raises(ConfigError, match="exceeds the simulator's limit"):  # before: grew 50 MB/s
        simulate(g, "h100", iterations=20_000)


def test_cli_hostile_graph_one_line(tmp_path, capsys):
    from accel.cli import main

    d = _toy()
    d["ops"][0]["inputs"][0]["bytes"] = -5
    p = tmp_path / "g.json"
    p.write_text(json.dumps(d))
    assert main(["simulate", "--graph", str(p), "--arch", "h100"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}: ops[0].inputs[0].bytes: " in err[0]


# ---------------------------------------------------------------------------------------------- extremes in an arch
@pytest.mark.parametrize("rel, old, new", [
    # before: huge launch overhead / energy or a tiny bandwidth gave `latency inf s`, `energy nan J`, exit 0
    ("systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nlaunch_overhead: 1e300 s\n"),  # was 1.2e+286 Ps
    ("systolic/systolic_32x32.yaml", "    int8: 0.02 pJ", "    int8: 1e300 J"),                       # was `energy inf J`
    ("systolic/systolic_32x32.yaml", "    dram: 87.5 pJ/B", "    dram: 1e300 J/B"),
    ("systolic/systolic_32x32.yaml", "clock: 1 GHz", "clock: 1e-300 Hz"),
    ("systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nlaunch_overhead: 1e29 s\n"),   # in range: finite
    ("systolic/systolic_32x32.yaml", "    int8: 0.02 pJ", "    int8: 1e29 J"),
    ("systolic/systolic_32x32.yaml", "    dram: 87.5 pJ/B", "    dram: 1e29 J/B"),
    ("systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 1e-29 B/s"),
    ("systolic/systolic_32x32.yaml", "clock: 1 GHz", "clock: 1e-29 Hz"),
    ("systolic/systolic_32x32.yaml", "clock: 1 GHz", "clock: 1e29 Hz"),
    ("gpu/h100.yaml", "fp32: 14.8 pJ", "fp32: 1e29 J"),
])
def test_extreme_arch_values_give_finite_results_or_one_line_error(tmp_path, rel, old, new):
    p = _mutated_arch(tmp_path, rel, old, new)
    g = LayerGraph.load(TOY)
    try:
        res = simulate(g, load_arch(p))
    except ConfigError as exc:  # ResultRangeError included
        _one_line(exc, str(p))
        return
    import math

    for v in (res.latency_s, res.throughput):
        assert math.isfinite(v) and v > 0, (new, v)
    for v in (res.energy_j, res.energy_dynamic_j, res.energy_static_j, res.avg_power_w):
        assert math.isfinite(v) and v >= 0, (new, v)


@pytest.mark.parametrize("old, new", [("kernel_launch: 8.97 us", "kernel_launch: 1e29 s"),
                                      ("framework: 23 us", "framework: 1e300 s")])
def test_extreme_host_dispatch_gives_finite_results_or_one_line_error(tmp_path, old, new):
    """The host CPU's eager dispatch (host_runtime.dispatch) drives the GPU: extreme values stay finite or fail in one line."""
    import math

    p = _mutated_arch(tmp_path, "cpu/h100_host_xeon.yaml", old, new)
    g = LayerGraph.load(TOY)
    try:
        res = simulate(g, "h100", host=load_arch(p))
    except ConfigError as exc:
        _one_line(exc, str(p))
        return
    assert math.isfinite(res.latency_s) and res.latency_s > 0 and math.isfinite(res.energy_j)


def test_cli_extreme_arch_prints_no_inf_or_nan(tmp_path, capsys):
    import re

    from accel.cli import main

    p = _mutated_arch(tmp_path, "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nlaunch_overhead: 1e29 s\n")
    rc = main(["simulate", "--graph", str(TOY), "--arch", str(p), "--no-memory-check"])
    out, err = capsys.readouterr()
    assert rc in (0, 2)
    if rc == 2:
        assert len(err.strip().splitlines()) == 1
    else:
        head = out.split("per-layer")[0]
        assert not re.search(r"(?<![\w.])-?(nan|inf)(?!\w)|(latency|throughput|energy|power)\s+-\d", head, re.I), head


def test_cli_archs_show_billion_laughs_is_bounded(tmp_path, capsys):
    """Item 9: `accel archs show` on a billion-laughs YAML grew without end; now one line, fast."""
    import time

    from accel.cli import main

    p = tmp_path / "laughs.yaml"
    p.write_text(LAUGHS)
    t0 = time.perf_counter()
    assert main(["archs", "show", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(p) in err[0] and f"more than {MAX_YAML_NODES:,} nodes" in err[0], err
    assert time.perf_counter() - t0 < 5


def test_graph_json_nan_literal_flops(tmp_path):
    """Item 3: a NaN FLOP count (JSON NaN literal) simulated to `nan GFLOP`; now a one-line error."""
    text = TOY.read_text().replace('"flops": 3211264', '"flops": NaN', 1)
    assert "NaN" in text
    with pytest.raises(ConfigError) as ei:
        _load(text, tmp_path)
    _one_line(ei.value, "g.json", "NaN is not valid JSON")
