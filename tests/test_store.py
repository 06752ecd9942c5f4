"""The run store: round trips, errors, durability under SIGKILL, concurrent readers, exports."""

from __future__ import annotations

import doctest
import json
import math
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spectral_edge
from spectral_edge import store as store_module
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.store import DEFAULT_FILENAME, Run, RunStore, open_store


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "runs.sqlite") as s:
        yield s


def sigmas(values):
    return {f"sigma_{j}": v for j, v in enumerate(values, start=1)}


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


# -- opening ---------------------------------------------------------------------------------------


def test_doctest_of_open_store_runs():
    result = doctest.testmod(store_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_paths_directory_file_and_parents(tmp_path):
    with open_store(tmp_path) as s:  # an existing directory
        assert s.path == tmp_path / DEFAULT_FILENAME
    with open_store(tmp_path / "new" / "dir") as s:  # no suffix: a directory, created
        assert s.path == tmp_path / "new" / "dir" / DEFAULT_FILENAME
    with RunStore(str(tmp_path / "a" / "b" / "x.db")) as s:  # parents created
        assert s.path.parent.is_dir() and s.path.name == "x.db"
        s.create_run("r", config={})
    odd = tmp_path / "a" / "b" / "x.db"
    renamed = odd.rename(tmp_path / "store.data")  # an existing file whatever its suffix
    with open_store(renamed) as s:
        assert s.run("r").name == "r"
        assert "read-write" in repr(s)
    assert "closed" in repr(s)


def test_closed_store_refuses_use(tmp_path):
    s = open_store(tmp_path)
    run = s.create_run("r", config={})
    s.close()
    s.close()  # twice is harmless
    with pytest.raises(SpectralEdgeError, match="closed"):
        run.log_window(1, {"a": 1.0})
    with pytest.raises(SpectralEdgeError, match="closed"):
        s.runs()


def test_unwritable_location_names_path_and_cause(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    target = blocker / "store.sqlite"
    with pytest.raises(SpectralEdgeError, match=re.escape(str(target))) as info:
        open_store(target)
    assert "file.txt" in str(info.value) and "cannot" in str(info.value)


def test_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(SpectralEdgeError, match="not a spectral-edge store"):
        open_store(bogus)


def test_newer_schema_is_refused_and_migrations_run(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    open_store(path).close()
    # A store written by a future version.
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'later', '9.9')")
    conn.commit()
    conn.close()
    with pytest.raises(SpectralEdgeError, match="schema version 99.*upgrade spectral-edge"):
        open_store(path)

    # An older store is migrated when opened writable, and refused read-only until then.
    old = tmp_path / "old.sqlite"
    with open_store(old) as s:
        s.create_run("r", config={"a": 1})
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(store_module, "_MIGRATIONS", {2: "ALTER TABLE runs ADD COLUMN note TEXT"})
    with pytest.raises(SpectralEdgeError, match="needs a schema upgrade"):
        open_store(old, read_only=True)
    with open_store(old) as s:
        assert s.run("r").config == {"a": 1}
    conn = sqlite3.connect(old)
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    conn.close()
    assert versions == [1, 2] and "note" in columns


def test_wal_mode_is_set(store):
    mode = store._query("PRAGMA journal_mode", (), "read")[0][0]
    assert mode.lower() == "wal"


# -- runs and their metadata -----------------------------------------------------------------------


def test_config_seeds_definitions_round_trip_with_numpy_types(store):
    config = {
        "window": np.int64(10),
        "lr": np.float32(0.5),
        "betas": (0.9, 0.999),
        "out": Path("/tmp/out"),
        "grid": np.arange(3),
        "flag": np.bool_(True),
        "tags": {"b", "a"},
        "nested": {"deep": [np.float64(1.5), {"x": None}], 7: "int key"},
        "when": datetime(2026, 1, 2, tzinfo=timezone.utc),
        "nan": float("nan"),
    }
    run = store.create_run(
        "rt",
        config=config,
        seeds={"torch": np.int32(1), "numpy": 2},
        definitions={"k_star": "plain", "center": False},
    )
    got = store.run("rt").config
    assert got["window"] == 10 and type(got["window"]) is int
    assert got["lr"] == 0.5 and got["betas"] == [0.9, 0.999] and got["out"] == "/tmp/out"
    assert got["grid"] == [0, 1, 2] and got["flag"] is True and got["tags"] == ["a", "b"]
    assert got["nested"] == {"deep": [1.5, {"x": None}], "7": "int key"}
    assert got["when"].startswith("2026-01-02") and math.isnan(got["nan"])
    assert run.seeds == {"torch": 1, "numpy": 2}
    assert run.definitions == {"k_star": "plain", "center": False}

    info = run.info
    assert info["id"] == run.id and info["name"] == "rt" and info["status"] == "running"
    assert info["version"] == spectral_edge.__version__
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["numpy"] == np.__version__ and info["hostname"]
    assert "torch" in info and info["finished_at"] is None
    datetime.fromisoformat(info["created_at"])


def test_seeds_and_definitions_default_to_empty(store):
    run = store.create_run("r", config={})
    assert run.seeds == {} and run.definitions == {} and run.config == {}


@pytest.mark.parametrize(
    "config, where",
    [
        ({"opt": {"fn": object()}}, r"config\['opt'\]\['fn'\] is a object"),
        ({"layers": [1, lambda x: x]}, r"config\['layers'\]\[1\] is a function"),
        ({(1, 2): "tuple key"}, r"config has key \(1, 2\)"),
    ],
)
def test_unserialisable_config_is_refused(store, config, where):
    with pytest.raises(SpectralEdgeError, match=where):
        store.create_run("bad", config=config)
    assert store.runs().empty  # nothing half-written


def test_bad_run_arguments(store):
    with pytest.raises(SpectralEdgeError, match="config must be a dict"):
        store.create_run("r", config=[1, 2])
    with pytest.raises(SpectralEdgeError, match="non-empty string"):
        store.create_run("  ", config={})
    with pytest.raises(SpectralEdgeError, match="evidence"):
        store.create_run("r", config={}).log_event(1, "k", evidence={"f": print})


def test_duplicate_name_error_and_overwrite(store):
    first = store.create_run("exp", config={"v": 1})
    first.log_window(1, {"a": 1.0})
    first.log_metrics(1, {"loss": 2.0})
    first.log_event(1, "x")
    with pytest.raises(SpectralEdgeError, match="'exp' already exists.*overwrite=True"):
        store.create_run("exp", config={"v": 2})
    assert store.run("exp").config == {"v": 1}

    second = store.create_run("exp", config={"v": 2}, overwrite=True)
    assert second.id != first.id and second.config == {"v": 2}
    assert second.windows().columns.tolist() == ["step"] and second.events().empty
    assert len(store.runs()) == 1
    # The old handle is stale: writing through it is an error, not a write into the new run.
    with pytest.raises(SpectralEdgeError, match="stale"):
        first.log_window(2, {"a": 1.0})
    with pytest.raises(SpectralEdgeError, match="no longer exists"):
        _ = first.info
    with pytest.raises(SpectralEdgeError, match="no longer exists"):
        first.finish()
    with pytest.raises(SpectralEdgeError, match="no longer exists"):
        first.update_config({"z": 1})


def test_auto_names_are_readable_and_unique(store):
    names = [store.create_run(config={}).name for _ in range(3)]
    assert len(set(names)) == 3
    assert all(re.fullmatch(r"run-\d{8}-\d{6}(-\d+)?", n) for n in names)


def test_missing_run_lists_available(store):
    store.create_run("alpha", config={})
    store.create_run("beta", config={})
    with pytest.raises(SpectralEdgeError, match="no run 'gamma'.*'alpha', 'beta'"):
        store.run("gamma")
    with pytest.raises(SpectralEdgeError, match="no run 99"):
        store.run(99)
    with pytest.raises(SpectralEdgeError, match="str or an int"):
        store.run(1.0)
    assert store.run(np.int64(store.run("beta").id)).name == "beta"
    for i in range(25):
        store.create_run(f"r{i}", config={})
    with pytest.raises(SpectralEdgeError, match="and 7 more"):
        store.run("nope")


def test_empty_store_says_none(store):
    with pytest.raises(SpectralEdgeError, match="available: none"):
        store.run("x")


def test_runs_summary(store):
    a = store.create_run("a", config={})
    a.log_windows([(s, sigmas([1.0, 2.0])) for s in (10, 20, 30)])
    a.log_metrics(35, {"loss": 1.0})  # last_step counts metrics too
    b = store.create_run("b", config={})
    b.finish("failed")
    summary = store.runs()
    assert summary.columns.tolist() == [
        "id",
        "name",
        "status",
        "created_at",
        "n_windows",
        "last_step",
        "version",
    ]
    assert summary["name"].tolist() == ["a", "b"]
    assert summary["status"].tolist() == ["running", "failed"]
    assert summary["n_windows"].tolist() == [3, 0]
    assert summary.loc[0, "last_step"] == 35 and pd.isna(summary.loc[1, "last_step"])
    assert (summary["version"] == spectral_edge.__version__).all()


def test_delete_run(store):
    run = store.create_run("gone", config={})
    run.log_window(1, {"a": 1.0})
    store.create_run("kept", config={}).log_window(1, {"a": 2.0})
    store.delete_run("gone")
    assert store.runs()["name"].tolist() == ["kept"]
    assert store.run("kept").windows()["a"].tolist() == [2.0]
    left = store._query("SELECT COUNT(*) FROM windows WHERE run_id = ?", (run.id,), "count")
    assert left[0][0] == 0
    with pytest.raises(SpectralEdgeError, match="no run 'gone'"):
        store.delete_run("gone")


def test_status_finish_and_context_manager(store):
    run = store.create_run("s", config={})
    run.set_status("paused")
    assert run.status == "paused" and run.info["finished_at"] is not None
    run.set_status("running")  # a resume clears finished_at
    assert run.info["finished_at"] is None
    run.finish()
    assert run.status == "finished"
    with pytest.raises(SpectralEdgeError, match="non-empty string"):
        run.set_status("")

    with store.create_run("ok", config={}) as r:
        r.log_window(1, {"a": 1.0})
    assert store.run("ok").status == "finished"
    with pytest.raises(RuntimeError), store.create_run("boom", config={}):
        raise RuntimeError("training diverged")
    assert store.run("boom").status == "failed"
    with pytest.raises(KeyboardInterrupt), store.create_run("ctrl-c", config={}):
        raise KeyboardInterrupt
    assert store.run("ctrl-c").status == "interrupted"


def test_failed_status_update_does_not_mask_the_error(tmp_path):
    s = open_store(tmp_path)
    with pytest.raises(RuntimeError, match="original"), s.create_run("r", config={}):
        s.close()
        raise RuntimeError("original")


def test_update_config(store):
    run = store.create_run("u", config={"lr": 0.1})
    run.update_config({"resumed_from": 500, "lr": 0.1})  # same value is fine
    assert run.config == {"lr": 0.1, "resumed_from": 500}
    with pytest.raises(SpectralEdgeError, match=r"\['lr'\].*replace=True"):
        run.update_config({"lr": np.float64(0.2)})
    run.update_config({"lr": np.float64(0.2)}, replace=True)
    assert run.config["lr"] == 0.2
    with pytest.raises(SpectralEdgeError, match="updates must be a dict"):
        run.update_config(["lr"])


# -- logs ------------------------------------------------------------------------------------------


def test_windows_round_trip_nan_inf_and_variable_sigma_columns(store):
    run = store.create_run("w", config={})
    # The window fills up: 1, 2, ... 11 sigma columns, logged out of order.
    for step in (5, 3, 1, 2, 4, 6, 7, 8, 9, 10, 11):
        run.log_window(step, {"k_star": np.int64(1), **sigmas(np.arange(step, 0, -1.0))})
    run.log_window(12, {"k_star": None, "sigma_1": float("nan"), "sigma_2": np.inf, "x": -np.inf})
    run.log_window(1, {"k_star": 2.0})  # re-logging a (step, name) keeps the last value

    frame = run.windows()
    expected_cols = ["step", "k_star", *[f"sigma_{j}" for j in range(1, 12)], "x"]
    assert frame.columns.tolist() == expected_cols  # natural order: sigma_2 before sigma_10
    assert frame["step"].tolist() == list(range(1, 13)) and frame["step"].dtype == np.int64
    # k* stays float here: one window lacks it (test_integer_features_read_back_as_ints).
    assert (frame.dtypes.iloc[1:] == np.float64).all()
    assert frame.loc[0, "k_star"] == 2.0 and frame.loc[1, "k_star"] == 1.0
    assert frame.loc[0, "sigma_1"] == 1.0 and np.isnan(frame.loc[0, "sigma_2"])
    assert frame.loc[10, "sigma_11"] == 1.0 and frame.loc[10, "sigma_1"] == 11.0
    last = frame.iloc[-1]
    assert np.isnan(last["k_star"]) and np.isnan(last["sigma_1"])
    assert last["sigma_2"] == np.inf and last["x"] == -np.inf and np.isnan(last["sigma_3"])


def test_integer_features_read_back_as_ints(store):
    run = store.create_run("ints", config={})
    run.log_windows([(1, {"w": 2, "k_star": 1, "gap_ratio": 1.5}), (2, {"w": 3, "k_star": 2})])
    frame = run.windows()
    assert frame["k_star"].dtype == np.int64 and frame["w"].dtype == np.int64
    assert frame["k_star"].tolist() == [1, 2] and isinstance(frame["w"].tolist()[0], int)


def test_log_windows_batch_forms_and_reimport(store):
    run = store.create_run("b", config={})
    run.log_windows([(1, sigmas([3.0, 1.0])), {"step": np.int64(2), **sigmas([4.0, 2.0, 1.0])}])
    frame = run.windows()
    copy = store.create_run("copy", config={})
    copy.log_windows(frame.to_dict("records"))  # NaN for absent features reads back NaN
    pd.testing.assert_frame_equal(copy.windows(), frame)
    again = store.create_run("again", config={})
    again.log_windows(frame)  # a DataFrame like windows() is taken row by row
    pd.testing.assert_frame_equal(again.windows(), frame)

    for bad in ({"sigma_1": 1.0}, (1, 2, 3), 5):
        with pytest.raises(SpectralEdgeError, match="'step' key"):
            run.log_windows([bad])
    # A bad row anywhere in a batch writes nothing.
    with pytest.raises(SpectralEdgeError, match="must be a number"):
        run.log_windows([(3, {"a": 1.0}), (4, {"a": "high"})])
    assert run.windows()["step"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "step, features, match",
    [
        (1.5, {"a": 1.0}, "step must be an int"),
        (True, {"a": 1.0}, "step must be an int"),
        (1, {"step": 1.0}, "other than 'step'"),
        (1, {3: 1.0}, "non-empty strings"),
        (1, {"a": "1.0"}, "must be a number"),
        (1, {"a": [1.0, 2.0]}, "must be a number"),
        (1, [("a", 1.0)], "dict of name -> float"),
    ],
)
def test_bad_window_input(store, step, features, match):
    run = store.create_run("bad", config={})
    with pytest.raises(SpectralEdgeError, match=match):
        run.log_window(step, features)


def test_metrics_round_trip(store):
    run = store.create_run("m", config={})
    run.log_metrics(1, {"loss": 2.5, "lr": 1e-3})
    run.log_metrics(np.int64(2), {"loss": float("nan"), "accuracy": np.float32(0.75)})
    run.log_metrics(0, {"train_loss_10": 1.0, "train_loss_9": 2.0})
    frame = run.metrics()
    assert frame.columns.tolist() == [
        "step",
        "accuracy",
        "loss",
        "lr",
        "train_loss_9",
        "train_loss_10",
    ]
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame.loc[1, "loss"] == 2.5 and np.isnan(frame.loc[2, "loss"])
    assert frame.loc[2, "accuracy"] == 0.75 and np.isnan(frame.loc[0, "lr"])
    assert store.create_run("empty", config={}).metrics().columns.tolist() == ["step"]


def test_events_round_trip(store):
    run = store.create_run("e", config={})
    run.log_event(20, "grok", "val acc crossed 0.95", {"acc": np.float64(0.96), "ks": (1, 2)})
    run.log_event(10, "nonfinite_update")
    run.log_event(20, "gap_collapse", evidence={"R": float("inf")})
    frame = run.events()
    assert frame.columns.tolist() == ["step", "kind", "message", "evidence"]
    assert frame["step"].tolist() == [10, 20, 20]
    assert frame["kind"].tolist() == ["nonfinite_update", "grok", "gap_collapse"]
    assert frame["message"].tolist() == ["", "val acc crossed 0.95", ""]
    assert frame.loc[1, "evidence"] == {"acc": 0.96, "ks": [1, 2]}
    assert frame.loc[0, "evidence"] == {} and frame.loc[2, "evidence"]["R"] == math.inf
    with pytest.raises(SpectralEdgeError, match="kind must be"):
        run.log_event(1, "")
    with pytest.raises(SpectralEdgeError, match="message must be"):
        run.log_event(1, "k", None)
    with pytest.raises(SpectralEdgeError, match="step must be"):
        run.log_event("1", "k")


def test_threads_share_one_store(store):
    run = store.create_run("t", config={})

    def work(offset):
        for step in range(offset, offset + 50):
            run.log_window(step, {"a": float(step)})

    threads = [threading.Thread(target=work, args=(k * 50,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert run.windows()["a"].tolist() == [float(s) for s in range(200)]


# -- concurrency, durability and refusal to write --------------------------------------------------


def test_read_only_store_reads_but_refuses_writes(tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(SpectralEdgeError, match="no run store"):
        open_store(path, read_only=True)
    with open_store(path) as writer:
        run = writer.create_run("r", config={"a": 1})
        run.log_window(1, {"sigma_1": 1.0})
    with open_store(path, read_only=True) as reader:
        assert "read-only" in repr(reader)
        ro_run = reader.run("r")
        assert ro_run.config == {"a": 1} and ro_run.windows()["sigma_1"].tolist() == [1.0]
        assert reader.runs()["n_windows"].tolist() == [1]
        for attempt in (
            lambda: reader.create_run("new", config={}),
            lambda: ro_run.log_window(2, {"sigma_1": 1.0}),
            lambda: ro_run.log_metrics(2, {"loss": 1.0}),
            lambda: ro_run.log_event(2, "x"),
            lambda: ro_run.finish(),
            lambda: reader.delete_run("r"),
        ):
            with pytest.raises(SpectralEdgeError, match="read-only.*read_only=False"):
                attempt()
        # Even past that check, SQLite itself refuses, and the error still says why.
        reader.read_only = False
        with pytest.raises(SpectralEdgeError, match="s.sqlite.*readonly.*opened read-only"):
            ro_run.log_window(2, {"sigma_1": 1.0})


def test_read_only_plain_sqlite_file_is_not_a_store(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SpectralEdgeError, match="not a spectral-edge store"):
        open_store(path, read_only=True)


def test_full_disk_becomes_clear_error(store):
    run = store.create_run("full", config={})
    pages = store._query("PRAGMA page_count", (), "count")[0][0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # stands in for a full disk
    with pytest.raises(SpectralEdgeError, match=r"runs\.sqlite.*full.*free space"):
        run.log_windows([(s, sigmas(np.ones(10))) for s in range(2000)])
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    run.log_window(1, {"a": 1.0})  # the failed transaction left the connection usable
    assert run.windows()["step"].tolist() == [1]


def test_second_connection_reads_while_first_writes(tmp_path):
    path = tmp_path / "live.sqlite"
    writer = open_store(path)
    reader = open_store(path, read_only=True)
    run = writer.create_run("live", config={})
    seen = []
    for step in range(5):
        run.log_window(step, {"sigma_1": float(step)})
        seen.append(len(reader.run("live").windows()))
    assert seen == [1, 2, 3, 4, 5]

    # Another process reads the committed rows while the writer is still open mid-run.
    code = (
        "import sys, json\n"
        "from spectral_edge.store import open_store\n"
        "with open_store(sys.argv[1], read_only=True) as s:\n"
        "    r = s.run('live')\n"
        "    print(json.dumps([len(r.windows()), r.status]))\n"
    )
    done = run_python(code, str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [5, "running"]
    run.log_window(5, {"sigma_1": 5.0})  # and the writer carries on
    assert len(reader.run("live").windows()) == 6
    reader.close()
    writer.close()


def test_sigkill_loses_nothing_committed(tmp_path):
    path = tmp_path / "killed.sqlite"
    n = 25
    code = (
        "import os, signal, sys\n"
        "from spectral_edge.store import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "run = store.create_run('doomed', config={'n': int(sys.argv[2])})\n"
        "for step in range(int(sys.argv[2])):\n"
        "    run.log_window(step, {'sigma_1': float(step), 'sigma_2': 1.0})\n"
        "run.log_metrics(0, {'loss': 3.0})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = run_python(code, str(path), str(n))
    assert done.returncode == -signal.SIGKILL, done.stderr
    with open_store(path, read_only=True) as s:
        run = s.run("doomed")
        frame = run.windows()
        assert frame["step"].tolist() == list(range(n))
        assert frame["sigma_1"].tolist() == [float(k) for k in range(n)]
        assert run.metrics()["loss"].tolist() == [3.0]
        # It never got to finish; its writer is gone, so readers see it interrupted.
        assert run.status == "interrupted"


# -- exports ---------------------------------------------------------------------------------------


@pytest.fixture
def filled(store):
    run = store.create_run("exp/1", config={"window": np.int64(10)}, seeds={"torch": 0})
    run.log_windows([(1, sigmas([2.0, 1.0])), (2, sigmas([3.0, np.nan, 0.5])), (3, {"g": np.inf})])
    run.log_metrics(1, {"loss": 1.5, "lr": 0.01})
    run.log_metrics(3, {"loss": 0.25})
    run.log_event(2, "grok", "crossed", {"acc": 0.97, "steps": [1, 2]})
    run.log_event(3, "note")
    return run


def assert_export_matches(run, files, read):
    pd.testing.assert_frame_equal(read(files["windows"]), run.windows(), check_column_type=False)
    pd.testing.assert_frame_equal(read(files["metrics"]), run.metrics(), check_column_type=False)
    events = read(files["events"])
    assert events["step"].tolist() == [2, 3] and events["kind"].tolist() == ["grok", "note"]
    assert [json.loads(e) for e in events["evidence"]] == run.events()["evidence"].tolist()
    info = json.loads(files["run"].read_text())
    assert info == run.info and info["config"] == {"window": 10}


def test_csv_export_with_prefix(tmp_path, filled):
    files = filled.export(tmp_path / "out" / "exp.csv")
    assert sorted(p.name for p in files.values()) == [
        "exp_events.csv",
        "exp_metrics.csv",
        "exp_run.json",
        "exp_windows.csv",
    ]
    assert_export_matches(
        filled, files, lambda p: pd.read_csv(p, keep_default_na=False, na_values=[""])
    )


def test_csv_export_into_directory(tmp_path, filled):
    files = filled.export(tmp_path / "dir", format="csv")
    assert files["windows"] == tmp_path / "dir" / "exp_1_windows.csv"  # name made file-safe
    assert_export_matches(filled, files, pd.read_csv)


def test_parquet_export_round_trip(tmp_path, filled):
    pytest.importorskip("pyarrow")
    files = filled.export(tmp_path / "exp.parquet")
    assert files["events"].name == "exp_events.parquet"
    assert_export_matches(filled, files, pd.read_parquet)
    more = filled.export(tmp_path / "pq_dir", format="parquet")
    assert more["metrics"].suffix == ".parquet"
    assert filled.export(tmp_path / "x.pq")["windows"].name == "x_windows.parquet"


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, filled, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(SpectralEdgeError, match=re.escape("pip install spectral-edge[parquet]")):
        filled.export(tmp_path / "exp.parquet")
    assert not list(tmp_path.glob("exp_*"))  # failed before writing anything


def test_unknown_or_mismatched_export_format(tmp_path, filled):
    with pytest.raises(SpectralEdgeError, match="suffix of .*out.xlsx.*format='csv'"):
        filled.export(tmp_path / "out.xlsx")
    with pytest.raises(SpectralEdgeError, match="format 'feather'"):
        filled.export(tmp_path / "out", format="feather")
    with pytest.raises(SpectralEdgeError, match="does not match"):
        filled.export(tmp_path / "out.csv", format="parquet")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(SpectralEdgeError, match="cannot export"):
        filled.export(blocker / "out.csv")


def test_run_handle_repr(filled):
    assert isinstance(filled, Run) and "exp/1" in repr(filled)
