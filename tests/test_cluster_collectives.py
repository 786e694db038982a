"""Collectives on clusters: NCCL bus-bandwidth formulas, rail-ring reduce-scatter / all-gather across nodes,
System.collective_cost / send_cost / parameter_server_cost, and the parameter-server model (Li et al., OSDI 2014)."""

from __future__ import annotations

import pytest

from accel.errors import ConfigError
from accel.interconnect.collectives import (COLLECTIVES, allgather, allreduce, busbw_from_algbw, hierarchical_allgather,
                                            hierarchical_allreduce, hierarchical_reduce_scatter, parameter_server,
                                            parameter_server_bound, reduce_scatter, send)
from accel.sim.system import resolve_system

# a cluster in round numbers: NVLink B_f, a_f; per-GPU NIC B_n, a_n; g GPUs per node, N nodes
BF, AF, BN, AN = 370e9, 2e-6, 45e9, 5e-6
G, N = 8, 4


@pytest.fixture(scope="module")
def pod():
    return resolve_system("dgx_h100_superpod")


# --- NCCL bus bandwidth (nccl-tests doc/PERFORMANCE.md) ---------------------------------------------------------

def test_busbw_equals_link_bandwidth_when_bandwidth_bound_hand_numbers():
    S, n, B = 1e9, 8, 100e9
    ar = allreduce(S, n, B, 0.0)
    assert ar.time_s == pytest.approx(0.0175)                  # 2 * 7/8 * 1 GB / 100 GB/s
    assert ar.algbw == pytest.approx(1e9 / 0.0175)             # 57.1 GB/s
    assert ar.busbw == pytest.approx(100e9)                    # x 2(n-1)/n = 1.75
    for op, c in (("allgather", allgather(S, n, B, 0.0)), ("reduce_scatter", reduce_scatter(S, n, B, 0.0))):
        assert c.time_s == pytest.approx(0.00875)              # 7/8 * 1 GB / 100 GB/s
        assert c.algbw == pytest.approx(1e9 / 0.00875)         # 114.3 GB/s
        assert c.busbw == pytest.approx(100e9)                 # x (n-1)/n = 0.875
        assert c.busbw == pytest.approx(busbw_from_algbw(c.algbw, n, op))
    assert allreduce(S, n, B, 1e-5).time_s == pytest.approx(0.0175 + 14e-5)   # + 2(n-1) steps
    assert allgather(S, n, B, 1e-5).time_s == pytest.approx(0.00875 + 7e-5)   # + (n-1) steps


def test_hierarchical_allgather_and_reduce_scatter_hand_numbers():
    S, n = 1e9, G * N
    for fn in (hierarchical_allgather, hierarchical_reduce_scatter):
        c = fn(S, G, N, BF, AF, BN, AN)
        # bus bandwidth min(370, 8 x 45 = 360) GB/s; 31 steps at max(2, 5) us
        assert c.time_s == pytest.approx(31 / 32 * 1e9 / 360e9 + 31 * 5e-6)
        assert c.time_s == pytest.approx(2.8459722e-3)
        assert c.bytes_per_rank == pytest.approx(31 / 32 * 1e9)
        assert c.network_bytes_per_rank == pytest.approx(121_093_750.0)   # (n-1)/n S / g over each GPU's NIC
        assert c.busbw == pytest.approx(c.algbw * (n - 1) / n)


def test_hierarchical_reduce_scatter_and_allgather_are_flat_in_one_node():
    for S in (0.0, 1e3, 1e9):
        assert hierarchical_allgather(S, G, 1, BF, AF, BN, AN) == allgather(S, G, BF, AF)
        assert hierarchical_reduce_scatter(S, G, 1, BF, AF, BN, AN) == reduce_scatter(S, G, BF, AF)
        assert hierarchical_allreduce(S, G, 1, BF, AF, BN, AN) == allreduce(S, G, BF, AF)
    assert hierarchical_allgather(1e9, 1, 1, BF, AF, BN, AN).time_s == 0.0


@pytest.mark.parametrize("fabric_bw, bound", [(BF, G * BN), (100e9, 100e9)])
def test_busbw_across_nodes_tends_to_min_of_nvlink_and_the_nodes_nics(fabric_bw, bound):
    big = 1e13
    for fn in (hierarchical_allgather, hierarchical_reduce_scatter, hierarchical_allreduce):
        assert fn(big, G, N, fabric_bw, AF, BN, AN).busbw == pytest.approx(bound, rel=1e-3)


