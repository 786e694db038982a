"""Golden numbers: ResNet-50 and GPT-2 (batch 1, inference) on every bundled arch.

Stored per pair: latency, energy, and device 0's compute-stream busy time (at batch 1 a GPU is
host-bound, so the busy time is what shows a change to the device's cost model).

One test, one reviewed diff: any change to a cost model, a calibration constant or a shipped YAML
that moves a latency or an energy shows up here as a table of old -> new values. The numbers are
stored in ``tests/data/golden/archs.json``; after a deliberate model change regenerate them with

    ACCEL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_archs.py

and put the printed before/after table in the commit message.

Each arch is simulated as ``accel simulate --arch NAME`` does with defaults: a device arch alone
(devices with one fixed dtype cost the fp32 graph's MAC ops in that dtype), a system arch on all of
its devices, data-parallel. Training-only restrictions (TPU v1 is inference-only) do not apply here.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from accel.arch import list_archs, load_arch
from accel.arch.system import MAX_DEVICES
from accel.graph import LayerGraph

GOLDEN = Path(__file__).parent / "data" / "golden" / "archs.json"
MODELS = {"resnet50": {}, "gpt2": {"seq_len": 128}}
#: relative tolerance: the models are deterministic closed-form arithmetic; this only absorbs float noise
RTOL = 1e-6
#: archs that are links (not simulated on their own)
_SKIP_KINDS = ("link",)


def _graphs() -> dict[str, LayerGraph]:
    import workloads

    return {m: workloads.extract_model(m, batch=1, mode="infer", dtype="fp32", **kw) for m, kw in MODELS.items()}


def _simulate_all() -> dict[str, dict[str, float]]:
    from accel.sim import ParallelConfig, resolve_system, simulate

    graphs = _graphs()
    out: dict[str, dict[str, float]] = {}
    for name in sorted(list_archs()):
        spec = load_arch(name)
        if spec.kind in _SKIP_KINDS:
            continue
        system = resolve_system(name)
        n = system.n_devices
        if n > MAX_DEVICES:  # cluster-scale systems: beyond the per-device simulator (covered by the cluster path)
            continue
        for model, graph in graphs.items():
            parallel = ParallelConfig(mode="data", devices=n) if n > 1 else None
            kw = {"parallel": parallel} if parallel is not None else {}
            res = simulate(graph, system, **kw)
            busy = sum(r.duration for r in res.records if r.stream == "compute" and r.device == res.devices[0])
            out[f"{name}/{model}"] = {"latency_s": float(res.latency_s), "energy_j": float(res.energy_j),
                                      "device_busy_s": float(busy)}
    return out


def _diff(old: dict[str, dict[str, float]], new: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        if o is None or n is None:
            lines.append(f"{key}: {'added' if o is None else 'removed'}")
            continue
        for field in ("latency_s", "energy_j", "device_busy_s"):
            a, b = o[field], n[field]
            if not math.isclose(a, b, rel_tol=RTOL):
                lines.append(f"{key} {field}: {a:.6g} -> {b:.6g} ({100 * (b / a - 1):+.2f}%)")
    return lines


@pytest.mark.slow
def test_golden_numbers_every_bundled_arch():
    new = _simulate_all()
    for key, vals in new.items():
        for field, v in vals.items():
            assert math.isfinite(v) and v > 0, f"{key} {field} = {v}"
    if os.environ.get("ACCEL_UPDATE_GOLDEN"):
        old = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
        print("\n".join(_diff(old, new)) or "golden numbers unchanged")
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
        return
    old = json.loads(GOLDEN.read_text())
    diff = _diff(old, new)
    assert not diff, ("golden numbers moved (regenerate with ACCEL_UPDATE_GOLDEN=1 if intended):\n"
                      + "\n".join(diff))
