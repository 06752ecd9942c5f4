"""`spectral-edge train`: bad input is one line on stderr with exit status 2, no traceback."""

import subprocess
import sys

import pytest

from spectral_edge.cli import main
from spectral_edge.store import open_store

SMALL = [
    "--set",
    "p=11",
    "--set",
    "steps=6",
    "--set",
    "eval_every=3",
    "--set",
    "monitor_every=1",
    "--set",
    "monitor_window=3",
    "--set",
    "model_args=hidden=16,d_embed=8",
]


def _one_line_error(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("spectral-edge: error:") and needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "modadd-cpx"], "unknown preset 'modadd-cpx' (did you mean 'modadd-cpu'?)"),
        (["train", "modadd-cpu", "--set", "stepz=10"], "did you mean 'steps'"),
        (["train", "modadd-cpu", "--set", "steps=many"], "steps must be an integer"),
        (["train", "modadd-cpu", "--set", "train_fraction=2"], "train_fraction must be in (0, 1)"),
        (["train", "modadd-cpu", "--set", "lr"], "key=value"),
    ],
)
def test_bad_presets_keys_and_values(capsys, argv, needle):
    _one_line_error(capsys, argv, needle)


def test_unwritable_out_dir(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error(capsys, ["train", "modadd-cpu", *SMALL, "--out", str(blocker / "x")], "output")


def test_train_then_name_taken_then_overwrite_and_resume(capsys, tmp_path):
    out = str(tmp_path / "runs")
    assert main(["train", "modadd-cpu", *SMALL, "--out", out, "--name", "a"]) == 0
    assert "run a: 6 steps" in capsys.readouterr().out
    _one_line_error(capsys, ["train", "modadd-cpu", *SMALL, "--out", out, "--name", "a"], "exists")
    assert main(["train", "modadd-cpu", *SMALL, "--out", out, "--name", "a", "--overwrite"]) == 0
    capsys.readouterr()
    longer = [*SMALL, "--set", "steps=9"]
    assert main(["train", "modadd-cpu", *longer, "--out", out, "--name", "a", "--resume"]) == 0
    checkpoint = tmp_path / "runs" / "checkpoints"
    assert f"[a] resumed at step 6 from {checkpoint / 'a.pt'}" in capsys.readouterr().err
    with open_store(out, read_only=True) as store:
        runs = store.runs()
        assert list(runs["name"]) == ["a"] and list(runs["last_step"]) == [9]
        assert store.run("a").config["preset"] == "modadd-cpu"
    # --resume with nothing to resume starts the run, and says so
    assert main(["train", "modadd-cpu", *SMALL, "--out", out, "--name", "b", "--resume"]) == 0
    captured = capsys.readouterr()
    assert f"[b] nothing to resume (no checkpoint {checkpoint / 'b.pt'})" in captured.err
    assert "run b: 6 steps" in captured.out


def test_as_a_process_exit_status_2():
    proc = subprocess.run(
        [sys.executable, "-m", "spectral_edge.cli", "train", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown preset 'nope'" in proc.stderr
