"""FLOP formulas torch's ``FlopCounterMode`` lacks, registered into its global registry.

torch 2.13's ``torch.utils.flop_counter`` counts the CUDA SDPA kernels (flash, efficient,
cudnn) but not the CPU flash kernel ``aten._scaled_dot_product_flash_attention_for_cpu``
(and its backward), so attention run on real CPU tensors would count 0 FLOPs. We
register the same formulas torch uses for the CUDA kernels (``sdpa_flop_count`` and
``sdpa_backward_flop_count``: 2 matmuls forward, 4 backward; causal masking not
discounted), so FlopCounterMode and the extractor agree and attention is counted on
every device. On ``meta`` tensors SDPA decomposes into ``bmm`` ops which torch already
counts.

Import this module (``workloads`` does) before counting.
"""

from __future__ import annotations

import torch
from torch.utils import flop_counter as _fc

aten = torch.ops.aten


def _register(targets: list, formula) -> None:
    missing = [t for t in targets if t not in _fc.flop_registry]
    if missing:
        _fc.register_flop_formula(missing)(formula)


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of CPU flash attention forward: 2*B*H*Lq*Lk*(d_qk + d_v)."""
    return _fc.sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                            **kwargs) -> int:
    """FLOPs of CPU flash attention backward (same formula torch uses for the CUDA kernels)."""
    return _fc.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def register_missing_formulas() -> None:
    """Idempotently add the formulas above to ``torch.utils.flop_counter.flop_registry``."""
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        _register([aten._scaled_dot_product_flash_attention_for_cpu], _cpu_sdpa_flop)
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        _register([aten._scaled_dot_product_flash_attention_for_cpu_backward], _cpu_sdpa_backward_flop)


def flop_count(func, args: tuple, kwargs: dict, out) -> int:
    """FLOPs of one aten call exactly as ``FlopCounterMode`` counts it (0 if it has no formula)."""
    formula = _fc.flop_registry.get(func._overloadpacket)
    if formula is None:
        return 0
    return int(formula(*args, **kwargs, out_val=out))


register_missing_formulas()
