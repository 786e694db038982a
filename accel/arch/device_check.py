"""Check an arch YAML's datasheet numbers against what a real device reported (``device.json``).

``accel measure`` writes ``device.json`` (format: ``data/measurements/README.md``): on a CUDA machine
the ``torch.cuda.get_device_properties`` fields as ``prop_*``, NVML clocks/power/PCIe as ``nvml_*``
and the ``nvidia-smi -q`` text; on every machine ``lscpu`` and ``free -b``. :func:`check_device`
pairs each comparable arch field with the device's own number and classifies it:

* ``ok``: ``|device - yaml| / yaml <= tolerance`` (each field states its tolerance);
* ``MISMATCH``: beyond the tolerance;
* ``not reported``: the device.json has no number for that field.

What is compared (all values in SI base units: B, Hz, B/s, W; counts are plain numbers):

``kind: gpu`` (needs a CUDA device.json)
    ``sm_count`` (prop_multi_processor_count), ``clock`` (max SM clock: nvml_max_sm_clock_mhz, else the
    nvidia-smi "Max Clocks / SM" line, else prop_clock_rate in kHz), ``memory.l2_size``
    (prop_L2_cache_size), ``memory.hbm_size`` (prop_total_memory: the memory the driver exposes, a
    few % below the datasheet figure after ECC/driver reservations, hence an 8% tolerance),
    ``memory.hbm_bandwidth`` (bus width x max memory clock x 2 / 8: nvml_mem_bus_width or
    prop_memory_bus_width in bits, nvml_max_mem_clock_mhz or prop_memory_clock_rate in kHz),
    ``tdp`` (nvml_power_limit_mw, else the nvidia-smi "Current Power Limit"), ``memory.smem_per_sm``
    (prop_shared_memory_per_multiprocessor), ``memory.registers_per_sm``
    (prop_regs_per_multiprocessor x 4 B), ``max_threads_per_sm`` (prop_max_threads_per_multi_processor).

``kind: cpu`` (any device.json with ``lscpu``: a CUDA run records its host CPU too)
    ``cores`` (Core(s) per socket x Socket(s)), ``threads_per_core``, each ``caches[i].size`` (lscpu
    L1d/L2/L3 size per instance), ``base_clock`` (the "@ x GHz" of the model name, else BogoMIPS / 2
    on x86, the TSC clock), ``turbo_clock`` (CPU max MHz), ``dram_size`` (``free -b`` Mem total).

``kind: system``
    its first device group's GPU arch as above (fields prefixed ``<arch>.``), the number of devices
    (nvidia-smi "Attached GPUs"), the ``host`` CPU arch as above and the ``host_link``: PCIe
    generation and lanes against the link the GPU reports (nvml_pcie_gen_cur / nvml_pcie_width_cur,
    else nvidia-smi), and its per-direction bandwidth against the one that generation and width give.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accel.errors import ConfigError

#: largest device.json accepted (bytes); the H100 one is ~20 KB, an 8-GPU ``nvidia-smi -q`` ~150 KB
MAX_DEVICE_JSON_BYTES = 4 * 2**20

#: statuses of one compared field
OK, MISMATCH, NOT_REPORTED = "ok", "MISMATCH", "not reported"

#: relative tolerances, one per compared quantity (fractions of the YAML value)
TOL_EXACT = 0.0           # counts: SMs, cores, lanes, PCIe generation, registers
TOL_CAPACITY = 0.01       # cache / shared-memory capacities the device reports exactly
TOL_CLOCK = 0.02          # clocks: datasheets round to 5-10 MHz
TOL_POWER = 0.02          # board power limit
TOL_BANDWIDTH = 0.05      # datasheet bandwidths are rounded (H200: 4.8 TB/s vs 4.92 from the bus)
TOL_DEVICE_MEMORY = 0.08  # usable memory = datasheet GB less ECC/driver reservations (H100: 80 GB vs 85.0e9 B)
TOL_HOST_MEMORY = 0.05    # `free` total vs the YAML's dram_size (kernel reservations)

#: PCIe generation -> (transfer rate per lane in GT/s, line-code efficiency)
PCIE_GENERATIONS: dict[int, tuple[float, float]] = {
    1: (2.5, 8 / 10), 2: (5.0, 8 / 10), 3: (8.0, 128 / 130), 4: (16.0, 128 / 130), 5: (32.0, 128 / 130),
    6: (64.0, 242 / 256),
}


@dataclass(frozen=True)
class FieldCheck:
    """One arch field compared with the device.

    Attributes:
        field: dotted arch field (``memory.l2_size``; ``h100.sm_count`` inside a system).
        unit: SI unit of both values (``B``, ``Hz``, ``B/s``, ``W``) or ``""`` for counts.
        yaml_value: the arch YAML's value in ``unit``.
        device_value: the device's value in ``unit``; ``None`` when the device.json has none.
        tolerance: largest accepted ``|device - yaml| / yaml`` (fraction).
        device_source: the device.json key(s) the device value was read or derived from.
    """

    field: str
    unit: str
    yaml_value: float
    device_value: float | None
    tolerance: float
    device_source: str

    @property
    def rel_diff(self) -> float | None:
        """``(device - yaml) / yaml`` (fraction), ``None`` when not reported."""
        if self.device_value is None:
            return None
        if self.yaml_value == 0:
            return 0.0 if self.device_value == 0 else math.inf
        return (self.device_value - self.yaml_value) / self.yaml_value

    @property
    def status(self) -> str:
        """``ok``, ``MISMATCH`` or ``not reported``."""
        d = self.rel_diff
        if d is None:
            return NOT_REPORTED
        # a hair of slack so that exact counts and rounded datasheet values compare as intended
        return OK if abs(d) <= self.tolerance + 1e-9 else MISMATCH


@dataclass
class DeviceCheckReport:
    """Every compared field of one arch against one device.json.

    Attributes:
        arch: the arch name given (``h100``) and ``arch_origin`` the YAML it was read from.
        arch_kind: the arch's ``kind``.
        device_file: the device.json read.
        device_kind: ``gpu`` (a CUDA run) or ``cpu`` (a CPU-only run).
        device_name: the device's reported name.
        checks: the compared fields, in table order.
        notes: remarks about what was or was not compared.
    """

    arch: str
    arch_origin: str
    arch_kind: str
    device_file: str
    device_kind: str
    device_name: str
    checks: list[FieldCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[FieldCheck]:
        return [c for c in self.checks if c.status == MISMATCH]

    @property
    def compared(self) -> list[FieldCheck]:
        return [c for c in self.checks if c.status != NOT_REPORTED]

    @property
    def ok(self) -> bool:
        """True when no compared field is beyond its tolerance."""
        return not self.mismatches


# ----------------------------------------------------------------------------------------- reading
def read_device_json(path: str | Path) -> tuple[dict[str, Any], Path]:
    """Read ``path`` (a device.json, or a measurement directory holding one) as a JSON object.

    Returns ``(content, file)``. Raises :class:`ConfigError` (``file: field: reason``) for a missing
    file, a directory without device.json, non-UTF-8 bytes, malformed JSON or a non-object.
    """
    from accel.graph import parse_json_strict, read_text_checked

    p = Path(path)
    if p.is_dir():
        f = p / "device.json"
        if not f.exists():
            raise ConfigError(str(p), "device.json",
                              "no device.json in this directory; give a measurement directory written by "
                              "`accel measure` or the device.json itself")
        p = f
    info = parse_json_strict(read_text_checked(p, MAX_DEVICE_JSON_BYTES, what="device.json"), str(p))
    if not isinstance(info, dict):
        raise ConfigError(str(p), None,
                          f"expected a JSON object (device.json of `accel measure`), got {type(info).__name__}")
    return info, p


def device_kind(info: dict[str, Any], source: str) -> str:
    """``"gpu"`` for a CUDA run, ``"cpu"`` for a CPU-only run (``device_type``; files written before
    that key existed are CUDA runs when they hold ``prop_*`` fields)."""
    dt = info.get("device_type")
    if dt is None:
        if any(k.startswith("prop_") for k in info):
            return "gpu"
        if "lscpu" in info:
            return "cpu"
        raise ConfigError(source, "device_type", "missing, and no prop_* (CUDA) or lscpu (CPU) fields to tell the "
                                                 "kind of device; not a device.json written by `accel measure`?")
    if dt == "cuda":
        return "gpu"
    if dt == "cpu":
        return "cpu"
    shown = repr(dt) if len(repr(dt)) <= 40 else repr(dt)[:37] + "..."
    raise ConfigError(source, "device_type", f"{shown} is not supported; expected 'cuda' or 'cpu'")


class _Reader:
    """Typed access to device.json numbers: a present key must be a finite number > 0 (else
    :class:`ConfigError` naming it); an absent key (or JSON null) reads as ``None``."""

    def __init__(self, info: dict[str, Any], source: str):
        self.info = info
        self.source = source

    def num(self, key: str) -> float | None:
        if key not in self.info or self.info[key] is None:
            return None
        v = self.info[key]
        try:
            x = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
        except OverflowError:  # an integer beyond float range
            x = math.inf
        if not math.isfinite(x) or x <= 0:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise ConfigError(self.source, key, f"expected a positive number, got {shown}")
        return x

    def text(self, key: str) -> str:
        v = self.info.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise ConfigError(self.source, key, f"expected a string (command output), got {type(v).__name__}")
        return "" if v.startswith("error:") else v

    def first(self, *options: tuple[str, float]) -> tuple[float | None, str]:
        """The first present key of ``(key, scale)`` options, scaled: ``(value, key)``; else ``(None, keys)``."""
        for key, scale in options:
            v = self.num(key)
            if v is not None:
                return v * scale, key
        return None, " / ".join(k for k, _ in options)


# ------------------------------------------------------------------------------- nvidia-smi -q text
def _smi_value(text: str, path: list[str]) -> str | None:
    """The value of an indented ``nvidia-smi -q`` entry reached through section titles ``path``
    (``["Max Clocks", "SM"]``): each title must appear, in order, deeper than the previous one."""
    depth, want = -1, 0
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if want > 0 and indent <= depth:  # left the section matched so far: start over
            depth, want = -1, 0
        key, sep, value = line.strip().partition(":")
        if key.strip() == path[want] and indent > depth:
            if want == len(path) - 1:
                return value.strip() if sep else None
            depth, want = indent, want + 1
    return None


def _smi_number(text: str, path: list[str]) -> float | None:
    v = _smi_value(text, path) if text else None
    m = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)", v or "")
    return float(m.group(1)) if m else None


# ------------------------------------------------------------------------------------------ lscpu
_LSCPU_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?B)?\b(?:.*\((\d+) instances?\))?", re.IGNORECASE)
_SIZE_SCALE = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _lscpu_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _lscpu_cache(value: str) -> tuple[float, int] | None:
    """``"2 MiB (2 instances)"`` -> (1 MiB per instance in B, 2). Old lscpu prints one instance's
    size without a count (``"32K"``): then (that size, 1)."""
    m = _LSCPU_SIZE.match(value or "")
    if not m:
        return None
    total = float(m.group(1)) * _SIZE_SCALE[m.group(2).upper()]
    n = int(m.group(4)) if m.group(4) else 1
    return (total / n if n else total), n


def _lscpu_number(fields: dict[str, str], key: str) -> float | None:
    m = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)", fields.get(key, ""))
    return float(m.group(1)) if m and float(m.group(1)) > 0 else None


#: lscpu cache line for a YAML cache level name
_LSCPU_CACHE_KEYS = {"l1": "L1d cache", "l1d": "L1d cache", "l2": "L2 cache", "l3": "L3 cache", "l4": "L4 cache",
                     "llc": "L3 cache"}


# ------------------------------------------------------------------------------------------ checks
def _gpu_checks(spec: Any, r: _Reader, prefix: str = "") -> list[FieldCheck]:
    """Fields of a ``kind: gpu`` spec against a CUDA device.json (``prefix`` names the arch in a system)."""
    smi = r.text("nvidia_smi_q")
    out: list[FieldCheck] = []

    def add(name: str, unit: str, yaml_value: float, dev: tuple[float | None, str], tol: float) -> None:
        out.append(FieldCheck(prefix + name, unit, float(yaml_value), dev[0], tol, dev[1]))

    add("sm_count", "", spec.sm_count, r.first(("prop_multi_processor_count", 1)), TOL_EXACT)
    add("max_threads_per_sm", "", spec.max_threads_per_sm, r.first(("prop_max_threads_per_multi_processor", 1)),
        TOL_EXACT)
    clock = r.first(("nvml_max_sm_clock_mhz", 1e6))
    if clock[0] is None and _smi_number(smi, ["Max Clocks", "SM"]) is not None:
        clock = (_smi_number(smi, ["Max Clocks", "SM"]) * 1e6, "nvidia_smi_q Max Clocks/SM")  # type: ignore[operator]
    if clock[0] is None:
        clock = r.first(("prop_clock_rate", 1e3))
    add("clock", "Hz", spec.clock, clock, TOL_CLOCK)
    mem = spec.memory
    add("memory.l2_size", "B", mem.l2_size, r.first(("prop_L2_cache_size", 1)), TOL_CAPACITY)
    add("memory.hbm_size", "B", mem.hbm_size, r.first(("prop_total_memory", 1)), TOL_DEVICE_MEMORY)
    bus, bus_key = r.first(("nvml_mem_bus_width", 1), ("prop_memory_bus_width", 1))
    mclk, mclk_key = r.first(("nvml_max_mem_clock_mhz", 1e6), ("prop_memory_clock_rate", 1e3))
    bw = (bus * mclk * 2 / 8, f"{bus_key} x {mclk_key} x 2 / 8") if bus and mclk else (None, "memory bus width x clock")
    add("memory.hbm_bandwidth", "B/s", mem.hbm_bandwidth, bw, TOL_BANDWIDTH)
    power = r.first(("nvml_power_limit_mw", 1e-3))
    if power[0] is None and _smi_number(smi, ["GPU Power Readings", "Current Power Limit"]) is not None:
        power = (_smi_number(smi, ["GPU Power Readings", "Current Power Limit"]),
                 "nvidia_smi_q Current Power Limit")
    add("tdp", "W", spec.tdp, power, TOL_POWER)
    add("memory.smem_per_sm", "B", mem.smem_per_sm, r.first(("prop_shared_memory_per_multiprocessor", 1)),
        TOL_CAPACITY)
    regs = r.first(("prop_regs_per_multiprocessor", 4))
    add("memory.registers_per_sm", "B", mem.registers_per_sm, (regs[0], regs[1] + " x 4 B" if regs[0] else regs[1]),
        TOL_EXACT)
    return out


def _cpu_checks(spec: Any, r: _Reader, prefix: str = "") -> tuple[list[FieldCheck], list[str]]:
    """Fields of a ``kind: cpu`` spec against the device.json's ``lscpu`` and ``free`` output."""
    text = r.text("lscpu")
    f = _lscpu_fields(text)
    out: list[FieldCheck] = []
    notes: list[str] = []

    def add(name: str, unit: str, yaml_value: float, value: float | None, source: str, tol: float) -> None:
        out.append(FieldCheck(prefix + name, unit, float(yaml_value), value, tol, source))

    per_socket, sockets = _lscpu_number(f, "Core(s) per socket"), _lscpu_number(f, "Socket(s)")
    add("cores", "", spec.cores, per_socket * sockets if per_socket and sockets else None,
        "lscpu Core(s) per socket x Socket(s)", TOL_EXACT)
    add("threads_per_core", "", spec.threads_per_core, _lscpu_number(f, "Thread(s) per core"),
        "lscpu Thread(s) per core", TOL_EXACT)
    for i, cache in enumerate(spec.caches):
        key = _LSCPU_CACHE_KEYS.get(cache.level.lower())
        parsed = _lscpu_cache(f.get(key, "")) if key else None
        src = f"lscpu {key} / instances" if key else f"no lscpu line for level {cache.level!r}"
        add(f"caches[{i}].size ({cache.level})", "B", cache.size, parsed[0] if parsed else None, src, TOL_CAPACITY)
    base, base_src = None, "lscpu Model name '@ x GHz' / BogoMIPS"
    m = re.search(r"@\s*([0-9.]+)\s*GHz", f.get("Model name", ""))
    if m:
        base, base_src = float(m.group(1)) * 1e9, "lscpu Model name '@ x GHz'"
    elif f.get("Architecture", "") in ("x86_64", "i686", "i386") and (bogo := _lscpu_number(f, "BogoMIPS")):
        base, base_src = bogo * 1e6 / 2, "lscpu BogoMIPS / 2 (TSC clock)"
    add("base_clock", "Hz", spec.base_clock, base, base_src, TOL_CLOCK)
    mx = _lscpu_number(f, "CPU max MHz")
    add("turbo_clock", "Hz", spec.turbo_clock, mx * 1e6 if mx else None, "lscpu CPU max MHz", TOL_CLOCK)
    total = None
    mm = re.search(r"^\s*Mem:\s+([0-9]+)", r.text("free"), re.MULTILINE)
    if mm and int(mm.group(1)) > 0:
        total = float(mm.group(1))
    add("dram_size", "B", spec.dram_size, total, "free -b Mem total", TOL_HOST_MEMORY)
    if not text:
        notes.append("device.json has no lscpu output: CPU fields not reported")
    return out, notes


