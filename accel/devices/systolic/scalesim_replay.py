"""SCALE-Sim v3's DRAM read traffic and stalls for one layer, per fold (no cycle simulation).

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
arithmetic on line indices (:func:`ring_slides`); the cost is O(folds) (O(folds x rows) for
the reversed tiles), not O(cycles). Two conv-ifmap details are modelled as SCALE-Sim has them:

- taps past the input edge (SCALE-Sim's ``ceil`` output size when ``(H - R) % stride != 0``)
  are -1 in its operand matrix and take no ring position (:class:`ConvGeometry`);
- im2col copies: SCALE-Sim hits on *any* copy of an address inside the window (an input
  pixel sits at several (output pixel, tap) places when windows overlap, ``R > stride``). For
  the IS ifmap (where this changes the count by up to 60x) a tile row that is not wholly inside
  the window by position is replayed element by element over the copies of each address
  (:func:`_is_ifmap_resolver`). For the OS/WS ifmap (:func:`_streamed_ifmap_resolver`) a fold
  not wholly inside the window is replayed in block order: runs of entries whose own line is
  inside are skipped by a search on positions; entries outside are checked against all their
  copies, a chunk at a time; and while a forward run still extends more than a prefetch past
  the window top, the next slide is taken at the top by position (copies only delay it), so
  only fold starts and the last band are replayed entry by entry. That last shortcut is
  checked, not proven: it gives the same counts as a brute-force replay of SCALE-Sim's
  read buffer over every address on all reference runs and on random small convs
  (tests/test_peers_scalesim_zigzag.py). Without copies the OS/WS ifmap counts of 6 of the
  190 reference runs were 7-100% high (e.g. ResNet-18 Conv3_1a 128x128 os: twice SCALE-Sim's).

Stalls: :func:`scalesim_stall_cycles` replays SCALE-Sim's stall bookkeeping at the read
misses and at the ofmap write buffer's drains/full stalls (:mod:`accel.devices.systolic.scalesim_ofmap`),
stalling each line by the largest wait as ``service_memory_requests`` does. A miss is placed
at the cycle its fold first demands the line past the window (the anti-diagonal holding it,
:func:`_diagonal_cycle`; a fold replayed entry by entry puts each miss at the anti-diagonal of
the entry that misses), not interpolated linearly. On the stored reference runs
(tests/data/systolic/scalesim_reference.csv, SCALE-Sim 3.0.0) every filter and ifmap DRAM
count of the 201 stored USER-mode runs is equal word for word, and total cycles are within
0.1% on all of them (benchmarks/bench_scalesim.py prints the tables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from accel.devices.systolic.scalesim_ofmap import OfmapWrites

__all__ = ["ConvGeometry", "ScaleSimTraffic", "scalesim_operand_traffic", "scalesim_stall_cycles", "ring_slides"]


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


def ring_slides(seg_start, seg_end, n_lines: int, active: int, prefetch: int, seg_c0=None, seg_c1=None,
                resolve=None, seg_cycle=None):
    """Window slides of SCALE-Sim's read buffer over a sequence of forward segments.

    Args:
        seg_start, seg_end: first/last ring line of each demand segment, in demand order.
        n_lines: lines in the ring; active / prefetch: window size / slide step in lines.
        seg_c0, seg_c1: optional stall-free cycles at which each segment starts / ends.

        resolve: optional ``resolve(i, u) -> (k, u)`` for a segment that is not wholly inside the
            window by position: replays it element by element, where an element hits if any copy
            of its address (im2col duplicates) is in the window; returns its slides and the window
            (or ``(k, u, misses)`` with ``misses`` a list of (stall-free cycle, slides) per miss).
        seg_cycle: optional ``seg_cycle(i, line) -> cycle``: the stall-free cycle at which segment
            ``i`` first demands ring line ``line`` (default: linear between seg_c0 and seg_c1).

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
    c0s: list[float] = np.asarray(seg_c0).tolist() if events else []  # read only when events
    c1s: list[float] = np.asarray(seg_c1).tolist() if events else []
    for i, (a, b) in enumerate(zip(np.asarray(seg_start).tolist(), np.asarray(seg_end).tolist())):
        da = (a - u) % n_lines
        if resolve is not None and (da >= active or da + (b - a) >= active):
            res = resolve(i, u)
            if len(res) == 3:  # (k, u, [(stall-free cycle, slides), ...] per miss)
                k, u, misses = res
                for at, kk in misses:
                    slides += kk
                    if events:
                        ev.append((at, slides))
                continue
            k, u = res
            if k:
                slides += k
                if events:
                    ev.append((c0s[i], slides))
            continue
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
                    at = c0s[i] + (c1s[i] - c0s[i]) * x / span if seg_cycle is None else seg_cycle(i, a + x)
                    ev.append((at, slides + m + 1))
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
        return ring, (blocks * T, 0 * blocks), (blocks * T + T - 1, width - 1), c0, c0 + T + N - 2
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
    return ring, (g, 0 * g), (g, width - 1), c0, c0


