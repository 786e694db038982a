"""SCALE-Sim v3's ofmap write buffer, event by event (no cycle simulation).

SCALE-Sim's systolic array writes its ofmap demand matrix one line per cycle; each fold is
``gap`` empty lines followed by a ``data_rows x width`` block skewed one line per column
(``skew_matrix``), so line ``k`` of a fold writes ``#{j < width : a <= k - j < b}`` words.
:class:`OfmapWrites` holds that schedule as cumulative counts (per fold type, a few arrays of
one fold's length) and answers "how many words before line c" and "which line writes word n".

``scalesim/memory/write_buffer.py`` (``service_writes``) then, per written word ``n``
(1-based, at array time ``t``): while a drain is in flight (``t < drain_end``) the array stalls
until ``drain_end`` if the buffer is full (``Cw - n + credited <= 0``); otherwise once more than
``drain`` words are held (``n - credited > drain``) a drain of ``ceil(drain/bw)`` DRAM lines
starts at ``t``, credits ``lines*bw`` words at once (less the -1 padding of its last line: the
words written since the previous drain start are flushed as full lines plus one padded partial
line) and ends at ``t + lines - 1`` (write latency 0).
:meth:`OfmapWrites.next_event_line` / :meth:`OfmapWrites.service_line` replay that at the lines
where something happens; :func:`accel.devices.systolic.scalesim_replay.scalesim_stall_cycles` interleaves
them with the read misses (SCALE-Sim stalls each line by the max of the three buffers' waits).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OfmapWrites", "scalesim_ofmap_writes"]

_INF = 1 << 62


@dataclass
class OfmapWrites:
    """One layer's ofmap writes (SCALE-Sim demand-matrix order) and its write-buffer state.

    Attributes:
        fold_type: per fold, index into ``local_cum`` (folds in SCALE-Sim order).
        local_cum: per fold type, words written before local line k (length fold_len + 1).
        fold_len: lines (cycles) per fold.
        size_words: ofmap scratchpad (words); drain_words: its drain half (words).
        bandwidth_words: DRAM write words/cycle.
    """

    fold_type: np.ndarray = field(repr=False)
    local_cum: list = field(repr=False)
    fold_len: int
    size_words: int
    drain_words: int
    bandwidth_words: int
    fold_start: np.ndarray = field(init=False, repr=False)  # words written before each fold (+ total)
    credited: int = field(init=False, default=0)
    drain_end: float = field(init=False, default=0.0)
    _flushed: int = field(init=False, default=0)  # words moved into the DRAM-line trace so far
    _trace_lines: int = field(init=False, default=0)
    _drained_lines: int = field(init=False, default=0)
    _pad: dict = field(init=False, default_factory=dict, repr=False)  # trace line -> its -1 padding (partial lines)

    def __post_init__(self):
        per_fold = np.array([c[-1] for c in self.local_cum], dtype=np.int64)[self.fold_type]
        self.fold_start = np.concatenate(([0], np.cumsum(per_fold)))
        self.drain_lines = -(-self.drain_words // self.bandwidth_words)
        # plain lists: the replay does scalar look-ups (bisect), far cheaper than numpy scalars
        self._fs = self.fold_start.tolist()
        self._lc = [np.asarray(c).tolist() for c in self.local_cum]
        self._ft = np.asarray(self.fold_type).tolist()
        self._total = self._fs[-1]
        self._lines = len(self._ft) * self.fold_len

    def reset(self) -> None:
        """Empty buffer, no drain in flight (SCALE-Sim's state before the first line)."""
        self.credited, self.drain_end = 0, 0.0
        self._flushed = self._trace_lines = self._drained_lines = 0
        self._pad = {}

    @property
    def total_words(self) -> int:
        return self._total

    @property
    def lines(self) -> int:
        return self._lines

    def words_before(self, c: int) -> int:
        """Words written in lines < c."""
        if c >= self._lines:
            return self._total
        f, k = divmod(int(c), self.fold_len)
        return self._fs[f] + self._lc[self._ft[f]][k]

    def line_of(self, n: int) -> int:
        """The line writing the n-th word (1-based); a huge number when n > total."""
        if n > self._total:
            return _INF
        n = max(int(n), 1)
        f = bisect_left(self._fs, n) - 1
        k = bisect_left(self._lc[self._ft[f]], n - self._fs[f]) - 1
        return f * self.fold_len + k

    def next_event_line(self, c_lo: int, stall: float) -> int:
        """First line >= c_lo at which the buffer stalls or starts a drain (array time = line + stall)."""
        first = self.words_before(c_lo) + 1
        full = self.line_of(max(self.size_words + self.credited, first))
        l0 = max(c_lo, int(math.ceil(self.drain_end - stall)))
        drain = self.line_of(max(self.credited + self.drain_words + 1, self.words_before(l0) + 1))
        return min(full, drain)

    def service_line(self, c: int, stall: float) -> float:
        """Write line c at array time ``c + stall``; returns the ofmap stall of the line (>= 0)."""
        lo, hi = self.words_before(c) + 1, self.words_before(c + 1)
        current = c + stall
        start = lo
        wait = 0.0
        while start <= hi:
            if current < self.drain_end:
                n1 = max(start, self.size_words + self.credited)
                if n1 > hi:
                    break
                wait += self.drain_end - current
                current = self.drain_end
                start = n1 + 1
            else:
                n2 = max(start, self.credited + self.drain_words + 1)
                if n2 > hi:
                    break
                lines = self._drain(n2)
                self.drain_end = current + lines - 1
                start = n2 + 1
        return wait


    def _drain(self, n: int) -> int:
        """Start a drain after word n: flush the written words into DRAM lines, drain a chunk.

        As ``write_buffer.empty_drain_buf``: the words since the last flush become full lines of
        ``bw`` plus one -1-padded partial line; the chunk is the next ``drain_lines`` lines (fewer
        if the trace is shorter) and credits ``lines * bw`` words less the padding of its last line.
        Returns the chunk's lines (the drain takes that many cycles).
        """
        bw = self.bandwidth_words
        full, rem = divmod(n - self._flushed, bw)
        if rem:
            self._pad[self._trace_lines + full] = bw - rem
        self._trace_lines += full + (1 if rem else 0)
        self._flushed = n
        lines = min(self.drain_lines, self._trace_lines - self._drained_lines)
        last = self._drained_lines + lines - 1
        self.credited += lines * bw - self._pad.pop(last, 0)
        self._drained_lines += lines
        return lines


def _fold_cum(fold_len: int, width: int, a: int, b: int) -> np.ndarray:
    """Cumulative writes of one fold: line k writes #{j < width : a <= k - j < b}."""
    k = np.arange(fold_len, dtype=np.int64)
    w = np.clip(np.minimum(width - 1, k - a) - np.maximum(0, k - b + 1) + 1, 0, None)
    return np.concatenate(([0], np.cumsum(w)))


def scalesim_ofmap_writes(dataflow: str, Sr: int, Sc: int, T: int, rows: int, cols: int, sram_words: int,
                          bandwidth_words: int, active_fraction: float = 0.5) -> OfmapWrites:
    """SCALE-Sim's ofmap write schedule (``create_ofmap_demand_mat`` of compute/systolic_compute_*.py).

    Folds run column folds outer, row folds inner. OS: ``T - 1`` gap lines, then the fold's
    ``rows`` output rows flipped (padding rows first) x used columns; WS/IS: ``2*rows - 1`` gap
    lines, then ``T`` lines x used columns (every fold writes its partial sums).
    """
    if dataflow not in ("os", "ws", "is"):
        raise ValueError(f"unknown dataflow {dataflow!r}; allowed: os, ws, is")
    bw = int(bandwidth_words)
    if bw < 1 or bw != bandwidth_words:
        raise ValueError(f"bandwidth_words must be a positive integer (SCALE-Sim words/cycle), got {bandwidth_words}")
    rf, cf = -(-Sr // rows), -(-Sc // cols)
    last_w, last_r = Sc - (cf - 1) * cols, Sr - (rf - 1) * rows
    fc, fr = np.divmod(np.arange(rf * cf, dtype=np.int64), rf)
    last_c = (fc == cf - 1).astype(np.int64)
    if dataflow == "os":
        fold_len = T + rows + cols - 2
        local = [_fold_cum(fold_len, w, T - 1 + rows - r, T - 1 + rows)
                 for w in (cols, last_w) for r in (rows, last_r)]
        fold_type = 2 * last_c + (fr == rf - 1)
    else:
        fold_len = T + 2 * rows + cols - 2
        local = [_fold_cum(fold_len, w, 2 * rows - 1, 2 * rows - 1 + T) for w in (cols, last_w)]
        fold_type = last_c
    total = int(sram_words)
    drain = total - int(math.ceil(total * round(active_fraction, 2)))
    if drain < 1:
        raise ValueError(f"ofmap scratchpad of {sram_words} words with active fraction {active_fraction} leaves no "
                         "drain half; need sram_words * (1 - active_fraction) >= 1")
    return OfmapWrites(fold_type=fold_type, local_cum=local, fold_len=fold_len,
                       size_words=total, drain_words=drain, bandwidth_words=bw)
