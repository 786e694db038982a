"""Run SCALE-Sim v3 (``pip install scalesim``) on accel layers and read its per-layer reports.

SCALE-Sim is imported lazily, so this module imports without it. Each call writes a config
file, a topology CSV and an empty layout CSV into a work directory, runs SCALE-Sim with
traces disabled, and parses ``COMPUTE_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv``.

Bandwidth modes (SCALE-Sim's ``InterfaceBandwidth``):

- ``CALC``: SCALE-Sim estimates the bandwidth needed for stall-free operation, so its
  ``Total Cycles`` are pure compute cycles.
- ``USER``: DRAM bandwidth is fixed at ``bandwidth`` words/cycle per stream (SCALE-Sim
  takes the ifmap/filter stream bandwidth from the ``[layout]`` bank bandwidth fields and
  the ofmap one from ``Bandwidth``; we set all three to ``bandwidth``) and stalls appear.

Command line (used to produce tests/data/systolic/*.csv)::

    python -m accel.peers.scalesim_runner --topology alexnet --rows 32 --cols 32 \
        --dataflow os --mode USER --bandwidth 10 --out result.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from accel.devices.systolic import SystolicLayer
from accel.peers.topology import write_scalesim_topology


@dataclass
class ScaleSimConfig:
    """SCALE-Sim architecture preset (sizes in KiB of 1-byte words, bandwidth in words/cycle)."""

    rows: int = 32
    cols: int = 32
    dataflow: str = "os"
    ifmap_kb: int = 64
    filter_kb: int = 64
    ofmap_kb: int = 64
    mode: str = "CALC"  # CALC or USER
    bandwidth: int = 10
    run_name: str = "accel_peer"

    def write(self, path: Path, topology: Path, layout: Path) -> Path:
        text = f"""[general]
run_name = {self.run_name}

[architecture_presets]
ArrayHeight:    {self.rows}
ArrayWidth:     {self.cols}
IfmapSramSzkB:   {self.ifmap_kb}
FilterSramSzkB:  {self.filter_kb}
OfmapSramSzkB:   {self.ofmap_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {self.bandwidth}
Dataflow : {self.dataflow}
MemoryBanks:   1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {self.bandwidth}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {self.bandwidth}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {self.mode}
UseRamulatorTrace: False
"""
        path.write_text(text)
        return path


@dataclass
class ScaleSimLayerResult:
    """One row of SCALE-Sim's reports for one layer (cycles; DRAM counts in words)."""

    name: str
    total_cycles_incl_prefetch: float
    total_cycles: float
    stall_cycles: float
    overall_util: float
    mapping_efficiency: float
    compute_util: float
    sram_ifmap_reads: float
    sram_filter_reads: float
    sram_ofmap_writes: float
    dram_ifmap_reads: float
    dram_filter_reads: float
    dram_ofmap_writes: float
    seconds: float = 0.0


def _read_csv_rows(path: Path) -> list[list[str]]:
    rows = []
    with open(path) as f:
        for i, row in enumerate(csv.reader(f)):
            if i == 0:
                continue
            rows.append([c.strip() for c in row if c.strip() != ""])
    return rows


def run_scalesim(layers: list[SystolicLayer], config: ScaleSimConfig, gemm: bool = False,
                 workdir: str | Path | None = None, quiet: bool = True) -> list[ScaleSimLayerResult]:
    """Run SCALE-Sim on ``layers`` with ``config``; one result per layer (batch must be 1)."""
    from scalesim.scale_sim import scalesim  # lazy: optional peer

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="accel_scalesim_")
        workdir = tmp.name
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        topo = write_scalesim_topology(layers, wd / "topology.csv", gemm=gemm)
        layout = wd / "layout.csv"
        layout.write_text("Layer name, ifmap intraline factor,\n")
        cfg = config.write(wd / "scale.cfg", topo, layout)
        t0 = time.perf_counter()
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            s = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                         layout=str(layout), input_type_gemm=gemm)
            s.run_scale(top_path=str(wd / "out"))
        elapsed = time.perf_counter() - t0
        rep = wd / "out" / config.run_name
        comp = _read_csv_rows(rep / "COMPUTE_REPORT.csv")
        det = _read_csv_rows(rep / "DETAILED_ACCESS_REPORT.csv")
        out = []
        for ly, c_row, d_row in zip(layers, comp, det):
            c = [float(x) for x in c_row]
            d = [float(x) for x in d_row]
            out.append(ScaleSimLayerResult(
                name=ly.name, total_cycles_incl_prefetch=c[1], total_cycles=c[2], stall_cycles=c[3],
                overall_util=c[4], mapping_efficiency=c[5], compute_util=c[6],
                sram_ifmap_reads=d[3], sram_filter_reads=d[6], sram_ofmap_writes=d[9],
                dram_ifmap_reads=d[12], dram_filter_reads=d[15], dram_ofmap_writes=d[18],
                seconds=elapsed / max(len(layers), 1)))
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


