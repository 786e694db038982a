"""A fused ``rnn`` op (LSTM/GRU/RNN) as the gate GEMMs an accelerator runs, for the systolic,
FPGA and DSP cost models.

Per layer (and direction ``D``), as cuDNN runs it (see ``accel/devices/gpu.py`` ``_rnn``):

1. **input projection**: one GEMM over all ``T`` time steps, ``[T*B x k_in] @ [k_in x G*H*D]``
   (``k_in`` = input size for layer 0, ``H*D`` above it);
2. **recurrence**: per time step a GEMM ``[B x H] @ [H x G*H]`` per direction, then the pointwise
   gate math on its ``B*G*H*D`` pre-activations (sigmoid/tanh, cell and hidden update). Step
   ``t+1`` needs ``h_t``, so the ``T`` steps run one after another: their times add up.

``G`` is 4 for LSTM, 3 for GRU, 1 for a plain RNN (:func:`accel.devices.gpu.rnn_shape`). The
GEMM MACs sum to the op's MACs as torch counts them (the ``addmm`` calls of the decomposed cell).

DRAM bytes (:func:`rnn_dram_bytes`) for a device with ``on_chip`` bytes of buffer: every input,
weight and output once (:func:`accel.devices.gpu.streamed_bytes`), plus, per layer, the recurrent
weights ``W_hh`` re-read on each of the ``T - 1`` later steps when they do not fit on chip, and
the projection's pre-activations written and read back once when they do not fit on chip.
"""

from __future__ import annotations

from dataclasses import dataclass

from accel.devices.gpu import rnn_shape, streamed_bytes
from accel.devices.systolic import SystolicLayer
from accel.errors import ConfigError
from accel.graph import OpNode

__all__ = ["RnnGemm", "rnn_gemms", "rnn_dram_bytes", "rnn_shape_or_error"]


@dataclass(frozen=True)
class RnnGemm:
    """One GEMM of an rnn op, run ``repeats`` times back to back (sequential steps).

    Attributes:
        gemm: the GEMM as an array layer (``groups`` = directions for the recurrent step).
        repeats: how many times it runs one after the other (1 for the projection, T for a step).
        pointwise: elementwise gate elements processed after each run (0 for the projection).
        step: True for the recurrent step GEMM.
    """

    gemm: SystolicLayer
    repeats: int
    pointwise: int
    step: bool

    @property
    def macs(self) -> int:
        """MACs of all repeats."""
        return self.gemm.macs * self.repeats


def rnn_shape_or_error(op: OpNode) -> dict[str, int]:
    """:func:`rnn_shape`, or a ConfigError naming the attrs an rnn op needs."""
    r = rnn_shape(op)
    if r is None:
        raise ConfigError(op.name, "attrs", "rnn op needs attrs seq, batch, input, hidden (and layers, gates, "
                                            f"bidirectional); got {', '.join(sorted(op.attrs)) or 'none'}")
    return r


def rnn_gemms(op: OpNode) -> list[RnnGemm]:
    """The gate GEMMs of ``op`` in execution order: per layer the projection, then the step GEMM x T."""
    r = rnn_shape_or_error(op)
    H, G, B, T, D = r["hidden"], r["gates"], r["batch"], r["seq"], r["dirs"]
    out: list[RnnGemm] = []
    for layer in range(r["layers"]):
        k_in = r["input"] if layer == 0 else H * D
        proj = SystolicLayer.gemm(f"{op.name}/l{layer}/proj", T * B, G * H * D, k_in)
        step = SystolicLayer.gemm(f"{op.name}/l{layer}/step", B, G * H, H)
        out.append(RnnGemm(proj, 1, 0, False))
        out.append(RnnGemm(SystolicLayer(**{**step.__dict__, "groups": D}), T, B * G * H * D, True))
    return out


def rnn_dram_bytes(op: OpNode, elem_bytes: float, on_chip: float) -> list[tuple[float, float]]:
    """DRAM bytes of each :func:`rnn_gemms` entry as ``(first run, each later run)``, for elements of
    ``elem_bytes`` bytes and ``on_chip`` bytes of on-chip buffer.

    Projection (one run): its input, ``W_ih`` and, if they do not fit on chip, the pre-activations
    written and read back. Step: the first run reads ``W_hh``; later runs read it again only if it
    does not fit on chip; every run writes ``h_t``. What this split does not name (biases, initial
    and final states) is added to the first projection, so the op's compulsory bytes
    (:func:`accel.devices.gpu.streamed_bytes`) are always counted at least once.
    """
    r = rnn_shape_or_error(op)
    H, G, B, T, D = r["hidden"], r["gates"], r["batch"], r["seq"], r["dirs"]
    out: list[list[float]] = []
    base = 0.0  # compulsory bytes named below (each tensor once)
    for g in rnn_gemms(op):
        if not g.step:
            k_in = g.gemm.window
            pre = T * B * G * H * D * elem_bytes
            once = (T * B * k_in + k_in * G * H * D) * elem_bytes
            base += once
            out.append([once + (2 * pre if pre > on_chip else 0.0), 0.0])
        else:
            w_hh = G * H * H * D * elem_bytes
            h = B * H * D * elem_bytes
            base += w_hh + T * h
            out.append([w_hh + h, (w_hh if w_hh > on_chip else 0.0) + h])
    out[0][0] += max(float(streamed_bytes(op)) - base, 0.0)
    return [(a, b) for a, b in out]
