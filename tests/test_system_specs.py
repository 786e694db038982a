"""System YAMLs: schema, references to other archs, bare-device wrapping."""

import pytest

from accel.arch import load_arch
from accel.arch.loader import validate_arch_dict
from accel.errors import ConfigError
from accel.sim import DEFAULT_HOST_LINK, resolve_system
from accel.sim.system import system_from_spec
from test_sim_toydev import toy_spec

SYSTEMS = ["h100_pcie5_host", "dgx_h100", "h100x8_pcie", "h100x4_nvlink", "dgx_a100", "v100x8_nvswitch"]


@pytest.mark.parametrize("name", SYSTEMS)
def test_shipped_systems_validate_with_sources(name):
    s = load_arch(name)
    assert s.kind == "system" and s.device_count >= 1
    link = load_arch(s.host_link)
    assert link.kind == "link"
    if s.fabric.topology != "none":
        assert load_arch(s.fabric.link).kind == "link"


@pytest.mark.parametrize("name", SYSTEMS)
def test_shipped_systems_resolve(name):
    spec = load_arch(name)
    for g in spec.devices:
        load_arch(g.arch)
    sysm = resolve_system(name)
    assert sysm.n_devices == spec.device_count
    assert len({d.name for d in sysm.devices}) == sysm.n_devices
    if sysm.n_devices > 1:
        assert sysm.fabric_bandwidth > 0


def test_dgx_vs_pcie_fabric():
    dgx, pcie = resolve_system("dgx_h100"), resolve_system("h100x8_pcie")
    assert dgx.fabric_topology == "nvswitch" and pcie.fabric_topology == "pcie_host"
    assert dgx.fabric_bandwidth > 5 * pcie.fabric_bandwidth


def test_bare_device_is_wrapped_with_default_pcie5_host_link():
    sysm = resolve_system(toy_spec())
    assert DEFAULT_HOST_LINK == "pcie5"
    assert sysm.n_devices == 1 and sysm.host_link.name == "PCIe 5.0 x16" and sysm.fabric_link is None
    eight = sysm.with_devices(8, "nvlink4")
    assert eight.n_devices == 8 and eight.fabric_topology == "nvswitch"
    assert sysm.with_devices(2).fabric_topology == "pcie_host"


def sys_dict(**kw):
    d = {"kind": "system", "name": "s", "devices": [{"arch": "pcie5", "count": 2}], "host_link": "pcie5",
         "fabric": {"topology": "nvswitch", "link": "nvlink4"}}
    d.update(kw)
    return d


def test_system_errors_name_file_and_field():
    with pytest.raises(ConfigError, match=r"s.yaml: devices\[0\].arch: arch 'pcie5' is a link, not a device"):
        system_from_spec(validate_arch_dict(sys_dict(), "s.yaml"))
    with pytest.raises(ConfigError, match=r"s.yaml: devices\[0\].arch: cannot load referenced arch 'nochip'"):
        system_from_spec(validate_arch_dict(sys_dict(devices=[{"arch": "nochip"}]), "s.yaml"))
    with pytest.raises(ConfigError, match="s.yaml: fabric.topology"):
        validate_arch_dict(sys_dict(fabric={"topology": "ring"}), "s.yaml")
    with pytest.raises(ConfigError, match=r"s.yaml: devices.0.count"):
        validate_arch_dict(sys_dict(devices=[{"arch": "h100", "count": 0}]), "s.yaml")
    with pytest.raises(ConfigError, match="s.yaml: devices"):
        validate_arch_dict(sys_dict(devices=[]), "s.yaml")
    with pytest.raises(ConfigError, match="a link cannot be simulated"):
        resolve_system("nvlink4")


def test_host_link_must_be_a_link(tmp_path):
    p = tmp_path / "toy_sys.yaml"
    p.write_text("kind: system\nname: t\ndevices: [{arch: pcie5}]\nhost_link: pcie5\n")
    spec = load_arch(p)
    assert spec.fabric.topology == "none"
