"""`spectral-edge watch` follows a run while another process writes it: nothing lost, no lock
errors, and it ends when the run does, showing the final windows and events.

The writers run as separate processes, as a training job would. The first one waits on a file
half-way, so the watcher is shown to read a run that is still ``running`` (no timing involved);
the second is ``spectral-edge train`` itself, with the watcher started beside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spectral_edge import SpectralEdgeError
from spectral_edge.cli import main
from spectral_edge.metrics import canonical_metrics
from spectral_edge.store import open_store
from spectral_edge.watch import sparkline

TIMEOUT = 300  # generous: a loaded 2-core machine; nothing here asserts a duration

WRITER = r"""
import sys, time
from pathlib import Path
import torch
from torch import nn
from spectral_edge import SpectralMonitor

store, go = sys.argv[1], Path(sys.argv[2])
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 6), torch.randn(16, 2)
monitor = SpectralMonitor(model, window=3, store=store, run_name="live").attach(opt)
for step in range(1, 21):
    if step == 11:  # half-way: wait until the test has seen the watcher show windows
        deadline = time.monotonic() + 240
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    monitor.log_metrics(step, loss=loss.item())
    if step % 5 == 0:  # a second call at the same step: the watcher must not drop it
        monitor.log_metrics(step, val_acc=step / 20)
    if step == 15:  # a poisoned extra snapshot: a "nonfinite" event
        with torch.no_grad():
            kept = model[0].bias[0].item()
            model[0].bias[0] = float("nan")
            monitor.observe()  # counted as the next step
            model[0].bias[0] = kept
monitor.close()
"""


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cli():
    return [sys.executable, "-m", "spectral_edge.cli"]


class Lines:
    """A process's stdout, read line by line by a thread, so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: any(re.search(pattern, line) for line in self.lines), timeout
            )

    def join(self) -> list[str]:
        self._thread.join(timeout=TIMEOUT)
        return self.lines


