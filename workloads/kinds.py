"""Map aten operators onto :data:`accel.graph.OP_KINDS` and extract kind-specific attrs.

Only shapes are used (the extractor runs on ``meta`` tensors), so everything here is
pure shape arithmetic. Units: element counts; no bytes.
"""

from __future__ import annotations

from typing import Any

import torch

#: aten overload-packet name (``"convolution"`` for ``aten.convolution.default``) -> kind.
_KIND_BY_NAME: dict[str, str] = {}


def _reg(kind: str, names: str) -> None:
    for n in names.split():
        _KIND_BY_NAME[n] = kind


_reg("conv", "convolution _convolution convolution_backward mkldnn_convolution cudnn_convolution "
     "_slow_conv2d_forward _slow_conv2d_backward slow_conv3d_forward slow_conv_dilated2d "
     "_conv_depthwise2d conv_depthwise3d")
_reg("matmul", "mm addmm bmm baddbmm addbmm _addmm_activation mv addmv dot vdot _int_mm _scaled_mm")
_reg("attention", "_scaled_dot_product_flash_attention _scaled_dot_product_efficient_attention "
     "_scaled_dot_product_cudnn_attention _scaled_dot_product_flash_attention_for_cpu "
     "_scaled_dot_product_flash_attention_backward _scaled_dot_product_efficient_attention_backward "
     "_scaled_dot_product_cudnn_attention_backward _scaled_dot_product_flash_attention_for_cpu_backward "
     "_flash_attention_forward _flash_attention_backward _efficient_attention_forward "
     "_efficient_attention_backward _native_multi_head_attention")
_reg("rnn", "_thnn_fused_lstm_cell _thnn_fused_lstm_cell_backward_impl _thnn_fused_gru_cell "
     "_thnn_fused_gru_cell_backward lstm gru rnn_tanh rnn_relu _cudnn_rnn _cudnn_rnn_backward "
     "mkldnn_rnn_layer mkldnn_rnn_layer_backward")
_reg("norm", "native_batch_norm native_batch_norm_backward _native_batch_norm_legit "
     "_native_batch_norm_legit_no_training _native_batch_norm_legit_functional _batch_norm_with_update "
     "_batch_norm_with_update_functional _batch_norm_no_update batch_norm_backward native_layer_norm "
     "native_layer_norm_backward native_group_norm native_group_norm_backward _fused_rms_norm "
     "_fused_rms_norm_backward cudnn_batch_norm cudnn_batch_norm_backward")
_reg("softmax", "_softmax _log_softmax _safe_softmax _softmax_backward_data _log_softmax_backward_data")
_reg("pool", "max_pool2d_with_indices max_pool2d_with_indices_backward max_pool3d_with_indices "
     "max_pool3d_with_indices_backward avg_pool2d avg_pool2d_backward avg_pool3d avg_pool3d_backward "
     "_adaptive_avg_pool2d _adaptive_avg_pool2d_backward _adaptive_avg_pool3d _adaptive_avg_pool3d_backward "
     "adaptive_max_pool2d adaptive_max_pool2d_backward max_pool2d _low_memory_max_pool_with_offsets")
_reg("reduce", "sum mean amax amin max min var var_mean std std_mean prod argmax argmin norm "
     "linalg_vector_norm logsumexp any all cumsum")
_reg("embedding", "embedding embedding_dense_backward embedding_backward _embedding_bag "
     "_embedding_bag_backward index_select")
_reg("activation", "relu relu_ gelu gelu_ gelu_backward sigmoid sigmoid_ sigmoid_backward tanh tanh_ "
     "tanh_backward silu silu_ silu_backward hardtanh hardtanh_ hardtanh_backward hardswish hardswish_ "
     "hardswish_backward hardsigmoid hardsigmoid_ hardsigmoid_backward threshold threshold_backward "
     "leaky_relu leaky_relu_ leaky_relu_backward elu elu_ elu_backward softplus softplus_backward mish "
     "mish_backward _prelu_kernel _prelu_kernel_backward glu glu_backward")
_reg("data_movement", "copy_ copy _to_copy clone cat stack constant_pad_nd reflection_pad2d "
     "replication_pad2d index index_put index_put_ _index_put_impl_ gather scatter scatter_add "
     "slice_scatter select_scatter diagonal_scatter as_strided_scatter roll flip repeat "
     "_unsafe_index _unsafe_index_put masked_scatter "
     "select_backward slice_backward narrow_copy as_strided_copy unfold_backward index_select_backward "
     "expand_copy permute_copy transpose_copy view_copy unsqueeze_copy squeeze_copy split_copy")
_reg("loss", "nll_loss_forward nll_loss_backward nll_loss2d_forward nll_loss2d_backward mse_loss "
     "mse_loss_backward binary_cross_entropy binary_cross_entropy_backward "
     "binary_cross_entropy_with_logits smooth_l1_loss smooth_l1_loss_backward huber_loss "
     "huber_loss_backward l1_loss")

