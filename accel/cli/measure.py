"""``accel measure``: run real kernels/models here and write a measurement directory."""

from __future__ import annotations

import argparse
import sys

from accel.cli import positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "measure", help="measure kernels/models on this machine (writes gemm.csv, conv.csv, ... for `accel validate`)",
        description="Run real GEMMs, convolutions, models, copies and (CUDA) energy tests and write them in the "
                    "format of data/measurements, so `accel validate DIR` compares the models with this machine.")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("cuda", "cpu"), default=None,
                   help="what runs the kernels (default: cuda if available, else cpu)")
    p.add_argument("--what", default=None,
                   help="comma-separated sections: device,micro,gemm,conv,conv_bwd,layers,e2e,energy,cpu,dispatch,"
                        "llm_train (default: all)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick", help="small shape set (default)")
    g.add_argument("--full", dest="preset", action="store_const", const="full",
                   help="the full set of data/measurements/measure_gpu.py (tens of minutes on a GPU)")
    g.add_argument("--preset", choices=("tiny", "quick", "full"), help="tiny: a smoke test of a few seconds")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: all cores); cpu.csv measures 1 and this many")
    p.add_argument("--max-spread", type=positive_float, default=None, metavar="FRACTION",
                   help="flag a timed row noisy=True when its spread (interquartile range / median, or the "
                        "disagreement of its two rounds) exceeds this (default 0.25), or when the CPU load "
                        "average exceeds 1.5x the CPU count (CPU runs)")
    p.add_argument("--refuse-noisy", action="store_true",
                   help="drop noisy rows instead of writing them flagged (rows that are physically impossible "
                        "are always refused)")
    p.add_argument("-o", "--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    from accel.measure import measure

    device = args.device
    if device is None:
        try:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    what = [s.strip() for s in args.what.split(",") if s.strip()] if args.what else None
    from accel.measure.noise import DEFAULT_MAX_SPREAD

    written = measure(args.outdir, device=device, what=what, preset=args.preset or "quick", threads=args.threads,
                      max_spread=args.max_spread if args.max_spread is not None else DEFAULT_MAX_SPREAD,
                      refuse_noisy=args.refuse_noisy)
    print(f"accel measure ({device}, {args.preset or 'quick'}): wrote " + ", ".join(str(p) for p in written.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m accel.measure``), without the other subcommands' imports."""
    from accel.errors import AccelError

    p = argparse.ArgumentParser(prog="python -m accel.measure", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except AccelError as exc:
        print(f"accel measure: error: {exc}", file=sys.stderr)
        return 2
