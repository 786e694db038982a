"""``accel simulate``: how fast, how much energy, for this model on this hardware.

    accel simulate --model resnet50 --arch h100
    accel simulate --model resnet50 --arch h100 --batch 1,8,64          # one row per batch
    accel simulate --model gpt2 --mode train --batch 8 --dtype bf16 --devices 8 --parallel data --fabric nvlink4
    accel simulate --graph g.json --arch dgx_h100 --parallel tensor --trace t.json --json r.json --csv layers.csv
    accel simulate --model resnet50 --arch tpu_v1 --batch 8 --compile eager   # TPU without its graph compiler

Extracted graphs of --model are cached (see accel.graph_cache; --no-cache to re-extract), so a
repeated command does not import torch.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from accel.cli import check_output, int_list, model_help, nonneg_int, positive_int
from accel.units import format_rate, format_si

DEFAULT_BATCH = {"infer": 1, "train": 32}
#: --dtype values; tf32/fp8/int8 need a matching peak (GPU ``peak:``, CPU ``dtype_rate:``) on the device
MODEL_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
PEAK_DTYPES = ("tf32", "fp8", "int8")
MEMORY_FORMATS = ("contiguous", "channels_last")
#: --compile values (accel.compile.COMPILE_MODES; not imported: the CLI starts without loading accel)
COMPILE_MODES = ("eager", "fused")
#: --iterations bound: steady state is reached after a few iterations; each one adds every op as a task
MAX_ITERATIONS = 1000
#: bound on iterations x ops x devices: each simulated task holds ~1.4 KB and ~45 us of CPU
#: (measured, resnet18 on h100), so 500,000 tasks is ~0.7 GB and ~25 s
MAX_TASKS = 500_000
#: --devices / --microbatches bounds, equal to accel.arch.system.MAX_DEVICES and
#: accel.sim.parallelism.MAX_MICROBATCHES (not imported: they would slow start-up); the task bound applies on top
MAX_DEVICES = 1024
MAX_MICROBATCHES = 4096
#: --devices bound of LLM cluster training (accel.arch.system.MAX_CLUSTER_DEVICES: one rank per stage is simulated)
MAX_CLUSTER_DEVICES = 131072
#: warn when the device idles more than this fraction of the latency waiting for host launches, or when
#: the host's issue time is at least HOST_CRITICAL of the latency (the host sets it: V100..H200 give the
#: same batch-1 ResNet-18 latency) and the device idles more than HOST_CRITICAL_IDLE of it
HOST_BOUND_WARN = 0.5
HOST_CRITICAL = 0.9
HOST_CRITICAL_IDLE = 0.1


def _iterations(text: str) -> int:
    v = positive_int(text)
    if v > MAX_ITERATIONS:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_ITERATIONS} (the documented maximum; steady state is "
                                         f"reached after a few iterations), got {v}")
    return v


def _bounded(flag: str, maximum: int):
    """argparse type: a positive integer <= ``maximum``."""

    def parse(text: str) -> int:
        v = positive_int(text)
        if v > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum} (the documented maximum), got {v}")
        return v

    return parse


def add_workload_options(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--model/--graph and the extraction options shared by ``simulate`` and ``compare``."""
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--model", help=model_help("built-in model name"))
    src.add_argument("--graph", help="a saved LayerGraph JSON (no torch needed)")
    p.add_argument("--batch", type=int_list, default=None,
                   help="items per graph execution, or a comma-separated list (1,8,64: one result per batch); "
                        "per device for --parallel data, per microbatch for pipeline "
                        "(default: 1 for infer, 32 for train; with --graph: the graph's batch)")
    p.add_argument("--dtype", default=None, choices=MODEL_DTYPES,
                   help="model dtype (default fp32; with --graph: the graph's dtype). tf32 = fp32 tensors with TF32 "
                        "tensor-core matmuls; fp8/int8 need a device whose YAML has that peak")
    p.add_argument("--memory-format", default=None, choices=MEMORY_FORMATS,
                   help="activation layout of image models (default contiguous = NCHW)")
    p.add_argument("--amp", default=None, choices=["bf16", "fp16"],
                   help="automatic mixed precision: the (fp32) model runs under torch.autocast('cuda', dtype), "
                        "weight/activation casts included; training with fp16 adds a GradScaler "
                        "(default off; with --graph: the graph's)")
    p.add_argument("--mode", default=None, choices=["infer", "train"],
                   help="inference pass or one training step (default infer; with --graph: the graph's mode)")
    p.add_argument("--seq-len", type=positive_int, default=None,
                   help="sequence length for language models (LLM prefill: prompt tokens; decode: new tokens, default 1)")
    p.add_argument("--phase", default=None, choices=["prefill", "decode"],
                   help="decoder LLMs (llama2-7b..., llama:/gpt: specs): a prompt's prefill, or one decode step "
                        "over a KV cache of --context tokens (default: a plain forward pass)")
    p.add_argument("--context", type=positive_int, default=None,
                   help="--phase decode: KV-cache tokens the step attends over, its own token included")
    p.add_argument("--weights", default=None, choices=["int8", "int4", "fp8"],
                   help="decoder LLMs: weight-only quantization of the blocks' projections (activations stay "
                        "--dtype fp16/bf16; the GEMMs dequantize in their main loop)")
    p.add_argument("--kv-dtype", default=None, choices=["fp8", "int8"],
                   help="decoder LLMs: KV-cache dtype when it differs from --dtype (e.g. an fp8 cache)")
    p.add_argument("--optimizer", default=None, choices=["sgd", "adam"],
                   help="optimizer for --mode train (default sgd; with --graph: the graph's)")
    p.add_argument("--no-cache", action="store_true",
                   help="re-extract --model instead of using the graph cache ($ACCEL_CACHE_DIR/graphs, else "
                        "$XDG_CACHE_HOME/accel/graphs or ~/.cache/accel/graphs)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a model on a device or system (latency, throughput, energy, per-layer)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_options(p)
    p.add_argument("--arch", default="h100", help="device or system arch name or YAML path (default: h100)")
    p.add_argument("--devices", type=_bounded("--devices", MAX_CLUSTER_DEVICES), default=None,
                   help=f"number of devices (default: 1 for a device arch, all devices of a system arch; "
                        f"at most {MAX_DEVICES}, or {MAX_CLUSTER_DEVICES} for LLM cluster training)")
    p.add_argument("--parallel", default="data", choices=["data", "tensor", "pipeline", "ps"],
                   help="multi-device strategy; ps: data parallelism through a parameter server (--servers)")
    p.add_argument("--servers", type=positive_int, default=None,
                   help="parameter-server processes of --parallel ps, one NIC each (default 1)")
    p.add_argument("--fabric", default=None, help="device<->device link arch, e.g. nvlink4 or pcie5 (default: the system's, "
                                                  "else the host link)")
    p.add_argument("--collective", default="ring", choices=["ring", "tree"], help="all-reduce algorithm")
    p.add_argument("--microbatches", type=_bounded("--microbatches", MAX_MICROBATCHES), default=None,
                   help=f"pipeline microbatches (default 4 x devices; at most {MAX_MICROBATCHES})")
    p.add_argument("--schedule", default="1f1b", choices=["1f1b", "gpipe"], help="pipeline schedule")
    add_launch_options(p)
    p.add_argument("--compile", default=None, choices=COMPILE_MODES,
                   help="how the device's software runs the graph: eager (one kernel per recorded op) or fused "
                        "(batch norm folded into convs; bias/activation/residual add/pooling fused into the conv/"
                        "matmul epilogue; elementwise chains merged). Default: the device's own (eager for GPUs "
                        "and CPUs, fused for systolic/FPGA/DSP); training graphs run eager")
    p.add_argument("--host-transfers", action="store_true", help="include host<->device copies of inputs and outputs")
    p.add_argument("--iterations", type=_iterations, default=1,
                   help=f"back-to-back executions (copies of the next input overlap compute); items scale with it "
                        f"(default 1, at most {MAX_ITERATIONS})")
    p.add_argument("--pageable", action="store_true", help="host buffers are pageable (default pinned)")
    p.add_argument("--trace", help="write a Chrome/Perfetto trace JSON here")
    p.add_argument("--json", help="write the result (summary + per-op records) as JSON here")
    p.add_argument("--csv", help="write the full per-layer table (every group, --group-by) as CSV here")
    p.add_argument("--no-memory-check", action="store_true",
                   help="report results even when the estimated memory per device exceeds its capacity "
                        "(default: that is an error)")
    p.add_argument("--top", type=nonneg_int, default=15, help="rows of the per-layer table (default 15; 0 = all)")
    p.add_argument("--group-by", default="module", choices=["module", "kind", "name", "phase"], help="per-layer grouping")
    from accel.cli.train import add_train_options

    add_train_options(p)
    p.set_defaults(func=run)


def add_launch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None,
                   help="launch with CUDA graphs (the device YAML's graph_launch_overhead per kernel); default: an "
                        "LLM decode step (--phase decode) does, as serving engines capture them; everything else "
                        "runs eager")
    p.add_argument("--launch-overhead", default=None,
                   help="host time per op launch, e.g. '25 us' (default: the host CPU's eager dispatch per op class, "
                        "host_runtime.dispatch; with --cuda-graphs the device YAML's graph_launch_overhead)")
    p.add_argument("--host", default=None, metavar="CPU_ARCH",
                   help="host CPU arch driving the devices (eager dispatch, pageable copies), e.g. epyc_genoa_2vcpu; "
                        "default: the system's host:, else h100_host_xeon (the measured machine's)")


