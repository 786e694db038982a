"""Design-space exploration: sweep specs, search (grid/random/NSGA-II/TPE), executors, results, Pareto.

Typical use::

    from accel.dse import load_spec, run_sweep
    res = run_sweep(load_spec("experiments/systolic_size_sweep.yaml"), workers=2)
    for rec in res.front: print(rec["params"], rec["objectives"])
"""

from accel.dse.area import AreaModel, load_area_model
from accel.dse.evaluate import EvalContext, evaluate_point, make_context, prepare_workloads
from accel.dse.pareto import pareto_mask, pareto_records
from accel.dse.search import SweepResult, run_sweep
from accel.dse.space import DesignSpace, Parameter, build_space
from accel.dse.spec import OBJECTIVES, SweepSpec, load_spec, spec_from_dict
from accel.dse.store import ResultsStore, read_results

__all__ = [
    "AreaModel", "load_area_model", "EvalContext", "evaluate_point", "make_context", "prepare_workloads",
    "pareto_mask", "pareto_records", "SweepResult", "run_sweep", "DesignSpace", "Parameter", "build_space",
    "OBJECTIVES", "SweepSpec", "load_spec", "spec_from_dict", "ResultsStore", "read_results",
]
