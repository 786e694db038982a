"""Interconnect models: link transfer time (PCIe/NVLink) and collectives (ring/tree, hierarchical across nodes,
parameter server)."""

from accel.interconnect.collectives import (ALGORITHMS, COLLECTIVES, CollectiveCost, allgather, allreduce,
                                            busbw_from_algbw, hierarchical_allgather, hierarchical_allreduce,
                                            hierarchical_reduce_scatter, parameter_server, parameter_server_bound,
                                            rail_bandwidth, reduce_scatter, send)
from accel.interconnect.links import transfer_energy, transfer_time

__all__ = ["ALGORITHMS", "COLLECTIVES", "CollectiveCost", "allgather", "allreduce", "busbw_from_algbw",
           "hierarchical_allgather", "hierarchical_allreduce", "hierarchical_reduce_scatter", "parameter_server",
           "parameter_server_bound", "rail_bandwidth", "reduce_scatter", "send", "transfer_energy", "transfer_time"]
