"""Cost model for FPGA PE-array accelerators (``kind: fpga``).

MAC ops (conv, matmul, attention as two matmuls) run on the design's ``pe_rows x pe_cols``
PE array: with ``mapping: systolic`` by the systolic closed form of :mod:`accel.devices.systolic`
(fold counts, fill/drain) for ``spec.dataflow``; with ``mapping: channel_unroll`` by the
loop-unrolled Tm x Tn engine of :mod:`accel.devices.fpga_mapping` (Tm = ``pe_cols`` output
channels, Tn = ``pe_rows`` input channels per cycle). The cycles are divided by ``spec.mac_efficiency`` (only the
losses the model does not count itself; 1.0 = none). The op's time is
``max(compute, compulsory bytes / dram_bandwidth)``: double-buffered tiles overlap DRAM with
compute, and an op's compulsory bytes (inputs + weights + outputs, see
:func:`accel.devices.gpu.streamed_bytes`; an embedding lookup reads only its indices and the
gathered rows) cross DRAM once. An ``rnn`` runs as its gate GEMMs, the T recurrent steps in series
(:meth:`FPGACostModel._rnn_cost`). For a fully connected layer of a
batch-``B`` graph this means the weight matrix is streamed once per batch and amortised over
``B`` images, so FC layers are DRAM bound at small batch (AlexNet's 234 MB of fp32 FC weights
take 13.8 ms at 17 GB/s) and the whole-network throughput depends on the batch.
Other ops stream through DRAM (memory bound), except kinds listed in ``spec.fused_kinds``,
which the design pipelines behind the PE array (zero extra time).

Fused nodes (``compile: fused``, the default for FPGA designs, :mod:`accel.compile`): a conv/matmul's
epilogue (bias, activation, residual add, pooling) runs in the output pipeline behind the PE array, so
it adds no compute time; the node's compulsory bytes are its external tensors (the residual it reads,
the last epilogue op's outputs), so the intermediate tensors no longer cross DRAM. A folded batch norm
leaves only a bias. A fused elementwise chain streams its external inputs and final outputs once.

Energy: ``board_power`` x time (the design's measured/rated power while running), reported as
the ``board`` component, minus ``idle_power`` x time which the simulator adds as static energy.
"""

from __future__ import annotations

from accel.arch.fpga import FPGASpec
from accel.compile import fused as fz
from accel.devices.base import CostModel, OpCost, register_cost_model
from accel.devices.fpga_mapping import channel_dims, channel_unroll_cycles
from accel.devices.gpu import streamed_bytes
from accel.devices.rnn_gemms import rnn_dram_bytes, rnn_gemms
from accel.devices.roofs import Roofs, ghz
from accel.devices.systolic import SystolicLayer, layers_cycles_np
from accel.graph import MAC_KINDS, OpNode, dtype_bytes

_MAC_KINDS = MAC_KINDS


def mac_layers(op: OpNode, convention: str = "op") -> list[SystolicLayer]:
    """The conv/GEMM layers an op runs on a PE array (attention = QK^T and PV per head; a conv
    backward = grad-input + grad-weight, :meth:`SystolicLayer.from_op_all`)."""
    if op.kind == "attention":
        a = op.attrs
        try:
            b, h, lq, lk, d = (int(a[k]) for k in ("batch", "heads", "Lq", "Lk", "d"))
        except KeyError as exc:
            raise ValueError(f"op {op.name!r} (attention): missing attr {exc.args[0]!r}") from None
        qk = SystolicLayer.gemm(op.name + "/qk", lq, lk, d)
        pv = SystolicLayer.gemm(op.name + "/pv", lq, d, lk)
        return [SystolicLayer(**{**qk.__dict__, "groups": b * h}), SystolicLayer(**{**pv.__dict__, "groups": b * h})]
    return SystolicLayer.from_op_all(op, convention)


