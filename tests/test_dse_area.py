"""Area model (cited constants in accel/dse/area_models.yaml) and the shipped sweep specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from accel.arch import validate_arch_dict
from accel.arch.loader import list_archs, read_yaml
from accel.dse import build_space, load_area_model, load_spec
from accel.errors import ConfigError

DATA = Path(__file__).parent / "data" / "dse"
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
OWN_SPECS = ["systolic_size_sweep", "gpu_generations", "systolic_nsga2", "h100_memory_sweep", "pcie_generations"]


def test_systolic_area_formula():
    m = load_area_model()
    spec = validate_arch_dict(read_yaml(DATA / "systolic_small.yaml"), "systolic_small.yaml")
    k = m.kinds["systolic"]
    sram_mib = 3 * 64 / 1024
    want = 32 * 32 * k.pe_area + sram_mib * k.sram_area_per_mib + k.fixed_area  # fixture is at 28 nm: no scaling
    assert m.area_mm2(spec) == pytest.approx(want)
    assert want == pytest.approx(32 * 32 * 0.001212 + sram_mib * 4.0 + 155.6)
    big = spec.model_copy(update={"rows": 256, "cols": 256})
    assert m.area_mm2(big) == pytest.approx(want + (256 * 256 - 1024) * k.pe_area)
    # TPU v1 sanity: 256x256 PEs + 24 MiB -> the 331 mm^2 die the constants were derived from
    tpu = spec.model_copy(update={"rows": 256, "cols": 256, "ifmap_sram": 8 * 2**20, "filter_sram": 8 * 2**20,
                                  "ofmap_sram": 8 * 2**20})
    assert m.area_mm2(tpu) == pytest.approx(331, rel=0.01)


def test_tech_node_scaling():
    m = load_area_model()
    raw = read_yaml(DATA / "systolic_small.yaml")
    raw["energy"]["tech_node_nm"] = 14
    spec14 = validate_arch_dict(raw, "x.yaml")
    spec28 = validate_arch_dict(read_yaml(DATA / "systolic_small.yaml"), "x.yaml")
    assert m.area_mm2(spec14) == pytest.approx(m.area_mm2(spec28) * 0.25)


def test_every_constant_is_cited(tmp_path):
    bad = tmp_path / "area.yaml"
    bad.write_text("systolic:\n  form: array\n  pe_count_fields: [rows]\n  pe_area: 0.001 mm^2\n")
    with pytest.raises(ConfigError, match="systolic.pe_area: number has no cited source"):
        load_area_model(bad)


def test_unknown_kind_and_gpu_die_area():
    m = load_area_model()

    class Fake:
        kind, name, origin = "fpga_x", "f", ""

    with pytest.raises(ConfigError, match="no area model for device kind 'fpga_x'"):
        m.area_mm2(Fake())  # type: ignore[arg-type]
    assert m.kinds["gpu"].die_area["h100"] == 814.0


@pytest.mark.parametrize("name", OWN_SPECS)
def test_shipped_specs_validate(name):
    spec = load_spec(EXPERIMENTS / f"{name}.yaml")
    assert spec.name == name
    bases = spec.parameters["arch"].values if "arch" in spec.parameters else [spec.base]
    missing = [b for b in bases if b not in list_archs()]
    assert not missing, f"sweep {name} names arch(s) {missing} that are not bundled"
    space = build_space(spec)
    assert space.size() is not None or spec.search.method != "grid"