#: graph meta key -> (simulate option, attribute of args)
_GRAPH_META_OPTIONS = (("batch", "--batch"), ("mode", "--mode"), ("dtype", "--dtype"), ("seq_len", "--seq-len"),
                       ("optimizer", "--optimizer"), ("amp", "--amp"), ("memory_format", "--memory-format"))


def _check_graph_options(args, graph) -> None:
    """With --graph, an explicit --batch/--mode/--dtype/--seq-len must match what the graph was extracted with.

    The saved graph fixes its shapes, so these options cannot change it; ignoring them would
    silently report a different workload than the user asked for.
    """
    from accel.errors import ConfigError

    if args.optimizer is not None and graph.meta.get("mode") == "infer":
        raise ConfigError(args.graph, "meta.mode", "an inference graph has no optimizer step; --optimizer is only "
                          "used with training graphs (`accel extract --mode train`)")
    for key, flag in _GRAPH_META_OPTIONS:
        want = getattr(args, key, None)
        if key == "batch" and want is not None:
            want = want[0]
        have = graph.meta.get(key)
        if key == "amp" and want is not None and have is None:
            have = "off"  # a graph without autocast cannot be turned into a mixed-precision one
        if key == "memory_format" and want is not None and have is None:
            have = "contiguous"
        if want is None or have is None or str(want) == str(have):
            continue
        raise ConfigError(args.graph, f"meta.{key}",
                          f"the graph was extracted with {key}={have}, so {flag} {want} cannot change it; "
                          f"re-extract with `accel extract --model {graph.name} {flag} {want} -o FILE` "
                          f"or use `accel simulate --model {graph.name} {flag} {want}`")


