"""SCALE-Sim topology CSVs <-> accel systolic layers.

SCALE-Sim conv topology rows read
``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,``
and GEMM ("mnk") rows read ``Layer, M, N, K,``. SCALE-Sim applies no padding: the ifmap
given is the (already padded) input and ``Hout = ceil((H - R + stride) / stride)``.
"""

from __future__ import annotations

from pathlib import Path

from accel.devices.systolic import SystolicLayer
from accel.errors import ConfigError


def read_scalesim_topology(path: str | Path, gemm: bool | None = None) -> list[SystolicLayer]:
    """Read a SCALE-Sim topology CSV (conv, or GEMM when ``gemm`` or the header says M, N, K)."""
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ConfigError(str(path), None, "empty topology file")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if gemm is None:
        gemm = len(header) >= 4 and header[1:4] == ["m", "n", "k"]
    layers: list[SystolicLayer] = []
    for lineno, row in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in row.split(",")]
        cells = [c for c in cells if c != ""]
        try:
            if gemm:
                name, m, n, k = cells[0], *map(int, cells[1:4])
                layers.append(SystolicLayer.gemm(name, m, n, k))
            else:
                name = cells[0]
                h, w, r, s, c, k, st = map(int, cells[1:8])
                layers.append(SystolicLayer.scalesim_conv(name, h, w, r, s, c, k, st))
        except (ValueError, IndexError) as exc:
            raise ConfigError(str(path), f"line {lineno}", f"cannot parse topology row {row!r}: {exc}") from None
    return layers


def write_scalesim_topology(layers: list[SystolicLayer], path: str | Path, gemm: bool = False) -> Path:
    """Write layers as a SCALE-Sim topology CSV (conv format unless ``gemm``)."""
    path = Path(path)
    if gemm:
        out = ["Layer, M, N, K,"]
        for ly in layers:
            m, n, k = ly.gemm_mnk()
            out.append(f"{ly.name},{m},{n},{k},")
    else:
        out = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
        for ly in layers:
            if ly.batch != 1:
                raise ValueError(f"layer {ly.name}: SCALE-Sim conv topologies have batch 1, got {ly.batch}")
            out.append(f"{ly.name},{ly.H},{ly.W},{ly.R},{ly.S},{ly.C},{ly.K},{ly.stride},")
    path.write_text("\n".join(out) + "\n")
    return path
