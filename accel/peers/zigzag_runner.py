"""Run ZigZag (``pip install zigzag-dse``) on its shipped tpu_like accelerator and read per-layer costs.

ZigZag is imported lazily. We use ZigZag's own inputs shipped inside the package:
``zigzag/inputs/workload/resnet18.onnx``, ``zigzag/inputs/hardware/tpu_like.yaml`` and
``zigzag/inputs/mapping/tpu_like.yaml``.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def zigzag_inputs() -> dict[str, Path]:
    """Paths of ZigZag's shipped resnet18 workload and tpu_like hardware/mapping."""
    import zigzag  # lazy

    root = Path(zigzag.__file__).resolve().parent / "inputs"
    return {"workload": root / "workload" / "resnet18.onnx",
            "accelerator": root / "hardware" / "tpu_like.yaml",
            "mapping": root / "mapping" / "tpu_like.yaml"}


@dataclass
class ZigZagLayerResult:
    """One layer's ZigZag cost (energy in pJ, latency in cycles) and its loop dimensions."""

    name: str
    dims: dict[str, int]
    energy_pj: float
    mac_energy_pj: float
    mem_energy_pj: float
    mem_energy_by_level: dict[str, float] = field(default_factory=dict)
    latency_cycles: float = 0.0
    macs: float = 0.0


def run_zigzag(workload: str | Path | None = None, accelerator: str | Path | None = None,
               mapping: str | Path | None = None, opt: str = "energy", lpf_limit: int = 6,
               quiet: bool = True) -> list[ZigZagLayerResult]:
    """Run ZigZag and return per-layer results (defaults: shipped resnet18 on tpu_like)."""
    from zigzag.api import get_hardware_performance_zigzag  # lazy

    ins = zigzag_inputs()
    workload = str(workload or ins["workload"])
    accelerator = str(accelerator or ins["accelerator"])
    mapping = str(mapping or ins["mapping"])
    out: list[ZigZagLayerResult] = []
    with tempfile.TemporaryDirectory(prefix="accel_zigzag_") as tmp:
        sink = io.StringIO()
        ctx = contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext()
        with ctx:
            result = get_hardware_performance_zigzag(workload, accelerator, mapping, opt=opt,
                                                     dump_folder=tmp, lpf_limit=lpf_limit,
                                                     loma_show_progress_bar=False)
            cmes = result[-1]  # (energy, latency, [tclk, area,] cmes): the cost-model evaluations come last
    for cme, _extra in cmes[0][1]:
        layer = cme.layer
        dims = {str(k): int(v) for k, v in layer.layer_dim_sizes.items()}
        by_level: dict[str, float] = {}
        for operand, per_level in cme.mem_energy_breakdown.items():
            mem_op = cme.layer.memory_operand_links.layer_to_mem_op(operand)
            levels = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op)
            for lvl, e in zip(levels, per_level):
                key = lvl.memory_instance.name
                by_level[key] = by_level.get(key, 0.0) + float(e)
        out.append(ZigZagLayerResult(
            name=str(layer.name), dims=dims, energy_pj=float(cme.energy_total),
            mac_energy_pj=float(cme.mac_energy), mem_energy_pj=float(cme.mem_energy),
            mem_energy_by_level=by_level, latency_cycles=float(cme.latency_total2),
            macs=float(layer.total_mac_count)))
    return out
