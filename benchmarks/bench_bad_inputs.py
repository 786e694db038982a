"""Hostile and degenerate inputs through the real CLI: a tally of good vs bad handling (issue 17).

    python benchmarks/bench_bad_inputs.py [--timeout 20] [--only graph,arch] [-v]

Each input runs ``accel.cli.main(argv)`` in-process (``SystemExit`` caught), in its own folder
under a temporary directory, with a per-input wall-clock limit (SIGALRM) and an address-space
limit for the whole run. An input is **good** when it ends with

* exit 0 and no ``nan``/``inf``/negative headline numbers in stdout or in the JSON it wrote, or
* exit 2 and exactly one line on stderr;

and **bad** otherwise: a traceback (any other exception), a hang (timeout), another exit code,
a multi-line error, non-finite output, a write outside the case's target folder, or an input file
modified. Prints tried/good/bad per category, then every bad input with its reason and the
area (owner) it falls in. Exit status 0 when no input is bad, 1 otherwise.

Categories: arch YAML, system YAML, graph JSON, CLI arguments, sweep specs, results files,
measurement dirs, plot inputs. Needs no torch (graphs are given with ``--graph``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

DATA = ROOT / "tests" / "data"
TOY_GRAPH = DATA / "dse" / "toy_graph.json"
SYSTOLIC = DATA / "dse" / "systolic_small.yaml"
MEAS = DATA / "validate" / "h100_quick"

#: category -> area of the code (and owner) that handles it
OWNER = {
    "arch YAML": "accel/arch (schemas, loader)", "system YAML": "accel/arch/system.py + accel/sim/system.py",
    "graph JSON": "accel/graph.py + accel/sim", "CLI arguments": "accel/cli",
    "sweep specs": "accel/dse + accel/cli/sweep.py", "results files": "accel/dse/store.py",
    "measurement dirs": "accel/validate", "plot inputs": "accel/plot + accel/cli/plot.py",
}

BILLION_LAUGHS = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
                  + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")))


@dataclass
class Case:
    category: str
    label: str
    #: writes inputs into the case folder; returns the argv (paths relative to the case folder)
    setup: Callable[[Path], list[str]]
    #: extra folders (relative) the command may write into besides out/ and results/
    allow: tuple[str, ...] = ()
    #: optional check after a good-looking run: (case folder, stdout) -> reason it is bad, or None
    check: Callable[[Path, str], str | None] | None = None


@dataclass
class Outcome:
    case: Case
    good: bool
    reason: str
    seconds: float
    detail: str = ""


CASES: list[Case] = []


def case(category: str, label: str, allow: tuple[str, ...] = ()):
    def deco(fn):
        CASES.append(Case(category, label, fn, allow))
        return fn
    return deco


def add(category: str, label: str, setup: Callable[[Path], list[str]], allow: tuple[str, ...] = (),
        check: Callable[[Path, str], str | None] | None = None) -> None:
    CASES.append(Case(category, label, setup, allow, check))


def write(d: Path, name: str, content: str | bytes) -> str:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return str(p)


def mutate_text(src: Path, old: str, new: str) -> str:
    text = src.read_text()
    if old not in text:
        raise AssertionError(f"benchmark setup: {old!r} not in {src}")
    return text.replace(old, new, 1)


# ------------------------------------------------------------------------------------- arch YAML
ARCH = ROOT / "archs"
_ARCH_EDITS: list[tuple[str, str, str, str]] = [
    # (label, file, old, new)
    ("gpu clock inf", "gpu/h100.yaml", "clock: 1980 MHz", "clock: .inf"),
    ("systolic word_bytes .inf", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: .inf\n"),
    ("systolic word_bytes .nan", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: .nan\n"),
    ("systolic word_bytes 1e300", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: 1e300\n"),
    ("systolic word_bytes 0", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: 0\n"),
    ("systolic word_bytes -1", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: -1\n"),
    ("systolic word_bytes string", "systolic/systolic_32x32.yaml", "word_bytes: 1\n", "word_bytes: one\n"),
    ("systolic rows 0", "systolic/systolic_32x32.yaml", "rows: 32", "rows: 0"),
    ("systolic rows 1e15", "systolic/systolic_32x32.yaml", "rows: 32", "rows: 1000000000000000"),
    ("systolic rows float", "systolic/systolic_32x32.yaml", "rows: 32", "rows: 32.5"),
    ("systolic rows list", "systolic/systolic_32x32.yaml", "rows: 32", "rows: [32]"),
    ("systolic bandwidth tiny", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 1e-300 B/s"),
    ("systolic bandwidth 1e-29", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 1e-29 B/s"),
    ("systolic bandwidth huge", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 1e300 TB/s"),
    ("systolic bandwidth no unit", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 10"),
    ("systolic bandwidth wrong unit", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: 10 GHz"),
    ("systolic bandwidth negative", "systolic/systolic_32x32.yaml", "dram_bandwidth: 10 GB/s", "dram_bandwidth: -10 GB/s"),
    ("systolic clock 1e29", "systolic/systolic_32x32.yaml", "clock: 1 GHz", "clock: 1e29 Hz"),
    ("systolic clock 1e-29", "systolic/systolic_32x32.yaml", "clock: 1 GHz", "clock: 1e-29 Hz"),
    ("systolic fused_kinds typo", "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nfused_kinds: [actvation]\n"),
    ("systolic fused_kinds str", "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nfused_kinds: pool\n"),
    ("systolic dtype typo", "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: itn8\n"),
    ("systolic dataflow typo", "systolic/systolic_32x32.yaml", "dataflow: os", "dataflow: oss"),
    ("systolic per_byte typo", "systolic/systolic_32x32.yaml", "    dram: 87.5 pJ/B", "    drma: 87.5 pJ/B"),
    ("systolic per_flop huge", "systolic/systolic_32x32.yaml", "    int8: 0.02 pJ", "    int8: 1e29 J"),
    ("systolic per_flop dtype typo", "systolic/systolic_32x32.yaml", "    int8: 0.02 pJ", "    itn8: 0.02 pJ"),
    ("systolic duplicate key", "systolic/systolic_32x32.yaml", "rows: 32", "rows: 32\nrows: 64"),
    ("systolic unknown field", "systolic/systolic_32x32.yaml", "rows: 32", "rows: 32\nrowz: 64"),
    ("systolic launch_overhead huge", "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nlaunch_overhead: 1e29 s\n"),
    ("systolic launch_overhead -1", "systolic/systolic_32x32.yaml", "dtype: int8\n", "dtype: int8\nlaunch_overhead: -1 s\n"),
    ("fpga mapping typo", "fpga/arria10_gx1150.yaml", "mapping: channel_unroll", "mapping: chanel_unroll"),
    ("fpga logic_cells 1e22", "fpga/arria10_gx1150.yaml", "logic_cells: 427200", "logic_cells: 10000000000000000000000"),
    ("gpu tensor_core_dtypes typo", "gpu/h100.yaml", "tensor_core_dtypes: [", "tensor_core_dtypes: [bf61, "),
    ("gpu sm_count 0", "gpu/h100.yaml", "sm_count: 132", "sm_count: 0"),
    ("cpu cores 0", "cpu/i7_6700k.yaml", "cores: 4\n", "cores: 0\n"),
    ("dsp vector_bits 0", "dsp/hexagon_dsp.yaml", "vector_bits: 1024", "vector_bits: 0"),
]
for _label, _file, _old, _new in _ARCH_EDITS:
    def _setup(d: Path, f=_file, o=_old, n=_new) -> list[str]:
        p = write(d, "arch.yaml", mutate_text(ARCH / f, o, n))
        return ["simulate", "--graph", str(TOY_GRAPH), "--arch", p, "--no-memory-check"]
    add("arch YAML", _label, _setup)

for _label, _content in [
    ("billion laughs", BILLION_LAUGHS), ("recursive alias", "a: &a [*a]\n"), ("empty file", ""),
    ("top-level list", "- kind: gpu\n"), ("python tag", "kind: !!python/object:os.system {}\n"),
    ("non-UTF-8 byte", b"kind: systolic\nname: \xff\xfe\n"), ("binary", bytes(range(256)) * 4),
    ("deep nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n"), ("tab indent", "kind: gpu\n\tname: x\n"),
    ("kind unknown", "kind: tpu\nname: x\n"), ("kind missing", "name: x\n"), ("kind list", "kind: [gpu]\nname: x\n"),
    ("sources not mapping", "kind: link\nname: x\nsources: [1]\n"), ("huge file", "a: 1\n" + "#" * (3 << 20)),
]:
    add("arch YAML", _label, lambda d, c=_content: ["archs", "show", write(d, "arch.yaml", c)])


def _fifo_arch(d: Path) -> list[str]:
    os.mkfifo(d / "fifo.yaml")
    return ["archs", "show", str(d / "fifo.yaml")]


add("arch YAML", "FIFO", _fifo_arch)
add("arch YAML", "directory named .yaml", lambda d: (d / "dir.yaml").mkdir() or ["archs", "show", str(d / "dir.yaml")])
add("arch YAML", "/dev/zero", lambda d: ["archs", "show", "/dev/zero"])

# ------------------------------------------------------------------------------------- system YAML
DGX = ARCH / "systems" / "dgx_h100.yaml"
for _label, _old, _new in [
    ("count 0", "count: 8", "count: 0"), ("count -1", "count: 8", "count: -1"),
    ("count 100000", "count: 8", "count: 100000"), ("count 1025", "count: 8", "count: 1025"),
    ("count string", "count: 8", "count: eight"), ("count float", "count: 8", "count: 8.5"),
    ("arch unknown", "arch: h100", "arch: h1000"), ("arch is a link", "arch: h100", "arch: nvlink4"),
    ("arch is a system", "arch: h100", "arch: dgx_a100"), ("arch empty", "arch: h100", "arch: ''"),
    ("host_link is a gpu", "host_link: pcie5", "host_link: h100"), ("host_link unknown", "host_link: pcie5", "host_link: pcie9"),
    ("topology typo", "topology: nvswitch", "topology: nvswich"), ("fabric link unknown", "link: nvlink4", "link: nvlink9"),
    ("devices empty", "  - {arch: h100, count: 8}", "  []"), ("duplicate key", "host_link: pcie5", "host_link: pcie5\nhost_link: pcie4"),
    ("host unknown", "host: h100_host_xeon", "host: xeon9"),
]:
    add("system YAML", _label, lambda d, o=_old, n=_new: ["simulate", "--graph", str(TOY_GRAPH), "--arch",
                                                         write(d, "sys.yaml", mutate_text(DGX, o, n))])


def _self_system(d: Path) -> list[str]:
    p = d / "self.yaml"
    p.write_text(mutate_text(DGX, "arch: h100", f"arch: {p}"))
    return ["simulate", "--graph", str(TOY_GRAPH), "--arch", str(p)]


add("system YAML", "system referencing itself", _self_system)
add("system YAML", "1000 devices data-parallel", lambda d: ["simulate", "--graph", str(TOY_GRAPH), "--arch",
                                                            write(d, "sys.yaml", mutate_text(DGX, "count: 8", "count: 1000"))])

# ------------------------------------------------------------------------------------- graph JSON
_TOY = json.loads(TOY_GRAPH.read_text())


def _graph_case(label: str, mutate: Callable[[dict], object], arch: str = "h100") -> None:
    def setup(d: Path) -> list[str]:
        g = json.loads(json.dumps(_TOY))
        r = mutate(g)
        g = g if r is None else r
        return ["simulate", "--graph", write(d, "g.json", json.dumps(g)), "--arch", arch]
    add("graph JSON", label, setup)


for _arch in ("h100", "tpu_v1", "systolic_32x32", "arria10_gx1150", "hexagon_dsp", "i7_6700k"):
    _graph_case(f"0x0x0 matmul on {_arch}", lambda g: g["ops"][0]["attrs"].update(M=0, N=0, K=0), _arch)
    _graph_case(f"valid toy on {_arch}", lambda g: None, _arch)
for _label, _mut in [
    ("negative tensor bytes", lambda g: g["ops"][0]["inputs"][0].__setitem__("bytes", -5)),
    ("negative edge bytes", lambda g: g["edges"][0].__setitem__(2, -5)),
    ("NaN flops", lambda g: g["ops"][0].__setitem__("flops", float("nan"))),
    ("Infinity macs", lambda g: g["ops"][0].__setitem__("macs", float("inf"))),
    ("flops as string", lambda g: g["ops"][0].__setitem__("flops", "1e9")),
    ("flops 1e400 int", lambda g: g["ops"][0].__setitem__("flops", 10**400)),
    ("negative flops", lambda g: g["ops"][0].__setitem__("flops", -1.0)),
    ("duplicate op name", lambda g: g["ops"][1].__setitem__("name", "l0/mm")),
    ("kind typo", lambda g: g["ops"][0].__setitem__("kind", "matmull")),
    ("phase typo", lambda g: g["ops"][0].__setitem__("phase", "backwrd")),
    ("dtype typo", lambda g: g["ops"][0].__setitem__("dtype", "fp61")),
    ("tensor dtype typo", lambda g: g["ops"][0]["inputs"][0].__setitem__("dtype", "int9")),
    ("batch 0", lambda g: g["meta"].__setitem__("batch", 0)),
    ("batch -4", lambda g: g["meta"].__setitem__("batch", -4)),
    ("batch string", lambda g: g["meta"].__setitem__("batch", "8")),
    ("M negative", lambda g: g["ops"][0]["attrs"].__setitem__("M", -1)),
    ("M string", lambda g: g["ops"][0]["attrs"].__setitem__("M", "64")),
    ("M missing", lambda g: g["ops"][0]["attrs"].pop("M") and None),
    ("bytes disagree with shape", lambda g: g["ops"][0]["inputs"][0].__setitem__("bytes", 1)),
    ("cycle", lambda g: g["edges"].append(["l1/mm", "l0/mm", 0])),
    ("self-loop", lambda g: g["edges"].append(["l1/mm", "l1/mm", 0])),
    ("edge to unknown op", lambda g: g["edges"].append(["nope", "l0/mm", 0])),
    ("edge of 2 items", lambda g: g["edges"].__setitem__(0, ["l0/mm", "l0/relu"])),
    ("edge not a list", lambda g: g["edges"].__setitem__(0, "l0/mm->l0/relu")),
    ("no ops", lambda g: g.__setitem__("ops", [])),
    ("ops an object", lambda g: g.__setitem__("ops", {})),
    ("op a string", lambda g: g["ops"].__setitem__(0, "x")),
    ("inputs null", lambda g: g["ops"][0].__setitem__("inputs", None)),
    ("attrs a list", lambda g: g["ops"][0].__setitem__("attrs", [])),
    ("unknown op field", lambda g: g["ops"][0].__setitem__("flop", 3)),
    ("meta a list", lambda g: g.__setitem__("meta", [])),
    ("format wrong", lambda g: g.__setitem__("format", "other")),
    ("top-level list", lambda g: [g]),
    ("conv groups 0", lambda g: g["ops"][0].update(kind="conv", attrs=dict(N=1, Cin=3, Cout=8, R=3, S=3, Hout=4, Wout=4, groups=0))),
    ("shape negative", lambda g: g["ops"][0]["inputs"][0].__setitem__("shape", [-196, 64])),
    ("shape 1e30", lambda g: g["ops"][0]["inputs"][0].__setitem__("shape", [10**30, 64])),
]:
    _graph_case(_label, _mut)
for _label, _content in [("truncated", TOY_GRAPH.read_bytes()[:500]),
                          ("non-UTF-8", TOY_GRAPH.read_bytes().replace(b'"toy"', b'"t\xffy"', 1)),
                         ("empty", b""), ("binary", bytes(range(256))), ("deep nesting", b"[" * 200000 + b"]" * 200000),
                         ("duplicate key", b'{"format": "accel.LayerGraph/1", "format": "x", "ops": []}'),
                         ("NaN literal", TOY_GRAPH.read_bytes().replace(b'"flops": 3211264', b'"flops": NaN', 1))]:
    add("graph JSON", f"file {_label}", lambda d, c=_content: ["simulate", "--graph", write(d, "g.json", c), "--arch", "h100"])
add("graph JSON", "graph is a directory", lambda d: (d / "g.json").mkdir() or ["simulate", "--graph", str(d / "g.json")])

# ------------------------------------------------------------------------------------- CLI arguments
_SIM = ["simulate", "--graph", str(TOY_GRAPH), "--arch", "h100"]
for _label, _extra in [
    ("--batch 0", ["--batch", "0"]), ("--batch -1", ["--batch", "-1"]), ("--batch abc", ["--batch", "abc"]),
    ("--devices 0", ["--devices", "0"]), ("--devices 100000", ["--devices", "100000"]),
    ("--iterations 1e9", ["--iterations", "1000000000"]), ("--iterations 1e6", ["--iterations", "1000000"]),
    ("--iterations 0", ["--iterations", "0"]),
    ("--launch-overhead -1 s", ["--launch-overhead", "-1 s"]), ("--launch-overhead 1e300 s", ["--launch-overhead", "1e300 s"]),
    ("--launch-overhead abc", ["--launch-overhead", "abc"]), ("--launch-overhead nan s", ["--launch-overhead", "nan s"]),
    ("--microbatches 1e9 pipeline", ["--devices", "2", "--parallel", "pipeline", "--microbatches", "1000000000"]),
    ("--fabric without devices", ["--fabric", "nvlink4"]), ("--fabric unknown", ["--devices", "2", "--fabric", "nvlink9"]),
    ("--top -1", ["--top", "-1"]), ("--group-by bad", ["--group-by", "bad"]),
]:
    add("CLI arguments", _label, lambda d, e=_extra: _SIM + e)
_TRAIN = ["simulate", "--model", "gpt:layers=8,hidden=256,heads=4,vocab=1024", "--mode", "train", "--arch", "dgx_h100"]
for _label, _extra in [
    ("--fsdp without --zero 2/3", ["--devices", "4", "--fsdp"]),
    ("--optimizer-dtype fp8", ["--devices", "4", "--optimizer-dtype", "fp8"]),
    ("--first-stage-layers 0", ["--devices", "4", "--pp", "4", "--first-stage-layers", "0"]),
    ("--first-stage-layers abc", ["--devices", "4", "--pp", "4", "--first-stage-layers", "abc"]),
    ("--first-stage-layers without --pp", ["--devices", "4", "--first-stage-layers", "2"]),
    ("--last-stage-layers leaves a remainder", ["--devices", "4", "--pp", "4", "--last-stage-layers", "3"]),
    ("--first/--last-stage-layers over the layers", ["--devices", "2", "--pp", "2", "--first-stage-layers", "5",
                                                     "--last-stage-layers", "5"]),
    ("--account-for-loss-in-pipeline-split: 9 slots over 4 stages", ["--devices", "4", "--pp", "4",
                                                                     "--account-for-loss-in-pipeline-split"]),
    ("--account-for-embedding-in-pipeline-split with --first-stage-layers",
     ["--devices", "2", "--pp", "2", "--account-for-embedding-in-pipeline-split", "--first-stage-layers", "4"]),
    ("--lora-rank 0", ["--devices", "4", "--lora-rank", "0"]),
    ("--lora-targets mlp (not a group)", ["--devices", "4", "--lora-rank", "8", "--lora-targets", "mlp"]),
    ("--lora-rank with --zero 3", ["--devices", "4", "--lora-rank", "8", "--zero", "3"]),
    ("--lora-targets without --lora-rank", ["--devices", "4", "--lora-targets", "qkv"]),
    ("--dp-bucket-params 0", ["--devices", "4", "--zero", "1", "--dp-bucket-params", "0"]),
    ("--dp-bucket-params 1 (millions of buckets)", ["--devices", "4", "--zero", "1", "--dp-bucket-params", "1"]),
    ("--fsdp-version 2 without --fsdp", ["--devices", "4", "--zero", "3", "--fsdp-version", "2"]),
    ("--fsdp-version 3", ["--devices", "4", "--zero", "3", "--fsdp", "--fsdp-version", "3"]),
    ("--pointwise-kernels inductor", ["--devices", "4", "--pointwise-kernels", "inductor"]),
    ("--recompute ops", ["--devices", "4", "--recompute", "ops"]),
]:
    add("CLI arguments", _label, lambda d, e=_extra: _TRAIN + e)
add("CLI arguments", "--attention flash_triton on a GPU with no measured speed",
    lambda d: ["simulate", "--model", "gpt:layers=2,hidden=256,heads=4,vocab=1024", "--mode", "train", "--arch",
               "v100x8_nvswitch", "--devices", "8", "--amp", "fp16", "--attention", "flash_triton"])
add("CLI arguments", "--arch unknown", lambda d: ["simulate", "--graph", str(TOY_GRAPH), "--arch", "h1000"])
add("CLI arguments", "--arch empty", lambda d: ["simulate", "--graph", str(TOY_GRAPH), "--arch", ""])
add("CLI arguments", "--arch is a link", lambda d: ["simulate", "--graph", str(TOY_GRAPH), "--arch", "pcie5"])
add("CLI arguments", "--graph missing", lambda d: ["simulate", "--graph", str(d / "nope.json")])
add("CLI arguments", "--json into missing dir", lambda d: _SIM + ["--json", str(d / "out" / "no" / "such" / "r.json")])
add("CLI arguments", "--json is a directory", lambda d: (d / "out").mkdir() or _SIM + ["--json", str(d / "out")])
add("CLI arguments", "--trace /dev/full", lambda d: _SIM + ["--trace", "/dev/full"])
add("CLI arguments", "archs show unknown", lambda d: ["archs", "show", "h1000"])
add("CLI arguments", "archs --kind bad", lambda d: ["archs", "--kind", "gpuu"])
add("CLI arguments", "unknown subcommand", lambda d: ["simulat"])
add("CLI arguments", "no arguments", lambda d: [])
add("CLI arguments", "validate missing dir", lambda d: ["validate", str(d / "nope")])
add("CLI arguments", "validate --only bad", lambda d: ["validate", str(MEAS), "--only", "gemmm", "-q"])

# ------------------------------------------------------------------------------------- sweep specs
_SPEC = f"""name: bench_sweep
base: {SYSTOLIC}
parameters:
  rows: [8, 16]
  cols: [8, 16]
