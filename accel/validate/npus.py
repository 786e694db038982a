"""NPU archs (``archs/npu/``) against the throughputs their vendors published (``data/published/npu_published.csv``,
sources in its header), the one home of that comparison (``benchmarks/bench_npus.py`` and
``experiments/chips_of_the_course.py`` print it).

Each row is simulated as ``accel simulate --arch ARCH`` does: the model extracted at the published batch and mode,
compiled with the device's default (``fused`` for inference, ``eager`` for training), and compared with the
published number:

- ``throughput``: batch / simulated latency (samples/s);
- ``latency_ms``: simulated latency of one batch-1 query (device time; no host or PCIe time).

Error = predicted / published - 1. NPUs with nothing published are listed as such.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from accel.uncertainty import data_dir

PUBLISHED = data_dir() / "published" / "npu_published.csv"
#: NPU archs with no comparable vendor-published throughput -> why (see the CSV header and each YAML's sources)
UNPUBLISHED: dict[str, str] = {
    "apple_ane_m1": "nothing published",
    "journey6": "nothing published (only the 560 TOPS peak)",
    "kirin970_npu": "no comparable result: Huawei's '2,000 images per minute' is an 'unnamed benchmark' (cnx-software.com, "
                    "2017-09-03), no model or batch",
}


@dataclass(frozen=True)
class Row:
    arch: str
    model: str
    mode: str
    batch: int
    batch_stated: bool
    precision: str
    metric: str
    published: float
    unit: str
    source: str
    predicted: float = float("nan")

    @property
    def error(self) -> float:
        return self.predicted / self.published - 1.0


def published_rows(path: Path = PUBLISHED) -> list[Row]:
    """The CSV's rows (``#`` lines skipped)."""
    with path.open() as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    return [Row(r["arch"], r["model"], r["mode"], int(r["batch"]), r["batch_stated"] == "yes", r["precision"],
                r["metric"], float(r["published"]), r["unit"], r["source"]) for r in csv.DictReader(lines)]


def predict(row: Row) -> Row:
    """``row`` with ``predicted`` filled in (samples/s or ms, as ``row.metric``)."""
    from dataclasses import replace

    import workloads
    from accel.sim import resolve_system, simulate

    graph = workloads.extract_model(row.model, batch=row.batch, mode=row.mode, dtype="fp32")
    res = simulate(graph, resolve_system(row.arch))
    value = row.batch / res.latency_s if row.metric == "throughput" else res.latency_s * 1e3
    return replace(row, predicted=float(value))


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3f}"


def table(rows: list[Row]) -> str:
    out = ["| NPU | model, mode | batch | metric | accel | published | error |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        batch = f"{r.batch}" + ("" if r.batch_stated else " (assumed)")
        out.append(f"| {r.arch} | {r.model} {r.mode} ({r.precision}) | {batch} | {r.metric} ({r.unit}) | "
                   f"{_fmt(r.predicted)} | {_fmt(r.published)} | {100 * r.error:+.0f} % |")
    for name, why in UNPUBLISHED.items():
        out.append(f"| {name} | - | - | - | - | {why} | - |")
    return "\n".join(out)


def compare() -> list[Row]:
    """Every published row with accel's prediction."""
    return [predict(r) for r in published_rows()]
