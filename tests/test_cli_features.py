"""CLI features of issue 16/17: graph cache, compare, --batch lists, --csv, --version, model list in --help,
host-bound warning, arch-name resolution, dtype/memory-format options, bounded --iterations.

Everything runs in-process (``accel.cli.main``) with a temporary ACCEL_CACHE_DIR; ``--model`` runs use a
fake extractor (``workloads.extract_model`` monkeypatched to a small synthetic graph), so no torch model is
traced. One subprocess checks that a warm cached run does not import torch.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import accel
import accel.graph_cache as gc
from accel.cli import main
from accel.graph import LayerGraph
from test_sim_toydev import chain_graph

TOY = """kind: _simtoy
name: {name}
peak: 100 TFLOP/s
bandwidth: 1 TB/s
launch_overhead: {launch}
graph_launch_overhead: 1 us
idle_power: 50 W
energy: {{per_flop: {{fp32: 1 pJ}}, per_byte: {{dram: 10 pJ/B}}}}
"""


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("ACCEL_CACHE_DIR", str(d))
    return d / "graphs"


@pytest.fixture
def fake_extract(monkeypatch):
    """Replace workloads.extract_model by a synthetic chain graph; records the calls' kwargs."""
    import workloads

    calls: list[dict] = []

    def fake(name, **kw):
        calls.append({"name": name, **kw})
        g = chain_graph(2, batch=kw.get("batch", 1), width=100, dtype="fp32")
        g.name = name
        g.meta.update({"model": name, "dtype": kw.get("dtype", "fp32"), "mode": kw.get("mode", "infer")})
        if kw.get("memory_format"):
            g.meta["memory_format"] = kw["memory_format"]
        return g

    # setitem on the module dict: monkeypatch.setattr would getattr() the lazy attribute and import torch
    monkeypatch.setitem(vars(workloads), "extract_model", fake)
    return calls


@pytest.fixture
def toys(tmp_path):
    fast = tmp_path / "fast.yaml"
    fast.write_text(TOY.format(name="fastdev", launch="0 us"))
    slow = tmp_path / "slow.yaml"
    slow.write_text(TOY.format(name="slowdev", launch="1 ms"))
    g = tmp_path / "g.json"
    chain_graph(4, batch=8).save(g)
    return str(fast), str(slow), str(g)


KW = dict(batch=1, mode="infer", dtype="fp32", seq_len=None, optimizer=None, amp=None)


# ---------------------------------------------------------------------------------------------- graph cache
def test_cache_hit_skips_extraction_and_returns_same_graph(fake_extract, cache):
    g1 = gc.cached_extract("resnet18", **KW)
    g2 = gc.cached_extract("resnet18", **KW)
    assert len(fake_extract) == 1
    assert g2.to_dict() == g1.to_dict()
    assert [p.suffix for p in cache.iterdir()] == [".json"]  # one entry, no temporary file left behind


def test_cache_key_covers_every_option_and_version(fake_extract, monkeypatch):
    base = gc.cache_key("resnet18", **KW)
    variants = [dict(batch=2), dict(mode="train", optimizer="sgd"), dict(dtype="bf16"), dict(seq_len=64),
                dict(amp="fp16"), dict(memory_format="channels_last")]
    keys = {gc.cache_key("resnet18", **{**KW, **v}) for v in variants}
    keys.add(gc.cache_key("resnet50", **KW))
    keys.add(gc.cache_key("resnet18", **{**KW, "mode": "train", "optimizer": "adam"}))
    assert base not in keys and len(keys) == len(variants) + 2
    monkeypatch.setattr(gc, "_dist_version", lambda name: "9.9" if name == "torch" else "x")
    assert gc.cache_key("resnet18", **KW) != base
    monkeypatch.undo()
    monkeypatch.setattr(accel, "__version__", "99.0")
    assert gc.cache_key("resnet18", **KW) != base


def test_source_hash_changes_when_a_workloads_file_changes(tmp_path, monkeypatch):
    pkg = tmp_path / "workloads"
    pkg.mkdir()
    (pkg / "models.py").write_text("A = 1\n")

    class Spec:
        submodule_search_locations = [str(pkg)]

    real = gc.importlib.util.find_spec
    monkeypatch.setattr(gc.importlib.util, "find_spec", lambda n, *a: Spec() if n == "workloads" else real(n, *a))
    monkeypatch.setattr(gc, "_SOURCE_HASH", None)
    h1 = gc.source_hash()
    (pkg / "models.py").write_text("A = 2\n")
    monkeypatch.setattr(gc, "_SOURCE_HASH", None)
    assert gc.source_hash() != h1


