"""Interconnect models: link transfer time (PCIe/NVLink) and collectives (ring/tree)."""

from accel.interconnect.collectives import (ALGORITHMS, CollectiveCost, allgather, allreduce, busbw_from_algbw,
                                            reduce_scatter, send)
from accel.interconnect.links import transfer_energy, transfer_time

__all__ = ["ALGORITHMS", "CollectiveCost", "allgather", "allreduce", "busbw_from_algbw", "reduce_scatter", "send",
           "transfer_energy", "transfer_time"]
