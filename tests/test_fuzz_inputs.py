"""Fuzzing the input boundaries (issue 17): hypothesis generates graph JSON, arch YAML and
measurement CSVs, valid and mutated, and checks the contract:

* either success with finite, non-negative numbers (latency and throughput > 0),
* or an :class:`accel.errors.AccelError` whose message is ONE line ``file: field: reason``
  (through the CLI: exit 2 and one line on stderr) -- never another exception, a hang or a NaN.

Deterministic (``derandomize=True``) and small (in-process calls) so it runs in CI in ~20 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.arch.loader import list_archs, parse_yaml_text, read_yaml, validate_arch_dict
from accel.errors import AccelError
from accel.graph import LayerGraph, parse_json_strict
from accel.sim import simulate

DATA = Path(__file__).parent / "data"
TOY = json.loads((DATA / "dse" / "toy_graph.json").read_text())
SIM_ARCHS = ("h100", "i7_6700k", "systolic_32x32", "arria10_gx1150", "hexagon_dsp")
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ONE_LINE = re.compile(r"^[^\n]+?: [^\n]+?: [^\n]+$")

#: values substituted into JSON / YAML leaves: wrong types, non-finite, negative, huge, empty
HOSTILE = [None, True, False, 0, -1, 1, 2**63, 10**40, -1e308, 1e308, 0.5, "", "x", "NaN", "-inf", "1e-300 B/s",
           "-5 GHz", "0 W", "1e30 TB/s", "1 GHz", [], [1, -1], {}, {"value": 1}, "fp61", "matmull", "forward"]


def assert_error_contract(exc: BaseException) -> None:
    assert isinstance(exc, AccelError), f"{type(exc).__name__}: {exc}"
    s = str(exc)
    assert ONE_LINE.match(s), repr(s)
    for bad in ("Traceback", "nan ", " inf "):
        assert bad not in s


def assert_result_contract(res) -> None:
    for v in (res.latency_s, res.throughput):
        assert math.isfinite(v) and v > 0
    for v in (res.energy_j, res.energy_dynamic_j, res.energy_static_j, res.avg_power_w):
        assert math.isfinite(v) and v >= 0
    for r in res.records:
        assert all(math.isfinite(x) and x >= 0 for x in (r.start, r.end, r.flops, r.bytes, r.energy_j))


def _paths(obj, prefix=()):
    """Every (path, value) of a JSON-like tree, containers included."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _set(obj, path, value):
    if not path:
        return value
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return obj


@st.composite
def mutated(draw, base, n_max: int = 3):
    """``base`` (deep-copied) with up to ``n_max`` leaves replaced by hostile values, or deleted."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, n_max))):
        paths = [p for p, _ in _paths(doc)]
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()) and isinstance(_get(doc, path[:-1]), dict):
            del _get(doc, path[:-1])[path[-1]]
        else:
            doc = _set(doc, path, draw(st.sampled_from(HOSTILE)))
    return doc


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


# ------------------------------------------------------------------------------------------ graphs
@st.composite
def valid_graphs(draw):
    """Small random graphs: chains of matmul / conv / elementwise ops with random (possibly zero) sizes."""
    dtype = draw(st.sampled_from(["fp32", "fp16", "bf16", "int8"]))
    eb = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}[dtype]
    ops, names = [], []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["matmul", "conv", "elementwise"]))
        name = f"op{i}"
        if kind == "matmul":
            m, n, k = (draw(st.integers(0, 300)) for _ in range(3))
            t = lambda *s: {"shape": list(s), "dtype": dtype, "bytes": math.prod(s) * eb}  # noqa: E731
            ops.append({"name": name, "kind": "matmul", "inputs": [t(m, k)], "outputs": [t(m, n)], "weights": [t(k, n)],
                        "flops": 2.0 * m * n * k, "macs": 1.0 * m * n * k, "dtype": dtype,
                        "attrs": {"M": m, "N": n, "K": k, "batch": 1}})
        elif kind == "conv":
            nb, c, co, h, r = (draw(st.integers(lo, hi)) for lo, hi in ((0, 4), (1, 32), (1, 32), (1, 16), (1, 3)))
            r = min(r, h)
            ho = h - r + 1
            t = lambda *s: {"shape": list(s), "dtype": dtype, "bytes": math.prod(s) * eb}  # noqa: E731
            macs = nb * co * ho * ho * c * r * r
            ops.append({"name": name, "kind": "conv", "inputs": [t(nb, c, h, h)], "outputs": [t(nb, co, ho, ho)],
                        "weights": [t(co, c, r, r)], "flops": 2.0 * macs, "macs": float(macs), "dtype": dtype,
                        "attrs": {"N": nb, "Cin": c, "Cout": co, "H": h, "W": h, "R": r, "S": r, "Hout": ho, "Wout": ho,
                                  "stride": 1, "pad": 0, "groups": 1}})
        else:
            n = draw(st.integers(0, 10_000))
            t = {"shape": [n], "dtype": dtype, "bytes": n * eb}
            ops.append({"name": name, "kind": "elementwise", "inputs": [t], "outputs": [t], "flops": float(n),
                        "dtype": dtype})
        names.append(name)
    edges = [[names[i], names[i + 1], 0] for i in range(len(names) - 1)]
    return {"format": "accel.LayerGraph/1", "name": "fuzz", "meta": {"batch": draw(st.integers(1, 8))},
            "ops": ops, "edges": edges}


def _graph_roundtrip(doc) -> LayerGraph | None:
    """Load ``doc`` as a graph file would be; None when it is (correctly) refused."""
    try:
        text = json.dumps(doc)
    except ValueError:
        return None
    try:
        return LayerGraph.from_dict(parse_json_strict(text, "g.json"), source="g.json")
    except Exception as exc:  # noqa: BLE001 - the contract is checked on every exception
        assert_error_contract(exc)
        assert str(exc).startswith("g.json: ")
        return None


def _simulate_contract(graph: LayerGraph, arch: str) -> None:
    try:
        res = simulate(graph, arch)
    except Exception as exc:  # noqa: BLE001
        assert_error_contract(exc)
        return
    assert_result_contract(res)


@FUZZ
@given(valid_graphs(), st.sampled_from(SIM_ARCHS))
def test_fuzz_valid_graphs_simulate(doc, arch):
    g = _graph_roundtrip(doc)
    assert g is not None, "a valid graph was refused"
    _simulate_contract(g, arch)


@FUZZ
@given(st.one_of(mutated(TOY), valid_graphs().flatmap(lambda d: mutated(d))), st.sampled_from(SIM_ARCHS))
def test_fuzz_mutated_graphs(doc, arch):
    g = _graph_roundtrip(doc)
    if g is not None:
        _simulate_contract(g, arch)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_fuzz_graph_bytes(blob):
    """Arbitrary bytes / text as a graph file never escape as a non-accel exception."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.json"
        p.write_bytes(blob if isinstance(blob, bytes) else blob.encode("utf-8", "surrogatepass"))
        try:
            LayerGraph.load(p)
        except Exception as exc:  # noqa: BLE001
            assert_error_contract(exc)


