"""``accel calibrate DIR --arch BASE -o NEW.yaml``: fit a GPU arch's calibration to a measurement directory."""

from __future__ import annotations

import argparse

from accel.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate", help="fit a GPU (or CPU) arch's calibration values to a measurement directory and write a new arch YAML",
        description="Fit the calibration of a GPU arch to measurements (format of data/measurements): hbm_efficiency, "
                    "kernel_latency, graph launch overhead from micro.csv; tensor/fma/conv/L2 efficiencies and latencies "
                    "from gemm.csv + conv.csv (pattern search on mean |log(pred/meas)|); and the host CPU arch's eager "
                    "dispatch (kernel_launch from micro.csv, framework from e2e.csv batch-1 rows) and pageable staging "
                    "copies (micro.csv pinned=False rows). Prints each value with its fit residual (MAPE of the rows "
                    "it was fitted on). A CPU directory (accel measure --device cpu) calibrates the CPU arch given by "
                    "--arch: single-core efficiencies and cache/DRAM bandwidths on the 1-thread rows, then the "
                    "multi-core ones; op_overhead from dispatch.csv.")
    p.add_argument("dir", help="measurement directory (device.json, gemm.csv, conv.csv, micro.csv, e2e.csv, ...)")
    p.add_argument("--arch", help="base GPU arch, name or YAML path (default: from device.json name, e.g. H100 -> h100)")
    p.add_argument("-o", "--output", help="write the calibrated arch YAML here (default: print only)")
    p.add_argument("--host", help="base host CPU arch, name or YAML path (default: h100_host_xeon)")
    p.add_argument("--host-out", help="write the calibrated host CPU arch YAML (host_runtime: dispatch, staging) here")
    p.add_argument("--params", help="comma-separated kernel parameters to fit (default: all but calibration.sm_bandwidth)")
    p.add_argument("--start", choices=("base", "neutral"), default="base",
                   help="start the kernel fit at the base arch's values (default) or at neutral values")
    p.add_argument("--rows", choices=("target", "all"), default="target",
                   help="GEMM/conv rows the kernel fit uses: the accuracy-target set (bmm batch >= 32 or >= 1 GFLOP; "
                        "conv N >= 32 or >= 1 GFLOP; default, as h100.yaml was fitted) or all rows")
    p.add_argument("--no-framework", action="store_true",
                   help="do not fit the host's dispatch framework time (it extracts the e2e.csv models)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU measurements: fit only rows run with this many threads (e.g. 1 on a small shared VM)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accel.calibrate import calibrate_cpu_dir, calibrate_dir, render_result, write_arch_yaml, write_host_yaml
    from accel.calibrate.params import DEFAULT_KERNEL_PARAMS, KERNEL_PARAMS
    from accel.cli import check_output

    check_output(args.output, "--output")
    check_output(args.host_out, "--host-out")
    from accel.validate import choose_archs, read_measurements

    mdir = read_measurements(args.dir)
    arch = args.arch
    if mdir.device_type == "cpu":  # calibrate the CPU arch itself
        if not arch:
            raise ConfigError(str(mdir.path / "device.json"), "device_type",
                              f"CPU measurements ({mdir.device_name or 'unknown CPU'}): pass --arch naming the CPU arch "
                              "to calibrate (see `accel archs`)")
        if args.host_out:
            raise ConfigError("--host-out", args.host_out, "CPU measurements calibrate the CPU arch itself; use -o")
        from accel.calibrate.cpu import CPU_FIT_PARAMS

        cpu_params = None
        if args.params:
            cpu_params = [q.strip() if "." in q else f"calibration.{q.strip()}" for q in args.params.split(",") if q.strip()]
            for q in cpu_params:
                if q not in CPU_FIT_PARAMS:
                    raise ConfigError("--params", q, "unknown CPU parameter; allowed: " + ", ".join(CPU_FIT_PARAMS))
        res = calibrate_cpu_dir(args.dir, arch, progress=not args.quiet, params=cpu_params, threads=args.threads)
        print(render_result(res))
        if args.output:
            print(f"\nwrote {write_arch_yaml(res, args.output)}")
        return 0
    params = DEFAULT_KERNEL_PARAMS
    if args.params:
        params = tuple(dict.fromkeys(s.strip() for s in args.params.split(",") if s.strip()))
        for q in params:
            if q not in KERNEL_PARAMS:
                full = f"calibration.{q}"
                if full not in KERNEL_PARAMS:
                    raise ConfigError("--params", q, "unknown parameter; allowed: " + ", ".join(KERNEL_PARAMS))
        params = tuple(q if q in KERNEL_PARAMS else f"calibration.{q}" for q in params)
        if not params:
            raise ConfigError("--params", args.params, "no parameter given")
    if not arch:
        arch = choose_archs(mdir)[0]
    res = calibrate_dir(args.dir, arch, params=params, start=args.start, framework=not args.no_framework,
                        rows=args.rows, progress=not args.quiet, host=args.host)
    print(render_result(res))
    if args.output:
        path = write_arch_yaml(res, args.output)
        print(f"\nwrote {path}")
    if args.host_out:
        path = write_host_yaml(res, args.host_out)
        print(f"wrote {path}")
    return 0
