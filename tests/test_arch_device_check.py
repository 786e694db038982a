"""`accel archs check`: arch YAML datasheet numbers against a measured device.json (issue 11 item 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from accel.arch import load_arch
from accel.arch.device_check import (
    MISMATCH, NOT_REPORTED, OK, FieldCheck, _smi_value, check_device, read_device_json,
)
from accel.cli import main

ROOT = Path(__file__).resolve().parent.parent
#: the measured H100 machine (data/measurements/h100); tests/data/validate/h100_quick is a later `accel measure
#: --quick` run on the same machine with the same prop_*/nvml_* numbers, used if data/ is not checked out
H100_DIRS = [d for d in (ROOT / "data" / "measurements" / "h100", ROOT / "tests" / "data" / "validate" / "h100_quick")
             if (d / "device.json").is_file()]
H100_DIR = H100_DIRS[0]
H100_JSON = H100_DIR / "device.json"
CPU_JSON = ROOT / "tests" / "data" / "validate" / "epyc_cpu_quick" / "device.json"
#: the GPU fields every CUDA device.json of `accel measure` reports
GPU_FIELDS = {"sm_count", "clock", "memory.l2_size", "memory.hbm_size", "memory.hbm_bandwidth", "tdp",
              "memory.smem_per_sm", "memory.registers_per_sm", "max_threads_per_sm"}


def _rows(out: str) -> dict[str, list[str]]:
    """Table rows of the printed report: field -> [yaml, device, diff, tol, status] (status may be 2 words)."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("#") or line.startswith("field "):
            continue
        cols = [c for c in line.split("  ") if c.strip()]
        rows[cols[0].strip()] = [c.strip() for c in cols[1:]]
    return rows


