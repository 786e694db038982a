"""Predictors: what ``accel validate`` asks a model of the hardware.

:class:`Predictor` is the interface (every method may raise :class:`Unsupported`, and the
row is then reported as skipped with the reason). :class:`ModelPredictor` answers with
the shipped pieces: the device cost models (``accel.devices``), the workloads extractor
(``workloads.extract_model``), the simulator (``accel.sim.simulate``) and the link model
(``accel.interconnect.transfer_time``). Tests use small fake predictors.

Units: times in seconds, energies in joules, powers in watts.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from functools import lru_cache
from typing import Any

from accel.arch.cpu import CpuSpec
from accel.errors import AccelError
from accel.graph import LayerGraph, OpNode
from accel.measure.llm_train import OTHER_CLASSES


class Unsupported(AccelError):
    """The predictor cannot answer for this row (e.g. a model the extractor doesn't support)."""


#: measurement model name -> workloads extractor name, where they differ: the measurements ran the
#: headless HF models (GPT2Model, BertModel; workloads.names.MEASURED_MODELS), the extractor's
#: ``gpt2``/``bert_base`` carry their LM heads
MODEL_ALIASES: dict[str, str] = {"lstm_lm": "lstm", "bert_base": "bert_headless", "gpt2": "gpt2_headless"}
#: sequence length the measurements used (data/measurements/README.md), by measured model name
MODEL_SEQ_LEN: dict[str, int] = {"gpt2": 512, "bert_base": 512, "lstm_lm": 128, "lstm": 128}
#: op kinds whose compute dtype TF32 / autocast changes (matmul and cuDNN convolution paths)
TENSOR_OP_KINDS = ("matmul", "conv", "conv_transpose", "attention", "rnn")
#: layers.csv protocol (data/measurements/measure_gpu.py ``per_layer``): after warm-up and a synchronize, 12
#: timed forward passes back to back with no synchronisation between them; each module's time is the median
LAYER_TIMED_ITERS = 12
#: op kinds of an LLM training block counted as GEMM time (``llm_block_gemm``); ``attention`` ops are the
#: attention core (``llm_block_attention``), every other kind is ``llm_block_other``
LLM_GEMM_KINDS: tuple[str, ...] = ("matmul",)


#: op kind of an ``other`` op -> its llm_train.csv sub-class (:data:`accel.measure.llm_train.OTHER_CLASSES`, the
#: kernels PyTorch runs for it: a norm's kernels, copies and casts, reductions, elementwise kernels); any other
#: kind (softmax, loss, embedding, ...) is ``misc``
LLM_OTHER_KINDS: dict[str, str] = {"norm": "norm", "data_movement": "copy", "reduce": "reduce",
                                   "elementwise": "elementwise", "activation": "elementwise"}


#: llm_train.csv column of each part of :meth:`Predictor.llm_block_times` but ``total`` (``ms``)
LLM_PART_COLUMNS: dict[str, str] = {"forward": "fwd_ms", "gemm": "gemm_ms", "attention": "attention_ms",
                                    "other": "other_ms", **{c: f"{c}_ms" for c in OTHER_CLASSES}}


def llm_kernel_group(kind: str) -> str:
    """``gemm``, ``attention`` or ``other``: the llm_train.csv kernel group of an op of ``kind``."""
    if kind in LLM_GEMM_KINDS:
        return "gemm"
    return "attention" if kind == "attention" else "other"


def llm_other_class(kind: str) -> str:
    """The llm_train.csv ``other`` sub-class of an op of ``kind`` (:data:`LLM_OTHER_KINDS`; else ``misc``)."""
    return LLM_OTHER_KINDS.get(kind, "misc")


class Predictor:
    """Interface of a hardware model for validation. Subclasses override what they support."""

    #: one line saying what answers (shown in reports)
    description: str = "predictor"

    def kernel_time(self, op: OpNode) -> float:
        """Device time of one kernel (GEMM / conv / copy row), excluding launch overhead (s)."""
        raise Unsupported("kernel timing not supported")

    def kernel_energy(self, op: OpNode) -> float:
        """Board energy of one execution of ``op`` run back to back: dynamic + static power x time (J)."""
        raise Unsupported("kernel energy not supported")

    def layer_times(self, model: str, batch: int, dtype: str) -> dict[str, float]:
        """Module path -> predicted time of that module's ops in one inference (s), launch overhead included."""
        raise Unsupported("per-layer prediction not supported")

    def model_latency(self, model: str, mode: str, dtype: str, batch: int) -> float:
        """Latency of one inference (``mode="infer"``) or training step (``"train_sgd"``) (s)."""
        raise Unsupported("whole-model prediction not supported")

    def model_energy(self, model: str, dtype: str, batch: int) -> float:
        """Board energy of one inference of ``batch`` items (J), static power included."""
        raise Unsupported("model energy not supported")

    def transfer_time(self, direction: str, nbytes: int, pinned: bool) -> float:
        """Host<->device copy time (s); ``direction`` is ``"h2d"`` or ``"d2h"``."""
        raise Unsupported("host<->device transfers not supported")

    def cpu_kernel_time(self, op: OpNode, threads: int) -> float:
        """Host-CPU time of ``op`` with ``threads`` threads (s)."""
        raise Unsupported("CPU kernels not supported")

    def cpu_model_latency(self, model: str, batch: int, dtype: str, threads: int) -> float:
        """Host-CPU inference latency of a model (s)."""
        raise Unsupported("CPU model latency not supported")

    def idle_power(self) -> float:
        """Board power with nothing running (W)."""
        raise Unsupported("idle power not supported")

    def dispatch_time(self, op_class: str) -> float:
        """Host time of one bare eager call of a tiny op of ``op_class`` (s), as dispatch.csv measures it."""
        raise Unsupported("eager dispatch not supported")

    def llm_block_times(self, spec: str, seq_len: int, microbatch: int, dtype: str,
                        attention: str = "flash2") -> dict[str, float]:
        """One LLM decoder block's training forward + backward on one GPU (tensor-parallel 1), as llm_train.csv
        measures it (s): ``total`` (the block time the cluster-training model uses), ``forward`` (its forward pass
        alone) and its device time by kernel group, ``gemm``, ``attention`` and ``other``, and of ``other`` by
        sub-class (:data:`accel.measure.llm_train.OTHER_CLASSES`). ``spec``: a :func:`workloads.llm_configs.llm_config` name or
        spec string; ``microbatch`` sequences of ``seq_len`` tokens in ``dtype``; ``attention``: the training
        block's attention kernel (:data:`accel.graph.ATTENTION_KERNELS`)."""
        raise Unsupported("LLM training blocks not supported")


def _relabel(graph: LayerGraph, dtype: str) -> LayerGraph:
    """Copy of ``graph`` whose tensor-core ops (matmul/conv/attention/rnn) compute in ``dtype`` (e.g. tf32)."""
    g = LayerGraph(graph.name, dict(graph.meta, compute_dtype=dtype))
    for op in graph:
        if op.kind in TENSOR_OP_KINDS:
            op = dataclasses.replace(op, dtype=dtype)
        deps = list(graph.graph.predecessors(op.name))
        g.add_op(op, deps, [graph.graph.edges[d, op.name].get("bytes", 0) for d in deps])
    return g


class ModelPredictor(Predictor):
    """Predictions from the shipped cost models, extractor, simulator and link model.

    Args:
        kernel_spec: spec of the device that ran gemm/conv/layers/e2e (a GPU, or a CPU for a
            directory written by ``accel measure --device cpu``).
        cpu_spec: spec of the host CPU that ran cpu.csv (None: CPU rows are skipped).
        link_spec: host<->device link spec for micro.csv h2d/d2h rows (None: skipped).
    """

    def __init__(self, kernel_spec: Any, cpu_spec: Any | None = None, link_spec: Any | None = None,
                 cpu_missing: str = "", staging_host: Any | None = None, dispatch_host: Any | None = None):
        from accel.devices import cost_model_for

        #: why there is no cpu_spec (shown as the skip reason of CPU rows)
        self.cpu_missing = cpu_missing
        self.kernel_spec = kernel_spec
        self.cpu_spec = cpu_spec
        self.link_spec = link_spec
        #: host CPU spec whose ``host_runtime.staging_copy`` costs pageable copies (default: ``cpu_spec``)
        self.staging_host = staging_host if staging_host is not None else cpu_spec
        #: host CPU spec whose ``host_runtime.dispatch`` issues the device's eager ops (None: the simulator's
        #: default host, :data:`accel.sim.system.DEFAULT_HOST`)
        self.dispatch_host = dispatch_host if dispatch_host is not None else (
            cpu_spec if isinstance(cpu_spec, CpuSpec) and kernel_spec.kind != "cpu" else None)
        self.cm = cost_model_for(kernel_spec)
        self._cpu_models: dict[int, Any] = {}
        import accel.sim as _sim

        self._sim = _sim
        parts = [f"device {kernel_spec.name} ({kernel_spec.kind})"]
        if cpu_spec is not None:
            parts.append(f"host {cpu_spec.name}")
        if link_spec is not None:
            parts.append(f"link {link_spec.name}")
        parts.append("whole models via accel.sim.simulate")
        self.description = "; ".join(parts)
        self._graph = lru_cache(maxsize=8)(self._extract)
        self._llm_block = lru_cache(maxsize=16)(self._price_llm_block)

    # kernels -------------------------------------------------------------------------------
    def kernel_time(self, op: OpNode) -> float:
        return float(self.cm.cost(op).time_s)

    def _static_w(self, cm: Any, spec: Any) -> float:
        return float(cm.static_power_w)  # the one rule (accel.devices.base.CostModel.static_power_w)

    def kernel_energy(self, op: OpNode) -> float:
        c = self.cm.cost(op)
        return float(c.energy_j) + self._static_w(self.cm, self.kernel_spec) * float(c.time_s)

    def idle_power(self) -> float:
        w = self._static_w(self.cm, self.kernel_spec)
        if w <= 0:
            raise Unsupported(f"arch {self.kernel_spec.name} has no idle_power / energy.static_power")
        return w

    # models --------------------------------------------------------------------------------
    def _extract(self, model: str, mode: str, dtype: str, batch: int) -> LayerGraph:
        try:
            import workloads
        except ImportError as exc:
            raise Unsupported(f"workloads extractor not importable: {exc}") from None
        try:
            known = set(workloads.list_models())
        except Exception as exc:  # pragma: no cover - depends on the other package's state
            raise Unsupported(f"workloads.list_models() failed: {exc}") from None
        alias = MODEL_ALIASES.get(model)
        name = alias if alias in known else model if model in known else MODEL_ALIASES.get(model, model)
        if name not in known:
            raise Unsupported(f"model {model!r} not supported by the extractor (supported: {', '.join(sorted(known))})")
        base_dtype = {"tf32": "fp32", "bf16_amp": "fp32"}.get(dtype, dtype)
        kw: dict[str, Any] = {}
        if dtype == "bf16_amp":  # fp32 model under torch.autocast("cuda", bfloat16): casts included
            kw["amp"] = "bf16"
        if model in MODEL_SEQ_LEN:
            kw["seq_len"] = MODEL_SEQ_LEN[model]
        xmode = "train" if mode.startswith("train") else "infer"
        try:
            g = workloads.extract_model(name, batch=batch, mode=xmode, dtype=base_dtype, **kw)
        except Exception as exc:
            raise Unsupported(f"extraction of {name} ({xmode}, {base_dtype}, batch {batch}) failed: "
                              f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if dtype == "tf32":
            g = _relabel(g, "tf32")
        return g

    def _timeline(self, g: LayerGraph, iterations: int = 1) -> list[list[tuple[str, float, float, float]]]:
        """Per iteration of ``iterations`` back-to-back forward passes: (module, host launch start, device
        start, device end) per forward op, in program order (s), from ``accel.sim.simulate``'s records.

        Iterations are not synchronised: the host issues iteration ``k+1`` as soon as it has issued
        iteration ``k``, so in a device-bound run it runs ahead and later iterations see a busy device,
        not launch gaps.
        """
        out: list[list[tuple[str, float, float, float]]] = [[] for _ in range(iterations)]
        r = self._sim.simulate(g, self.kernel_spec, iterations=iterations, host=self.dispatch_host, memory_check="off")
        for x in r.records:
            if x.stream != "compute" or x.phase != "forward":
                continue
            it = int(x.name.rsplit("@it", 1)[1]) if iterations > 1 and "@it" in x.name else 0
            out[it].append((x.module, x.launch_start if x.launch_start is not None else x.start, x.start, x.end))
        return out

    @staticmethod
    def _module_times(timeline: list[tuple[str, float, float, float]], prev_end: float) -> dict[str, float]:
        """Module path -> summed (post-hook - pre-hook) event time over its calls in one iteration (s)."""
        out: dict[str, float] = defaultdict(float)
        seg_mod: str | None = None
        seg_t0 = seg_end = 0.0
        for mod, launch_start, _start, end in timeline:
            if mod != seg_mod:
                if seg_mod is not None:
                    out[seg_mod] += seg_end - seg_t0
                seg_mod, seg_t0, seg_end = mod, max(prev_end, launch_start), end
            else:
                seg_end = max(seg_end, end)
            prev_end = max(prev_end, end)
        if seg_mod is not None:
            out[seg_mod] += seg_end - seg_t0
        return out

    def layer_times(self, model: str, batch: int, dtype: str) -> dict[str, float]:
        """Per-module time as layers.csv measures it: CUDA events recorded in forward pre/post hooks,
        over ``LAYER_TIMED_ITERS`` back-to-back unsynchronised iterations from an idle device, the
        per-module median.

        For each contiguous run of a module's ops (one call), the pre-hook event completes on the
        device when the host reaches it (just before launching the first op) or when the previous
        op ends, whichever is later; the post-hook event when the last op ends. Module time =
        sum over its calls of (post - pre). In a device-bound run the host gets ahead of the device
        from one iteration to the next, so after the first iteration(s) modules measure device time
        only (no launch gap before the first ops of a pass). Hook overhead itself is not modelled.
        """
        g = self._graph(model, "infer", dtype, int(batch))
        from accel.sim.simulate import MAX_SIM_TASKS

        n_it = max(1, min(LAYER_TIMED_ITERS, MAX_SIM_TASKS // max(len(g), 1)))  # the simulator's task budget
        timelines = self._timeline(g, n_it)
        per_it: list[dict[str, float]] = []
        prev_end = 0.0
        for tl in timelines:
            per_it.append(self._module_times(tl, prev_end))
            if tl:
                prev_end = max(prev_end, max(e for *_, e in tl))
        out: dict[str, float] = {}
        for mod in per_it[-1]:
            ts = sorted(d.get(mod, 0.0) for d in per_it)
            out[mod] = ts[len(ts) // 2]  # as data/measurements/measure_gpu.py per_layer: ts[len // 2]
        return out

    def _simulate(self, g: LayerGraph, spec: Any, cm: Any) -> tuple[float, float]:
        """(latency s, energy J) of one run of ``g`` on ``spec`` (``accel.sim.simulate``; GPUs issued by
        :attr:`dispatch_host`)."""
        r = self._sim.simulate(g, spec, host=self.dispatch_host, memory_check="off")  # measured runs did fit
        return float(r.latency_s), float(r.energy_j)

    def model_latency(self, model: str, mode: str, dtype: str, batch: int) -> float:
        g = self._graph(model, mode, dtype, int(batch))
        return self._simulate(g, self.kernel_spec, self.cm)[0]

    def model_energy(self, model: str, dtype: str, batch: int) -> float:
        g = self._graph(model, "infer", dtype, int(batch))
        return self._simulate(g, self.kernel_spec, self.cm)[1]

    # links ---------------------------------------------------------------------------------
    def transfer_time(self, direction: str, nbytes: int, pinned: bool) -> float:
        if self.link_spec is None:
            raise Unsupported("no link arch given")
        try:
            from accel.interconnect import transfer_time
        except ImportError as exc:
            raise Unsupported(f"accel.interconnect not importable: {exc}") from None
        if not pinned and self.staging_host is None:
            raise Unsupported("pageable copies need a host CPU arch with host_runtime.staging_copy")
        return float(transfer_time(self.link_spec, int(nbytes), pinned=bool(pinned), direction=direction,
                                   host=None if pinned else self.staging_host))

    def dispatch_time(self, op_class: str) -> float:
        """The host's bare dispatch of ``op_class``: ``classes.get(op_class, kernel_launch)`` of its
        ``host_runtime.dispatch`` (:mod:`accel.sim.host`; no ``framework``: dispatch.csv calls ops bare)."""
        if self.kernel_spec.kind == "cpu":
            raise Unsupported("CPU dispatch rows are a floor of calibration.op_overhead (accel calibrate), not predicted")
        from accel.sim.host import host_dispatch

        d, _ = host_dispatch(self.dispatch_host)
        return float(d.classes.get(op_class, d.kernel_launch))

    # LLM training blocks ---------------------------------------------------------------------
    def llm_block_times(self, spec: str, seq_len: int, microbatch: int, dtype: str,
                        attention: str = "flash2") -> dict[str, float]:
        """``total``: the block's ``forward_s + backward_s`` from :func:`accel.train.costs.price_piece` exactly as
        :func:`accel.train.simulate.price_pieces` calls it at tensor-parallel 1 (no recomputation, no sequence
        parallelism; activation = microbatch x seq_len x hidden x element bytes), so it is the per-block time of
        cluster training (``accel simulate --mode train``); ``forward``: its ``forward_s``. ``gemm`` / ``attention`` /
        ``other``: the device cost model's time of the block's ops summed by kind (:func:`llm_kernel_group`), and
        ``norm`` / ``elementwise`` / ``reduce`` / ``copy`` / ``misc`` the ``other`` ops' (:func:`llm_other_class`).
        price_piece takes
        ``max(device, host issue)`` per pass, so the parts add up to ``total`` unless the host's eager issue of the
        pass is slower than its kernels.
        Unsupported on a CPU device arch (the cluster model prices GPUs)."""
        if self.kernel_spec.kind == "cpu":
            raise Unsupported(f"{self.kernel_spec.name} is a CPU: LLM training blocks are priced for GPUs "
                              "(the cluster-training model)")
        return dict(self._llm_block(str(spec), int(seq_len), int(microbatch), str(dtype), str(attention)))

    def _price_llm_block(self, spec: str, seq_len: int, microbatch: int, dtype: str,
                         attention: str) -> tuple[tuple[str, float], ...]:
        try:
            from workloads.llm_configs import llm_config
            from workloads.llm_train import TRAIN_DTYPES, training_graphs
        except ImportError as exc:
            raise Unsupported(f"workloads not importable: {exc}") from None
        if dtype not in TRAIN_DTYPES:
            raise Unsupported(f"training dtype {dtype!r} not supported; allowed: {', '.join(TRAIN_DTYPES)}")
        try:
            cfg = llm_config(spec)
            graph = training_graphs(cfg, 1, microbatch, seq_len, dtype, attention, 0.0)["block"]
        except ValueError as exc:
            raise Unsupported(f"{spec}: {' '.join(str(exc).split())}") from None
        from accel.graph import dtype_bytes
        from accel.train.costs import price_piece

        act = microbatch * seq_len * cfg.hidden * dtype_bytes(dtype)
        piece = price_piece(graph, self.cm, act, float(graph.meta.get("params", 0)), "none", 1, False)
        parts = {"gemm": 0.0, "attention": 0.0, "other": 0.0, **{c: 0.0 for c in OTHER_CLASSES}}
        for op in graph:
            if op.phase in ("forward", "backward"):
                t = float(self.cm.cost(op).time_s)
                group = llm_kernel_group(op.kind)
                parts[group] += t
                if group == "other":
                    parts[llm_other_class(op.kind)] += t
        return (("total", float(piece.forward_s + piece.backward_s)), ("forward", float(piece.forward_s)),
                *parts.items())

    # host CPU ------------------------------------------------------------------------------
    def _cpu_model(self, threads: int) -> Any:
        if self.cpu_spec is None:
            raise Unsupported(self.cpu_missing or "no CPU arch given")
        if threads not in self._cpu_models:
            from accel.devices import cost_model_for

            spec = self.cpu_spec
            if not isinstance(spec, CpuSpec):
                raise Unsupported(f"{spec.name} is kind {spec.kind!r}, not a CPU arch: cannot model {threads} threads")
            spec = spec.model_copy(update={"threads": int(threads)})
            self._cpu_models[threads] = (spec, cost_model_for(spec))
        return self._cpu_models[threads]

    def cpu_kernel_time(self, op: OpNode, threads: int) -> float:
        _, cm = self._cpu_model(int(threads))
        return float(cm.cost(op).time_s)

    def cpu_model_latency(self, model: str, batch: int, dtype: str, threads: int) -> float:
        spec, cm = self._cpu_model(int(threads))
        g = self._graph(model, "infer", dtype, int(batch))
        return self._simulate(g, spec, cm)[0]


class ReferencePredictor(Predictor):
    """"Predicts" with another measurement directory of the same format (run-to-run or machine-to-machine check).

    ``accel validate NEW --against REF`` compares two real runs row by row: the error it reports is
    the measurement noise floor (or the difference between two machines) that no model can beat.
    Rows absent from the reference are skipped.
    """

    def __init__(self, ref: Any):
        from accel.validate.readers import MeasurementDir, read_measurements

        self.ref: MeasurementDir = ref if isinstance(ref, MeasurementDir) else read_measurements(ref)
        self.description = f"reference measurements {self.ref.path} ({self.ref.device_name or 'unknown device'})"
        t = self.ref.tables

        def _b(v: Any) -> int:
            try:
                f = float(v)
            except (TypeError, ValueError):
                return 1
            return 1 if f != f else int(f)

        self._gemm = {(r.dtype, int(r.M), int(r.N), int(r.K), _b(getattr(r, "batch", 1))): r.ms / 1e3
                      for r in t["gemm.csv"].itertuples()} if "gemm.csv" in t else {}
        self._conv = {(r.dtype, int(r.N), int(r.Cin), int(r.Cout), int(r.H), int(r.W), int(r.R), int(r.S),
                       int(r.stride), int(r.pad), int(r.groups)): r.ms / 1e3
                      for r in t["conv.csv"].itertuples()} if "conv.csv" in t else {}
        self._layers: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
        if "layers.csv" in t:
            for r in t["layers.csv"].itertuples():
                self._layers[(r.model, r.dtype, int(r.batch))][r.layer] = r.ms / 1e3
        self._e2e = {(r.model, r.mode, r.dtype, int(r.batch)): r.ms / 1e3
                     for r in t["e2e.csv"].itertuples()} if "e2e.csv" in t else {}
        self._micro = {(r.kind, int(r.bytes), bool(r.pinned) if r.pinned is not None else None): r.ms / 1e3
                       for r in t["micro.csv"].itertuples()} if "micro.csv" in t else {}
        self._cpu: dict[tuple, float] = {}
        if "cpu.csv" in t:
            for r in t["cpu.csv"].itertuples():
                self._cpu[(r.kind, int(r.threads), _b(getattr(r, "M", 0)), _b(getattr(r, "bytes", 0)))] = r.ms / 1e3
        self._llm: dict[tuple[str, int, int, str], dict[str, float]] = {}
        if "llm_train.csv" in t:
            for r in t["llm_train.csv"].to_dict("records"):
                parts = {"total": float(r["ms"]) / 1e3}
                for part, column in LLM_PART_COLUMNS.items():
                    v = r.get(column)
                    if isinstance(v, (int, float)) and v == v and v > 0:
                        parts[part] = float(v) / 1e3
                self._llm[(str(r["spec"]), int(r["seq_len"]), int(r["microbatch"]), str(r["dtype"]))] = parts
        self._energy = {}
        if "energy.csv" in t:
            for r in t["energy.csv"].itertuples():
                self._energy[r.workload] = (r.joules, int(r.iters), float(getattr(r, "seconds", 0) or 0))

    @staticmethod
    def _get(table: dict, key: Any, what: str) -> Any:
        if key not in table:
            raise Unsupported(f"no {what} row in the reference")
        return table[key]

    def kernel_time(self, op: OpNode) -> float:
        a = op.attrs
        if op.kind == "matmul":
            return self._get(self._gemm, (op.dtype, a["M"], a["N"], a["K"], a["batch"]), "gemm")
        if op.kind == "conv":
            return self._get(self._conv, (op.dtype, a["N"], a["Cin"], a["Cout"], a["H"], a["W"], a["R"], a["S"],
                                          a["stride"], a["pad"], a["groups"]), "conv")
        kind = {"data_movement": "d2d_copy", "reduce": "d_read_sum"}.get(op.kind)
        return self._get(self._micro, (kind, op.input_bytes, None), f"{kind} micro")

    def cpu_kernel_time(self, op: OpNode, threads: int) -> float:
        if op.kind == "matmul":
            return self._get(self._cpu, (f"cpu_gemm_{op.dtype}", threads, op.attrs["M"], 1), "cpu gemm")
        return self._get(self._cpu, ("cpu_copy", threads, 1, op.input_bytes), "cpu copy")

    def cpu_model_latency(self, model: str, batch: int, dtype: str, threads: int) -> float:
        return self._get(self._cpu, (f"cpu_{model}_b{batch}_{dtype}", threads, 1, 1), "cpu model")

    def layer_times(self, model: str, batch: int, dtype: str) -> dict[str, float]:
        return self._get(self._layers, (model, dtype, int(batch)), "layers")

    def model_latency(self, model: str, mode: str, dtype: str, batch: int) -> float:
        return self._get(self._e2e, (model, mode, dtype, int(batch)), "e2e")

    def transfer_time(self, direction: str, nbytes: int, pinned: bool) -> float:
        return self._get(self._micro, (direction, int(nbytes), bool(pinned)), "micro")

    def llm_block_times(self, spec: str, seq_len: int, microbatch: int, dtype: str,
                        attention: str = "flash2") -> dict[str, float]:  # noqa: ARG002 (the reference measured it)
        return dict(self._get(self._llm, (str(spec), int(seq_len), int(microbatch), str(dtype)), "llm_train"))

    def _energy_per_iter(self, workload: str) -> float:
        j, iters, _ = self._get(self._energy, workload, "energy")
        if iters <= 0:
            raise Unsupported("reference row has no iterations")
        return j / iters

    def kernel_energy(self, op: OpNode) -> float:
        if op.kind == "matmul":
            return self._energy_per_iter(f"gemm{op.attrs['M']}_{op.dtype}")
        n = op.input_bytes
        return self._energy_per_iter("d2d_copy_1GiB" if n == 2**30 else f"d2d_copy_{n}B")

    def model_energy(self, model: str, dtype: str, batch: int) -> float:
        return self._energy_per_iter(f"{model}_b{batch}_{dtype}")

    def idle_power(self) -> float:
        j, _, secs = self._get(self._energy, "idle", "idle energy")
        if secs <= 0:
            raise Unsupported("reference idle row has no duration")
        return j / secs
