"""A training process killed with SIGKILL loses nothing committed, and resumes to the same run.

The store commits every window and metric in its own transaction and the trainer checkpoints
atomically (write then rename), so whatever the kill interrupts, the store holds a consistent
prefix and ``--resume`` continues from the last checkpoint; windows logged after it are written
again with the same values.
"""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from spectral_edge import open_store

SETTINGS = [
    "steps=240",
    "monitor_every=5",
    "eval_every=20",
    "checkpoint_every=40",
    "model_args=hidden=64,d_embed=32",
]


def train(out, *extra, wait=True):
    cmd = [sys.executable, "-m", "spectral_edge.cli", "train", "modadd-cpu", "--out", str(out)]
    cmd += [arg for setting in SETTINGS for arg in ("--set", setting)] + list(extra)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def windows(out) -> pd.DataFrame:
    with open_store(out, read_only=True) as store:
        return store.run("modadd-cpu").windows()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    whole = tmp_path_factory.mktemp("whole")
    done = train(whole)
    assert done.returncode == 0, done.stderr
    return windows(whole)


def assert_intact(partial: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Every committed window equals the uninterrupted run's window at that step."""
    merged = partial.merge(reference, on="step", suffixes=("", "_ref"))
    assert len(merged) == len(partial)
    np.testing.assert_allclose(merged["gap_ratio"], merged["gap_ratio_ref"], rtol=1e-12)


def assert_same_run(final: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert list(final["step"]) == list(reference["step"])
    assert final["regime"].tolist() == reference["regime"].tolist()
    columns = [c for c in reference.columns if c in final.columns and c != "regime"]
    np.testing.assert_allclose(
        final[columns].to_numpy(float), reference[columns].to_numpy(float), rtol=1e-12
    )


def test_sigkill_keeps_committed_windows_and_resume_matches_an_uninterrupted_run(
    tmp_path, reference
):

    killed = tmp_path / "killed"
    proc = train(killed, wait=False)
    deadline = time.monotonic() + 300
    # kill once a checkpoint exists and some windows are committed, mid-run
    while time.monotonic() < deadline:
        ckpt = killed / "checkpoints" / "modadd-cpu.pt"
        if ckpt.exists() and proc.poll() is None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    partial = windows(killed)
    assert 0 < len(partial) < len(reference)
    assert_intact(partial, reference)

    resumed = train(killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(windows(killed), reference)


def test_killed_at_random_points_the_store_stays_intact_and_the_run_completes(
    tmp_path, reference
):
    """Three kills at seeded random times, each followed by a restart: --resume once a
    checkpoint exists, --overwrite before (there is nothing to resume yet)."""
    rng = random.Random(8)
    out = tmp_path / "run"
    checkpoint = out / "checkpoints" / "modadd-cpu.pt"
    kills = 0
    for attempt in range(4):
        extra = () if attempt == 0 else ("--resume",) if checkpoint.exists() else ("--overwrite",)
        proc = train(out, *extra, wait=False)
        if attempt < 3:
            time.sleep(rng.uniform(2.0, 8.0))
        if proc.poll() is None and attempt < 3:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        assert proc.wait(timeout=300) in (0, -signal.SIGKILL)
        if (out / "spectral_edge.sqlite").exists():  # killed before the run was created: none
            with open_store(out, read_only=True) as store:
                if "modadd-cpu" in set(store.runs()["name"]):
                    assert_intact(store.run("modadd-cpu").windows(), reference)
    assert kills >= 2, "the run outpaced the kills; make it longer"
    assert_same_run(windows(out), reference)
