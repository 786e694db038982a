"""torchvision imports beside the CPU torch through the shim; detection ops stay unusable."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("torchvision") is None:  # do not import it here: only through the shim
    pytest.skip("needs the torchvision wheel", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def test_fresh_process_imports_torchvision_and_builds_models_on_meta():
    code = (
        "import torch, workloads\n"
        "tv = workloads.import_torchvision()\n"
        "import torchvision\n"
        "assert tv is torchvision\n"
        "with torch.device('meta'):\n"
        "    m = torchvision.models.resnet18()\n"
        "    y = m(torch.empty(1, 3, 224, 224))\n"
        "assert tuple(y.shape) == (1, 1000)\n"
        "assert hasattr(torch.ops.torchvision, 'nms')\n"
        "try:\n"
        "    torchvision.ops.nms(torch.zeros(2, 4), torch.zeros(2), 0.5)\n"
        "except (RuntimeError, NotImplementedError):\n"
        "    print('nms unavailable')\n"
        "else:\n"
        "    print('nms works')\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok")
