"""Issue 16, point 9: the ratio floor as documented, integer columns as ints, the real spacing of
checkpoints, online and offline phases that agree, and a start that does not import torch."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from _journey import cli, train_plain
from test_1_report_draws_metrics import save_checkpoints

from spectral_edge import open_store
from spectral_edge.dynamics import PhaseTracker, detect_phases
from spectral_edge.monitor import resolution_floor
from spectral_edge.report import load_run_data
from spectral_edge.report.plots import phase_result
from spectral_edge.report.summary import selection

DEFINITIONS = Path(__file__).resolve().parents[2] / "docs" / "definitions.md"


def test_the_documented_ratio_floor_is_the_one_used(tmp_path):
    row = next(line for line in DEFINITIONS.read_text().splitlines() if "| ratio floor" in line)
    default = row.split("|")[2]
    assert "1e-3" in default and "float32" in default and "1e-6" in default
    assert "1e-12" not in default  # only the pure spectrum() keeps it, as the option column says
    assert resolution_floor(torch.float32) == 1e-3 and resolution_floor(torch.float64) == 1e-6
    monitor = train_plain(tmp_path / "runs", "floor")
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        assert store.run("floor").config["monitor"]["ratio_floor_used"] == 1e-3


def test_integer_columns_come_back_as_ints(tmp_path):
    monitor = train_plain(tmp_path / "runs", "ints")
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        windows = store.run("ints").windows()
    for frame in (windows, monitor.to_dataframe()):
        for column in ("w", "k_star", "k_star_weighted"):
            assert frame[column].dtype == np.int64, column
        assert frame["w"].tolist()[:3] == [2, 3, 4]


def test_the_offline_report_shows_the_spacing_of_the_checkpoints(tmp_path):
    save_checkpoints(tmp_path / "ckpts")  # 40 steps apart
    store = tmp_path / "runs"
    assert cli("analyze", tmp_path / "ckpts", "--store", store, "--window", "3")[0] == 0
    with open_store(store, read_only=True) as s:
        run = s.run("analyze-ckpts")
        assert selection(run.config)["every"] == "40 steps (checkpoints)"
        assert "previous checkpoint" in run.definitions["update"]
    code, out, err = cli("report", store, "--out", tmp_path / "r.html")
    assert code == 0, err
    assert "40 steps (checkpoints)" in (tmp_path / "r.html").read_text()


def test_online_and_offline_phases_agree_on_a_stored_run(tmp_path):
    monitor = train_plain(tmp_path / "runs", "phases", steps=40)
    monitor.close()
    with open_store(tmp_path / "runs", read_only=True) as store:
        offline = phase_result(load_run_data(store.run("phases")))
    online = monitor.tracker.result()  # what the monitor's tracker made of the same windows
    assert offline.phase_starts() == online.phase_starts()
    assert list(offline.steps) == list(online.steps)
    # Full windows only: step 1 is the baseline, W = 4 updates are there from step 5 on.
    assert offline.steps[0] == 5


def test_a_climb_out_of_a_plateau_is_announced_as_a_rise():
    """Online "plateau since 110" must not stand when the run then climbs to a higher plateau:
    the offline detector calls that first plateau part of the rise."""
    r = np.r_[np.full(10, 1.0), np.full(15, 1.6), np.linspace(1.6, 3, 5), np.full(15, 3.0)]
    steps = np.arange(1, len(r) + 1) * 10
    tracker = PhaseTracker(smooth=1)
    events = []
    for step, value in zip(steps, r, strict=True):
        events += tracker.update(step, value)[1]
    assert [e["kind"] for e in events] == ["rise", "plateau", "rise", "plateau"]
    assert events[2]["evidence"]["resumed_after"] == 140
    assert events[-1]["evidence"]["start_step"] == detect_phases(steps, r, smooth=1).phase_starts()[
        "plateau"
    ]


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_and_help_do_not_import_torch():
    done = run_python(
        "import sys, spectral_edge\n"
        "assert spectral_edge.__version__\n"
        "print('torch' in sys.modules, 'pandas' in sys.modules)\n"
    )
    assert done.stdout.split() == ["False", "False"], done.stderr
    done = run_python(
        "import contextlib, io, sys\n"
        "from spectral_edge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules, 'dynamics' in out.getvalue())\n"
    )
    assert done.stdout.split() == ["False", "True"], done.stderr
    # The names of the README still resolve, on first use.
    done = run_python("from spectral_edge import SpectralMonitor, open_store, spectrum; print(1)")
    assert done.stdout.strip() == "1", done.stderr


def test_every_public_name_of_the_package_resolves():
    import spectral_edge

    for name in spectral_edge.__all__:
        assert getattr(spectral_edge, name) is not None
    assert re.match(r"\d+\.\d+", spectral_edge.__version__)
