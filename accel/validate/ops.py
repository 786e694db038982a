"""Build :class:`accel.graph.OpNode` objects for single measured kernels (a GEMM row, a conv row...)."""

from __future__ import annotations

from accel.graph import OpNode, TensorInfo


def matmul_op(M: int, N: int, K: int, dtype: str, batch: int = 1, name: str = "gemm") -> OpNode:
    """``batch`` x (M x K) @ (K x N); FLOPs = 2*M*N*K*batch."""
    M, N, K, batch = int(M), int(N), int(K), int(batch)

    def shp(*s: int) -> tuple[int, ...]:
        return s if batch == 1 else (batch, *s)

    macs = float(M) * N * K * batch
    return OpNode(
        name=name, kind="matmul", dtype=dtype, flops=2.0 * macs, macs=macs,
        inputs=[TensorInfo.of(shp(M, K), dtype), TensorInfo.of(shp(K, N), dtype)],
        outputs=[TensorInfo.of(shp(M, N), dtype)],
        attrs={"M": M, "N": N, "K": K, "batch": batch},
    )


def conv_op(N: int, Cin: int, Cout: int, H: int, W: int, R: int, S: int, stride: int, pad: int, groups: int,
            Hout: int, Wout: int, dtype: str, name: str = "conv", channels_last: bool = False) -> OpNode:
    """2-D convolution forward without bias; MACs = N*Cout*Hout*Wout*(Cin/groups)*R*S.

    ``channels_last`` is the memory layout the kernel ran in (conv.csv column of that name):
    the GPU model charges NCHW tensor-core convs for layout transforms, channels_last ones not.
    """
    N, Cin, Cout, H, W, R, S = map(int, (N, Cin, Cout, H, W, R, S))
    stride, pad, groups, Hout, Wout = map(int, (stride, pad, groups, Hout, Wout))
    macs = float(N) * Cout * Hout * Wout * (Cin // groups) * R * S
    return OpNode(
        name=name, kind="conv", dtype=dtype, flops=2.0 * macs, macs=macs,
        inputs=[TensorInfo.of((N, Cin, H, W), dtype)],
        weights=[TensorInfo.of((Cout, Cin // groups, R, S), dtype)],
        outputs=[TensorInfo.of((N, Cout, Hout, Wout), dtype)],
        attrs={"N": N, "Cin": Cin, "Cout": Cout, "H": H, "W": W, "R": R, "S": S, "stride": stride, "pad": pad,
               "dilation": 1, "groups": groups, "Hout": Hout, "Wout": Wout, "transposed": False,
               "channels_last": bool(channels_last)},
    )


def copy_op(nbytes: int, dtype: str = "fp32", name: str = "copy") -> OpNode:
    """Device memory copy of ``nbytes`` (reads nbytes, writes nbytes)."""
    n = int(nbytes // 4) if dtype in ("fp32", "tf32") else int(nbytes)
    dt = dtype if dtype in ("fp32", "tf32") else "uint8"
    t = TensorInfo.of((n,), dt)
    return OpNode(name=name, kind="data_movement", dtype=dt, inputs=[t], outputs=[t], aten="aten.copy_.default",
                  attrs={"bytes": int(nbytes)})


def reduce_op(nbytes: int, dtype: str = "fp32", name: str = "sum") -> OpNode:
    """Full reduction (sum) reading ``nbytes`` of fp32 and writing one element."""
    n = int(nbytes // 4)
    return OpNode(name=name, kind="reduce", dtype=dtype, flops=float(n),
                  inputs=[TensorInfo.of((n,), dtype)], outputs=[TensorInfo.of((1,), dtype)], aten="aten.sum.default")