workloads: [{{graph: {TOY_GRAPH}, name: toy}}]
objectives: [latency, energy]
"""


def _sweep(d: Path, spec: str, extra: tuple[str, ...] = ("-o", "out/r.jsonl")) -> list[str]:
    return ["sweep", write(d, "s.yaml", spec), "--no-progress", *extra]


for _label, _old, _new in [
    ("valid", "name: bench_sweep", "name: bench_sweep"),
    ("name absolute path", "name: bench_sweep", "name: /tmp/bench_abs_escape"),
    ("name ../", "name: bench_sweep", "name: ../escape"),
    ("num 1e9", "cols: [8, 16]", "cols: {low: 4, high: 64, num: 1000000000}"),
    ("grid 1e7 points", "rows: [8, 16]", "rows: {low: 1, high: 4000, step: 1}\n  clock: {low: 1 GHz, high: 2 GHz, num: 2500}"),
    ("unknown parameter", "rows: [8, 16]", "rowz: [8, 16]"),
    ("negative rows", "rows: [8, 16]", "rows: [-8, 16]"),
    ("zero rows", "rows: [8, 16]", "rows: [0, 16]"),
    ("duplicate key", "rows: [8, 16]", "rows: [8, 16]\n  rows: [4]"),
    ("billion laughs", "objectives: [latency, energy]", "objectives: [latency, energy]\n" + BILLION_LAUGHS.replace("a:", "x_a:", 1)),
    ("objective typo", "objectives: [latency, energy]", "objectives: [latncy, energy]"),
    ("graph missing", f"graph: {TOY_GRAPH}", "graph: /nonexistent/g.json"),
    ("base unknown", f"base: {SYSTOLIC}", "base: tpu_v9"),
    ("workloads empty", f"workloads: [{{graph: {TOY_GRAPH}, name: toy}}]", "workloads: []"),
    ("non-UTF-8", "name: bench_sweep", "name: bench_\udcffsweep"),
    ("parameters a list", "parameters:\n  rows: [8, 16]\n  cols: [8, 16]", "parameters: [rows]"),
]:
    add("sweep specs", _label, lambda d, o=_old, n=_new: _sweep(d, _SPEC.replace(o, n, 1)))


def _ok_objectives(path: Path) -> list[tuple[float, ...]]:
    """Sorted (latency, energy) of the ok records of a results file (last line of a key wins)."""
    recs: dict[str, dict] = {}
    for line in path.read_bytes().splitlines() if path.exists() else []:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("status") == "ok" and isinstance(rec.get("objectives"), dict):
            recs[rec["key"]] = rec
    return sorted(tuple(round(float(v), 12) for _, v in sorted(r["objectives"].items())) for r in recs.values())


def _half_toy() -> dict:
    """The toy graph cut to its first 6 ops: a different, valid workload under the same file name."""
    g = json.loads(json.dumps(_TOY))
    g["ops"] = g["ops"][:6]
    names = {o["name"] for o in g["ops"]}
    g["edges"] = [e for e in g["edges"] if e[0] in names and e[1] in names]
    return g


def _stale_graph_setup(d: Path) -> list[str]:
    """Issue 17 item 1: sweep once, then change the content of the spec's ``graph:`` file (same path)."""
    g = d / "g.json"
    g.write_text(TOY_GRAPH.read_text())
    spec = _SPEC.replace(str(TOY_GRAPH), str(g), 1)
    _run(["sweep", write(d, "s.yaml", spec), "--no-progress", "-o", "out/r.jsonl"], d, 120)
    if len(_ok_objectives(d / "out" / "r.jsonl")) != 4:
        raise AssertionError("first sweep did not store its 4 points")
    g.write_text(json.dumps(_half_toy()))
    return _sweep(d, spec)


