"""Analytical cost model of a TPU-style systolic array, consistent with SCALE-Sim v3.

The package: this module (mapping, cycles and the cost model); :mod:`.scalesim_replay` and
:mod:`.scalesim_ofmap`, the SCALE-Sim-compatible DRAM replay mode (``dram_traffic: scalesim``: its
ring/window prefetcher and ofmap drains) — a mode of the device, not a peer runner
(:mod:`accel.peers` keeps only the runners of the peer tools).

Closed form per layer (no cycle-by-cycle simulation):

1. **Mapping.** A conv/GEMM becomes an operand-matrix product with ``px`` output pixels
   (``Hout*Wout*batch``, or GEMM ``M``), ``window = R*S*C`` (GEMM ``K``) and ``K`` filters
   (GEMM ``N``). The dataflow picks the spatial (``Sr`` rows, ``Sc`` cols) and temporal
   (``T``) dimensions, as in SCALE-Sim's ``calc_spatio_temporal_params``::

       os: Sr=px,     Sc=K,  T=window
       ws: Sr=window, Sc=K,  T=px
       is: Sr=window, Sc=px, T=K

2. **Compute cycles.** ``folds = ceil(Sr/rows) * ceil(Sc/cols)``; each fold streams ``T``
   operand rows plus pipeline fill/drain, exactly the demand-matrix length SCALE-Sim builds::

       os: cycles/fold = T + rows + cols - 2
       ws, is: cycles/fold = T + 2*rows + cols - 2   (extra ``rows`` to preload the stationary operand)

3. **Memory.** Each read operand (ifmap, filter) streams through the active half of its
   double-buffered scratchpad in fold order. An operand that fits the active half is read from
   DRAM once (before compute starts, SCALE-Sim's prefetch phase); otherwise it is re-streamed
   once per outer-loop pass, and a fold block re-used by consecutive folds is re-fetched only
   if it does not fit. The ifmap moves raw pixels (not im2col copies). Double buffering
   overlaps DRAM with compute, but nothing is free: every DRAM word of the layer (the initial
   fill of each scratchpad and the final ofmap drain included) crosses its stream at
   ``bandwidth`` words/cycle, so ``total = max(compute, max_X dram_X / bw_X)`` (per-stream
   ports) or ``max(compute, sum_X dram_X / bw)`` (``dram_bandwidth_shared``): a layer never
   runs faster than its DRAM bytes allow.

   Compared with SCALE-Sim v3 this matches compute cycles exactly, but not its USER-mode
   stall cycles: SCALE-Sim's prefetcher slides a window round a ring of operand addresses and
   re-streams the whole ring whenever a demanded address lies behind the window (which its
   diagonal prefetch order makes happen at fold boundaries), so it reports several times more
   DRAM traffic and stalls than this model (see benchmarks/bench_scalesim.py). The stall
   formula (:func:`stall_cycles_from_traffic`), fed SCALE-Sim's own DRAM fetch counts after its
   prefetch phase (SCALE-Sim does not count the initial fill), reproduces its USER-mode total cycles
   (median error < 1%, 175 of 201 layers within 5%).

4. **SCALE-Sim-compatible traffic (optional).** ``dram_traffic="scalesim"`` (or
   ``SystolicSpec.dram_traffic: scalesim``) replaces step 3's read traffic by SCALE-Sim's own
   ring/window prefetcher, computed per fold by :mod:`accel.devices.systolic.scalesim_replay` (on the
   stored reference: every ifmap and filter DRAM count exact and total cycles within 0.10%
   on all 201 stored USER-mode runs; pass
   ``conv_geometry`` / use :func:`layer_cycles` for convs).
   Each window slide fetches ``ceil(P/bw)*bw`` words and occupies the stream ``ceil(P/bw)+1``
   cycles; stalls replay SCALE-Sim's own accounting
   (:func:`accel.devices.systolic.scalesim_replay.scalesim_stall_cycles`) at each read miss (fetches
   queue back to back, late ones stall the array) and at each event of its ofmap write buffer
   (:mod:`accel.devices.systolic.scalesim_ofmap`: every partial-sum fold is written; drains start when
   half full, the array waits when it is full), each line stalling by the largest of the
   three waits as SCALE-Sim does. Use it to compare with SCALE-Sim, not as a hardware
   prediction (the re-fetches are simulator artefacts).

SCALE-Sim reports ``Total Cycles`` = compute cycles + stall cycles - 1 (its cycle counter
starts at 0); :class:`SystolicLayerResult` gives ``compute_cycles``, ``stall_cycles`` and
``total_cycles = compute + stall``.

Use :func:`layer_cycles` for one layer, :func:`layers_cycles_np` for many layers or design
points at once (numpy, vectorised over layers and over array shapes), and
:class:`SystolicCostModel` for the simulator's ``cost(op)`` interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from accel.arch.systolic import SystolicSpec
from accel.compile import fused as fz
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.roofs import Roofs, ghz
from accel.devices.gpu import streamed_bytes
from accel.energy import op_energy
from accel.graph import ConvShape, GemmShape, OpNode, TensorInfo
from accel.devices.systolic.scalesim_ofmap import scalesim_ofmap_writes
from accel.devices.systolic.scalesim_replay import ConvGeometry, scalesim_operand_traffic, scalesim_stall_cycles

DATAFLOWS = ("os", "ws", "is")
DRAM_TRAFFIC_MODES = ("ideal", "scalesim")


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SystolicLayer:
    """One conv or GEMM as a systolic array sees it (element counts, no bytes).

    Attributes:
        name: layer name.
        H, W: input height/width as stored (SCALE-Sim: the padded input).
        R, S: filter height/width.
        C: input channels per group; K: filters (output channels) per group.
        stride: stride (same in both dims).
        Hout, Wout: output height/width.
        batch: images (each adds Hout*Wout output pixels).
        groups: independent convolutions run one after the other (depthwise: groups = C_total).
    """

    name: str
    H: int
    W: int
    R: int
    S: int
    C: int
    K: int
    stride: int
    Hout: int
    Wout: int
    batch: int = 1
    groups: int = 1

    # constructors -------------------------------------------------------------------
    @classmethod
    def scalesim_conv(cls, name: str, H: int, W: int, R: int, S: int, C: int, K: int, stride: int,
                      batch: int = 1) -> "SystolicLayer":
        """A conv with SCALE-Sim's output size convention: no padding, ``Hout = ceil((H-R+s)/s)``."""
        if R > H or S > W:
            raise ValueError(f"layer {name}: filter {R}x{S} larger than input {H}x{W}")
        hout = math.ceil((H - R + stride) / stride)
        wout = math.ceil((W - S + stride) / stride)
        return cls(name, H, W, R, S, C, K, stride, hout, wout, batch)

    @classmethod
    def gemm(cls, name: str, M: int, N: int, K: int, batch: int = 1) -> "SystolicLayer":
        """``C[M,N] = A[M,K] @ B[K,N]``, mapped as SCALE-Sim maps its M,N,K topologies."""
        return cls(name, H=M, W=K, R=1, S=K, C=1, K=N, stride=1, Hout=M, Wout=1, batch=batch)

    @classmethod
    def from_op(cls, op: OpNode, convention: str = "op") -> "SystolicLayer":
        """Build from a ``conv``/``matmul`` OpNode (attrs as in :data:`accel.graph.OP_KINDS`).

        ``convention="scalesim"`` recomputes conv output size on the unpadded input.
        """
        if op.kind == "matmul":
            g = GemmShape.of(op)
            return cls.gemm(op.name, g.M, g.N, g.K, batch=g.batch)
        if op.kind in ("conv", "conv_transpose"):
            c = ConvShape.of(op)
            if op.kind == "conv_transpose":
                # scatter form: every input pixel meets every filter tap (MACs = N*H*W*R*S*Cin*Cout/groups)
                return cls(op.name, c.H, c.W, c.R, c.S, c.cin_g, c.cout_g, 1, c.H, c.W, batch=c.N, groups=c.groups)
            if convention == "scalesim":
                lay = cls.scalesim_conv(op.name, c.H, c.W, c.R, c.S, c.cin_g, c.cout_g, c.stride, batch=c.N)
                return cls(**{**lay.__dict__, "groups": c.groups})
            return cls(op.name, c.H + 2 * c.pad, c.W + 2 * c.pad, c.R, c.S, c.cin_g, c.cout_g, c.stride,
                       c.Hout, c.Wout, batch=c.N, groups=c.groups)
        raise ValueError(f"op {op.name!r}: kind {op.kind!r} is not a conv/matmul")

    @classmethod
    def from_op_all(cls, op: OpNode, convention: str = "op") -> list["SystolicLayer"]:
        """The array layers one op runs: :meth:`from_op`, except ``convolution_backward`` (conv with
        ``attrs["output_mask"]``), which runs grad-input (a conv from Cout back to Cin channels with
        the forward's MACs) and grad-weight (GEMM ``[Cout/g x N*Hout*Wout] @ [N*Hout*Wout x Cin/g*R*S]``
        per group), each if its mask entry is set."""
        fwd = cls.from_op(op, convention)
        if op.kind != "conv":
            return [fwd]
        c = ConvShape.of(op)
        if c.output_mask is None or c.transposed:
            return [fwd]
        mask = c.output_mask[:2]
        out: list[SystolicLayer] = []
        if mask[0]:
            out.append(cls(op.name + "/dgrad", fwd.Hout + fwd.R - 1, fwd.Wout + fwd.S - 1, fwd.R, fwd.S, fwd.K, fwd.C, 1,
                           fwd.Hout, fwd.Wout, batch=fwd.batch, groups=fwd.groups))
        if mask[1]:
            w = cls.gemm(op.name + "/wgrad", fwd.K, fwd.R * fwd.S * fwd.C, fwd.px)
            out.append(cls(**{**w.__dict__, "groups": fwd.groups}))
        return out or [fwd]

    # derived ------------------------------------------------------------------------
    @property
    def px(self) -> int:
        """Output pixels per filter (all images)."""
        return self.Hout * self.Wout * self.batch

    @property
    def window(self) -> int:
        """MACs per output element: R*S*C."""
        return self.R * self.S * self.C

    @property
    def macs(self) -> int:
        return self.px * self.window * self.K * self.groups

    def conv_geometry(self) -> tuple[int, ...] | None:
        """(H, W, R, S, C, stride, Hout, Wout) for SCALE-Sim's ifmap ring; None for a GEMM (R == 1, C == 1)."""
        if self.R == 1 and self.C == 1 and self.Wout == 1:
            return None
        if self.batch != 1:
            return None  # SCALE-Sim topologies have batch 1; batched convs are treated as edge-free
        return (self.H, self.W, self.R, self.S, self.C, self.stride, self.Hout, self.Wout)

    def gemm_mnk(self) -> tuple[int, int, int]:
        """(M, N, K) of the equivalent GEMM: (px, filters, window)."""
        return self.px, self.K, self.window

    def spatio_temporal(self, dataflow: str) -> tuple[int, int, int]:
        """(Sr, Sc, T) for ``dataflow`` (SCALE-Sim's mapping)."""
        if dataflow == "os":
            return self.px, self.K, self.window
        if dataflow == "ws":
            return self.window, self.K, self.px
        if dataflow == "is":
            return self.window, self.px, self.K
        raise ValueError(f"unknown dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}")


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------
@dataclass
class SystolicLayerResult:
    """Per-layer result (cycles are array clock cycles, words are operand elements).

    Attributes:
        compute_cycles: cycles with ideal memory (SCALE-Sim's demand-matrix length).
        stall_cycles: extra cycles waiting for DRAM.
        total_cycles: compute + stall.
        folds, row_folds, col_folds: tiles of the operand matrices on the array.
        mapping_efficiency: mean fraction of PEs mapped per fold.
        utilization: MACs / (rows*cols*total_cycles).
        sram_reads / sram_writes: words read from / written to the scratchpads by the array,
            per operand ({"ifmap":..,"filter":..} / {"ofmap":..}).
        dram_reads / dram_writes: words moved between DRAM and scratchpads per operand.
        macs: useful MACs.
        On ``cores`` > 1 (:func:`layer_cycles`) the cycles and fold shape are one core's (the
        slowest, the largest slice), the words and ``folds`` all cores' together, ``utilization``
        over every core's PEs.
    """

    name: str
    compute_cycles: float
    stall_cycles: float
    total_cycles: float
    folds: int
    row_folds: int
    col_folds: int
    mapping_efficiency: float
    utilization: float
    macs: float
    sram_reads: dict[str, float] = field(default_factory=dict)
    sram_writes: dict[str, float] = field(default_factory=dict)
    dram_reads: dict[str, float] = field(default_factory=dict)
    dram_writes: dict[str, float] = field(default_factory=dict)
    #: how the op was split over ``SystolicSpec.cores`` ("" on one core): "pixels", "filters" or "groups"
    core_split: str = ""


