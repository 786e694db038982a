"""torchtitan's Llama 3.1 runs on Meta's 500 W H100 96GB hosts and on H200 hosts
(``data/published/torchtitan_llama3.csv``): an out-of-sample check, nothing here fitted to it, and not one of
``bench_training.py``'s rows.

    ACCEL_CACHE_DIR=/tmp/acache python benchmarks/bench_torchtitan.py

The published runs are the torchtitan team's (``benchmarks/llama3_h100_202412_torchtitan.md`` and
``benchmarks/asyncTP_llama3_h100_2025-06_torchtitan.md`` in pytorch/torchtitan) on Grand Teton hosts of 8 H100 SXM
96GB HBM2e GPUs at their default 500 W power limit (``--arch grand_teton_h100_96gb``: the H100's calibration, memory
and power changed), and Trainy's (``benchmarks/llama3-8b_h200_202506_trainy-whitefiber.md``) on WhiteFiber's H200
hosts (``dgx_h200_superpod`` stands in). accel expresses them with what torchtitan @9dec370 runs:

* FSDP2 (``fully_shard`` per transformer block and the root; bf16 parameters, fp32 gradient reduction:
  ``--zero 3 --fsdp --fsdp-version 2``), one microbatch of the local batch per step (no gradient accumulation);
* per-op selective activation checkpointing (``--recompute op``, the 8B configs' ``selective_ac_option = 'op'``);
* eager RMSNorm in fp32, rotary embedding and SwiGLU op by op (``--pointwise-kernels eager``), or compiled;
* ``F.scaled_dot_product_attention`` on PyTorch's FlashAttention-2 backend (``--attention flash2``; an assumption:
  the doc does not say which SDPA backend ran);
* ``cross_entropy`` on the logits cast to fp32 (``--cross-entropy torch``), ``torch.optim.AdamW`` (foreach) after
  ``clip_grad_norm_`` (``--optimizer-step pytorch``).

Runs with ``torch.compile`` take ``--pointwise-kernels compiled`` (every region of non-library ops between two
library calls one kernel: :func:`accel.compile.passes.fuse_pointwise_regions`); tensor parallelism is torchtitan's
vanilla DTensor TP with sequence-parallel norms (``--sequence-parallel --no-tp-async-backward``). torchao's float8
with tensorwise scaling runs as accel's ``--dtype fp8`` (Transformer Engine's recipe: the same fp8 GEMMs, fast
accumulation forward and promoted accumulation backward as torchao's ``Float8LinearConfig`` defaults, each operand
cast with its transpose, sequence parallelism's all-gathers in fp8 as torchao's float8 TP runs them; torchao's dynamic
scaling reads each tensor once more for its amax, not priced). Not expressible: float8 rowwise scaling, FSDP with
pipeline parallelism and PyTorch's context parallelism (its own ring over SDPA). Asynchronous TP (the collectives
split into chunks pipelined with the GEMMs beside them, SymmetricMemory's micro-pipelining) runs as
``--tp-comm-overlap``, Megatron-Core's same decomposition. Printed for every run: the
published tokens/s per GPU, accel's and their ratio, the memory the doc reports (the most any GPU reserved) beside
accel's estimate, or why not; then each run's speedup over the plainest run of its table (eager where there is one),
published and accel's.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.train import TrainLayout, simulate_training  # noqa: E402
from workloads.llm_configs import llm_config  # noqa: E402
from workloads.llm_train import training_graphs  # noqa: E402

CSV = ROOT / "data" / "published" / "torchtitan_llama3.csv"
#: the CSV's hardware -> the accel system that runs it: Meta's Grand Teton hosts (archs/systems/grand_teton_h100_96gb.yaml);
#: WhiteFiber's H200 hosts (8 H200 on NVLink, 400 Gb/s of RDMA per GPU; the network's make not published): the DGX
#: H200 SuperPOD, 8 NDR 400 Gb/s NICs a node, stands in
SYSTEMS = {"grand_teton_h100_96gb_500w": "grand_teton_h100_96gb", "whitefiber_h200": "dgx_h200_superpod"}
GIB = 2**30


def published_rows(path: Path = CSV) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def unexpressible(row: dict[str, str]) -> str | None:
    """Why accel cannot express ``row`` (None: it can)."""
    reasons = []
    if row["float8"] == "rowwise":
        reasons.append("torchao float8 rowwise (a scale per row)")
    if int(row["pp"]) > 1:
        reasons.append("FSDP with pipeline parallelism (accel's ZeRO-3 is not combined with --pp)")
    if int(row["cp"]) > 1:
        reasons.append("PyTorch's context parallelism (its own ring over SDPA, not Transformer Engine's)")
    return ", ".join(reasons) or None


def layout_of(row: dict[str, str]) -> TrainLayout:
    """The run's layout as torchtitan @9dec370 runs it (module docstring)."""
    fsdp, tp, pp, cp = (int(row[k]) for k in ("fsdp", "tp", "pp", "cp"))
    local = int(row["local_batch"])
    return TrainLayout(global_batch=local * fsdp, seq_len=int(row["seq_len"]), tp=tp, pp=pp, dp=fsdp, cp=cp,
                       microbatch_size=local, sequence_parallel=tp > 1, tp_async_backward=False,
                       tp_comm_overlap=row["async_tp"] == "yes", recompute=row["ac"], zero=3, fsdp=True,
                       fsdp_version=2, optimizer_step="pytorch")


