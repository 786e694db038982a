"""The course's chips in today's terms: ResNet-50 and a Llama decoder block on CPU, GPU, FPGA, TPU v1 and NPUs.

Two parts:

1. The seed table's three rows (AlexNet img/s on Xeon E5-2450, Arria 10 GX1150, Titan X), reproduced with the
   same code path as ``experiments/imagenet_table.py`` (its ``evaluate`` and ``network``, its YAML), so they
   print the same numbers as before.
2. Today's workloads on every device of the course plus every arch under ``archs/npu/`` (found at run time,
   so an NPU YAML added there shows up without editing this script): ResNet-50 (batch 16) and one Llama
   decoder block in prefill (``LLAMA_BLOCK``: Llama-3-8B's layer shapes, 1 layer, 512 tokens, with its
   embedding and LM head), each simulated with ``accel.sim.simulate`` as ``accel simulate --arch NAME`` does
   (the device's default compiler: eager for CPUs/GPUs, fused for systolic/FPGA/DSP). Per row: throughput
   (items/s: images, or 512-token sequences), energy per inference (J per item: dynamic + static, at the
   device level of the arch YAML) and GOPS/J (the graph's FLOPs, as recorded, per joule).

Dtypes: a device that computes in one fixed dtype (systolic, FPGA, DSP: TPU v1 int8, the Kirin NPU fp16,
the Arria 10 fp32) gets the graph extracted in that dtype; GPUs run fp16; CPUs fp32. A device that cannot
run a workload gets a row saying why, not a crash. Graphs come from the graph cache (``ACCEL_CACHE_DIR``).

    python experiments/chips_of_the_course.py [--out plots/chips_of_the_course] [--no-plot] [--archs a,b,...]
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import imagenet_table  # noqa: E402  (the seed table's code path, reused)

from accel.arch import list_archs, load_arch  # noqa: E402
from accel.errors import AccelError  # noqa: E402

#: Llama-3-8B's decoder layer shapes (hidden 4096, 32 query / 8 KV heads, FFN 14336), one layer
LLAMA_BLOCK = "llama:layers=1,hidden=4096,heads=32,kv_heads=8,ffn=14336,vocab=32000"

#: workload name -> extraction options and the unit of one item
WORKLOADS: dict[str, dict[str, Any]] = {
    "resnet50": {"model": "resnet50", "batch": 16, "seq_len": None, "phase": None, "unit": "img"},
    "llama_block": {"model": LLAMA_BLOCK, "batch": 1, "seq_len": 512, "phase": "prefill", "unit": "seq"},
}

#: the course's devices (the seed table's three, today's GPUs, TPU v1, a RISC-V CPU); NPUs are added from archs/npu/
COURSE_ARCHS = ["xeon_e5_2450", "xuantie910", "titanx_maxwell", "v100", "a100", "h100", "arria10_gx1150", "tpu_v1"]

#: a row is marked host-bound when the device idles more than this fraction of the latency for host launches
HOST_BOUND = 0.5

#: dtypes a graph can be extracted in (``workloads.extract_model``)
EXTRACTABLE = ("fp32", "fp16", "bf16", "int8", "fp8")


def npu_archs() -> list[str]:
    """Names of every bundled arch in an ``npu`` folder (``archs/npu/*.yaml``), sorted."""
    return sorted(name for name, path in list_archs().items() if path.parent.name == "npu")


def course_archs() -> list[str]:
    """:data:`COURSE_ARCHS` followed by every NPU arch."""
    return COURSE_ARCHS + [a for a in npu_archs() if a not in COURSE_ARCHS]


def device_dtype(spec: Any) -> str:
    """The dtype a device runs the workloads in: its fixed dtype, fp16 on GPUs that have it, else fp32."""
    fixed = spec.fixed_dtype
    if isinstance(fixed, str):
        return fixed if fixed in EXTRACTABLE else "fp32"
    table = spec.dtype_table or {}
    return "fp16" if spec.kind == "gpu" and "fp16" in table else "fp32"


@dataclass
class ChipRow:
    """One (device, workload) result; ``note`` says why the numbers are missing, or what to bear in mind."""

    arch: str
    name: str
    kind: str
    workload: str
    batch: int
    dtype: str
    unit: str
    items_s: float = math.nan
    energy_j: float = math.nan  # per item (inference)
    gops_j: float = math.nan
    note: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.items_s)


class _Graphs:
    """Extracted graphs by (workload, dtype), through the on-disk graph cache."""

    def __init__(self) -> None:
        self._g: dict[tuple[str, str], Any] = {}

    def get(self, wl: str, dtype: str):
        key = (wl, dtype)
        if key not in self._g:
            from accel.graph_cache import cached_extract

            w = WORKLOADS[wl]
            self._g[key] = cached_extract(w["model"], batch=w["batch"], mode="infer", dtype=dtype, seq_len=w["seq_len"],
                                          optimizer=None, amp=None, phase=w["phase"])
        return self._g[key]


def run_one(arch: str, wl: str, graphs: _Graphs) -> ChipRow:
    """Simulate workload ``wl`` on ``arch`` (one inference batch); a row with a note if it cannot run."""
    from accel.sim import resolve_system, simulate

    spec = load_arch(arch)
    w = WORKLOADS[wl]
    dtype = device_dtype(spec)
    row = ChipRow(arch, spec.name, spec.kind, wl, int(w["batch"]), dtype, w["unit"])
    try:
        graph = graphs.get(wl, dtype)
        res = simulate(graph, resolve_system(arch), memory_check="off")
    except (AccelError, ValueError, KeyError, NotImplementedError) as exc:
        row.note = f"cannot run: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        return row
    row.items_s = row.batch / res.latency_s
    row.energy_j = res.energy_j / row.batch
    row.gops_j = graph.total_flops / res.energy_j / 1e9
    notes = []
    if res.run.memory_fits is False:
        notes.append("does not fit in device memory (estimate); costed as if it did")
    if res.host_wait_fraction > HOST_BOUND:
        notes.append(f"host-bound: the device idles {res.host_wait_fraction:.0%} waiting for eager launches")
    row.note = "; ".join(notes)
    return row


def seed_rows(config: Path | None = None) -> list[Any]:
    """The seed table's rows, computed exactly as ``experiments/imagenet_table.py`` does (its evaluate/network)."""
    cfg = yaml.safe_load((config or HERE / "imagenet_table.yaml").read_text())
    rows = []
    for d in cfg["devices"]:
        b = int(d.get("batch", 1))
        r = imagenet_table.evaluate(d["arch"], imagenet_table.network(cfg["network"], b), b, d["label"])
        r.seed_img_s = float(d["seed"]["img_per_s"])  # type: ignore[attr-defined]
        rows.append(r)
    return rows


def _fmt(v: float, width: int) -> str:
    """``v`` in ``width`` columns: one decimal from 10 up, 3 significant digits below; ``-`` if missing."""
    if not math.isfinite(v):
        return "-".rjust(width)
    return (f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}").rjust(width)


def print_tables(seed: list[Any], rows: list[ChipRow]) -> None:
    print("Seed table (AlexNet, experiments/imagenet_table.py's code path, unchanged)")
    print(f"{'device':16s} {'batch':>5s} | {'img/s ours':>10s} {'seed':>7s} {'ratio':>6s}")
    for r in seed:
        print(f"{r.label:16s} {r.batch:5d} | {r.img_s:10.1f} {r.seed_img_s:7.0f} {r.img_s / r.seed_img_s:6.2f}")
    print(f"\nToday's workloads: resnet50 (batch {WORKLOADS['resnet50']['batch']}), llama_block = one Llama-3-8B-shaped"
          f" decoder layer, prefill of {WORKLOADS['llama_block']['seq_len']} tokens (item = one sequence)")
    hdr = (f"{'arch':16s} {'kind':8s} {'workload':11s} {'batch':>5s} {'dtype':5s} | {'items/s':>10s} "
           f"{'J/inference':>11s} {'GOPS/J':>8s}  note")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r.arch:16s} {r.kind:8s} {r.workload:11s} {r.batch:5d} {r.dtype:5s} | {_fmt(r.items_s, 10)} "
              f"{_fmt(r.energy_j, 11)} {_fmt(r.gops_j, 8)}  {r.note}")


def figure(rows: list[ChipRow]):
    """Energy efficiency (GOPS/J) against throughput (items/s), one panel per workload, log-log."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from accel.plot.style import COLORS, apply_style, log_ticks

    ok = [r for r in rows if r.ok]
    wls = [w for w in WORKLOADS if any(r.workload == w for r in ok)]
    fig = make_subplots(rows=1, cols=max(len(wls), 1), subplot_titles=[
        f"{w} ({WORKLOADS[w]['unit']}/s, batch {WORKLOADS[w]['batch']})" for w in wls])
    kinds = sorted({r.kind for r in ok})
    apply_style(fig, "Chips of the course: throughput and energy efficiency (modelled)", "", "", legend_title="kind")
    for col, w in enumerate(wls, start=1):
        sub = [r for r in ok if r.workload == w]
        for i, kind in enumerate(kinds):
            pts = [r for r in sub if r.kind == kind]
            if not pts:
                continue
            fig.add_trace(go.Scatter(x=[r.items_s for r in pts], y=[r.gops_j for r in pts], mode="markers+text",
                                     text=[f"{r.arch} ({r.dtype})" for r in pts], textposition="top center",
                                     marker=dict(size=12, color=COLORS[i % len(COLORS)]), name=kind,
                                     legendgroup=kind, showlegend=col == 1,
                                     hovertemplate="%{text}<br>%{x:.4g} items/s<br>%{y:.4g} GOPS/J<extra></extra>"),
                          row=1, col=col)
        xs, ys = [r.items_s for r in sub], [r.gops_j for r in sub]
        tx, lx = log_ticks(min(xs), max(xs), "/s")
        ty, ly = log_ticks(min(ys), max(ys), "")
        pad = 0.35  # decades of room for the labels
        fig.update_xaxes(type="log", tickmode="array", tickvals=tx, ticktext=lx, title_text=f"{WORKLOADS[w]['unit']}/s",
                         range=[math.log10(min(xs)) - pad, math.log10(max(xs)) + pad], row=1, col=col)
        fig.update_yaxes(type="log", tickmode="array", tickvals=ty, ticktext=ly, title_text="GOPS/J",
                         range=[math.log10(min(ys)) - pad / 2, math.log10(max(ys)) + pad / 2], row=1, col=col)
    fig.update_layout(width=1400, height=650)
    return fig


def save_plot(rows: list[ChipRow], out: str) -> list[Path]:
    """HTML always; PNG when a browser for kaleido is available (a one-line note otherwise)."""
    from accel.plot import ExportError, png_available, save_figure

    fig = figure(rows)
    written = save_figure(fig, out, html=True, png=False)
    if png_available():
        try:
            written += save_figure(fig, out, html=False, png=True)
        except ExportError as exc:
            print(f"PNG not written: {exc}")
    else:
        print("PNG not written: no Chromium/Chrome for kaleido (set BROWSER_PATH); the HTML was written")
    for p in written:
        print(f"wrote {p}")
    return written


def main(argv: list[str] | None = None) -> dict[str, list[Any]]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "plots" / "chips_of_the_course"), help="plot path without suffix")
    ap.add_argument("--no-plot", action="store_true", help="print the tables only")
    ap.add_argument("--archs", default=None, help="comma-separated subset of arch names (default: the course + archs/npu/)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated subset of {', '.join(WORKLOADS)}")
    ap.add_argument("--no-published", action="store_true", help="skip the NPU vendor comparisons (accel.validate.npus)")
    args = ap.parse_args(argv)
    archs = [a.strip() for a in args.archs.split(",") if a.strip()] if args.archs else course_archs()
    wls = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in wls if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload {bad[0]!r}; allowed: {', '.join(WORKLOADS)}")
    seed = seed_rows()
    graphs = _Graphs()
    rows = [run_one(a, w, graphs) for w in wls for a in archs]
    print_tables(seed, rows)
    published: list[Any] = []
    if not args.no_published:
        from accel.validate.npus import compare, table

        published = compare()
        print("\nNPUs against what their vendors published (data/published/npu_published.csv; error = accel / published - 1)")
        print(table(published))
    if not args.no_plot and any(r.ok for r in rows):
        save_plot(rows, args.out)
    return {"seed": seed, "rows": rows, "published": published}


if __name__ == "__main__":
    main()
