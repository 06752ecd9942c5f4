"""The HTML report: self-contained, complete, partial where it must be, and loaded by Chromium."""

import re
import shutil
import subprocess

import pytest

from spectral_edge.cli import main
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.report import write_report
from spectral_edge.store import open_store

IMG = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"')


def test_report_is_self_contained_with_summary_and_predictions(report_path):
    html = report_path.read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert len(IMG.findall(html)) == html.count("<img") >= 6 * 3 + 4
    for key in (
        "grokking step",
        "k* mode",
        "collapse step",
        "first warning",
        "lead (steps)",
        "A plateau",
        "A transition",
        "A forgetting",
        "Definitions",
        "Seeds",
        "Configuration",
        "version",
    ):
        assert key in html
    assert "Reproduction of the predictions" in html
    assert "verdict-confirmed" in html and "verdict-not-run" in html
    assert "Partial report" in html and "live" in html  # the running run is flagged
    assert "no windows stored yet" in html  # the empty run is flagged
    assert "different W (monitor.window)" in html


def test_report_of_one_run_and_default_path(store_dir):
    path = write_report(store_dir, run="wd")
    assert path.name == "report-wd.html" and path.parent == store_dir
    html = path.read_text()
    assert "Partial report" not in html and html.count("<img") == 6
    assert "Reproduction of the predictions" in html  # found in the store even for one run


def test_bad_input(tmp_path):
    with pytest.raises(SpectralEdgeError, match="no run store"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    open_store(tmp_path / "empty").close()
    with pytest.raises(SpectralEdgeError, match="no runs in"):
        write_report(tmp_path / "empty")
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_cli_report(store_dir, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(store_dir), "--run", "live", "--out", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    html = out.read_text()
    assert "Partial report" in html and "still being written" in html
    assert main(["report", str(store_dir), "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(
    chromium() is None,
    reason="Debian's chromium is not installed (scripts/env.sh installs it: apt-get install "
    "chromium); this test opens the report in headless Chromium",
)
def test_report_loads_in_headless_chromium(report_path, tmp_path):
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
        report_path.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body).group(1))
    assert total == report_path.read_text().count("<img") and loaded == total, body
    assert 'data-figures="loaded"' in body
    assert re.search(r'<html[^>]*data-js-errors="0"', dom), dom[:300]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console


def test_two_reading_table_shows_both_counts(tmp_path):
    """The table of ``spectral-edge reproduce``: one row a prediction, a verdict per reading."""
    from spectral_edge.report.html import _predictions_section

    rows = [
        {
            "id": "C1",
            "statement": "s",
            "figure": "24/24",
            "paper_verdict": "confirmed",
            "paper_measured": "12/12",
            "strict_verdict": "not confirmed",
            "strict_measured": "0/12",
            "strict_null": "-",
            "paper_rule": "r",
            "scale": "paper configuration",
        },
        {
            "id": "T3",
            "statement": "s",
            "figure": "-",
            "paper_verdict": "not run",
            "paper_measured": "",
            "strict_verdict": "not run",
            "strict_measured": "",
            "strict_null": "",
            "paper_rule": "r",
            "scale": "scaled-down",
        },
    ]
    html = "".join(_predictions_section(rows, "predictions"))
    assert "paper&#x27;s reading: 1 confirmed, 1 not run" in html
    assert "strict reading: 1 not confirmed, 1 not run" in html
    assert "strict_verdict-not-confirmed" in html and "paper_rule" not in html
