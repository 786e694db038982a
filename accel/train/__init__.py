"""Cluster training of LLMs: tensor, pipeline and data parallelism (ZeRO / FSDP), sequence parallelism and
activation recomputation on thousands of GPUs, simulated through one representative rank per pipeline stage.

* :mod:`accel.train.layout`: ``--tp/--pp/--dp`` and friends, checked (:class:`TrainLayout`);
* :mod:`accel.train.costs`: per-microbatch costs of a block, the embedding and the LM head on one rank;
* :mod:`accel.train.pipeline`: 1F1B and interleaved schedules;
* :mod:`accel.train.memory`: memory per device, term by term;
* :mod:`accel.train.simulate`: one training step (:func:`simulate_training`, :class:`TrainResult`).
"""

from accel.train.layout import RECOMPUTE, ZERO_STAGES, LayoutError, TrainLayout
from accel.train.memory import MemoryOverflow, MemoryTerms
from accel.train.simulate import BREAKDOWN_KEYS, TrainResult, simulate_training

__all__ = ["BREAKDOWN_KEYS", "RECOMPUTE", "ZERO_STAGES", "LayoutError", "MemoryOverflow", "MemoryTerms",
           "TrainLayout", "TrainResult", "simulate_training"]
