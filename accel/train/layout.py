"""The parallel layout of a cluster training run: ``--tp T --pp P --dp D``, microbatches, virtual pipeline
stages, sequence parallelism, activation recomputation and ZeRO sharding, checked against the model and the
device count with one-line errors that name the flag.

Rank placement follows Megatron-LM's default order (tensor-parallel ranks innermost, then context-parallel,
data-parallel, then pipeline): global rank ``= t + T (c + C (d + D p))`` for tensor rank ``t``, context rank
``c``, data rank ``d``, pipeline rank ``p``
(Megatron-LM ``megatron/core/parallel_state.py``, ``order="tp-cp-ep-dp-pp"``). So a tensor-parallel group of
up to 8 GPUs sits inside one DGX node, and data-parallel peers and pipeline neighbours are in other nodes once
``T`` (or ``T D``) reaches the node's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from accel.train.memory import OPTIMIZER_DTYPES
from accel.train.optimizer import OPTIMIZER_STEPS

#: ``--recompute`` values: no recomputation, Korthikanti et al.'s selective recomputation of the attention
#: core, the whole block's forward re-run in backward (only each block's input is kept), or torchtitan's per-op
#: selective checkpointing (``op``: :func:`accel.train.costs.op_checkpoint_saved`)
RECOMPUTE: tuple[str, ...] = ("none", "selective", "full", "op")
#: the ``--recompute`` values a layout search tries when the run leaves it open: the Megatron-family choices
#: (``op`` is one stack's policy, given explicitly)
SEARCHED_RECOMPUTE: tuple[str, ...] = ("none", "selective", "full")
#: ``--fsdp-version`` values: PyTorch FSDP 1 (``FullyShardedDataParallel``) or 2 (``fully_shard``)
FSDP_VERSIONS: tuple[int, ...] = (1, 2)
#: ``--zero`` values: 0 plain data parallelism; 1 optimizer state sharded over the data-parallel group
#: (Megatron's distributed optimizer); 2 also gradients; 3 also parameters (PyTorch FSDP FULL_SHARD)
ZERO_STAGES: tuple[int, ...] = (0, 1, 2, 3)
#: ``--p2p`` choices: how pipeline point-to-point transfers meet compute (:attr:`TrainLayout.p2p`)
P2P_MODES: tuple[str, ...] = ("blocking", "overlapped")
#: ``--pipeline-schedule`` choices: Megatron-LM's 1F1B / interleaved schedule or DeepSpeed's pipeline engine
#: (:attr:`TrainLayout.pipeline_schedule`)
PIPELINE_SCHEDULES: tuple[str, ...] = ("megatron", "deepspeed")
#: ``--lora-targets`` values: the projection groups a LoRA adapter can wrap (:attr:`TrainLayout.lora_targets`; the
#: GEMM groups of :data:`accel.train.costs.GEMM_GROUPS`: NeMo's ``attention_qkv``, ``attention_dense``, ``mlp_fc1``,
#: ``mlp_fc2``)
LORA_TARGETS: tuple[str, ...] = ("qkv", "attn_out", "mlp_in", "mlp_out")
#: the adapters' default targets: NeMo's ``attention_qkv`` (``get_target_modules`` in
#: ``nemo/collections/nlp/parts/peft_config.py``)
DEFAULT_LORA_TARGETS: tuple[str, ...] = ("qkv",)
#: ``--grad-accumulation`` choices: how a microbatch's weight gradients join the step's (:attr:`TrainLayout.grad_accumulation`)
GRAD_ACCUMULATION_MODES: tuple[str, ...] = ("fused", "autograd", "fp32_copy")


class LayoutError(ValueError):
    """A layout that cannot run, as one line naming the flag: ``--pp: layers 96 not divisible by 5``."""

    def __init__(self, flag: str, reason: str):
        super().__init__(f"{flag}: {reason}")
        self.flag = flag


@dataclass(frozen=True)
class TrainLayout:
    """How one training step is split over ``tp * pp * dp`` devices.

    Attributes:
        tp / pp / dp: tensor-, pipeline- and data-parallel degrees.
        cp: context-parallel degree (Megatron-Core ``--context-parallel-size``): each rank holds ``seq_len / cp``
            tokens of every sequence (two load-balanced chunks for the causal mask) and attention exchanges K/V
            around a ring of the ``cp`` ranks; gradients are reduced over ``dp x cp`` ranks.
        global_batch: sequences per optimizer step (all data-parallel replicas together).
        microbatch_size: sequences per microbatch (one forward/backward on one pipeline).
        seq_len: tokens per sequence.
        layers_per_virtual_stage: Megatron's interleaved 1F1B schedule: each pipeline rank holds
            ``layers / (pp * layers_per_virtual_stage)`` model chunks of this many layers (None: plain 1F1B).
        sequence_parallel: Korthikanti et al.'s sequence parallelism: norms, residuals and dropout run on
            ``seq_len / tp`` tokens per rank; the tensor-parallel all-reduces become reduce-scatter + all-gather.
        recompute: one of :data:`RECOMPUTE`.
        zero: one of :data:`ZERO_STAGES`.
        tp_comm_overlap: Megatron-Core's ``--tp-comm-overlap`` (Transformer Engine userbuffers; needs sequence
            parallelism): each all-gather / reduce-scatter is split into ``tp`` chunks pipelined with the GEMM
            next to it.
        tp_async_backward: in backward, each column-parallel projection's (q/k/v, fc_in / gate-up) tensor-parallel
            collectives run asynchronously beside its own GEMMs, as Megatron-LM has by default since Sep 2021
            (``--no-async-tensor-model-parallel-allreduce`` turns it off; ``LinearWithGradAccumulationAndAsyncCommunication``
            from Feb 2022) and Transformer Engine's ``Linear`` does:
            without sequence parallelism the input gradient's all-reduce beside the weight-gradient GEMM; with
            it the input's all-gather beside the input-gradient GEMM and the input gradient's reduce-scatter beside
            the weight-gradient GEMM. The row-parallel projections' gradient all-gathers stay exposed. False: every
            backward collective is exposed (Megatron-DeepSpeed, whose ``ColumnParallelLinear`` all-reduces the input
            gradient synchronously in ``copy_to_tensor_model_parallel_region``'s backward: MT-NLG, BLOOM).
        dp_overlap: data-parallel gradient reduction overlaps the last microbatch's backward (PyTorch DDP and
            Megatron ``--overlap-grad-reduce`` buckets) and the parameter all-gather of ZeRO-1/2 overlaps the
            first forward; False: both run after / before the pipeline, exposed.
        dp_bucket_params: parameters per data-parallel gradient bucket when the reduction overlaps (Megatron-Core
            ``--ddp-bucket-size``; :mod:`accel.train.buckets`); None: Megatron-Core's default, ``max(4e7, 1e6 x dp x
            cp)``.
        dp_buckets_every_stage: every pipeline rank reduces its gradients in buckets (Apex DistributedFusedAdam);
            False: Megatron-Core's, which buckets on the first pipeline rank only, the others reducing in one
            collective after their last backward.
        dp_gather_overlap: ZeRO-1/2's parameter all-gather overlaps the next forward, bucket by bucket (Megatron-Core
            ``--overlap-param-gather``, Apex DistributedFusedAdam ``overlap_param_sync``); False: it runs in the
            optimizer step, one bucket after another, exposed (Apex's default).
        fsdp: ZeRO-2 / ZeRO-3 run as PyTorch FSDP (``SHARD_GRAD_OP`` / ``FULL_SHARD``): every microbatch, each decoder
            block's parameters are all-gathered for its forward (``FULL_SHARD``: again for its backward) and its
            gradients reduce-scattered after its backward, each collective overlapping the block's compute. False:
            ZeRO-2's gradients leave in bucketed reduce-scatters during the last microbatch's backward and its
            parameters return in one all-gather (Megatron, DeepSpeed, Apex); ZeRO-3 is per block either way. FSDP
            also runs its mixed-precision casts (fp32 shard to the compute dtype before each gather; the gradient to
            the wider reduce dtype before the reduce-scatter; :func:`accel.train.simulate.fsdp_cast_ops`).
        fsdp_version: 1: PyTorch FSDP's ``FullyShardedDataParallel`` (a flat parameter per unit, its unsharded
            weights views into the gathered buffer); 2: ``fully_shard`` (per-parameter sharding, torchtitan), which
            also copies each gathered buffer out into the unit's parameters (:data:`FSDP_VERSIONS`).
        optimizer_dtype: dtype of Adam's main weights and moments and of the reduced gradients
            (:data:`accel.train.memory.OPTIMIZER_DTYPES`; ``bf16``: Apex DistributedFusedAdam ``dtype`` /
            ``grad_sync_dtype`` bf16).
        fp8_param_gather: under FP8 training the linear layers' weights are kept in fp8 and the data-parallel
            group gathers them in fp8, one byte a weight (Megatron-Core ``--fp8-param-gather``, NeMo
            ``fp8_params``: Transformer Engine's ``fp8_model_init``, primary weights as ``Float8Tensor``s that the
            distributed optimizer casts after its update); no 16-bit copy of them is kept beside their fp8 weight
            and transpose (:mod:`accel.train.fp8`).
        p2p: how a pipeline rank's sends of activations and gradients meet its compute (:data:`P2P_MODES`):
            ``blocking``, the rank's next op waits until the send has finished (Megatron-LM before Megatron-Core:
            ``torch.cuda.synchronize()`` after ``batch_isend_irecv``; Megatron-Core's non-interleaved 1F1B, which
            turns ``overlap_p2p_comm`` off and syncs after each batched exchange, ``batch_p2p_sync``; DeepSpeed's
            pipeline engine, whose ``p2p.send`` is synchronous); ``overlapped``, sends run beside compute and only
            the receiver waits (Megatron-Core's interleaved schedule with ``overlap_p2p_comm``, its default).
            None: Megatron-Core's defaults, ``overlapped`` with virtual stages and ``blocking`` without
            (:attr:`blocking_p2p`).
        grad_accumulation: how each microbatch's weight gradients are added to the step's
            (:data:`GRAD_ACCUMULATION_MODES`): ``fused``, inside the weight-gradient GEMM (Megatron's
            ``gradient_accumulation_fusion``: its epilogue reads and writes the fp32 ``main_grad``,
            :func:`accel.train.costs.accumulating_into_fp32`) or, under FSDP, which reduce-scatters every
            microbatch's fresh gradients, in FSDP's own kernels; ``autograd``, PyTorch adds every microbatch's
            fresh gradient into ``.grad`` in the parameter dtype (read both, write one: ``3 x`` the element bytes
            per parameter, every microbatch but the first; DeepSpeed's fp16 pipeline engine, MT-NLG);
            ``fp32_copy``, the gradients are cast to fp32 and added into an fp32 copy after every microbatch
            (DeepSpeed's ``BF16_Optimizer.update_hp_grads`` in its pipeline engine: ``element bytes + 16`` per
            parameter; BLOOM); that optimizer shards its fp32 state like ZeRO-1 but all-reduces the full fp32
            gradients (``DeepSpeedEngine.allreduce_gradients``: ``buffered_allreduce_fallback`` of
            ``get_grads_for_reduction``, ``fp32_groups_gradients_flat``) before all-gathering the updated 16-bit
            weights, so with it the reduction is an all-reduce at any ZeRO stage. Priced per microbatch as streaming
            kernels over the
            rank's parameters and added to each piece's backward.
        pipeline_schedule: the pipeline schedule (:data:`PIPELINE_SCHEDULES`): ``megatron``, Megatron-LM's 1F1B (or
            its interleaved schedule with :attr:`layers_per_virtual_stage`; :func:`accel.train.pipeline.run_pipeline`);
            ``deepspeed``, DeepSpeed's pipeline engine, whose neighbouring stages meet for blocking exchanges at each
            of ``2 (m + p - 1)`` steps (:func:`accel.train.pipeline.run_deepspeed_pipeline`; one chunk per rank, its
            sends always blocking), and which reduces the data-parallel gradients after the schedule, exposed (its
            ``ReduceGrads`` instruction; the engine turns the backward's own all-reduce off).
        first_stage_layers / last_stage_layers: uneven pipeline stages (Megatron-Core
            ``--decoder-first-pipeline-num-layers`` / ``--decoder-last-pipeline-num-layers``; DeepSpeed's
            ``--pp-partition-method type:transformer|embedding`` gives the same split when the embedding weighs
            about a block): the first / last stage holds this many blocks, the other stages share the rest
            equally. None: that stage holds ``layers / pp`` like the others.
        embedding_in_split / loss_in_split: the embedding / the LM head and loss count as one layer each in the
            pipeline split (Megatron-Core ``--account-for-embedding-in-pipeline-split`` /
            ``--account-for-loss-in-pipeline-split``, ``get_num_layers_to_build``; the Llama 3 paper's 405B layout,
            Sec. 3.3.2: "we reduce one Transformer layer each from the first and the last stages"): ``layers + 1``
            (or ``+ 2``) slots split equally over the ``pp`` ranks and their virtual stages, and the first model
            chunk builds one block less (only the embedding where a chunk is one slot), the last one less (only the
            head and loss). Combines with :attr:`layers_per_virtual_stage` (slots per chunk), not with
            :attr:`first_stage_layers` / :attr:`last_stage_layers` (Megatron-Core rejects the pair too).
        lora_rank / lora_targets: LoRA fine-tuning (Hu et al. 2021; NeMo's PEFT ``peft_scheme: lora``,
            ``adapter_dim``, ``target_modules``): every weight of the model frozen, a rank-``lora_rank`` adapter beside
            the projections of each group in ``lora_targets`` (:data:`LORA_TARGETS`; NeMo 24.07's default
            ``attention_qkv`` = ``("qkv",)``). Only the adapters have gradients, optimizer state and a data-parallel
            reduction; the backward computes no weight gradient of the frozen model and the forward keeps no
            activation for one (:func:`accel.train.costs.frozen_weight_ops`). None: every weight trains.
    """

    global_batch: int
    seq_len: int
    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    microbatch_size: int = 1
    layers_per_virtual_stage: int | None = None
    sequence_parallel: bool = False
    recompute: str = "none"
    zero: int = 0
    tp_comm_overlap: bool = False
    tp_async_backward: bool = True
    dp_overlap: bool = True
    dp_bucket_params: int | None = None
    dp_buckets_every_stage: bool = False
    dp_gather_overlap: bool = True
    fsdp: bool = False
    fsdp_version: int = 1
    optimizer_dtype: str = "fp32"
    fp8_param_gather: bool = False
    first_stage_layers: int | None = None
    last_stage_layers: int | None = None
    embedding_in_split: bool = False
    loss_in_split: bool = False
    lora_rank: int | None = None
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    p2p: str | None = None
    grad_accumulation: str = "fused"
    optimizer_step: str = "fused"
    pipeline_schedule: str = "megatron"

    @property
    def devices(self) -> int:
        return self.tp * self.cp * self.pp * self.dp

    @property
    def local_seq_len(self) -> int:
        """Tokens of each sequence one context-parallel rank holds: ``seq_len / cp``."""
        return self.seq_len // self.cp

    @property
    def microbatches(self) -> int:
        """Microbatches per pipeline per step: ``global_batch / (microbatch_size * dp)``."""
        return self.global_batch // (self.microbatch_size * self.dp)

    @property
    def shards_per_block(self) -> bool:
        """Whether the data-parallel collectives run per decoder block and microbatch (ZeRO-3, or ZeRO-2 under
        FSDP) rather than once per step."""
        return self.zero == 3 or (self.zero == 2 and self.fsdp)

    @property
    def blocking_p2p(self) -> bool:
        """Whether pipeline sends hold the sending rank (:attr:`p2p`; None: blocking without virtual stages)."""
        if self.p2p is None:
            return self.layers_per_virtual_stage is None
        return self.p2p == "blocking"

    def pipeline_slots(self, layers: int) -> int:
        """Layers the pipeline split divides: the model's blocks plus the embedding and the loss where they count
        as a layer (:attr:`embedding_in_split`, :attr:`loss_in_split`)."""
        return layers + int(self.embedding_in_split) + int(self.loss_in_split)

    def virtual_stages(self, layers: int) -> int:
        """Model chunks per pipeline rank (1: plain 1F1B)."""
        if self.layers_per_virtual_stage is None:
            return 1
        return self.pipeline_slots(layers) // (self.pp * self.layers_per_virtual_stage)

    @property
    def explicit_end_stages(self) -> bool:
        """Whether :attr:`first_stage_layers` or :attr:`last_stage_layers` gives an end stage its block count."""
        return self.first_stage_layers is not None or self.last_stage_layers is not None

    @property
    def uneven(self) -> bool:
        """Whether the first or last pipeline stage has its own block count."""
        return self.explicit_end_stages or self.embedding_in_split or self.loss_in_split

    def chunk_layers(self, layers: int) -> list[int]:
        """Blocks of each model chunk in virtual-stage order ``k = chunk * pp + rank`` (``pp x``
        :meth:`virtual_stages` of them): the :meth:`pipeline_slots` split equally, less the embedding's slot on the
        first chunk and the loss's on the last; with :attr:`first_stage_layers` / :attr:`last_stage_layers`, one
        chunk per rank of :meth:`stage_layers` (assumes :meth:`check` passed)."""
        if self.explicit_end_stages:
            return self.stage_layers(layers)
        n = self.pp * self.virtual_stages(layers)
        out = [self.pipeline_slots(layers) // n] * n
        out[0] -= int(self.embedding_in_split)
        out[-1] -= int(self.loss_in_split)
        return out

    def stage_layers(self, layers: int) -> list[int]:
        """Blocks held by each pipeline rank (model chunk sizes summed over its virtual stages): ``layers / pp``
        each, or with :attr:`first_stage_layers` / :attr:`last_stage_layers` those at the ends and the rest of
        ``layers`` split equally over the middle stages, or with :attr:`embedding_in_split` / :attr:`loss_in_split`
        the sums of :meth:`chunk_layers` (assumes :meth:`check` passed)."""
        if not self.explicit_end_stages:
            chunks = self.chunk_layers(layers)
            return [sum(chunks[r::self.pp]) for r in range(self.pp)]
        ends = [self.first_stage_layers, self.last_stage_layers]
        given = sum(x for x in ends if x is not None)
        middle = self.pp - sum(x is not None for x in ends)
        each = (layers - given) // middle if middle else 0
        out = [each] * self.pp
        if self.first_stage_layers is not None:
            out[0] = self.first_stage_layers
        if self.last_stage_layers is not None:
            out[-1] = self.last_stage_layers
        return out

    def rank(self, t: int, d: int, p: int, c: int = 0) -> int:
        """Global rank of tensor rank ``t``, data rank ``d``, pipeline rank ``p``, context rank ``c`` (module
        docstring)."""
        return t + self.tp * (c + self.cp * (d + self.dp * p))

    def tp_group(self, p: int = 0, d: int = 0) -> list[int]:
        return [self.rank(t, d, p) for t in range(self.tp)]

    def cp_group(self, p: int = 0, d: int = 0, t: int = 0) -> list[int]:
        return [self.rank(t, d, p, c) for c in range(self.cp)]

    def dp_group(self, p: int = 0, t: int = 0) -> list[int]:
        """The ranks that reduce one gradient shard together: data- and context-parallel ranks."""
        return [self.rank(t, d, p, c) for d in range(self.dp) for c in range(self.cp)]

    def check(self, layers: int, heads: int, devices: int | None = None) -> None:
        """LayoutError (one line naming the flag) unless the layout can run ``layers`` blocks of ``heads``
        heads on ``devices`` devices."""
        for flag, v in (("--tp", self.tp), ("--pp", self.pp), ("--dp", self.dp), ("--cp", self.cp),
                        ("--microbatch-size", self.microbatch_size), ("--batch", self.global_batch),
                        ("--seq-len", self.seq_len)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LayoutError(flag, f"must be a positive integer, got {v!r}")
        if devices is not None and self.devices != devices:
            cp = f" x cp {self.cp}" if self.cp > 1 else ""
            raise LayoutError("--tp/--pp/--dp", f"tp {self.tp} x pp {self.pp} x dp {self.dp}{cp} = {self.devices} "
                                                f"!= --devices {devices}")
        if heads % self.tp:
            raise LayoutError("--tp", f"{self.tp} does not divide the model's {heads} attention heads")
        if self.explicit_end_stages:
            self._check_uneven(layers)
        elif self.embedding_in_split or self.loss_in_split:
            self._check_split_slots(layers)
        elif layers % self.pp:
            raise LayoutError("--pp", f"{self.pp} does not divide the model's {layers} layers (uneven stages: "
                                      "--first-stage-layers / --last-stage-layers, or "
                                      "--account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split)")
        if self.global_batch % (self.microbatch_size * self.dp):
            raise LayoutError("--batch", f"{self.global_batch} sequences not divisible by --microbatch-size "
                                         f"{self.microbatch_size} x dp {self.dp}")
        self._check_choices()
        if self.zero == 3 and self.pp > 1:
            raise LayoutError("--zero", "stage 3 (FSDP) shards parameters within a pipeline stage; it is not "
                                        "combined with --pp > 1 here (allowed: 0, 1, 2)")
        if self.pipeline_schedule == "deepspeed" and (self.layers_per_virtual_stage is not None
                                                      or self.p2p == "overlapped"):
            flag = "--layers-per-virtual-stage" if self.layers_per_virtual_stage is not None else "--p2p"
            raise LayoutError(flag, "DeepSpeed's pipeline schedule runs one model chunk per rank and blocking sends "
                                    "(--pipeline-schedule deepspeed)")
        if self.fsdp and self.zero not in (2, 3):
            raise LayoutError("--fsdp", f"FSDP shards gradients (--zero 2, SHARD_GRAD_OP) or also parameters "
                                        f"(--zero 3, FULL_SHARD); got --zero {self.zero}")
        if self.fsdp_version not in FSDP_VERSIONS:
            raise LayoutError("--fsdp-version", f"unknown {self.fsdp_version!r}; allowed: "
                                                f"{', '.join(map(str, FSDP_VERSIONS))}")
        if self.fsdp_version != 1 and not self.fsdp:
            raise LayoutError("--fsdp-version", "needs --fsdp")
        if self.sequence_parallel and self.tp == 1:
            raise LayoutError("--sequence-parallel", "needs --tp > 1")
        if self.tp_comm_overlap and not self.sequence_parallel:
            raise LayoutError("--tp-comm-overlap", "overlaps sequence parallelism's all-gathers and reduce-scatters; "
                                                   "add --sequence-parallel (and --tp > 1)")
        if self.seq_len % (2 * self.cp) and self.cp > 1:
            raise LayoutError("--cp", f"--seq-len {self.seq_len} not divisible by 2 x cp = {2 * self.cp} (two "
                                      "load-balanced chunks per context rank)")
        if self.sequence_parallel and (self.seq_len // self.cp) % self.tp:
            raise LayoutError("--sequence-parallel", f"--seq-len {self.seq_len} not divisible by --tp {self.tp}")
        self._check_interleaving(layers)

    def _check_choices(self) -> None:
        """LayoutError naming the flag for a field outside its allowed values."""
        if self.recompute not in RECOMPUTE:
            raise LayoutError("--recompute", f"unknown {self.recompute!r}; allowed: {', '.join(RECOMPUTE)}")
        if self.zero not in ZERO_STAGES:
            raise LayoutError("--zero", f"unknown stage {self.zero!r}; allowed: {', '.join(map(str, ZERO_STAGES))}")
        if self.grad_accumulation not in GRAD_ACCUMULATION_MODES:
            raise LayoutError("--grad-accumulation", f"unknown {self.grad_accumulation!r}; allowed: "
                                                     f"{', '.join(GRAD_ACCUMULATION_MODES)}")
        if self.optimizer_step not in OPTIMIZER_STEPS:
            raise LayoutError("--optimizer-step", f"unknown {self.optimizer_step!r}; allowed: {', '.join(OPTIMIZER_STEPS)}")
        if self.pipeline_schedule not in PIPELINE_SCHEDULES:
            raise LayoutError("--pipeline-schedule", f"unknown {self.pipeline_schedule!r}; allowed: "
                                                     f"{', '.join(PIPELINE_SCHEDULES)}")
        if self.p2p is not None and self.p2p not in P2P_MODES:
            raise LayoutError("--p2p", f"unknown {self.p2p!r}; allowed: {', '.join(P2P_MODES)}")
        b = self.dp_bucket_params
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise LayoutError("--dp-bucket-params", f"must be a positive integer (parameters), got {b!r}")
        r = self.lora_rank
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise LayoutError("--lora-rank", f"must be a positive integer, got {r!r}")
        bad = [t for t in self.lora_targets if t not in LORA_TARGETS]
        if bad or not self.lora_targets:
            raise LayoutError("--lora-targets", f"unknown {', '.join(map(repr, bad)) or 'empty list'}; allowed: "
                                                f"{', '.join(LORA_TARGETS)} (comma-separated)")
        if r is not None and (self.fsdp or self.zero == 3):
            raise LayoutError("--lora-rank", "LoRA's frozen weights are not sharded here: not combined with --fsdp or "
                                             "--zero 3 (allowed: --zero 0, 1, 2)")
        if self.optimizer_dtype not in OPTIMIZER_DTYPES:
            raise LayoutError("--optimizer-dtype", f"unknown {self.optimizer_dtype!r}; allowed: "
                                                   f"{', '.join(OPTIMIZER_DTYPES)}")

    def _split_flag(self) -> str:
        return ("--account-for-embedding-in-pipeline-split" if self.embedding_in_split
                else "--account-for-loss-in-pipeline-split")

    def _check_split_slots(self, layers: int) -> None:
        slots = self.pipeline_slots(layers)
        if slots % self.pp:
            counted = " + ".join(x for x, on in (("embedding", self.embedding_in_split),
                                                 ("loss", self.loss_in_split)) if on)
            raise LayoutError(self._split_flag(), f"{layers} layers + {counted} = {slots} slots not divisible by "
                                                  f"--pp {self.pp}")

    def _check_uneven(self, layers: int) -> None:
        if self.embedding_in_split or self.loss_in_split:
            raise LayoutError(self._split_flag(), "not combined with --first-stage-layers / --last-stage-layers "
                                                  "(Megatron-Core rejects the pair as well)")
        for flag, v in (("--first-stage-layers", self.first_stage_layers),
                        ("--last-stage-layers", self.last_stage_layers)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise LayoutError(flag, f"must be a positive integer, got {v!r}")
        flag = "--first-stage-layers" if self.first_stage_layers is not None else "--last-stage-layers"
        if self.pp < 2:
            raise LayoutError(flag, f"uneven pipeline stages need --pp >= 2, got {self.pp}")
        ends = [x for x in (self.first_stage_layers, self.last_stage_layers) if x is not None]
        middle = self.pp - len(ends)
        rest = layers - sum(ends)
        if middle == 0 and rest != 0:
            raise LayoutError(flag, f"with --pp 2 the two end stages hold every layer: {' + '.join(map(str, ends))} "
                                    f"!= {layers}")
        if middle and (rest < middle or rest % middle):
            raise LayoutError(flag, f"{layers} layers less {' + '.join(map(str, ends))} on the end stage(s) leaves "
                                    f"{rest}, not a positive multiple of the {middle} other stages")
        if self.layers_per_virtual_stage is not None:
            raise LayoutError(flag, "uneven stages are not combined with --layers-per-virtual-stage here")

    def _check_interleaving(self, layers: int) -> None:
        lpv = self.layers_per_virtual_stage
        if lpv is None:
            return
        if isinstance(lpv, bool) or not isinstance(lpv, int) or lpv < 1:
            raise LayoutError("--layers-per-virtual-stage", f"must be a positive integer, got {lpv!r}")
        if self.pp < 2:
            raise LayoutError("--layers-per-virtual-stage", "the interleaved schedule needs --pp > 1")
        per_rank = self.pipeline_slots(layers) // self.pp
        if per_rank % lpv:
            counted = " (embedding / loss slots included)" if self.embedding_in_split or self.loss_in_split else ""
            raise LayoutError("--layers-per-virtual-stage", f"{lpv} does not divide the {per_rank} layers of "
                                                            f"each pipeline rank{counted}")
        if self.microbatches % self.pp:
            raise LayoutError("--layers-per-virtual-stage", f"the interleaved schedule needs microbatches "
                                                            f"({self.microbatches}) divisible by --pp {self.pp}")
