"""The ``accel`` command. Each subcommand lives in its own module with a ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from accel.errors import AccelError

#: subcommand modules, each defining ``register(subparsers) -> None`` which sets ``func``.
SUBCOMMANDS = ("simulate", "extract", "archs", "validate", "measure", "sweep", "plot")


class AccelArgumentParser(argparse.ArgumentParser):
    """argparse parser whose usage errors are one line (plus a pointer to ``--help``), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(minimum: int, expected: str, bound: str):
    """argparse type factory: an integer >= ``minimum`` (``expected``/``bound`` word the two errors)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {v}")
        return v

    return parse


#: argparse type: an integer >= 1
positive_int = _int_at_least(1, "a positive integer", "a positive integer (>= 1)")
#: argparse type: an integer >= 0
nonneg_int = _int_at_least(0, "an integer >= 0", ">= 0")


def build_parser() -> argparse.ArgumentParser:
    parser = AccelArgumentParser(prog="accel", description="Hardware simulator and DSE for deep learning")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=AccelArgumentParser)
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
    except BrokenPipeError:  # stdout closed early (`accel ... | head`): stop quietly, like other CLI tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # unwritable output path, missing directory, full disk, ...
        where = exc.filename if exc.filename is not None else "<output>"
        print(f"accel {args.command}: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
