"""Import torchvision (model definitions only) beside the CPU-only torch wheel.

Decision (project lead): accel uses ``torch==2.13.0`` (CPU wheel) together with the
PyPI ``torchvision==0.28.0`` wheel, and only for torchvision's *model definitions*.
torchvision's compiled C++ extension does not load beside that CPU torch build, and
``import torchvision`` then fails while registering fake kernels with
``operator torchvision::nms does not exist``.

This shim declares the schemas of every ``torchvision::`` operator (nms, qnms,
roi_align, _roi_align_backward, ps_roi_align, _ps_roi_align_backward, roi_pool,
_roi_pool_backward, ps_roi_pool, _ps_roi_pool_backward, deform_conv2d,
_deform_conv2d_backward, qroi_align) through ``torch.library.Library("torchvision",
"FRAGMENT").define(...)`` -- only those not already defined, so a working
torchvision install is left untouched -- and then imports torchvision.

Consequences: classification models (alexnet, vgg, resnet, mobilenet, googlenet,
ViT, ...) build and run, including on the ``meta`` device used by the extractor.
The detection ops above have schemas but no kernels: calling them (``torchvision.ops.nms``,
``roi_align``, ... as detection models do) raises torchvision's ``RuntimeError: Couldn't
load custom C++ ops``. Detection models are therefore not supported.

Always import torchvision through :func:`import_torchvision` inside this project.
"""

from __future__ import annotations

import types

_SCHEMAS: dict[str, str] = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward": "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align": "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward": "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, "
    "SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool": "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward": "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width) -> Tensor",
    "ps_roi_pool": "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward": "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "deform_conv2d": "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward": "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, "
    "Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, "
    "SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "qroi_align": "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, "
    "float rois_scale, int rois_zero_point, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
}

_lib = None  # keeps the torch.library.Library alive (dropping it would undefine the ops)


def _native_ops_load() -> bool:
    """Try torchvision's own C++ extension first (e.g. on a CUDA torch build where it matches).

    Returns True when the real ``torchvision::`` ops are registered, so no shim is needed.
    """
    import glob
    import importlib.util
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for pkg_dir in spec.submodule_search_locations:
        for lib in glob.glob(os.path.join(pkg_dir, "_C*.so")) + glob.glob(os.path.join(pkg_dir, "_C*.pyd")):
            try:
                torch.ops.load_library(lib)
            except (OSError, RuntimeError):
                return False
            try:
                torch.ops.torchvision.nms
                return True
            except (AttributeError, RuntimeError):
                return False
    return False


def _define_missing_schemas() -> None:
    global _lib
    import torch

    if _lib is None and _native_ops_load():
        return

    for name, schema in _SCHEMAS.items():
        try:
            getattr(torch.ops.torchvision, name)
            continue  # already defined (real torchvision ops loaded, or shim ran before)
        except (AttributeError, RuntimeError):
            pass
        if _lib is None:
            _lib = torch.library.Library("torchvision", "FRAGMENT")
        _lib.define(schema)


def import_torchvision() -> types.ModuleType:
    """Return the ``torchvision`` module, defining missing ``torchvision::`` op schemas first."""
    import sys

    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "models"):
        return sys.modules["torchvision"]
    _define_missing_schemas()
    import torchvision

    return torchvision
