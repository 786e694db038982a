"""Integration of `accel validate` with the shipped models (GPU/CPU cost models, link model, extractor, sim).

Accuracy targets themselves are tested by the model owners; here we check that every row of the
small fixture is predicted (nothing silently skipped) and the numbers are sane.
"""

from pathlib import Path

import pytest

from accel.validate import validate_dir

SMALL = Path(__file__).parent / "data" / "validate" / "h100_small"


def _require_archs():
    from accel.arch import list_archs

    have = list_archs()
    for name in ("h100", "h100_host_xeon", "pcie5"):
        assert name in have, f"arch {name} is not bundled"


def test_kernels_links_cpu_all_predicted():
    _require_archs()
    rep = validate_dir(SMALL, only=["gemm", "conv", "micro", "cpu"])
    assert not [s for s in rep.skipped if s.category != "cpu_model"], rep.skipped[:3]
    cats = {c.category for c in rep.comparisons}
    assert {"gemm", "conv", "pcie", "devmem", "cpu_gemm", "cpu_copy"} <= cats
    for c in rep.comparisons:
        assert 0.01 < c.predicted / c.measured < 100, c  # sane order of magnitude, not an accuracy target


@pytest.mark.slow
def test_layers_and_models_via_extractor_and_sim():
    _require_archs()
    pytest.importorskip("torch")
    rep = validate_dir(SMALL, only=["layers", "e2e"])
    layer = [c for cat in ("layer", "layer_b1", "layer_dev") for c in rep.by_category(cat)]
    assert len(layer) > 20 and {c.tags["model"] for c in layer} == {"alexnet", "lstm_lm"}
    # only Dropout modules (identity in eval) may lack ops
    assert all("Dropout" in s.reason for s in rep.skipped if s.category == "layer"), rep.skipped[:3]
    assert len(rep.by_category("model")) == 16 and len(rep.by_category("train")) == 4


def test_cpu_measurement_dir_with_cpu_arch(tmp_path):
    """A directory from `accel measure --device cpu` (this project's 2-vCPU EPYC VM) against a CPU arch YAML."""
    from accel.arch import list_archs

    assert "h100_host_xeon" in list_archs()
    d = SMALL.parent / "epyc_cpu_quick"
    import importlib.util

    spec = importlib.util.spec_from_file_location("epyc_arch", SMALL.parent / "epyc_arch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yaml = mod.write_epyc_arch(tmp_path / "epyc.yaml")
    rep = validate_dir(d, cpu_arch=str(yaml), only=["gemm", "conv", "cpu"])
    assert "cpu" in rep.predictor and not rep.skipped, rep.skipped[:3]
    g = rep.by_category("gemm")
    assert len(g) == 6 and len(rep.by_category("conv")) == 10
    # device.json says the kernels ran with 1 thread: the CPU spec is re-threaded accordingly
    assert "threads" in (d / "device.json").read_text()
