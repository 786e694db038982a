"""Sweeps that cannot lose or poison data (issues 16 and 17): one test (or more) per defect.

Each test names the defect it guards; every one failed on the code before the fix.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "dse"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(DATA))
import toykind  # noqa: E402,F401  (registers the dse_toy kind and its cost model)

from accel.cli import main  # noqa: E402
from accel.dse import build_space, read_results, run_sweep, spec_from_dict  # noqa: E402
from accel.dse.store import ResultsStore, ResultsWriteError  # noqa: E402
from accel.errors import ConfigError  # noqa: E402

H100 = ROOT / "archs" / "gpu" / "h100.yaml"
GRAPH = DATA / "toy_graph.json"
SYSTOLIC = DATA / "systolic_small.yaml"  # a real kind, for subprocesses (which do not import toykind)


def toy_spec(**over):
    d = {
        "name": "toy",
        "base": str(DATA / "toy_arch.yaml"),
        "parameters": {"rows": [8, 16, 32, 64], "cols": [8, 16, 32, 64], "dataflow": ["os", "ws", "is"]},
        "workloads": [{"graph": str(GRAPH), "name": "toy"}],
        "objectives": ["latency", "energy", "area"],
        "area_model": str(DATA / "area_toy.yaml"),
    }
    d.update(over)
    return spec_from_dict(d, "toy_spec.yaml")


def gpu_spec(base: str, **over):
    d = {"name": "gpu", "base": base, "parameters": {"clock": ["1.6 GHz", "1.98 GHz"]},
         "workloads": [{"graph": str(GRAPH), "name": "toy"}], "objectives": ["latency", "energy", "area"]}
    d.update(over)
    return spec_from_dict(d, "gpu_spec.yaml")


def lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{DATA}"}


# ----------------------------------------------------------------------------- issue 16: custom base, clocks
def test_custom_gpu_base_file_gets_its_die_area(tmp_path):
    """A copy of h100.yaml used by path made every point 'infeasible' (die area looked up by 'h100.yaml')."""
    mine = tmp_path / "h100.yaml"
    shutil.copy(H100, mine)
    res = run_sweep(gpu_spec(str(mine)), results=tmp_path / "r.jsonl", progress=False)
    assert res.n_infeasible == 0 and res.n_evaluated == 2
    assert {r["objectives"]["area_mm2"] for r in res.records} == {814.0}


def test_custom_gpu_base_without_area_is_a_setup_error(tmp_path, capsys):
    """A renamed copy has no die area: one `spec: area_model: reason` error (exit 2), not N infeasible points."""
    mine = tmp_path / "my_gpu.yaml"
    mine.write_text(H100.read_text().replace("name: NVIDIA H100 SXM5 80GB", "name: My GPU"))
    with pytest.raises(ConfigError) as ei:
        run_sweep(gpu_spec(str(mine)), results=tmp_path / "r.jsonl", progress=False)
    assert ei.value.field == "area_model" and "my_gpu" in ei.value.reason and "area_model:" in ei.value.reason
    assert not (tmp_path / "r.jsonl").exists()


def test_infeasible_reasons_are_counted_on_the_console(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"""
name: cons
base: {DATA / 'toy_arch.yaml'}
parameters: {{rows: [8, 16, 32, 64], cols: [8, 16, 32, 64]}}
workloads: [{{graph: {GRAPH}, name: toy}}]
objectives: [latency, area]
constraints: {{area: {{max: 12.0}}}}
area_model: {DATA / 'area_toy.yaml'}
""")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "r.jsonl"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    n_inf = sum(r["status"] == "infeasible" for r in lines(tmp_path / "r.jsonl"))
    assert n_inf > 1
    assert f"infeasible: {n_inf} of 16 point(s), by reason:" in out
    assert f"    {n_inf} x area > max 12" in out  # one counted line, not one per point


def test_clock_below_base_clock_allowed_when_base_clock_is_swept(tmp_path):
    """Each value used to be validated alone: clock 1.0 GHz < h100's base_clock 1.59 GHz was refused."""
    s = gpu_spec("h100", parameters={"clock": ["1.0 GHz", "1.98 GHz"], "base_clock": ["0.8 GHz", "1.59 GHz"]},
                 objectives=["latency", "energy"])
    build_space(s)  # no error
    res = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    st = {(r["params"]["clock"], r["params"]["base_clock"]): r["status"] for r in res.records}
    assert st == {("1.0 GHz", "0.8 GHz"): "ok", ("1.0 GHz", "1.59 GHz"): "infeasible",
                  ("1.98 GHz", "0.8 GHz"): "ok", ("1.98 GHz", "1.59 GHz"): "ok"}
    # a value that no combination accepts is still refused up front
    bad = gpu_spec("h100", parameters={"clock": ["0.5 GHz", "1.98 GHz"], "base_clock": ["0.8 GHz", "1.59 GHz"]})
    with pytest.raises(ConfigError, match=r"parameters.clock: value '0.5 GHz' rejected .* whatever the other"):
        build_space(bad)


