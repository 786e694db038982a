"""Sweeps: grid/random counts, resume without recompute, process pool, Dask LocalCluster, NSGA-II, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data" / "dse"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(DATA))
import toykind  # noqa: E402,F401  (registers the dse_toy kind and its cost model)

from accel.dse import pareto_mask, read_results, run_sweep, spec_from_dict  # noqa: E402


def toy_spec(search=None, **over):
    d = {
        "name": "toy",
        "base": str(DATA / "toy_arch.yaml"),
        "parameters": {"rows": [8, 16, 32, 64], "cols": [8, 16, 32, 64],
                       "sram": {"low": "256 KiB", "high": "4 MiB", "num": 3, "scale": "log"},
                       "dataflow": ["os", "ws", "is"]},
        "workloads": [{"graph": str(DATA / "toy_graph.json"), "name": "toy"}],
        "objectives": ["latency", "energy", "area"],
        "area_model": str(DATA / "area_toy.yaml"),
    }
    if search:
        d["search"] = search
    d.update(over)
    return spec_from_dict(d, "toy_spec.yaml")


def lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_grid_count_and_records(tmp_path):
    out = tmp_path / "r.jsonl"
    res = run_sweep(toy_spec(), results=out, progress=False)
    assert res.n_evaluated == 4 * 4 * 3 * 3 == len(res.records) == len(lines(out))
    rec = res.records[0]
    assert rec["status"] == "ok" and set(rec["objectives"]) == {"latency_s", "energy_j", "area_mm2"}
    assert len({r["key"] for r in res.records}) == 144
    # the front is exactly the brute-force non-dominated set
    vals = np.array([[r["objectives"][k] for k in ("latency_s", "energy_j", "area_mm2")] for r in res.records])
    assert len(res.front) == int(pareto_mask(vals).sum()) > 1
    # bigger arrays are faster (toy model is compute-bound here), more area
    by = {(r["params"]["rows"], r["params"]["cols"], r["params"]["sram"], r["params"]["dataflow"]): r for r in res.records}
    a, b = by[(8, 8, 262144.0, "ws")], by[(64, 64, 262144.0, "ws")]
    assert b["objectives"]["latency_s"] < a["objectives"]["latency_s"] and b["area_mm2"] > a["area_mm2"]


def test_random_count_and_determinism(tmp_path):
    s = toy_spec(search={"method": "random", "n": 25, "seed": 3})
    r1 = run_sweep(s, results=tmp_path / "a.jsonl", progress=False)
    r2 = run_sweep(s, results=tmp_path / "b.jsonl", progress=False)
    assert r1.n_evaluated == 25 == len({r["key"] for r in r1.records})
    assert sorted(r["key"] for r in r1.records) == sorted(r["key"] for r in r2.records)
    # n larger than the space -> the whole space once
    big = toy_spec(search={"method": "random", "n": 1000})
    assert run_sweep(big, results=tmp_path / "c.jsonl", progress=False).n_evaluated == 144


def test_resume_with_limit_does_not_recompute(tmp_path):
    out = tmp_path / "r.jsonl"
    s = toy_spec()
    r1 = run_sweep(s, results=out, progress=False, limit=50)
    assert r1.n_evaluated == 50 and r1.interrupted
    r2 = run_sweep(s, results=out, progress=False)
    assert r2.n_reused == 50 and r2.n_evaluated == 94 and not r2.interrupted
    r3 = run_sweep(s, results=out, progress=False)
    assert r3.n_evaluated == 0 and r3.n_reused == 144
    assert len(lines(out)) == 144


def test_interrupt_then_resume(tmp_path):
    out = tmp_path / "r.jsonl"
    s = toy_spec()
    seen = []

    def stop_after_30(rec):
        seen.append(rec["key"])
        if len(seen) == 30:
            raise KeyboardInterrupt

    r1 = run_sweep(s, results=out, progress=False, on_record=stop_after_30)
    assert r1.interrupted and r1.n_evaluated == 30
    # simulate a kill in the middle of writing a line
    with out.open("a") as fh:
        fh.write('{"key": "trunc')
    with pytest.warns(UserWarning, match="unreadable"):
        r2 = run_sweep(s, results=out, progress=False)
    assert r2.n_reused == 30 and r2.n_evaluated == 114


def test_changed_workload_invalidates_keys(tmp_path):
    out = tmp_path / "r.jsonl"
    run_sweep(toy_spec(), results=out, progress=False, limit=10)
    s2 = toy_spec(workloads=[{"graph": str(DATA / "toy_graph.json"), "name": "toy", "batch": 2}])
    r = run_sweep(s2, results=out, progress=False, limit=10)
    assert r.n_reused == 0 and r.n_evaluated == 10


def test_process_pool_matches_serial(tmp_path):
    s = toy_spec()
    ser = run_sweep(s, results=tmp_path / "s.jsonl", progress=False)
    par = run_sweep(s, results=tmp_path / "p.jsonl", progress=False, workers=2)
    assert par.n_evaluated == 144
    a = {r["key"]: r["objectives"] for r in ser.records}
    b = {r["key"]: r["objectives"] for r in par.records}
    assert a == b


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        res = run_sweep(toy_spec(), results=tmp_path / "d.jsonl", progress=False, dask=cl.scheduler_address)
    assert res.n_evaluated == 144 and res.n_errors == 0
    ser = run_sweep(toy_spec(), results=tmp_path / "s.jsonl", progress=False)
    assert {r["key"]: r["objectives"] for r in res.records} == {r["key"]: r["objectives"] for r in ser.records}


def test_nsga2_search_and_resume(tmp_path):
    out = tmp_path / "n.jsonl"
    s = toy_spec(search={"method": "nsga2", "n": 40, "population": 8, "seed": 1},
                 parameters={"rows": {"low": 4, "high": 128}, "cols": {"low": 4, "high": 128},
                             "sram": {"low": "128 KiB", "high": "8 MiB", "scale": "log"},
                             "dataflow": ["os", "ws", "is"]})
    r1 = run_sweep(s, results=out, progress=False)
    assert 30 <= r1.n_evaluated <= 40 and r1.front
    assert all(4 <= r["params"]["rows"] <= 128 and isinstance(r["params"]["rows"], int) for r in r1.records)
    r2 = run_sweep(s, results=out, progress=False)
    assert r2.n_reused == r1.n_evaluated  # nothing recomputed; the sampler sees the stored trials
    assert len(lines(out)) == r1.n_evaluated + r2.n_evaluated


def test_constraints_mark_infeasible(tmp_path):
    s = toy_spec(constraints={"area": {"max": 12.0}})
    res = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    assert res.n_infeasible > 0 and res.n_infeasible < 144
    assert all(r["area_mm2"] <= 12.0 for r in res.front)
    bad = [r for r in res.records if r["status"] == "infeasible"]
    assert "area" in bad[0]["reason"]


def test_cli_sweep_in_process(tmp_path, capsys):
    from accel.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(f"""
