"""Issue 16, point 8: a run's name and its numeric id work alike in every command, and export
says plainly what it writes (a set of files, or with --part exactly one)."""

import pandas as pd
import pytest
from _journey import cli, train_plain

from spectral_edge import open_store


@pytest.fixture
def store(tmp_path):
    train_plain(tmp_path / "runs", "first", lr=3e-3).close()
    train_plain(tmp_path / "runs", "second", lr=1e-3, steps=14).close()
    return tmp_path / "runs"


def test_ids_work_in_every_command(store, tmp_path):
    code, out, _ = cli("runs", store)
    ids = [line.split()[0] for line in out.splitlines()[1:]]
    assert ids == ["1", "2"]
    assert cli("export", store, "1", tmp_path / "by-id" / "x.csv")[0] == 0
    code, _, err = cli("report", store, "--run", "1", "--out", tmp_path / "one.html")
    assert code == 0, err
    assert "Run first" in (tmp_path / "one.html").read_text()
    code, out, err = cli("compare", store, "1", "2")
    assert code == 0 and "different learning rate" in out
    code, out, err = cli("dynamics", store, "2", "adiabatic", "--dry-run")
    assert code == 0 and out.startswith("adiabatic:")
    code, _, err = cli("export", store, "7", tmp_path / "x.csv")
    assert code == 2 and err.startswith("spectral-edge: error: no run '7'")
    assert "runs available: 'first', 'second'" in err


def test_export_says_it_writes_a_set_or_writes_one_file(store, tmp_path):
    code, out, _ = cli("export", store, "first", tmp_path / "out" / "first.csv")
    assert code == 0
    assert out.splitlines()[0] == "wrote 4 files (windows, metrics, events, run):"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "first_events.csv",
        "first_metrics.csv",
        "first_run.json",
        "first_windows.csv",
    ]
    code, out, _ = cli(
        "export", store, "first", tmp_path / "one" / "windows.csv", "--part", "windows"
    )
    assert code == 0 and out.strip() == f"windows: {tmp_path / 'one' / 'windows.csv'}"
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["windows.csv"]
    frame = pd.read_csv(tmp_path / "one" / "windows.csv")
    with open_store(store, read_only=True) as s:
        assert frame["step"].tolist() == s.run("first").windows()["step"].tolist()
    code, _, err = cli("export", store, "first", tmp_path / "dir", "--part", "metrics")
    assert code == 2 and "writes one file: give a path ending in .csv or .parquet" in err
