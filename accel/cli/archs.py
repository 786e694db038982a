"""``accel archs``: list bundled archs (kind, name); ``accel archs show NAME`` prints validated fields;
``accel archs check DIR_OR_DEVICE_JSON --arch NAME`` diffs an arch's datasheet numbers against a
measured ``device.json`` (see :mod:`accel.arch.device_check`)."""

from __future__ import annotations

import argparse
import json


CHECK_EPILOG = """\
check: `accel archs check DIR_OR_DEVICE_JSON --arch NAME` compares the arch YAML's datasheet numbers
with what the device reported in the device.json written by `accel measure` (a measurement
directory or the file itself) and prints one row per field: YAML value, device value, relative
difference (device - yaml) / yaml, the field's tolerance and a status (ok, MISMATCH beyond the
tolerance, or 'not reported'). gpu archs (a CUDA run): SM count, max SM clock, L2, HBM size and
bandwidth (bus width x memory clock x 2 / 8), power limit, shared memory and registers per SM.
cpu archs (any run's lscpu/free): cores, threads per core, cache sizes, base/turbo clock, DRAM
size. system archs: their GPU, device count, host CPU and PCIe host link (generation, lanes).

exit status of check: 0 every compared field agrees (fields not reported do not count),
1 at least one field MISMATCH, 2 bad input (missing/non-UTF-8/non-JSON device.json, unknown
arch, a device.json of another kind than the arch) with a one-line `file: field: reason` error.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archs", help="list bundled arch YAMLs, show one validated, or check one against a device",
                       description="List bundled arch YAMLs (default), `show NAME` one validated, or "
                                   "`check DIR_OR_DEVICE_JSON --arch NAME` its datasheet numbers against a measured "
                                   "device.json.",
                       epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "check", "schema"],
                   help="list (default), show NAME, check DIR_OR_DEVICE_JSON --arch NAME, or schema KIND (every "
                        "field of that kind with its unit and description)")
    p.add_argument("name", nargs="?", help="arch name or YAML path for `show`; measurement directory or device.json "
                                           "for `check`")
    p.add_argument("--kind", help="only list archs of this kind (gpu, cpu, link, system, ...)")
    p.add_argument("--sources", action="store_true", help="with show: also print each field's cited source")
    p.add_argument("--arch", help="with check: arch name or YAML path (kind gpu, cpu or system) to check")
    p.set_defaults(func=run)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def run(args) -> int:
    from accel.arch import list_archs, load_arch
    from accel.arch.loader import read_yaml
    from accel.errors import AccelError, ConfigError

    if args.arch is not None and args.action != "check":
        raise ConfigError("<command line>", "--arch",
                          "only `accel archs check DIR_OR_DEVICE_JSON --arch NAME` takes it")
    if args.action == "check":
        return _check(args)
    if args.action == "schema":
        from accel.arch.registry import known_kinds
        from accel.arch.schema_doc import render_schema

        kinds = [k for k in known_kinds() if not k.startswith("_")]
        if args.name not in kinds:
            raise ConfigError("<command line>", "KIND", f"{'unknown kind ' + repr(args.name) if args.name else 'give a kind'}; "
                                                      f"allowed kinds: {', '.join(kinds)}")
        print(render_schema(args.name))
        return 0
    if args.action == "show":
        if not args.name:
            raise ConfigError("<command line>", "NAME", "give an arch name, e.g. `accel archs show h100`")
        spec = load_arch(args.name)
        data = spec.model_dump(exclude={"sources", "origin"})
        print(f"# {spec.origin}")
        print("# values in SI base units (Hz, B, B/s, W, J, s, FLOP/s)")
        print(json.dumps(data, indent=2, default=_fmt))
        if args.sources:
            print("# sources")
            for k, v in sorted(spec.sources.items()):
                print(f"{k}: {v}")
        return 0
    from accel.arch.registry import known_kinds

    if args.kind and args.kind not in known_kinds():
        raise ConfigError("<command line>", "--kind", f"unknown kind {args.kind!r}; allowed kinds: {', '.join(known_kinds())}")
    rows = []
    for name, path in sorted(list_archs().items()):
        try:
            raw = read_yaml(path)
            kind, full = str(raw.get("kind", "?")), str(raw.get("name", ""))
            try:
                load_arch(name)
                status = ""
            except AccelError as exc:
                status = f"  [INVALID: {str(exc)[:80]}]"
        except ConfigError as exc:
            kind, full, status = "?", "", f"  [INVALID: {str(exc)[:80]}]"
        if args.kind and kind != args.kind:
            continue
        rows.append((kind, name, full + status))
    rows.sort()
    wk = max([4] + [len(r[0]) for r in rows])
    wn = max([4] + [len(r[1]) for r in rows])
    print(f"{'kind':<{wk}}  {'arch':<{wn}}  name")
    for kind, name, full in rows:
        print(f"{kind:<{wk}}  {name:<{wn}}  {full}")
    return 0


def _check(args) -> int:
    """``accel archs check``: 0 when every compared field agrees, 1 on a MISMATCH (ConfigError -> 2)."""
    from accel.arch import load_arch
    from accel.arch.device_check import check_device, format_report, read_device_json
    from accel.errors import ConfigError

    if not args.name:
        raise ConfigError("<command line>", "DIR_OR_DEVICE_JSON",
                          "give a measurement directory or its device.json, e.g. "
                          "`accel archs check data/measurements/h100 --arch h100`")
    if not args.arch:
        raise ConfigError("<command line>", "--arch", "give the arch to check, e.g. `--arch h100`")
    spec = load_arch(args.arch)
    info, path = read_device_json(args.name)
    report = check_device(args.arch, spec, info, str(path))
    print(format_report(report))
    return 0 if report.ok else 1