#: ops that only change metadata (or alias their input): never a kernel, never a node.
VIEW_OPS: frozenset[str] = frozenset(
    "view _unsafe_view reshape _reshape_alias t expand expand_as detach alias lift_fresh transpose permute "
    "squeeze unsqueeze select slice as_strided split split_with_sizes unbind unsafe_split "
    "unsafe_split_with_sizes chunk narrow diagonal view_as_real view_as_complex unfold movedim "
    "_reshape_copy_alias numpy_T T mT lift_fresh_copy _conj _neg_view resolve_conj resolve_neg "
    "_nested_view_from_buffer empty empty_like empty_strided new_empty new_empty_strided set_ "
    "_local_scalar_dense".split()
)


#: ops that write every element of their output and read no tensor: a ``*_like`` / ``new_*`` op takes a tensor for
#: its shape, dtype and device only, ``zero_`` / ``fill_`` overwrite theirs (a kernel that only writes)
FILL_OPS: frozenset[str] = frozenset(
    "zeros_like ones_like full_like new_zeros new_ones new_full zero_ fill_".split()
)


def op_name(func: Any) -> str:
    """Overload-packet name of an aten op (``aten.addmm.default`` -> ``"addmm"``)."""
    return func._overloadpacket.__name__ if hasattr(func, "_overloadpacket") else str(func)


def kind_of(func: Any) -> str:
    """Canonical kind for an aten op; pointwise-tagged ops are ``elementwise``, others ``other``."""
    name = op_name(func)
    kind = _KIND_BY_NAME.get(name)
    if kind is not None:
        return kind
    if name.startswith("_foreach_") or name.startswith("_fused_"):
        return "optimizer"
    tags = getattr(func, "tags", ())
    if torch.Tag.pointwise in tags or name in ("fill", "fill_", "zero_", "ones", "zeros", "full", "new_zeros",
                                               "new_ones", "new_full", "zeros_like", "ones_like", "full_like",
                                               "scalar_tensor", "where", "tril", "triu", "arange",
                                               "native_dropout", "native_dropout_backward", "bernoulli_",
                                               "masked_fill", "masked_fill_", "addcmul", "addcdiv"):
        return "elementwise"
    return "other"


def _shape(x: Any) -> tuple[int, ...] | None:
    return tuple(int(d) for d in x.shape) if isinstance(x, torch.Tensor) else None


def _tshape(x: Any) -> tuple[int, ...]:
    """:func:`_shape` of an argument that must be a tensor; TypeError otherwise (callers' attrs are then ``{}``)."""
    s = _shape(x)
    if s is None:
        raise TypeError(f"expected a tensor, got {type(x).__name__}")
    return s


def _scalar_or_first(v: Any) -> int:
    if isinstance(v, (list, tuple)):
        return int(v[0]) if v else 0
    return int(v)


def _pair(v: Any, n: int) -> list[int]:
    if isinstance(v, (list, tuple)):
        v = [int(x) for x in v]
        return v if len(v) == n else (v * n)[:n]
    return [int(v)] * n


def _conv_attrs(inp: torch.Tensor, weight: torch.Tensor, out_spatial: tuple[int, ...] | None, stride: Any,
                padding: Any, dilation: Any, transposed: bool, groups: int) -> dict[str, Any]:
    ish, wsh = _shape(inp), _shape(weight)
    if wsh is None:
        raise TypeError(f"expected a tensor weight, got {type(weight).__name__}")
    nsp = len(wsh) - 2
    groups = int(groups)
    if ish is None:
        raise TypeError(f"expected a tensor input, got {type(inp).__name__}")
    cin = ish[1]
    cout = wsh[1] * groups if transposed else wsh[0]
    sp = list(ish[2:]) + [1] * (2 - nsp) if nsp < 2 else list(ish[2:])
    ks = list(wsh[2:]) + [1] * (2 - nsp) if nsp < 2 else list(wsh[2:])
    osp = list(out_spatial) if out_spatial else [0] * max(nsp, 2)
    osp = osp + [1] * (2 - len(osp)) if len(osp) < 2 else osp
    st, pd, dl = _pair(stride, max(nsp, 1)), _pair(padding, max(nsp, 1)), _pair(dilation, max(nsp, 1))
    return {
        "N": ish[0], "Cin": cin, "Cout": cout, "H": sp[0], "W": sp[1], "R": ks[0], "S": ks[1],
        "stride": st[0], "pad": pd[0], "dilation": dl[0], "groups": groups, "Hout": osp[0], "Wout": osp[1],
        "transposed": bool(transposed), "spatial_dims": nsp, "stride_hw": st, "pad_hw": pd, "dilation_hw": dl,
        **({"D": sp[2], "T": ks[2], "Dout": osp[2]} if nsp == 3 else {}),
    }


