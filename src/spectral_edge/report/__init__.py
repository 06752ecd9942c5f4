"""Reports and pictures: plots of a run, the HTML report, and runs compared side by side.

matplotlib is imported lazily, only when a figure is drawn (Agg canvas, no pyplot state).
"""

from spectral_edge.report.compare import compare_runs, format_comparison
from spectral_edge.report.html import (
    Raw,
    figure_to_data_uri,
    find_predictions,
    html_table,
    render_report,
    write_compare_report,
    write_html_report,
    write_report,
)
from spectral_edge.report.plots import (
    RunData,
    config_section,
    load_run_data,
    plot_adiabatic,
    plot_comparison,
    plot_g23,
    plot_gap,
    plot_singular_values,
    plot_sketch_accuracy,
    plot_stability,
    plot_training,
    sketch_accuracy_table,
)
from spectral_edge.report.summary import run_summary

__all__ = [
    "Raw",
    "RunData",
    "config_section",
    "compare_runs",
    "figure_to_data_uri",
    "find_predictions",
    "format_comparison",
    "html_table",
    "load_run_data",
    "plot_adiabatic",
    "plot_comparison",
    "plot_g23",
    "plot_gap",
    "plot_singular_values",
    "plot_sketch_accuracy",
    "plot_stability",
    "plot_training",
    "render_report",
    "run_summary",
    "sketch_accuracy_table",
    "write_compare_report",
    "write_html_report",
    "write_report",
]
