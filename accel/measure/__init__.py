"""Measure real kernels and models on this machine, in the format of ``shared/measurements``.

``accel measure --device cuda|cpu [--what gemm,conv,...] [--quick|--full|--preset tiny] -o DIR``
writes the same files and columns as ``shared/measurements/measure_gpu.py`` (a port of it):
device.json, micro.csv, gemm.csv, conv.csv, layers.csv, e2e.csv, energy.csv, cpu.csv, so
``accel validate DIR`` can compare the models with your own hardware. Every section is
independent: a failure in one is logged and the rest go on. torch is imported lazily.
"""

from __future__ import annotations

import csv
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from accel.errors import ConfigError

#: section -> output file
SECTION_FILES: dict[str, str] = {
    "device": "device.json", "micro": "micro.csv", "gemm": "gemm.csv", "conv": "conv.csv", "layers": "layers.csv",
    "e2e": "e2e.csv", "energy": "energy.csv", "cpu": "cpu.csv",
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
            log: Callable[..., None] | None = None, threads: int | None = None) -> dict[str, Path]:
    """Run the sections in ``what`` (default: all) on ``device`` and write their files into ``out_dir``.

    ``threads``: torch CPU threads for the kernel/model sections (default: torch's default, all cores);
    cpu.csv always measures 1 and this many threads.

    Returns section -> file written (sections that produced no rows write nothing).
    """
    from accel.measure.sections import (Ctx, sec_conv, sec_cpu, sec_device, sec_e2e, sec_energy, sec_gemm,
                                        sec_layers, sec_micro)
    from accel.measure.shapes import plan_for

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
              info={"default_threads": default_threads})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fns = dict(device=sec_device, micro=sec_micro, gemm=sec_gemm, conv=sec_conv, layers=sec_layers, e2e=sec_e2e,
               energy=sec_energy, cpu=sec_cpu)
    written: dict[str, Path] = {}
    for sec in want:
        logger("section", sec)
        try:
            res = fns[sec](ctx)
        except Exception:
            logger("SECTION FAILED", sec)
            traceback.print_exc()
            continue
        path = out / SECTION_FILES[sec]
        if sec == "device":
            res["preset"] = preset
            path.write_text(json.dumps(res, indent=1))
        elif res:
            write_rows(path, res)
        else:
            continue
        written[sec] = path
        logger(f"wrote {path.name}" + ("" if sec == "device" else f": {len(res)} rows"))
    logger("all done")
    return written


__all__ = ["DEVICES", "SECTION_FILES", "measure", "write_rows"]