def batches(args) -> list[int | None]:
    """The batch sizes to simulate: ``--batch`` values, else [None] (the mode's or the graph's default)."""
    from accel.errors import ConfigError

    if not args.batch:
        return [None]
    if args.graph and len(args.batch) > 1:
        raise ConfigError("<command line>", "--batch", "a saved --graph has one batch size; several batches "
                          f"({','.join(map(str, args.batch))}) need --model")
    return list(args.batch)


def load_graph(args, batch: int | None = None):
    """(LayerGraph, batch defaulted?) for ``--graph`` or ``--model`` at ``batch`` (None: the default)."""
    from accel.errors import ConfigError

    if args.graph:
        from accel.graph import LayerGraph

        try:
            g = LayerGraph.load(args.graph)
        except ConfigError:  # already reads `file: field: reason`
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ConfigError(args.graph, None, f"cannot load LayerGraph: {exc}") from None
        _check_graph_options(args, g)
        return g, (batch is None)
    mode = args.mode or "infer"
    if args.optimizer is not None and mode != "train":
        raise ConfigError("<command line>", "--optimizer", "only used with --mode train")
    b = batch or DEFAULT_BATCH[mode]
    memory_format = None if args.memory_format in (None, "contiguous") else args.memory_format
    from accel.graph_cache import cached_extract

    try:
        g = cached_extract(args.model, batch=b, mode=mode, dtype=args.dtype or "fp32", seq_len=args.seq_len,
                           optimizer=(args.optimizer or "sgd") if mode == "train" else None, amp=args.amp,
                           memory_format=memory_format, use_cache=not args.no_cache, phase=args.phase,
                           context=args.context, weights=args.weights, kv_dtype=args.kv_dtype)
    except ImportError as exc:
        raise ConfigError("--model", None, f"the workloads extractor (torch) is not importable: {exc}; use --graph") from None
    except TypeError as exc:  # an extractor without the memory_format option
        if "memory_format" in str(exc):
            raise ConfigError("<command line>", "--memory-format", f"not supported by this workloads extractor: {exc}") from None
        raise
    except ValueError as exc:
        msg = str(exc)
        field = next((flag for key, flag in (("kv_dtype", "--kv-dtype"), ("weights", "--weights"), ("phase", "--phase"),
                                             ("context", "--context"), ("seq_len", "--seq-len"),
                                             ("batch", "--batch"), ("dtype", "--dtype"), ("amp", "--amp"),
                                             ("memory_format", "--memory-format"))
                      if key in msg), "--model")
        raise ConfigError("<command line>", field, msg) from None
    return g, (batch is None)


def device_dtype_notes(args, graph, system) -> list[str]:
    """Check the model dtype (``graph``'s, or ``--dtype`` when graph is None) against each device; notes."""
    return _dtype_notes(args, (graph.meta.get("dtype") if graph is not None else None) or args.dtype or "fp32", system)