def _pcie_generation(text: str) -> int | None:
    m = re.search(r"pcie\s*(?:gen\s*)?([0-9]+)", text, re.IGNORECASE)
    return int(m.group(1)) if m else None


def _link_checks(link: Any, r: _Reader, prefix: str) -> tuple[list[FieldCheck], list[str]]:
    """A PCIe ``kind: link`` spec against the link the GPU reports (current generation and width)."""
    notes: list[str] = []
    gen_yaml = _pcie_generation(link.generation)
    if gen_yaml is None:
        return [], [f"{prefix.rstrip('.')}: host link {link.generation!r} is not PCIe; not compared"]
    smi = r.text("nvidia_smi_q")
    gen = r.first(("nvml_pcie_gen_cur", 1))
    if gen[0] is None and _smi_number(smi, ["PCIe Generation", "Current"]) is not None:
        gen = (_smi_number(smi, ["PCIe Generation", "Current"]), "nvidia_smi_q PCIe Generation/Current")
    width = r.first(("nvml_pcie_width_cur", 1))
    if width[0] is None and _smi_number(smi, ["Link Width", "Current"]) is not None:
        width = (_smi_number(smi, ["Link Width", "Current"]), "nvidia_smi_q Link Width/Current")
    out = [FieldCheck(prefix + "generation", "", gen_yaml, gen[0], TOL_EXACT, gen[1]),
           FieldCheck(prefix + "lanes", "", link.lanes * link.links, width[0], TOL_EXACT, width[1])]
    bw = None
    if gen[0] is not None and width[0] is not None and int(gen[0]) in PCIE_GENERATIONS:
        gts, code = PCIE_GENERATIONS[int(gen[0])]
        bw = gts * 1e9 * code * width[0] / 8
    out.append(FieldCheck(prefix + "per_direction_bandwidth", "B/s", link.per_direction_bandwidth * link.links, bw,
                          TOL_BANDWIDTH, "PCIe spec rate of the reported generation x width"))
    gmax = r.num("nvml_pcie_gen_max")
    if gen[0] is not None and gmax is not None and gmax > gen[0]:
        notes.append(f"the GPU runs its PCIe link at gen {gen[0]:g} of its gen {gmax:g} maximum (idle link power "
                     "saving or an older host); re-measure under load before changing the YAML")
    return out, notes


