"""Issue 16, point 6: plots a user can read: labelled log axes whatever the range, an integer
k* axis, legends that name every line and stay off the data, panels that say what is missing."""

import numpy as np
import pandas as pd
import pytest
from _journey import train_plain

from spectral_edge import open_store
from spectral_edge.report import plots


def labelled_ticks(ax, which="y"):
    """The tick labels a reader sees: major ticks inside the view, with text."""
    ax.figure.canvas.draw()
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    return [
        label.get_text()
        for loc, label in zip(axis.get_majorticklocs(), axis.get_ticklabels(), strict=False)
        if lo <= loc <= hi and label.get_text()
    ]


def legend_is_off_the_data(ax):
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    return legend.x0 >= ax.get_window_extent().x1


def one_decade_run():
    """R between 1.3 and 2.5 (no power of ten inside) and k* = 1 throughout."""
    steps = np.arange(1, 41) * 10
    rise, fall = np.linspace(1.3, 2.5, 6), np.linspace(2.5, 1.3, 10)
    r = np.r_[np.full(8, 1.3), rise, np.full(16, 2.5), fall]
    return pd.DataFrame({"step": steps, "gap_ratio": r, "k_star": 1, "w": 10, "g23": r / 10})


def test_a_log_axis_within_one_decade_has_labels():
    fig, ax = plots.plot_gap(one_decade_run(), config={"monitor": {"window": 10}})
    labels = labelled_ticks(ax)
    assert len(labels) >= 3 and all(float(t) for t in labels)
    fig, ax = plots.plot_g23(one_decade_run())
    assert len(labelled_ticks(ax)) >= 3


def test_a_constant_k_star_reads_as_that_integer():
    fig, ax = plots.plot_gap(one_decade_run())
    assert ax.k_star_ax.get_ylim() == (0.5, 1.5)
    assert labelled_ticks(ax.k_star_ax) == ["1"]


def test_legends_name_every_line_and_stay_off_the_data():
    fig, ax = plots.plot_gap(one_decade_run())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in ("R", "R smoothed (median of 5)", "τ = 1.2", "k* (right axis)", "plateau"):
        assert name in legend
    assert legend_is_off_the_data(ax)
    # ... and off the k* axis' labels on the right, too
    k_labels = ax.k_star_ax.get_tightbbox(fig.canvas.get_renderer())
    assert ax.get_legend().get_window_extent().x0 >= k_labels.x1 - 1


def test_every_figure_of_a_real_run_is_readable(tmp_path):
    monitor = train_plain(tmp_path / "runs", "plain", steps=30)
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        data = plots.load_run_data(store.run("plain"))
    for plot in (plots.plot_singular_values, plots.plot_gap, plots.plot_g23, plots.plot_adiabatic):
        fig, ax = plot(data)
        assert ax.get_yscale() == "log"
        assert len(labelled_ticks(ax)) >= 2, plot.__name__
        assert legend_is_off_the_data(ax), plot.__name__
    fig, ax = plots.plot_stability(data)
    assert legend_is_off_the_data(ax)
    fig, (acc_ax, loss_ax) = plots.plot_training(data)
    assert len(labelled_ticks(loss_ax)) >= 2 and legend_is_off_the_data(loss_ax)


@pytest.mark.parametrize("status", ["running", "finished"])
def test_an_empty_panel_says_what_is_missing_and_why(tmp_path, status):
    with open_store(tmp_path / "runs") as store:
        run = store.create_run("empty", config={"monitor": {"window": 10, "every": 5}})
        if status == "finished":
            run.finish()
        data = plots.load_run_data(run)
    fig, ax = plots.plot_gap(data)
    text = ax.texts[0].get_text()
    assert "no gap ratio R recorded yet" in text and "every 5 steps" in text
    assert ("not reached them yet" in text) == (status == "running")
    fig, (acc_ax, loss_ax) = plots.plot_training(data)
    assert "log it as test_loss" in loss_ax.texts[0].get_text()
