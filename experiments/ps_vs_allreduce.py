"""Parameter server vs ring vs hierarchical all-reduce, 8 -> 4096 GPUs (issue 13).

One gradient exchange per step on Eos (DGX H100 nodes, 8 NDR NICs each; ``archs/systems/eos.yaml``), for two
gradient sizes: ResNet-50 (25.6 M parameters, fp32 gradients: 102 MB) and GPT-3 1.3B (bf16: 2.6 GB). Schemes:

* ``ps S=k``: a parameter server of ``k`` server processes, one NIC each (Li et al. OSDI 2014): workers push
  their gradient and pull the parameters (:func:`accel.interconnect.collectives.parameter_server`);
* ``ring``: one flat NCCL ring over every GPU at the slowest link (the NIC share), what a ring that ignores
  the node boundary gets (:func:`accel.interconnect.collectives.allreduce`);
* ``hierarchical``: NCCL's rail rings: NVLink inside a node, the node's NICs across
  (:meth:`accel.sim.system.System.collective_cost`).

Prints the time per exchange and which side bounds the parameter server. Run::

    .venv/bin/python experiments/ps_vs_allreduce.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.interconnect.collectives import allreduce, parameter_server_bound  # noqa: E402
from accel.sim import resolve_system  # noqa: E402

GRADIENTS = {"ResNet-50 (102 MB fp32)": 25.6e6 * 4, "GPT-3 1.3B (2.6 GB bf16)": 1.3e9 * 2}
GPUS = (8, 64, 512, 4096)
SERVERS = (1, 8, 64)


def main() -> int:
    sysm = resolve_system("eos")
    net = sysm.network
    assert net is not None
    nic_share = net.bandwidth_per_device(sysm.devices_per_node)
    for label, nbytes in GRADIENTS.items():
        print(f"\n{label}: time per gradient exchange (ms) on {sysm.name}")
        print(f"{'GPUs':>6} " + " ".join(f"{'ps S=' + str(s):>12}" for s in SERVERS)
              + f" {'flat ring':>12} {'hierarchical':>12}  ps bound (S=8)")
        for n in GPUS:
            ranks = list(range(n))
            ps = [sysm.parameter_server_cost(nbytes, ranks, s).time_s for s in SERVERS]
            ring = allreduce(nbytes, n, nic_share if n > sysm.devices_per_node else sysm.fabric_bandwidth,
                             net.step_latency).time_s
            hier = sysm.collective_cost("allreduce", nbytes, ranks).time_s
            bound = parameter_server_bound(n, 8, nic_share, net.nic.effective_bandwidth) \
                if n > sysm.devices_per_node else "fabric"
            print(f"{n:>6} " + " ".join(f"{1e3 * t:>12.1f}" for t in ps) + f" {1e3 * ring:>12.1f} {1e3 * hier:>12.1f}"
                  f"  {bound}")
    print("\nA parameter server's servers carry every worker's gradient: its time grows linearly with the workers"
          "\nonce server-bound (W S / (P B_s) > S / B_w), while a ring's stays ~2 S / B. With as many servers as"
          "\nworkers' NICs it matches the ring's bandwidth term; the hierarchical ring wins inside a node (NVLink).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
