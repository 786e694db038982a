"""The ``accel`` command. Each subcommand lives in its own module with a ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from accel.errors import AccelError

#: subcommand modules, each defining ``register(subparsers) -> None`` which sets ``func``.
SUBCOMMANDS = ("simulate", "extract", "archs", "validate", "measure", "sweep", "plot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accel", description="Hardware simulator and DSE for deep learning")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"accel.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"accel.cli.{name}":
                continue  # subcommand not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AccelError as exc:
        print(f"accel {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