def _is_channels_last(t: Any) -> bool:
    """``t`` is laid out NHWC (``torch.channels_last``) and not also plain-contiguous."""
    return (isinstance(t, torch.Tensor) and t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
            and not t.is_contiguous())


def conv_channels_last(inp: Any, weight: Any) -> bool:
    """Layout a convolution kernel runs in: channels_last when its input or weight is NHWC-strided
    (PyTorch's rule for cuDNN, ``cudnn_conv_suggest_memory_format``), NCHW otherwise."""
    return _is_channels_last(inp) or _is_channels_last(weight)


def _attrs_conv(name: str, args: tuple, out: Any) -> dict[str, Any]:
    if name == "convolution_backward":
        grad_out, inp, weight = args[0], args[1], args[2]
        stride, padding, dilation, transposed, _opad, groups = args[4], args[5], args[6], args[7], args[8], args[9]
        a = _conv_attrs(inp, weight, _tshape(grad_out)[2:], stride, padding, dilation, transposed, groups)
        mask = args[10] if len(args) > 10 else [True, True, True]
        a["output_mask"] = [bool(m) for m in mask]
        a["channels_last"] = conv_channels_last(inp, weight) or _is_channels_last(grad_out)
        return a
    if name in ("convolution", "_convolution"):
        inp, weight, _bias, stride, padding, dilation, transposed, _opad, groups = args[:9]
        a = _conv_attrs(inp, weight, _tshape(out)[2:], stride, padding, dilation, transposed, groups)
    else:
        # backend-specific convolutions: (input, weight, ..., stride, padding, ...): best effort
        inp, weight = args[0], args[1]
        o = out[0] if isinstance(out, (tuple, list)) else out
        a = _conv_attrs(inp, weight, _tshape(o)[2:], 1, 0, 1, False, 1)
    a["channels_last"] = conv_channels_last(inp, weight)
    return a


def _attrs_matmul(name: str, args: tuple, out: Any) -> dict[str, Any]:
    if name in ("addmm", "_addmm_activation", "baddbmm", "addbmm", "addmv"):
        a, b = args[1], args[2]
    else:
        a, b = args[0], args[1]
    sa, sb = _tshape(a), _tshape(b)
    if len(sa) == 1 and len(sb) == 1:  # dot
        return {"M": 1, "N": 1, "K": sa[0], "batch": 1}
    if len(sb) == 1:  # mv
        return {"M": sa[0], "N": 1, "K": sa[1], "batch": 1}
    if len(sa) == 3 and name != "addbmm":
        return {"M": sa[1], "N": sb[2], "K": sa[2], "batch": sa[0]}
    if name == "addbmm":
        return {"M": sa[1], "N": sb[2], "K": sa[2], "batch": sa[0]}
    return {"M": sa[0], "N": sb[1], "K": sa[1], "batch": 1}


def _attrs_attention(name: str, args: tuple, kwargs: dict, out: Any) -> dict[str, Any]:
    q, k = args[0], args[1]
    sq, sk = _shape(q), _shape(k)
    causal = bool(kwargs.get("is_causal", False))
    if name.endswith("_backward") and len(args) > 1:
        # backward signatures start with grad_out, then q, k, v
        q, k = args[1], args[2]
        sq, sk = _shape(q), _shape(k)
    if sq is None or sk is None or len(sq) != 4:
        return {"causal": causal}
    return {"batch": sq[0], "heads": sq[1], "Lq": sq[2], "Lk": sk[2], "d": sq[3], "causal": causal}


def _attrs_embedding(name: str, args: tuple, out: Any) -> dict[str, Any]:
    if name == "embedding":
        w, idx = _tshape(args[0]), _tshape(args[1])
        n = 1
        for d in idx:
            n *= d
        return {"num_embeddings": w[0], "dim": w[1], "lookups": n}
    if name == "embedding_dense_backward":
        g = _shape(args[0])
        num_embeddings = int(args[2])
        if g is None:
            raise TypeError(f"expected a tensor gradient, got {type(args[0]).__name__}")
        return {"num_embeddings": num_embeddings, "dim": g[-1]}
    return {}


def attrs_of(kind: str, func: Any, args: tuple, kwargs: dict, out: Any) -> dict[str, Any]:
    """Kind-specific attributes (see :data:`accel.graph.OP_KINDS`) of one aten call."""
    name = op_name(func)
    try:
        if kind in ("conv", "conv_transpose"):
            return _attrs_conv(name, args, out)
        if kind == "matmul":
            return _attrs_matmul(name, args, out)
        if kind == "attention":
            return _attrs_attention(name, args, kwargs, out)
        if kind == "embedding":
            return _attrs_embedding(name, args, out)
    except (IndexError, TypeError, AttributeError):
        return {}
    return {}

