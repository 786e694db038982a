"""Plotly figures for accel: roofline, energy breakdown, Pareto front, timeline, serving curves, cluster training
(step-time breakdown, predicted vs published tokens/s); HTML + PNG export.

Each ``*_figure`` returns a ``plotly.graph_objects.Figure``; :func:`save_figure` writes
``<out>.html`` and ``<out>.png`` (PNG via kaleido 1.x and a Chromium browser).
"""

from accel.plot.energy import energy_figure, energy_table, module_depth_for
from accel.plot.export import ExportError, png_available, save_figure
from accel.plot.inputs import PlotInputWarning, read_results_checked
from accel.plot.pareto import pareto_figure
from accel.plot.roofline import (Roofs, device_roofs, roofline_figure, roofline_from_graph,
                                 roofline_from_measurements)
from accel.plot.serving import serve_curves, serving_figure
from accel.plot.timeline import events_from_records, events_from_trace, timeline_figure
from accel.plot.training import read_training_input, training_breakdown_figure, training_validation_figure

__all__ = [
    "energy_figure", "energy_table", "module_depth_for", "ExportError", "png_available", "save_figure",
    "PlotInputWarning", "read_results_checked",
    "pareto_figure", "Roofs",
    "device_roofs", "roofline_figure", "roofline_from_graph", "roofline_from_measurements",
    "events_from_records", "events_from_trace", "timeline_figure", "serve_curves", "serving_figure",
    "read_training_input", "training_breakdown_figure", "training_validation_figure",
]
