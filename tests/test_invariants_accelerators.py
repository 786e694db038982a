"""Physical invariants of the systolic, FPGA and DSP cost models (issue 16), as hypothesis properties
over random op shapes and graph dtypes, on EVERY bundled arch of those kinds:

- time >= MACs / (MAC units x clock) and time >= DRAM bytes / DRAM bandwidth;
- DRAM bytes >= the op's weights read once; an embedding reads its gathered rows, not the table;
- energy >= bytes x the cheapest per-byte energy of the arch;
- time non-increasing in clock, DRAM bandwidth and array size, non-decreasing in batch;
- FLOPs reported = the op's FLOPs;
- rnn (LSTM/GRU) is costed as its gate GEMMs with T sequential steps.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.arch import load_arch
from accel.arch.loader import list_archs
from accel.devices import cost_model_for
from accel.graph import OpNode, TensorInfo

KINDS = ("systolic", "fpga", "dsp")
ARCHS = sorted(n for n, p in list_archs().items() if p.parent.name in KINDS)
SETTINGS = dict(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
DTYPES = ("fp32", "fp16", "bf16", "int8")
REL = 1 - 1e-9  # float round-off allowance on lower bounds


def test_every_kind_has_bundled_archs():
    kinds = {load_arch(a).kind for a in ARCHS}
    assert kinds == set(KINDS), ARCHS


# ----------------------------------------------------------------------------- machine numbers
def mac_rate(spec) -> float:
    """Peak MAC/s of the arch's MAC units."""
    if spec.kind == "systolic":
        return spec.rows * spec.cols * spec.clock
    if spec.kind == "fpga":
        return spec.design_peak_flops / 2
    return cost_model_for(spec).peak_macs_per_cycle * spec.clock


def dram_bw(spec) -> float:
    """Aggregate DRAM bandwidth (B/s): a systolic array with per-stream ports (SCALE-Sim semantics,
    ``dram_bandwidth_shared: false``) has ``dram_bandwidth`` on each of its 3 streams."""
    if spec.kind == "systolic" and not spec.dram_bandwidth_shared:
        return 3 * spec.dram_bandwidth
    return spec.dram_bandwidth


def elem_bytes(spec, op: OpNode) -> float:
    """Bytes per element as the arch moves them: the array's word size on systolic arrays, else the graph's."""
    return spec.word_bytes if spec.kind == "systolic" else op.weights[0].bytes / op.weights[0].numel


# ----------------------------------------------------------------------------- op builders
def T(shape, dtype):
    return TensorInfo.of(tuple(shape), dtype)


def matmul(M, N, K, batch=1, dtype="fp32", bias=True):
    w = [T((N,), dtype)] if bias else []
    w.append(T((K, N), dtype))
    macs = M * N * K * batch
    return OpNode("mm", "matmul", inputs=[T((batch, M, K), dtype)], outputs=[T((batch, M, N), dtype)], weights=w,
                  flops=2.0 * macs, macs=macs, dtype=dtype, attrs={"M": M, "N": N, "K": K, "batch": batch})