def test_resume_extracts_nothing_and_models_use_the_graph_cache(tmp_path, monkeypatch):
    """A fully stored sweep re-extracted every workload; models must go through graph_cache.cached_extract."""
    import accel.graph_cache as gc

    calls = []

    def fake_cached_extract(model, **kw):
        calls.append((model, kw))
        return toykind.toy_graph(batch=kw["batch"])

    monkeypatch.setattr(gc, "cached_extract", fake_cached_extract)
    s = toy_spec(workloads=[{"model": "resnet50", "batch": 2, "dtype": "fp16"}])
    r1 = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    assert r1.n_evaluated == 48 and len(calls) == 1
    assert calls[0] == ("resnet50", {"batch": 2, "mode": "infer", "dtype": "fp16", "seq_len": None,
                                     "optimizer": None, "amp": None, "use_cache": True})
    r2 = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    assert r2.n_reused == 48 and r2.n_evaluated == 0 and r2.extract_s == 0.0
    assert len(calls) == 1  # nothing extracted on resume


# ----------------------------------------------------------------------------- 17.1 content-hashed keys
def test_changed_graph_file_content_invalidates_stored_results(tmp_path):
    """The key hashed the graph's path: editing the file reused stale latencies."""
    g = tmp_path / "w.json"
    toykind.toy_graph(n_layers=2).save(g)
    s = toy_spec(workloads=[{"graph": str(g), "name": "w"}])
    r1 = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    toykind.toy_graph(n_layers=12).save(g)  # same path, 6x the work
    r2 = run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    assert r2.n_reused == 0 and r2.n_evaluated == 48
    lat1 = {r["key"]: r["objectives"]["latency_s"] for r in r1.records}
    assert min(r["objectives"]["latency_s"] for r in r2.records) > max(lat1.values())
    # the same content at another path (or a moved spec) is reused
    moved = tmp_path / "moved.json"
    shutil.copy(g, moved)
    r3 = run_sweep(toy_spec(workloads=[{"graph": str(moved), "name": "w"}]), results=tmp_path / "r.jsonl",
                   progress=False)
    assert r3.n_reused == 48 and r3.n_evaluated == 0


def test_changed_arch_file_or_constraint_invalidates(tmp_path):
    arch = tmp_path / "a.yaml"
    shutil.copy(DATA / "toy_arch.yaml", arch)
    out = tmp_path / "r.jsonl"
    run_sweep(toy_spec(base=str(arch)), results=out, progress=False)
    arch.write_text(arch.read_text().replace("100 GB/s", "50 GB/s"))
    assert run_sweep(toy_spec(base=str(arch)), results=out, progress=False).n_reused == 0
    # a stored 'infeasible' under an old constraint must not be reused under a new one
    r = run_sweep(toy_spec(base=str(arch), constraints={"area": {"max": 1e9}}), results=out, progress=False)
    assert r.n_reused == 0 and r.n_infeasible == 0