def _load_ref(ref: str, file: str, field_name: str, kinds: tuple[str, ...]) -> Any:
    from accel.arch.loader import load_arch

    try:
        spec = load_arch(ref)
    except ConfigError as exc:
        raise ConfigError(file, field_name, f"cannot load referenced arch {ref!r}: {exc}") from None
    if spec.kind not in kinds:
        raise ConfigError(file, field_name, f"arch {ref!r} has kind {spec.kind!r}; expected {' or '.join(kinds)}")
    return spec


def check_device(arch: str, spec: Any, info: dict[str, Any], source: str) -> DeviceCheckReport:
    """Compare arch ``spec`` (loaded from ``arch``) with device.json content ``info`` read from ``source``.

    Raises :class:`ConfigError` when the arch kind has no device.json counterpart (only ``gpu``,
    ``cpu`` and ``system`` do) or the device.json is of another kind (a CPU-only run for a GPU arch).
    """
    kind = device_kind(info, source)
    r = _Reader(info, source)
    name = info.get("name") or info.get("prop_name") or "?"
    rep = DeviceCheckReport(arch, str(spec.origin or arch), spec.kind, source, kind, str(name))
    if spec.kind == "gpu":
        if kind != "gpu":
            raise ConfigError(source, "device_type", f"a CPU-only run ({name}) cannot check GPU arch {arch!r}; "
                                                     "give the device.json of a CUDA run")
        rep.checks = _gpu_checks(spec, r)
    elif spec.kind == "cpu":
        if not r.text("lscpu"):
            raise ConfigError(source, "lscpu", f"no lscpu output to check CPU arch {arch!r} against")
        rep.checks, rep.notes = _cpu_checks(spec, r)
        if kind == "gpu":
            rep.notes.append("a CUDA run: compared with its host CPU (lscpu / free)")
    elif spec.kind == "system":
        file = str(spec.origin or arch)
        group = spec.devices[0]
        dev = _load_ref(group.arch, file, "devices[0].arch", ("gpu", "cpu"))
        if dev.kind == "gpu" and kind != "gpu":
            raise ConfigError(source, "device_type", f"a CPU-only run ({name}) cannot check system {arch!r} of "
                                                     f"GPU {group.arch!r}; give the device.json of a CUDA run")
        dev_name = Path(group.arch).stem
        if dev.kind == "gpu":
            rep.checks += _gpu_checks(dev, r, prefix=f"{dev_name}.")
            attached = _smi_number(r.text("nvidia_smi_q"), ["Attached GPUs"])
            rep.checks.append(FieldCheck("devices.count", "", float(spec.device_count), attached, TOL_EXACT,
                                         "nvidia_smi_q Attached GPUs"))
        else:
            checks, notes = _cpu_checks(dev, r, prefix=f"{dev_name}.")
            rep.checks += checks
            rep.notes += notes
        if len(spec.devices) > 1:
            rep.notes.append(f"device groups after devices[0] ({', '.join(g.arch for g in spec.devices[1:])}) not "
                             "compared: device.json describes GPU 0 only")
        if spec.host:
            host = _load_ref(spec.host, file, "host", ("cpu",))
            checks, notes = _cpu_checks(host, r, prefix=f"{Path(spec.host).stem}.")
            rep.checks += checks
            rep.notes += notes
        if dev.kind == "gpu":
            link = _load_ref(spec.host_link, file, "host_link", ("link",))
            checks, notes = _link_checks(link, r, prefix=f"{Path(spec.host_link).stem}.")
            rep.checks += checks
            rep.notes += notes
    else:
        raise ConfigError(str(spec.origin or arch), "kind",
                          f"a {spec.kind!r} arch has no device.json counterpart; `accel archs check` takes a gpu, cpu "
                          "or system arch")
    return rep


