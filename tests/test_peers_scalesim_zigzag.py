"""Cross-checks with the peer simulators.

- SCALE-Sim: actually runs SCALE-Sim v3 on small layers when it is importable (``peers`` mark).
- ZigZag: per-layer ResNet-18 energy on ZigZag's tpu_like accelerator, from ZigZag's stored
  outputs (tests/data/systolic/zigzag_resnet18_tpu_like.csv, made by
  ``python benchmarks/zigzag_compare.py --save``), against our model built from the same numbers.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from accel.devices.systolic import SystolicLayer, layers_cycles_np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "systolic"


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("scalesim") is None, reason="SCALE-Sim not installed")
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_scalesim_live_compute_cycles(dataflow, tmp_path):
    from accel.peers.scalesim_runner import ScaleSimConfig, run_scalesim

    layers = [SystolicLayer.scalesim_conv("c1", 12, 12, 3, 3, 8, 20, 1), SystolicLayer.scalesim_conv("c2", 9, 9, 2, 2, 5, 7, 2)]
    res = run_scalesim(layers, ScaleSimConfig(rows=8, cols=8, dataflow=dataflow, mode="CALC"), workdir=tmp_path)
    for ly, r in zip(layers, res):
        ours = float(layers_cycles_np(ly.px, ly.window, ly.K, 8, 8, dataflow)["compute_cycles"])
        assert ours == r.total_cycles + 1
        assert r.stall_cycles == 0


@pytest.mark.peers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("scalesim") is None, reason="SCALE-Sim not installed")
def test_scalesim_live_gemm(tmp_path):
    from accel.peers.scalesim_runner import ScaleSimConfig, run_scalesim

    ly = SystolicLayer.gemm("g", 40, 24, 30)
    r = run_scalesim([ly], ScaleSimConfig(rows=16, cols=16, dataflow="ws", mode="CALC"), gemm=True, workdir=tmp_path)[0]
    assert float(layers_cycles_np(ly.px, ly.window, ly.K, 16, 16, "ws")["compute_cycles"]) == r.total_cycles + 1


def test_zigzag_resnet18_energy_within_15_percent():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import zigzag_compare
    finally:
        sys.path.pop(0)
    with open(DATA / "zigzag_resnet18_tpu_like.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 21
    table = zigzag_compare.compare(rows)
    for t in table:
        assert abs(t["err"]) <= 15, (t["name"], t["err"])
        assert t["ours"]["mac"] == pytest.approx(t["zz"]["mac"], rel=1e-6)  # same MAC count and MAC energy
    zt = sum(t["zz"]["total"] for t in table)
    ot = sum(t["ours"]["total"] for t in table)
    assert abs(ot - zt) / zt < 0.15
    # per memory level: MAC, register and DRAM energy agree within 2%; the SRAM level differs by
    # the documented reason (one ofmap write per partial-sum fold, not per output): with one write
    # per output our SRAM words match ZigZag's within 3% (measured +1%)
    for k in ("mac", "register", "dram"):
        zk, ok = (sum(t[side][k] for t in table) for side in ("zz", "ours"))
        assert abs(ok - zk) / zk < 0.02, k
    sw = {k: sum(t["sram_words"][k] for t in table) for k in table[0]["sram_words"]}
    assert sw["ofmap_writes"] > 10 * sw["outputs"]
    assert abs(sw["ifmap_reads"] + sw["filter_reads"] + sw["outputs"] - sw["zigzag"]) / sw["zigzag"] < 0.03


# --- SCALE-Sim OS/WS ifmap with im2col copies (accel.devices.systolic.scalesim_replay._streamed_ifmap_resolver) ---

def _reference_rows():
    from accel.peers.topology import read_scalesim_topology

    layers = {}
    for t in ("alexnet", "resnet18"):
        for ly in read_scalesim_topology(DATA / f"topo_{t}.csv", gemm=False):
            layers[(t, ly.name)] = ly
    with open(DATA / "scalesim_reference.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["mode"] == "USER"]
    return layers, rows


@pytest.mark.parametrize("topology,layer,array,dataflow", [
    ("resnet18", "Conv3_1a", 128, "os"),  # were +100% / +8.1% / +6.9% before copies were modelled
    ("resnet18", "Conv4_1a", 32, "ws"),
    ("resnet18", "Conv1", 128, "ws"),
    ("resnet18", "Conv5_1a", 32, "ws"),  # were +60%, +13%, +86% (total cycles were within 5%)
    ("resnet18", "Conv4_1a", 128, "ws"),
    ("resnet18", "Conv5_1a", 128, "ws"),
])
def test_scalesim_os_ws_ifmap_reads_with_copies_equal_reference(topology, layer, array, dataflow):
    layers, rows = _reference_rows()
    r = next(r for r in rows if (r["topology"], r["layer"], int(r["rows"]), r["dataflow"]) == (topology, layer, array, dataflow))
    ly = layers[(topology, layer)]
    kb = 1024
    o = layers_cycles_np(ly.px, ly.window, ly.K, array, array, dataflow, ifmap_words=ly.H * ly.W * ly.C,
                         ifmap_sram=int(r["ifmap_kb"]) * kb, filter_sram=int(r["filter_kb"]) * kb,
                         ofmap_sram=int(r["ofmap_kb"]) * kb, bw_ifmap=10.0, bw_filter=10.0, bw_ofmap=10.0,
                         dram_traffic="scalesim", conv_geometry=ly.conv_geometry())
    assert int(o["dram_ifmap"]) == int(r["dram_ifmap_reads"])
    assert int(o["dram_filter"]) == int(r["dram_filter_reads"])
    ref_total = float(r["total_cycles"]) + 1
    assert abs(float(o["total_cycles"]) - ref_total) / ref_total <= 0.05


def _brute_ifmap_reads(dataflow, geo, rows, cols, K, sram_words, bw):
    """SCALE-Sim 3.0.0's read_buffer replayed address by address (OS/WS ifmap): the test oracle.

    Ring: the ifmap operand matrix cut into row-fold blocks (OS: taps x pixels, WS: pixels x
    taps), stacked, rolled out along anti-diagonals (high row first), -1 dropped, cut into lines
    of ceil(sram/100) addresses. Each fold streams its block in the same order; an address hits
    if any line holding it is in the window, else the window slides by P lines until one is.
    """
    import math

    H, W, R, S, C, st, Hout, Wout = geo
    i = np.arange(Hout * Wout)[:, None]
    j = np.arange(R * S * C)[None, :]
    orow, ocol = np.divmod(i, Wout)
    cr, k = np.divmod(j, S * C)
    cc, ch = np.divmod(k, C)
    ok = (cr + orow * st < H) & (cc + ocol * st < W)
    ifm = np.where(ok, ((orow * st + cr) * W + ocol * st + cc) * C + ch, -1)
    op = ifm.T if dataflow == "os" else ifm
    T, Sr = op.shape
    rf, cf = -(-Sr // rows), -(-K // cols)
    pad = np.full((T, rf * rows), -1)
    pad[:, :Sr] = op
    blocks = [pad[:, f * rows:(f + 1) * rows] for f in range(rf)]

    def diag(m):
        r, c = np.meshgrid(np.arange(m.shape[0]), np.arange(m.shape[1]), indexing="ij")
        o = np.lexsort((-r.ravel(), (r + c).ravel()))
        v = m.ravel()[o]
        return v[v >= 0]

    ring = diag(np.concatenate(blocks, axis=0))
    eps = math.ceil(sram_words / 100)
    act = math.ceil(sram_words * 0.5)
    n_lines = len(ring) // eps + 1
    A = min(-(-act // eps), n_lines)
    P = min(-(-(sram_words - act) // eps), n_lines - A)
    lines_of: dict[int, list[int]] = {}
    for p, a in enumerate(ring.tolist()):
        lines_of.setdefault(a, []).append(p // eps)
    u = slides = 0
    for _fc in range(cf):
        for fr in range(rf):
            for a in diag(blocks[fr]).tolist():
                if P <= 0:
                    continue
                d = min((ln - u) % n_lines for ln in lines_of[a])
                if d >= A:
                    kk = -(-(d - A + 1) // P)
                    slides += kk
                    u = (u + kk * P) % n_lines
    initial = min(-(-act // bw), -(-(T * rf * rows) // bw)) * bw
    return initial + slides * -(-(sram_words - act) // bw) * bw


def test_scalesim_os_ws_ifmap_copies_match_bruteforce_replay(monkeypatch):
    """The resolver's counts equal an address-by-address replay on random small convs with overlapping windows."""
    import random

    from accel.devices.systolic.scalesim_replay import ConvGeometry, scalesim_operand_traffic

    rng = random.Random(3)
    positional_wrong = 0
    cases = 0
    while cases < 40:
        R, S = rng.randint(2, 5), rng.randint(2, 5)
        st = rng.choice([1, 1, rng.randint(1, min(R, S))])
        H, W = rng.randint(R, 20), rng.randint(S, 20)
        C, K = rng.randint(1, 12), rng.randint(1, 40)
        Hout, Wout = -(-(H - R + st) // st), -(-(W - S + st) // st)
        rows, cols = rng.choice([4, 8, 16]), rng.choice([4, 8, 16])
        df, sram = rng.choice(["os", "ws"]), rng.choice([1024, 2048, 4096])
        geo = (H, W, R, S, C, st, Hout, Wout)
        if Hout * Wout * R * S * C < 3 * sram // 2:
            continue  # ring fits the window: nothing to test
        cases += 1
        conv = ConvGeometry(H, W, R, S, C, st, Wout=Wout, Hout=Hout)
        Sr, Sc, T = {"os": (Hout * Wout, K, R * S * C), "ws": (R * S * C, K, Hout * Wout)}[df]
        ref = _brute_ifmap_reads(df, geo, rows, cols, K, sram, 10)
        assert scalesim_operand_traffic("ifmap", df, Sr, Sc, T, rows, cols, sram, 10, conv=conv).dram_words == ref, \
            (df, geo, rows, cols, K, sram)
        with monkeypatch.context() as m:  # the same without copies (by position only)
            m.setattr(ConvGeometry, "has_copies", property(lambda self: False))
            positional = scalesim_operand_traffic("ifmap", df, Sr, Sc, T, rows, cols, sram, 10, conv=conv).dram_words
        positional_wrong += positional != ref
    assert positional_wrong >= 1  # the cases exercise copies: positions alone get some wrong
