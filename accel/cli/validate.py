"""``accel validate DIR``: compare the models with a measurement directory and report the error."""

from __future__ import annotations

import argparse

from accel.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate", help="compare predictions with real measurements (gemm/conv/layers/e2e/micro/energy/cpu CSVs)",
        description="Predict every row of a measurement directory (format of data/measurements) and print "
                    "per-category error (N, MAPE, median, Spearman, worst rows) and PASS/FAIL per target.")
    p.add_argument("dir", help="measurement directory (device.json, gemm.csv, conv.csv, ...; any subset)")
    p.add_argument("--arch", help="device arch that ran the kernels (default: from device.json name, e.g. H100 -> h100)")
    p.add_argument("--cpu-arch", help="host CPU arch for cpu.csv (default: the device's host, e.g. h100_host_xeon)")
    p.add_argument("--link-arch", default="pcie5", help="host<->device link arch for micro.csv h2d/d2h (default pcie5)")
    p.add_argument("--only", help="comma-separated sections: gemm,conv,conv_bwd,layers,e2e,micro,dispatch,cpu,energy,llm_train "
                                     "(default all)")
    p.add_argument("-o", "--outdir", help="write validation.csv, skipped.csv, summary.txt, report.html here")
    p.add_argument("--worst", type=int, default=3, help="worst rows shown per category (default 3)")
    p.add_argument("--plotlyjs", choices=("embed", "directory"), default="embed",
                   help="embed plotly.js in report.html (default) or write plotly.min.js beside it")
    p.add_argument("--predictor", metavar="MODULE:CLASS",
                   help="use your own Predictor subclass (accel.validate.Predictor) instead of the shipped models: "
                        "'pkg.module:Class' or 'path/to/file.py:Class' (constructed with no arguments)")
    p.add_argument("--against", metavar="REF_DIR",
                   help="compare with another measurement directory instead of the models (run-to-run noise floor)")
    p.add_argument("--cv", choices=("shape", "model"),
                   help="cross-validate the calibration instead: 'shape' refits the kernel calibration leaving out "
                        "one GEMM/conv shape family at a time and predicts it; 'model' refits the host's dispatch.framework "
                        "leaving out one e2e.csv model at a time. Prints fitted vs cross-validated MAPE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accel.validate import SECTIONS, load_predictor, render_text, validate_dir, write_all

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    bad = [s for s in only or () if s not in SECTIONS]
    if bad:
        raise ConfigError("--only", bad[0], f"unknown section; allowed: {', '.join(SECTIONS)}")
    if args.predictor and args.against:
        raise ConfigError("--against", "--predictor", "give one of --predictor and --against, not both")
    if args.cv:
        return run_cv(args)
    predictor = load_predictor(args.predictor) if args.predictor else None
    if args.against:
        from accel.validate.predictor import ReferencePredictor

        predictor = ReferencePredictor(args.against)
    rep = validate_dir(args.dir, arch=args.arch, cpu_arch=args.cpu_arch, link_arch=args.link_arch, only=only,
                       predictor=predictor, progress=not args.quiet)
    print(render_text(rep, worst_n=args.worst))
    if args.outdir:
        files = write_all(rep, args.outdir, include_plotlyjs=True if args.plotlyjs == "embed" else "directory")
        print("\nwrote " + ", ".join(str(p) for p in files.values()))
    return 0


def run_cv(args: argparse.Namespace) -> int:
    """``--cv shape|model``: cross-validation of the calibration (accel.calibrate.cv) on the device arch."""
    from accel.calibrate import cross_validate_models, cross_validate_shapes, gpu_kernel_rows, load_gpu_base, render_cv
    from accel.validate import choose_archs, read_measurements

    for flag, val in (("--predictor", args.predictor), ("--against", args.against), ("--only", args.only),
                      ("--outdir", args.outdir)):
        if val:
            raise ConfigError("--cv", flag, f"{flag} does not apply to --cv (it refits the shipped models)")
    mdir = read_measurements(args.dir)
    if mdir.device_type == "cpu":
        raise ConfigError(str(mdir.path / "device.json"), "device_type",
                          "CPU measurements: --cv cross-validates the GPU calibration; no GPU rows here")
    spec, _ = load_gpu_base(args.arch or choose_archs(mdir)[0])
    if args.cv == "shape":
        res = cross_validate_shapes(gpu_kernel_rows(mdir), spec, source=str(mdir.path), progress=not args.quiet)
    else:
        from accel.arch import load_arch
        from accel.sim.system import DEFAULT_HOST
        from accel.validate import with_measured_host

        host_ref = getattr(args, "cpu_arch", None) or choose_archs(mdir)[1] or DEFAULT_HOST
        host, note = with_measured_host(load_arch(host_ref), mdir)
        res = cross_validate_models(mdir, spec, progress=not args.quiet, host=host)
        if note:
            res.notes.append(note)
    print(render_cv(res, worst=max(args.worst, 8)))
    return 0
