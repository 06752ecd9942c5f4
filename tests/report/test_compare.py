"""Compare says what differs: W, cadence, parameter selection, window steps; and bad input."""

import pytest

from spectral_edge.cli import main
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.report import compare_runs, format_comparison, write_compare_report
from spectral_edge.store import open_store


@pytest.fixture(scope="module")
def store(store_dir):
    with open_store(store_dir, read_only=True) as s:
        yield s


def test_compare_names_different_windows_and_selections(store):
    result = compare_runs([store.run("wd"), store.run("control")])
    text = "\n".join(result["differences"])
    assert "different W (monitor.window): wd=10, control=20" in text
    assert "different snapshot cadence (monitor.every): wd=10, control=20" in text
    assert "different parameter selection (monitor.params): wd=all, control=attention" in text
    assert "different window steps: wd: 40 windows at steps 10–400 every 10" in text
    assert "control: 40 windows at steps 20–800 every 20" in text
    keys = {row["key"] for row in result["config"]}
    assert {"monitor.window", "monitor.every", "monitor.params"} <= keys
    assert "train.weight_decay" not in keys  # identical
    summaries = {s["run"]: s for s in result["summaries"]}
    assert summaries["wd"]["grokking step"] == 250 and summaries["control"]["grokking step"] is None


def test_compare_identical_and_partial(store):
    result = compare_runs([store.run("wd"), store.run("live")])
    text = "\n".join(result["differences"])
    assert "partial: live still being written" in text
    assert "different window steps" in text and "different W" not in text


def test_format_and_html(store, tmp_path):
    runs = [store.run("wd"), store.run("control")]
    text = format_comparison(compare_runs(runs))
    assert text.startswith("What differs:") and "Config differences:" in text
    path = write_compare_report(runs, tmp_path / "cmp.html")
    html = path.read_text()
    assert "different W" in html and html.count("<img") == 4


def test_cli_compare(store, store_dir, tmp_path, capsys):
    out = tmp_path / "c.html"
    assert main(["compare", str(store_dir), "wd", "control", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "different W (monitor.window)" in printed and out.exists()
    assert main(["compare", str(store_dir), "wd"]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["compare", str(store_dir), "wd", "ghost"]) == 2
    with pytest.raises(SpectralEdgeError, match="distinct"):
        compare_runs([store.run("wd"), store.run("wd")])
