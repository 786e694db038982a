"""Collective communication times (NCCL-style ring and tree algorithms).

Notation: ``n`` ranks, ``S`` bytes per rank (the buffer being reduced), ``B`` achievable
per-direction link bandwidth of each rank into the fabric (B/s), ``a`` per-step latency (s).

Ring all-reduce (reduce-scatter then all-gather, 2(n-1) steps, each moving S/n)::

    t = 2 (n-1)/n * S / B + 2 (n-1) * a

NCCL reports ``algbw = S / t`` and ``busbw = algbw * 2 (n-1)/n`` (nccl-tests
doc/PERFORMANCE.md), so for large S a ring reaches ``busbw -> B``.

Tree all-reduce (NCCL double binary tree, pipelined reduce then broadcast): bandwidth
term ``2 S / B`` (each rank sends and receives S per phase, split across the two trees:
no (n-1)/n saving) and ``2 ceil(log2 n)`` latency steps::

    t = 2 * S / B + 2 * ceil(log2 n) * a

All-gather / reduce-scatter (ring): ``t = (n-1)/n * S / B + (n-1) * a`` where S is the full
(gathered) buffer. Point-to-point send: ``t = a + S / B``.

All-reduce across ``N`` nodes of ``g`` ranks each (:func:`hierarchical_allreduce`), as NCCL runs it on
rail-optimised clusters: ``g`` rings (channels), ring ``r`` leaving each node through GPU ``r``'s NIC, each
carrying ``S/g``. A GPU's NVLink carries the intra-node hops of every ring, its NIC one ring's boundary hop, so
with ``n = g N`` ranks, fabric ``B_f``, ``a_f`` and network ``B_n`` (per GPU), ``a_n``::

    ring:  t = 2 (n-1)/n * S / min(B_f, g B_n) + 2 (n-1) * max(a_f, a_n)     (every step waits for its slowest hop)
    tree:  t = 2 S / min(B_f, g B_n) + 2 (ceil(log2 N) a_n + (g-1) a_f)     (NCCL: chain in the node, trees across)

so ``busbw -> min(B_f, g B_n)``: the node's NICs bound it unless NVLink is slower. Each GPU sends
``2 (n-1)/n * S / g`` (ring) or ``2 S / g`` (tree) over its NIC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALGORITHMS = ("ring", "tree")


@dataclass(frozen=True)
class CollectiveCost:
    """Time and traffic of one collective.

    Attributes:
        time_s: wall time of the collective (s).
        bytes_per_rank: bytes each rank sends over its link (B).
        algbw: S / time_s (B/s), as nccl-tests reports it.
        busbw: algbw times the algorithm's bus factor (B/s), as nccl-tests reports it.
        network_bytes_per_rank: of ``bytes_per_rank``, the bytes sent over the inter-node network (B).
    """

    time_s: float
    bytes_per_rank: float
    algbw: float
    busbw: float
    network_bytes_per_rank: float = 0.0


def _check(nbytes: float, n: int, bandwidth: float, latency: float) -> None:
    if n < 1:
        raise ValueError(f"collective needs n >= 1 ranks, got {n}")
    if nbytes < 0 or bandwidth <= 0 or latency < 0:
        raise ValueError(f"bad collective arguments: bytes={nbytes}, bandwidth={bandwidth}, latency={latency}")


def allreduce(nbytes: float, n: int, bandwidth: float, latency: float, algorithm: str = "ring") -> CollectiveCost:
    """All-reduce of ``nbytes`` per rank across ``n`` ranks (see module docstring)."""
    _check(nbytes, n, bandwidth, latency)
    if n == 1 or nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    if algorithm == "ring":
        sent = 2 * (n - 1) / n * nbytes
        t = sent / bandwidth + 2 * (n - 1) * latency
    elif algorithm == "tree":
        sent = 2 * nbytes
        t = sent / bandwidth + 2 * math.ceil(math.log2(n)) * latency
    else:
        raise ValueError(f"unknown all-reduce algorithm {algorithm!r}; allowed: {', '.join(ALGORITHMS)}")
    algbw = nbytes / t
    return CollectiveCost(t, sent, algbw, algbw * 2 * (n - 1) / n)


def hierarchical_allreduce(nbytes: float, per_node: int, nodes: int, fabric_bw: float, fabric_latency: float,
                           network_bw: float, network_latency: float, algorithm: str = "ring") -> CollectiveCost:
    """All-reduce of ``nbytes`` per rank over ``nodes`` x ``per_node`` ranks joined by NVLink-class ``fabric`` inside
    a node and a ``network`` (per-GPU bandwidth) across nodes (module docstring)."""
    _check(nbytes, per_node, fabric_bw, fabric_latency)
    _check(nbytes, nodes, network_bw, network_latency)
    n = per_node * nodes
    if n == 1 or nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    bw = min(fabric_bw, per_node * network_bw)
    if algorithm == "ring":
        sent = 2 * (n - 1) / n * nbytes
        t = sent / bw + 2 * (n - 1) * max(fabric_latency, network_latency)
        net = sent / per_node
    elif algorithm == "tree":
        sent = 2 * nbytes
        t = sent / bw + 2 * (math.ceil(math.log2(nodes)) * network_latency + (per_node - 1) * fabric_latency)
        net = sent / per_node
    else:
        raise ValueError(f"unknown all-reduce algorithm {algorithm!r}; allowed: {', '.join(ALGORITHMS)}")
    algbw = nbytes / t
    return CollectiveCost(t, sent, algbw, algbw * 2 * (n - 1) / n, network_bytes_per_rank=net)


def allgather(nbytes: float, n: int, bandwidth: float, latency: float) -> CollectiveCost:
    """Ring all-gather producing ``nbytes`` on every rank (each contributes nbytes/n)."""
    _check(nbytes, n, bandwidth, latency)
    if n == 1 or nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    sent = (n - 1) / n * nbytes
    t = sent / bandwidth + (n - 1) * latency
    algbw = nbytes / t
    return CollectiveCost(t, sent, algbw, algbw * (n - 1) / n)


def reduce_scatter(nbytes: float, n: int, bandwidth: float, latency: float) -> CollectiveCost:
    """Ring reduce-scatter of an ``nbytes`` buffer (each rank ends with nbytes/n)."""
    return allgather(nbytes, n, bandwidth, latency)


def send(nbytes: float, bandwidth: float, latency: float) -> CollectiveCost:
    """Point-to-point send of ``nbytes``."""
    _check(nbytes, 2, bandwidth, latency)
    if nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    t = latency + nbytes / bandwidth
    return CollectiveCost(t, nbytes, nbytes / t, nbytes / t)


def busbw_from_algbw(algbw: float, n: int, op: str = "allreduce") -> float:
    """nccl-tests bus bandwidth: allreduce x 2(n-1)/n; allgather/reduce_scatter x (n-1)/n."""
    factor = {"allreduce": 2 * (n - 1) / n, "allgather": (n - 1) / n, "reduce_scatter": (n - 1) / n,
              "broadcast": 1.0, "send": 1.0}
    if op not in factor:
        raise ValueError(f"unknown collective {op!r}; allowed: {', '.join(factor)}")
    return algbw * factor[op]
