"""The per-group error summary the serving benchmarks print: a markdown table of relative errors ``e = sim / meas - 1``."""

from __future__ import annotations

import statistics


def print_error_table(errs: dict[str, list[float]], group: str) -> None:
    """One row per group (``group`` names the first column) and an ``all`` row: rows, median |e|, signed median
    and range of ``e``, in per cent."""
    def row(name: str, e: list[float]) -> str:
        return (f"| {name} | {len(e)} | {100 * statistics.median(abs(x) for x in e):.1f} % | "
                f"{100 * statistics.median(e):+.1f} % | {100 * min(e):+.0f} .. {100 * max(e):+.0f} % |")

    print(f"\n| {group} | rows | median abs. error | signed median | range |\n| --- | --- | --- | --- | --- |")
    for k, e in errs.items():
        print(row(k, e))
    every = [x for e in errs.values() for x in e]
    if every:
        print(row("all", every))