@dataclass(frozen=True)
class ConvGeometry:
    """A conv as SCALE-Sim's operand matrix sees it (for im2col taps that fall off the input).

    SCALE-Sim sizes the output as ``ceil((H - R + stride)/stride)``, so when ``(H - R) % stride``
    is not 0 the last output row/column reads past the input; those taps are -1 (no address)
    in its ifmap operand matrix and do not occupy ring positions.
    """

    H: int
    W: int
    R: int
    S: int
    C: int
    stride: int
    Wout: int
    Hout: int

    @property
    def has_copies(self) -> bool:
        """Whether im2col duplicates inputs (windows overlap: a filter dimension exceeds the stride)."""
        return self.R > self.stride or self.S > self.stride

    @property
    def has_invalid_taps(self) -> bool:
        return (self.Hout - 1) * self.stride + self.R > self.H or (self.Wout - 1) * self.stride + self.S > self.W

    def tap_valid(self, pixel, tap):
        orow, ocol = np.divmod(np.asarray(pixel, dtype=np.int64) % (self.Hout * self.Wout), self.Wout)
        crow, k = np.divmod(np.asarray(tap, dtype=np.int64), self.S * self.C)
        ccol = k // self.C
        return (orow * self.stride + crow < self.H) & (ocol * self.stride + ccol < self.W)


