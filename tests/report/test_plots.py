"""Each plot on a small stored run draws the expected artists."""

import numpy as np
import pandas as pd
import pytest

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.report import plots
from spectral_edge.store import open_store


@pytest.fixture(scope="module")
def store(store_dir):
    with open_store(store_dir, read_only=True) as s:
        yield s


@pytest.fixture(scope="module")
def wd(store):
    return plots.load_run_data(store.run("wd"))


def gids(artists):
    return [a.get_gid() for a in artists if a.get_gid()]


def test_singular_values_one_line_per_mode_on_log_scale(wd):
    fig, ax = plots.plot_singular_values(wd)
    assert len(ax.lines) == 4 and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["σ1", "σ2", "σ3", "σ4"]


def test_gap_shades_phases_and_marks_events(wd):
    fig, ax = plots.plot_gap(wd)
    spans = gids(ax.patches)
    assert {"phase-rise", "phase-plateau", "phase-collapse"} <= set(spans)
    events = gids(ax.lines)
    assert events.count("event-grok") == 1 and events.count("event-warning") == 1
    assert events.count("event-collapse") == 1
    collapse = next(line for line in ax.lines if line.get_gid() == "event-collapse")
    phases = plots.phase_result(wd)
    assert collapse.get_xdata()[0] == phases.collapse_step
    assert ax.get_yscale() == "log"
    assert len(ax.k_star_ax.lines) == 1  # k* step line on the twin axis


def test_g23_line_and_events(wd):
    fig, ax = plots.plot_g23(wd)
    data_lines = [line for line in ax.lines if not line.get_gid()]
    assert len(data_lines) == 1 and ax.get_yscale() == "log"
    assert {"event-grok", "event-warning"} <= set(gids(ax.lines))


def test_adiabatic_regime_bands(wd):
    fig, ax = plots.plot_adiabatic(wd)
    assert set(gids(ax.patches)) == {"regime-plateau", "regime-transition", "regime-forgetting"}
    bands = {p.get_gid(): (p.get_y(), p.get_y() + p.get_height()) for p in ax.patches}
    # band edges at the thresholds of config["monitor"]
    assert np.isclose(bands["regime-plateau"][1], 0.1)
    assert np.isclose(bands["regime-forgetting"][0], 10.0)
    assert len([line for line in ax.lines if not line.get_gid()]) == 2  # A_DK and paper A


def test_stability_one_line_per_alpha(wd):
    fig, ax = plots.plot_stability(wd)
    assert len([line for line in ax.lines if not line.get_gid()]) == 3


def test_training_shares_the_step_axis_and_marks_events(wd):
    fig, (acc, loss) = plots.plot_training(wd)
    assert acc.get_shared_x_axes().joined(acc, loss)
    for ax in (acc, loss):
        assert len([line for line in ax.lines if not line.get_gid()]) == 2  # train and test
        assert {"event-grok", "event-warning", "event-collapse"} <= set(gids(ax.lines))
    assert loss.get_yscale() == "log"


def test_comparison_one_line_per_run_and_grok_marks(store):
    runs = [store.run("wd"), store.run("control")]
    fig, ax = plots.plot_comparison(runs, "gap_ratio")
    assert len([line for line in ax.lines if not line.get_gid()]) == 2
    assert gids(ax.lines).count("event-grok") == 1  # the control never groks
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["wd", "wd grokked (250)", "control"]  # every line is named
    fig, ax = plots.plot_comparison(runs, "test_acc", labels=["AdamW", "Muon"])
    assert ax.get_yscale() == "linear"
    with pytest.raises(SpectralEdgeError):
        plots.plot_comparison(runs, labels=["one"])


def test_sketch_accuracy_curve():
    updates = np.random.default_rng(0).standard_normal((12, 400))
    table = plots.sketch_accuracy_table(updates, window=10, dims=(20, 100), seeds=(0,))
    fig, ax = plots.plot_sketch_accuracy(table)
    data_lines = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(data_lines) == 3 and len(data_lines[0].get_xdata()) == 2
    assert list(data_lines[0].get_xdata()) == [2.0, 10.0]  # d / W
    assert len(ax.collections) == 3  # interquartile bands
    fig, ax = plots.plot_sketch_accuracy(table[table.sketch_dim == 20].drop(columns="sketch_dim"))
    assert len(ax.lines) == 3


def test_dataframe_source_and_empty_run():
    frame = pd.DataFrame(
        {
            "step": np.arange(1, 21) * 10,
            "gap_ratio": np.r_[np.full(5, 1.0), np.full(10, 2.0), np.full(5, 1.0)],
            "k_star": 1,
        }
    )
    fig, ax = plots.plot_gap(frame)
    assert "phase-plateau" in gids(ax.patches)
    empty = pd.DataFrame({"step": []})
    for fn in (
        plots.plot_gap,
        plots.plot_g23,
        plots.plot_singular_values,
        plots.plot_adiabatic,
        plots.plot_stability,
    ):
        fig, ax = fn(empty)
        assert "recorded yet" in ax.texts[0].get_text()
    fig, axes = plots.plot_training(empty)
    assert all("recorded yet" in ax.texts[0].get_text() for ax in axes)
    with pytest.raises(SpectralEdgeError, match="step"):
        plots.plot_gap(pd.DataFrame({"x": [1]}))
    with pytest.raises(SpectralEdgeError, match="cannot plot"):
        plots.plot_gap([1, 2, 3])


def test_running_run_says_partial_in_titles(store):
    fig, ax = plots.plot_gap(store.run("live"))
    assert "partial" in ax.get_title()
    assert not gids(ax.patches)  # three windows: too few for phases, none invented


def test_without_matplotlib_a_figure_is_one_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plots extra were missing
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(SpectralEdgeError, match=r"pip install 'spectral-edge\[plots\]'"):
        plots.new_figure()