def _wait_for_window(store: Path, run: str, writer: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert writer.poll() is None, writer.stderr.read()
        try:
            with open_store(store, read_only=True) as opened:
                table = opened.runs()
                if run in set(table["name"]) and len(opened.run(run).windows()):
                    return
        except SpectralEdgeError:
            pass  # not created yet, or its tables not yet
        time.sleep(0.1)
    pytest.fail("the writer wrote no window")


def _steps(lines: list[str], kind: str) -> list[int]:
    return [
        int(re.match(rf"{kind} step=(-?\d+)", line).group(1))
        for line in lines
        if line.startswith(f"{kind} step=")
    ]


def test_watch_follows_a_running_writer(tmp_path):
    store, go = tmp_path / "runs", tmp_path / "go"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    watcher = None
    try:
        _wait_for_window(store, "live", writer)
        watcher = subprocess.Popen(
            [*_cli(), "watch", str(store), "--run", "live", "--interval", "0.1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        out = Lines(watcher)
        # The writer is held at step 11: whatever the watcher shows now, it read live.
        assert out.wait_for(r"^window step=", TIMEOUT), out.lines
        with open_store(store, read_only=True) as opened:
            assert opened.run("live").status == "running"
        assert watcher.poll() is None  # still following
        go.touch()
        writer_out, writer_err = writer.communicate(timeout=TIMEOUT)
        assert watcher.wait(timeout=TIMEOUT) == 0
        watcher_err = watcher.stderr.read()
        lines = out.join()
    finally:
        for proc in (writer, watcher):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert writer.returncode == 0, writer_err
    for text in (writer_err, watcher_err):
        assert "locked" not in text and "Traceback" not in text, text

    with open_store(store, read_only=True) as opened:
        run = opened.run("live")
        windows, metrics, events = run.windows(), run.metrics(), run.events()
        assert run.status == "finished"
    # Nothing lost, nothing twice: every window, metric step and event, once, in order.
    assert _steps(lines, "window") == windows["step"].tolist()
    assert _steps(lines, "metrics") == metrics["step"].tolist()
    assert [
        (int(m.group(1)), m.group(2))
        for line in lines
        if (m := re.match(r"event step=(-?\d+) (\w+):", line))
    ] == list(zip(events["step"].tolist(), events["kind"].tolist(), strict=True))
    assert "nonfinite" in events["kind"].tolist()
    # Metrics under canonical names, both calls of a step: loss and val_acc at step 5.
    (at5,) = [line for line in lines if line.startswith("metrics step=5 ")]
    assert "train_loss=" in at5 and "test_acc=0.25" in at5
    assert set(canonical_metrics(metrics).columns) == {"step", "test_acc", "train_loss"}
    # The end: the final status, then the final frame with the last window and the event.
    assert "run 'live': finished" in lines
    final = "\n".join(lines[lines.index("run 'live': finished") :])
    assert "latest windows" in final and "events" in final
    assert re.search(rf"│\s+{windows['step'].iloc[-1]} │", final), final
    assert "nonfinite" in final


SMALL = [
    "--set",
    "p=11",
    "--set",
    "eval_every=5",
    "--set",
    "monitor_every=1",
    "--set",
    "monitor_window=3",
    "--set",
    "model_args=hidden=16,d_embed=8",
]


def test_watch_shows_a_train_run(tmp_path):
    store = tmp_path / "runs"
    train = subprocess.Popen(
        [
            *_cli(),
            "train",
            "modadd-cpu",
            *SMALL,
            "--set",
            "steps=40",
            "--out",
            str(store),
            "--name",
            "t",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    watcher = subprocess.Popen(  # started with the job: --wait until the run is there
        [*_cli(), "watch", str(store), "--run", "t", "--wait", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        train_out, train_err = train.communicate(timeout=TIMEOUT)
        watch_out, watch_err = watcher.communicate(timeout=TIMEOUT)
    finally:
        for proc in (train, watcher):
            if proc.poll() is None:
                proc.kill()
    assert train.returncode == 0, train_err
    assert watcher.returncode == 0, watch_err
    assert "locked" not in watch_err + train_err and "Traceback" not in watch_err
    lines = watch_out.splitlines()
    with open_store(store, read_only=True) as opened:
        windows, events = opened.run("t").windows(), opened.run("t").events()
    assert _steps(lines, "window") == windows["step"].tolist()
    assert _steps(lines, "event") == events["step"].tolist()
    assert "run 't': finished" in lines
    assert "train_loss" in watch_out and "test_acc" in watch_out  # the trainer's metrics


@pytest.fixture
def finished_store(tmp_path):
    with open_store(tmp_path) as store:
        run = store.create_run("done", config={"monitor": {"window": 3, "every": 1}})
        for step in range(1, 6):
            run.log_window(
                step,
                {
                    "k_star": 1,
                    "gap_ratio": 2.0 + step,
                    "g23": 0.5,
                    "adiabatic_dk": 0.05,
                    "r23": 1.5,
                },
            )
            run.log_metrics(step, {"eval_loss": 1.0 / step})
        run.log_event(4, "warning", "g23 declined")
        run.finish()
    return tmp_path


def test_once_prints_one_frame(finished_store, capsys):
    assert main(["watch", str(finished_store), "--once"]) == 0
    out = capsys.readouterr().out
    assert "run 'done' (id 1) finished" in out
    assert "plateau" in out  # A_DK 0.05 < 0.1
    assert "test_loss" in out  # eval_loss, read through the metric vocabulary
    assert "g23 declined" in out
    assert sparkline([3, 4, 5, 6, 7], width=5) in out


def test_bad_input_is_one_line(tmp_path, finished_store, capsys):
    assert main(["watch", str(tmp_path / "nowhere")]) == 2
    assert main(["watch", str(finished_store), "--run", "nope"]) == 2
    assert main(["watch", str(finished_store), "--interval", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("spectral-edge: error:") for line in err)
    assert "no run store" in err[0] and "runs available: 'done'" in err[1]
    assert "--interval" in err[2]


def test_sparkline():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], width=8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, float("nan"), 1.0]) == "▅ ▅"
    assert len(sparkline(range(1000), width=40)) == 40
    assert sparkline([]) == ""
