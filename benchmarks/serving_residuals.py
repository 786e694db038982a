"""Write ``data/uncertainty/serving_published_residuals.json``: accel serve's log errors on every published serving
quantity it expresses, from the four serving comparisons (``bench_serving.py``, ``bench_trtllm_static.py``,
``bench_mlperf_llm.py``, ``bench_trtllm_inflight.py``; each prints its table as it runs), summarised per metric by
:func:`accel.serve.intervals.serving_residual_table`. ``accel serve`` reads the file for its 80 % intervals.

Run: ``python benchmarks/serving_residuals.py [-o PATH]`` (about ten minutes with a warm graph cache).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the sibling benchmark scripts, imported as modules
BENCHES = ("bench_serving", "bench_trtllm_static", "bench_mlperf_llm", "bench_trtllm_inflight")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from accel.serve.intervals import SERVING_TABLE_PATH, serving_residual_table
    from accel.uncertainty import dump_table

    ap.add_argument("-o", "--output", default=str(SERVING_TABLE_PATH), help="where to write the table")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name in BENCHES:
        print(f"\n=== {name} ===")
        importlib.import_module(name).main([], residuals=rows)
    table = serving_residual_table(rows, "python benchmarks/serving_residuals.py")
    Path(args.output).write_text(dump_table(table), encoding="utf-8")
    print(f"\nresiduals written to {args.output}:")
    for metric, by_regime in table["metrics"].items():
        for regime, s in by_regime.items():
            q, cov = s["all"], s["leave_one_source_out_coverage"]
            check = (f"leave-one-source-out coverage {100 * cov['all']:.0f} % of rows, {100 * cov['source_mean']:.0f} % "
                     "averaged over sources" if cov["all"] == cov["all"] else "one source: no leave-one-source-out check")
            print(f"  {metric:20s} {regime:11s} {q['n']:4d} rows: published = predicted x{math.exp(-q['q_hi']):.2f} .. "
                  f"x{math.exp(-q['q_lo']):.2f} (80 %); {check}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
