"""SCALE-Sim v3's DRAM read traffic for one layer, in closed form per fold (no cycle simulation).

SCALE-Sim (``scalesim/memory/read_buffer.py``) keeps each read operand (ifmap, filter) as a
*ring*: its prefetch matrix, flattened in prefetch order and cut into "lines" of
``eps = ceil(sram_words / 100)`` valid addresses. A window of ``A = ceil(active/eps)`` lines
(the active half of the double buffer) is resident; on a demanded address outside it the
window slides forward round the ring by ``P = ceil(prefetch/eps)`` lines (each slide is one
DRAM fetch of ``ceil(prefetch_words/bw)*bw`` words), until the address is inside. An operand
whose ring fits the active half is fetched once. A demand *behind* the window therefore
re-fetches almost the whole ring; that happens

- when a fold re-reads a block longer than the window (OS filter: each column-fold block is
  read by ``row_folds`` consecutive folds),
- at fold boundaries of diagonally-ordered rings (SCALE-Sim rolls the OS/WS ifmap and the OS
  and IS filter prefetch matrices out along anti-diagonals, so a fold ends ``~N`` diagonals
  after the next fold begins),
- inside stationary tiles read bottom row first (WS filter, IS ifmap; row-major rings) that
  straddle a window boundary.

This module reproduces that logic at the granularity of demand *segments*: one segment per
fold for the skewed (streamed) operands, one per tile row for the stationary tiles read in
reverse. A segment is a forward run of ring positions, so its slides follow from modular
arithmetic on line indices (:func:`ring_slides`). Addresses are taken as unique: im2col
duplicates in the conv ifmap (SCALE-Sim hits on any copy inside the window) are not modelled,
which is the remaining source of error for conv ifmaps (see benchmarks/bench_scalesim.py).
The filter traffic (and GEMM ifmap traffic) matches SCALE-Sim 3.0.0 exactly on the stored
reference runs (tests/data/systolic/scalesim_reference.csv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ScaleSimTraffic", "scalesim_operand_traffic", "scalesim_stall_cycles", "ring_slides"]


def _g(x, a):
    """sum_{r=0}^{a-1} max(x - r, 0), vectorised over x."""
    x = np.asarray(x, dtype=np.int64)
    m = np.clip(np.minimum(a, x), 0, None)
    return m * x - m * (m - 1) // 2


def _tri(d, a, b):
    """Cells (r, c) of an a x b rectangle with r + c < d."""
    return _g(d, a) - _g(d - b, a)


@dataclass(frozen=True)
class _Ring:
    """A stacked prefetch matrix of ``M x N`` where rows >= ``r0`` have only ``Nv`` valid columns.

    ``diagonal``: flattened along anti-diagonals (high row first within a diagonal), as
    SCALE-Sim's ``create_*_prefetch_mat`` "Fixing ISSUE #15" loop; else row-major.
    Positions count valid (non -1) entries only, as SCALE-Sim's hashed-buffer lines do.
    """

    M: int
    N: int
    r0: int
    Nv: int
    diagonal: bool

    @property
    def valid(self) -> int:
        return self.M * self.N - (self.M - self.r0) * (self.N - self.Nv)

    def pos(self, r, c):
        r = np.asarray(r, dtype=np.int64)
        c = np.asarray(c, dtype=np.int64)
        M, N, r0, Nv = self.M, self.N, self.r0, self.Nv
        if not self.diagonal:
            return np.where(r < r0, r * N + c, r0 * N + (r - r0) * Nv + c)
        d = r + c
        before = _tri(d, M, N) - _tri(d - r0 - Nv, M - r0, N - Nv)
        lo = np.maximum(r + 1, d - N + 1)
        hi = np.minimum(d, M - 1)
        same = np.maximum(0, hi - lo + 1)  # entries of diagonal d above row r (visited first)
        same = same - np.maximum(0, np.minimum(hi, d - Nv) - np.maximum(lo, r0) + 1)
        return before + same


def ring_slides(seg_start, seg_end, n_lines: int, active: int, prefetch: int, seg_c0=None, seg_c1=None):
    """Window slides of SCALE-Sim's read buffer over a sequence of forward segments.

    Args:
        seg_start, seg_end: first/last ring line of each demand segment, in demand order.
        n_lines: lines in the ring; active / prefetch: window size / slide step in lines.
        seg_c0, seg_c1: optional stall-free cycles at which each segment starts / ends.

    Returns ``slides``, or with cycles given ``(slides, events)``: per miss, (stall-free cycle,
    total slides so far); a forward run's m-th slide is placed where the demand crosses the
    window top, interpolating the segment's cycles linearly.
    """
    events = seg_c0 is not None
    if prefetch <= 0:
        return (0, []) if events else 0
    u = 0
    slides = 0
    ev = []
    c0s = np.asarray(seg_c0).tolist() if events else None
    c1s = np.asarray(seg_c1).tolist() if events else None
    for i, (a, b) in enumerate(zip(np.asarray(seg_start).tolist(), np.asarray(seg_end).tolist())):
        da = (a - u) % n_lines
        if da >= active:  # behind or ahead of the window: slide (round the ring) until inside
            k = -(-(da - active + 1) // prefetch)
            slides += k
            u = (u + k * prefetch) % n_lines
            da -= k * prefetch
            if events:
                ev.append((c0s[i], slides))
        db = da + (b - a)
        if db >= active:
            k = -(-(db - active + 1) // prefetch)
            if events:  # the m-th slide happens when the demand crosses the window top, linear in cycles
                span = max(b - a, 1)
                for m in range(k):
                    x = active + m * prefetch - da  # lines past the segment start
                    ev.append((c0s[i] + (c1s[i] - c0s[i]) * x / span, slides + m + 1))
            slides += k
            u = (u + k * prefetch) % n_lines
    return (slides, ev) if events else slides


def _segments(operand: str, dataflow: str, Sr: int, Sc: int, T: int, rows: int, cols: int):
    """(ring, segment start/end positions, segment start/end stall-free cycles), in demand order.

    Folds run in SCALE-Sim's order (column folds outer, row folds inner), each
    ``T + rows + cols - 2`` (os) or ``T + 2*rows + cols - 2`` (ws, is) cycles long.
    """
    rf, cf = -(-Sr // rows), -(-Sc // cols)
    per_fold = T + rows + cols - 2 if dataflow == "os" else T + 2 * rows + cols - 2
    fold = np.arange(rf * cf)
    streamed = {("os", "ifmap"), ("ws", "ifmap"), ("is", "filter"), ("os", "filter")}
    if (dataflow, operand) in streamed:
        if (dataflow, operand) == ("os", "filter"):  # column-fold blocks, each read by rf folds
            nb, N, nv = cf, cols, Sc - (cf - 1) * cols
            blocks = np.repeat(np.arange(cf), rf)
        else:  # row-fold blocks, swept once per column fold
            nb, N, nv = rf, rows, Sr - (rf - 1) * rows
            blocks = np.tile(np.arange(rf), cf)
        ring = _Ring(nb * T, N, (nb - 1) * T, nv, diagonal=True)
        width = np.where(blocks == nb - 1, nv, N)
        # skewed stream: diagonal k of the fold is demanded at cycle k (after the ws/is preload)
        c0 = fold * per_fold + (0 if dataflow == "os" else rows)
        return ring, ring.pos(blocks * T, 0), ring.pos(blocks * T + T - 1, width - 1), c0, c0 + T + N - 2
    # stationary tiles read last row first: WS filter, IS ifmap; ring = column-fold blocks (Sr x cols), row-major
    nv = Sc - (cf - 1) * cols
    ring = _Ring(cf * Sr, cols, (cf - 1) * Sr, nv, diagonal=False)
    fc = np.repeat(np.arange(cf), rf)[:, None]
    fr = np.tile(np.arange(rf), cf)[:, None]
    j = np.arange(rows)[None, :]
    r = fr * rows + (rows - 1 - j)
    ok = r < Sr
    fcs = np.broadcast_to(fc, r.shape)[ok]
    g = fcs * Sr + r[ok]
    width = np.where(fcs == cf - 1, nv, cols)
    c0 = (fold[:, None] * per_fold + j)[ok]  # tile row j (from the bottom) preloads at cycle j of its fold
    return ring, ring.pos(g, 0), ring.pos(g, width - 1), c0, c0


@dataclass(frozen=True)
class ScaleSimTraffic:
    """One operand's SCALE-Sim DRAM reads (words) and window slides."""

    dram_words: int
    slides: int
    words_per_slide: int
    cycles_per_slide: int
    ring_lines: int
    events: tuple = ()  # (stall-free demand cycle, slides at that cycle), in demand order