def _ifmap_valid_before(ring: _Ring, dataflow: str, Sr: int, T: int, rows: int, cols: int, geo: ConvGeometry):
    """Valid entries before each raw ring position (cumulative), for an ifmap ring with -1 taps.

    Built on the ``M x N`` grid by broadcasting; a diagonal ring is read out through its skewed
    copy (row ``d`` holds anti-diagonal ``d``, column ``c`` at row ``d - c``: higher rows first).
    """
    M, N = ring.M, ring.N
    raw = _Ring(M, N, M, N, ring.diagonal)
    r = np.arange(M, dtype=np.int64)[:, None]
    c = np.arange(N, dtype=np.int64)[None, :]
    if dataflow == "os":  # blocks of ifmap^T: rows = taps, cols = pixels of the row fold
        tap, pixel = r % T, (r // T) * rows + c
    elif dataflow == "ws":  # blocks of ifmap: rows = pixels, cols = taps of the row fold
        pixel, tap = r % T, (r // T) * rows + c
    else:  # is: blocks of ifmap^T: rows = taps, cols = pixels of the column fold
        tap, pixel = r % Sr, (r // Sr) * cols + c
    ok = ((r < ring.r0) | (c < ring.Nv)) & geo.tap_valid(pixel, tap)
    if not ring.diagonal:
        flags = ok.ravel()
    else:
        skew = np.zeros((M + N - 1, N), dtype=bool)
        inside = np.zeros((M + N - 1, N), dtype=bool)
        for j in range(N):
            skew[j:j + M, j] = ok[:, j]
            inside[j:j + M, j] = True
        flags = skew[inside]
    return raw, np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))


def _is_ifmap_resolver(ring: _Ring, Sr: int, cols: int, geo: ConvGeometry, line_of_raw, seg_g, seg_w,
                       n_lines: int, active: int, prefetch: int):
    """Element-level replay of one IS ifmap tile row (tap ``t`` of column fold ``fc``) with copies.

    The address of (pixel (oh, ow), tap (cr, cc, ch)) is input (oh*s + cr, ow*s + cc, ch); every
    (oh', cr') with oh'*s + cr' equal (and likewise for columns) holds the same address.
    """
    s_, R, S, C, Hout, Wout = geo.stride, geo.R, geo.S, geo.C, geo.Hout, geo.Wout
    # output pixels sharing an input pixel differ by at most (R-1)//s rows and (S-1)//s columns
    span_h = np.arange(-((R - 1) // s_), (R - 1) // s_ + 1)
    span_w = np.arange(-((S - 1) // s_), (S - 1) // s_ + 1)
    dh, dw = (x.ravel() for x in np.meshgrid(span_h, span_w, indexing="ij"))
    seg_g = np.asarray(seg_g, dtype=np.int64)
    seg_w = np.asarray(seg_w, dtype=np.int64)
    width_max = int(seg_w.max()) if len(seg_w) else 0
    chunk = max(1, 65536 // max(width_max * len(dh), 1))
    cache: dict[str, object] = {"lo": 0, "hi": 0}

    def build(lo: int):
        """Copy lines (segments x elements x copies; -1 = no copy) for segments lo.. of one chunk."""
        hi = min(lo + chunk, len(seg_g))
        fc, t = np.divmod(seg_g[lo:hi], Sr)
        el = np.arange(width_max)
        pix = fc[:, None] * cols + el[None, :]
        demanded = el[None, :] < seg_w[lo:hi, None]
        oh, ow = np.divmod(pix, Wout)
        cr, rem = np.divmod(t, S * C)
        cc, ch = np.divmod(rem, C)
        ih, iw = oh * s_ + cr[:, None], ow * s_ + cc[:, None]
        demanded &= (ih < geo.H) & (iw < geo.W)
        oh2 = oh[..., None] + dh
        ow2 = ow[..., None] + dw
        cr2 = ih[..., None] - oh2 * s_
        cc2 = iw[..., None] - ow2 * s_
        ok = (oh2 >= 0) & (oh2 < Hout) & (ow2 >= 0) & (ow2 < Wout) & (cr2 >= 0) & (cr2 < R) & (cc2 >= 0) & (cc2 < S)
        ok &= demanded[..., None]
        p2 = np.where(ok, oh2 * Wout + ow2, 0)
        t2 = np.where(ok, cr2 * S * C + cc2 * C + ch[:, None, None], 0)
        fc2, col2 = np.divmod(p2, cols)
        lines = np.where(ok, line_of_raw(fc2 * Sr + t2, col2), -1)
        cache.update(lo=lo, hi=hi, lines=lines, demanded=demanded)

    big = np.int64(1) << 40

    def resolve(i, u):
        if not cache["lo"] <= i < cache["hi"]:
            build(i)
        lines = cache["lines"][i - cache["lo"]]
        demanded = cache["demanded"][i - cache["lo"]]
        d = np.where(lines >= 0, (lines - u) % n_lines, big).min(axis=1)
        miss = demanded & (d >= active)
        if not miss.any():
            return 0, u
        k_tot = 0
        e = int(np.argmax(miss))
        while True:
            k = int(-(-(int(d[e]) - active + 1) // prefetch))
            k_tot += k
            u = (u + k * prefetch) % n_lines
            d = np.where(lines >= 0, (lines - u) % n_lines, big).min(axis=1)
            miss = demanded & (d >= active)
            miss[: e + 1] = False
            if not miss.any():
                return k_tot, u
            e = int(np.argmax(miss))

    return resolve


def _table_pos(ring: _Ring, before=None):
    """``ring.pos`` (then ``before[...]`` for a ring with -1 taps) with a per-diagonal table: same values, fewer ops."""
    M, N, r0, Nv = ring.M, ring.N, ring.r0, ring.Nv
    D = np.arange(M + N, dtype=np.int64)
    start = _tri(D, M, N) - _tri(D - r0 - Nv, M - r0, N - Nv)

    def pos(r, c):
        d = r + c
        lo = np.maximum(r + 1, d - N + 1)
        hi = np.minimum(d, M - 1)
        same = np.maximum(0, hi - lo + 1)
        if r0 < M:
            same = same - np.maximum(0, np.minimum(hi, d - Nv) - np.maximum(lo, r0) + 1)
        p = start[d] + same
        return p if before is None else before[p]

    return pos


_PosFn = Callable[[Any, Any], Any]  # (ring row(s), column(s)) -> valid ring position(s) before that entry


class _StreamedIfmapReplay:
    """Element-level replay, with im2col copies, of the OS/WS ifmap folds of one ring (see :func:`_streamed_ifmap_resolver`).

    Holds the ring/window geometry and the caches shared by all folds of one layer: per-width
    anti-diagonal tables, per-block diagonal-start positions and last lines, the adaptive chunk
    length and copy-offset order, and the memo of replayed (block, window) pairs.
    """

    def __init__(self, dataflow: str, T: int, rows: int, rf: int, nv: int, geo: ConvGeometry, pos_of_raw: _PosFn,
                 c0: Any, n_lines: int, active: int, prefetch: int, eps: int) -> None:
        self.dataflow, self.T, self.rows, self.rf, self.nv, self.geo = dataflow, T, rows, rf, nv, geo
        self.pos_of_raw = pos_of_raw
        self.n_lines, self.active, self.prefetch, self.eps = n_lines, active, prefetch, eps
        s_, R, S = geo.stride, geo.R, geo.S
        # copies of tap (cr, cc): tap rows cr % s + a * s, columns cc % s + b * s (same input pixel)
        ja, jb = (x.ravel() for x in np.meshgrid(np.arange(-(-R // s_)), np.arange(-(-S // s_)), indexing="ij"))
        self.ja: np.ndarray = ja
        self.jb: np.ndarray = jb
        self.starts: list[int] = np.asarray(c0).tolist()
        self.big = np.int64(1) << 40
        self.tabs: dict[int, np.ndarray] = {}
        self.dpos: dict[int, np.ndarray] = {}
        self.last_line: dict[int, int] = {}
        self.run_chunk = 256  # first chunk of a run outside the window: 1.25 x the last run to a miss
        self.order: np.ndarray = np.arange(len(ja))  # copy offsets, the one that hit most in the last chunk first
        self.memo: dict[tuple[int, int], tuple[int, int, list[tuple[int, int]]]] = {}

    def diag_tab(self, w: int) -> np.ndarray:
        """Entries before each local anti-diagonal of a ``T x w`` block (cached per width)."""
        if w not in self.tabs:
            self.tabs[w] = _tri(np.arange(self.T + w, dtype=np.int64), self.T, w)
        return self.tabs[w]

    def local_rc(self, n: Any, w: int) -> tuple[Any, Any]:
        """(block row, column) of block entry(ies) ``n`` in diagonal order, higher row first."""
        tab = self.diag_tab(w)
        dl = np.searchsorted(tab, n, side="right") - 1
        r = np.minimum(dl, self.T - 1) - (n - tab[dl])
        return r, dl - r

    def pos(self, fr: int, n: Any, w: int) -> Any:
        """Valid ring entries before block entry(ies) ``n`` of row-fold block ``fr`` (monotone in ``n``)."""
        r, c = self.local_rc(n, w)
        return self.pos_of_raw(fr * self.T + r, c)

    def first_at_or_after(self, fr: int, w: int, p: int) -> int:
        """First block index with position >= p (T*w if none), via the positions of each diagonal's first entry."""
        if fr not in self.dpos:
            tab = self.diag_tab(w)[:-1]
            self.dpos[fr] = self.pos(fr, tab, w)
        tab = self.diag_tab(w)
        dl = int(np.searchsorted(self.dpos[fr], p, side="left"))  # first diagonal starting at >= p
        if dl == 0:
            return 0
        n = np.arange(tab[dl - 1], tab[dl], dtype=np.int64)
        ok = self.pos(fr, n, w) >= p
        return int(n[int(np.argmax(ok))]) if ok.any() else int(tab[dl])

    def ring_line(self, pix: Any, tap: Any) -> Any:
        """Ring line of ifmap operand entry(ies) (pixel, tap)."""
        if self.dataflow == "os":
            fr2, col2 = np.divmod(pix, self.rows)
            return self.pos_of_raw(fr2 * self.T + tap, col2) // self.eps
        fr2, col2 = np.divmod(tap, self.rows)
        return self.pos_of_raw(fr2 * self.T + pix, col2) // self.eps

    def copy_line_dist(self, grp: np.ndarray, oh: np.ndarray, ow: np.ndarray, cr: np.ndarray, cc: np.ndarray,
                       ch: np.ndarray, u: int) -> np.ndarray:
        """Window distance of each candidate entry's copies at copy offsets ``grp`` (candidates x offsets).

        The entry at output pixel (oh, ow), tap (cr, cc, ch) has a copy at tap rows ``cr % s + a*s``,
        columns ``cc % s + b*s`` (offset (a, b) = (ja, jb)[grp]) of the output pixel shifted to keep
        the input pixel; offsets that leave the filter or the output get distance ``big`` (never inside).
        """
        s_, R, S, C, Hout, Wout = self.geo.stride, self.geo.R, self.geo.S, self.geo.C, self.geo.Hout, self.geo.Wout
        a_, b_ = self.ja[grp], self.jb[grp]
        cr_, cc_ = cr[:, None], cc[:, None]
        cr2 = cr_ % s_ + a_ * s_
        cc2 = cc_ % s_ + b_ * s_
        oh2 = oh[:, None] + (cr_ - cr2) // s_
        ow2 = ow[:, None] + (cc_ - cc2) // s_
        ok = (cr2 < R) & (cc2 < S) & (oh2 >= 0) & (oh2 < Hout) & (ow2 >= 0) & (ow2 < Wout)
        lines = self.ring_line(np.where(ok, oh2 * Wout + ow2, 0), np.where(ok, cr2 * S * C + cc2 * C + ch[:, None], 0))
        return np.where(ok, (lines - u) % self.n_lines, self.big)

    def copy_dist(self, fr: int, n: np.ndarray, w: int, u: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(demanded, min window distance over the copies' lines, own distance, diagonal) of block entries n.

        Only entries whose own line is outside the window are checked: first against the copy
        offset (tap row, tap column) that hit most in the last chunk, then the rest against all
        other offsets at once, so a long run of hits costs about one copy per entry. ``d`` is
        exact for the entries that miss (the only ones it is used for), < ``active`` for the others.
        """
        geo, active = self.geo, self.active
        r, c = self.local_rc(n, w)
        if self.dataflow == "os":
            tap, pix = r, fr * self.rows + c
        else:
            pix, tap = r, fr * self.rows + c
        oh, ow = np.divmod(pix, geo.Wout)
        cr, rem = np.divmod(tap, geo.S * geo.C)
        cc, ch = np.divmod(rem, geo.C)
        demanded = (oh * geo.stride + cr < geo.H) & (ow * geo.stride + cc < geo.W)
        own = (self.ring_line(pix, tap) - u) % self.n_lines
        d = own.copy()
        cand = np.nonzero(demanded & (own >= active))[0]
        order = self.order
        for grp in (order[:1], order[1:]):  # the copy offset that hit most last time first, then the rest at once
            if not len(cand):
                break
            if not len(grp):
                continue
            dd = self.copy_line_dist(grp, oh[cand], ow[cand], cr[cand], cc[cand], ch[cand], u)
            if len(grp) > 1:
                hits = (dd < active).sum(axis=0)
                if hits.max() > 0:
                    self.order = np.concatenate((grp[np.argsort(-hits, kind="stable")], order[:1]))
            d[cand] = np.minimum(d[cand], dd.min(axis=1))
            cand = cand[d[cand] >= active]
        return demanded, d, own, r + c

    def resolve(self, i: int, u: int) -> tuple[int, int, list[tuple[int, int]]]:
        """Fold ``i`` from window ``u``; the same block from the same window repeats (column folds): memoised.

        Returns (slides, window after the fold, [(stall-free cycle, slides) per miss]).
        """
        key = (i % self.rf, u)
        if key not in self.memo:
            self.memo[key] = self.replay_block(i % self.rf, u)
        k_tot, u_out, rel = self.memo[key]
        return k_tot, u_out, [(self.starts[i] + dg, k) for dg, k in rel]

    def own_distance(self, fr: int, n: int, w: int, u: int) -> int:
        """Window distance (in lines, round the ring from window start ``u``) of block entry ``n``'s own line."""
        return (int(self.pos(fr, np.int64(n), w)) // self.eps - u) % self.n_lines

    def skip_to_window_top(self, fr: int, w: int, u: int, n: int, own_next: int) -> int | None:
        """Next block entry to check after entry ``n`` whose own line is inside the window.

        Entries up to the window top hit, so this is the first entry positioned at or past the top
        (at least ``n + 1``); None when the window top wraps past the ring end (the rest of the
        block hits).
        """
        n_lines = self.n_lines
        line = (u + own_next) % n_lines
        top = u + self.active if line >= u else u + self.active - n_lines
        if top >= n_lines:
            return None
        return max(n + 1, self.first_at_or_after(fr, w, top * self.eps))

    def slide_at_top_is_certain(self, fr: int, N: int, w: int, u: int) -> bool:
        """Whether block ``fr`` (``N`` entries) still ends more than a prefetch past the window top.

        Then, in a forward run past the top, the next slide is certain (copies only delay it, by less
        than a prefetch), so it can be taken at the first entry past the top without replaying copies.
        """
        if fr not in self.last_line:
            self.last_line[fr] = int(self.pos(fr, np.int64(N - 1), w)) // self.eps
        return (self.last_line[fr] - u) % self.n_lines >= self.active + self.prefetch

    def replay_block(self, fr: int, u: int) -> tuple[int, int, list[tuple[int, int]]]:
        """Replay row-fold block ``fr`` from window ``u``: (slides, window after, [(diagonal, slides) per miss])."""
        active, prefetch, n_lines = self.active, self.prefetch, self.n_lines
        w = self.nv if fr == self.rf - 1 else self.rows
        N = self.T * w
        n, k_tot = 0, 0
        misses: list[tuple[int, int]] = []
        chunk: int | None = None
        run_start = 0
        forward = False  # n follows entries inside the window
        own_next: int | None = None  # own window distance of entry n, when known
        while n < N:
            if own_next is None:
                own_next = self.own_distance(fr, n, w, u)
            if own_next < active:  # own line inside: hits up to the window top
                nxt = self.skip_to_window_top(fr, w, u, n, own_next)
                if nxt is None:
                    break
                n = nxt
                own_next = chunk = None
                forward = True
                continue
            if forward and n > 0 and self.slide_at_top_is_certain(fr, N, w, u):
                # past the window top in a forward run: while the fold goes on for more than a
                # prefetch beyond it, slide at the first entry past the top and jump to the new top;
                # the last band (and fold starts) are replayed entry by entry with copies.
                r_, c_ = self.local_rc(np.int64(n), w)
                k_tot += 1
                misses.append((int(r_ + c_), 1))
                u = (u + prefetch) % n_lines
                own_next = None
                continue
            if chunk is None:  # a run of entries outside the window by position: first chunk as long as the last run
                chunk, run_start = self.run_chunk, n
            idx = np.arange(n, min(N, n + chunk), dtype=np.int64)
            demanded, d, own, diag = self.copy_dist(fr, idx, w, u)
            miss = demanded & (d >= active)
            if not miss.any():
                n = int(idx[-1]) + 1
                own_next = None
                chunk *= 2
                continue
            m = int(np.argmax(miss))
            k = int(-(-(int(d[m]) - active + 1) // prefetch))
            k_tot += k
            u = (u + k * prefetch) % n_lines
            misses.append((int(diag[m]), k))
            n = int(idx[m]) + 1
            run = n - run_start
            self.run_chunk = max(256, run + run // 4)
            own_next = int((own[m + 1] - k * prefetch) % n_lines) if m + 1 < len(idx) else None
            chunk = None
            forward = bool(own[m] < active + prefetch)  # a miss just past the top: a forward run goes on
        return k_tot, u, misses


def _streamed_ifmap_resolver(dataflow: str, T: int, rows: int, rf: int, nv: int, geo: ConvGeometry, pos_of_raw: _PosFn,
                             c0: Any, n_lines: int, active: int, prefetch: int,
                             eps: int) -> Callable[[int, int], tuple[int, int, list[tuple[int, int]]]]:
    """Element-level replay, with im2col copies, of one OS/WS ifmap fold (a skewed block of the ring).

    Fold ``i`` streams block ``i % rf`` (``T`` ring rows by ``rows`` columns, ``nv`` for the last
    block) along its anti-diagonals, higher row first: the block's entries in ring order. An entry
    whose own line is inside the window hits, so runs of those are skipped with a search on the
    (monotone) positions; only entries whose own line is outside are checked element by element
    for a copy of their address in the window (OS: ring rows = taps, columns = pixels of the row
    fold; WS: ring rows = pixels, columns = taps of the row fold). Returns ``(k, u, misses)`` with
    each miss at its stall-free cycle ``c0[i] + diagonal``. Cost: O(misses x chunk), not O(entries);
    a block replayed from a window position seen before (the next column fold) is memoised.
    The steps are the methods of :class:`_StreamedIfmapReplay`.
    """
    return _StreamedIfmapReplay(dataflow, T, rows, rf, nv, geo, pos_of_raw, c0, n_lines, active, prefetch, eps).resolve


def _diagonal_cycle(ring: _Ring, seg_row, c0, c1, eps: int, raw: "_Ring | None" = None, before=None):
    """``seg_cycle(i, line)`` for :func:`ring_slides` on a diagonal ring: when fold ``i`` first demands ``line``.

    Fold ``i`` (block rows from ``seg_row[i]``) demands its part of global anti-diagonal
    ``seg_row[i] + k`` at cycle ``c0[i] + k``. Within a diagonal the ring holds higher rows first,
    so the entries of the previous block (rows < seg_row[i]) come after this fold's; a line
    starting there is first demanded on the next diagonal. ``raw``/``before``: the ring has
    -1 taps; positions count valid entries (``before[raw position]``).
    """
    D = np.arange(ring.M + ring.N, dtype=np.int64)
    if raw is not None:
        diag_start = before[_tri(D, raw.M, raw.N)]  # valid entries in diagonals < D

        def pos_after(r, c):  # valid entries up to and including (r, c)
            return int(before[int(raw.pos(r, c)) + 1])
    else:
        diag_start = _tri(D, ring.M, ring.N) - _tri(D - ring.r0 - ring.Nv, ring.M - ring.r0, ring.N - ring.Nv)

        def pos_after(r, c):
            return int(ring.pos(r, c)) + 1
    rows0, starts, lens = np.asarray(seg_row).tolist(), np.asarray(c0).tolist(), np.asarray(c1 - c0).tolist()
    n_diag = len(D)

    def seg_cycle(i, line):
        p = line * eps
        d = int(np.searchsorted(diag_start, p, side="right")) - 1
        r0 = rows0[i]
        if 0 < d - r0 + 1 <= ring.N - 1 and r0 > 0 and d + 1 < n_diag and p >= pos_after(r0, d - r0):
            d += 1  # past this fold's entries of diagonal d: its next demand is diagonal d + 1
        return starts[i] + min(max(d - r0, 0), lens[i])

    return seg_cycle


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
                             sram_words: int, bandwidth_words: int, active_fraction: float = 0.5,
                             conv: "ConvGeometry | None" = None) -> ScaleSimTraffic:
    """SCALE-Sim's DRAM reads for ``operand`` ("ifmap"/"filter") of one layer (one group).

    Args:
        Sr, Sc, T: SCALE-Sim's spatial rows/cols and temporal size for ``dataflow``.
        rows, cols: array shape; sram_words: that operand's whole scratchpad in words.
        bandwidth_words: DRAM words/cycle of the stream (SCALE-Sim USER mode; integer).
        conv: the conv's geometry, for ifmap taps past the input edge (None: GEMM, or no such taps).
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
    ring, (ra, ca), (re_, ce), c0, c1 = _segments(operand, dataflow, int(Sr), int(Sc), int(T), int(rows), int(cols))
    if operand == "ifmap" and conv is not None and conv.has_invalid_taps:
        raw, before = _ifmap_valid_before(ring, dataflow, int(Sr), int(T), int(rows), int(cols), conv)
        a, e = before[raw.pos(ra, ca)], before[raw.pos(re_, ce)]
        valid = int(before[-1])
        line_of_raw = lambda r, c: before[raw.pos(r, c)] // eps  # noqa: E731
        ring_has_gaps = True
    else:
        ring_has_gaps = False
        a, e, valid = ring.pos(ra, ca), ring.pos(re_, ce), ring.valid
        line_of_raw = lambda r, c: ring.pos(r, c) // eps  # noqa: E731
    n_lines = valid // eps + 1
    active = min(-(-act_w // eps), n_lines)
    prefetch = min(-(-pre_w // eps), n_lines - active)
    resolve = None
    if (operand, dataflow) == ("ifmap", "is") and conv is not None and prefetch > 0:
        resolve = _is_ifmap_resolver(ring, int(Sr), int(cols), conv, line_of_raw, ra, ce + 1, n_lines, active, prefetch)
    elif operand == "ifmap" and dataflow in ("os", "ws") and conv is not None and prefetch > 0 and (
            conv.has_copies or ring_has_gaps):  # by position alone a fold whose end taps are -1 can cross a line
        pos_of_raw = _table_pos(raw, before) if ring_has_gaps else _table_pos(ring)
        resolve = _streamed_ifmap_resolver(dataflow, int(T), int(rows), -(-int(Sr) // int(rows)), int(ring.Nv), conv,
                                           pos_of_raw, c0, n_lines, active, prefetch, eps)
    seg_cycle = None
    if ring.diagonal:
        seg_cycle = _diagonal_cycle(ring, ra, c0, c1, eps, *((raw, before) if ring_has_gaps else (None, None)))
    slides, ev = ring_slides(a // eps, e // eps, n_lines, active, prefetch, c0, c1, resolve, seg_cycle)
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


def scalesim_stall_cycles(*operands: ScaleSimTraffic, ofmap: "OfmapWrites | None" = None,
                          log: "list | None" = None) -> int:
    """SCALE-Sim's stall cycles, replayed at the misses only (not cycle by cycle).

    Mirrors ``double_buffered_scratchpad.service_memory_requests`` and
    ``read_buffer.service_reads``/``new_prefetch``: each operand's DRAM fetches queue back to
    back (fetch n completes at ``1 + n * cycles_per_slide``, whenever it was asked for); at a
    miss on demand line ``c`` (array time ``c + stall``) each slide adds
    ``p = done - (c + stall + offset)`` to the line's offset (twice when positive, as SCALE-Sim
    does), and that operand waits offset - 1 (negative when the fetch was early).

    ``ofmap`` (:func:`accel.devices.systolic.scalesim_ofmap.scalesim_ofmap_writes`; its buffer state is reset
    here and left as at the end): the ofmap write buffer's waits, replayed at the lines where it
    drains or is full. SCALE-Sim stalls each line by the largest of the three buffers' waits
    (never below 0), all computed at the same array time, so a read stall lets drains
    progress and a write stall lets fetches catch up; the sum is the line by line maximum,
    not the maximum of separate totals. ``log``: if a list, gets ``(line, read wait, ofmap wait)``
    per replayed line (for comparing with a SCALE-Sim trace).
    """
    lines: dict[int, list[tuple[int, int, int]]] = {}
    for i, op in enumerate(operands):
        for c, k in op.events:
            lines.setdefault(c, []).append((i, k, op.cycles_per_slide))
    done = [1] * len(operands)
    stall = 0.0
    if ofmap is not None:
        ofmap.reset()
    read_lines = sorted(lines)
    j = 0
    c_lo = 0  # lines before c_lo are done
    while True:
        c_read = read_lines[j] if j < len(read_lines) else None
        c_ofm = ofmap.next_event_line(c_lo, stall) if ofmap is not None else None
        if ofmap is not None and c_ofm is not None and c_ofm >= ofmap.lines:
            c_ofm = None
        if c_read is None and c_ofm is None:
            break
        c = min(x for x in (c_read, c_ofm) if x is not None)
        worst = 0.0
        if c == c_read:
            j += 1
            per_op: dict[int, float] = {}
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
        read_wait = worst
        if ofmap is not None and c < ofmap.lines:
            worst = max(worst, ofmap.service_line(c, stall))
        if log is not None:
            log.append((c, read_wait, worst))
        stall += worst
        c_lo = c + 1
    return int(round(stall))
