"""``accel serve``: an LLM serving engine under a request load (continuous or static batching, paged KV cache).

Examples::

    accel serve --model llama3-8b --arch h100 --rate 10 --prompt-len 1024 --output-len 256 --duration 60
    accel serve --model llama3.1-70b --arch h100 --tp 4 --rate 8 --prompt-len 467 --output-len 256 --requests 500
    accel serve --model llama3-8b --arch h100 --static-batch 64 --prompt-len 1024 --output-len 256   # offline mode
    accel serve --model llama3-8b --arch h100 --trace requests.csv --json r.json   # arrival_s,prompt_tokens,output_tokens

Engine steps are priced by simulating the model's prefill/decode graphs on the device (``accel.serve.costs``);
the KV-cache pool is what device memory leaves after the weights (``--gpu-memory-utilization``, or a share of it:
``--kv-cache-free-fraction``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from accel.cli import check_output, model_help, positive_float, positive_int

#: accel.serve.engine.SCHEDULERS, spelled out so that registering the subcommand does not import the engine (a test
#: keeps the two equal)
SCHEDULER_CHOICES = ("preempt", "guaranteed_no_evict")


def _rates(text: str) -> list[float]:
    """``10`` or ``2,4,8,16`` (requests per second, each > 0)."""
    return [positive_float(x.strip()) for x in text.split(",") if x.strip()] or [positive_float(text)]


def _fraction(text: str) -> float:
    v = positive_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve an LLM under a request load: throughput, TTFT/TPOT percentiles, KV memory",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help=model_help("decoder LLM (named config or llama:/gpt: spec)"))
    p.add_argument("--arch", default="h100", help="device or system arch (default h100)")
    p.add_argument("--tp", type=positive_int, default=1, help="tensor-parallel devices serving one replica (default 1)")
    p.add_argument("--fabric", default="nvlink4",
                   help="device<->device link when --tp > 1 replicates a device arch (default nvlink4; a system arch "
                        "uses its own fabric)")
    p.add_argument("--dtype", default="bf16", choices=["fp16", "bf16", "fp8", "int8"],
                   help="model dtype (default bf16); fp8/int8 = W8A8: projection GEMMs, their weights and inputs and the KV "
                        "cache in 8 bits, the rest bf16")
    p.add_argument("--weights", default=None, choices=["int8", "int4", "fp8"],
                   help="weight-only quantization of the blocks' projections (activations stay --dtype)")
    p.add_argument("--kv-dtype", default=None, choices=["fp8", "int8"], help="KV-cache dtype (default --dtype)")
    load = p.add_argument_group("load (one of --rate, --trace, --static-batch)")
    load.add_argument("--rate", type=_rates,
                      help="Poisson arrivals, requests per second; a list (2,4,8,16) runs each rate on the same engine "
                           "and prints the throughput-latency curve (`accel plot serve` draws it)")
    load.add_argument("--duration", type=positive_float, default=60.0, help="seconds of arrivals (default 60)")
    load.add_argument("--requests", type=positive_int, help="this many arrivals (instead of --duration)")
    load.add_argument("--prompt-len", type=positive_int, default=1024, help="prompt tokens per request (default 1024)")
    load.add_argument("--output-len", type=positive_int, default=256, help="output tokens per request (default 256)")
    load.add_argument("--trace", help="CSV of requests: arrival_s, prompt_tokens, output_tokens")
    load.add_argument("--static-batch", type=positive_int,
                      help="offline benchmark: B requests together (a batch of B prefills, then decode steps)")
    load.add_argument("--seed", type=int, default=0, help="random seed of the arrivals (default 0)")
    eng = p.add_argument_group("engine")
    eng.add_argument("--max-batched-tokens", type=positive_int, default=8192,
                     help="tokens per step: decodes + prefill chunks (default 8192, vLLM's chunked-prefill budget)")
    eng.add_argument("--max-seqs", type=positive_int, default=256, help="sequences per batch (default 256)")
    eng.add_argument("--block-size", type=positive_int, default=16, help="KV-cache block, tokens (default 16)")
    pool = eng.add_mutually_exclusive_group()
    pool.add_argument("--gpu-memory-utilization", type=_fraction, default=0.9,
                      help="share of device memory for weights + KV cache (default 0.9, vLLM's)")
    pool.add_argument("--kv-cache-free-fraction", type=_fraction, default=None,
                      help="instead: the KV cache takes this share of the memory the weights leave (TensorRT-LLM's "
                           "kv_cache_free_gpu_mem_fraction, 0.9 by default there)")
    eng.add_argument("--scheduler", choices=SCHEDULER_CHOICES, default="preempt",
                     help="admission: preempt (vLLM: admit when the prompt fits, recompute-preempt when the pool is "
                          "full; default) or guaranteed_no_evict (TensorRT-LLM's default: reserve prompt + output)")
    p.add_argument("--json", help="write the summary (and the per-step timeline) as JSON here")
    p.add_argument("--no-cache", action="store_true", help="re-extract graphs instead of using the graph cache")
    p.set_defaults(func=run)


def _system(args: argparse.Namespace) -> Any:
    from accel.errors import ConfigError
    from accel.sim.system import resolve_system

    system = resolve_system(args.arch)
    if args.tp > 1:
        if system.n_devices == 1:
            system = system.with_devices(args.tp, args.fabric)
        elif args.tp > system.n_devices:
            raise ConfigError("<command line>", "--tp", f"{args.tp} devices but {system.name} has {system.n_devices}")
    return system


def run(args: argparse.Namespace) -> int:
    from accel.errors import ConfigError
    from accel.graph_cache import cached_extract
    from accel.serve import Workload, serve

    check_output(args.json, "--json")
    given = [f for f, v in (("--rate", args.rate), ("--trace", args.trace), ("--static-batch", args.static_batch)) if v]
    if len(given) != 1:
        raise ConfigError("<command line>", "--rate", "give exactly one of --rate, --trace, --static-batch"
                          + (f" (got {', '.join(given)})" if given else ""))
    system = _system(args)

    def extract(model: str, **kw: Any) -> Any:
        try:
            return cached_extract(model, mode="infer", optimizer=None, amp=None, use_cache=not args.no_cache,
                                  seq_len=kw.pop("seq_len", None), weights=args.weights, kv_dtype=args.kv_dtype, **kw)
        except ValueError as exc:
            msg = str(exc)
            raise ConfigError("<command line>", "--tp" if "divisible" in msg else "--model", msg) from None

    results, costs = [], None
    for rate in args.rate or [None]:
        wl = Workload(args.prompt_len, args.output_len, rate, args.duration, args.trace, args.static_batch, args.seed,
                      max_requests=args.requests)
        res = serve(args.model, system, wl, dtype=args.dtype, tp=args.tp, max_batched_tokens=args.max_batched_tokens,
                    max_seqs=args.max_seqs, block_tokens=args.block_size, memory_utilization=args.gpu_memory_utilization,
                    extract=extract, costs=costs, scheduler=args.scheduler, kv_free_fraction=args.kv_cache_free_fraction)
        costs = res.costs
        results.append(res)
    if len(results) == 1:
        s = results[0].summary()
        _print(s, results[0], sys.stdout)
        doc: dict[str, Any] = {**s, "timeline": results[0].timeline()}
    else:
        curve = [r.summary() for r in results]
        _print_curve(curve, results[0], sys.stdout)
        doc = {"curve": curve}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        print(f"result written to {args.json}")
    return 0


def _print_curve(curve: list[dict[str, Any]], first: Any, out: Any) -> None:
    """One row per request rate: the throughput-latency curve."""
    from accel.units import format_si

    _print_header(curve[0], first, out)
    print(f"  {'rate':>8s} {'req/s':>7s} {'out tok/s':>10s} {'TTFT p50':>9s} {'TTFT p99':>9s} {'TPOT p50':>9s} "
          f"{'TPOT p99':>9s} {'peak KV':>9s} {'preempt':>7s}", file=out)
    for s in curve:
        print(f"  {s['rate']:8.3g} {s['requests_per_s']:7.2f} {s['output_tokens_per_s']:10.0f} "
              f"{format_si(s['ttft_s']['p50'], 's'):>9s} {format_si(s['ttft_s']['p99'], 's'):>9s} "
              f"{format_si(s['tpot_s']['p50'], 's'):>9s} {format_si(s['tpot_s']['p99'], 's'):>9s} "
              f"{format_si(s['peak_kv_bytes'], 'B'):>9s} {s['preemptions']:7d}", file=out)


def _print_header(s: dict[str, Any], res: Any, out: Any) -> None:
    from accel.units import format_si

    group = f"{s['tp']} devices in tensor parallel" if s["tp"] > 1 else "1 device"
    print(f"accel serve: {s['model']} on {s['system']}, {group}  dtype={s['dtype']}  "
          f"{s['batching']} batching", file=out)
    free = s.get("kv_free_fraction")
    rule = (f"{free:.0%} of what {format_si(res.pool.weights_bytes, 'B')} of weights leave" if free is not None
            else f"{s['memory_utilization']:.0%} of memory less {format_si(res.pool.weights_bytes, 'B')} of weights")
    print(f"  engine: {s['max_batched_tokens']} tokens/step, {s['max_seqs']} sequences, {s['scheduler']} admission, "
          f"KV blocks of {s['block_tokens']} tokens; KV pool {format_si(s['kv_capacity_bytes'], 'B')} per device "
          f"({res.pool.blocks:,} blocks: {rule})", file=out)
    print("", file=out)


def _interval_rows(iv: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary's 80 % intervals (accel.serve.intervals), one printed row per metric; none without the table."""
    from accel.units import format_rate, format_si

    rows: list[tuple[str, str]] = []
    for key, label, fmt in (("output_tokens_per_s", "output tokens/s", lambda v: format_rate(v, "").strip()),
                            ("ttft_s", "mean TTFT", lambda v: format_si(v, "s")),
                            ("tpot_s", "mean TPOT", lambda v: format_si(v, "s"))):
        if key in iv:
            rows.append(("80 % interval" if not rows else "",
                         f"{label} {fmt(iv[key][0])} to {fmt(iv[key][1])} (from {iv[key + '_source']})"))
    return rows


def _print(s: dict[str, Any], res: Any, out: Any) -> None:
    from accel.units import format_rate, format_si

    def pct(d: dict[str, float]) -> str:
        return "  ".join(f"{k} {format_si(d[k], 's')}" for k in ("p50", "p90", "p99", "mean"))

    _print_header(s, res, out)
    rows = [
        ("requests", f"{s['completed']} completed of {s['requests']}" + (f", {s['dropped']} dropped" if s["dropped"] else "")
         + f" in {format_si(s['duration_s'], 's')}"),
        ("throughput", f"{format_rate(s['output_tokens_per_s'], 'output tokens/s')} "
                       f"({format_rate(s['output_tokens_per_s_per_device'], 'tokens/s')} per device), "
                       f"{format_rate(s['requests_per_s'], 'requests/s')}"),
        ("TTFT", pct(s["ttft_s"])),
        ("TPOT", pct(s["tpot_s"])),
        *_interval_rows(s.get("intervals") or {}),
        ("KV cache", f"peak {format_si(s['peak_kv_bytes'], 'B')} of {format_si(s['kv_capacity_bytes'], 'B')} per device; "
                     f"{s['preemptions']} preemption(s)"),
        ("steps", f"{s['steps']:,} engine steps"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}", file=out)
