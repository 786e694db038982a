"""Extraction entry points: torch module (+ example inputs) -> :class:`accel.graph.LayerGraph`.

``mode="infer"``: ``model.eval()`` forward under ``torch.no_grad()``.
``mode="train"``: one steady-state training step: forward (``model.train()``), loss,
backward, optimizer step. The optimizer's state (e.g. momentum buffers) is created by
one untraced warm-up step on zero gradients first, so the traced step is the
steady-state one that repeats every iteration. ``zero_grad(set_to_none=True)`` issues
no kernels. Optimizers use the multi-tensor (``foreach``) implementation, as PyTorch
does by default on CUDA.

The default loss is ``output.float().square().mean()`` (``last_hidden_state`` for HF
models, first element of tuples): the loss ``measure_gpu.py`` used for ``e2e.csv``
``train_sgd`` rows. Built-in language models with a head (``gpt2``, ``bert_base``) train on their
own cross-entropy loss instead (see :mod:`workloads.models`).

dtype options (:data:`workloads.names.DTYPE_OPTIONS`): ``fp32``, ``fp16``, ``bf16`` cast the
parameters and float inputs; ``tf32`` traces in fp32 and labels the compute dtype of MAC ops
(matmul, conv, conv_transpose, attention, rnn -- forward and backward; what
``torch.backends.cuda.matmul.allow_tf32`` / ``cudnn.allow_tf32`` switch) ``"tf32"``, tensors stay
fp32 (4 bytes); ``int8`` / ``fp8`` (inference only) trace in fp16 and record a fully quantized
graph: every fp16 tensor (weights, activations, inputs and outputs of every op) is recorded as
``int8`` / ``fp8`` (1 byte per element) and every op computing in fp16 as computing in that dtype
(a quantized inference engine keeping weights and activations in 8 bits between layers, with
quantization scales folded into the kernels). Tensors the model itself creates in another dtype
(token ids, explicit fp32 upcasts) keep theirs. Decoder LLMs are the exception: their int8 / fp8 is the
W8A8 recipe of LLM serving engines (:func:`workloads.llm.quantize_activations`).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Sequence

import torch

from accel.graph import LayerGraph, dtype_bytes
from workloads.autocast import AutocastMode, GradScalerEmulation
from workloads.models import base_dtype, build_model, torch_dtype
from workloads.names import AMP_DTYPES, DTYPE_OPTIONS, INFERENCE_ONLY_DTYPES, MEMORY_FORMATS, MODES, OPTIMIZERS
from workloads.recorder import (Recorder, attention_regions, dtype_name, flatten_tensors, fused_kernel_regions, module_hooks,
                                storage_key)

__all__ = ["AMP_DTYPES", "DTYPE_OPTIONS", "MEMORY_FORMATS", "MODES", "OPTIMIZERS", "default_loss", "extract",
           "extract_model", "make_optimizer", "run_step"]


def default_loss(output: Any) -> torch.Tensor:
    """Mean of squares of the model output (HF: ``last_hidden_state``; tuples: first item)."""
    if hasattr(output, "last_hidden_state"):
        output = output.last_hidden_state
    elif isinstance(output, dict):
        output = next(iter(output.values()))
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.float().square().mean()


def make_optimizer(model: torch.nn.Module, optimizer: str = "sgd", lr: float = 1e-3) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or Adam over ``model``'s trainable parameters, state initialised.

    The warm-up step runs on zero gradients and creates the optimizer state, so a later
    ``step()`` is the steady-state update. Gradients are reset to None afterwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=True)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, foreach=True)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return opt


def run_step(model: torch.nn.Module, inputs: Sequence[Any], mode: str = "infer",
             loss_fn: Callable[[Any], torch.Tensor] | None = None,
             opt: torch.optim.Optimizer | None = None,
             on_phase: Callable[[str], Any] | None = None, amp: str | None = None,
             grad_scaler: GradScalerEmulation | None = None) -> Any:
    """Run one inference pass or one training step of ``model`` on ``inputs``.

    ``on_phase(phase)`` is called before the forward, backward and optimizer parts, and
    may return a context manager wrapping that part (the loss is part of the forward).
    ``amp`` ("bf16" or "fp16") runs the forward and the loss under CUDA autocast's policy
    (:class:`workloads.autocast.AutocastMode`), as ``torch.autocast("cuda", dtype)`` would;
    ``grad_scaler`` scales the loss and unscales the gradients around the optimizer step, as
    ``torch.amp.GradScaler`` does.
    Returns the model output (inference) or the loss (training).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    _check_amp(amp)

    def phase(name: str):
        cm = on_phase(name) if on_phase else None
        return cm if cm is not None else contextlib.nullcontext()

    def autocast():
        return AutocastMode(torch_dtype(amp)) if amp else contextlib.nullcontext()

    if mode == "infer":
        model.eval()
        with torch.no_grad(), phase("forward"), autocast():
            return model(*inputs)
    if opt is None:
        raise ValueError("mode 'train' needs an optimizer (see make_optimizer)")
    loss_fn = loss_fn or default_loss
    model.train()
    opt.zero_grad(set_to_none=True)
    with torch.enable_grad():
        with phase("forward"), autocast():
            out = model(*inputs)
            loss = loss_fn(out)
        if grad_scaler is not None:
            with phase("forward"):
                loss = grad_scaler.scale(loss)
        with phase("backward"):
            loss.backward()
    with phase("optimizer"):
        if grad_scaler is not None:
            grad_scaler.step(opt)
        else:
            opt.step()
    return loss


