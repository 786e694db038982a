"""One rule per idea: simulate, the sweep's evaluators and validate read static power and host issue time the
same way, even on a YAML where the fields that could disagree do (issue 12 item 1)."""

import pytest

from accel.arch import load_arch
from accel.devices import cost_model_for
from accel.dse.evaluate import PreparedWorkload, _run_analytic, _run_sim, dedupe_ops
from accel.sim import simulate
from accel.validate.predictor import ModelPredictor

from test_sim_toydev import chain_graph


def _h100_with(idle: float, static: float):
    spec = load_arch("h100")
    return spec.model_copy(update={"idle_power": idle, "energy": spec.energy.model_copy(update={"static_power": static})})


def test_static_power_is_one_rule_everywhere():
    spec = _h100_with(idle=100.0, static=150.0)  # they differ: energy.static_power wins, everywhere
    assert cost_model_for(spec).static_power_w == 150.0
    g = chain_graph(4, batch=64, width=1024)
    sim = simulate(g, spec)
    assert sim.energy_static_j == pytest.approx(150.0 * sim.latency_s)
    w = PreparedWorkload("chain", 64, dedupe_ops(g), g, len(g))
    ana = _run_analytic(spec, w)
    assert ana["static_energy_j"] == pytest.approx(150.0 * ana["latency_s"])
    assert _run_sim(spec, w, {})["energy_j"] == pytest.approx(sim.energy_j)
    assert ModelPredictor(spec).idle_power() == 150.0
    only_idle = _h100_with(idle=100.0, static=0.0)  # no static_power: idle_power
    assert cost_model_for(only_idle).static_power_w == 100.0 == ModelPredictor(only_idle).idle_power()
    assert simulate(g, only_idle).energy_static_j == pytest.approx(100.0 * simulate(g, only_idle).latency_s)


def test_memory_fit_is_checked_in_the_library():
    """API callers are told when the estimate does not fit (warn by default, error on request), not only the CLI."""
    import warnings

    from accel.errors import ConfigError
    from accel.sim import MemoryFitWarning

    spec = load_arch("h100")
    small = spec.model_copy(update={"memory": spec.memory.model_copy(update={"hbm_size": 1e6})})  # 1 MB of HBM
    g = chain_graph(2, batch=64, width=1024)
    with pytest.warns(MemoryFitWarning, match="does not fit the 0.001 GB"):
        r = simulate(g, small)
    assert r.run.memory_fits is False
    with pytest.raises(ConfigError, match="memory: estimated memory .* does not fit"):
        simulate(g, small, memory_check="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert simulate(g, small, memory_check="off").latency_s == pytest.approx(r.latency_s)
        assert simulate(g, spec).run.memory_fits is True  # fits: no warning
    with pytest.raises(ConfigError, match="memory_check: 'maybe'; allowed: warn, error, off"):
        simulate(g, spec, memory_check="maybe")