def scalesim_operand_traffic(operand: str, dataflow: str, Sr: int, Sc: int, T: int, rows: int, cols: int,
                             sram_words: int, bandwidth_words: int, active_fraction: float = 0.5) -> ScaleSimTraffic:
    """SCALE-Sim's DRAM reads for ``operand`` ("ifmap"/"filter") of one layer (one group).

    Args:
        Sr, Sc, T: SCALE-Sim's spatial rows/cols and temporal size for ``dataflow``.
        rows, cols: array shape; sram_words: that operand's whole scratchpad in words.
        bandwidth_words: DRAM words/cycle of the stream (SCALE-Sim USER mode; integer).
    """
    if operand not in ("ifmap", "filter"):
        raise ValueError(f"operand {operand!r}; allowed: ifmap, filter")
    if dataflow not in ("os", "ws", "is"):
        raise ValueError(f"unknown dataflow {dataflow!r}; allowed: os, ws, is")
    bw = int(bandwidth_words)
    if bw < 1 or bw != bandwidth_words:
        raise ValueError(f"bandwidth_words must be a positive integer (SCALE-Sim words/cycle), got {bandwidth_words}")
    total = int(sram_words)
    act_w = int(math.ceil(total * round(active_fraction, 2)))
    pre_w = total - act_w
    eps = int(math.ceil(total / 100))
    ring, a, e, c0, c1 = _segments(operand, dataflow, int(Sr), int(Sc), int(T), int(rows), int(cols))
    n_lines = ring.valid // eps + 1
    active = min(-(-act_w // eps), n_lines)
    prefetch = min(-(-pre_w // eps), n_lines - active)
    slides, ev = ring_slides(a // eps, e // eps, n_lines, active, prefetch, c0, c1)
    fetch_rows = -(-(ring.M * ring.N) // bw)
    initial = min(-(-act_w // bw), fetch_rows) * bw
    per_slide = -(-pre_w // bw)
    events, prev = [], 0
    for c, j in ev:
        events.append((int(math.floor(c)), j - prev))
        prev = j
    return ScaleSimTraffic(dram_words=initial + slides * per_slide * bw, slides=slides,
                           words_per_slide=per_slide * bw, cycles_per_slide=per_slide + 1, ring_lines=n_lines,
                           events=tuple(events))


def scalesim_stall_cycles(*operands: ScaleSimTraffic) -> int:
    """SCALE-Sim's stall cycles, replayed at the misses only (not cycle by cycle).

    Mirrors ``double_buffered_scratchpad.service_memory_requests`` and
    ``read_buffer.service_reads``/``new_prefetch``: each operand's DRAM fetches queue back to
    back (fetch n completes at ``1 + n * cycles_per_slide``, whenever it was asked for); at a
    miss on demand line ``c`` (array time ``c + stall``) each slide adds
    ``p = done - (c + stall + offset)`` to the line's offset (twice when positive, as SCALE-Sim
    does), and the array stalls by the largest operand offset - 1 of that line.
    """
    lines: dict[int, list[tuple[int, int, int]]] = {}
    for i, op in enumerate(operands):
        for c, k in op.events:
            lines.setdefault(c, []).append((i, k, op.cycles_per_slide))
    done = [1] * len(operands)
    stall = 0
    for c in sorted(lines):
        worst = 0
        per_op: dict[int, int] = {}
        for i, k, L in lines[c]:
            off = per_op.get(i, 1)
            for _ in range(k):
                done[i] += L
                p = done[i] - (c + stall + off)
                off += p
                if p > 0:
                    off += p
            per_op[i] = off
        for off in per_op.values():
            worst = max(worst, off - 1)
        stall += max(0, worst)
    return stall
