"""accel's analytical systolic model vs SCALE-Sim v3: cycle error and speed.

Reference outputs: tests/data/systolic/scalesim_reference.csv, SCALE-Sim 3.0.0 on its own
topologies (AlexNet, ResNet-18 convs, NCF/test GEMMs) at 32x32 and 128x128 for os/ws/is, 64 KiB
scratchpads, in CALC mode (stall-free: compute cycles) and USER mode (10 words/cycle DRAM:
total cycles with stalls). USER mode is compared with both DRAM traffic models:
``dram_traffic="ideal"`` (ours) and ``"scalesim"`` (SCALE-Sim's prefetcher re-fetches,
accel/devices/systolic/scalesim_replay.py), plus the scalesim-mode DRAM read counts per operand. Its
``seconds`` column is SCALE-Sim's wall time per layer: measured with 16 runs in parallel on a
16-core machine for most rows, so the speedups are lower bounds, and on a 2-vCPU VM for the 11
rows added later (tests/data/systolic/SOURCES.md).

    python benchmarks/bench_scalesim.py              # error tables + speed vs the stored SCALE-Sim times
    python benchmarks/bench_scalesim.py --live 3     # also time SCALE-Sim live on 3 layers here
    python benchmarks/bench_scalesim.py --reference  # print the commands that regenerate the reference
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel.arch import load_arch  # noqa: E402
from accel.devices.systolic import layer_cycles, layers_cycles_np, stall_cycles_from_traffic  # noqa: E402
from accel.peers.topology import read_scalesim_topology  # noqa: E402

DATA = ROOT / "tests" / "data" / "systolic"


def load():
    layers = {}
    for t in ("alexnet", "resnet18", "gemm"):
        for ly in read_scalesim_topology(DATA / f"topo_{t}.csv", gemm=(t == "gemm")):
            layers[(t, ly.name)] = ly
    with open(DATA / "scalesim_reference.csv") as f:
        rows = list(csv.DictReader(f))
    return layers, rows


def ours(ly, r, dram_traffic: str = "ideal"):
    kb = 1024
    return layers_cycles_np(ly.px, ly.window, ly.K, int(r["rows"]), int(r["cols"]), r["dataflow"],
                            ifmap_words=ly.H * ly.W * ly.C, ifmap_sram=int(r["ifmap_kb"]) * kb,
                            filter_sram=int(r["filter_kb"]) * kb, ofmap_sram=int(r["ofmap_kb"]) * kb,
                            bw_ifmap=float(r["bandwidth"]), bw_filter=float(r["bandwidth"]), bw_ofmap=float(r["bandwidth"]),
                            dram_traffic=dram_traffic, conv_geometry=ly.conv_geometry())


def user_errors(layers, rows, dram_traffic: str, key: str = "total_cycles") -> dict:
    """{(array, dataflow): [% error of ours vs SCALE-Sim USER-mode total cycles]}."""
    errs = defaultdict(list)
    for r in rows:
        if r["mode"] != "USER":
            continue
        ly = layers[(r["topology"], r["layer"])]
        o = float(ours(ly, r, dram_traffic)[key])
        ref = float(r["total_cycles"]) + 1  # SCALE-Sim counts cycles from 0
        errs[(int(r["rows"]), r["dataflow"])].append((o - ref) / ref * 100)
    return errs


def dram_read_errors(layers, rows) -> dict:
    """{(array, dataflow, operand, gemm|conv): [% error of scalesim-mode DRAM reads vs SCALE-Sim]}."""
    errs = defaultdict(list)
    for r in rows:
        if r["mode"] != "USER":
            continue
        o = ours(layers[(r["topology"], r["layer"])], r, "scalesim")
        for op in ("ifmap", "filter"):
            ref = float(r[f"dram_{op}_reads"])
            kind = "gemm" if r["topology"] == "gemm" else "conv"
            errs[(int(r["rows"]), r["dataflow"], op, kind)].append((float(o[f"dram_{op}"]) - ref) / ref * 100)
    return errs


def _print_table(errs) -> None:
    print(f"{'array':>8s} {'dataflow':>8s} {'n':>4s} {'max |err|':>10s} {'mean |err|':>10s} {'mean err':>9s} {'<=5%':>5s}")
    for (a, df, *rest), e in sorted(errs.items()):
        e = np.array(e)
        tag = (" " + " ".join(rest)) if rest else ""
        print(f"{a:>5d}x{a:<3d} {df:>8s} {len(e):4d} {np.abs(e).max():10.2f} {np.abs(e).mean():10.2f} {e.mean():+9.2f}"
              f" {int((np.abs(e) <= 5).sum()):5d}{tag}")


def error_tables(layers, rows) -> None:
    errs = defaultdict(list)
    for r in rows:
        if r["mode"] != "CALC":
            continue
        ly = layers[(r["topology"], r["layer"])]
        o = float(ours(ly, r)["compute_cycles"])
        ref = float(r["total_cycles"]) + 1  # SCALE-Sim counts cycles from 0
        errs[(int(r["rows"]), r["dataflow"])].append((o - ref) / ref * 100)
    print("\nSCALE-Sim CALC mode: compute cycles (stall-free); error of ours vs SCALE-Sim, % (n layers)")
    _print_table(errs)
    for mode in ("ideal", "scalesim"):
        print(f"\nSCALE-Sim USER mode: total cycles incl. DRAM stalls (10 words/cycle), dram_traffic={mode!r}; "
              "error of ours vs SCALE-Sim, % (n layers)")
        _print_table(user_errors(layers, rows, mode))
    print("\nSCALE-Sim USER mode: DRAM read words, dram_traffic='scalesim' vs SCALE-Sim, % (per operand, GEMM/conv)")
    _print_table(dram_read_errors(layers, rows))


def scalesim_traffic_stalls(layers, r) -> float:
    """Our stall formula fed with SCALE-Sim's own DRAM traffic for one USER-mode row (total cycles).

    SCALE-Sim fetches its active buffer half before compute (ceil(A/bw)*bw words, not stalling),
    then one prefetch-buffer half per window slide taking ceil(P/bw)+1 cycles.
    """
    ly = layers[(r["topology"], r["layer"])]
    bw = float(r["bandwidth"])
    compute = float(layers_cycles_np(ly.px, ly.window, ly.K, int(r["rows"]), int(r["cols"]), r["dataflow"])["compute_cycles"])
    late, bws = {}, {}
    for key, kb in (("ifmap", "ifmap_kb"), ("filter", "filter_kb")):
        half = int(r[kb]) * 1024 // 2
        per_fetch = -(-half // bw) * bw
        slides = max(float(r[f"dram_{key}_reads"]) / per_fetch - 1, 0.0)
        late[key] = slides * (-(-half // bw) + 1)  # cycles, at 1 "word"/cycle below
        bws[key] = 1.0
    stall, _ = stall_cycles_from_traffic(compute, late, bws)
    return compute + float(stall)


def stall_model_check(layers, rows) -> None:
    errs = defaultdict(list)
    for r in rows:
        if r["mode"] != "USER":
            continue
        ref = float(r["total_cycles"]) + 1
        errs[(int(r["rows"]), r["dataflow"])].append((scalesim_traffic_stalls(layers, r) - ref) / ref * 100)
    print("\nSCALE-Sim USER mode, the ideal-mode stall formula (stall_cycles_from_traffic: fetches spread "
          "evenly over compute) fed with SCALE-Sim's own DRAM traffic (slide counts), % error; the "
          "dram_traffic='scalesim' table above replays SCALE-Sim's per-miss timing instead:")
    print(f"{'array':>8s} {'dataflow':>8s} {'n':>4s} {'max |err|':>10s} {'mean |err|':>10s} {'median |err|':>12s}")
    for (a, df), e in sorted(errs.items()):
        e = np.abs(np.array(e))
        print(f"{a:>5d}x{a:<3d} {df:>8s} {len(e):4d} {e.max():10.2f} {e.mean():10.2f} {np.median(e):12.2f}")


def speed(layers, rows, live: int) -> None:
    by_cfg = defaultdict(float)
    n_by_cfg = defaultdict(int)
    for r in rows:
        cfg = (r["topology"], int(r["rows"]), r["dataflow"], r["mode"])
        by_cfg[cfg] += float(r["seconds"])
        n_by_cfg[cfg] += 1
    spec = load_arch("systolic_32x32")
    print("\nSpeed: SCALE-Sim (stored wall time) vs ours (scalar layer_cycles per layer, best of 5)")
    print(f"{'topology':>9s} {'array':>7s} {'df':>3s} {'mode':>5s} {'layers':>6s} {'SCALE-Sim s':>12s} {'ours s':>10s} {'speedup':>10s}")
    ratios = []
    for cfg in sorted(by_cfg):
        topo, a, df, mode = cfg
        lys = [ly for (t, _), ly in layers.items() if t == topo]
        s = spec.model_copy(update={"rows": a, "cols": a, "dataflow": df})
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter()
            for ly in lys:
                layer_cycles(s, ly, bandwidth_words=10.0 if mode == "USER" else 1e12)
            best = min(best, time.perf_counter() - t0)
        ratios.append(by_cfg[cfg] / best)
        print(f"{topo:>9s} {a:>4d}x{a:<3d}{df:>3s} {mode:>5s} {n_by_cfg[cfg]:6d} {by_cfg[cfg]:12.1f} {best:10.5f} "
              f"{by_cfg[cfg] / best:10.0f}x")
    print(f"speedup over all configurations: min {min(ratios):.0f}x, median {np.median(ratios):.0f}x")

    # dram_traffic="scalesim" (per-fold ring model + stall replay) on the USER-mode runs
    print("\nSpeed of dram_traffic='scalesim' vs SCALE-Sim USER mode (stored wall time; ours: layer_cycles, best of 3)")
    print(f"{'topology':>9s} {'array':>7s} {'df':>3s} {'layers':>6s} {'SCALE-Sim s':>12s} {'ours s':>10s} {'speedup':>10s}")
    ratios = []
    for cfg in sorted(c for c in by_cfg if c[3] == "USER"):
        topo, a, df, _ = cfg
        names = {r["layer"] for r in rows if (r["topology"], int(r["rows"]), r["dataflow"], r["mode"]) == cfg}
        lys = [ly for (t, n), ly in layers.items() if t == topo and n in names]
        s = spec.model_copy(update={"rows": a, "cols": a, "dataflow": df, "dram_traffic": "scalesim",
                                    "ifmap_sram": 65536, "filter_sram": 65536, "ofmap_sram": 65536, "word_bytes": 1.0})
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            for ly in lys:
                layer_cycles(s, ly, bandwidth_words=10)
            best = min(best, time.perf_counter() - t0)
        ratios.append(by_cfg[cfg] / best)
        print(f"{topo:>9s} {a:>4d}x{a:<3d}{df:>3s} {len(lys):6d} {by_cfg[cfg]:12.1f} {best:10.4f} {by_cfg[cfg] / best:10.0f}x")
    print(f"scalesim-mode speedup: min {min(ratios):.0f}x, median {np.median(ratios):.0f}x")

    # vectorised: every layer x every array size x all dataflows in a few numpy calls
    lys = list(layers.values())
    px, win, k = (np.array([getattr(ly, f) for ly in lys]) for f in ("px", "window", "K"))
    sizes = np.arange(8, 264, 8)[:, None]
    t0 = time.perf_counter()
    for df in ("os", "ws", "is"):
        layers_cycles_np(px, win, k, sizes, sizes, df, ifmap_sram=65536, filter_sram=65536, ofmap_sram=65536,
                         bw_ifmap=10, bw_filter=10, bw_ofmap=10)
    dt = time.perf_counter() - t0
    n = len(lys) * len(sizes) * 3
    print(f"vectorised: {n} layer x design evaluations in {dt * 1e3:.1f} ms ({n / dt:,.0f} per s)")

    if live:
        from accel.peers.scalesim_runner import ScaleSimConfig, run_scalesim

        sel = [ly for (t, _), ly in layers.items() if t == "alexnet"][-live:]
        cfg = ScaleSimConfig(rows=32, cols=32, dataflow="os", mode="CALC")
        t0 = time.perf_counter()
        res = run_scalesim(sel, cfg)
        t_ss = time.perf_counter() - t0
        s = spec.model_copy(update={"rows": 32, "cols": 32, "dataflow": "os"})
        t0 = time.perf_counter()
        out = [layer_cycles(s, ly, bandwidth_words=1e12) for ly in sel]
        t_us = time.perf_counter() - t0
        print(f"\nlive on this machine, AlexNet {[ly.name for ly in sel]} 32x32 os: SCALE-Sim {t_ss:.1f} s, "
              f"ours {t_us * 1e3:.2f} ms, speedup {t_ss / t_us:,.0f}x; cycles equal: "
              f"{all(o.compute_cycles == r.total_cycles + 1 for o, r in zip(out, res))}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--live", type=int, default=0, help="also run SCALE-Sim live on the last N AlexNet layers")
    ap.add_argument("--reference", action="store_true", help="print the commands that regenerate the reference CSV")
    args = ap.parse_args(argv)
    if args.reference:
        for topo in ("alexnet", "resnet18", "gemm"):
            for a in (32, 128):
                for df in ("os", "ws", "is"):
                    for mode in ("CALC", "USER"):
                        print(f"python -m accel.peers.scalesim_runner --topology {topo} --rows {a} --cols {a} "
                              f"--dataflow {df} --mode {mode} --bandwidth 10 --sram-kb 64 64 64 --out {topo}_{a}_{df}_{mode}.csv")
        return
    layers, rows = load()
    error_tables(layers, rows)
    stall_model_check(layers, rows)
    speed(layers, rows, args.live)


if __name__ == "__main__":
    main()
