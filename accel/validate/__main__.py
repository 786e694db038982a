"""``python -m accel.validate DIR ...``: same as ``accel validate`` without importing the other subcommands."""

import argparse
import sys

from accel.cli import validate as _cli
from accel.errors import AccelError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m accel.validate")
    sub = p.add_subparsers(dest="command")
    _cli.register(sub)
    args = p.parse_args(["validate", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except AccelError as exc:
        print(f"accel validate: error: {exc}", file=sys.stderr)
        return 2


sys.exit(main())
