"""Workload extraction: PyTorch model -> :class:`accel.graph.LayerGraph` (needs torch).

Public API::

    extract_model(name, batch=1, mode="infer", dtype="fp32", seq_len=None, optimizer="sgd", amp=None,
                  memory_format=None) -> LayerGraph
    extract(module, example_inputs, mode="infer", loss_fn=None, optimizer="sgd", dtype=None, amp=None,
            memory_format=None) -> LayerGraph
    list_models() -> list[str]; MODEL_NAMES, MODEL_DESCRIPTIONS, ALIASES, MEASURED_MODELS, DTYPE_OPTIONS, ...
    build_model(name, batch=1, dtype="fp32", seq_len=None, memory_format=None) -> (module, inputs, info)
    run_step(model, inputs, mode, loss_fn, opt, on_phase, amp) / make_optimizer(model, "sgd"|"adam")
    AutocastMode(torch.bfloat16)  # CUDA autocast's cast policy on meta tensors (workloads.autocast)
    import_torchvision() -> torchvision module (see workloads._torchvision_shim)

Models run on the ``meta`` device: no weights are allocated or downloaded, nothing is
cached on disk. FLOPs equal torch.utils.flop_counter.FlopCounterMode's count.

Imports are lazy: ``import workloads`` loads only :mod:`workloads.names` (model names and
option lists, no torch), so a command line can list models or hit a graph cache without torch.
torch is imported on first use of anything else (``workloads.extract_model`` etc.), torchvision
and transformers only when a model of theirs is built. The ``torchvision::`` op schemas that the
CPU torch wheel lacks are defined just before torchvision is first imported, whether through
:func:`import_torchvision`, by transformers, or by a plain ``import torchvision`` after
``import workloads`` (an import hook; see :mod:`workloads._torchvision_shim`).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from workloads.names import (ALIASES, AMP_DTYPES, DTYPE_OPTIONS, IMAGE_MODELS, INFERENCE_ONLY_DTYPES,
                             MEASURED_MODELS, MEMORY_FORMATS, MODEL_DESCRIPTIONS, MODEL_NAMES, MODES, OPTIMIZERS,
                             canonical_name, list_models)

#: attribute -> submodule defining it; imported (with torch) on first access
_LAZY: dict[str, str] = {
    "AutocastMode": "workloads.autocast",
    "default_loss": "workloads.extract", "extract": "workloads.extract", "extract_model": "workloads.extract",
    "make_optimizer": "workloads.extract", "run_step": "workloads.extract",
    "MODELS": "workloads.models", "build_model": "workloads.models",
    "import_torchvision": "workloads._torchvision_shim",
}


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first access (PEP 562)."""
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'workloads' has no attribute {name!r}")
    if mod != "workloads._torchvision_shim":
        importlib.import_module("workloads.flops")  # registers the FLOP formulas torch lacks
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The ``workloads`` package: keeps the functions ``workloads.extract`` etc. bound when the
    import system sets the submodule of the same name (``workloads.extract``) on the package."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and value.__name__ == _LAZY[name]:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


class _TorchvisionSchemaHook:
    """A ``sys.meta_path`` finder that defines the missing ``torchvision::`` op schemas right before
    torchvision is first imported.

    Finds nothing itself (returns None, so the normal finders import torchvision); removes itself
    on first use. (Not derived from ``importlib.abc.MetaPathFinder``: importing that costs more than
    the rest of ``import workloads``.)
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "torchvision":
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
            from workloads._torchvision_shim import _define_missing_schemas

            _define_missing_schemas()
        return None


if "torchvision" not in sys.modules and not any(isinstance(f, _TorchvisionSchemaHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _TorchvisionSchemaHook())

__all__ = [
    "ALIASES", "AMP_DTYPES", "AutocastMode", "DTYPE_OPTIONS", "IMAGE_MODELS", "INFERENCE_ONLY_DTYPES",
    "MEASURED_MODELS", "MEMORY_FORMATS", "MODEL_DESCRIPTIONS", "MODEL_NAMES", "MODELS", "MODES", "OPTIMIZERS",
    "build_model", "canonical_name", "default_loss", "extract", "extract_model", "import_torchvision",
    "list_models", "make_optimizer", "run_step",
]