def _check_common(mode: str, optimizer: str, amp: str | None = None, dtype: str | None = None) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    _check_amp(amp)
    if dtype is None:
        return
    if dtype not in DTYPE_OPTIONS:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPE_OPTIONS)}")
    if dtype in INFERENCE_ONLY_DTYPES:
        if mode != "infer":
            allowed = ", ".join(d for d in DTYPE_OPTIONS if d not in INFERENCE_ONLY_DTYPES)
            raise ValueError(f"dtype {dtype} is for inference only (mode 'infer'); for mode {mode!r} allowed: {allowed}")
        if amp is not None:
            raise ValueError(f"dtype {dtype} is a quantized graph: amp (autocast) does not apply; use amp=None")


def _dtype_maps(dtype: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(tensor+op dtype map, MAC-op compute dtype map) of a dtype option (see the module docstring)."""
    if dtype == "tf32":
        return {}, {"fp32": "tf32"}
    if dtype in INFERENCE_ONLY_DTYPES:
        return {base_dtype(dtype): dtype}, {}
    return {}, {}


def _check_amp(amp: str | None) -> None:
    # the message names no other option (the CLIs map an error to the first flag it mentions)
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"unknown amp {amp!r}; allowed: {', '.join(AMP_DTYPES)} (or None)")


def _to_meta(module: torch.nn.Module, inputs: Sequence[Any], dtype: str | None,
             copy_module: bool = True, channels_last: bool = False) -> tuple[torch.nn.Module, tuple]:
    """A meta-device copy of ``module`` (the caller's module is left untouched) and of
    ``inputs``, with floats cast to ``dtype``'s storage dtype and, with ``channels_last``, 4-D
    parameters and inputs in ``torch.channels_last`` strides."""
    if copy_module:
        module = _meta_clone(module)
    module = module.to("meta")
    if dtype is not None:
        module = module.to(dtype=torch_dtype(dtype))
    if channels_last:
        # torch's stub omits Module.to's memory_format keyword (accepted at runtime, documented)
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def conv(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            y = x.to("meta") if x.device.type != "meta" else x
            if dtype is not None and y.is_floating_point():
                y = y.to(torch_dtype(dtype))
            if channels_last and y.dim() == 4:
                y = y.contiguous(memory_format=torch.channels_last)
            return y
        if isinstance(x, (list, tuple)):
            return type(x)(conv(v) for v in x)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return module, tuple(conv(x) for x in inputs)


def _meta_clone(module: torch.nn.Module) -> torch.nn.Module:
    """Deep copy of ``module`` whose parameters and buffers are meta tensors (weights not copied)."""
    memo: dict[int, Any] = {}
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) in memo:
            continue
        meta_t = torch.empty_like(t, device="meta")
        memo[id(t)] = torch.nn.Parameter(meta_t, t.requires_grad) if isinstance(t, torch.nn.Parameter) else meta_t
    return copy.deepcopy(module, memo)


def extract(module: torch.nn.Module, example_inputs: Sequence[Any] | torch.Tensor, mode: str = "infer",
            loss_fn: Callable[[Any], torch.Tensor] | None = None, optimizer: str = "sgd",
            dtype: str | None = None, name: str | None = None, meta: dict[str, Any] | None = None,
            _copy: bool = True, amp: str | None = None, grad_scaler: bool | None = None,
            memory_format: str | None = None,
            stored_dtypes: Callable[[str], str | None] | None = None) -> LayerGraph:
    """Extract the LayerGraph of an arbitrary torch module.

    Args:
        module: the model. A copy on the ``meta`` device is traced, so the caller's module
            (weights, hooks, grads, train/eval flag) is left untouched and weights are
            never copied; build it under ``torch.device("meta")`` to never allocate them.
        example_inputs: a tensor or a sequence of positional inputs (any device; only
            shapes and dtypes matter).
        mode: "infer" or "train" (forward + loss + backward + optimizer step).
        loss_fn: output -> scalar loss for training (default :func:`default_loss`).
        optimizer: "sgd" (momentum 0.9) or "adam".
        dtype: "fp32", "fp16" or "bf16" to cast float parameters and inputs; "tf32", "int8" or
            "fp8" as described in the module docstring; None keeps them.
        name: graph name (default: the module's class name).
        meta: extra entries for ``graph.meta``.
        amp: "bf16" or "fp16": run the forward (and loss) under CUDA autocast's cast policy
            (mixed precision: parameters, optimizer and master weights stay in ``dtype``;
            see :mod:`workloads.autocast`). None: no autocast.
        grad_scaler: training with a ``torch.amp.GradScaler`` (loss scaling, gradient
            unscale + inf check, scale update). Default: on for ``amp="fp16"``, off otherwise.
        memory_format: None or "contiguous" (PyTorch's default NCHW), or "channels_last": 4-D
            parameters and inputs in NHWC strides, and every convolution (forward and backward)
            records ``attrs["channels_last"] = True``. Otherwise a convolution records True when
            its input or weight is NHWC-strided (:func:`workloads.kinds.conv_channels_last`).
        stored_dtypes: parameter/buffer name -> the dtype it is stored in, or None to keep the traced one
            (weight-only quantization, an fp8 KV cache): their tensors are recorded in that dtype (bytes),
            while the ops that read them keep the activations' dtype.

    Returns:
        LayerGraph in program order; ``graph.meta`` has model, batch, mode, dtype,
        seq_len, params (a tied parameter counted once), param_bytes (in the recorded dtype),
        input_shapes, input_dtypes (+ optimizer, loss in train mode; amp; compute_dtype "tf32";
        memory_format "channels_last").
    """
    _check_common(mode, optimizer, amp, dtype)
    if memory_format not in (None, *MEMORY_FORMATS):
        raise ValueError(f"unknown memory_format {memory_format!r}; allowed: {', '.join(MEMORY_FORMATS)} (or None)")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    module, inputs = _to_meta(module, example_inputs, dtype, copy_module=_copy,
                              channels_last=memory_format == "channels_last")
    opt = make_optimizer(module, optimizer) if mode == "train" else None
    if grad_scaler is None:
        grad_scaler = amp == "fp16" and mode == "train"  # fp16 autocast inference has no GradScaler
    if grad_scaler and mode != "train":
        raise ValueError("grad_scaler is only used with mode='train'")
    first_param = next(iter(module.parameters()), None)
    scaler = GradScalerEmulation(first_param.device if first_param is not None else "meta") \
        if (grad_scaler and mode == "train") else None

    weight_keys = {storage_key(t) for t in list(module.parameters()) + list(module.buffers())}
    if opt is not None:
        for state in opt.state.values():
            weight_keys.update(storage_key(t) for t in flatten_tensors(state))
    dtype_map, compute_map = _dtype_maps(dtype)
    storage_dtypes: dict[int, str] = {}
    if stored_dtypes is not None:  # parameters / buffers kept in another dtype than they are traced in
        for pname, t in list(module.named_parameters()) + list(module.named_buffers()):
            dt = stored_dtypes(pname)
            if dt is not None:
                storage_dtypes[storage_key(t)] = dt
    rec = Recorder(weight_keys, dtype_map=dtype_map, compute_dtype_map=compute_map,
                   channels_last=memory_format == "channels_last", storage_dtypes=storage_dtypes)

    def on_phase(p: str):
        rec.phase = p
        return None

    with attention_regions(rec), fused_kernel_regions(rec), module_hooks(rec, module), rec:
        if mode == "train":
            # the loss runs after the root module's hooks: attribute it to "loss"
            user_loss = loss_fn or default_loss

            def loss_wrapped(out: Any) -> torch.Tensor:
                stop = rec.autograd_boundary()
                rec.module_stack.append("loss")
                try:
                    loss = user_loss(out)
                finally:
                    rec.module_stack.pop()
                rec.tag_autograd(loss, stop, "loss", None)
                return loss

            run_step(module, inputs, mode, loss_wrapped, opt, on_phase, amp=amp, grad_scaler=scaler)
        else:
            run_step(module, inputs, mode, None, None, on_phase, amp=amp)

    params = list(module.parameters())
    first = flatten_tensors(inputs)
    float_params = [p for p in params if p.is_floating_point()]

    def recorded(dt: torch.dtype) -> str:
        n = dtype_name(dt)
        return dtype_map.get(n, n)

    info: dict[str, Any] = {
        "model": name or type(module).__name__,
        "batch": int(first[0].shape[0]) if first and first[0].dim() else 1,
        "mode": mode,
        "dtype": dtype or (dtype_name(float_params[0].dtype) if float_params else "fp32"),
        "seq_len": None,
        # module.parameters() yields a tied parameter (e.g. GPT-2's lm_head = wte) once
        "params": int(sum(p.numel() for p in params)),
        "param_bytes": int(sum(p.numel() * dtype_bytes(recorded(p.dtype)) for p in params)),
        "input_shapes": [list(t.shape) for t in first],
        "input_dtypes": [recorded(t.dtype) for t in first],
        "flops_convention": "torch.utils.flop_counter.FlopCounterMode (2 per MAC; matmul/conv/attention only)",
        "torch_version": torch.__version__,
    }
    if mode == "train":
        info["optimizer"] = optimizer
        info["loss"] = "custom" if loss_fn else "mean_square"
    if amp:
        info["amp"] = amp
    if compute_map:
        info["compute_dtype"] = dtype
    if memory_format == "channels_last":
        info["memory_format"] = memory_format
    if scaler is not None:
        info["grad_scaler"] = True
    info.update(meta or {})
    return rec.build_graph(str(info["model"]), info)


def extract_model(name: str, batch: int = 1, mode: str = "infer", dtype: str = "fp32",
                  seq_len: int | None = None, optimizer: str = "sgd", amp: str | None = None,
                  memory_format: str | None = None, phase: str | None = None,
                  context: int | None = None, weights: str | None = None, kv_dtype: str | None = None) -> LayerGraph:
    """Extract a built-in workload (see :func:`workloads.list_models`) on meta tensors.

    Args:
        name: model name or alias (:data:`workloads.names.MODEL_NAMES`, :data:`~workloads.names.ALIASES`);
            unknown names raise ValueError listing the allowed ones. ``gpt2`` / ``bert_base`` carry
            their LM heads and train on their own cross-entropy loss; ``gpt2_headless`` /
            ``bert_headless`` are the headless modules of the H100 measurements (mean-square loss).
        batch: items per step (images or sequences), a positive integer.
        mode: "infer" (``eval()``, ``no_grad``) or "train" (forward + loss + backward + optimizer step).
        dtype: "fp32", "fp16", "bf16" (parameters and activations in that dtype); "tf32" (fp32
            tensors; matmul/conv/attention/rnn ops, forward and backward, compute in TF32:
            ``op.dtype == "tf32"``, ``graph.meta["compute_dtype"] == "tf32"``); "int8" / "fp8"
            (inference only, no amp): a fully quantized graph traced in fp16 whose fp16 tensors
            are recorded as 1-byte int8/fp8 tensors and whose fp16 ops compute in int8/fp8
            (``param_bytes`` = 1 byte per parameter). See :mod:`workloads.extract`. Decoder LLMs run int8 / fp8
            as serving engines do instead (W8A8: :func:`workloads.llm.quantize_activations`).
        seq_len: tokens per sequence for token models (default gpt2 512, bert_base 512,
            lstm_lm 128; at most the model's position table); rejected for image models.
        optimizer: "sgd" (momentum 0.9) or "adam" (train mode).
        amp: "bf16" / "fp16": CUDA autocast over a ``dtype`` (normally fp32) model, as in
            ``torch.autocast("cuda", dtype=torch.bfloat16)`` mixed-precision training; None: off.
        memory_format: None / "contiguous" (NCHW), or "channels_last" (image models only): the
            model and input in ``torch.channels_last``, so every convolution (forward and
            backward) records ``attrs["channels_last"] = True`` (the GPU model then charges no
            NCHW<->NHWC layout transforms to tensor-core convs).

        phase / context / weights / kv_dtype: decoder LLMs only (a named config such as ``llama3-8b`` or a
            ``llama:``/``gpt:`` spec string, :mod:`workloads.llm_configs`): ``prefill``, or ``decode`` over a
            cache of ``context`` tokens; weight-only quantization and the KV cache's dtype; see
            :func:`workloads.llm.extract_llm`.

    Returns:
        LayerGraph; ``graph.meta`` as in :func:`extract`, plus family, and ``loss``
        (``causal_lm_cross_entropy``, ``masked_lm_cross_entropy`` or ``mean_square``) in train mode.
    """
    _check_common(mode, optimizer, amp, dtype)
    from workloads.llm_configs import is_llm_name

    if is_llm_name(name):
        if amp is not None or memory_format not in (None, "contiguous"):
            raise ValueError(f"LLM {name!r}: amp and memory_format do not apply; give the dtype (fp16, bf16, fp8...)")
        from workloads.llm import extract_llm

        return extract_llm(name, batch=batch, seq_len=seq_len, phase=phase, context=context, dtype=dtype, mode=mode,
                           weights=weights, kv_dtype=kv_dtype)
    if phase is not None or context is not None or weights is not None or kv_dtype is not None:
        raise ValueError(f"phase and context apply to decoder LLMs (llama2-7b, llama:..., gpt:...), not {name!r}")
    model, inputs, info = build_model(name, batch, dtype, seq_len, memory_format=memory_format)
    meta: dict[str, Any] = {"model": info["model"], "batch": batch, "dtype": dtype, "seq_len": info["seq_len"],
                            "family": info["family"]}
    if mode == "train":
        meta["loss"] = info["loss"]
    return extract(model, inputs, mode=mode, loss_fn=info["loss_fn"], optimizer=optimizer, dtype=dtype,
                   name=info["model"], _copy=False, amp=amp, memory_format=memory_format, meta=meta)
