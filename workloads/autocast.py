"""CUDA autocast (automatic mixed precision) emulated on meta tensors.

``torch.autocast("cuda")`` does nothing on meta tensors (the Autocast dispatch keys only exist
for real backends, and autocast only casts tensors on its own device), so a traced
``bf16_amp`` training step would run wholly in fp32. :class:`AutocastMode` re-applies CUDA
autocast's cast policy at the torch-function level, above autograd, so the casts it inserts
are ordinary ``aten._to_copy`` ops with their own backward (``ToCopyBackward``) that the
recorder sees, exactly as on the GPU:

- *lower precision* ops (convolutions, matmul/linear/bmm/addmm/einsum, scaled-dot-product
  attention, RNN cells and cuDNN's fused LSTM/GRU) run with their floating inputs cast to the
  autocast dtype; casts of fp32 parameters (leaf tensors that require grad) are cached for the
  whole autocast region, so each weight is cast once per forward (autocast's weight cache);
- *fp32* ops (layer/group/RMS norm, softmax and log_softmax, sums, exp/log/pow, losses, ...)
  run with their lower-precision inputs cast to fp32;
- *promote* ops run at the widest floating dtype of their inputs;
- everything else (batch norm, ReLU/GELU, adds, pooling, ...) runs in whatever dtype its inputs
  already have, as autocast leaves it alone.

The op lists are those of PyTorch's ``ATen/autocast_mode.h`` (``AT_FORALL_LOWER_PRECISION_FP``,
``AT_FORALL_FP32``, ``AT_FORALL_FP32_SET_OPT_DTYPE``, ``AT_FORALL_PROMOTE``) plus ``lstm`` /
``gru`` / ``rnn_*`` (cuDNN RNNs are autocast by ``native/cudnn/AutocastRNN.cpp``), matched by the
torch function's name.

Limitation: torch runs a mode's handler with the mode switched off, so the ops *inside* a
Python composite function (``F.interpolate``, ...) are not seen one by one. The one such
composite in the model zoo, ``F.multi_head_attention_forward`` (``nn.MultiheadAttention``, ViT),
is treated as a lower-precision op. Its inputs and weights are cast once up front, which is what
autocast does op by op: its projections and attention are all lower-precision ops. With
``need_weights=True`` its softmax would run in bf16 here but in fp32 under real autocast.

:class:`GradScalerEmulation` issues ``torch.amp.GradScaler``'s per-step kernels (loss scaling,
the fused non-finite check + unscale of all gradients, the scale update) on meta tensors, where
the real GradScaler cannot run (its ``step`` reads ``found_inf`` on the host). fp16 mixed
precision trains with it; bf16 normally does not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from workloads.recorder import flatten_tensors

#: AT_FORALL_LOWER_PRECISION_FP (+ full cuDNN RNNs, AutocastRNN.cpp)
LOWER_PRECISION_OPS = frozenset("""
    _convolution convolution conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d
    conv_transpose3d prelu addmm addmv addr matmul einsum mm mv linalg_vecdot linear addbmm baddbmm
    bmm chain_matmul linalg_multi_dot _thnn_fused_lstm_cell _thnn_fused_gru_cell lstm_cell gru_cell
    rnn_tanh_cell rnn_relu_cell _scaled_dot_product_flash_attention scaled_dot_product_attention
    lstm gru rnn_tanh rnn_relu __matmul__ __rmatmul__
""".split()) | frozenset(("multi_head_attention_forward",))

#: AT_FORALL_FP32 and AT_FORALL_FP32_SET_OPT_DTYPE (the latter keep an explicit ``dtype=``)
FP32_OPS = frozenset("""
    acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan pow __pow__
    __rpow__ softplus layer_norm native_layer_norm rms_norm group_norm frobenius_norm nuclear_norm
    cosine_similarity poisson_nll_loss cosine_embedding_loss nll_loss nll_loss2d
    hinge_embedding_loss kl_div l1_loss smooth_l1_loss huber_loss mse_loss margin_ranking_loss
    multilabel_margin_loss soft_margin_loss triplet_margin_loss multi_margin_loss
    binary_cross_entropy_with_logits dist pdist cdist renorm logsumexp upsample_nearest1d
    upsample_nearest2d upsample_nearest3d upsample_linear1d upsample_bilinear2d upsample_trilinear3d
    upsample_bicubic2d