# ------------------------------------------------------------------------------------------ arch YAML
_BUNDLED = {n: read_yaml(p) for n, p in list_archs().items()
            if n in ("h100", "i7_6700k", "systolic_32x32", "tpu_v1", "arria10_gx1150", "hexagon_dsp", "pcie5", "dgx_h100")}
_TOY_GRAPH = LayerGraph.from_dict(TOY, "toy")


@FUZZ
@given(st.sampled_from(sorted(_BUNDLED)).flatmap(lambda n: st.tuples(st.just(n), mutated(_BUNDLED[n], n_max=2))))
def test_fuzz_mutated_arch_yaml(named):
    name, doc = named
    try:
        text = yaml.safe_dump(doc, sort_keys=False)
    except yaml.YAMLError:
        return
    try:
        spec = validate_arch_dict(parse_yaml_text(text, f"{name}.yaml"), f"{name}.yaml")
    except Exception as exc:  # noqa: BLE001
        assert_error_contract(exc)
        assert str(exc).startswith(f"{name}.yaml: ")
        return
    if spec.kind in ("link",):
        return
    _simulate_contract(_TOY_GRAPH, spec)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(list("ab:&*[]{}-, \n!<>'\"|#") + ["*a", "&a ", "<<: ", "!!python/object "]),
                max_size=60).map("".join))
def test_fuzz_yaml_text(text):
    """Random YAML-ish text: parsed or refused with a one-line error, never a hang or another exception."""
    try:
        parse_yaml_text(text, "f.yaml")
    except Exception as exc:  # noqa: BLE001
        assert_error_contract(exc)


# ------------------------------------------------------------------------------------------ measurement CSVs
_GEMM = (DATA / "validate" / "h100_quick" / "gemm.csv").read_text().splitlines()[:6]
_CONV = (DATA / "validate" / "h100_quick" / "conv.csv").read_text().splitlines()[:4]
CELLS = ["0", "-1", "1", "2.5", "inf", "nan", "", "x", "1e300", "99999999999999999999", "fp61", "\"", "7"]


@st.composite
def mutated_csv(draw):
    name, lines = draw(st.sampled_from([("gemm.csv", _GEMM), ("conv.csv", _CONV)]))
    rows = [ln.split(",") for ln in lines]
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(st.sampled_from(CELLS))
    return name, "\n".join(",".join(r) for r in rows) + "\n"


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_csv())
def test_fuzz_measurement_csv(tmp_path_factory, named):
    import shutil

    from accel.validate import validate_dir

    name, text = named
    d = tmp_path_factory.mktemp("m")
    shutil.copy(DATA / "validate" / "h100_quick" / "device.json", d)
    (d / name).write_text(text)
    try:
        rep = validate_dir(d, arch="h100")
    except Exception as exc:  # noqa: BLE001
        assert_error_contract(exc)
        return
    for c in rep.comparisons:
        assert math.isfinite(c.predicted) and c.predicted > 0 and math.isfinite(c.measured) and c.measured > 0


# ------------------------------------------------------------------------------------------ through the CLI
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated(TOY, n_max=2))
def test_fuzz_cli_simulate_graph(tmp_path_factory, doc):
    """``accel simulate --graph`` on mutated graphs: exit 0 with finite numbers, or exit 2 with one line."""
    from accel.cli import main

    p = tmp_path_factory.mktemp("g") / "g.json"
    try:
        p.write_text(json.dumps(doc))
    except ValueError:
        return
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["simulate", "--graph", str(p), "--arch", "h100"])
        except SystemExit as exc:
            rc = exc.code
    assert rc in (0, 2), (rc, err.getvalue())
    if rc == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("accel simulate: error: "), err.getvalue()
    else:
        head = out.getvalue().split("per-layer")[0]
        assert not re.search(r"\b(nan|inf)\b|-\d", head.split("graph:")[1]), head
