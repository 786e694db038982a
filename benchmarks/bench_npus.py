"""NPU archs (``archs/npu/``) against the throughputs their vendors published: prints the table of
:mod:`accel.validate.npus` (predicted, published, error per row of ``data/published/npu_published.csv``).

    python benchmarks/bench_npus.py
"""

from __future__ import annotations

from accel.validate.npus import compare, table


def main() -> int:
    print(table(compare()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