# --- System.collective_cost / send_cost --------------------------------------------------------------------------

@pytest.mark.parametrize("ranks", [list(range(8)), list(range(16)), list(range(0, 64, 2)), [3], list(range(1016))])
@pytest.mark.parametrize("algorithm", ["ring", "tree"])
def test_collective_cost_is_allreduce_cost(pod, ranks, algorithm):
    assert pod.collective_cost("allreduce", 3e8, ranks, algorithm) == pod.allreduce_cost(3e8, ranks, algorithm)


def test_collective_cost_allgather_reduce_scatter_flat_inside_a_node_rail_rings_across(pod):
    link, net = pod.fabric_link, pod.network
    assert link is not None and net is not None
    for op, flat in (("allgather", allgather), ("reduce_scatter", reduce_scatter)):
        one = pod.collective_cost(op, 1e9, list(range(8)))
        assert one == flat(1e9, 8, link.effective_bandwidth, link.latency)
        assert one.network_bytes_per_rank == 0.0
        four = pod.collective_cost(op, 1e9, list(range(32)))
        assert four == hierarchical_allgather(1e9, 8, 4, link.effective_bandwidth, link.latency,
                                              net.bandwidth_per_device(8), net.step_latency)
        assert four.network_bytes_per_rank == pytest.approx(31 / 32 * 1e9 / 8)
        assert four.time_s > one.time_s
        # reduce-scatter + all-gather moves what a ring all-reduce moves
        assert 2 * four.bytes_per_rank == pytest.approx(pod.allreduce_cost(1e9, list(range(32))).bytes_per_rank)


def test_send_cost_over_nvlink_inside_a_node_and_the_nic_across(pod):
    link, net = pod.fabric_link, pod.network
    assert link is not None and net is not None
    intra = pod.send_cost(1e8, 0, 7)
    assert intra == send(1e8, link.effective_bandwidth, link.latency) and intra.network_bytes_per_rank == 0.0
    inter = pod.send_cost(1e8, 7, 8)
    assert inter.time_s == pytest.approx(net.step_latency + 1e8 / net.bandwidth_per_device(8))
    assert inter.network_bytes_per_rank == 1e8
    assert inter.time_s > intra.time_s


def test_one_node_system_never_uses_a_network():
    dgx = resolve_system("dgx_h100")
    link = dgx.fabric_link
    assert link is not None and dgx.network is None
    assert dgx.send_cost(1e6, 0, 5) == send(1e6, link.effective_bandwidth, link.latency)
    assert dgx.collective_cost("allgather", 1e6, list(range(8))) == allgather(1e6, 8, link.effective_bandwidth,
                                                                              link.latency)


# --- parameter server ----------------------------------------------------------------------------------------------

def test_parameter_server_formula_and_bottleneck_switch():
    S, Bw, Bs, a = 4e8, 25e9, 25e9, 5e-6
    W = 64
    one_server = parameter_server(S, W, 1, Bw, Bs, a)          # 64 workers into one server link: server-bound
    assert parameter_server_bound(W, 1, Bw, Bs) == "server"
    assert one_server.time_s == pytest.approx(2 * (W * S / Bs + a))
    assert one_server.time_s == pytest.approx(2 * (64 * 0.016 + 5e-6))   # 16 ms per worker-gradient on 25 GB/s
    sharded = parameter_server(S, W, W, Bw, 2 * Bs, a)         # as many (faster) servers as workers: worker-bound
    assert parameter_server_bound(W, W, Bw, 2 * Bs) == "worker"
    assert sharded.time_s == pytest.approx(2 * (S / Bw + a))
    assert sharded.bytes_per_rank == S and sharded.busbw == pytest.approx(2 * sharded.algbw)
    assert parameter_server(1e12, 4, 4, Bw, 2 * Bs, 0.0).busbw == pytest.approx(Bw)   # -> min(B_w, P B_s / W)
    assert parameter_server(1e12, 8, 2, Bw, Bs, 0.0).busbw == pytest.approx(2 * Bs / 8)


