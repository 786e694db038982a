import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from accel.cli import main  # noqa: E402
from accel.errors import ConfigError  # noqa: E402
from accel.measure import measure  # noqa: E402
from accel.measure.shapes import CONV_SHAPES, TRAINING_GEMMS, plan_for  # noqa: E402
from accel.validate import compare, load_predictor, read_measurements  # noqa: E402

DATA = Path(__file__).parent / "data" / "validate"
FAKE = f"{DATA / 'fake_predictor.py'}:Roofline"


def header(path):
    with open(path) as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("measure_tiny")
    rc = main(["measure", "--device", "cpu", "--preset", "tiny", "-o", str(out)])
    assert rc == 0
    return out


def test_cpu_measure_writes_the_shared_format(tiny_dir):
    for name in ("device.json", "gemm.csv", "conv.csv", "layers.csv", "e2e.csv", "cpu.csv"):
        assert (tiny_dir / name).is_file(), name
    assert not (tiny_dir / "micro.csv").exists() and not (tiny_dir / "energy.csv").exists()  # CUDA-only sections
    small = DATA / "h100_small"
    for name in ("gemm.csv", "conv.csv", "layers.csv", "e2e.csv"):
        ours, ref = header(tiny_dir / name), header(small / name)
        missing = [c for c in ref if c not in ours and c != "batch"]  # bmm 'batch' only when bmm rows exist
        assert not missing, (name, missing)
    assert header(tiny_dir / "cpu.csv")[:3] == ["kind", "threads", "M"]
    dev = json.loads((tiny_dir / "device.json").read_text())
    assert dev["device_type"] == "cpu" and dev["name"] and dev["preset"] == "tiny"
    rows = list(csv.DictReader((tiny_dir / "gemm.csv").open()))
    assert len(rows) == 2 and all(float(r["ms"]) > 0 for r in rows)
    kinds = {r["kind"] for r in csv.DictReader((tiny_dir / "cpu.csv").open())}
    assert {"cpu_gemm_fp32", "cpu_copy"} <= kinds


def test_validate_reads_cpu_measurements(tiny_dir):
    m = read_measurements(tiny_dir)
    assert m.device_type == "cpu"
    rep = compare(m, load_predictor(FAKE))
    cats = {c.category for c in rep.comparisons}
    assert {"gemm", "conv", "cpu_gemm", "cpu_copy", "model"} <= cats
    # on a CPU directory gemm rows go through cpu_kernel_time with the measured thread count
    g = rep.by_category("gemm")[0]
    assert g.predicted > 0 and g.measured > 0


def test_cpu_dir_needs_an_arch(tiny_dir):
    from accel.validate import choose_archs

    with pytest.raises(ConfigError, match="pass --arch or --cpu-arch"):
        choose_archs(read_measurements(tiny_dir))
    assert choose_archs(read_measurements(tiny_dir), cpu_arch="mycpu") == ("mycpu", "mycpu")


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown section; allowed: device"):
        measure(tmp_path, device="cpu", what=["gemm", "nope"])
    with pytest.raises(ConfigError, match="allowed: cuda, cpu"):
        measure(tmp_path, device="tpu")
    with pytest.raises(ValueError, match="allowed: tiny, quick, full"):
        plan_for("cpu", "huge")


def test_full_cuda_plan_is_measure_gpu_py_and_the_training_gemms():
    p = plan_for("cuda", "full")
    assert len(p.gemm) == 11 + 49 + 13 + len(TRAINING_GEMMS) and p.conv == list(CONV_SHAPES) and len(CONV_SHAPES) == 38
    assert set(TRAINING_GEMMS) <= set(plan_for("cuda", "quick").gemm)
    assert p.conv_batches == [1, 32, 128] and p.e2e_batches == [1, 8, 32, 128]


def test_dispatch_section_times_each_op_class(tmp_path):
    """accel measure --what dispatch: host time per eager call of tiny ops, per dispatch class (CPU tensors here)."""
    import pandas as pd

    from accel.arch.cpu import DISPATCH_CLASSES

    written = measure(tmp_path, device="cpu", what=["device", "dispatch"], preset="tiny", log=lambda *a: None)
    d = pd.read_csv(written["dispatch"])
    assert set(d["op_class"]) == set(DISPATCH_CLASSES) | {"module", "native"}
    assert (d["ms"] > 0).all() and (d["ms"] < 5).all()  # microseconds per call, not a whole loop
    assert {"calls", "spread", "noisy"} <= set(d.columns)
    from accel.validate import read_measurements

    assert len(read_measurements(tmp_path).tables["dispatch.csv"]) == len(d)


def test_conv_backward_section_and_its_validation(tmp_path):
    """accel measure --what conv_bwd times dgrad and wgrad (aten.convolution_backward per output_mask);
    accel validate predicts each as the model's convolution_backward with that mask."""
    import pandas as pd

    from accel.validate import validate_dir

    written = measure(tmp_path, device="cpu", what=["device", "conv_bwd"], preset="tiny", threads=1, log=lambda *a: None)
    d = pd.read_csv(written["conv_bwd"])
    assert set(d["pass"]) == {"dgrad", "wgrad"} and len(d) == 2 * len(plan_for("cpu", "tiny").conv)
    rep = validate_dir(tmp_path, arch="epyc_genoa_2vcpu", only=["conv_bwd"])
    got = [c for c in rep.comparisons if c.category == "conv_bwd"]
    assert len(got) == len(d) and {c.tags["pass"] for c in got} == {"dgrad", "wgrad"}
    assert all(c.predicted > 0 for c in got)
    bad = d.copy()
    bad.loc[0, "pass"] = "fwd"
    bad.to_csv(tmp_path / "conv_bwd.csv", index=False)
    with pytest.raises(ConfigError, match="conv_bwd.csv: row 2, column pass: unknown pass 'fwd'; allowed: dgrad, wgrad"):
        read_measurements(tmp_path)
