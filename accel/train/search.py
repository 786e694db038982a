"""The fastest training layouts that fit: every combination of tensor / pipeline / data parallelism, microbatch
size, sequence parallelism, recomputation and ZeRO stage for a model on ``devices`` GPUs, each simulated
(:func:`accel.train.simulate_training`), those that run out of memory dropped, the rest ranked by step time --
what Calculon's execution search and Megatron's tuning guides do by hand.

Any of the choices can be fixed (a value) or searched (None). Tensor parallelism stays inside a node (at most its
GPUs, dividing the heads); pipeline stages divide the layers, or, when they do not, take the most even first/last
uneven split (:func:`balanced_end_stages`); the microbatch size divides the batch of each data-parallel replica.
Interleaving and context parallelism are not searched (pass them fixed).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from accel.graph import LayerGraph
from accel.sim.system import System, resolve_system
from accel.train.layout import DEFAULT_LORA_TARGETS, SEARCHED_RECOMPUTE, LayoutError, TrainLayout
from accel.train.memory import MemoryOverflow
from accel.train.simulate import TrainResult, simulate_training

#: microbatch sizes tried when the microbatch size is searched
MICROBATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8)

#: (tp, microbatch size, local sequence length) -> the per-rank training graphs
GraphSource = Callable[[int, int, int], dict[str, LayerGraph]]


@dataclass(frozen=True)
class Choices:
    """What to search: a value fixes a choice, None searches it."""

    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    cp: int = 1
    microbatch_size: int | None = None
    sequence_parallel: bool | None = None
    recompute: str | None = None
    zero: int | None = None
    tp_comm_overlap: bool = False
    #: :attr:`accel.train.layout.TrainLayout.tp_async_backward` of every layout
    tp_async_backward: bool = True
    #: :attr:`accel.train.layout.TrainLayout.dp_overlap` of every layout
    dp_overlap: bool = True
    #: :attr:`accel.train.layout.TrainLayout.dp_bucket_params` of every layout
    dp_bucket_params: int | None = None
    #: :attr:`accel.train.layout.TrainLayout.dp_buckets_every_stage` of every layout
    dp_buckets_every_stage: bool = False
    #: :attr:`accel.train.layout.TrainLayout.dp_gather_overlap` of every layout
    dp_gather_overlap: bool = True
    #: ZeRO-2/3 as PyTorch FSDP (:attr:`accel.train.layout.TrainLayout.fsdp`); a searched ZeRO stage below 2 runs
    #: without it (a fixed one does not: the layout check names the conflict)
    fsdp: bool = False
    #: :attr:`accel.train.layout.TrainLayout.fsdp_version` of the layouts that run FSDP
    fsdp_version: int = 1
    #: :attr:`accel.train.layout.TrainLayout.optimizer_dtype` of every layout
    optimizer_dtype: str = "fp32"
    #: :attr:`accel.train.layout.TrainLayout.fp8_param_gather` of every layout
    fp8_param_gather: bool = False
    layers_per_virtual_stage: int | None = None
    first_stage_layers: int | None = None
    last_stage_layers: int | None = None
    #: :attr:`accel.train.layout.TrainLayout.embedding_in_split` / ``loss_in_split`` of every layout
    embedding_in_split: bool = False
    loss_in_split: bool = False
    #: :attr:`accel.train.layout.TrainLayout.lora_rank` / ``lora_targets`` of every layout
    lora_rank: int | None = None
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    #: :attr:`accel.train.layout.TrainLayout.p2p` of every layout
    p2p: str | None = None
    #: :attr:`accel.train.layout.TrainLayout.grad_accumulation` of every layout
    grad_accumulation: str = "fused"
    #: :attr:`accel.train.layout.TrainLayout.optimizer_step` of every layout
    optimizer_step: str = "fused"
    #: :attr:`accel.train.layout.TrainLayout.pipeline_schedule` of every layout
    pipeline_schedule: str = "megatron"
    #: ZeRO stages tried when ``zero`` is searched (stage 3 only without pipelining)
    zero_stages: tuple[int, ...] = (0, 1, 3)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def balanced_end_stages(layers: int, pp: int) -> tuple[int, int] | None:
    """(first, last) stage block counts that split ``layers`` over ``pp`` stages as evenly as first/last-only
    uneven stages can when ``pp`` does not divide it: every middle stage ``ceil(layers / pp)`` blocks, the end
    stages (which also hold the embedding and the LM head) the rest, halved (BLOOM-176B: 70 over 12 = 5 + 10 x 6 +
    5; Llama-3.1-405B: 126 over 16 = 7 + 14 x 8 + 7). None when the ends would be empty (or ``pp`` < 3)."""
    if pp < 3:
        return None
    middle = -(-layers // pp)
    rest = layers - (pp - 2) * middle
    first = rest // 2
    if first < 1 or rest - first < 1:
        return None
    return first, rest - first


def candidate_layouts(layers: int, heads: int, devices: int, per_node: int, global_batch: int, seq_len: int,
                      choices: Choices = Choices()) -> Iterable[TrainLayout]:
    """Every layout the choices allow that passes :meth:`TrainLayout.check` (module docstring)."""
    c = choices
    tps = [c.tp] if c.tp else [t for t in _divisors(min(per_node, devices)) if heads % t == 0]
    for tp in tps:
        rest = devices // (tp * c.cp) if devices % (tp * c.cp) == 0 else 0
        pps = [c.pp] if c.pp else [p for p in _divisors(rest) if layers % p == 0 or p > 2] if rest else []
        for pp in pps:
            dp = c.dp or (rest // pp if rest and rest % pp == 0 else 0)
            if not dp:
                continue
            ends: tuple[int | None, int | None] = (c.first_stage_layers, c.last_stage_layers)
            # balanced end stages stand in for an even split only where no embedding / loss slot is counted
            if ends == (None, None) and not (c.embedding_in_split or c.loss_in_split) and layers % pp:
                balanced = balanced_end_stages(layers, pp)
                if balanced is None:
                    continue
                ends = balanced
            mbs = [c.microbatch_size] if c.microbatch_size else [m for m in MICROBATCH_SIZES
                                                                 if global_batch % (m * dp) == 0]
            sps = [c.sequence_parallel] if c.sequence_parallel is not None else ([False, True] if tp > 1 else [False])
            recs = [c.recompute] if c.recompute else list(SEARCHED_RECOMPUTE)
            zeros = [c.zero] if c.zero is not None else [z for z in c.zero_stages if z < 3 or pp == 1]
            for mb, sp, rc, z in itertools.product(mbs, sps, recs, zeros):
                layout = TrainLayout(global_batch=global_batch, seq_len=seq_len, tp=tp, pp=pp, dp=dp, cp=c.cp,
                                     microbatch_size=mb, sequence_parallel=bool(sp), recompute=rc, zero=z,
                                     tp_comm_overlap=c.tp_comm_overlap and bool(sp),
                                     tp_async_backward=c.tp_async_backward, dp_overlap=c.dp_overlap,
                                     dp_bucket_params=c.dp_bucket_params,
                                     dp_buckets_every_stage=c.dp_buckets_every_stage,
                                     dp_gather_overlap=c.dp_gather_overlap,
                                     fsdp=c.fsdp and (c.zero is not None or z >= 2),
                                     fsdp_version=c.fsdp_version if c.fsdp and (c.zero is not None or z >= 2) else 1,
                                     optimizer_dtype=c.optimizer_dtype, fp8_param_gather=c.fp8_param_gather,
                                     layers_per_virtual_stage=c.layers_per_virtual_stage,
                                     first_stage_layers=ends[0], last_stage_layers=ends[1],
                                     embedding_in_split=c.embedding_in_split, loss_in_split=c.loss_in_split,
                                     lora_rank=c.lora_rank, lora_targets=c.lora_targets, p2p=c.p2p,
                                     grad_accumulation=c.grad_accumulation, optimizer_step=c.optimizer_step,
                                     pipeline_schedule=c.pipeline_schedule)
                try:
                    layout.check(layers, heads, devices)
                except LayoutError:
                    continue
                yield layout


def search_layouts(graphs: GraphSource, layers: int, hidden: int, heads: int, system: System | str, devices: int,
                   global_batch: int, seq_len: int, dtype: str = "bf16", choices: Choices = Choices(),
                   model_name: str = "") -> tuple[list[TrainResult], list[Exception]]:
    """Simulate every candidate layout (:func:`candidate_layouts`); return the results that fit, fastest first,
    and the errors of those that did not (their last :class:`MemoryOverflow` says by how much)."""
    sysm = resolve_system(system)
    per_node = sysm.devices_per_node or sysm.n_devices
    cache: dict[tuple[int, int, int], dict[str, LayerGraph]] = {}
    fits: list[TrainResult] = []
    errors: list[Exception] = []
    for layout in candidate_layouts(layers, heads, devices, per_node, global_batch, seq_len, choices):
        key = (layout.tp, layout.microbatch_size, layout.local_seq_len)
        if key not in cache:
            cache[key] = graphs(*key)
        try:
            fits.append(simulate_training(cache[key], layers, hidden, heads, sysm, layout, dtype,
                                          model_name=model_name))
        except (MemoryOverflow, LayoutError) as exc:
            errors.append(exc)
    fits.sort(key=lambda r: r.step_time_s)
    return fits, errors
