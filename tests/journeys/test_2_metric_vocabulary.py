"""Issue 16, point 2: metric names are a documented vocabulary, not a hidden contract."""

import json
import re
from pathlib import Path

import pytest
from _journey import cli, data_lines, train_plain

from spectral_edge import SpectralMonitor, open_store
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.metrics import CANONICAL, canonical_name
from spectral_edge.report import plots, run_summary

README = Path(__file__).resolve().parents[2] / "README.md"


def accuracy_rising(step, loss):
    """The README's loss, and a validation accuracy under Lightning's usual name."""
    return {"loss": loss, "val_acc": min(1.0, step / 10)}


def test_readme_loop_metrics_are_drawn_and_grokking_is_found(tmp_path):
    monitor = train_plain(tmp_path / "runs", "plain", steps=16, metrics=accuracy_rising)
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        run = store.run("plain")
        fig, (acc_ax, loss_ax) = plots.plot_training(run)
        assert [line.get_label() for line in data_lines(loss_ax)] == ["train loss"]
        assert [line.get_label() for line in data_lines(acc_ax)] == ["test (held-out) accuracy"]
        assert run_summary(run)["grokking step"] == 10  # first val_acc >= 0.95
    status, out, err = cli("dynamics", tmp_path / "runs", "plain", "grokking", "--json")
    assert status == 0, err
    result = json.loads(out)["grokking"]
    assert result["grok_step"] == 10 and result["accuracy"] == "val_acc"


def test_a_run_declares_which_metric_is_its_test_accuracy(tmp_path):
    def top1(step, loss):
        return {"loss": loss, "top1": min(1.0, step / 8)}

    monitor = train_plain(
        tmp_path / "runs", "declared", metric_names={"test_acc": "top1"}, metrics=top1
    )
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        run = store.run("declared")
        assert run.config["metric_names"] == {"test_acc": "top1"}
        assert run_summary(run)["grokking step"] == 8
    with pytest.raises(SpectralEdgeError, match="'accuracy' is not a canonical metric name"):
        SpectralMonitor(monitor.model, metric_names={"accuracy": "top1"})


def test_the_readme_documents_every_canonical_name_and_its_spellings():
    text = README.read_text()
    section = text[text.index("## Metric names") :]
    section = section[: section.index("\n## ", 4)]
    for name in CANONICAL:
        assert f"`{name}`" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(CANONICAL)
    for row in rows:
        canonical, spellings = row.split("|")[1], row.split("|")[3]
        target = canonical.strip().strip("`")
        for spelling in re.findall(r"`([^`]+)`", spellings):
            assert canonical_name(spelling) == target, spelling