@register_cost_model("fpga")
class FPGACostModel(CostModel):
    spec: FPGASpec
    default_compile = "fused"

    def peak_macs_per_s(self) -> float:
        """The design's PE-array peak (``design_peak_flops`` / 2)."""
        return float(self.spec.design_peak_flops) / 2.0

    @property
    def launch_overhead_s(self) -> float:
        """The spec's ``launch_overhead`` (s): host time to issue one op through the device's driver."""
        return float(self.spec.launch_overhead)

    def roofs(self) -> Roofs:
        """All DSP blocks busy, ``dsp_blocks x flops_per_dsp_cycle x clock``; DRAM. Model ceiling: the mapped PE
        array (``pe_rows x pe_cols x dsp_per_pe x flops_per_dsp_cycle x clock``) x ``mac_efficiency``."""
        spec = self.spec
        d = spec.dtype
        roofs = Roofs(spec.name, {d: spec.device_peak_flops}, {"DRAM": spec.dram_bandwidth},
                      peak_notes={d: f"{spec.dsp_blocks} DSPs x {spec.flops_per_dsp_cycle:g} FLOP x {ghz(spec.clock)}"})
        parts = [f"{spec.pe_rows}x{spec.pe_cols} PE design"]
        if spec.mac_efficiency < 1:
            parts.append(f"mac_efficiency {spec.mac_efficiency:g}")
        roofs.add_model_ceiling(d, spec.design_peak_flops * spec.mac_efficiency, parts)
        return roofs

    def _pe_cycles(self, ly: SystolicLayer) -> tuple[float, float]:
        """(PE-array compute cycles, MACs) of one conv/GEMM layer under ``spec.mapping``."""
        s = self.spec
        if s.mapping == "channel_unroll":
            return float(channel_unroll_cycles(ly, s.pe_cols, s.pe_rows)), float(channel_dims(ly).macs)
        r = layers_cycles_np(ly.px, ly.window, ly.K, s.pe_rows, s.pe_cols, s.dataflow, groups=ly.groups)
        return float(r["compute_cycles"]), float(r["macs"])

    def _rnn_cost(self, op: OpNode) -> OpCost:
        """Gate GEMMs (:mod:`accel.devices.rnn_gemms`) on the PE array: the projection, then T steps in
        series, each run ``max(PE cycles / (clock * mac_efficiency), its DRAM bytes / dram_bandwidth)``
        (double-buffered within a run, but run t+1 waits for h_t of run t); the pointwise gate math is pipelined behind the
        PE array like ``fused_kinds`` (no extra time). On-chip capacity: ``buffer_size``."""
        s = self.spec
        gemms = rnn_gemms(op)
        per = rnn_dram_bytes(op, dtype_bytes(op.dtype), s.buffer_size)
        time = compute_s = dram_s = macs = nbytes = 0.0
        for g, (first, later) in zip(gemms, per):
            cyc, m = self._pe_cycles(g.gemm)
            c = cyc / (s.clock * s.mac_efficiency)  # one run
            d1, d = first / s.dram_bandwidth, later / s.dram_bandwidth
            time += max(c, d1) + (g.repeats - 1) * max(c, d)  # run t+1 starts after run t
            compute_s += c * g.repeats
            dram_s += d1 + (g.repeats - 1) * d
            nbytes += first + (g.repeats - 1) * later
            macs += m * g.repeats
        return self._finish(time, compute_s, dram_s, 2.0 * macs, nbytes,
                            {"path": "rnn_steps", "steps": sum(g.repeats for g in gemms if g.step)})

    def _finish(self, time: float, compute_s: float, dram_s: float, flops: float, nbytes: float,
                detail: dict) -> OpCost:
        s = self.spec
        energy = max(s.board_power - s.idle_power, 0.0) * time
        return OpCost(time_s=time, cycles=time * s.clock, flops=flops, bytes_by_level={"dram": nbytes},
                      energy_j=energy, energy_by_component={"board": energy},
                      bound="compute" if compute_s >= dram_s else "memory",
                      utilization=flops / (s.design_peak_flops * time) if time else 0.0,
                      detail={"compute_s": compute_s, "dram_s": dram_s, **detail,
                              **{f"util_{k}": v for k, v in s.utilization().items()}})

    def cost(self, op: OpNode) -> OpCost:
        s = self.spec
        if fz.is_free(op, s.fused_kinds):
            return OpCost(time_s=0.0, cycles=0.0, flops=float(op.flops), bound="compute", detail={"fused": 1})
        if op.kind == "rnn":
            return self._rnn_cost(op)
        nbytes = float(streamed_bytes(op))
        dram_s = nbytes / s.dram_bandwidth
        if op.kind in _MAC_KINDS:
            cyc = 0.0
            macs = 0.0
            for ly in mac_layers(op):
                c, m = self._pe_cycles(ly)
                cyc += c
                macs += m
            compute_s = cyc / (s.clock * s.mac_efficiency)
            flops = 2.0 * macs
        else:
            compute_s, flops = 0.0, float(op.flops)
        return self._finish(max(compute_s, dram_s), compute_s, dram_s, flops, nbytes, {})
