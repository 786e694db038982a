"""Workload extraction: PyTorch model -> :class:`accel.graph.LayerGraph` (needs torch).

Public API::

    extract_model(name, batch=1, mode="infer", dtype="fp32", seq_len=None, optimizer="sgd", amp=None) -> LayerGraph
    extract(module, example_inputs, mode="infer", loss_fn=None, optimizer="sgd", dtype=None, amp=None) -> LayerGraph
    list_models() -> list[str]
    build_model(name, batch=1, dtype="fp32", seq_len=None) -> (module, inputs, info)
    run_step(model, inputs, mode, loss_fn, opt, on_phase, amp) / make_optimizer(model, "sgd"|"adam")
    AutocastMode(torch.bfloat16)  # CUDA autocast's cast policy on meta tensors (workloads.autocast)
    import_torchvision() -> torchvision module (see workloads._torchvision_shim)

Models run on the ``meta`` device: no weights are allocated or downloaded, nothing is
cached on disk. FLOPs equal torch.utils.flop_counter.FlopCounterMode's count.
"""

from workloads import flops as _flops  # noqa: F401  (registers missing FLOP formulas)
from workloads._torchvision_shim import _define_missing_schemas, import_torchvision
from workloads.autocast import AutocastMode
from workloads.extract import AMP_DTYPES, MODES, OPTIMIZERS, default_loss, extract, extract_model, make_optimizer, run_step
from workloads.models import ALIASES, MODELS, build_model, canonical_name, list_models

# define the torchvision:: op schemas now, so that a later `import torchvision` (directly or
# from transformers) works beside the CPU torch wheel; torchvision itself is imported lazily
_define_missing_schemas()

__all__ = [
    "AMP_DTYPES", "AutocastMode",
    "ALIASES", "MODELS", "MODES", "OPTIMIZERS", "build_model", "canonical_name", "default_loss", "extract",
    "extract_model", "import_torchvision", "list_models", "make_optimizer", "run_step",
]
