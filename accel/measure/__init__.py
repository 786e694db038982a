"""Measure real kernels and models on this machine, in the format of ``data/measurements``.

``accel measure --device cuda|cpu [--what gemm,conv,...] [--quick|--full|--preset tiny] -o DIR``
writes the same files and columns as ``data/measurements/measure_gpu.py`` (a port of it):
device.json, micro.csv, gemm.csv, conv.csv (and conv_bwd.csv: the dgrad/wgrad kernels), layers.csv, e2e.csv, energy.csv, cpu.csv (and
dispatch.csv: eager dispatch per op class, :mod:`accel.measure.dispatch`; llm_train.csv: an LLM decoder block's
training step with its kernel split and sustained clock, :mod:`accel.measure.llm_train`), so
``accel validate DIR`` can compare the models with your own hardware. Every section is
independent: a failure in one is logged and the rest go on. torch is imported lazily.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from accel.errors import ConfigError
from accel.measure.noise import DEFAULT_MAX_SPREAD, Screening, machine_load, screen, summary_line

#: section -> output file
SECTION_FILES: dict[str, str] = {
    "device": "device.json", "micro": "micro.csv", "gemm": "gemm.csv", "conv": "conv.csv", "conv_bwd": "conv_bwd.csv",
    "layers": "layers.csv",
    "e2e": "e2e.csv", "energy": "energy.csv", "cpu": "cpu.csv", "dispatch": "dispatch.csv", "llm_train": "llm_train.csv",
}
DEVICES = ("cuda", "cpu")


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """CSV with the union of the rows' keys as columns, in first-seen order (as measure_gpu.py)."""
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def measure(out_dir: str | Path, device: str = "cuda", what: Iterable[str] | None = None, preset: str = "quick",
            log: Callable[..., None] | None = None, threads: int | None = None,
            max_spread: float = DEFAULT_MAX_SPREAD, refuse_noisy: bool = False) -> dict[str, Path]:
    """Run the sections in ``what`` (default: all) on ``device`` and write their files into ``out_dir``.

    ``threads``: torch CPU threads for the kernel/model sections (default: torch's default, all cores);
    cpu.csv always measures 1 and this many threads.

    Every timing is repeated (:mod:`accel.measure.timing`); rows whose spread exceeds
    ``max_spread`` (or, on CPU, measured while the machine was overloaded) get ``noisy=True``
    and are dropped when ``refuse_noisy``; rows that are physically impossible (time not finite
    and > 0, FLOP rate above the machine's bound) are never written (:mod:`accel.measure.noise`).
    The machine load at start and end and these counts go into device.json (``load_at_start``,
    ``load_at_end``, ``screening``) and one summary line is logged.

    Returns section -> file written (sections that produced no rows write nothing).
    """
    from accel.measure.dispatch import sec_dispatch
    from accel.measure.llm_train import sec_llm_train
    from accel.measure.sections import (Ctx, sec_conv, sec_conv_bwd, sec_cpu, sec_device, sec_e2e, sec_energy, sec_gemm,
                                        sec_layers, sec_micro)
    from accel.measure.shapes import plan_for

    if not (isinstance(max_spread, (int, float)) and math.isfinite(max_spread) and max_spread > 0):
        raise ConfigError("--max-spread", "max_spread", f"must be a finite number > 0, got {max_spread!r}")
    if device not in DEVICES:
        raise ConfigError("--device", "device", f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")
    want = list(what) if what else list(SECTION_FILES)
    bad = [w for w in want if w not in SECTION_FILES]
    if bad:
        raise ConfigError("--what", bad[0], f"unknown section; allowed: {', '.join(SECTION_FILES)}")
    try:
        import torch
    except ImportError as exc:
        raise ConfigError("--device", "device", f"accel measure needs torch: {exc}") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "device", "CUDA is not available on this machine; use --device cpu")
    default_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ConfigError("--threads", "threads", f"must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    t0 = time.time()

    def _log(*a: Any) -> None:
        print(f"[{time.time() - t0:7.1f}s]", *a, file=sys.stderr, flush=True)

    logger = log or _log
    ctx = Ctx(torch=torch, device=device, plan=plan_for(device, preset), log=logger,
              info={"default_threads": default_threads}, max_spread=float(max_spread))
    load_start = machine_load()
    dev_info: dict[str, Any] = {"device_type": device, "cpu_count": os.cpu_count()}
    screening = Screening()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fns = dict(device=sec_device, micro=sec_micro, gemm=sec_gemm, conv=sec_conv, conv_bwd=sec_conv_bwd,
               layers=sec_layers, e2e=sec_e2e, energy=sec_energy, cpu=sec_cpu, dispatch=sec_dispatch,
               llm_train=sec_llm_train)
    written: dict[str, Path] = {}
    for sec in want:
        logger("section", sec)
        try:
            res: Any = fns[sec](ctx)
        except Exception:
            logger("SECTION FAILED", sec)
            traceback.print_exc()
            continue
        path = out / SECTION_FILES[sec]
        if sec == "device":
            res["preset"] = preset
            dev_info = res
            path.write_text(json.dumps(res, indent=1))
        else:
            res = screen(sec, SECTION_FILES[sec], res or [], dev_info, refuse_noisy, screening, float(max_spread))
            if not res:
                continue
            write_rows(path, res)
        written[sec] = path
        logger(f"wrote {path.name}" + ("" if sec == "device" else f": {len(res)} rows"))
    load_end = machine_load()
    if "device" in written:  # add what only the end of the run knows
        dev_info.update(load_at_start=load_start, load_at_end=load_end, max_spread=float(max_spread),
                        refuse_noisy=bool(refuse_noisy), screening=screening.as_dict())
        written["device"].write_text(json.dumps(dev_info, indent=1))
    for reason in screening.reasons[:5]:
        logger("REFUSED", reason)
    logger(summary_line(screening, float(max_spread), load_end))
    logger("all done")
    return written


__all__ = ["DEVICES", "SECTION_FILES", "measure", "write_rows"]
