"""``accel plot training``: the step-time breakdown of real ``accel simulate --mode train`` results, the
predicted-vs-published scatter of the training residual table, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from accel.cli import main
from accel.errors import ConfigError
from accel.plot import png_available, save_figure
from accel.plot.training import (BREAKDOWN_LABELS, check_residual_table, check_training_results, layout_label,
                                 read_training_input, training_breakdown_figure, training_validation_figure)
from accel.train.simulate import BREAKDOWN_KEYS
from test_plot import PNG_SKIP

MODEL = "gpt:layers=8,hidden=512,heads=8,vocab=8192"
RESIDUALS = Path(__file__).parent.parent / "data" / "uncertainty" / "training_published_residuals.json"


@pytest.fixture(scope="module")
def results(_session_graph_cache) -> list[dict]:
    """Two real training results of the small GPT on 8 H100s (tp 2 x pp 2, then tp 1 x pp 2), as their JSON."""
    from accel.sim import resolve_system
    from accel.train import TrainLayout, simulate_training
    from workloads.llm_configs import llm_config
    from workloads.llm_train import training_graphs

    out = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCEL_CACHE_DIR", _session_graph_cache)
        cfg = llm_config(MODEL)
        system = resolve_system("dgx_h100")
        for tp, pp in ((2, 2), (1, 2)):
            lay = TrainLayout(global_batch=16, seq_len=512, tp=tp, pp=pp, dp=8 // (tp * pp), microbatch_size=1)
            graphs = training_graphs(cfg, tp, 1, lay.local_seq_len, "bf16", "flash", 0.0)
            res = simulate_training(graphs, cfg.layers, cfg.hidden, cfg.heads, system, lay, "bf16",
                                    model_name=cfg.name)
            out.append(json.loads(json.dumps(res.to_dict())))  # exactly what `--json` writes
    return out


def _table() -> dict:
    return json.loads(RESIDUALS.read_text())


def test_breakdown_figure_has_one_bar_trace_per_component(results):
    fig = training_breakdown_figure(results)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == [BREAKDOWN_LABELS[k] for k in BREAKDOWN_KEYS]
    for k, t in zip(BREAKDOWN_KEYS, bars):
        assert list(t.x) == [r["breakdown"][k] for r in results]
        assert t.orientation == "h"
    assert fig.layout.barmode == "stack"
    labels = list(bars[0].y)
    assert labels[0].startswith("#1  tp 2 · pp 2 · dp 2 · mb 1") and labels[1].startswith("#2  tp 1 · pp 2 · dp 4")
    notes = [a.text for a in fig.layout.annotations]
    for r in results:
        assert any(f"MFU {100 * r['mfu']:.1f} %" in n and f"{r['tokens_per_s'] / r['devices']:,.0f} tokens/s/GPU" in n
                   for n in notes), notes
    # the 80 % interval is an error bar whose whiskers end at the JSON's low and high
    iv = [t for t in fig.data if t.type == "scatter" and t.error_x and t.error_x.array is not None]
    assert len(iv) == 1
    for r, mid, half in zip(results, iv[0].x, iv[0].error_x.array):
        lo, hi = r["step_time_interval_s"]
        assert mid - half == pytest.approx(lo) and mid + half == pytest.approx(hi)
    assert MODEL in fig.layout.title.text and "8 GPUs" in fig.layout.title.text and "DGX H100" in fig.layout.title.text


def test_single_result_and_layout_labels(results):
    fig = training_breakdown_figure(results[:1])
    assert list(fig.data[0].y) == ["tp 2 · pp 2 · dp 2 · mb 1 · recompute none · ZeRO 0"]
    assert "global batch 16 x 512 tokens" in fig.layout.title.text
    lay = {"tp": 8, "pp": 4, "dp": 2, "cp": 2, "microbatch_size": 1, "sequence_parallel": True, "recompute": "full",
           "zero": 1, "layers_per_virtual_stage": 3, "first_stage_layers": 5, "last_stage_layers": 4}
    assert layout_label(lay) == ("tp 8 · pp 4 · dp 2 · cp 2 · mb 1 · SP · recompute full · ZeRO 1 · 3 layers/virtual "
                                 "stage · first stage 5 layers · last stage 4 layers")
    r = {**results[0], "breakdown": {**results[0]["breakdown"], "compute": math.nan}}
    with pytest.raises(ConfigError, match=r"breakdown\.compute: nan: expected a finite number"):
        check_training_results([r], listed=False)
    no_iv = {k: v for k, v in results[0].items() if k != "step_time_interval_s"}
    fig = training_breakdown_figure([no_iv])
    assert all(t.type == "bar" for t in fig.data)


def test_residual_scatter_matches_the_table():
    table = _table()
    rows = table["rows"]
    fig = training_validation_figure(table)
    sources = list(dict.fromkeys(r["source"] for r in rows))
    points = [t for t in fig.data if t.mode == "markers"]
    assert len(points) == len(sources)
    for s, t in zip(sources, points):
        mine = [r for r in rows if r["source"] == s]
        assert t.name == f"{s} ({len(mine)})"
        assert list(t.x) == [r["published_tokens_per_s"] for r in mine]
        assert list(t.y) == [r["predicted_tokens_per_s"] for r in mine]
        assert f"row {mine[0]['row']} · {mine[0]['model']}" in t.hovertext[0] and "error" in t.hovertext[0]
    for name, b in (("±15 %", 0.15), ("±20 %", 0.20)):
        band = next(t for t in fig.data if t.name == name)
        ratios = sorted({round(y / x, 9) for x, y in zip(band.x, band.y) if x is not None})
        assert ratios == [round(1 - b, 9), round(1 + b, 9)] and band.line.dash in ("dash", "dot")
    diag = next(t for t in fig.data if t.name == "y = x")
    assert list(diag.x) == list(diag.y)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    err = [abs(r["predicted_tokens_per_s"] / r["published_tokens_per_s"] - 1) for r in rows]
    title = fig.layout.title.text
    assert f"median |error| {100 * statistics.median(err):.1f} %" in title
    assert f"{100 * sum(e <= 0.15 for e in err) / len(err):.0f} % within ±15 %" in title


def test_residual_subtitle_is_computed_from_the_rows():
    def row(i, pred, pub):
        return {"row": i, "source": "S" if i < 2 else "T", "model": f"m{i}", "predicted_tokens_per_s": pred,
                "published_tokens_per_s": pub, "r": math.log(pred / pub)}

    table = {"rows": [row(0, 110, 100), row(1, 82, 100), row(2, 130, 100)], "leave_one_source_out_coverage": {}}
    fig = training_validation_figure(table)
    title = fig.layout.title.text
    assert "3 published runs from 2 sources" in title
    assert "median |error| 18.0 %" in title and "33 % within ±15 %" in title and "67 % within ±20 %" in title
    assert len([t for t in fig.data if t.mode == "markers"]) == 2
    assert "coverage" not in title


def test_cli_writes_html_for_each_input(results, tmp_path, capsys):
    one, many = tmp_path / "r.json", tmp_path / "rs.json"
    one.write_text(json.dumps(results[0], indent=1))
    many.write_text(json.dumps(results, indent=1))
    assert read_training_input(one)[0] == "results" and read_training_input(RESIDUALS)[0] == "residuals"
    for src, out in ((one, "one"), (many, "many"), (RESIDUALS, "res")):
        assert main(["plot", "training", str(src), "-o", str(tmp_path / out), "--no-png"]) == 0, capsys.readouterr()
        html = tmp_path / f"{out}.html"
        assert html.stat().st_size > 1000 and "plotly" in html.read_text()[:200000].lower()
    assert main(["plot", "training", str(one), "-o", str(tmp_path / "t"), "--no-png", "--title", "My run"]) == 0
    assert "My run" in (tmp_path / "t.html").read_text()


@pytest.mark.skipif(not png_available(), reason=PNG_SKIP)
def test_png_export(results, tmp_path):
    for name, fig in (("b", training_breakdown_figure(results)), ("v", training_validation_figure(_table()))):
        png = [p for p in save_figure(fig, tmp_path / name) if p.suffix == ".png"][0]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def _bad_cases(r: dict) -> dict[str, tuple[str, str]]:
    """name -> (file text, expected text in the one error line)."""
    table = _table()

    def tab(**row) -> str:
        return json.dumps({**table, "rows": [{**table["rows"][0], **row}] + table["rows"][1:]})

    return {
        "empty list": ("[]", "<root>: not a training result or a training residual table (an empty list)"),
        "dict without breakdown": (json.dumps({"model": "x", "step_time_s": 1.0}),
                                   "<root>: not a training result or a training residual table (an object with keys"),
        "list of non-results": (json.dumps([1, 2]), "<root>: not a training result or a training residual table"),
        "a number": ("3", "<root>: not a training result or a training residual table (a number)"),
        "NaN in breakdown": (json.dumps({**r, "breakdown": {**r["breakdown"], "tp_comm": math.nan}}),
                             "NaN is not valid JSON"),
        "negative breakdown": (json.dumps({**r, "breakdown": {**r["breakdown"], "dp_comm": -1.0}}),
                               "breakdown.dp_comm: -1.0 is negative"),
        "string in breakdown": (json.dumps({**r, "breakdown": {**r["breakdown"], "compute": "1 ms"}}),
                                "breakdown.compute: '1 ms': expected a finite number"),
        "empty breakdown": (json.dumps({**r, "breakdown": {}}), "breakdown: missing, empty or not an object"),
        "second result without breakdown": (json.dumps([r, {k: v for k, v in r.items() if k != "breakdown"}]),
                                            "[1].breakdown: missing"),
        "missing mfu": (json.dumps({k: v for k, v in r.items() if k != "mfu"}), "mfu: missing: expected a finite"),
        "zero devices": (json.dumps({**r, "devices": 0}), "devices: 0 is out of range"),
        "bad layout": (json.dumps([{**r, "layout": {**r["layout"], "tp": "2"}}]), "[0].layout.tp: '2': expected an "
                       "integer"),
        "interval low > high": (json.dumps({**r, "step_time_interval_s": [2.0, 1.0]}),
                                "step_time_interval_s: low 2 s is above high 1 s"),
        "negative published tokens/s": (tab(published_tokens_per_s=-5.0),
                                        "rows[0].published_tokens_per_s: -5.0 is negative"),
        "zero predicted tokens/s": (tab(predicted_tokens_per_s=0), "rows[0].predicted_tokens_per_s: 0 is out of range"),
        "row without source": (tab(source=None), "rows[0].source: missing"),
        "no rows": (json.dumps({**table, "rows": []}), "rows: missing, empty or not a list"),
        "coverage above 1": (json.dumps({**table, "leave_one_source_out_coverage": {"all": 1.5}}),
                             "leave_one_source_out_coverage.all: 1.5: expected a share in [0, 1]"),
        "not JSON": ("step time: 52 ms\n", "malformed JSON"),
        "empty file": ("", "empty file"),
        "not UTF-8": (b"\xff\xfe{".decode("latin-1"), "not UTF-8"),
    }


def test_bad_inputs_exit_2_with_one_line(results, tmp_path, capsys):
    for name, (text, want) in _bad_cases(results[0]).items():
        p = tmp_path / "bad.json"
        p.write_bytes(text.encode("latin-1") if name == "not UTF-8" else text.encode())
        capsys.readouterr()
        rc = main(["plot", "training", str(p), "-o", str(tmp_path / "o"), "--no-png"])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2, (name, err)
        assert len(lines) == 1 and lines[0].startswith(f"accel plot: error: {p}: "), (name, err)
        assert want in lines[0], (name, lines[0])
        assert not (tmp_path / "o.html").exists(), name
    rc = main(["plot", "training", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o"), "--no-png"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not a training result"):
        check_residual_table({"rows": []})