BUILTIN_TOPOLOGIES = ("alexnet", "resnet18", "gemm")


def builtin_topology(name: str) -> tuple[list[SystolicLayer], bool]:
    """SCALE-Sim's own topologies stored in tests/data/systolic (returns layers, is_gemm)."""
    from accel.peers.topology import read_scalesim_topology

    here = Path(__file__).resolve().parents[2] / "tests" / "data" / "systolic"
    files = {"alexnet": "topo_alexnet.csv", "resnet18": "topo_resnet18.csv", "gemm": "topo_gemm.csv"}
    if name not in files:
        raise ValueError(f"unknown topology {name!r}; allowed: {', '.join(files)}")
    gemm = name == "gemm"
    return read_scalesim_topology(here / files[name], gemm=gemm), gemm


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run SCALE-Sim v3 on a topology, one process per layer")
    ap.add_argument("--topology", required=True, help=f"one of {BUILTIN_TOPOLOGIES} or a CSV path")
    ap.add_argument("--gemm", action="store_true", help="CSV path is an M,N,K topology")
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--cols", type=int, default=32)
    ap.add_argument("--dataflow", default="os", choices=["os", "ws", "is"])
    ap.add_argument("--mode", default="CALC", choices=["CALC", "USER"])
    ap.add_argument("--bandwidth", type=int, default=10)
    ap.add_argument("--sram-kb", type=int, nargs=3, default=[64, 64, 64], metavar=("IFMAP", "FILTER", "OFMAP"))
    ap.add_argument("--layers", default="", help="comma-separated layer names to run (default all)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.topology in BUILTIN_TOPOLOGIES:
        layers, gemm = builtin_topology(args.topology)
    else:
        from accel.peers.topology import read_scalesim_topology
        layers = read_scalesim_topology(args.topology, gemm=args.gemm or None)
        gemm = args.gemm
    if args.layers:
        keep = set(args.layers.split(","))
        layers = [ly for ly in layers if ly.name in keep]
    cfg = ScaleSimConfig(rows=args.rows, cols=args.cols, dataflow=args.dataflow, ifmap_kb=args.sram_kb[0],
                         filter_kb=args.sram_kb[1], ofmap_kb=args.sram_kb[2], mode=args.mode, bandwidth=args.bandwidth)
    rows = []
    for ly in layers:  # one run per layer: per-layer wall time
        r = run_scalesim([ly], cfg, gemm=gemm)[0]
        rows.append({"topology": args.topology, **{k: v for k, v in asdict(cfg).items() if k != "run_name"},
                     **{k: v for k, v in asdict(ly).items()}, **asdict(r)})
        print(f"{ly.name}: total={r.total_cycles:.0f} stall={r.stall_cycles:.0f} ({r.seconds:.1f}s)", flush=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