# --------------------------------------------------------------------------------------
# vectorised core
# --------------------------------------------------------------------------------------
def _ceil_div(a, b):
    return -(-a // b)


def _ring_travel(unique, block, n_blocks, inner, outer, active):
    """Words the prefetch window travels through one read operand (vectorised).

    The operand is a ring of ``unique`` words in fold order with a window of ``active`` words
    (SCALE-Sim's double buffer). Folds read ``block`` words each; each of the ``n_blocks``
    blocks is read by ``inner`` consecutive folds, and the whole operand is swept ``outer``
    times. Reading forward moves the window by what is read; a block re-read by the next
    fold stays in the window if it fits, else it is fetched again (``block`` words).
    (SCALE-Sim instead slides its window round the whole ring, and also whenever fold
    boundaries interleave in its diagonal prefetch order; we do not reproduce that.)
    """
    reread = np.where(block <= active, 0, n_blocks * (inner - 1) * block)
    return (outer * (unique + reread)).astype(float)


def stall_cycles_from_traffic(compute_cycles, late_words: dict, bandwidth_words: dict):
    """Stall cycles of a double-buffered array (vectorised).

    Each DRAM stream ``X`` must deliver ``late_words[X]`` words after compute starts at
    ``bandwidth_words[X]`` words/cycle; prefetching overlaps that with compute, so the array
    stalls by ``max(0, max_X late_X / bw_X - compute)`` (it waits for the slowest stream).
    """
    dram = 0.0
    for key, late in late_words.items():
        bw = bandwidth_words.get(key)
        if bw is not None:
            dram = np.maximum(dram, np.asarray(late, dtype=float) / np.asarray(bw, dtype=float))
    return np.maximum(dram - np.asarray(compute_cycles, dtype=float), 0.0), dram


def layers_cycles_np(px, window, K, rows, cols, dataflow: str, *, ifmap_words=None,
                     ifmap_sram=None, filter_sram=None, ofmap_sram=None,
                     bw_ifmap=None, bw_filter=None, bw_ofmap=None, active_fraction=0.5,
                     groups=1, dram_traffic: str = "ideal", conv_geometry=None) -> dict[str, np.ndarray]:
    """Vectorised systolic model over any broadcastable arrays of layers and design points.

    Args:
        px, window, K: per-layer output pixels, R*S*C, filters (arrays, broadcastable).
        rows, cols: array shape (scalars or arrays, broadcastable with the layers).
        dataflow: "os", "ws" or "is".
        ifmap_words: unique input words per layer (H*W*C*batch); defaults to px*window.
        ifmap_sram, filter_sram, ofmap_sram: scratchpad sizes in words (None: infinite, no stalls).
        bw_ifmap, bw_filter, bw_ofmap: DRAM words/cycle per stream (None: infinite).
        active_fraction: active share of each double buffer.
        groups: independent convolutions per layer, run back to back.
        dram_traffic: "ideal" (each operand streamed once per pass, see module docstring) or
            "scalesim" (SCALE-Sim v3's prefetcher re-fetches, step 4; needs ifmap_sram,
            filter_sram, bw_ifmap and bw_filter, with integer bandwidths; loops over elements).
        conv_geometry: only for "scalesim": (H, W, R, S, C, stride, Hout, Wout) per layer
            (broadcastable arrays), so ifmap taps past the input edge (SCALE-Sim's -1 entries) are
            left out of the ifmap ring; None treats every layer as a GEMM / edge-free conv.

    Returns a dict of arrays: compute_cycles, stall_cycles, total_cycles, dram_cycles, folds,
    sram_* and dram_* word counts, late_* (DRAM words that must arrive after compute starts), macs.
    """
    if dram_traffic not in DRAM_TRAFFIC_MODES:
        raise ValueError(f"dram_traffic {dram_traffic!r}; allowed: {', '.join(DRAM_TRAFFIC_MODES)}")
    px, window, K = (np.asarray(x, dtype=np.int64) for x in (px, window, K))
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    if dataflow == "os":
        Sr, Sc, T = px, K, window
    elif dataflow == "ws":
        Sr, Sc, T = window, K, px
    elif dataflow == "is":
        Sr, Sc, T = window, px, K
    else:
        raise ValueError(f"unknown dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}")
    rf = _ceil_div(Sr, rows)
    cf = _ceil_div(Sc, cols)
    folds = rf * cf
    per_fold = T + rows + cols - 2 if dataflow == "os" else T + 2 * rows + cols - 2
    compute = (folds * per_fold * groups).astype(float)
    macs = (px * window * K * groups).astype(float)

    # scratchpad traffic seen by the array (words), as SCALE-Sim counts its SRAM reads/writes
    if dataflow == "os":
        sram_if, sram_f, sram_o = cf * T * Sr, rf * T * Sc, Sr * Sc
    elif dataflow == "ws":
        sram_if, sram_f, sram_o = cf * T * Sr, Sr * Sc, rf * T * Sc
    else:
        sram_if, sram_f, sram_o = Sr * Sc, cf * T * Sr, rf * T * Sc

    # DRAM traffic per read operand: (unique words, block words, distinct blocks, inner reuse, outer passes)
    if dataflow == "os":
        # ifmap blocks = row folds (T x rows), swept once per column fold; filter blocks = col folds reused by all row folds
        if_spec = (Sr * T, rows * T, rf, 1, cf)
        f_spec = (Sc * T, cols * T, cf, rf, 1)
    elif dataflow == "ws":
        # stationary filter tiles used once each; ifmap row-fold blocks swept once per column fold
        if_spec = (Sr * T, rows * T, rf, 1, cf)
        f_spec = (window * K, rows * cols, folds, 1, 1)
    else:
        # stationary ifmap tiles used once each; filter row-fold blocks swept once per column fold
        if_spec = (window * px, rows * cols, folds, 1, 1)
        f_spec = (Sr * T, rows * T, rf, 1, cf)

    out = {"compute_cycles": compute, "folds": (folds * groups), "row_folds": rf, "col_folds": cf,
           "macs": macs, "sram_ifmap": (sram_if * groups).astype(float),
           "sram_filter": (sram_f * groups).astype(float), "sram_ofmap": (sram_o * groups).astype(float)}
    dram = {}
    for key, spec, sram, bw in (("ifmap", if_spec, ifmap_sram, bw_ifmap), ("filter", f_spec, filter_sram, bw_filter)):
        unique, block, nb, inner, outer = (np.asarray(x, dtype=np.int64) for x in spec)
        if sram is None:  # infinite scratchpad: compulsory traffic, all prefetched
            u = unique.astype(float)
            if key == "ifmap" and ifmap_words is not None:
                u = np.minimum(np.asarray(ifmap_words, dtype=float), u)
            dram[key] = u * groups
            out[f"late_{key}"] = np.zeros_like(u)
            continue
        total = np.asarray(sram, dtype=float)
        active = np.ceil(total * active_fraction)
        travel = _ring_travel(unique, block, nb, inner, outer, active)
        if key == "ifmap" and ifmap_words is not None:
            # im2col repeats input pixels ~R*S/stride^2 times; the scratchpad and DRAM hold raw pixels
            travel = travel * np.minimum(np.asarray(ifmap_words, dtype=float) / np.maximum(unique, 1), 1.0)
            unique_dram = np.minimum(np.asarray(ifmap_words, dtype=float), unique)
        else:
            unique_dram = unique.astype(float)
        fits = unique_dram <= active
        words = np.where(fits, unique_dram, travel)
        dram[key] = words * groups
        # the first active-buffer fill happens before compute starts (prefetch phase)
        late = np.where(fits, 0.0, np.maximum(travel - np.minimum(active, unique_dram), 0.0)) * groups
        out[f"late_{key}"] = late
    if dram_traffic == "scalesim":
        _scalesim_reads(out, dram, px, window, K, rows, cols, dataflow, ifmap_sram, filter_sram,
                        bw_ifmap, bw_filter, active_fraction, groups, conv_geometry, ofmap_sram, bw_ofmap)
    ofmap_words = (px * K * groups).astype(float)
    dram["ofmap"] = ofmap_words
    # outputs drain while the array runs; what the ofmap scratchpad holds at the end drains after
    held = 0.0 if ofmap_sram is None else np.asarray(ofmap_sram, dtype=float)
    out["late_ofmap"] = np.maximum(ofmap_words - held, 0.0)
    stalls, dram_time = stall_cycles_from_traffic(
        compute, {k: out[f"late_{k}"] for k in ("ifmap", "filter", "ofmap")},
        {"ifmap": bw_ifmap, "filter": bw_filter, "ofmap": bw_ofmap})
    if dram_traffic == "ideal":
        # DRAM floor: every word the layer moves crosses its stream, initial fill and final drain
        # included, so the layer takes at least max_X dram_X / bw_X cycles (no free prefetch)
        stalls, dram_time = stall_cycles_from_traffic(
            compute, dram, {"ifmap": bw_ifmap, "filter": bw_filter, "ofmap": bw_ofmap})
    if dram_traffic == "scalesim":  # SCALE-Sim's own stall accounting, replayed at its misses
        # read misses and ofmap write buffer replayed together (scalesim_stall_cycles); no ofmap
        # scratchpad or bandwidth given: reads only
        stalls = out["scalesim_stall"]
        dram["ofmap"] = out["sram_ofmap"]  # SCALE-Sim writes every partial-sum fold to DRAM
    stalls = stalls + np.zeros(np.broadcast(compute, rows).shape)
    dram_time = dram_time + np.zeros(np.broadcast(compute, rows).shape)
    out.update({"dram_ifmap": dram["ifmap"], "dram_filter": dram["filter"], "dram_ofmap": dram["ofmap"],
                "dram_cycles": dram_time, "stall_cycles": stalls, "total_cycles": compute + stalls})
    return out


def _scalesim_reads(out, dram, px, window, K, rows, cols, dataflow, ifmap_sram, filter_sram,
                    bw_ifmap, bw_filter, active_fraction, groups, conv_geometry=None, ofmap_sram=None,
                    bw_ofmap=None) -> None:
    """Fill ``dram`` / ``out`` read traffic with SCALE-Sim's prefetcher (one call per element).

    ``out["scalesim_stall"]``: SCALE-Sim's stalls from the read misses and, when ``ofmap_sram``
    and ``bw_ofmap`` are given, its ofmap write buffer, replayed together.
    """
    for name, val in (("ifmap_sram", ifmap_sram), ("filter_sram", filter_sram), ("bw_ifmap", bw_ifmap),
                      ("bw_filter", bw_filter)):
        if val is None:
            raise ValueError(f"dram_traffic='scalesim' needs {name} (SCALE-Sim USER mode: finite scratchpads "
                             "and DRAM bandwidth)")
    Sr, Sc, T = {"os": (px, K, window), "ws": (window, K, px), "is": (window, px, K)}[dataflow]
    geo = [np.asarray(-1)] * 8 if conv_geometry is None else [np.asarray(x) for x in conv_geometry]
    if len(geo) != 8:
        raise ValueError("conv_geometry must be (H, W, R, S, C, stride, Hout, Wout)")
    with_ofmap = ofmap_sram is not None and bw_ofmap is not None
    ofs_arr = np.asarray(ofmap_sram if with_ofmap else 0)
    bwo_arr = np.asarray(bw_ofmap if with_ofmap else 1)
    arrs = np.broadcast_arrays(Sr, Sc, T, rows, cols, np.asarray(ifmap_sram), np.asarray(filter_sram),
                               np.asarray(bw_ifmap), np.asarray(bw_filter), np.asarray(groups), ofs_arr, bwo_arr,
                               *geo)
    shape = arrs[0].shape
    res = {k: np.zeros(shape) for k in ("dram_ifmap", "dram_filter", "late_ifmap", "late_filter",
                                        "slides_ifmap", "slides_filter", "scalesim_stall")}
    for idx in np.ndindex(shape):
        sr, sc, t, r, c, ifs, fs, bwi, bwf, g, ofs, bwo, H, W, R, S, C, st, hout, wout = (a[idx].item() for a in arrs)
        conv = None if H < 0 else ConvGeometry(H, W, R, S, C, st, Wout=wout, Hout=hout)
        traffic = []
        for key, sram, bw in (("ifmap", ifs, bwi), ("filter", fs, bwf)):
            bw_int = round(float(bw))
            if abs(float(bw) - bw_int) > 1e-9 or bw_int < 1:
                raise ValueError(f"dram_traffic='scalesim' needs an integer DRAM bandwidth in words/cycle per "
                                 f"stream (SCALE-Sim USER mode), got bw_{key}={bw}")
            tr = scalesim_operand_traffic(key, dataflow, sr, sc, t, r, c, int(sram), bw_int, active_fraction,
                                          conv=conv if key == "ifmap" else None)
            res[f"dram_{key}"][idx] = tr.dram_words * g
            res[f"slides_{key}"][idx] = tr.slides * g
            # express the stream's busy time (slides * cycles per slide) as words at its bandwidth
            res[f"late_{key}"][idx] = tr.slides * tr.cycles_per_slide * bw_int * g
            traffic.append(tr)
        writes = None
        if with_ofmap:
            bwo_int = round(float(bwo))
            if abs(float(bwo) - bwo_int) > 1e-9 or bwo_int < 1:
                raise ValueError(f"dram_traffic='scalesim' needs an integer DRAM bandwidth in words/cycle per "
                                 f"stream (SCALE-Sim USER mode), got bw_ofmap={bwo}")
            writes = scalesim_ofmap_writes(dataflow, sr, sc, t, r, c, int(ofs), bwo_int, active_fraction)
        res["scalesim_stall"][idx] = scalesim_stall_cycles(*traffic, ofmap=writes) * g
    out["scalesim_stall"] = res["scalesim_stall"]
    for key in ("ifmap", "filter"):
        dram[key] = res[f"dram_{key}"]
        out[f"late_{key}"] = res[f"late_{key}"]
        out[f"slides_{key}"] = res[f"slides_{key}"]


def core_slices(layer: SystolicLayer, cores: int) -> list[tuple[str, SystolicLayer]]:
    """The ways one layer's output can be split over ``cores`` identical arrays: ``(name, largest slice)``.

    Each core computes ``1/cores`` of the output (slices rounded up, so the last core's may be smaller):

    - ``groups``: whole groups per core (a grouped/depthwise conv with at least ``cores`` groups);
    - ``filters``: output channels (GEMM ``N``): each core reads all of the input and ``1/cores`` of
      the weights;
    - ``pixels``: output pixels, by image when the batch has at least ``cores`` images, else by output
      rows (GEMM ``M``; a conv core reads its rows' input window, halo included): each core reads
      ``1/cores`` of the input and all of the weights.
    """
    if layer.groups >= cores:
        return [("groups", replace(layer, groups=_ceil_div(layer.groups, cores)))]
    out = [("filters", replace(layer, K=_ceil_div(layer.K, cores)))]
    if layer.batch >= cores:
        out.append(("pixels", replace(layer, batch=_ceil_div(layer.batch, cores))))
    elif layer.Hout >= cores:
        hout = _ceil_div(layer.Hout, cores)
        out.append(("pixels", replace(layer, Hout=hout, H=min(layer.H, (hout - 1) * layer.stride + layer.R))))
    return out


def layer_cycles(spec: SystolicSpec, layer: SystolicLayer, *, dataflow: str | None = None,
                 bandwidth_words: float | dict[str, float] | None = None) -> SystolicLayerResult:
    """Cycles, stalls and traffic of one layer on ``spec``.

    On ``spec.cores`` > 1 arrays the layer's output is split over the cores (:func:`core_slices`) the
    way that finishes first (fewest DRAM words on a tie), as a compiler tiling for the chip would. Each
    core runs its slice from its own scratchpads; every core's DRAM words (an operand every core
    needs is read by every core) cross the one shared DRAM port, so each core streams at
    ``1/cores`` of the bandwidth: the layer takes ``max(one core's compute, all cores' DRAM words /
    bandwidth)`` on the shared port. With ``spec.shared_sram`` a read operand that fits it crosses
    DRAM once (its unique words) instead of once per core and re-stream. One core (the default) is
    the single-array model below, unchanged.

    Args:
        spec: the array.
        layer: the layer (see :class:`SystolicLayer`).
        dataflow: override ``spec.dataflow``.
        bandwidth_words: override DRAM bandwidth in words/cycle, either one number for every
            stream (SCALE-Sim USER mode) or {"ifmap":..,"filter":..,"ofmap":..}. By default it
            comes from ``spec.dram_bandwidth`` (split evenly over the active streams when
            ``dram_bandwidth_shared``). With ``spec.dram_traffic == "scalesim"`` each stream's
            bandwidth must be a whole number of words per cycle (SCALE-Sim's USER mode).
    """
    if spec.cores > 1:
        return _multi_core_cycles(spec, layer, dataflow, bandwidth_words)
    return _array_cycles(spec, layer, dataflow, bandwidth_words)


def _multi_core_cycles(spec: SystolicSpec, layer: SystolicLayer, dataflow: str | None,
                       bandwidth_words: float | dict[str, float] | None) -> SystolicLayerResult:
    """:func:`layer_cycles` on ``spec.cores`` arrays sharing the DRAM port (see there)."""
    n = spec.cores
    one = spec.model_copy(update={"cores": 1, "dram_bandwidth": spec.dram_bandwidth / n})
    bw: float | dict[str, float] | None = None
    if isinstance(bandwidth_words, dict):
        bw = {k: float(v) / n for k, v in bandwidth_words.items()}
    elif bandwidth_words is not None:
        bw = float(bandwidth_words) / n
    # a read operand that fits the shared on-chip buffer crosses DRAM once (its unique words)
    shared_words = spec.shared_sram / spec.word_bytes
    unique = {"ifmap": float(layer.H * layer.W * layer.C * layer.batch * layer.groups),
              "filter": float(layer.window * layer.K * layer.groups)}
    best: tuple[float, float, str, SystolicLayerResult] | None = None
    for split, part in core_slices(layer, n):
        r = _array_cycles(one, part, dataflow, bw)
        reads = {k: v * n for k, v in r.dram_reads.items()}
        writes = {k: v * n for k, v in r.dram_writes.items()}
        if shared_words and any(unique[k] <= shared_words and unique[k] < reads[k] for k in reads):
            reads = {k: (min(v, unique[k]) if unique[k] <= shared_words else v) for k, v in reads.items()}
            words = {**reads, **writes}
            wpc = spec.dram_words_per_cycle
            dram = sum(words.values()) / wpc if spec.dram_bandwidth_shared else max(words.values()) / wpc
            stall = max(dram - r.compute_cycles, 0.0)
            r = replace(r, stall_cycles=stall, total_cycles=r.compute_cycles + stall)
        r = replace(r, dram_reads=reads, dram_writes=writes)
        key = (r.total_cycles, sum(reads.values()) + sum(writes.values()), split, r)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    total, _, split, r = best
    scale = lambda d: {k: v * n for k, v in d.items()}  # noqa: E731
    return replace(r, name=layer.name, folds=r.folds * n, macs=float(layer.macs),
                   mapping_efficiency=r.mapping_efficiency * layer.macs / (n * r.macs) if r.macs else 0.0,
                   utilization=layer.macs / (spec.rows * spec.cols * n * total) if total else 0.0,
                   sram_reads=scale(r.sram_reads), sram_writes=scale(r.sram_writes), core_split=split)


def _array_cycles(spec: SystolicSpec, layer: SystolicLayer, dataflow: str | None,
                  bandwidth_words: float | dict[str, float] | None) -> SystolicLayerResult:
    """:func:`layer_cycles` on one array."""
    df = dataflow or spec.dataflow
    wb = spec.word_bytes
    if bandwidth_words is None:
        bw = spec.dram_words_per_cycle
        bws = {k: (bw / 3.0 if spec.dram_bandwidth_shared else bw) for k in ("ifmap", "filter", "ofmap")}
    elif isinstance(bandwidth_words, dict):
        bws = {k: float(bandwidth_words[k]) for k in ("ifmap", "filter", "ofmap")}
    else:
        bws = {k: float(bandwidth_words) for k in ("ifmap", "filter", "ofmap")}
    r = layers_cycles_np(layer.px, layer.window, layer.K, spec.rows, spec.cols, df,
                         ifmap_words=layer.H * layer.W * layer.C * layer.batch,
                         ifmap_sram=spec.ifmap_sram / wb, filter_sram=spec.filter_sram / wb,
                         ofmap_sram=spec.ofmap_sram / wb,
                         bw_ifmap=bws["ifmap"], bw_filter=bws["filter"], bw_ofmap=bws["ofmap"],
                         active_fraction=spec.sram_active_fraction, groups=layer.groups,
                         dram_traffic=spec.dram_traffic, conv_geometry=layer.conv_geometry())
    if bandwidth_words is None and spec.dram_bandwidth_shared and spec.dram_traffic == "ideal":
        # shared port: the layer takes at least all streams' DRAM words (initial fill and final
        # ofmap drain included) at the full bandwidth
        dram_all = float(r["dram_ifmap"] + r["dram_filter"] + r["dram_ofmap"])
        stall = max(dram_all / spec.dram_words_per_cycle - float(r["compute_cycles"]), 0.0)
        r["stall_cycles"] = np.asarray(stall)
        r["total_cycles"] = r["compute_cycles"] + stall
    f = lambda k: float(np.asarray(r[k]))  # noqa: E731
    total = f("total_cycles")
    Sr, Sc, _ = layer.spatio_temporal(df)
    map_eff = (Sr * Sc) / (f("row_folds") * spec.rows * f("col_folds") * spec.cols)
    return SystolicLayerResult(
        name=layer.name, compute_cycles=f("compute_cycles"), stall_cycles=f("stall_cycles"), total_cycles=total,
        folds=int(f("folds")), row_folds=int(f("row_folds")), col_folds=int(f("col_folds")),
        mapping_efficiency=map_eff, utilization=f("macs") / (spec.rows * spec.cols * total) if total else 0.0,
        macs=f("macs"),
        sram_reads={"ifmap": f("sram_ifmap"), "filter": f("sram_filter")}, sram_writes={"ofmap": f("sram_ofmap")},
        dram_reads={"ifmap": f("dram_ifmap"), "filter": f("dram_filter")}, dram_writes={"ofmap": f("dram_ofmap")},
    )


def network_cycles(spec: SystolicSpec, layers: Iterable[SystolicLayer], **kw) -> list[SystolicLayerResult]:
    """:func:`layer_cycles` for each layer."""
    return [layer_cycles(spec, ly, **kw) for ly in layers]


# --------------------------------------------------------------------------------------
# CostModel
# --------------------------------------------------------------------------------------
_MAC_KINDS = ("conv", "conv_transpose", "matmul")


@register_cost_model("systolic")
class SystolicCostModel(CostModel):
    """``cost(op)`` on a systolic array.

    - conv / matmul: :func:`layer_cycles` (the array); conv_transpose in scatter form
      (each input pixel times every filter tap: N*H*W output rows of the GEMM).
    - attention: two matmuls per head (QK^T and PV), run on the array.
    - rnn: its gate GEMMs (:mod:`accel.devices.rnn_gemms`): per layer the input projection, then
      T recurrent-step GEMMs in series, each followed by its pointwise gate math on the vector unit.
    - kinds in ``spec.fused_kinds``: free (the hardware applies them on the fly to the array's outputs),
      also as a stand-alone op of an ``eager`` graph.
    - everything else (elementwise, norm, softmax, pool, ...): a vector unit of
      ``vector_width`` elements/cycle (default ``cols``) reading operands from DRAM in the array's
      word size (``dtype``); time is the max of elements/vector_width and bytes/DRAM bandwidth.
      Bytes follow :func:`accel.devices.gpu.streamed_bytes`: an embedding
      lookup reads its indices and the gathered rows, never the whole table.
    - fused nodes (``compile: fused``, the default, :mod:`accel.compile`): a conv/matmul's epilogue
      (bias, activation, residual add, pooling) runs on the vector unit as the outputs leave the array,
      overlapped with it: ``max(array cycles, epilogue elements / vector_width)``, kinds in ``fused_kinds``
      excluded; its extra operands (a residual) are read from DRAM in series over the shared port, like
      biases. Folded batch norms cost nothing (their scale is in the weights, their shift a bias). A fused
      elementwise chain is one vector op over its members' elements that reads only the chain's external
      inputs and writes its last outputs.

    Energy: ``energy.per_flop[dtype]`` per FLOP (2 per MAC), ``energy.per_byte``: ``register``
    (each MAC touches one operand byte in each of three PE registers), ``sram`` (scratchpad
    words read/written by the array) and ``dram`` (words moved to/from DRAM).
    """

    spec: SystolicSpec
    default_compile = "fused"

    @property
    def launch_overhead_s(self) -> float:
        """The spec's ``launch_overhead`` (s): host time to issue one op through the device's driver."""
        return float(self.spec.launch_overhead)

    def peak_macs_per_s(self) -> float:
        """``cores x rows x cols`` MACs per cycle at ``clock``."""
        return float(self.spec.cores * self.spec.rows * self.spec.cols * self.spec.clock)

    def roofs(self) -> Roofs:
        """``2 x cores x rows x cols x clock`` in its ``dtype``; DRAM (shared by the cores)."""
        s = self.spec
        cores = f"{s.cores} cores x " if s.cores > 1 else ""
        return Roofs(s.name, {s.dtype: 2.0 * s.cores * s.rows * s.cols * s.clock}, {"DRAM": s.dram_bandwidth},
                     peak_notes={s.dtype: f"{cores}{s.rows}x{s.cols} MACs x 2 FLOP x {ghz(s.clock)}"})

    @property
    def _vector_rate(self) -> int:
        """Elements per cycle of the chip's vector units: ``cores x vector_width`` (default ``cols``)."""
        return self.spec.cores * (self.spec.vector_width or self.spec.cols)

    def _array_cost(self, op: OpNode, layers: Sequence[SystolicLayer], repeats: Sequence[int] | None = None,
                    extra_cycles: float = 0.0) -> OpCost:
        """Layers run one after another on the array (layer ``i`` ``repeats[i]`` times, default 1);
        ``extra_cycles``: vector-unit cycles in series with them (an rnn's pointwise gate math)."""
        s = self.spec
        res = [layer_cycles(s, ly) for ly in layers]
        rep = list(repeats) if repeats is not None else [1] * len(res)
        cycles = sum(r.total_cycles * n for r, n in zip(res, rep)) + extra_cycles
        compute = sum(r.compute_cycles * n for r, n in zip(res, rep)) + extra_cycles
        macs = sum(r.macs * n for r, n in zip(res, rep))
        wb = s.word_bytes
        sram_b = sum((sum(r.sram_reads.values()) + sum(r.sram_writes.values())) * n for r, n in zip(res, rep)) * wb
        dram_b = sum((sum(r.dram_reads.values()) + sum(r.dram_writes.values())) * n for r, n in zip(res, rep)) * wb
        # weights the array layers do not stream as filters (biases: added to the accumulators) are
        # read from DRAM once, in series with the layers over the shared DRAM port
        filter_words = sum(ly.window * ly.K * ly.groups for ly in layers)
        extra_words = max(sum(t.numel for t in op.weights) - filter_words, 0)
        if extra_words:
            dram_b += extra_words * wb
            cycles += extra_words / s.dram_words_per_cycle
        # a fused epilogue (accel.compile): vector work overlapped with the array, extra operands in series
        epi_cycles = math.ceil(fz.vector_elements(op, s.fused_kinds) / self._vector_rate)
        epi_words = sum(t.numel for t in fz.epilogue_inputs(op))
        if epi_cycles:
            compute, cycles = max(compute, float(epi_cycles)), max(cycles, float(epi_cycles))
        if epi_words:
            dram_b += epi_words * wb
            cycles += epi_words / s.dram_words_per_cycle
        reg_b = 3.0 * macs * wb
        levels = {"register": reg_b, "sram": sram_b, "dram": dram_b}
        flops = 2.0 * macs + fz.epilogue_flops(op)
        energy, parts = op_energy(s.energy, s.dtype, flops, levels, device=s.origin or s.name)
        time = cycles / s.clock
        stall = cycles - compute
        return OpCost(time_s=time, cycles=cycles, flops=flops, bytes_by_level=levels, energy_j=energy,
                      energy_by_component=parts, bound="memory" if stall > compute else "compute",
                      utilization=macs / (s.rows * s.cols * s.cores * cycles) if cycles else 0.0,
                      detail={"compute_cycles": compute, "stall_cycles": stall,
                              "folds": sum(r.folds * n for r, n in zip(res, rep)), "dataflow": s.dataflow,
                              "mapping_efficiency": res[0].mapping_efficiency if res else 0.0,
                              **({"core_split": res[0].core_split} if s.cores > 1 and res else {}),
                              **({"epilogue_cycles": epi_cycles, "epilogue_words": epi_words}
                                 if fz.is_fused(op) else {})})

    def _vector_cost(self, op: OpNode) -> OpCost:
        s = self.spec
        width = self._vector_rate
        elems = (fz.vector_elements(op, s.fused_kinds) if fz.is_fused(op)
                 else max(sum(t.numel for t in op.outputs), sum(t.numel for t in op.inputs)))
        # operands move in the array's word size (s.dtype), not the graph's dtype: an fp32 graph on
        # an int8 array has int8 activations between layers; which tensors cross DRAM is
        # streamed_bytes' rule (an embedding reads its gathered rows and indices, not the table)
        nbytes = float(streamed_bytes(self._in_array_words(op)))
        cycles = max(math.ceil(elems / width), nbytes / (s.dram_bandwidth / s.clock))
        levels = {"dram": nbytes}
        flops = float(op.flops)
        energy, parts = op_energy(s.energy, s.dtype, flops, levels, device=s.origin or s.name)
        compute_c = math.ceil(elems / width)
        return OpCost(time_s=cycles / s.clock, cycles=cycles, flops=flops, bytes_by_level=levels, energy_j=energy,
                      energy_by_component=parts, bound="memory" if cycles > compute_c else "compute",
                      utilization=0.0, detail={"vector_width": width, "elements": elems})

    def _in_array_words(self, op: OpNode) -> OpNode:
        """``op`` with every tensor re-sized to the array's word size (``word_bytes`` per element)."""
        wb = self.spec.word_bytes

        def words(ts: list[TensorInfo]) -> list[TensorInfo]:
            return [TensorInfo(t.shape, t.dtype, int(math.ceil(t.numel * wb))) for t in ts]

        return replace(op, inputs=words(op.inputs), outputs=words(op.outputs), weights=words(op.weights))

    def _rnn_cost(self, op: OpNode) -> OpCost:
        """Gate GEMMs on the array (:mod:`accel.devices.rnn_gemms`): per layer the input projection,
        then T recurrent-step GEMMs in series, each followed by its pointwise gate math on the vector
        unit (``ceil(B*G*H*D / vector_width)`` cycles). Each step GEMM is costed as a layer of its own,
        so its weights stream from DRAM every step unless they fit the filter scratchpad."""
        from accel.devices.rnn_gemms import rnn_gemms  # imports this module

        width = self._vector_rate
        gemms = rnn_gemms(op)
        pointwise = float(sum(g.repeats * math.ceil(g.pointwise / width) for g in gemms))
        cost = self._array_cost(op, [g.gemm for g in gemms], [g.repeats for g in gemms], extra_cycles=pointwise)
        cost.detail.update({"path": "rnn_steps", "steps": sum(g.repeats for g in gemms if g.step),
                            "pointwise_cycles": pointwise})
        return cost

    def cost(self, op: OpNode) -> OpCost:
        if fz.is_free(op, self.spec.fused_kinds):
            return OpCost(time_s=0.0, cycles=0.0, flops=float(op.flops), bound="compute", detail={"fused": 1})
        if op.kind in _MAC_KINDS:
            return self._array_cost(op, SystolicLayer.from_op_all(op, self.spec.conv_output))
        if op.kind == "attention":
            a = op.attrs
            try:
                b, h, lq, lk, d = (int(a[k]) for k in ("batch", "heads", "Lq", "Lk", "d"))
            except KeyError as exc:
                raise ValueError(f"op {op.name!r} (attention): missing attr {exc.args[0]!r}; "
                                     "needs batch, heads, Lq, Lk, d") from None
            qk = SystolicLayer.gemm(op.name + "/qk", lq, lk, d, batch=1)
            pv = SystolicLayer.gemm(op.name + "/pv", lq, d, lk, batch=1)
            n = b * h
            layers = [SystolicLayer(**{**qk.__dict__, "groups": n}), SystolicLayer(**{**pv.__dict__, "groups": n})]
            return self._array_cost(op, layers)
        if op.kind == "rnn":
            return self._rnn_cost(op)
        return self._vector_cost(op)