def _dtype_notes(args, gdtype: str, system) -> list[str]:
    """Check the model dtype against each device's dtypes.

    Devices that compute in one fixed dtype (systolic, FPGA, DSP): an explicit ``--dtype`` they
    cannot run is an error; a default (or ``--graph``) dtype that differs is costed in the
    device's dtype, and the returned note says so. tf32/fp8/int8 need an entry in the device's
    throughput table (GPU ``peak``, CPU ``dtype_rate``); the error names the dtypes it has.
    """
    from accel.errors import ConfigError

    notes, seen = [], set()
    for inst in system.devices:
        spec = inst.spec
        if spec.name in seen:
            continue
        seen.add(spec.name)
        fixed = spec.fixed_dtype
        if isinstance(fixed, str):
            if args.dtype is not None and args.dtype != fixed:
                raise ConfigError(spec.origin or spec.name, "dtype",
                                  f"{spec.name} computes only in {fixed}; --dtype {args.dtype} is not supported "
                                  f"(allowed: {fixed} -- omit --dtype to cost the model in {fixed} on this device)")
            if gdtype != fixed:
                notes.append(f"note: {spec.name} computes in {fixed}: the {gdtype} graph's MAC ops are costed in {fixed}")
            continue
        table = spec.dtype_table
        if gdtype in PEAK_DTYPES and table is not None and gdtype not in table:
            allowed = [d for d in MODEL_DTYPES if d in table or d in ("fp32",)]
            field = "peak" if hasattr(spec, "peak") else "dtype_rate"
            raise ConfigError(spec.origin or spec.name, f"{field}.{gdtype}",
                              f"{spec.name} has no {gdtype} throughput, so --dtype {gdtype} cannot run on it; "
                              f"allowed --dtype on this device: {', '.join(allowed)}")
    return notes


def host_bound_warning(res, frac: float | None = None) -> str | None:
    """One-line warning when the result is host-bound (see HOST_BOUND_WARN), naming the idle fraction."""
    frac = res.host_wait_fraction if frac is None else frac
    host_critical = res.run.host_launch_s >= HOST_CRITICAL * res.latency_s
    if not (frac > HOST_BOUND_WARN or (host_critical and frac > HOST_CRITICAL_IDLE)):
        return None
    per_op = res.launch_per_op_s
    per = f" ({format_si(per_op, 's')} per op)" if per_op else ""
    return (f"warning: host-bound: device {res.devices[0]} idles {100 * frac:.0f}% of the latency waiting for host "
            f"launches{per}; the latency is set by launch overhead, not the device -- try a larger --batch "
            "or --cuda-graphs")


_TAG = re.compile(r"(@mb\d+)?(@it\d+)?$")


def per_layer_rows(res, graph, group_by: str, parallel=None) -> list[dict[str, Any]]:
    """Per-group time/FLOPs/bytes/energy of device 0's compute stream, sorted by time (no pandas).

    ``gflop`` is the graph op's FLOPs (``OpNode.flops``, plus a fused MAC op's epilogue FLOPs; its
    tensor-parallel shard with ``--parallel tensor``), not the cost model's executed (tile-padded) FLOPs,
    so for one device and one iteration the column sums to the header's GFLOP per execution (less the
    FLOPs of batch norms a ``fused`` compile folded away). ``graph`` is the graph as simulated (compiled). ``pct`` is the share
    of device 0's summed compute time.
    """
    ops = {o.name: o for o in graph}
    shard_flops: dict[str, float] = {}
    if parallel is not None and parallel.mode == "tensor" and parallel.devices > 1:
        from accel.sim.parallelism import plan_tensor_parallel, shard_op

        plan = plan_tensor_parallel(graph, parallel.devices)
        shard_flops = {name: shard_op(ops[name], parallel.devices, s).flops for name, s in plan.shard.items() if name in ops}
    pipelined = parallel is not None and parallel.mode == "pipeline" and parallel.devices > 1
    dev = res.devices[0] if res.devices else None
    groups: dict[str, dict[str, Any]] = {}
    for r in res.records:
        if r.device != dev or r.stream != "compute":
            continue
        base = _TAG.sub("", r.name)
        op = ops.get(base)
        if op is None:
            flops = 0.0
        elif base in shard_flops:
            flops = shard_flops[base]
        elif pipelined and r.flops < op.flops:  # an optimizer op shared by stages, scaled to this stage
            flops = r.flops
        else:
            flops = float(op.flops) + float(op.attrs.get("epilogue_flops", 0.0) or 0.0)  # a fused MAC op's epilogue
        key = getattr(r, group_by) if group_by != "module" else (r.module or "(top level)")
        g = groups.setdefault(str(key), {"group": str(key), "ops": 0, "time_s": 0.0, "flops": 0.0, "bytes": 0.0,
                                         "energy_j": 0.0, "_kind": {}, "_bound": {}})
        d = r.end - r.start
        g["ops"] += 1
        g["time_s"] += d
        g["flops"] += flops
        g["bytes"] += r.bytes
        g["energy_j"] += r.energy_j
        g["_kind"][r.kind] = g["_kind"].get(r.kind, 0.0) + d
        g["_bound"][r.bound] = g["_bound"].get(r.bound, 0.0) + d
    total = sum(g["time_s"] for g in groups.values())
    rows = []
    for g in groups.values():
        rows.append({"group": g["group"], "kind": max(g["_kind"], key=g["_kind"].get), "ops": g["ops"],
                     "time_s": g["time_s"], "pct": 100.0 * g["time_s"] / total if total > 0 else 0.0,
                     "gflop": g["flops"] / 1e9, "bytes": g["bytes"], "bound": max(g["_bound"], key=g["_bound"].get),
                     "energy_j": g["energy_j"]})
    rows.sort(key=lambda r: -r["time_s"])
    return rows