def test_parameter_server_time_grows_linearly_with_workers_when_server_bound():
    S, Bw, Bs, a = 1e8, 50e9, 25e9, 3e-6
    t = {w: parameter_server(S, w, 2, Bw, Bs, a).time_s - 2 * a for w in (8, 16, 32, 64)}
    assert t[16] == pytest.approx(2 * t[8]) and t[32] == pytest.approx(4 * t[8]) and t[64] == pytest.approx(8 * t[8])
    # worker-bound: adding workers (and servers with them) does not change the time
    assert parameter_server(S, 64, 64, Bw, Bs, a).time_s == pytest.approx(parameter_server(S, 8, 8, Bw, Bs, a).time_s)


def test_system_parameter_server_cost_uses_nics_across_nodes_and_nvlink_inside(pod):
    link, net = pod.fabric_link, pod.network
    assert link is not None and net is not None
    workers = list(range(64))                                   # 8 nodes
    c = pod.parameter_server_cost(1e9, workers, servers=4)
    want = parameter_server(1e9, 64, 4, net.bandwidth_per_device(8), net.nic.effective_bandwidth, net.step_latency)
    assert c.time_s == want.time_s and c.network_bytes_per_rank == 1e9
    assert pod.parameter_server_cost(1e9, workers, 4, server_bw=1e12).time_s < c.time_s
    inside = pod.parameter_server_cost(1e9, list(range(8)), servers=8)
    bw = link.effective_bandwidth
    assert inside == parameter_server(1e9, 8, 8, bw, bw, link.latency) and inside.network_bytes_per_rank == 0.0


# --- hostile inputs: one-line errors -------------------------------------------------------------------------------

def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("call", [
    lambda: hierarchical_allgather(-1.0, G, N, BF, AF, BN, AN),
    lambda: hierarchical_reduce_scatter(float("nan"), G, N, BF, AF, BN, AN),
    lambda: hierarchical_allgather(1e6, G, N, BF, AF, 0.0, AN),
    lambda: hierarchical_allgather(1e6, 0, N, BF, AF, BN, AN),
    lambda: parameter_server(-5.0, 4, 2, 1e9, 1e9, 0.0),
    lambda: parameter_server(1e6, 4, 2, 1e9, 0.0, 0.0),
    lambda: parameter_server(1e6, 0, 2, 1e9, 1e9, 0.0),
])
def test_bad_numbers_raise_one_line_value_errors(call):
    with pytest.raises(ValueError) as exc:
        call()
    _one_line(exc)


def test_zero_servers_is_refused():
    with pytest.raises(ValueError, match="servers >= 1") as exc:
        parameter_server(1e6, 4, 0, 1e9, 1e9, 0.0)
    _one_line(exc)


def test_system_methods_refuse_bad_ops_ranks_and_bytes(pod):
    with pytest.raises(ValueError, match="allowed: allreduce, allgather, reduce_scatter") as exc:
        pod.collective_cost("alltoall", 1e6, [0, 1])
    _one_line(exc)
    assert COLLECTIVES == ("allreduce", "allgather", "reduce_scatter")
    with pytest.raises(ValueError, match="allowed: ring"):
        pod.collective_cost("allgather", 1e6, [0, 1], "tree")
    with pytest.raises(ValueError, match="allowed: ring, tree"):
        pod.collective_cost("allreduce", 1e6, [0, 1], "butterfly")
    for bad in ([], [0, 0], [0, 1016], [-1, 2], [True, 2], ["0", 1]):
        with pytest.raises(ValueError) as exc:
            pod.collective_cost("allgather", 1e6, bad)
        _one_line(exc)
    with pytest.raises(ValueError) as exc:
        pod.collective_cost("reduce_scatter", -1.0, [0, 9])
    _one_line(exc)
    with pytest.raises(ValueError, match="distinct"):
        pod.send_cost(1e6, 3, 3)
    with pytest.raises(ValueError) as exc:
        pod.send_cost(-1.0, 0, 9)
    _one_line(exc)
    with pytest.raises(ValueError, match="servers >= 1"):
        pod.parameter_server_cost(1e6, [0, 8], servers=0)
    with pytest.raises(ValueError):
        pod.parameter_server_cost(1e6, [0, 8], servers=2, server_bw=-1.0)


def test_a_single_device_has_no_fabric_for_collectives():
    one = resolve_system("h100")
    with pytest.raises(ConfigError, match="fabric") as exc:
        one.send_cost(1e6, 0, 0)
    _one_line(exc)
    with pytest.raises(ConfigError, match="fabric"):
        one.collective_cost("allgather", 1e6, [0])
    with pytest.raises(ConfigError, match="fabric"):
        one.parameter_server_cost(1e6, [0], 1)
