"""Collective times vs the NCCL bus-bandwidth formulas (nccl-tests doc/PERFORMANCE.md)."""

import math

import pytest

from accel.interconnect import allgather, allreduce, busbw_from_algbw, reduce_scatter, send


@pytest.mark.parametrize("n", [2, 4, 8, 16])
@pytest.mark.parametrize("S", [1e3, 1e6, 1e9])
def test_ring_allreduce_formula(n, S):
    B, a = 370e9, 2e-6
    c = allreduce(S, n, B, a, "ring")
    assert c.time_s == pytest.approx(2 * (n - 1) / n * S / B + 2 * (n - 1) * a)
    assert c.bytes_per_rank == pytest.approx(2 * (n - 1) / n * S)
    assert c.busbw == pytest.approx(c.algbw * 2 * (n - 1) / n)
    assert c.busbw == pytest.approx(busbw_from_algbw(S / c.time_s, n))


def test_ring_busbw_approaches_link_bandwidth_for_large_messages():
    B = 370e9
    big = allreduce(8e9, 8, B, 2e-6)
    assert big.busbw == pytest.approx(B, rel=0.01)
    small = allreduce(8e3, 8, B, 2e-6)
    assert small.busbw < 0.01 * B  # latency bound


def test_tree_allreduce_latency_log_n_and_crossover():
    B, a = 370e9, 5e-6
    n = 64
    tree, ring = allreduce(1e4, n, B, a, "tree"), allreduce(1e4, n, B, a, "ring")
    assert tree.time_s == pytest.approx(2 * 1e4 / B + 2 * math.ceil(math.log2(n)) * a)
    assert tree.time_s < ring.time_s       # small message, many ranks: tree wins
    assert allreduce(1e9, 8, B, a, "tree").time_s > allreduce(1e9, 8, B, a, "ring").time_s  # large: ring wins


def test_other_collectives_and_edge_cases():
    B, a = 100e9, 1e-6
    ag = allgather(8e6, 8, B, a)
    assert ag.time_s == pytest.approx(7 / 8 * 8e6 / B + 7 * a)
    assert reduce_scatter(8e6, 8, B, a).time_s == ag.time_s
    assert send(1e6, B, a).time_s == pytest.approx(a + 1e6 / B)
    assert allreduce(1e6, 1, B, a).time_s == 0.0
    with pytest.raises(ValueError, match="allowed: ring, tree"):
        allreduce(1e6, 4, B, a, "butterfly")
    with pytest.raises(ValueError):
        allreduce(1e6, 0, B, a)