def _stale_graph_check(d: Path, stdout: str) -> str | None:  # noqa: ARG001
    """The rerun must hold the changed graph's results, as a fresh sweep of it gives them."""
    fresh = Path(tempfile.mkdtemp(prefix="bench_fresh_"))
    try:
        (fresh / "g.json").write_text(json.dumps(_half_toy()))
        spec = _SPEC.replace(str(TOY_GRAPH), str(fresh / "g.json"), 1)
        _run(["sweep", write(fresh, "s.yaml", spec), "--no-progress", "-o", "r.jsonl"], fresh, 120)
        want = _ok_objectives(fresh / "r.jsonl")
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    got = _ok_objectives(d / "out" / "r.jsonl")
    if len(want) != 4:
        return "benchmark check: the fresh sweep of the changed graph did not give 4 points"
    if not set(want) <= set(got):
        return "stale results: the rerun after the graph file changed did not recompute its points"
    return None


add("sweep specs", "resume after graph file changed", _stale_graph_setup, check=_stale_graph_check)
add("sweep specs", "-o the spec itself", lambda d: _sweep(d, _SPEC, ("-o", "s.yaml")))
add("sweep specs", "-o a directory", lambda d: (d / "out").mkdir() or _sweep(d, _SPEC, ("-o", "out")))
add("sweep specs", "-o /dev/full", lambda d: _sweep(d, _SPEC, ("-o", "/dev/full")))


