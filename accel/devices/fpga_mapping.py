"""Loop-unrolled ("channel_unroll") PE-array mapping for FPGA CNN accelerators, and its design search.

The classic FPGA CNN engine (Zhang et al., *Optimizing FPGA-based Accelerator Design for Deep
Convolutional Neural Networks*, FPGA 2015) unrolls the conv loop nest over ``Tm`` output
channels x ``Tn`` input channels: every cycle each of the ``Tm`` adder trees takes ``Tn``
products, one per PE, so a layer with ``M`` outputs and ``N`` inputs per group takes

    cycles = groups * ceil(M / Tm) * ceil(N / Tn) * (output pixels) * (filter taps R*S)

(pipelined at one tile step per cycle; Zhang et al. Eq. for the computation roof). The
under-use is ``M / (Tm * ceil(M/Tm))`` x ``N / (Tn * ceil(N/Tn))`` per layer: AlexNet's first
conv, with ``N = 3`` input channels, leaves most of a wide ``Tn`` idle. A fully connected layer
is a 1x1 conv over the batch (pixels = batch rows, ``N`` = input features).

:func:`best_channel_unroll` is that paper's cross-layer design-space search, compute side only:
one ``(Tm, Tn)`` for the whole network, the one with the fewest total compute cycles that fits
``max_pes``. Zhang et al. also bound off-chip traffic (their computation-to-communication
ratio), which is why their VC707 design is 64 x 7 and not the compute-only optimum for the
2012 AlexNet within 448 PEs (128 x 3, 4% fewer cycles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from accel.devices.systolic import SystolicLayer

__all__ = ["ChannelDims", "channel_dims", "channel_unroll_cycles", "UnrollChoice", "best_channel_unroll"]


@dataclass(frozen=True)
class ChannelDims:
    """A conv/GEMM in loop-nest terms: ``out_ch`` (M) x ``in_ch`` (N) per group, ``pixels`` (all
    images), ``taps`` (R*S), ``groups``."""

    out_ch: int
    in_ch: int
    pixels: int
    taps: int
    groups: int

    @property
    def macs(self) -> int:
        return self.out_ch * self.in_ch * self.pixels * self.taps * self.groups


def channel_dims(layer: SystolicLayer) -> ChannelDims:
    """Loop-nest dimensions of ``layer``; a GEMM (``SystolicLayer.gemm``) reduces over its K as channels."""
    if layer.R == 1 and layer.C == 1 and layer.Wout == 1:  # SystolicLayer.gemm: reduction dim is S = K
        return ChannelDims(layer.K, layer.window, layer.px, 1, layer.groups)
    return ChannelDims(layer.K, layer.C, layer.px, layer.R * layer.S, layer.groups)


def channel_unroll_cycles(layer: SystolicLayer, tm, tn) -> np.ndarray:
    """Compute cycles of ``layer`` on a ``Tm x Tn`` unrolled array (``tm``/``tn`` scalars or arrays)."""
    d = channel_dims(layer)
    tm = np.asarray(tm, dtype=np.int64)
    tn = np.asarray(tn, dtype=np.int64)
    if np.any(tm < 1) or np.any(tn < 1):
        raise ValueError(f"unroll factors must be >= 1, got Tm={tm}, Tn={tn}")
    return d.groups * (-(-d.out_ch // tm)) * (-(-d.in_ch // tn)) * d.pixels * d.taps


@dataclass(frozen=True)
class UnrollChoice:
    """Result of :func:`best_channel_unroll`: ``tm`` x ``tn`` PEs and the network's compute cycles."""

    tm: int
    tn: int
    cycles: int
    macs: int

    @property
    def pes(self) -> int:
        return self.tm * self.tn

    @property
    def pe_utilization(self) -> float:
        """MACs / (PEs x cycles): the mapping's average PE use over the network."""
        return self.macs / (self.pes * self.cycles)


def best_channel_unroll(layers: Sequence[SystolicLayer], max_pes: int) -> UnrollChoice:
    """The ``(Tm, Tn)`` with ``Tm * Tn <= max_pes`` that minimises the summed compute cycles of ``layers``.

    Ties go to fewer PEs, then to the larger ``Tm``. Exhaustive over all factor pairs (a few
    thousand for ~1500 PEs, vectorised).
    """
    if max_pes < 1:
        raise ValueError(f"max_pes must be >= 1, got {max_pes}")
    if not layers:
        raise ValueError("best_channel_unroll needs at least one layer")
    tm = np.concatenate([np.full(max_pes // m, m) for m in range(1, max_pes + 1)])
    tn = np.concatenate([np.arange(1, max_pes // m + 1) for m in range(1, max_pes + 1)])
    total = np.sum([channel_unroll_cycles(ly, tm, tn) for ly in layers], axis=0)
    order = np.lexsort((-tm, tm * tn, total))
    i = int(order[0])
    return UnrollChoice(int(tm[i]), int(tn[i]), int(total[i]), int(sum(channel_dims(ly).macs for ly in layers)))