def parse_launch(args) -> float | None:
    from accel.errors import ConfigError

    if args.launch_overhead is None:
        return None
    from accel import units as U

    try:
        launch = U.parse_quantity(args.launch_overhead, U.TIME)
    except ValueError as exc:
        raise ConfigError("--launch-overhead", args.launch_overhead, str(exc)) from None
    if not launch >= 0 or launch == float("inf"):
        raise ConfigError("--launch-overhead", args.launch_overhead, "must be a finite time >= 0 s, e.g. 25 us")
    return launch


def parse_host(args) -> Any:
    """The ``--host`` CPU arch spec, or None (the system's host)."""
    from accel.arch import load_arch
    from accel.errors import ConfigError

    ref = getattr(args, "host", None)
    if ref is None:
        return None
    spec = load_arch(ref)
    if spec.kind != "cpu":
        raise ConfigError("--host", ref, f"arch has kind {spec.kind!r}; a host must be a kind: cpu arch (see `accel archs`)")
    return spec


def uses_cuda_graphs(args, graph) -> bool:
    """``--cuda-graphs``/``--no-cuda-graphs`` if given, else True for an LLM decode step (serving engines such as
    vLLM and TensorRT-LLM replay decode steps as CUDA graphs) and False (eager) otherwise."""
    if args.cuda_graphs is not None:
        return bool(args.cuda_graphs)
    return graph.meta.get("phase") == "decode"


def simulate_one(args, graph, system, n: int, batch_items: int | None, parallel, launch: float | None):
    """Run the simulator for one graph; checks the task bound and (unless --no-memory-check) the memory."""
    from accel.errors import ConfigError
    from accel.sim import simulate

    iterations = getattr(args, "iterations", 1)
    if parallel.mode == "pipeline" and n > 1:
        copies, what, flag = parallel.n_microbatches, "microbatches", "--microbatches"
    else:
        copies, what, flag = (n if parallel.mode in ("data", "tensor") else 1), "device(s)", "--devices"
    tasks = iterations * len(graph) * copies
    if tasks > MAX_TASKS:
        raise ConfigError("<command line>", "--iterations" if iterations > 1 else flag,
                          f"{iterations} iteration(s) x {len(graph)} ops x {copies} {what} = {tasks:,} simulated "
                          f"tasks exceeds the maximum of {MAX_TASKS:,} (~1.4 KB each); use fewer --iterations"
                          f" or {flag}")
    res = simulate(graph, system, batch_items=batch_items, cuda_graphs=uses_cuda_graphs(args, graph),
                   include_host_transfers=getattr(args, "host_transfers", False), parallel=parallel,
                   pinned_host=not getattr(args, "pageable", False), launch_overhead=launch, iterations=iterations,
                   host=parse_host(args), memory_check="off",  # the CLI reports it itself (memory_error, --no-memory-check)
                   compile=getattr(args, "compile", None))
    return res


def compile_for(args, graph, system, n: int):
    """(graph as compiled for the first ``n`` devices of ``system``, one-line note): the rule of
    :func:`accel.sim.simulate` (:func:`accel.compile.resolve_compile`), applied here so the per-layer
    table can name the fused ops; ``simulate`` then runs the compiled graph as is."""
    from accel.compile import compile_graph, compile_note, is_training, resolve_compile

    requested = getattr(args, "compile", None)
    used = system.devices[:n] if n <= system.n_devices else system.devices[:1]  # simulate replicates device 0
    mode = resolve_compile(requested, [inst.model.default_compile for inst in used], is_training(graph),
                           where="<command line>", field="--compile", compiled=graph.meta.get("compile"))
    compiled = compile_graph(graph, mode)
    return compiled, compile_note(graph, compiled, mode, defaulted=requested is None)


def attach_interval(res, system) -> None:
    """Set ``res.latency_interval`` (80 %, from the H100 cross-validation residuals: accel.uncertainty) and
    ``res.latency_interval_note`` (why there is none, or the transfer assumption behind it)."""
    from accel.uncertainty import interval_for_system

    iv, note = interval_for_system(res, system)
    if iv is not None:
        res.latency_interval = (iv.low, iv.high, iv.level, iv.source)
    if note:
        res.latency_interval_note = note