def simulate(row: dict[str, str]) -> tuple[float, float]:
    """accel's (tokens/s per GPU, memory per GPU in B) for an expressible run."""
    cfg = llm_config(row["model"])
    lay = layout_of(row)
    graphs = training_graphs(cfg, lay.tp, lay.microbatch_size, lay.local_seq_len, "bf16", "flash2", 0.0, "torch",
                             pointwise="compiled" if row["compile"] == "yes" else "eager")
    dtype = "fp8" if row["float8"] == "tensorwise" else "bf16"
    res = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, SYSTEMS[row["hardware"]], lay, dtype, memory_check=False,
                            model_name=cfg.name)
    return res.tokens_per_s / res.devices, res.memory.total


def main() -> int:
    t0 = time.perf_counter()
    rows = published_rows()
    print(f"{'doc':7} {'tab':>3} {'model':12} {'GPUs':>4} {'fsdp':>4} {'tp':>2} {'pp':>2} {'cp':>2} {'seq':>6} "
          f"{'published':>9} {'accel':>7} {'ratio':>6}   memory published / accel (GiB)")
    ratios = []
    results: dict[int, float] = {}  # row index -> accel's tokens/s per GPU
    for i, row in enumerate(rows):
        head = (f"{row['doc']:7} {row['table']:>3} {row['model']:12} {row['gpus']:>4} {row['fsdp']:>4} {row['tp']:>2} "
                f"{row['pp']:>2} {row['cp']:>2} {row['seq_len']:>6} {float(row['tokens_per_s_per_gpu']):>9.0f}")
        why = unexpressible(row)
        if why:
            print(f"{head}  not expressible: {why}")
            continue
        tps, mem = simulate(row)
        results[i] = tps
        ratio = tps / float(row["tokens_per_s_per_gpu"])
        ratios.append(ratio)
        print(f"{head} {tps:7.0f} x{ratio:5.2f}   {row['memory_gib'] or '-':>5} / {mem / GIB:.1f}")
    def features(r: dict[str, str]) -> tuple[bool, bool, bool]:
        return r["compile"] == "yes", r["float8"] != "none", r["async_tp"] == "yes"

    pairs: dict[tuple[str, str, str], int] = {}
    for i, r in enumerate(rows):  # same doc, table and GPUs: each run against the plainest one (eager if any)
        key = (r["doc"], r["table"], r["gpus"])
        if key not in pairs or features(r) < features(rows[pairs[key]]):
            pairs[key] = i
    for i, r in enumerate(rows):
        j = pairs.get((r["doc"], r["table"], r["gpus"]))
        if j is None or j == i:
            continue
        base = rows[j]
        pub = float(r["tokens_per_s_per_gpu"]) / float(base["tokens_per_s_per_gpu"])
        names = ("torch.compile", f"float8 {r['float8']}", "async TP")
        what = ", ".join(n for n, on, was in zip(names, features(r), features(base)) if on and not was)
        plain = ", ".join(n for n, on in zip(names, features(base)) if on) or "eager"
        acc = f"accel x{results[i] / results[j]:.3f}" if i in results and j in results else "accel: not expressible"
        print(f"{r['doc']} table {r['table']} ({r['gpus']} GPUs), {what} over {plain}: published x{pub:.3f}, {acc}")
    if ratios:
        print(f"accel / published over the {len(ratios)} expressible runs: x{min(ratios):.2f} .. x{max(ratios):.2f} "
              f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