def _fifo_out(d: Path) -> list[str]:
    (d / "out").mkdir()
    os.mkfifo(d / "out" / "r.jsonl")
    return _sweep(d, _SPEC)


add("sweep specs", "-o a FIFO", _fifo_out)
add("sweep specs", "-n 1e9 random", lambda d: _sweep(d, _SPEC, ("-o", "out/r.jsonl", "--method", "random", "-n", "1000000000")))
add("sweep specs", "--limit -1", lambda d: _sweep(d, _SPEC, ("-o", "out/r.jsonl", "--limit", "-1")))
add("sweep specs", "-j 0", lambda d: _sweep(d, _SPEC, ("-o", "out/r.jsonl", "-j", "0")))

# ------------------------------------------------------------------------------------- results files
_GOOD_RESULTS: dict[str, str] = {}


def _results_case(label: str, content: Callable[[str], str | bytes]) -> None:
    def setup(d: Path) -> list[str]:
        if "text" not in _GOOD_RESULTS:  # one real results file, made once
            tmp = Path(tempfile.mkdtemp(prefix="bench_results_"))
            _run(["sweep", write(tmp, "s.yaml", _SPEC), "--no-progress", "-o", str(tmp / "r.jsonl")], tmp, 120)
            _GOOD_RESULTS["text"] = (tmp / "r.jsonl").read_text()
            shutil.rmtree(tmp, ignore_errors=True)
        write(d, "out/r.jsonl", content(_GOOD_RESULTS["text"]))
        return _sweep(d, _SPEC)
    add("results files", label, setup)