def format_interval(res) -> str:
    """``(80 % interval 4.9 to 6.4 ms, from H100 cross-validation)``, or '' when the result has none."""
    if res.latency_interval is None:
        return ""
    low, high, level, source = res.latency_interval
    return f"({100 * level:.0f} % interval {format_range(low, high)}, from {source})"


def format_range(low: float, high: float) -> str:
    """``4.38 to 7.8 ms`` (one unit when both ends have it), else ``900 us to 1.2 ms`` (ASCII, and no ``-``
    that reads as a minus sign)."""
    a, b = format_si(low, "s"), format_si(high, "s")
    ua, ub = a.rsplit(" ", 1)[-1], b.rsplit(" ", 1)[-1]
    if " " in a and ua == ub:
        return f"{a.rsplit(' ', 1)[0]} to {b}"
    return f"{a} to {b}"


def memory_error(res):
    """ConfigError for a result whose estimated memory does not fit the device, else None."""
    from accel.errors import ConfigError

    cap = res.run.memory_capacity_bytes or 0.0
    if cap and not res.run.memory_fits:
        return ConfigError("<command line>", "--batch",
                           f"estimated memory {format_si(res.run.memory_bytes_max, 'B')} per device does not fit "
                           f"the {format_si(cap, 'B')} of {res.devices[0].rsplit(':', 1)[0]}; use a smaller --batch, "
                           "more devices (--devices N --parallel tensor|pipeline), or --no-memory-check to report "
                           "the results anyway")
    return None


def _llm_rows(graph, res) -> list[tuple[str, str]]:
    """Report rows of an LLM prefill/decode step: tokens per second, the KV cache, and device 0's busy time by op
    kind with what bounds it (decode is bandwidth-bound: weights and the KV cache stream from DRAM)."""
    phase = graph.meta.get("phase")
    if phase not in ("prefill", "decode"):
        return []
    seqs, tokens = res.run.batch_items, int(graph.meta.get("seq_len") or 1)
    new = seqs * tokens
    if phase == "decode":
        rows = [("per token", f"{format_si(res.latency_s, 's')} per decode step ({seqs} sequence(s) x {tokens} token(s), "
                              f"context {graph.meta.get('context')}): {format_rate(new / res.latency_s, 'tokens/s')}")]
    else:
        rows = [("prefill", f"{format_si(res.latency_s, 's')} for {seqs} x {tokens} prompt tokens (time to first token "
                            f"without queueing): {format_rate(new / res.latency_s, 'tokens/s')}")]
    rows.append(("KV cache", f"{format_si(float(graph.meta.get('kv_cache_bytes') or 0), 'B')} after this step"))
    by_kind = per_layer_rows(res, graph, "kind")  # sorted by time; each kind's dominant bound
    rows.append(("breakdown", ", ".join(f"{r['group']} {r['pct']:.0f}% ({r['bound']}-bound)" for r in by_kind[:6])))
    return rows


def _utilisation(util: dict[str, float], shown: int = 16) -> str:
    """``NAME:0 27%`` per device; devices of one name are listed once (``8x NAME: 0:100% 1:100% ...``)."""
    names = {d.rsplit(":", 1)[0] for d in util}
    if len(util) > 1 and len(names) == 1:
        items = list(util.items())
        body = " ".join(f"{d.rsplit(':', 1)[1]}:{100 * u:.0f}%" for d, u in items[:shown])
        return f"{len(util)}x {names.pop()}: {body}" + (" ..." if len(items) > shown else "")
    items = list(util.items())
    return ", ".join(f"{d} {100 * u:.0f}%" for d, u in items[:8]) + (" ..." if len(items) > 8 else "")


def _prepare_system(args, graph, system):
    """(system, notes, n devices, ParallelConfig) for the --arch/--devices/--parallel options."""
    from accel.errors import ConfigError
    from accel.sim import ParallelConfig

    notes = device_dtype_notes(args, graph, system)
    n = args.devices or (system.n_devices if system.n_devices > 1 else 1)
    if args.fabric and n > 1:  # replicate device 0 n times over the requested fabric link
        system = system.with_devices(n, args.fabric)
    elif args.fabric:
        raise ConfigError("<command line>", "--fabric", "a device<->device link needs several devices; "
                          "add --devices N (N >= 2)")
    pipelined = args.parallel == "pipeline" and n > 1
    if args.microbatches is not None and not pipelined:
        raise ConfigError("<command line>", "--microbatches", "only used with --parallel pipeline on several devices "
                          "(--devices N, N >= 2)")
    if args.iterations > 1 and pipelined:
        raise ConfigError("<command line>", "--iterations", "not used with --parallel pipeline, whose microbatches "
                          "already stream; set --microbatches instead")
    if args.servers is not None and args.parallel != "ps":
        raise ConfigError("<command line>", "--servers", "only used with --parallel ps")
    ps = args.parallel == "ps"
    if ps and args.collective != "ring":
        raise ConfigError("<command line>", "--collective", "--parallel ps exchanges gradients through its servers; "
                          "--collective ring/tree applies to --parallel data")
    parallel = ParallelConfig(mode="data" if ps else args.parallel, devices=n, collective="ps" if ps else args.collective,
                              ps_servers=args.servers or 1, microbatches=args.microbatches, schedule=args.schedule)
    return system, notes, n, parallel


