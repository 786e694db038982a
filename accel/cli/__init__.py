"""The ``accel`` command. Each subcommand lives in its own module with a ``register(subparsers)``.

Start-up is kept light: subcommand modules import only the standard library and small accel
modules at top level; torch (``workloads``), pandas and plotly are imported inside the
functions that need them, so a cached ``accel simulate --model M`` never loads them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, NoReturn

from accel.errors import AccelError

#: subcommand modules, each defining ``register(subparsers) -> None`` which sets ``func``.
SUBCOMMANDS = ("simulate", "compare", "extract", "serve", "archs", "validate", "calibrate", "measure", "sweep", "plot")


class AccelArgumentParser(argparse.ArgumentParser):
    """argparse parser whose usage errors are one line (plus a pointer to ``--help``), exit code 2."""

    def error(self, message: str) -> NoReturn:
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


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return v


def int_list(text: str) -> list[int]:
    """argparse type: one positive integer or a comma-separated list (``"1,8,64"``), duplicates dropped."""
    out: list[int] = []
    for part in text.split(","):
        v = positive_int(part.strip())
        if v not in out:
            out.append(v)
    if not out:
        raise argparse.ArgumentTypeError(f"expected a positive integer or a list like 1,8,64, got {text!r}")
    return out


def check_output(path: str | None, flag: str) -> None:
    """Refuse an output path that is an existing non-regular file (a FIFO would block forever, a device
    such as /dev/full fills nothing); ``os.devnull`` is allowed. Raises ConfigError ``flag: path: reason``."""
    if not path:
        return
    import os
    import stat

    from accel.errors import ConfigError

    try:
        st = os.stat(path)
    except OSError:
        return  # does not exist yet (or unreachable: the write reports it)
    if stat.S_ISREG(st.st_mode) or os.path.realpath(path) == os.devnull:
        return
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
    raise ConfigError(flag, path, f"output path is {kind}; give a regular file path")


def _workloads_file(stem: str) -> Any:
    """Module ``workloads/<stem>.py`` loaded from its file, so the ``workloads`` package (which imports torch) is not
    executed; None when the package or the file is missing."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("workloads")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / f"{stem}.py"
    fspec = importlib.util.spec_from_file_location(f"_accel_workloads_{stem}", path) if path.is_file() else None
    if fspec is None or fspec.loader is None:
        return None
    mod = sys.modules.get(fspec.name)
    if mod is None:
        mod = importlib.util.module_from_spec(fspec)
        sys.modules[fspec.name] = mod  # dataclasses look their module up there
        fspec.loader.exec_module(mod)
    return mod


def model_names() -> tuple[list[str], dict[str, str]]:
    """(canonical model names, aliases) of the built-in workloads (``workloads/names.py``), read WITHOUT importing
    torch. Empty when the package or that file is missing."""
    mod = _workloads_file("names")
    return (list(mod.MODEL_NAMES), dict(mod.ALIASES)) if mod is not None else ([], {})


def llm_names() -> list[str]:
    """Named decoder-LLM configs (``workloads/llm_configs.py``), read without importing torch."""
    mod = _workloads_file("llm_configs")
    return list(mod.LLM_CONFIGS) if mod is not None else []


def model_help(prefix: str) -> str:
    """``prefix`` followed by the built-in model names (and aliases) and the decoder LLMs, for ``--model`` help."""
    names, aliases = model_names()
    if not names:
        return prefix
    alias = f" (aliases: {', '.join(f'{a}={c}' for a, c in aliases.items())})" if aliases else ""
    llms = llm_names()
    llm = (f"; decoder LLMs (with --phase prefill|decode): {', '.join(llms)}, or a spec "
           "'llama:layers=..,hidden=..,heads=..[,kv_heads=..,ffn=..,vocab=..]' / 'gpt:...'") if llms else ""
    return f"{prefix}: {', '.join(names)}{alias}{llm}"


def build_parser() -> argparse.ArgumentParser:
    from accel import __version__

    parser = AccelArgumentParser(prog="accel", description="Hardware simulator and DSE for deep learning")
    parser.add_argument("--version", action="version", version=f"accel {__version__}")
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
    if not getattr(args, "func", None):  # bare `accel`: the help on stdout, one error line on stderr
        parser.print_help()
        print("accel: error: a COMMAND is required (listed above; `accel COMMAND --help` for its options)",
              file=sys.stderr)
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
