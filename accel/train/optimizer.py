"""The optimizer step of one rank (``--optimizer-step``): the streaming kernels a training stack runs between the last
backward and the next forward, each a pass over whole tensors (every byte read and written crosses HBM once),
priced by the device's cost model like any streaming op.

A rank holds ``rank_params`` parameters (its model and gradient buffers) and updates ``local_params`` of them
(``rank_params / (dp x cp)`` under ZeRO >= 1). Tensors, per parameter: ``main`` (the main weight), ``m`` and ``v``
(Adam's moments) and ``grad`` (the main gradient) in the optimizer dtype; ``model`` (the 16-bit weight the next
forward reads); ``model_grad`` (the gradient as the backward left it: the fp16 buffer in fp16 training, fp32
otherwise); ``tmp`` (an optimizer-dtype temporary). The implementations (:data:`OPTIMIZER_STEPS`):

``fused``
    One multi-tensor Adam kernel that also writes the 16-bit copy: reads main, grad, m, v; writes main, m, v and
    model (16 + 12 + 2 = 30 B per parameter with fp32 state; 8 + 6 + 2 = 16 B with bf16 state). Apex's and
    DeepSpeed's ``FusedAdam``, Apex's ``DistributedFusedAdam`` (NeMo), which folds gradient clipping's scale into it.
``megatron``
    Megatron-LM's mixed-precision optimizer around Apex ``FusedAdam`` (``megatron/optimizer/optimizer.py``
    ``Float16OptimizerWithFloat16Params.step`` @55ba1f7b, 2022; Megatron-Core r0.8 ``MixedPrecisionOptimizer.step``
    and ``DistributedOptimizer``, the same passes over the rank's shard), with ``--clip-grad 1.0`` (its default):

    1. ``_copy_model_grads_to_main_grads``: ``main_grad.float()``, a cast from the fp16 gradient buffer (fp16
       training; bf16 training accumulates in fp32, ``accumulate_allreduce_grads_in_fp32``, so ``.float()`` is a
       no-op);
    2. fp16 only: ``torch._amp_foreach_non_finite_check_and_unscale_`` reads and writes the main gradients;
    3. ``clip_grad_norm_fp32``: ``multi_tensor_l2norm`` reads them (the scale runs only when the norm exceeds
       the threshold, not in steady training);
    4. ``FusedAdam``: reads main, grad, m, v; writes main, m, v;
    5. ``_copy_main_params_to_model_params``: ``multi_tensor_scale`` reads main, writes model;
    6. the next step's ``zero_grad_buffer`` zeroes the gradient buffer, all ``rank_params`` of it.

    fp16: 6 + 8 + 4 + 28 + 6 = 52 B per local parameter plus 2 B per rank parameter; bf16: 4 + 28 + 6 = 38 B plus
    4 B.
``pytorch``
    PyTorch's own: ``clip_grad_norm_`` (``torch.nn.utils`` and FSDP's, which always scale to avoid a host sync:
    a norm pass reading the gradients, then ``grad.mul_(clip_coef_clamped)``), then AdamW's element-wise passes
    (``torch.optim.AdamW`` and Composer's ``DecoupledAdamW.adamw``, composer v0.16.4
    ``composer/optim/decoupled_weight_decay.py``, one kernel per pass; its ``foreach`` form makes the same passes):
    ``exp_avg.mul_(beta1).add_(grad)``, ``exp_avg_sq.mul_(beta2).addcmul_(grad, grad)``,
    ``denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)``, ``param.addcdiv_(exp_avg, denom)``:
    4 + 8 + 8 + 12 + 8 + 12 + 8 + 8 + 8 + 16 = 92 B per parameter with fp32 state (``grad`` read twice by
    ``addcmul_`` counts once: the second load hits the cache). Weight decay 0 (llm-foundry's MPT YAMLs: a nonzero
    decay adds ``param.mul_``, 8 B); no 16-bit copy (FSDP casts when it gathers).

Kernel launch and host overheads of the per-tensor passes are not priced (tens of tensors per rank: well under
a millisecond), nor is the AMP loss scaler's bookkeeping.
"""

from __future__ import annotations

from accel.graph import OpNode, TensorInfo, dtype_bytes

#: ``--optimizer-step`` choices (module docstring)
OPTIMIZER_STEPS: tuple[str, ...] = ("fused", "megatron", "pytorch")

#: a pass: (name, tensors read, tensors written, over the rank's parameters rather than the local shard)
_Pass = tuple[str, tuple[str, ...], tuple[str, ...], bool]

