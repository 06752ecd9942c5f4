"""A training process killed with SIGKILL loses nothing committed, and resumes to the same run.

The store commits every window and metric in its own transaction and the trainer checkpoints
atomically (write then rename), so whatever the kill interrupts, the store holds a consistent
prefix and ``--resume`` continues from the last checkpoint; windows logged after it are written
again with the same values.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd

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


def test_sigkill_keeps_committed_windows_and_resume_matches_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    assert train(whole).returncode == 0
    reference = windows(whole)

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
    # every committed window is intact: equal to the uninterrupted run's window at that step
    merged = partial.merge(reference, on="step", suffixes=("", "_ref"))
    assert len(merged) == len(partial)
    np.testing.assert_allclose(merged["gap_ratio"], merged["gap_ratio_ref"], rtol=1e-12)

    resumed = train(killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    final = windows(killed)
    assert list(final["step"]) == list(reference["step"])
    columns = [c for c in reference.columns if c in final.columns]
    np.testing.assert_allclose(
        final[columns].to_numpy(float), reference[columns].to_numpy(float), rtol=1e-12
    )