def _check(argv, capsys) -> tuple[int, str, str]:
    rc = main(["archs", "check", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _error(argv, capsys) -> str:
    """Run `accel archs check argv` expecting bad input: exit 2, one stderr line, no traceback."""
    rc, out, err = _check(argv, capsys)
    assert rc == 2, (rc, out, err)
    err = err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _doctored(tmp_path: Path, **changes) -> Path:
    """A copy of the H100 device.json with ``changes`` applied (value None deletes the key)."""
    info = json.loads(H100_JSON.read_text())
    for k, v in changes.items():
        if v is None:
            info.pop(k, None)
        else:
            info[k] = v
    p = tmp_path / "device.json"
    p.write_text(json.dumps(info))
    return p


# ---------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("meas", H100_DIRS, ids=[d.name for d in H100_DIRS])
def test_shipped_h100_agrees_with_its_device_json(meas, capsys):
    rc, out, err = _check([str(meas), "--arch", "h100"], capsys)
    assert rc == 0 and not err
    rows = _rows(out)
    assert set(rows) == GPU_FIELDS  # every GPU field compared ...
    assert all(r[4] == OK for r in rows.values()), out  # ... and every one agrees
    assert "all 9 compared fields agree" in out


def test_h100_file_path_and_directory_give_the_same_report(capsys):
    _, by_dir, _ = _check([str(H100_DIR), "--arch", "h100"], capsys)
    _, by_file, _ = _check([str(H100_JSON), "--arch", "h100"], capsys)
    assert by_dir == by_file


def test_h200_against_the_h100_device_flags_exactly_the_fields_that_differ(tmp_path, capsys):
    """h100.yaml agrees with this device (test above), so h200.yaml must be flagged exactly where its
    datasheet numbers differ from h100.yaml's (read from both files, not written down here)."""
    shutil.copy(H100_JSON, tmp_path / "device.json")
    h100, h200 = load_arch("h100"), load_arch("h200")
    info = json.loads(H100_JSON.read_text())
    rep100 = check_device("h100", h100, info, str(H100_JSON))
    rep200 = check_device("h200", h200, info, str(H100_JSON))
    yaml100 = {c.field: c.yaml_value for c in rep100.checks}
    differ = {c.field for c in rep200.checks if c.yaml_value != yaml100[c.field]}
    assert differ, "h200.yaml has the same datasheet numbers as h100.yaml?"
    rc, out, _ = _check([str(tmp_path), "--arch", "h200"], capsys)
    assert rc == 1
    rows = _rows(out)
    flagged = {f for f, r in rows.items() if r[4] == MISMATCH}
    assert flagged == differ, out
    assert all(rows[f][4] == OK for f in GPU_FIELDS - differ)
    assert f"{len(differ)} of 9 compared fields MISMATCH" in out


def test_doctored_l2_of_60_mib_is_flagged_against_h100(tmp_path, capsys):
    p = _doctored(tmp_path, prop_L2_cache_size=60 * 2**20)
    rc, out, _ = _check([str(p), "--arch", "h100"], capsys)
    assert rc == 1
    rows = _rows(out)
    assert rows["memory.l2_size"][:5] == ["50 MiB", "60 MiB", "+20.0%", "1%", MISMATCH]
    assert {f for f, r in rows.items() if r[4] == MISMATCH} == {"memory.l2_size"}
    assert "1 of 9 compared fields MISMATCH: memory.l2_size" in out


def test_h200_yaml_agrees_with_the_public_h200_readout(tmp_path):
    """The numbers `torch.cuda.get_device_properties` printed on an H200 (the public log cited in
    archs/gpu/h200.yaml: 132 SMs, L2_cache_size=60MB, total_memory=143156MB) agree with h200.yaml."""
    p = _doctored(tmp_path, prop_multi_processor_count=132, prop_L2_cache_size=60 * 2**20,
                  prop_total_memory=143156 * 2**20, nvml_mem_bus_width=None, prop_memory_bus_width=None)
    info, _ = read_device_json(p)
    rep = check_device("h200", load_arch("h200"), info, str(p))
    status = {c.field: c.status for c in rep.checks}
    assert status["memory.l2_size"] == OK and status["sm_count"] == OK and status["memory.hbm_size"] == OK
    assert status["memory.hbm_bandwidth"] == NOT_REPORTED  # bus width removed: not compared, not failed
    assert rep.ok


def test_cpu_arch_against_its_cpu_run(capsys):
    rc, out, _ = _check([str(CPU_JSON), "--arch", "epyc_genoa_2vcpu"], capsys)
    assert rc == 0, out
    rows = _rows(out)
    assert rows["cores"][4] == OK and rows["caches[1].size (l2)"][:2] == ["1 MiB", "1 MiB"]
    assert rows["caches[2].size (l3)"][4] == OK and rows["dram_size"][4] == OK
    assert rows["turbo_clock"][4] == NOT_REPORTED  # a VM's lscpu has no CPU max MHz


def test_cpu_arch_against_another_cpu_is_flagged(capsys):
    """A CUDA run records its host CPU: the EPYC VM arch against the H100 machine's Xeon host mismatches."""
    rc, out, _ = _check([str(H100_DIR), "--arch", "epyc_genoa_2vcpu"], capsys)
    assert rc == 1
    assert _rows(out)["cores"][:2] == ["2", "16"] and _rows(out)["cores"][4] == MISMATCH
    rc, out, _ = _check([str(H100_DIR), "--arch", "h100_host_xeon"], capsys)
    assert rc == 0, out


def test_system_checks_gpu_host_cpu_and_pcie_link(capsys):
    rc, out, _ = _check([str(H100_DIR), "--arch", "h100_pcie5_host"], capsys)
    assert rc == 0, out
    rows = _rows(out)
    for f in ("h100.sm_count", "h100.memory.l2_size", "devices.count", "h100_host_xeon.cores",
              "pcie5.generation", "pcie5.lanes", "pcie5.per_direction_bandwidth"):
        assert rows[f][4] == OK, (f, out)


def test_nvidia_smi_text_stands_in_for_missing_nvml(tmp_path, capsys):
    """Without the nvml_* keys (pynvml failed) clock, power and PCIe come from `nvidia-smi -q`."""
    nvml = {k: None for k in json.loads(H100_JSON.read_text()) if k.startswith("nvml_")}
    p = _doctored(tmp_path, **nvml, nvml_error="ModuleNotFoundError('pynvml')")
    rc, out, _ = _check([str(p), "--arch", "h100_pcie5_host"], capsys)
    assert rc == 0, out
    rows = _rows(out)
    assert rows["h100.clock"][-1] == "nvidia_smi_q Max Clocks/SM" and rows["h100.clock"][4] == OK
    assert rows["h100.tdp"][-1] == "nvidia_smi_q Current Power Limit" and rows["h100.tdp"][1] == "700 W"
    assert rows["pcie5.generation"][-1] == "nvidia_smi_q PCIe Generation/Current"
    assert rows["h100.memory.hbm_bandwidth"][-1].startswith("prop_memory_bus_width")


def test_missing_fields_are_not_reported_not_failed(tmp_path, capsys):
    p = tmp_path / "device.json"
    p.write_text(json.dumps({"device_type": "cuda", "name": "mystery", "prop_multi_processor_count": 132}))
    rc, out, _ = _check([str(p), "--arch", "h100"], capsys)
    assert rc == 0
    rows = _rows(out)
    assert rows["sm_count"][4] == OK and rows["memory.l2_size"][4] == NOT_REPORTED
    assert "all 1 compared fields agree, 8 not reported" in out


def test_smi_parser_follows_sections():
    text = ("GPU 0\n    Max Clocks\n        Graphics : 1980 MHz\n        SM : 1980 MHz\n"
            "    Clocks\n        SM : 345 MHz\n    Module Power Readings\n        Current Power Limit : N/A\n"
            "    GPU Power Readings\n        Current Power Limit : 700.00 W\n")
    assert _smi_value(text, ["Max Clocks", "SM"]) == "1980 MHz"
    assert _smi_value(text, ["Clocks", "SM"]) == "345 MHz"
    assert _smi_value(text, ["GPU Power Readings", "Current Power Limit"]) == "700.00 W"


def test_field_check_status_and_tolerance():
    assert FieldCheck("x", "B", 100.0, 101.0, 0.01, "k").status == OK
    assert FieldCheck("x", "B", 100.0, 101.5, 0.01, "k").status == MISMATCH
    assert FieldCheck("x", "", 132.0, 131.0, 0.0, "k").status == MISMATCH
    assert FieldCheck("x", "", 132.0, None, 0.0, "k").status == NOT_REPORTED


def test_help_states_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["archs", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "check DIR_OR_DEVICE_JSON --arch NAME" in out
    assert "0 every compared field agrees" in out and "1 at least one field MISMATCH" in out and "2 bad input" in out


# ---------------------------------------------------------------------------------------- bad input
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert str(missing) in _error([str(missing), "--arch", "h100"], capsys)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "no device.json in this directory" in _error([str(empty_dir), "--arch", "h100"], capsys)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"prop_L2_cache_size": 5')
    assert "malformed JSON" in _error([str(bad_json), "--arch", "h100"], capsys)
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b'{"name": "caf\xe9"}')
    assert "not UTF-8" in _error([str(not_utf8), "--arch", "h100"], capsys)
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    assert "expected a JSON object" in _error([str(array), "--arch", "h100"], capsys)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"torch": "2.11"}')
    assert "device_type" in _error([str(unknown), "--arch", "h100"], capsys)
    wrong_type = _doctored(tmp_path, prop_L2_cache_size="50 MiB")
    err = _error([str(wrong_type), "--arch", "h100"], capsys)
    assert f"{wrong_type}: prop_L2_cache_size: expected a positive number" in err


def test_bad_arch_and_kind_exit_2(capsys):
    assert "no arch named 'h2000'" in _error([str(H100_DIR), "--arch", "h2000"], capsys)
    err = _error([str(CPU_JSON), "--arch", "h100"], capsys)  # CPU-only run vs a GPU arch
    assert err.startswith(f"accel archs: error: {CPU_JSON}: device_type: a CPU-only run")
    err = _error([str(CPU_JSON), "--arch", "h100_pcie5_host"], capsys)  # ... vs a GPU system
    assert "CPU-only run" in err
    assert "no device.json counterpart" in _error([str(H100_DIR), "--arch", "pcie5"], capsys)
    assert "--arch" in _error([str(H100_DIR)], capsys)
    assert "DIR_OR_DEVICE_JSON" in _error(["--arch", "h100"], capsys)
    assert main(["archs", "list", "--arch", "h100"]) == 2
    assert "--arch" in capsys.readouterr().err
