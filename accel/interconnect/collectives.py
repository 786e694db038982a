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

Reduce-scatter / all-gather across nodes (:func:`hierarchical_reduce_scatter`, :func:`hierarchical_allgather`;
ZeRO/FSDP, Megatron sequence parallelism) use the same ``g`` rail rings, one pass instead of two::

    t = (n-1)/n * S / min(B_f, g B_n) + (n-1) * max(a_f, a_n),    NIC bytes per GPU (n-1)/n * S / g

so ``busbw = algbw (n-1)/n -> min(B_f, g B_n)``.

Parameter server (:func:`parameter_server`, Li et al., OSDI 2014): ``W`` workers push their full gradient ``S``
to ``P`` servers (each owns ``S/P``), then pull the updated parameters; per phase the slower of a worker's own
link (``S / B_w``) and a server's link (``W S / (P B_s)``) sets the time::

    t = 2 * (max(S / B_w, W S / (P B_s)) + a)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALGORITHMS = ("ring", "tree")
#: collectives :meth:`accel.sim.system.System.collective_cost` prices
COLLECTIVES = ("allreduce", "allgather", "reduce_scatter")


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
    if not (math.isfinite(nbytes) and nbytes >= 0 and bandwidth > 0 and latency >= 0):  # also rejects NaN
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


def _check_hierarchical(nbytes: float, per_node: int, nodes: int, fabric_bw: float, fabric_latency: float,
                        network_bw: float, network_latency: float) -> None:
    _check(nbytes, per_node, fabric_bw, fabric_latency)
    _check(nbytes, nodes, network_bw, network_latency)


def rail_bandwidth(per_node: int, fabric_bw: float, network_bw: float) -> float:
    """Bus bandwidth of ``per_node`` rail rings leaving a node (B/s): ``min(B_f, g B_n)`` (module docstring)."""
    return min(fabric_bw, per_node * network_bw)


def hierarchical_allreduce(nbytes: float, per_node: int, nodes: int, fabric_bw: float, fabric_latency: float,
                           network_bw: float, network_latency: float, algorithm: str = "ring") -> CollectiveCost:
    """All-reduce of ``nbytes`` per rank over ``nodes`` x ``per_node`` ranks joined by NVLink-class ``fabric`` inside
    a node and a ``network`` (per-GPU bandwidth) across nodes (module docstring). One node: the flat
    :func:`allreduce` over the fabric."""
    _check_hierarchical(nbytes, per_node, nodes, fabric_bw, fabric_latency, network_bw, network_latency)
    n = per_node * nodes
    if nodes == 1:
        return allreduce(nbytes, per_node, fabric_bw, fabric_latency, algorithm)
    if nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    bw = rail_bandwidth(per_node, fabric_bw, network_bw)
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


def hierarchical_allgather(nbytes: float, per_node: int, nodes: int, fabric_bw: float, fabric_latency: float,
                           network_bw: float, network_latency: float) -> CollectiveCost:
    """Ring all-gather producing ``nbytes`` (B) on each of ``nodes`` x ``per_node`` ranks over NCCL rail rings.

    ``t = (n-1)/n * S / min(B_f, g B_n) + (n-1) * max(a_f, a_n)`` (s), ``n = g N``; each rank sends
    ``(n-1)/n * S`` bytes, ``1/g`` of them over its NIC; ``busbw = algbw (n-1)/n``. Bandwidths in B/s (the
    network's per GPU), latencies in s per step. One node: the flat ring :func:`allgather` over the fabric.
    """
    _check_hierarchical(nbytes, per_node, nodes, fabric_bw, fabric_latency, network_bw, network_latency)
    n = per_node * nodes
    if nodes == 1:
        return allgather(nbytes, per_node, fabric_bw, fabric_latency)
    if nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    sent = (n - 1) / n * nbytes
    t = sent / rail_bandwidth(per_node, fabric_bw, network_bw) + (n - 1) * max(fabric_latency, network_latency)
    algbw = nbytes / t
    return CollectiveCost(t, sent, algbw, algbw * (n - 1) / n, network_bytes_per_rank=sent / per_node)


def hierarchical_reduce_scatter(nbytes: float, per_node: int, nodes: int, fabric_bw: float, fabric_latency: float,
                                network_bw: float, network_latency: float) -> CollectiveCost:
    """Ring reduce-scatter of an ``nbytes`` buffer over ``nodes`` x ``per_node`` ranks (each ends with S/n): the
    same rail rings, bytes and time as :func:`hierarchical_allgather` (data flows the other way)."""
    return hierarchical_allgather(nbytes, per_node, nodes, fabric_bw, fabric_latency, network_bw, network_latency)


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


def parameter_server(nbytes: float, workers: int, servers: int, worker_bw: float, server_bw: float,
                     latency: float) -> CollectiveCost:
    """Parameter-server exchange (Li et al., "Scaling Distributed Machine Learning with the Parameter Server",
    OSDI 2014): each of ``workers`` workers pushes its full gradient of ``nbytes`` (B) to ``servers`` servers
    (server ``k`` owns ``nbytes / servers`` of the parameters), then pulls the updated parameters back.

    Each phase (push, pull) takes the slower of a worker's link and a server's link, plus ``latency`` (s)::

        phase = max(S / B_w, W * S / (P * B_s)) + a,      t = 2 * phase

    with ``B_w = worker_bw`` and ``B_s = server_bw`` (B/s, per direction, one worker's / one server's link).
    The servers bound it when ``W / (P B_s) > 1 / B_w``. ``bytes_per_rank``: S (each worker sends its gradient
    and receives S); ``busbw = 2 algbw``, so it tends to the bottleneck bandwidth per worker,
    ``min(B_w, P B_s / W)``.
    """
    if workers < 1 or servers < 1:
        raise ValueError(f"parameter server needs workers >= 1 and servers >= 1, got workers={workers}, servers={servers}")
    if not (math.isfinite(nbytes) and nbytes >= 0 and worker_bw > 0 and server_bw > 0 and latency >= 0):
        raise ValueError(f"bad parameter-server arguments: bytes={nbytes}, worker_bw={worker_bw}, "
                         f"server_bw={server_bw}, latency={latency}")
    if nbytes == 0:
        return CollectiveCost(0.0, 0.0, float("inf"), float("inf"))
    phase = max(nbytes / worker_bw, workers * nbytes / (servers * server_bw)) + latency
    t = 2 * phase
    algbw = nbytes / t
    return CollectiveCost(t, nbytes, algbw, 2 * algbw)


def parameter_server_bound(workers: int, servers: int, worker_bw: float, server_bw: float) -> str:
    """Which link bounds a :func:`parameter_server` phase: ``"server"`` when ``W / (P B_s) > 1 / B_w`` (the
    servers' share ``W S / (P B_s)`` outlasts a worker's own ``S / B_w``), else ``"worker"``."""
    return "server" if workers * worker_bw > servers * server_bw else "worker"