# ---------------------------------------------------------------------------------------- printing
def format_value(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` for the table: sizes below 1 GB in binary prefixes (``50 MiB``), memory
    capacities in decimal GB (``80 GB`` = 80e9 B, as datasheets quote them), rates/clocks/power with SI
    prefixes (``3.35 TB/s``), counts as plain numbers; ``-`` for ``None``."""
    if value is None:
        return "-"
    if unit == "":
        return f"{value:g}"
    if unit == "B":
        if abs(value) >= 1e9:  # memory capacities, as datasheets quote them (80 GB = 80e9 B)
            return f"{value / 1e9:.4g} GB"
        for scale, p in ((2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.4g} {p}"
        return f"{value:g} B"
    from accel.units import format_si

    return format_si(value, unit, digits=4)


def format_report(rep: DeviceCheckReport) -> str:
    """The report as a fixed-width table: field, YAML value, device value, relative difference
    (device vs YAML), tolerance, status and the device.json key compared; then a summary line."""
    head = ("field", "yaml", "device", "diff", "tol", "status", "device source")
    rows = []
    for c in rep.checks:
        d = c.rel_diff
        diff = "-" if d is None else ("inf" if math.isinf(d) else "0.0%" if abs(d) < 5e-4 else f"{d * 100:+.1f}%")
        rows.append((c.field, format_value(c.yaml_value, c.unit), format_value(c.device_value, c.unit), diff,
                     f"{c.tolerance * 100:g}%", c.status, c.device_source))
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head) - 1)]
    run = "CUDA" if rep.device_kind == "gpu" else "CPU-only"
    lines = [f"# arch {rep.arch} (kind {rep.arch_kind}): {rep.arch_origin}",
             f"# device {rep.device_file}: {rep.device_name} ({run} run)",
             "# diff = (device - yaml) / yaml; MISMATCH when |diff| > tol; GB = 1e9 B, KiB/MiB binary"]
    for row in [head, *rows]:
        lines.append("  ".join(f"{str(v):<{w}}" for v, w in zip(row[:-1], widths)) + "  " + str(row[-1]))
    for n in rep.notes:
        lines.append(f"# note: {n}")
    n_cmp, bad = len(rep.compared), rep.mismatches
    missing = len(rep.checks) - n_cmp
    tail = f", {missing} not reported" if missing else ""
    if bad:
        lines.append(f"# {len(bad)} of {n_cmp} compared fields MISMATCH{tail}: {', '.join(c.field for c in bad)}")
    elif n_cmp:
        lines.append(f"# all {n_cmp} compared fields agree{tail}")
    else:
        lines.append(f"# no field could be compared: the device.json reports none of them{tail}")
    return "\n".join(lines)

