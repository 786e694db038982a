"""Data-parallel training scaling, 1 -> 8 GPUs, NVLink4 (DGX H100) vs PCIe 5.0 (h100x8_pcie).

    python experiments/scaling_data_parallel.py [--models resnet50,gpt2] [--dtype bf16]
           [--batch resnet50=64,gpt2=8] [--seq-len 512] [--devices 1,2,4,8] [--collective ring]

For each model: extract one training step (forward + loss + backward + SGD) at the per-GPU
batch, simulate it on 1..8 GPUs of each system with DDP-style bucketed ring all-reduce
overlapping backward, and print step time, throughput, speedup over 1 GPU, scaling
efficiency, and the all-reduce time that is NOT hidden behind backward (exposed comm).
Weak scaling: per-GPU batch fixed, global batch = per-GPU batch x GPUs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

SYSTEMS = {"nvlink4": "dgx_h100", "pcie5": "h100x8_pcie"}
DEFAULT_BATCH = {"resnet50": 64, "gpt2": 8}


def exposed_comm(res, device: str) -> float:
    """Time (s) during which device's comm stream ran but its compute stream was idle."""
    comp = sorted((r.start, r.end) for r in res.records if r.device == device and r.stream == "compute")
    comm = sorted((r.start, r.end) for r in res.records if r.device == device and r.stream == "comm")
    exposed = 0.0
    for s, e in comm:
        covered = 0.0
        for cs, ce in comp:
            if ce <= s:
                continue
            if cs >= e:
                break
            covered += min(e, ce) - max(s, cs)
        exposed += (e - s) - covered
    return exposed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet50,gpt2")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--batch", default=",".join(f"{k}={v}" for k, v in DEFAULT_BATCH.items()))
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--devices", default="1,2,4,8")
    ap.add_argument("--collective", default="ring", choices=["ring", "tree"])
    args = ap.parse_args(argv)

    import workloads
    from accel.sim import ParallelConfig, resolve_system, simulate

    batches = {k: int(v) for k, v in (kv.split("=") for kv in args.batch.split(","))}
    counts = [int(x) for x in args.devices.split(",")]
    systems = {f: resolve_system(s) for f, s in SYSTEMS.items()}
    print(f"data-parallel training scaling (weak: per-GPU batch fixed), dtype {args.dtype}, {args.collective} all-reduce, "
          f"DDP buckets 25 MiB")
    hdr = f"{'model':<9} {'fabric':<8} {'GPUs':>4} {'step ms':>9} {'items/s':>10} {'speedup':>8} {'eff %':>6} " \
          f"{'allreduce ms':>12} {'exposed ms':>10} {'grad GB/GPU':>11}"
    print(hdr)
    print("-" * len(hdr))
    for model in args.models.split(","):
        b = batches.get(model, 8)
        kw = {"seq_len": args.seq_len} if model in ("gpt2", "bert") else {}
        g = workloads.extract_model(model, batch=b, mode="train", dtype=args.dtype, **kw)
        for fabric, sysm in systems.items():
            base = None
            for n in counts:
                res = simulate(g, sysm, batch_items=b, parallel=ParallelConfig("data", n, collective=args.collective))
                base = base or res.throughput
                dev0 = res.devices[0]
                ar = sum(r.duration for r in res.records if r.device == dev0 and r.kind == "allreduce")
                sent = sum(r.bytes for r in res.records if r.device == dev0 and r.kind == "allreduce")
                speed = res.throughput / base
                print(f"{model:<9} {fabric:<8} {n:>4} {res.latency_s * 1e3:9.2f} {res.throughput:10.1f} {speed:8.2f} "
                      f"{100 * speed / n:6.1f} {ar * 1e3:12.2f} {exposed_comm(res, dev0) * 1e3:10.2f} {sent / 1e9:11.3f}")
        print()


if __name__ == "__main__":
    main()