name: cli_toy
base: {DATA / 'toy_arch.yaml'}
parameters:
  rows: [8, 32]
  cols: [8, 32]
workloads: [{{graph: {DATA / 'toy_graph.json'}, name: toy}}]
objectives: [latency, energy]
""")
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "evaluated 4 new point(s)" in text and "Pareto front" in text
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 0
    assert "evaluated 0 new point(s), reused 4" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("rows: [8, 32]", "rowz: [8, 32]"))
    assert main(["sweep", str(bad), "-o", str(out), "--no-progress"]) == 2
    assert f"{bad}: parameters.rowz: unknown parameter path" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_subprocess_resumes_without_recompute(tmp_path):
    """Run `accel sweep` in a subprocess, SIGKILL it mid-sweep, rerun, count evaluations."""
    spec = tmp_path / "kill.yaml"
    spec.write_text(f"""
name: kill_test
base: {DATA / 'systolic_small.yaml'}
parameters:
  rows: {{low: 4, high: 64, step: 4}}
  cols: {{low: 4, high: 64, step: 4}}
  dataflow: [os, ws, is]
  ifmap_sram: {{low: 16 KiB, high: 256 KiB, num: 3, scale: log}}
workloads: [{{graph: {DATA / 'toy_graph.json'}, name: toy}}]
objectives: [latency, energy, area]
""")
    total = 16 * 16 * 3 * 3
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if out.exists() and out.read_text().count("\n") >= 100:
            break
        if proc.poll() is not None:
            pytest.fail(f"sweep finished before it could be killed: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len({r["key"] for r in read_results(out) if r["status"] in ("ok", "infeasible")})
    assert 100 <= done_before < total
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"evaluated {total - done_before} new point(s), reused {done_before}" in r.stdout
    assert len({x["key"] for x in read_results(out)}) == total


def test_arch_parameter_switches_base_and_frame(tmp_path):
    s = toy_spec(parameters={"arch": [str(DATA / "toy_arch.yaml"), str(DATA / "toy_arch_big.yaml")],
                             "dataflow": ["os", "ws"]})
    res = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    assert res.n_evaluated == 4
    df = res.to_frame()
    assert set(df.columns) >= {"arch", "dataflow", "latency_s", "energy_j", "area_mm2", "status", "on_front"}
    big = df[df["arch"].str.endswith("toy_arch_big.yaml")]
    small = df[df["arch"].str.endswith("toy_arch.yaml")]
    assert big["latency_s"].max() < small["latency_s"].min()
    assert big["area_mm2"].min() > small["area_mm2"].max()
    assert df["on_front"].sum() == len(res.front)
