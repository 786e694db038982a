"""CPU cost model: SIMD-FMA roofline over a cache hierarchy, with thread count and framework overhead.

Everything comes from :class:`accel.arch.cpu.CpuSpec` (datasheet numbers plus ``calibration:``).

* GEMM-like ops (matmul, conv as im2col GEMM, attention): compute time
  ``flops / (peak(threads) * gemm_efficiency [* parallel_efficiency if threads > 1])``; traffic per
  cache level from cache blocking: a level of capacity ``C`` holding square blocks of A, B and C sees
  ``max(compulsory, 2*M*N*K*elem / sqrt(C / (3*elem)))`` bytes from the level below; time is the max
  of compute and every level's bytes over that level's bandwidth at this thread count.
* ``rnn``: per layer an input-projection GEMM plus ``seq`` dependent recurrent-step GEMMs, each its own
  roofline, summed (no overlap across the sequential dependency), each step paying ``parallel_overhead``
  when multi-threaded; ``W_hh`` from DRAM once, then from the cache level that holds it.
* streaming ops: every byte once, served by the smallest level that holds the working set (the
  producer just wrote it), or DRAM. Direct (depthwise) convolutions use ``depthwise_efficiency`` of
  the SIMD peak when given, else ``elementwise_efficiency``. Multi-threaded, a streaming op (not an
  explicit copy) also moves its bytes at ``handoff_bandwidth`` when given: the activation the
  previous op's threads wrote sits in other cores' private caches (an extra roofline level).
* every op pays ``op_overhead`` (eager framework dispatch) and, multi-threaded, ``parallel_overhead``;
  both are inside ``time_s`` because on a CPU they occupy the same cores (``launch_overhead_s`` is 0).
"""

from __future__ import annotations

import math

from accel.arch.cpu import CacheLevel, CpuSpec
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.roofs import Roofs, ghz
from accel.devices.gpu import rnn_shape, streamed_bytes
from accel.energy import op_energy
from accel.errors import ConfigError, UnknownOpError
from accel.graph import OP_KINDS, STREAMING_KINDS, AttentionShape, ConvShape, GemmShape, OpNode, dtype_bytes

SUPPORTED_KINDS: tuple[str, ...] = OP_KINDS
_MEMORY_KINDS = STREAMING_KINDS