""".split())
FP32_SET_OPT_DTYPE_OPS = frozenset("prod softmax log_softmax cumprod cumsum linalg_vector_norm "
                                   "linalg_matrix_norm sum".split())

#: AT_FORALL_PROMOTE
PROMOTE_OPS = frozenset("addcdiv addcmul atan2 bilinear cross dot vdot grid_sampler index_put tensordot "
                        "scatter_add".split())

#: dtypes autocast casts between (it leaves integer / fp64 tensors alone)
_CASTABLE = (torch.float32, torch.float16, torch.bfloat16)


def policy(func: Any) -> str | None:
    """Autocast policy of a torch function: "lower", "fp32", "fp32_opt_dtype", "promote" or None."""
    name = getattr(func, "__name__", "")
    if name in LOWER_PRECISION_OPS:
        return "lower"
    if name in FP32_OPS:
        return "fp32"
    if name in FP32_SET_OPT_DTYPE_OPS:
        return "fp32_opt_dtype"
    if name in PROMOTE_OPS:
        return "promote"
    return None


class AutocastMode(TorchFunctionMode):
    """Apply CUDA autocast's cast policy (see module docstring) to torch calls in its scope.

    Args:
        dtype: the lower-precision dtype, ``torch.bfloat16`` or ``torch.float16``.

    ``casts`` counts the casts inserted (``weights``: cached parameter casts; ``activations``).
    """

    def __init__(self, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"autocast dtype must be torch.bfloat16 or torch.float16, got {dtype}")
        self.dtype = dtype
        self._weight_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.casts = {"weights": 0, "activations": 0}

    def _cast(self, x: Any, to: torch.dtype) -> Any:
        if not isinstance(x, torch.Tensor) or x.dtype not in _CASTABLE or x.dtype == to:
            return x
        cacheable = to == self.dtype and x.dtype == torch.float32 and x.is_leaf and x.requires_grad
        if cacheable:
            hit = self._weight_cache.get(id(x))
            if hit is not None and hit[0] is x:
                return hit[1]
        y = x.to(to)
        if cacheable:
            self._weight_cache[id(x)] = (x, y)  # keeps x alive, so its id is not reused
            self.casts["weights"] += 1
        else:
            self.casts["activations"] += 1
        return y

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        pol = policy(func)
        if pol is None:
            return func(*args, **kwargs)
        if pol == "lower":
            to = self.dtype
        elif pol == "fp32":
            to = torch.float32
        elif pol == "fp32_opt_dtype":
            if kwargs.get("dtype") is not None:
                return func(*args, **kwargs)
            to = torch.float32
        else:  # promote: widest floating dtype among the inputs
            floats = [t.dtype for t in flatten_tensors((args, kwargs)) if t.dtype in _CASTABLE]
            if len(set(floats)) <= 1:
                return func(*args, **kwargs)
            to = torch.float32 if torch.float32 in floats else torch.promote_types(*floats[:2])
        args, kwargs = tree_map(lambda x: self._cast(x, to), (args, kwargs))
        return func(*args, **kwargs)

    def __exit__(self, *exc):
        self._weight_cache.clear()  # autocast clears its cache when the outermost region exits
        return super().__exit__(*exc)


class GradScalerEmulation:
    """The kernels ``torch.amp.GradScaler`` launches in one steady-state training step.

    ``scale(loss)``: ``loss * scale``; ``step(optimizer)``: ``inv_scale`` (double, reciprocal,
    float), a zeroed ``found_inf``, ``_amp_foreach_non_finite_check_and_unscale_`` over every
    gradient (one dtype/device group), the optimizer step, then ``_amp_update_scale_``. Not
    modelled: the host's read of ``found_inf`` before the optimizer step (a device sync on a GPU).

    Args:
        device: where the scale lives (the parameters' device).
        init_scale, growth_factor, backoff_factor, growth_interval: GradScaler's defaults.
    """

    def __init__(self, device: torch.device | str, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000):
        self.device = torch.device(device)
        # created once, before the traced step (GradScaler keeps them across steps)
        self.scale_tensor = torch.full((), init_scale, dtype=torch.float32, device=self.device)
        self.growth_tracker = torch.zeros((), dtype=torch.int32, device=self.device)
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.scale_tensor

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        inv_scale = self.scale_tensor.double().reciprocal().float()
        found_inf = torch.full((), 0.0, dtype=torch.float32, device=self.device)
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)
        optimizer.step()
        torch._amp_update_scale_(self.scale_tensor, self.growth_tracker, found_inf, self.growth_factor,
                                 self.backoff_factor, self.growth_interval)
