"""``accel archs``: list bundled archs (kind, name); ``accel archs show NAME`` prints validated fields."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archs", help="list bundled arch YAMLs, or show one validated")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show"], help="list (default) or show NAME")
    p.add_argument("name", nargs="?", help="arch name or YAML path for `show`")
    p.add_argument("--kind", help="only list archs of this kind (gpu, cpu, link, system, ...)")
    p.add_argument("--sources", action="store_true", help="with show: also print each field's cited source")
    p.set_defaults(func=run)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def run(args) -> int:
    from accel.arch import list_archs, load_arch
    from accel.arch.loader import read_yaml
    from accel.errors import AccelError, ConfigError

    if args.action == "show":
        if not args.name:
            raise ConfigError("<command line>", "NAME", "give an arch name, e.g. `accel archs show h100`")
        spec = load_arch(args.name)
        data = spec.model_dump(exclude={"sources", "origin"})
        print(f"# {spec.origin}")
        print(f"# values in SI base units (Hz, B, B/s, W, J, s, FLOP/s)")
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
