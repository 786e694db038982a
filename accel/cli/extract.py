"""``accel extract --model NAME``: extract a workload's LayerGraph (needs torch) and summarise it."""

from __future__ import annotations

import argparse
import re
from collections import Counter

from accel.cli.simulate import MEMORY_FORMATS, MODEL_DTYPES

from accel.cli import model_help, positive_int
from accel.errors import ConfigError

#: option dest -> flag, in the order error messages are matched against them
_OPTIONS = {"kv_dtype": "--kv-dtype", "weights": "--weights", "phase": "--phase", "context": "--context",
            "seq_len": "--seq-len", "batch": "--batch", "dtype": "--dtype", "optimizer": "--optimizer", "amp": "--amp",
            "memory_format": "--memory-format", "mode": "--mode", "model": "--model"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="extract a model's op graph (LayerGraph JSON) from PyTorch on meta tensors",
        description="Build a built-in model on the meta device (no weights, no downloads), record every aten op "
                    "of one inference pass or one training step, print a summary and optionally write the "
                    "LayerGraph as JSON.")
    p.add_argument("--model", required=True, help=model_help("built-in model name"))
    p.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    p.add_argument("--mode", choices=("infer", "train"), default="infer",
                   help="infer (forward) or train (forward+loss+backward+optimizer step); default infer")
    p.add_argument("--dtype", choices=MODEL_DTYPES, default="fp32",
                   help="model dtype (default fp32); tf32 = fp32 tensors with TF32 matmuls/convs; int8/fp8 = a "
                        "quantized inference graph")
    p.add_argument("--memory-format", choices=MEMORY_FORMATS, default=None,
                   help="activation layout of image models (default contiguous = NCHW)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None,
                   help="automatic mixed precision: run under torch.autocast('cuda', dtype) (casts included; default off)")
    p.add_argument("--seq-len", type=positive_int, default=None, help="sequence length for token models (gpt2/bert/lstm)")
    p.add_argument("--phase", choices=("prefill", "decode"), default=None,
                   help="decoder LLMs: a prompt's prefill, or one decode step over a KV cache (see `accel simulate --help`)")
    p.add_argument("--context", type=positive_int, default=None,
                   help="--phase decode: KV-cache tokens the step attends over, its own token included")
    p.add_argument("--weights", choices=("int8", "int4", "fp8"), default=None,
                   help="decoder LLMs: weight-only quantization of the blocks' projections")
    p.add_argument("--kv-dtype", choices=("fp8", "int8"), default=None, help="decoder LLMs: KV-cache dtype")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="optimizer for --mode train")
    p.add_argument("-o", "--output", help="write the LayerGraph JSON here")
    p.add_argument("--no-cache", action="store_true", help="re-extract instead of using the graph cache "
                                                           "(see `accel simulate --help`)")
    p.set_defaults(func=run)


def summary_lines(graph) -> list[str]:
    """Human-readable summary of a LayerGraph: ops by kind and phase, GFLOPs, params, bytes."""
    from accel.units import format_si

    m = graph.meta
    lines = [f"model {graph.name}: mode={m.get('mode')} batch={m.get('batch')} dtype={m.get('dtype')}"
             + (f" amp={m['amp']}" if m.get("amp") else "")
             + (f" seq_len={m['seq_len']}" if m.get("seq_len") else "")
             + (f" optimizer={m['optimizer']}" if m.get("optimizer") else "")
             + (f" phase={m['phase']}" if m.get("phase") not in (None, "forward") else "")
             + (f" context={m['context']}" if m.get("context") else "")]
    if m.get("repeated_block"):
        rb = m["repeated_block"]
        lines.append(f"  {rb['count']} blocks: {rb['module']} traced once ({rb['ops']} ops), repeated; KV cache "
                     f"{format_si(m.get('kv_cache_bytes', 0), 'B')}")
    lines.append(f"  ops: {len(graph)}  edges: {graph.graph.number_of_edges()}")
    lines.append(f"  total: {graph.total_flops / 1e9:.3f} GFLOPs, {graph.total_macs / 1e9:.3f} GMACs")
    lines.append(f"  params: {m.get('params', 0):,} ({format_si(m.get('param_bytes', 0), 'B')})")
    act = sum(o.output_bytes for o in graph)
    traffic = sum(o.total_bytes for o in graph)
    lines.append(f"  bytes: outputs written {format_si(act, 'B')}, compulsory traffic "
                 f"(inputs+weights+outputs of every op) {format_si(traffic, 'B')}")
    by_phase = Counter(o.phase for o in graph)
    lines.append("  phases: " + ", ".join(f"{p} {n}" for p, n in by_phase.items()))
    lines.append(f"  {'kind':14s} {'ops':>6s} {'GFLOPs':>10s} {'bytes':>12s}")
    kinds: dict[str, list[float]] = {}
    for o in graph:
        k = kinds.setdefault(o.kind, [0, 0.0, 0])
        k[0] += 1
        k[1] += o.flops
        k[2] += o.total_bytes
    for kind, (n, fl, b) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"  {kind:14s} {n:6d} {fl / 1e9:10.3f} {format_si(b, 'B'):>12s}")
    return lines


def run(args: argparse.Namespace) -> int:
    from accel.cli import check_output
    from accel.graph_cache import cached_extract

    check_output(args.output, "--output")

    memory_format = None if args.memory_format in (None, "contiguous") else args.memory_format
    try:
        graph = cached_extract(args.model, batch=args.batch, mode=args.mode, dtype=args.dtype, seq_len=args.seq_len,
                               optimizer=args.optimizer if args.mode == "train" else None, amp=args.amp,
                               memory_format=memory_format, use_cache=not args.no_cache, phase=args.phase,
                               context=args.context, weights=args.weights, kv_dtype=args.kv_dtype)
    except ModuleNotFoundError as exc:
        raise ConfigError("<environment>", "torch", f"extraction needs torch ({exc}); install accel[torch]") from None
    except ValueError as exc:
        msg = str(exc)
        field = next((flag for key, flag in _OPTIONS.items()
                      if key != "model" and re.search(rf"\b{key}\b", msg)), "--model")
        raise ConfigError("<command line>", field, msg) from None
    print("\n".join(summary_lines(graph)))
    if args.output:
        path = graph.save(args.output)
        print(f"wrote {path}")
    return 0