def test_corrupt_entry_is_recomputed(fake_extract, cache):
    gc.cached_extract("resnet18", **KW)
    (entry,) = cache.iterdir()
    for junk in (b'{"format": "accel', b"\xff\xfe not json", b'{"format": "wrong"}', b"[]"):
        entry.write_bytes(junk)
        g = gc.cached_extract("resnet18", **KW)
        assert len(g) == 4 and json.loads(entry.read_text())["ops"]  # recomputed and rewritten
    assert len(fake_extract) == 5


def test_no_cache_neither_reads_nor_writes(fake_extract, cache):
    gc.cached_extract("resnet18", **KW, use_cache=False)
    assert not cache.exists()
    gc.cached_extract("resnet18", **KW)
    gc.cached_extract("resnet18", **KW, use_cache=False)
    assert len(fake_extract) == 3


def test_cache_dir_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCEL_CACHE_DIR", str(tmp_path / "a"))
    assert gc.cache_dir() == tmp_path / "a" / "graphs"
    monkeypatch.delenv("ACCEL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert gc.cache_dir() == tmp_path / "x" / "accel" / "graphs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert gc.cache_dir() == Path.home() / ".cache" / "accel" / "graphs"


def test_simulate_and_extract_use_the_cache(fake_extract, toys, capsys):
    fast, _, _ = toys
    assert main(["simulate", "--model", "resnet18", "--arch", fast]) == 0
    assert main(["simulate", "--model", "resnet18", "--arch", fast]) == 0
    assert main(["extract", "--model", "resnet18"]) == 0
    assert len(fake_extract) == 1
    assert main(["simulate", "--model", "resnet18", "--arch", fast, "--no-cache"]) == 0
    assert main(["extract", "--model", "resnet18", "--no-cache"]) == 0
    assert len(fake_extract) == 3


def test_warm_simulate_imports_no_heavy_module(fake_extract, cache, tmp_path):
    """A cached `accel simulate --model` imports neither torch nor pandas/plotly (fresh process)."""
    gc.cached_extract("resnet18", **KW)  # the entry a real run would store (same key: same versions/sources)
    code = ("import sys; from accel.cli import main; rc = main(['simulate', '--model', 'resnet18', '--arch', 'h100']);"
            "heavy = [m for m in ('torch', 'torchvision', 'transformers', 'plotly', 'pandas', 'scipy', 'dask', 'optuna')"
            " if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "ACCEL_CACHE_DIR": str(cache.parent)}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout


# ------------------------------------------------------------------------------------- options and output
def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"accel {accel.__version__}"


@pytest.mark.parametrize("cmd", ["simulate", "extract", "compare"])
def test_help_lists_the_models(cmd, capsys):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in ("resnet50", "gpt2", "bert_base", "lstm_lm", "vit_b_16"):
        assert name in out, name


def test_launch_overhead_help_names_the_real_default(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "host CPU's eager dispatch per op class" in out and "--host CPU_ARCH" in out


def test_per_layer_gflop_column_sums_to_header(tmp_path, capsys):
    """On h100 a 100-wide matmul is tile-padded: the column must show the op's FLOPs (sum = header)."""
    g = chain_graph(2, batch=8, width=100)
    path = tmp_path / "g.json"
    g.save(path)
    out_csv = tmp_path / "layers.csv"
    assert main(["simulate", "--graph", str(path), "--arch", "h100", "--csv", str(out_csv), "--top", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{g.total_flops / 1e9:.3f} GFLOP per execution" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4 and {r["batch"] for r in rows} == {"8"}
    assert sum(float(r["gflop"]) for r in rows) == pytest.approx(g.total_flops / 1e9, rel=1e-9)
    from accel.sim import simulate

    padded = sum(r.flops for r in simulate(g, "h100").records)
    assert padded > 1.2 * g.total_flops  # the executed (padded) FLOPs the column used to show


def test_batch_list_gives_one_row_per_batch(fake_extract, toys, tmp_path, capsys):
    fast, _, _ = toys
    out_csv = tmp_path / "l.csv"
    assert main(["simulate", "--model", "resnet18", "--arch", fast, "--batch", "1,8,64", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert [c["batch"] for c in fake_extract] == [1, 8, 64]
    lines = [ln.split() for ln in out.splitlines() if ln.strip() and ln.split()[0] in ("1", "8", "64")]
    assert [ln[0] for ln in lines] == ["1", "8", "64"]
    thr = [float(ln[3].replace(",", "")) for ln in lines]
    assert thr[0] < thr[1] < thr[2]
    assert {r["batch"] for r in csv.DictReader(out_csv.open())} == {"1", "8", "64"}


def test_batch_list_errors(toys, tmp_path, capsys):
    fast, _, g = toys
    assert main(["simulate", "--graph", g, "--arch", fast, "--batch", "8,16"]) == 2
    assert "--batch" in capsys.readouterr().err
    assert main(["simulate", "--model", "resnet18", "--arch", fast, "--batch", "1,8", "--json", str(tmp_path / "r.json")]) == 2
    assert "--json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--graph", g, "--batch", "1,x"])
    assert exc.value.code == 2 and "--batch" in capsys.readouterr().err


def test_compare_table_csv_and_html(toys, tmp_path, capsys):
    fast, slow, g = toys
    out_csv = tmp_path / "cmp.csv"
    rc = main(["compare", "--graph", g, "--arch", f"{fast},{slow}", "--csv", str(out_csv), "--html", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert rc == 0
    rows = {r["arch"]: r for r in csv.DictReader(out_csv.open())}
    assert set(rows) == {fast, slow}
    for col in ("latency_s", "throughput_items_per_s", "energy_j", "avg_power_w", "utilisation", "host_bound_fraction"):
        assert float(rows[fast][col]) >= 0 and float(rows[slow][col]) >= 0
    assert float(rows[slow]["latency_s"]) > float(rows[fast]["latency_s"])
    assert float(rows[slow]["host_bound_fraction"]) > 0.5 > float(rows[fast]["host_bound_fraction"])
    assert "host-bound" in out and "idles" in out  # the 1 ms launch device is warned about
    assert (tmp_path / "c.html").stat().st_size > 1000


def test_compare_bad_arch_is_one_line_error(toys, capsys):
    _, _, g = toys
    assert main(["compare", "--graph", g, "--arch", "h100,nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nosuch" in err and "bundled archs" in err


# -------------------------------------------------------------------------------------- host-bound warning
def test_host_wait_fraction_formula(tmp_path):
    """k ops of duration d issued every L > d: waits L (first) + (k-1)(L-d); latency kL + d."""
    from accel.sim import simulate

    slow = tmp_path / "slow.yaml"
    slow.write_text(TOY.format(name="slowdev", launch="1 ms"))
    g = chain_graph(3, batch=8)
    res = simulate(g, str(slow))
    recs = [r for r in res.records if r.stream == "compute"]
    k, L = len(recs), 1e-3
    d = [r.end - r.start for r in recs]
    assert all(x < L for x in d)
    expected = L + sum(L - x for x in d[:-1])
    assert res.latency_s == pytest.approx(k * L + d[-1], rel=1e-9)
    assert res.host_wait_fraction == pytest.approx(expected / res.latency_s, rel=1e-9)


def test_host_bound_warning_only_when_host_bound(toys, capsys):
    fast, slow, g = toys
    assert main(["simulate", "--graph", g, "--arch", slow]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "warning: host-bound" in ln]
    assert "idles" in line and "%" in line
    assert main(["simulate", "--graph", g, "--arch", fast]) == 0
    assert "warning: host-bound" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------ bugs of issues 16/17
@pytest.mark.parametrize("entry", ["dir", "file"])
def test_arch_name_not_shadowed_by_cwd_entry(entry, tmp_path, monkeypatch):
    from accel.arch.loader import list_archs, resolve_arch_path

    monkeypatch.chdir(tmp_path)
    if entry == "dir":
        (tmp_path / "h100").mkdir()
    else:
        (tmp_path / "h100").write_text("not yaml: [")
    assert resolve_arch_path("h100") == list_archs()["h100"]


def test_arch_path_forms(tmp_path, monkeypatch):
    from accel.arch.loader import resolve_arch_path
    from accel.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "mine").write_text("kind: gpu\n")
    assert resolve_arch_path("mine") == Path("mine")  # an unbundled bare name that is a file
    with pytest.raises(ConfigError, match="not a file"):
        resolve_arch_path("./d")
    with pytest.raises(ConfigError, match="file not found"):
        resolve_arch_path("h100.yaml")
    with pytest.raises(ConfigError, match="no arch named"):
        resolve_arch_path("d")


def test_simulate_arch_h100_with_h100_folder_in_cwd(tmp_path, monkeypatch, capsys):
    g = tmp_path / "g.json"
    chain_graph(2, batch=8).save(g)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h100").mkdir()
    assert main(["simulate", "--graph", str(g), "--arch", "h100"]) == 0
    assert "H100" in capsys.readouterr().out


def test_dtype_and_memory_format_reach_the_extractor(fake_extract, toys, capsys):
    assert main(["simulate", "--model", "resnet18", "--arch", "h100", "--dtype", "tf32",
                 "--memory-format", "channels_last"]) == 0
    assert fake_extract[-1]["dtype"] == "tf32" and fake_extract[-1]["memory_format"] == "channels_last"
    assert "memory_format=channels_last" in capsys.readouterr().out
    for dt in ("fp8", "int8"):
        assert main(["simulate", "--model", "resnet18", "--arch", "h100", "--dtype", dt]) == 0
        assert fake_extract[-1]["dtype"] == dt


@pytest.mark.parametrize("dt", ["tf32", "fp8", "int8"])
def test_dtype_without_a_peak_names_the_allowed(dt, fake_extract, capsys):
    assert main(["simulate", "--model", "resnet18", "--arch", "v100", "--dtype", dt]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"peak.{dt}" in err and "allowed --dtype on this device: fp32, fp16" in err
    assert fake_extract == []  # refused before extracting


def test_cli_dtypes_match_the_extractor():
    from accel.cli.simulate import MEMORY_FORMATS, MODEL_DTYPES
    from workloads import names

    assert set(MODEL_DTYPES) == set(names.DTYPE_OPTIONS)
    assert set(MEMORY_FORMATS) == set(names.MEMORY_FORMATS)


def test_iterations_bounded(toys, capsys):
    from accel.cli.simulate import MAX_ITERATIONS, MAX_TASKS

    fast, _, g = toys
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--graph", g, "--arch", fast, "--iterations", "1000000"])
    assert exc.value.code == 2
    assert f"<= {MAX_ITERATIONS}" in capsys.readouterr().err
    big = LayerGraph.load(g)
    wide = chain_graph(MAX_TASKS // (2 * MAX_ITERATIONS) + 1, batch=8)
    path = Path(g).with_name("wide.json")
    wide.save(path)
    assert len(big) < len(wide)
    assert main(["simulate", "--graph", str(path), "--arch", fast, "--iterations", str(MAX_ITERATIONS)]) == 2
    assert f"{MAX_TASKS:,}" in capsys.readouterr().err


def test_fp16_autocast_inference_extracts():
    """`--mode infer --amp fp16` used to fail with "grad_scaler is only used with mode='train'"."""
    torch = pytest.importorskip("torch")
    import workloads

    g = workloads.extract(torch.nn.Linear(8, 8), torch.zeros(2, 8), mode="infer", amp="fp16")
    assert g.meta.get("amp") == "fp16" and "grad_scaler" not in g.meta
    assert any(o.dtype == "fp16" for o in g if o.kind == "matmul")


def test_devices_and_microbatches_bounded(toys, capsys):
    from accel.arch import system
    from accel.cli.simulate import MAX_CLUSTER_DEVICES, MAX_DEVICES, MAX_MICROBATCHES
    from accel.sim import parallelism

    assert (MAX_DEVICES, MAX_MICROBATCHES) == (system.MAX_DEVICES, parallelism.MAX_MICROBATCHES)
    assert MAX_CLUSTER_DEVICES == system.MAX_CLUSTER_DEVICES
    fast, _, g = toys
    for flag, bound in (("--devices", MAX_CLUSTER_DEVICES), ("--microbatches", MAX_MICROBATCHES)):
        with pytest.raises(SystemExit) as exc:
            main(["simulate", "--graph", g, "--arch", fast, flag, str(bound + 1)])
        assert exc.value.code == 2 and f"<= {bound}" in capsys.readouterr().err
    # beyond the per-device simulator's bound (LLM cluster training takes more): one line naming the flag
    assert main(["simulate", "--graph", g, "--arch", fast, "--devices", str(MAX_DEVICES + 1)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--devices" in err and f"at most {MAX_DEVICES}" in err


@pytest.mark.parametrize("flag", ["--json", "--trace", "--csv"])
def test_fifo_output_is_refused_not_a_hang(flag, toys, tmp_path, capsys):
    fast, _, g = toys
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["simulate", "--graph", g, "--arch", fast, flag, str(fifo)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "FIFO" in err and flag in err
    assert main(["simulate", "--graph", g, "--arch", fast, flag, os.devnull]) == 0