def conv(N, Cin, Cout, H, R, stride, groups, dtype="fp32"):
    pad = R // 2
    ho = (H + 2 * pad - R) // stride + 1
    macs = N * Cout * ho * ho * (Cin // groups) * R * R
    return OpNode("cv", "conv", inputs=[T((N, Cin, H, H), dtype)], outputs=[T((N, Cout, ho, ho), dtype)],
                  weights=[T((Cout, Cin // groups, R, R), dtype), T((Cout,), dtype)], flops=2.0 * macs, macs=macs,
                  dtype=dtype, attrs={"N": N, "Cin": Cin, "Cout": Cout, "H": H, "W": H, "R": R, "S": R, "stride": stride,
                                      "pad": pad, "groups": groups, "Hout": ho, "Wout": ho})


def lstm(seq, batch, inp, hidden, layers=1, gates=4, bidirectional=False, dtype="fp32"):
    d = 2 if bidirectional else 1
    w = []
    macs = 0
    for layer in range(layers):
        k_in = inp if layer == 0 else hidden * d
        w += [T((gates * hidden * d,), dtype), T((k_in, gates * hidden * d), dtype), T((gates * hidden * d,), dtype),
              T((hidden, gates * hidden * d), dtype)]
        macs += seq * batch * gates * hidden * d * (k_in + hidden)
    return OpNode("lstm", "rnn", inputs=[T((batch, seq, inp), dtype)], outputs=[T((batch, seq, hidden * d), dtype)],
                  weights=w, flops=2.0 * macs, macs=macs, dtype=dtype,
                  attrs={"cell": "LSTM" if gates == 4 else "GRU", "seq": seq, "batch": batch, "input": inp,
                         "hidden": hidden, "layers": layers, "gates": gates, "bidirectional": bidirectional})


def embedding(vocab, dim, lookups, dtype="fp32"):
    return OpNode("emb", "embedding", inputs=[T((1, lookups), "int64")], outputs=[T((1, lookups, dim), dtype)],
                  weights=[T((vocab, dim), dtype)], dtype=dtype,
                  attrs={"num_embeddings": vocab, "dim": dim, "lookups": lookups})


def elementwise(n, dtype="fp32"):
    return OpNode("add", "elementwise", inputs=[T((n,), dtype)] * 2, outputs=[T((n,), dtype)], flops=float(n),
                  dtype=dtype)


dtypes = st.sampled_from(DTYPES)
dims = st.integers(1, 600)
matmuls = st.builds(matmul, dims, dims, dims, st.integers(1, 4), dtypes, st.booleans())
convs = st.builds(lambda n, c, k, h, r, s, dw, dt: conv(n, c, c if dw else k, h, r, s, c if dw else 1, dt),
                  st.integers(1, 4), st.integers(1, 96), st.integers(1, 96), st.integers(4, 40),
                  st.sampled_from([1, 3, 5]), st.sampled_from([1, 2]), st.booleans(), dtypes)
rnns = st.builds(lstm, st.integers(1, 24), st.integers(1, 8), st.integers(1, 300), st.integers(1, 300),
                 st.integers(1, 2), st.sampled_from([4, 3]), st.booleans(), dtypes)
mac_ops = st.one_of(matmuls, convs, rnns)
stream_ops = st.one_of(st.builds(embedding, st.integers(1, 50000), st.integers(1, 1024), st.integers(1, 512), dtypes),
                       st.builds(elementwise, st.integers(1, 1 << 20), dtypes))
any_ops = st.one_of(mac_ops, stream_ops)


def model(arch, **update):
    spec = load_arch(arch)
    return cost_model_for(spec.model_copy(update=update) if update else spec)


# ----------------------------------------------------------------------------- bounds
@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(op=any_ops)
def test_time_at_least_macs_over_peak_and_dram_bytes_over_bandwidth(arch, op):
    m = model(arch)
    c = m.cost(op)
    assert c.time_s >= op.macs / mac_rate(m.spec) * REL
    assert c.time_s >= c.bytes_by_level.get("dram", 0.0) / dram_bw(m.spec) * REL
    assert c.flops == pytest.approx(op.flops)  # FLOPs in = FLOPs reported
    assert math.isfinite(c.energy_j) and c.energy_j >= 0


@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(op=mac_ops)
def test_dram_bytes_read_every_weight_once(arch, op):
    m = model(arch)
    c = m.cost(op)
    eb = elem_bytes(m.spec, op)
    assert c.bytes_by_level["dram"] >= sum(t.numel for t in op.weights) * eb * REL


@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(op=any_ops)
def test_energy_at_least_bytes_times_cheapest_per_byte_energy(arch, op):
    m = model(arch)
    c = m.cost(op)
    per_byte = m.spec.energy.per_byte
    if not per_byte:  # FPGA: board power x time, no per-byte table
        assert c.energy_j == pytest.approx(max(m.spec.board_power - m.spec.idle_power, 0.0) * c.time_s)
        return
    cheapest = min(per_byte.values())
    assert c.energy_j >= sum(c.bytes_by_level.values()) * cheapest * REL
    assert c.energy_j >= c.bytes_by_level.get("dram", 0.0) * per_byte.get("dram", cheapest) * REL


@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(vocab=st.integers(1, 200000), vocab2=st.integers(1, 200000), dim=st.integers(1, 2048),
       lookups=st.integers(1, 1024), dtype=dtypes)
def test_embedding_reads_the_gathered_rows_not_the_table(arch, vocab, vocab2, dim, lookups, dtype):
    m = model(arch)
    a, b = m.cost(embedding(vocab, dim, lookups, dtype)), m.cost(embedding(vocab2, dim, lookups, dtype))
    assert a.time_s == pytest.approx(b.time_s) and a.bytes_by_level == pytest.approx(b.bytes_by_level)
    op = embedding(vocab, dim, lookups, dtype)
    eb = m.spec.word_bytes if m.spec.kind == "systolic" else T((1,), dtype).bytes
    idx = lookups * (m.spec.word_bytes if m.spec.kind == "systolic" else 8)
    assert a.bytes_by_level["dram"] == pytest.approx(idx + 2 * lookups * dim * eb)  # indices + rows read + written
    assert a.flops == op.flops


# ----------------------------------------------------------------------------- monotonicity
@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(op=any_ops, f=st.floats(1.1, 8.0))
def test_time_non_increasing_in_clock_and_dram_bandwidth(arch, op, f):
    spec = load_arch(arch)
    base = model(arch).cost(op).time_s
    assert model(arch, clock=spec.clock * f).cost(op).time_s <= base * (1 + 1e-9)
    assert model(arch, dram_bandwidth=spec.dram_bandwidth * f).cost(op).time_s <= base * (1 + 1e-9)


def _array_update(spec, k: int, which: str) -> dict:
    """The arch with its MAC array ``k`` times larger along ``which`` (rows, cols or both)."""
    if spec.kind == "systolic":
        up = {}
        if which in ("rows", "both"):
            up["rows"] = spec.rows * k
        if which in ("cols", "both"):
            up["cols"] = spec.cols * k
        # a larger array comes with proportionally larger scratchpads (same fold blocks fit)
        grow = (k if which != "both" else k * k)
        up.update({f: getattr(spec, f) * grow for f in ("ifmap_sram", "filter_sram", "ofmap_sram")})
        if spec.vector_width is not None:
            up["vector_width"] = spec.vector_width
        return up
    if spec.kind == "fpga":
        up = {}
        if which in ("rows", "both"):
            up["pe_rows"] = spec.pe_rows * k
        if which in ("cols", "both"):
            up["pe_cols"] = spec.pe_cols * k
        return up
    return {"vector_contexts": spec.vector_contexts * k}  # DSP: more vector units, same lanes


@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(mult=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)), batch=st.integers(1, 3),
       k=st.sampled_from([2, 4]), which=st.sampled_from(["rows", "cols", "both"]), dtype=dtypes)
def test_time_non_increasing_in_array_size(arch, mult, batch, k, which, dtype):
    """On shapes that tile the larger array exactly (no fold quantisation: a bigger array's longer
    fill/drain legitimately slows a layer that does not fill it)."""
    spec = load_arch(arch)
    side = 256 * k  # a multiple of every bundled array's (rows, cols) x k
    M, N, K = (side * x for x in mult)
    op = matmul(M, N, K, batch, dtype)
    small = model(arch).cost(op).time_s
    large = model(arch, **_array_update(spec, k, which)).cost(op).time_s
    assert large <= small * (1 + 1e-9)


@pytest.mark.parametrize("arch", ARCHS)
@settings(**SETTINGS)
@given(op=st.one_of(matmuls, convs, rnns), extra=st.integers(1, 3))
def test_time_non_decreasing_in_batch(arch, op, extra):
    a = dict(op.attrs)
    if op.kind == "matmul":
        bigger = matmul(a["M"], a["N"], a["K"], a["batch"] + extra, op.dtype, bias=len(op.weights) == 2)
    elif op.kind == "conv":
        bigger = conv(a["N"] + extra, a["Cin"], a["Cout"], a["H"], a["R"], a["stride"], a["groups"], op.dtype)
    else:
        bigger = lstm(a["seq"], a["batch"] + extra, a["input"], a["hidden"], a["layers"], a["gates"],
                      a["bidirectional"], op.dtype)
    m = model(arch)
    assert m.cost(bigger).time_s >= m.cost(op).time_s * (1 - 1e-9)


# ----------------------------------------------------------------------------- rnn, static power
@pytest.mark.parametrize("arch", ARCHS)
def test_rnn_is_gate_gemms_with_sequential_steps(arch):
    """An LSTM costs its gate GEMMs, FLOPs as torch counts them, and its T recurrent steps cannot
    overlap: with unlimited DRAM bandwidth it takes at least T x layers x one step's GEMM alone."""
    m = model(arch)
    T_, B, I, H = 32, 4, 256, 512  # noqa: E741
    op = lstm(T_, B, I, H, layers=2)
    c = m.cost(op)
    assert c.flops == pytest.approx(op.flops) and c.detail["steps"] == 2 * T_
    fast = model(arch, dram_bandwidth=1e30)
    step = fast.cost(matmul(B, 4 * H, H, bias=False)).time_s
    assert fast.cost(op).time_s >= 2 * T_ * step * REL
    if m.spec.kind == "systolic":  # B-row steps cannot fill the array like one T*B-row GEMM would
        flat = sum(m.cost(matmul(T_ * B, 4 * H, k, bias=False)).time_s for k in (I + H, H + H))
        assert c.time_s > 2 * flat


@pytest.mark.parametrize("arch", [a for a in ARCHS if load_arch(a).kind in ("systolic", "dsp")])
def test_systolic_and_dsp_archs_have_a_cited_static_power(arch):
    spec = load_arch(arch)
    assert cost_model_for(spec).static_power_w == spec.idle_power > 0
    assert "idle_power" in spec.sources