def _first_record(text: str, fn: Callable[[dict], None]) -> str:
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if isinstance(rec, dict) and "objectives" in rec:
            fn(rec)
            lines[i] = json.dumps(rec)
            break
    return "\n".join(lines) + "\n"


_results_case("resume valid", lambda t: t)
_results_case("truncated last line", lambda t: t[:-20])
_results_case("non-UTF-8 byte", lambda t: t.encode() + b"\xff\xfe\n")
_results_case("binary garbage", lambda t: bytes(range(256)) * 8)
_results_case("NaN objective", lambda t: _first_record(t, lambda r: r["objectives"].update({k: float("nan") for k in r["objectives"]})))
_results_case("negative latency", lambda t: _first_record(t, lambda r: r["objectives"].update(latency=-1.0)))
_results_case("objectives a string", lambda t: _first_record(t, lambda r: r.__setitem__("objectives", "x")))
_results_case("record a list", lambda t: t + "[1, 2, 3]\n")
_results_case("empty file", lambda t: "")
_results_case("huge line", lambda t: t + '{"x": "' + "a" * (5 << 20) + '"}\n')

# ------------------------------------------------------------------------------------- measurement dirs


def _meas(name: str, transform: Callable[[bytes], bytes], keep: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
    def setup(d: Path) -> list[str]:
        m = d / "meas"
        m.mkdir()
        for f in ("device.json", name, *keep):
            shutil.copy(MEAS / f, m / f)
        (m / name).write_bytes(transform((MEAS / name).read_bytes()))
        return ["validate", str(m), "-q", "-o", str(d / "out")]
    return setup


def _cell(col: str, value: str, line: int = 1) -> Callable[[bytes], bytes]:
    def f(b: bytes) -> bytes:
        lines = b.decode().splitlines()
        hdr = lines[0].split(",")
        cells = lines[line].split(",")
        cells[hdr.index(col)] = value
        lines[line] = ",".join(cells)
        return ("\n".join(lines) + "\n").encode()
    return f


for _label, _name, _fn in [
    ("gemm M=0", "gemm.csv", _cell("M", "0")), ("gemm M=-4", "gemm.csv", _cell("M", "-4")),
    ("gemm M=2.5", "gemm.csv", _cell("M", "2.5")), ("gemm K=inf", "gemm.csv", _cell("K", "inf")),
    ("gemm N empty", "gemm.csv", _cell("N", "")), ("gemm ms=0", "gemm.csv", _cell("ms", "0")),
    ("gemm ms=nan", "gemm.csv", _cell("ms", "nan")), ("gemm dtype typo", "gemm.csv", _cell("dtype", "fp61")),
    ("conv groups=0", "conv.csv", _cell("groups", "0")), ("conv groups=7", "conv.csv", _cell("groups", "7")),
    ("conv stride=0", "conv.csv", _cell("stride", "0")), ("cpu threads=0", "cpu.csv", _cell("threads", "0")),
    ("micro bytes=-1", "micro.csv", _cell("bytes", "-1")), ("energy iters=-3", "energy.csv", _cell("iters", "-3", 2)),
    ("energy gemm0 workload", "energy.csv", lambda b: b.replace(b"gemm8192_bf16", b"gemm0_bf16")),
    ("e2e batch=0", "e2e.csv", _cell("batch", "0")),
    ("csv non-UTF-8", "gemm.csv", lambda b: b + b"\xff\xfe,1,2\n"),
    ("csv 100k-char line", "gemm.csv", lambda b: b + b"fp32," + b"1" * 100_000 + b"\n"),
    ("csv binary", "gemm.csv", lambda b: bytes(range(256)) * 10), ("csv empty", "gemm.csv", lambda b: b""),
    ("csv header only", "gemm.csv", lambda b: b.splitlines()[0] + b"\n"), ("csv open quote", "gemm.csv", lambda b: b + b'"fp32,1\n'),
    ("csv missing column", "gemm.csv", lambda b: b.replace(b"dtype,", b"dtyp,", 1)),
    ("device.json non-UTF-8", "device.json", lambda b: b.replace(b"NVIDIA", b"NV\xffIDIA", 1)),
    ("device.json NaN", "device.json", lambda b: b.replace(b'"threads": 16', b'"threads": NaN', 1)),
    ("device.json a list", "device.json", lambda b: b"[1, 2]"),
    ("device.json duplicate key", "device.json", lambda b: b.replace(b'"threads": 16', b'"threads": 16, "threads": 3', 1)),
    ("device.json unknown name", "device.json", lambda b: b.replace(b"H100", b"X900")),
]:
    add("measurement dirs", _label, _meas(_name, _fn, keep=("gemm.csv",) if _name == "device.json" else ()))

# ------------------------------------------------------------------------------------- plot inputs
_PLOT = ("-o", "out/plot", "--no-png")
add("plot inputs", "pareto: valid results",
    lambda d: (write(d, "r.jsonl", _GOOD_RESULTS.get("text") or ""), ["plot", "pareto", str(d / "r.jsonl"), *_PLOT])[1])
for _label, _content in [("empty", ""), ("non-UTF-8", b"\xff\xfe\n"), ("not JSON", "hello\n"), ("list records", "[1,2]\n"),
                         ("NaN objectives", '{"objectives": {"latency": NaN, "energy": 1}, "status": "ok"}\n'),
                         ("negative objectives", '{"objectives": {"latency": -1, "energy": -2}, "status": "ok"}\n')]:
    add("plot inputs", f"pareto: {_label}", lambda d, c=_content: ["plot", "pareto", write(d, "r.jsonl", c), *_PLOT])
add("plot inputs", "pareto: directory", lambda d: ["plot", "pareto", str(d), *_PLOT])
for _label, _content in [("not JSON", "{"), ("a list", "[]"), ("no events", '{"traceEvents": []}'),
                         ("negative dur", '{"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 0, "dur": -5}]}'),
                         ("NaN ts", '{"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": NaN, "dur": 5}]}'),
                         ("non-UTF-8", b'{"traceEvents": [\xff]}')]:
    add("plot inputs", f"timeline: {_label}", lambda d, c=_content: ["plot", "timeline", write(d, "t.json", c), *_PLOT])
add("plot inputs", "roofline: measurements M=0", lambda d: ["plot", "roofline", "--measurements",
                                                           _meas("gemm.csv", _cell("M", "0"))(d)[1], "--arch", "h100", *_PLOT])
add("plot inputs", "energy: negative-bytes graph", lambda d: ["plot", "energy", "--graph", write(
    d, "g.json", json.dumps({**_TOY, "ops": [{**_TOY["ops"][0], "inputs": [{**_TOY["ops"][0]["inputs"][0], "bytes": -5}]}]
                            + _TOY["ops"][1:]})),
    "--arch", "h100", *_PLOT])
add("plot inputs", "energy: valid graph", lambda d: ["plot", "energy", "--graph", str(TOY_GRAPH), "--arch", "h100", *_PLOT])


# ===================================================================================== runner
class _Timeout(BaseException):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout()


def _run(argv: list[str], cwd: Path, timeout: float) -> tuple[object, str, str, float]:
    from accel.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc: object = main(argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            except _Timeout:
                rc = "hang"
            except MemoryError:
                rc = "MemoryError"
            except Exception as exc:  # noqa: BLE001
                rc = f"traceback ({type(exc).__name__}: {str(exc)[:120]})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - t


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> content hash (or 'dir'/'special') of everything under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            try:
                if p.is_symlink() or not (p.is_file() or p.is_dir()):
                    out[rel] = "special"
                elif p.is_dir():
                    out[rel] = "dir"
                else:
                    out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
            except OSError:
                out[rel] = "unreadable"
    return out


_BAD_NUM = re.compile(r"(?<![\w.])(-?nan|-?inf(inity)?)(?![\w])|(latency|throughput|energy|power|GFLOP)\S*\s+-\d", re.I)


def classify(c: Case, root: Path, timeout: float) -> Outcome:
    d = root / f"case{CASES.index(c):03d}"
    d.mkdir()
    try:
        argv = c.setup(d)
    except Exception as exc:  # noqa: BLE001
        return Outcome(c, False, f"benchmark setup failed: {type(exc).__name__}: {exc}", 0.0)
    before_root = set(os.listdir(root)) | {d.name}
    before = _tree(d)
    outside_before = {p: os.path.exists(p)
                      for p in ("/tmp/bench_abs_escape.jsonl", "/tmp/bench_abs_escape", str(root.parent / "escape.jsonl"))}
    rc, out, err, secs = _run(argv, d, timeout)
    after = _tree(d)
    allowed = ("out", "results", *c.allow)
    new_out = [p for p in after if p not in before and p.split(os.sep)[0] not in allowed and p != "out"]
    changed = [p for p in before if before[p] not in ("dir", "special") and after.get(p) != before[p]
               and p.split(os.sep)[0] not in allowed]
    escaped = [p for p, was in outside_before.items() if os.path.exists(p) and not was]
    escaped += [str(root / p) for p in set(os.listdir(root)) - before_root]
    err_lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    detail = (err_lines[-1] if err_lines else out.strip().splitlines()[-1] if out.strip() else "")[:220]
    if isinstance(rc, str):
        return Outcome(c, False, rc, secs, detail)
    if escaped:
        for p in escaped:
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.path.exists(p) and os.remove(p)
        return Outcome(c, False, f"wrote outside the target: {escaped}", secs, detail)
    if changed:
        return Outcome(c, False, f"modified input file(s): {changed}", secs, detail)
    if new_out:
        return Outcome(c, False, f"wrote outside out/: {new_out[:3]}", secs, detail)
    if rc == 2:
        if len(err_lines) != 1:
            return Outcome(c, False, f"exit 2 with {len(err_lines)} stderr lines", secs, " | ".join(err_lines)[-300:])
        return Outcome(c, True, "exit 2, one line", secs, detail)
    if rc != 0:
        return Outcome(c, False, f"exit {rc}", secs, detail)
    head = out.split("per-layer")[0]
    if _BAD_NUM.search(head):
        return Outcome(c, False, "exit 0 with non-finite/negative output", secs, _BAD_NUM.search(head).group(0))
    for p in after:
        if p.endswith((".json", ".jsonl")) and p not in before and after[p] not in ("dir", "special"):
            text = (d / p).read_text(errors="replace")
            if re.search(r"\b(NaN|-?Infinity)\b", text):
                return Outcome(c, False, f"exit 0 but {p} holds NaN/Infinity", secs, detail)
    if c.check is not None:
        why = c.check(d, out)
        if why:
            return Outcome(c, False, why, secs, detail)
    return Outcome(c, True, "exit 0, finite", secs, detail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per input (default 20)")
    ap.add_argument("--only", default="", help="comma-separated category prefixes (e.g. graph,arch)")
    ap.add_argument("--memory-gb", type=float, default=8.0, help="address-space limit for this process (default 8)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every input's outcome")
    args = ap.parse_args(argv)
    lim = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    only = [s.strip().lower() for s in args.only.split(",") if s.strip()]
    cases = [c for c in CASES if not only or any(c.category.lower().startswith(o) for o in only)]
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench_bad_inputs_") as tmp:
        root = Path(tmp) / "cases"
        root.mkdir()
        t0 = time.perf_counter()
        for c in cases:
            o = classify(c, root, args.timeout)
            results.append(o)
            if args.verbose:
                print(f"{'good' if o.good else 'BAD '} {o.seconds:6.2f}s  {c.category:<16} {c.label:<34} {o.reason}: {o.detail}",
                      flush=True)
        wall = time.perf_counter() - t0
    cats = list(dict.fromkeys(c.category for c in cases))
    print(f"\n{'category':<18} {'tried':>5} {'good':>5} {'bad':>5}   area")
    for cat in cats:
        rs = [r for r in results if r.case.category == cat]
        print(f"{cat:<18} {len(rs):>5} {sum(r.good for r in rs):>5} {sum(not r.good for r in rs):>5}   {OWNER.get(cat, '')}")
    print(f"{'total':<18} {len(results):>5} {sum(r.good for r in results):>5} {sum(not r.good for r in results):>5}"
          f"   ({wall:.0f} s)")
    bad = [r for r in results if not r.good]
    if bad:
        print("\nbad inputs:")
        for r in bad:
            print(f"  [{r.case.category}] {r.case.label}: {r.reason}" + (f" -- {r.detail}" if r.detail else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
