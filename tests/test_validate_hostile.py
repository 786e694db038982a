"""Issue 17 item 4: measurement directories with degenerate or hostile content give one-line
ConfigErrors naming file, row and column (before: ZeroDivisionError / UnicodeDecodeError tracebacks)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from accel.errors import ConfigError
from accel.validate import read_measurements

SRC = Path(__file__).parent / "data" / "validate" / "h100_quick"


def _dir(tmp_path: Path, name: str, text: bytes) -> Path:
    d = tmp_path / "m"
    d.mkdir(exist_ok=True)
    shutil.copy(SRC / "device.json", d)
    (d / name).write_bytes(text)
    return d


def _set(name: str, col: str, value: str, line: int = 1) -> bytes:
    lines = (SRC / name).read_text().splitlines()
    hdr = lines[0].split(",")
    cells = lines[line].split(",")
    cells[hdr.index(col)] = value
    lines[line] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("name, col, value, reason", [
    ("gemm.csv", "M", "0", "must be >= 1, got 0"),          # before: ZeroDivisionError in the predictor
    ("gemm.csv", "M", "2.5", "whole number"),
    ("gemm.csv", "K", "inf", "must be finite"),
    ("gemm.csv", "N", "", "empty"),
    ("gemm.csv", "ms", "nan", "empty or NaN"),              # before: said only "empty" for a literal nan
    ("gemm.csv", "ms", "0", "finite number > 0"),
    ("conv.csv", "groups", "0", "must be >= 1"),            # before: ZeroDivisionError
    ("conv.csv", "groups", "7", "divisible by groups=7"),
    ("conv.csv", "stride", "0", "must be >= 1"),
    ("cpu.csv", "threads", "0", "must be >= 1"),            # before: ZeroDivisionError
    ("micro.csv", "bytes", "-1", "must be >= 0"),
    ("e2e.csv", "batch", "0", "must be >= 1"),
])
def test_bad_values_named(tmp_path, name, col, value, reason):
    d = _dir(tmp_path, name, _set(name, col, value))
    with pytest.raises(ConfigError) as ei:
        read_measurements(d)
    s = str(ei.value)
    assert "\n" not in s and re.search(rf"{name}: row 2, column {col}: ", s) and reason in s, s


@pytest.mark.parametrize("name, text, reason", [
    ("gemm.csv", (SRC / "gemm.csv").read_bytes() + b"\xff\xfe,1\n", "not UTF-8 text"),
    ("gemm.csv", (SRC / "gemm.csv").read_bytes() + b"fp32," + b"1" * 100_000 + b"\n", "line longer than"),
    ("gemm.csv", b"", "cannot parse CSV"),
    ("gemm.csv", (SRC / "gemm.csv").read_bytes() + b'"fp32,1\n', "cannot parse CSV"),
    ("device.json", (SRC / "device.json").read_bytes().replace(b"NVIDIA", b"NV\xff", 1), "not UTF-8 text"),
    ("device.json", b'{"name": "H100", "name": "A100"}', "duplicate key 'name'"),
    ("device.json", b'{"threads": NaN}', "NaN is not valid JSON"),
])
def test_bad_files_named(tmp_path, name, text, reason):
    d = _dir(tmp_path, "gemm.csv", (SRC / "gemm.csv").read_bytes())
    (d / name).write_bytes(text)
    with pytest.raises(ConfigError) as ei:
        read_measurements(d)
    s = str(ei.value)
    assert "\n" not in s and name in s and reason in s, s


def test_device_json_threads_zero(tmp_path):
    from accel.validate import validate_dir

    src = SRC.parent / "epyc_cpu_quick"
    d = tmp_path / "cpu"
    d.mkdir()
    shutil.copy(src / "gemm.csv", d)
    (d / "device.json").write_text(re.sub(r'"threads": \d+', '"threads": 0', (src / "device.json").read_text()))
    with pytest.raises(ConfigError, match="threads: must be >= 1"):  # before: ZeroDivisionError
        validate_dir(d, arch="epyc_genoa_2vcpu")


def test_energy_name_with_zero_size_is_skipped(tmp_path):
    from accel.validate.compare import collect_energy, _Collector
    from accel.validate.predictor import ReferencePredictor
    import pandas as pd

    col = _Collector(ReferencePredictor(read_measurements(SRC)), progress=False)
    collect_energy(col, pd.DataFrame([{"workload": "gemm0_bf16", "iters": 3, "joules": 1.0},
                                      {"workload": "resnet50_b0_fp32", "iters": 3, "joules": 1.0}]))
    assert [s.key for s in col.skipped] == ["gemm0_bf16", "resnet50_b0_fp32"]