# ----------------------------------------------------------------------------- 17.5 / 17.10 stored records
def test_poisoned_stored_records_are_recomputed_and_reported(tmp_path):
    out = tmp_path / "r.jsonl"
    s = toy_spec()
    run_sweep(s, results=out, progress=False)
    raw = out.read_bytes().splitlines(keepends=True)
    recs = [json.loads(x) for x in raw]
    recs[0]["objectives"]["latency_s"] = -1.0                 # negative (was put on the Pareto front)
    recs[1]["objectives"]["energy_j"] = float("nan")          # NaN (json writes NaN)
    recs[2]["objectives"]["area_mm2"] = float("inf")          # non-finite
    recs[3]["objectives"]["latency_s"] = "fast"               # wrong type
    recs[4]["status"] = "great"                               # unknown status
    body = [json.dumps(r).encode() + b"\n" for r in recs[:5]]
    body.append(raw[5][:20] + b"\xff\xfe" + raw[5][20:])       # non-UTF-8 byte
    body.append(b"\x00" * 50 + b"\n")                          # garbage
    out.write_bytes(b"".join(body + raw[6:]) + raw[6][:30])   # + a truncated last line
    with pytest.warns(UserWarning, match=r"ignored 8 .*1 negative objective.*recomputed"):
        r = run_sweep(s, results=out, progress=False)
    assert r.n_evaluated == 6 and r.n_reused == 42
    assert "not UTF-8" in r.bad_records and "non-finite objective" in r.bad_records
    assert "2 unparsable" in r.bad_records and "non-numeric objective" in r.bad_records
    assert all(v > 0 and math.isfinite(v) for rec in r.front for v in rec["objectives"].values())
    # the CLI says it in one line, without a traceback
    spec_yaml = tmp_path / "s.yaml"
    out2 = tmp_path / "r2.jsonl"
    out2.write_bytes(b'{"key": "0123456789abcdef", "params": {}, "status": "ok", "objectives": {"x": 1}}\n\xff\n')
    spec_yaml.write_text(f"name: t\nbase: {SYSTOLIC}\nparameters: {{rows: [8]}}\n"
                         f"workloads: [{{graph: {GRAPH}}}]\nobjectives: [latency]\n")
    proc = subprocess.run([sys.executable, "-m", "accel", "sweep", str(spec_yaml), "-o", str(out2), "--no-progress"],
                          env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "UnicodeDecodeError" not in proc.stderr
    assert [x for x in proc.stderr.splitlines() if "ignored" in x] == [
        f"  warning: {out2}: ignored 1 unreadable or invalid stored line(s) (1 not UTF-8); their points are recomputed"]


def test_nonphysical_result_is_never_stored(tmp_path, monkeypatch):
    from accel.dse import evaluate

    monkeypatch.setattr(evaluate, "_run_analytic", lambda dev, w: {"latency_s": 1e-3, "energy_j": -5.0})
    res = run_sweep(toy_spec(objectives=["latency", "energy"]), results=tmp_path / "r.jsonl", progress=False, limit=3)
    assert {r["status"] for r in res.records} == {"error"} and not res.front
    assert all("non-physical" in r["reason"] for r in lines(tmp_path / "r.jsonl"))


# ----------------------------------------------------------------------------- 17.2 / 17.6 output path
def test_o_refuses_the_spec_and_non_results_files(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: t\nbase: {DATA / 'toy_arch.yaml'}\nparameters: {{rows: [8, 16]}}\n"
                    f"workloads: [{{graph: {GRAPH}}}]\nobjectives: [latency]\n")
    before = spec.read_bytes()
    assert main(["sweep", str(spec), "-o", str(spec), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"accel sweep: error: {spec}: -o: ") and "not a sweep results file" in err
    assert len(err.splitlines()) == 1 and spec.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert main(["sweep", str(spec), "-o", str(notes), "--no-progress"]) == 2
    assert notes.read_text() == "my notes\n"
    assert main(["sweep", str(spec), "-o", str(tmp_path), "--no-progress"]) == 2
    assert "is a directory" in capsys.readouterr().err
    # a results file with a corrupt tail is still a results file
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 0
    with out.open("ab") as fh:
        fh.write(b'{"key": "tru')
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 0


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_o_refuses_device_and_fifo_without_hanging(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: t\nbase: {SYSTOLIC}\nparameters: {{rows: [8, 16]}}\n"
                    f"workloads: [{{graph: {GRAPH}}}]\nobjectives: [latency]\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, what in (("/dev/full", "character device"), (str(fifo), "FIFO")):
        p = subprocess.run([sys.executable, "-m", "accel", "sweep", str(spec), "-o", target, "--no-progress"],
                           env=env(), capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and f"{target}: -o: {target} is a {what}" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_write_error_stops_the_sweep_with_one_line(tmp_path):
    """ENOSPC/EFBIG: stop with `file: field: reason`, exit 2; the file does not grow past the failure."""
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: t\nbase: {SYSTOLIC}\nparameters: {{rows: {{low: 1, high: 400, step: 1}}}}\n"
                    f"workloads: [{{graph: {GRAPH}}}]\nobjectives: [latency]\n")
    out = tmp_path / "r.jsonl"
    limit = 16 * 1024

    def small_files() -> None:  # the kernel refuses writes past `limit` bytes (EFBIG), like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress"],
                       env=env(), capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"accel sweep: error: {out}: -o: cannot append to {out}: File too large")
    assert out.stat().st_size <= limit
    tail = out.read_bytes().rsplit(b"\n", 1)[-1]
    if tail == b"" or tail.endswith(b"}"):  # the limit fell at a line end: the last record is whole
        assert 0 < len(read_results(out)) < 400
    else:
        with pytest.warns(UserWarning, match="truncated last line"):  # the write that failed
            assert 0 < len(read_results(out)) < 400


def test_enospc_raises_results_write_error(tmp_path, monkeypatch):
    import errno

    from accel.dse import store as store_mod

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.os, "write", full)
    with pytest.raises(ResultsWriteError, match=r"r.jsonl: -o: cannot append .*No space left on device \(errno ENOSPC\)"):
        run_sweep(toy_spec(), results=tmp_path / "r.jsonl", progress=False)


# ----------------------------------------------------------------------------- 17.7 names
@pytest.mark.parametrize("name", ["/abs/path", "../x", "a/b", ".hidden", "", "x" * 200, "a\nb"])
def test_spec_name_cannot_escape_results(name):
    with pytest.raises(ConfigError) as ei:
        toy_spec(name=name)
    assert ei.value.field == "name"


def test_spec_name_allowed_characters():
    s = toy_spec(name="My_sweep-2.v1")
    assert s.results_path() == Path("results") / "My_sweep-2.v1.jsonl"


# ----------------------------------------------------------------------------- 17.8 two sweeps, one file
def test_claims_split_points_between_runs_and_expire(tmp_path):
    p = tmp_path / "r.jsonl"
    a, b = ResultsStore(p), ResultsStore(p)
    keys = [f"{i:016x}" for i in range(10)]
    mine_a, _, _ = a.claim(keys[:6])
    mine_b, done_b, others_b = b.claim(keys)
    assert mine_a == keys[:6] and others_b == keys[:6] and mine_b == keys[6:] and not done_b
    a.append({"key": keys[0], "params": {}, "status": "infeasible", "reason": "x"})
    assert b.claim(keys[:6]) == ([], [keys[0]], keys[1:6])
    a.close()  # a run that ends releases its claims
    assert b.claim(keys[1:6])[0] == keys[1:6]
    b.close()
    # a claim of a process that no longer exists is stale
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with (tmp_path / "r.jsonl.lock").open("a") as fh:
        fh.write(f"{keys[9]} {dead.pid} {os.uname().nodename} deadrun0001\n")
    c = ResultsStore(p)
    assert c.claim([keys[9]])[0] == [keys[9]]
    c.close()


def _kill_spec(tmp_path: Path, rows_step: int = 4, cols_step: int = 4) -> Path:
    spec = tmp_path / "kill.yaml"
    spec.write_text(f"""
name: kill_test
base: {SYSTOLIC}
parameters:
  rows: {{low: 8, high: 64, step: {rows_step}}}
  cols: {{low: 8, high: 64, step: {cols_step}}}
  dataflow: [os, ws, is]
  ifmap_sram: {{low: 16 KiB, high: 256 KiB, num: 3, scale: log}}
workloads: [{{graph: {GRAPH}, name: toy}}]
objectives: [latency, energy, area]
""")
    return spec


@pytest.mark.slow
def test_two_concurrent_sweeps_share_the_work(tmp_path):
    spec = _kill_spec(tmp_path, rows_step=8, cols_step=8)
    total = 8 * 8 * 3 * 3
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress"]
    procs = [subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    recs = lines(out)
    assert len(recs) == total == len({r["key"] for r in recs})  # no point evaluated twice, none missing
    evaluated = [int(o[0].split("evaluated ")[1].split(" ")[0]) for o in outs]
    assert sum(evaluated) == total
    for o in outs:
        assert f"{total} total" in o[0]  # each reports the whole sweep


# ----------------------------------------------------------------------------- 17.8 workers die with the sweep
def _children(pid: int) -> set[int]:
    kids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_parallel_sweep_leaves_no_workers(tmp_path, sig):
    spec = _kill_spec(tmp_path)
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress",
                             "-j", "2"], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and out.read_bytes().count(b"\n") >= 50):
        assert proc.poll() is None, proc.stderr.read().decode()[-500:]
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    assert rc == (-9 if sig == signal.SIGKILL else 143)
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:  # clean up before failing
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived the sweep"
    # and the sweep resumes without recomputing (one more point is enough to see it)
    done = {r["key"] for r in read_results(out)}
    r = subprocess.run([sys.executable, "-m", "accel", "sweep", str(spec), "-o", str(out), "--no-progress",
                        "--limit", "1"], env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "evaluated 1 new point(s)" in r.stdout, r.stdout + r.stderr
    # (with --limit the rerun stops scanning at the first undone point after its one evaluation, so
    # "reused N" counts the stored points it met, not all of them: check the file instead)
    after = read_results(out)
    assert len(after) == len(done) + 1 and done < {r["key"] for r in after}, "a stored point was recomputed"


# ----------------------------------------------------------------------------- 17.9 bounded resources
def test_huge_grid_refused_up_front_without_allocating(tmp_path):
    s = toy_spec(parameters={"rows": {"low": 1, "high": 1000, "num": 1000}, "cols": {"low": 1, "high": 100, "num": 100},
                             "sram": {"low": "1 KiB", "high": "1 MiB", "num": 100}}, objectives=["latency"])
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"has 10,000,000 design points, more than the limit of 100,000.*--yes"):
        run_sweep(s, results=tmp_path / "r.jsonl", progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 10 and peak < 64 * 2**20
    assert not (tmp_path / "r.jsonl").exists()


def test_random_search_over_a_huge_space_never_builds_the_grid(tmp_path):
    s = toy_spec(parameters={"rows": {"low": 1, "high": 100000, "num": 100000}, "cols": {"low": 1, "high": 1000, "num": 1000},
                             "sram": {"low": "1 KiB", "high": "1 GiB", "num": 1000}},
                 objectives=["latency"], search={"method": "random", "n": 20, "seed": 1})
    graphs = {"toy": toykind.toy_graph()}  # measure the sweep, not the graph reader
    tracemalloc.start()
    res = run_sweep(s, results=tmp_path / "r.jsonl", progress=False, graphs=graphs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.n_points == 20 and res.n_evaluated == 20
    assert peak < 64 * 2**20  # the 10^11-point grid is never materialised


def test_huge_num_and_step_are_rejected():
    with pytest.raises(ConfigError, match=r"parameters.rows.num: .*1000000"):
        toy_spec(parameters={"rows": {"low": 1, "high": 10, "num": 10**9}})
    with pytest.raises(ConfigError, match=r"parameters.rows: .*step: the range has 1,000,000,001 values; at most 1,000,000"):
        toy_spec(parameters={"rows": {"low": 0, "high": 1e9, "step": 1}})


def test_cli_prints_point_count_and_needs_yes_past_the_limit(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: big\nbase: {DATA / 'toy_arch.yaml'}\n"
                    "parameters: {rows: {low: 1, high: 500, step: 1}, cols: {low: 1, high: 500, step: 1}}\n"
                    f"workloads: [{{graph: {GRAPH}}}]\nobjectives: [latency]\n")
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 2
    assert "250,000 design points, more than the limit of 100,000" in capsys.readouterr().err
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress", "--yes", "--limit", "3"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].endswith("250,000 design point(s); 1 workload(s): toy_graph")
    assert "evaluated 3 new point(s)" in text


@pytest.mark.parametrize("text,match", [
    ("name: a\nname: b\n", "duplicate key 'name'"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "name: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "expands to more than"),
    (b"name: \xff\n", "not UTF-8"),
])
def test_hostile_spec_yaml_refused(tmp_path, capsys, text, match):
    spec = tmp_path / "s.yaml"
    spec.write_bytes(text if isinstance(text, bytes) else text.encode())
    t0 = time.perf_counter()
    assert main(["sweep", str(spec), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and err.startswith(f"accel sweep: error: {spec}: ")
    assert time.perf_counter() - t0 < 5