_FUSED: tuple[_Pass, ...] = (("fused_adam", ("main", "grad", "m", "v"), ("main", "m", "v", "model"), False),)
_ADAM: _Pass = ("fused_adam", ("main", "grad", "m", "v"), ("main", "m", "v"), False)
_MEGATRON_FP16: tuple[_Pass, ...] = (
    ("copy_model_grads_to_main_grads", ("model_grad",), ("grad",), False),
    ("unscale_and_check_inf", ("grad",), ("grad",), False),
    ("clip_grad_l2norm", ("grad",), (), False),
    _ADAM,
    ("copy_main_params_to_model_params", ("main",), ("model",), False),
    ("zero_grad_buffer", (), ("model_grad",), True),
)
_MEGATRON: tuple[_Pass, ...] = (
    ("clip_grad_l2norm", ("grad",), (), False),
    _ADAM,
    ("copy_main_params_to_model_params", ("main",), ("model",), False),
    ("zero_grad_buffer", (), ("model_grad",), True),
)
_PYTORCH: tuple[_Pass, ...] = (
    ("clip_grad_norm", ("grad",), (), False),
    ("clip_grad_scale", ("grad",), ("grad",), False),
    ("exp_avg_mul", ("m",), ("m",), False),
    ("exp_avg_add_grad", ("m", "grad"), ("m",), False),
    ("exp_avg_sq_mul", ("v",), ("v",), False),
    ("exp_avg_sq_addcmul_grad", ("v", "grad"), ("v",), False),
    ("denom_sqrt", ("v",), ("tmp",), False),
    ("denom_div_bias_correction", ("tmp",), ("tmp",), False),
    ("denom_add_eps", ("tmp",), ("tmp",), False),
    ("param_addcdiv", ("main", "m", "tmp"), ("main",), False),
)


def optimizer_passes(optimizer: str, dtype: str) -> tuple[_Pass, ...]:
    """The passes of ``optimizer`` (:data:`OPTIMIZER_STEPS`) for training dtype ``dtype``. ValueError naming
    ``--optimizer-step`` for an unknown one."""
    if optimizer == "fused":
        return _FUSED
    if optimizer == "megatron":
        return _MEGATRON_FP16 if dtype == "fp16" else _MEGATRON
    if optimizer == "pytorch":
        return _PYTORCH
    raise ValueError(f"--optimizer-step: unknown {optimizer!r}; allowed: {', '.join(OPTIMIZER_STEPS)}")


def _tensor_dtypes(optimizer_dtype: str, dtype: str) -> dict[str, str]:
    """The dtype of each tensor a pass names (module docstring) for training dtype ``dtype``: fp16 training keeps
    an fp16 gradient buffer, the others fp32; the 16-bit weight copy is fp16 or bf16."""
    return {"main": optimizer_dtype, "grad": optimizer_dtype, "m": optimizer_dtype, "v": optimizer_dtype,
            "tmp": optimizer_dtype, "model": "fp16" if dtype == "fp16" else "bf16",
            "model_grad": "fp16" if dtype == "fp16" else "fp32"}


def optimizer_step_ops(optimizer: str, local_params: float, rank_params: float, optimizer_dtype: str = "fp32",
                       dtype: str = "bf16") -> list[OpNode]:
    """The optimizer step's kernels on one rank (module docstring): one streaming op per pass of
    :func:`optimizer_passes`, over ``local_params`` parameters (``rank_params`` for the gradient-buffer passes);
    ``optimizer_dtype``: main weights, moments and main gradients; ``dtype``: the training dtype
    (:func:`_tensor_dtypes`)."""
    dtypes = _tensor_dtypes(optimizer_dtype, dtype)
    ops = []
    for name, reads, writes, over_rank in optimizer_passes(optimizer, dtype):
        n = max(1, int(rank_params if over_rank else local_params))

        def tensors(names: tuple[str, ...]) -> list[TensorInfo]:
            return [TensorInfo.of((n,), dtypes[t]) for t in names]

        outputs = tensors(writes) or [TensorInfo.of((1,), "fp32")]  # a norm pass writes one partial sum
        ops.append(OpNode(f"optimizer/{name}", "optimizer", inputs=tensors(reads), outputs=outputs,
                          flops=12.0 * n if name == "fused_adam" else float(n), dtype=optimizer_dtype,
                          phase="optimizer"))
    return ops


def bytes_per_param(optimizer: str, optimizer_dtype: str = "fp32", dtype: str = "bf16") -> tuple[float, float]:
    """(bytes per local parameter, bytes per rank parameter) that ``optimizer``'s passes read and write (module
    docstring; a norm's one partial sum not counted)."""
    dtypes = _tensor_dtypes(optimizer_dtype, dtype)
    per = {False: 0.0, True: 0.0}
    for _, reads, writes, over_rank in optimizer_passes(optimizer, dtype):
        per[over_rank] += sum(dtype_bytes(dtypes[t]) for t in reads + writes)
    return per[False], per[True]
