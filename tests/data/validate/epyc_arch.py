"""Write a complete CPU arch YAML for the 2-vCPU EPYC dev VM: machine facts from epyc_zen4_2vcpu.yaml plus the
calibration block of the shipped archs/cpu/h100_host_xeon.yaml, unchanged (an out-of-sample portability check).

    python tests/data/validate/epyc_arch.py OUT.yaml
"""

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def write_epyc_arch(out: Path) -> Path:
    from accel.arch.loader import read_yaml, resolve_arch_path

    facts = read_yaml(HERE / "epyc_zen4_2vcpu.yaml")
    donor = read_yaml(resolve_arch_path("h100_host_xeon"))
    facts["calibration"] = donor["calibration"]
    facts.setdefault("sources", {})["calibration"] = (
        "NOT fitted to this machine: copied unchanged from archs/cpu/h100_host_xeon.yaml "
        "(fitted to data/measurements/h100/cpu.csv) to test portability")
    out = Path(out)
    out.write_text(yaml.safe_dump(facts, sort_keys=False))
    return out


if __name__ == "__main__":
    print(write_epyc_arch(Path(sys.argv[1])))
