"""Memory per device of a training step, term by term, and the check against device memory.

Model state per parameter (bytes), Megatron-LM's accounting (``docs/source/api-guide/distrib_optimizer.md``:
"fp16 param, fp16 grads 20 / 4 + 16/d; bf16 param, fp32 grads 18 / 6 + 12/d; fp32 param, fp32 grads 16 /
8 + 8/d"), split into the half-precision model copy, the gradient buffer and the fp32 Adam state (main
weights, first and second moments). ZeRO shards these over the ``d`` data-parallel ranks (Rajbhandari et
al. 2020): stage 1 the optimizer state, stage 2 also the gradients, stage 3 (FSDP) also the weights.

Activations: the bytes each microbatch keeps for backward (:mod:`accel.train.costs`) times the most
microbatch-chunks a rank holds at once in its pipeline schedule (:class:`accel.train.pipeline.PipelineRun`),
plus, under full (or per-op) recomputation, one block's full set while it is recomputed. Workspace: the largest
transient working set of a piece the rank runs (``PieceCost.working_bytes``: the LM head's logits and their fp32
copies), its own term.
"""

from __future__ import annotations

from dataclasses import dataclass

#: dtype -> (model copy, gradient buffer, optimizer state) bytes per parameter (module docstring); FP8 training
#: (Transformer Engine) keeps bf16's -- what the data-parallel group gathers and reduces -- and, beside it, the fp8
#: copies of its linear layers' weights (:data:`accel.train.fp8.FP8_WEIGHT_CACHE_BYTES`)
STATE_BYTES: dict[str, tuple[float, float, float]] = {
    "fp16": (2.0, 2.0, 16.0),
    "bf16": (2.0, 4.0, 12.0),
    "fp32": (4.0, 4.0, 8.0),
    "fp8": (2.0, 4.0, 12.0),
}

#: ``--optimizer-dtype`` values: the dtype of Adam's main weights and moments and of the gradients the
#: data-parallel group reduces. ``fp32`` is Megatron's mixed precision (:data:`STATE_BYTES`); ``bf16`` is Apex
#: DistributedFusedAdam with ``dtype`` and ``grad_sync_dtype`` bf16 (NeMo's Nemotron-340B release config sets
#: ``optim.dtype: bf16, grad_sync_dtype: bf16``): main weight and two moments 2 bytes each, gradients 2
OPTIMIZER_DTYPES: tuple[str, ...] = ("fp32", "bf16")
BF16_OPTIMIZER_BYTES = (2.0, 6.0)  # (gradient buffer, optimizer state) bytes per parameter


def state_bytes(dtype: str, optimizer_dtype: str = "fp32") -> tuple[float, float, float]:
    """(model copy, gradient buffer, optimizer state) bytes per parameter of training dtype ``dtype`` with the
    optimizer state in ``optimizer_dtype`` (:data:`OPTIMIZER_DTYPES`)."""
    w, g, o = STATE_BYTES[dtype]
    if optimizer_dtype == "bf16":
        g, o = BF16_OPTIMIZER_BYTES
    return w, g, o


@dataclass(frozen=True)
class MemoryTerms:
    """Bytes on the fullest device: ``weights``, ``gradients``, ``optimizer``, ``activations`` (what backward
    reads), ``workspace`` (the largest transient working set of a piece it runs: ``PieceCost.working_bytes``)."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    workspace: float = 0.0

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.workspace

    def as_dict(self) -> dict[str, float]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "activations": self.activations, "workspace": self.workspace, "total": self.total}


def model_state(params: float, dtype: str, zero: int, dp: int,
                optimizer_dtype: str = "fp32") -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes for ``params`` parameters on one rank under ZeRO stage ``zero``
    (:func:`state_bytes`)."""
    w, g, o = (params * b for b in state_bytes(dtype, optimizer_dtype))
    return (w / dp if zero >= 3 else w, g / dp if zero >= 2 else g, o / dp if zero >= 1 else o)


class MemoryOverflow(ValueError):
    """A layout that does not fit, as one line naming the largest term and the flags that shrink it
    (``flag``: the first of them)."""

    def __init__(self, flag: str, reason: str):
        super().__init__(f"{flag}: {reason}")
        self.flag = flag


#: per term, the flag named first in the error
FLAGS: dict[str, str] = {"activations": "--recompute", "weights": "--tp/--pp", "gradients": "--zero",
                         "optimizer": "--zero", "workspace": "--microbatch-size"}
#: per term, the flags that shrink it
REMEDIES: dict[str, str] = {
    "activations": "--recompute selective/full, a smaller --microbatch-size, --sequence-parallel or more --tp/--pp",
    "weights": "more --tp/--pp, or --zero 3",
    "gradients": "more --tp/--pp, or --zero 2",
    "optimizer": "--zero 1 (distributed optimizer) or more --tp/--pp",
    "workspace": "a smaller --microbatch-size, a fused loss (--cross-entropy fused or megatron_fused) or more --tp",
}


def check_fits(terms: MemoryTerms, capacity: float, device: str) -> None:
    """MemoryOverflow unless ``terms.total`` fits in ``capacity`` bytes of ``device``."""
    if terms.total <= capacity:
        return
    parts = terms.as_dict()
    parts.pop("total")
    worst = max(parts, key=lambda k: parts[k])
    listing = ", ".join(f"{k} {v / 1e9:.1f}" for k, v in parts.items())
    raise MemoryOverflow(FLAGS[worst], f"memory {terms.total / 1e9:.1f} GB per device > {capacity / 1e9:.1f} GB of {device} "
                         f"({listing} GB): {worst} overflow; try {REMEDIES[worst]} (or --no-memory-check)")