CSV_COLUMNS = ("batch", "group", "kind", "ops", "time_s", "pct", "gflop", "bytes", "bound", "energy_j")


def write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    """Per-layer rows (with a ``batch`` column) as CSV, SI units (s, B, J, GFLOP)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in r.items()})


def run(args) -> int:
    from accel.errors import ConfigError

    for flag in ("json", "trace", "csv"):
        check_output(getattr(args, flag), f"--{flag}")
    from accel.cli.train import check_not_training_flags, is_cluster_training, run_training

    if is_cluster_training(args):
        return run_training(args)
    check_not_training_flags(args)
    if args.devices is not None and args.devices > MAX_DEVICES:
        raise ConfigError("<command line>", "--devices", f"at most {MAX_DEVICES} for the per-device simulator "
                                                         f"(LLM cluster training takes up to {MAX_CLUSTER_DEVICES}), "
                                                         f"got {args.devices}")
    bs = batches(args)
    if len(bs) > 1 and (args.json or args.trace):
        raise ConfigError("<command line>", "--json" if args.json else "--trace",
                          "writes one result; give a single --batch (--csv takes several: it has a batch column)")
    launch = parse_launch(args)
    from accel.sim import resolve_system

    base_system = resolve_system(args.arch)
    if args.model:  # a dtype the device cannot run fails before the (slow, uncached) extraction
        device_dtype_notes(args, None, base_system)
    csv_rows: list[dict[str, Any]] = []
    curve: list[tuple[int, Any]] = []
    for i, b in enumerate(bs):
        recorded, defaulted = load_graph(args, b)
        system, notes, n, parallel = _prepare_system(args, recorded, base_system)
        graph, cnote = compile_for(args, recorded, system, n)
        notes = [cnote] + notes
        res = simulate_one(args, graph, system, n, b if args.graph else None, parallel, launch)
        attach_interval(res, system)
        err = memory_error(res)
        if err is not None and not args.no_memory_check:
            raise err
        rows = per_layer_rows(res, graph, args.group_by, parallel)
        csv_rows += [{"batch": res.run.batch_items, **r} for r in rows]
        if len(bs) == 1:
            _report(args, recorded, res, notes, n, defaulted, rows)
        else:
            if i == 0:
                _header(args, recorded, res, n, defaulted, batch_shown=False)
                for note in notes:
                    print(f"  {note}")
            curve.append((res.run.batch_items, res))
    if curve:
        print_batch_table(curve)
        for b, res in curve:
            w = host_bound_warning(res)
            if w:
                print(f"  batch {b}: {w}")
    if args.csv:
        write_csv(args.csv, csv_rows)
        print(f"per-layer table written to {args.csv}")
    return 0


def print_batch_table(curve: list[tuple[int, Any]], label: str = "batch", out=None) -> None:
    """One row per (label value, result): latency, throughput, energy, power, utilisation, host-bound %."""
    out = out or sys.stdout
    ivs = [getattr(res, "latency_interval", None) for _, res in curve]
    show_iv = any(iv is not None for iv in ivs)
    ivhead = f" {'80 % interval':>20}" if show_iv else ""
    head = (f"  {label:>8} {'latency':>10}{ivhead} {'items/s':>12} {'energy':>10} {'J/item':>10} {'power':>9} {'util':>6} "
            f"{'host-bound':>10}")
    print("", file=out)
    print(head, file=out)
    for (b, res), iv in zip(curve, ivs):
        util = res.device_utilization.get(res.devices[0], 0.0) if res.devices else 0.0
        ivtext = ""
        if show_iv:
            ivtext = f" {format_range(iv[0], iv[1]) if iv else 'none':>20}"
        print(f"  {b:>8} {format_si(res.latency_s, 's'):>10}{ivtext} {format_rate(res.throughput, '').strip():>12} "
              f"{format_si(res.energy_j, 'J'):>10} "
              f"{format_si(res.energy_per_item_j, 'J'):>10} {format_si(res.avg_power_w, 'W'):>9} {100 * util:5.0f}% "
              f"{100 * res.host_wait_fraction:9.0f}%", file=out)
    if show_iv:
        src = next(iv for iv in ivs if iv)[3]
        note = next((res.latency_interval_note for _, res in curve
                     if res.latency_interval_note), None)
        print(f"  80 % interval from {src}" + (f"; {note}" if note else ""), file=out)
    else:
        note = next((res.latency_interval_note for _, res in curve
                     if res.latency_interval_note), None)
        if note:
            print(f"  {note}", file=out)


def _header(args, graph, res, n: int, defaulted: bool, batch_shown: bool = True) -> None:
    meta = graph.meta
    batch = res.run.batch_items
    what = args.model or graph.name or args.graph
    bnote = " (default)" if defaulted and not args.graph else ""
    bpart = f"batch={batch}{bnote}" if batch_shown else f"batch={','.join(str(b) for b in args.batch)}"
    mf = meta.get("memory_format")
    print(f"accel simulate: {what}  mode={meta.get('mode', args.mode or 'infer')} "
          f"dtype={meta.get('dtype', args.dtype or 'fp32')} " + (f"amp={meta['amp']} " if meta.get("amp") else "")
          + (f"memory_format={mf} " if mf and mf != "contiguous" else "")
          + bpart + (f" seq_len={meta['seq_len']}" if meta.get("seq_len") else ""))
    par = f", {res.run.parallel}-parallel" if n > 1 else ""
    cg = ", CUDA graphs" + (" (a decode step, as serving engines run it; --no-cuda-graphs: eager)"
                            if args.cuda_graphs is None else "") if res.run.cuda_graphs else ""
    print(f"  on {res.system}: {n} device(s){par}" + cg
          + (", with host transfers" if args.host_transfers else ""))
    if batch_shown:
        print(f"  graph: {len(graph)} ops, {graph.total_flops / 1e9:.3f} GFLOP per execution")


def _report(args, graph, res, notes: list[str], n: int, defaulted: bool, table: list[dict[str, Any]]) -> None:
    out = sys.stdout
    _header(args, graph, res, n, defaulted)
    for note in notes:
        print(f"  {note}", file=out)
    print("", file=out)
    cap = res.run.memory_capacity_bytes or 0.0
    frac = res.host_wait_fraction
    rows = [
        ("latency", f"{format_si(res.latency_s, 's')}  {format_interval(res)}".rstrip()),
        ("throughput", f"{format_rate(res.throughput, 'items/s')}  ({res.items} items simulated)"),
        ("energy", f"{format_si(res.energy_j, 'J')}  ({format_si(res.energy_per_item_j, 'J')}/item; dynamic "
                   f"{format_si(res.energy_dynamic_j, 'J')}, static {format_si(res.energy_static_j, 'J')})"),
        ("average power", format_si(res.avg_power_w, "W")),
        ("utilisation", _utilisation(res.device_utilization) + ("  (compute stream busy)" if res.mac_utilization else "")),
        *([("MAC array", _utilisation(res.mac_utilization) + "  (useful MACs / (peak MAC/s x latency))")]
          if res.mac_utilization else []),
        ("host launch", f"{format_si(res.run.host_launch_s, 's')} issue time on device 0's host thread "
                        f"({format_si(res.launch_per_op_s, 's')} per op); device idles "
                        f"{100 * frac:.0f}% of the latency waiting for it"
                        + (f"; {res.run.host_dispatch}" if res.run.host_dispatch else "")),
    ]
    rows += _llm_rows(graph, res)
    mem = f"{format_si(res.run.memory_bytes_max, 'B')} estimated per device"
    if cap:
        mem += f" of {format_si(cap, 'B')}" + ("" if res.run.memory_fits else "  ** DOES NOT FIT **")
    rows.append(("memory", mem))
    for k, v in res.link_bytes.items():
        rows.append(("link bytes", f"{format_si(v, 'B')} over {k}"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}", file=out)
        if k == "latency" and res.latency_interval_note:
            print(f"  {'':<{w}}  note: {res.latency_interval_note}", file=out)
    warning = host_bound_warning(res, frac)
    if warning:
        print(f"  {warning}", file=out)
    top = table if args.top == 0 else table[:args.top]
    print("", file=out)
    label = {"module": "layer/module", "kind": "kind", "name": "op", "phase": "phase"}[args.group_by]
    print(f"per-layer ({label}), device {res.devices[0]}, top {len(top)} of {len(table)} by time:", file=out)
    lw = min(max([len(label)] + [len(str(r["group"])) for r in top]), 48)
    print(f"  {label:<{lw}}  {'kind':<12} {'time':>10} {'%':>6} {'GFLOP':>9} {'bytes':>10} {'bound':<13} {'energy':>10}", file=out)
    for r in top:
        name = str(r["group"])
        name = name if len(name) <= lw else "..." + name[-(lw - 3):]
        print(f"  {name:<{lw}}  {r['kind']:<12} {format_si(r['time_s'], 's'):>10} {r['pct']:6.1f} {r['gflop']:9.3f} "
              f"{format_si(r['bytes'], 'B'):>10} {r['bound']:<13} {format_si(r['energy_j'], 'J'):>10}", file=out)
    if args.trace:
        res.to_chrome_trace(args.trace)
        print(f"\ntrace written to {args.trace} (open in https://ui.perfetto.dev)", file=out)
    if args.json:
        res.to_json(args.json)
        print(f"result written to {args.json}", file=out)