@register_cost_model("cpu")
class CpuCostModel(CostModel):
    """Analytical multicore CPU cost model (see module docstring). ``spec`` is a :class:`CpuSpec`."""

    spec: CpuSpec

    def __init__(self, spec: CpuSpec):
        if not isinstance(spec, CpuSpec):
            raise TypeError(f"CpuCostModel needs a CpuSpec, got {type(spec).__name__}")
        super().__init__(spec)
        self._file = spec.origin or spec.name

    @property
    def launch_overhead_s(self) -> float:
        """0: the CPU's per-op framework overhead is already part of each op's ``time_s``."""
        return 0.0

    def roofs(self) -> Roofs:
        """``peak_flops(d)`` = active cores x (simd_bits/32) x 2 x fma_units x dtype_rate[d] x SIMD clock at
        ``threads``; DRAM. Model ceiling x ``gemm_efficiency`` (x ``parallel_efficiency`` with more than one
        thread)."""
        spec = self.spec
        roofs = Roofs(spec.name, {}, {"DRAM": spec.dram_bandwidth})
        cal = spec.calibration
        for d in spec.dtype_rate:
            roofs.peaks[d] = spec.peak_flops(d)
            roofs.peak_notes[d] = (f"{spec.active_cores} cores x {spec.simd_bits}-bit SIMD x {spec.fma_units} FMA"
                                   f" x {ghz(spec.clock_for())}")
            eff = cal.gemm_efficiency * (cal.parallel_efficiency if spec.threads > 1 else 1.0)
            roofs.add_model_ceiling(d, roofs.peaks[d] * eff, [f"GEMM efficiency {eff:.3g}"] if eff < 1 else [])
        return roofs

    # ------------------------------------------------------------------ public
    def cost(self, op: OpNode) -> OpCost:
        kind = op.kind
        if kind == "matmul":
            g = GemmShape.of(op)
            return self._gemm(op, g.M, g.N, g.K, g.batch)
        if kind in ("conv", "conv_transpose"):
            return self._conv(op)
        if kind == "attention":
            at = AttentionShape.of(op)
            # QK^T and PV as batched GEMMs (materialised scores: the CPU SDPA path is not fused)
            return self._gemm(op, at.Lq, at.Lk, at.d, at.batch * at.heads, extra_gemms=1, frac=0.5 if at.causal else 1.0)
        if kind == "rnn":
            return self._rnn(op)
        if kind in _MEMORY_KINDS:
            return self._stream(op)
        raise UnknownOpError(kind, self.spec.name, SUPPORTED_KINDS)

    # ------------------------------------------------------------------ helpers
    def _dtype_key(self, dtype: str) -> str:
        """``dtype_rate`` entry that runs ``dtype``: itself; ``fp8`` for ``fp8_e4m3``/``fp8_e5m2``;
        ``fp32`` for ``tf32`` (a CUDA math mode: on a CPU PyTorch computes those ops in fp32)."""
        if dtype in self.spec.dtype_rate:
            return dtype
        if dtype.startswith("fp8") and "fp8" in self.spec.dtype_rate:
            return "fp8"
        if dtype == "tf32":
            return "fp32"
        raise ConfigError(self._file, f"dtype_rate.{dtype}",
                          f"dtype {dtype!r} not supported by {self.spec.name}; supported: {', '.join(self.spec.dtype_rate)}")

    def _rate(self, dtype: str) -> float:
        return self.spec.peak_flops(self._dtype_key(dtype))

    @property
    def _threads(self) -> int:
        return self.spec.threads

    def _overhead(self) -> float:
        cal = self.spec.calibration
        return cal.op_overhead + (cal.parallel_overhead if self._threads > 1 else 0.0)

    def _level_bw(self, c: CacheLevel) -> float:
        cores = self.spec.active_cores
        bw = cores * c.bandwidth_per_core
        if c.shared and c.shared_bandwidth is not None:
            bw = min(bw, c.shared_bandwidth)
        return bw

    def _level_capacity(self, c: CacheLevel) -> float:
        return c.size if c.shared else c.size * self.spec.active_cores

    def _dram_bw(self) -> float:
        cal = self.spec.calibration
        return min(self.spec.dram_bandwidth * cal.dram_efficiency, self.spec.active_cores * cal.core_dram_bandwidth)

    def _level_times(self, compute_s: float, traffic: dict[str, float]) -> dict[str, float]:
        """Busy time of each resource: ``{"compute": compute_s, level: bytes / level bandwidth}`` (s)."""
        bws = {c.level: self._level_bw(c) for c in self.spec.caches}
        bws["dram"] = self._dram_bw()
        return {"compute": compute_s, **{level: b / bws[level] for level, b in traffic.items()}}

    def _finish(self, op: OpNode, compute_s: float, traffic: dict[str, float], flops: float, detail: dict,
                energy_dtype: str, handoff_s: float | None = None, busy_s: float | None = None) -> OpCost:
        """time = overhead + max(compute, bytes per level / bandwidth of the level[, cross-core
        handoff]). ``busy_s`` (dependent kernels run back to back, e.g. RNN steps): the busy time summed
        over those kernels, each its own roofline, instead of one roofline over the op's totals."""
        times = self._level_times(compute_s, traffic)
        if handoff_s is not None:
            times["handoff"] = handoff_s
        busy_key = max(times, key=lambda k: times[k])
        busy = times[busy_key]
        if busy_s is not None and busy_s > busy:
            busy = busy_s
        t = busy + self._overhead()
        clock = self.spec.clock_for()
        ekey = energy_dtype
        if ekey not in self.spec.energy.per_flop:  # tf32 -> fp32, fp8_e4m3 -> fp8; else the fp32 energy
            ekey = "fp32" if ekey == "tf32" or not ekey.startswith("fp8") else "fp8"
            if ekey not in self.spec.energy.per_flop:
                ekey = "fp32"
        e, parts = op_energy(self.spec.energy, ekey, flops, traffic, device=self._file)
        if busy < self._overhead():
            bound = "latency"
        else:
            bound = "compute" if busy_key == "compute" else "memory"
        peak = self.spec.peak_flops(ekey) if ekey in self.spec.dtype_rate else self.spec.peak_flops("fp32")
        util = min((op.flops / t) / peak, 1.0) if t > 0 else 0.0
        detail = {**detail, "threads": self._threads, "clock_hz": clock, "limiter": busy_key}
        return OpCost(time_s=t, cycles=t * clock, flops=flops, bytes_by_level=traffic, energy_j=e,
                      energy_by_component=parts, bound=bound, utilization=util, detail=detail)

    def _gemm_rate(self, dtype: str, derate: float = 1.0) -> float:
        """Achieved GEMM FLOP/s: peak x gemm_efficiency [x parallel_efficiency] x derate."""
        cal = self.spec.calibration
        return self._rate(dtype) * cal.gemm_efficiency * (cal.parallel_efficiency if self._threads > 1 else 1.0) * derate

    def _blocked_traffic(self, compulsory: float, macs: float, eb: float) -> dict[str, float]:
        """Bytes each level serves for a blocked GEMM of ``macs`` MACs: level i+1 (or DRAM) sees the
        misses of level i, ``max(compulsory, 2*macs*eb / sqrt(C_i / (3*eb)))`` if the compulsory bytes
        exceed its capacity ``C_i``, else the compulsory bytes; L1 serves ``2*macs*eb / 8`` (register
        blocking ~8 elements)."""
        traffic: dict[str, float] = {}
        levels = self.spec.caches
        for i, c in enumerate(levels):
            served_by = levels[i + 1].level if i + 1 < len(levels) else "dram"
            cap = self._level_capacity(c)
            block = math.sqrt(cap / (3 * eb))
            traffic[served_by] = max(compulsory, 2.0 * macs * eb / block) if compulsory > cap else compulsory
        traffic[levels[0].level] = max(compulsory, 2.0 * macs * eb / 8)
        return traffic

    def _gemm(self, op: OpNode, M: int, N: int, K: int, batch: int, extra_gemms: int = 0, frac: float = 1.0,
              repeats: int = 1, derate: float = 1.0) -> OpCost:
        eb = dtype_bytes(op.dtype)
        n_gemms = 1 + extra_gemms
        flops = 2.0 * M * N * K * batch * n_gemms * frac * repeats
        compute = flops / self._gemm_rate(op.dtype, derate)
        compulsory = float(op.total_bytes) or (M * K + K * N + M * N) * batch * eb
        traffic = self._blocked_traffic(compulsory, M * N * K * batch * n_gemms * frac * repeats, eb)
        return self._finish(op, compute, traffic, flops, {"path": "gemm", "M": M, "N": N, "K": K, "batch": batch},
                            op.dtype)

    def _rnn(self, op: OpNode) -> OpCost:
        """LSTM/GRU as its gate GEMMs plus the sequential dependency, per layer (directions together):

        - one GEMM projecting all time steps' inputs, ``(T*B) x (G*H*D) x K_in`` (``W_ih``);
        - then ``T`` dependent steps, each a GEMM ``B x (G*H) x H`` per direction (``W_hh``), which
          cannot overlap: the busy time is the sum of each kernel's own roofline (compute vs every
          level's bytes), and a multi-threaded step pays ``parallel_overhead`` (one fork/join per step).
          ``W_hh`` (+ the step's h and gates) comes from DRAM on the first step and from the
          cache level that holds it afterwards (DRAM every step if it fits in none).
        The op pays ``op_overhead`` once (one framework call). Without the shape attrs: streamed.
        """
        r = rnn_shape(op)
        if r is None:
            return self._stream(op, gemm_like=True)
        eb = dtype_bytes(op.dtype)
        rate = self._gemm_rate(op.dtype)
        H, G, B, T, D = r["hidden"], r["gates"], r["batch"], r["seq"], r["dirs"]
        sync = self.spec.calibration.parallel_overhead if self._threads > 1 else 0.0
        levels = [c.level for c in self.spec.caches] + ["dram"]
        traffic = {lv: 0.0 for lv in levels}
        busy = compute_total = flops = gemm_w = 0.0
        for layer in range(r["layers"]):
            k_in = r["input"] if layer == 0 else H * D
            w_ih, w_hh = k_in * G * H * D * eb, G * H * H * D * eb
            gemm_w += w_ih + w_hh
            proj_macs = float(T * B * G * H * D * k_in)
            proj = self._blocked_traffic(w_ih + T * B * (k_in + G * H * D) * eb, proj_macs, eb)
            step_macs = float(B * G * H * H * D)
            step_bytes = w_hh + B * (H + G * H) * D * eb
            first = self._blocked_traffic(step_bytes, step_macs, eb)
            # later steps: the level that holds the step's working set serves what DRAM served first
            home = next((c.level for c in self.spec.caches[1:] if step_bytes <= self._level_capacity(c)), "dram")
            later = dict(first)
            if home != "dram":
                later[home] = later.get(home, 0.0) + later["dram"]
                later["dram"] = 0.0
            for tr, n_k, macs in ((proj, 1, proj_macs), (first, 1, step_macs), (later, T - 1, step_macs)):
                if n_k <= 0:
                    continue
                c = 2.0 * macs / rate
                busy += n_k * max(self._level_times(c, tr).values())
                compute_total += n_k * c
                flops += n_k * 2.0 * macs
                for lv, b in tr.items():
                    traffic[lv] += n_k * b
            busy += T * sync
        rest = max(float(op.weight_bytes) - gemm_w, 0.0)  # biases: read once from DRAM
        traffic["dram"] += rest
        busy += self._level_times(0.0, {"dram": rest})["dram"]
        traffic = {lv: b for lv, b in traffic.items() if b > 0}
        return self._finish(op, compute_total, traffic, flops,
                            {"path": "rnn_steps", "steps": T * r["layers"], "w_hh_level": home}, op.dtype, busy_s=busy)

    def _conv(self, op: OpNode) -> OpCost:
        c = ConvShape.of(op)
        g, cin_g, cout_g = c.groups, c.cin_g, c.cout_g
        if g > 1 and min(cin_g, cout_g) < self.spec.calibration.direct_group_channels:
            return self._stream(op, gemm_like=True)
        if c.transposed:
            M, N, K = c.N * c.H * c.W, cout_g * c.R * c.S, cin_g
        else:
            M, N, K = c.N * c.Hout * c.Wout, cout_g, cin_g * c.R * c.S
        # convolution_backward: grad-input and grad-weight are each a GEMM with the forward's MACs
        grads = sum(c.output_mask[:2]) if c.output_mask is not None else 1
        return self._gemm(op, M, N, K, g, extra_gemms=max(grads, 1) - 1, derate=self.spec.calibration.conv_efficiency)

    def _stream(self, op: OpNode, gemm_like: bool = False) -> OpCost:
        """Streaming op: bytes once from the smallest level that holds the working set."""
        cal = self.spec.calibration
        nbytes = float(streamed_bytes(op))
        level = "dram"
        for c in self.spec.caches[1:] if len(self.spec.caches) > 1 else self.spec.caches:
            if nbytes <= self._level_capacity(c):
                level = c.level
                break
        eff = cal.elementwise_efficiency
        if op.kind in ("conv", "conv_transpose") and cal.depthwise_efficiency is not None:
            eff = cal.depthwise_efficiency
        rate = self.spec.peak_flops("fp32") * eff
        # convs: 2*MACs (torch's backward-conv FLOP formula ignores groups, see workloads/flops.py)
        flops = 2.0 * op.macs if op.kind in ("conv", "conv_transpose") and op.macs else op.flops
        compute = flops / rate
        handoff = None
        if (self._threads > 1 and cal.handoff_bandwidth is not None and not gemm_like
                and op.kind not in ("data_movement", "embedding")):
            handoff = nbytes / cal.handoff_bandwidth
        return self._finish(op, compute, {level: nbytes}, flops,
                            {"path": "direct" if gemm_like else "stream", "level": level}, op.dtype,
                            handoff_s=handoff)
