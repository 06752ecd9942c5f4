"""The package as a user gets it: a wheel built from the repository, installed into a fresh
virtual environment (no system site-packages, not this checkout), runs the demo from another
directory.

Building uses this environment's setuptools; the install needs the dependencies (torch, numpy,
pandas, rich): from pip's cache, a local wheel directory or the index. Where neither can
be had the test skips and says why; on the project's machines it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(command, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _tail(done) -> str:
    return (done.stdout[-1500:] + "\n" + done.stderr[-2500:]).strip()


def test_the_wheel_installs_and_runs_the_demo(tmp_path):
    dist = tmp_path / "dist"
    # This environment's setuptools builds it (the build backend pyproject.toml names), which
    # spares pip an isolated build environment; the wheel is the same.
    built = _run(
        [sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation",
         "--quiet", "-w", dist],
        cwd=tmp_path,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here (pip wheel failed): {_tail(built)[-500:]}")
    (wheel,) = dist.glob("spectral_edge-*.whl")

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv], cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    torch_version = (
        _run([sys.executable, "-c", "import torch; print(torch.__version__)"], cwd=tmp_path)
        .stdout.strip()
        .split("+")[0]
    )
    # torch first, pinned to this environment's version: an unpinned one could pull a
    # multi-gigabyte CUDA build (scripts/env.sh says the same).
    torch_in = _run(
        [python, "-m", "pip", "install", "--quiet", f"torch=={torch_version}"], cwd=tmp_path
    )
    if torch_in.returncode != 0:
        pytest.skip(f"torch=={torch_version} cannot be installed here: {_tail(torch_in)[-500:]}")
    installed = _run([python, "-m", "pip", "install", "--quiet", wheel], cwd=tmp_path)
    assert installed.returncode == 0, _tail(installed)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [python, "-c", "import spectral_edge; print(spectral_edge.__file__)"], cwd=elsewhere
    )
    assert where.returncode == 0, _tail(where)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # the wheel, not this checkout

    demo = _run([venv / "bin" / "spectral-edge", "demo", "--quick", "--out", "demo"], cwd=elsewhere)
    assert demo.returncode == 0, _tail(demo)
    assert "== summary ==" in demo.stdout
    # The bare wheel has no matplotlib (the plots extra): the demo says so instead of a report,
    # and the report command answers with one line naming the extra.
    assert "spectral-edge[plots]" in demo.stdout and not list((elsewhere / "demo").glob("*.html"))
    report = _run([venv / "bin" / "spectral-edge", "report", "demo"], cwd=elsewhere)
    assert report.returncode == 2 and report.stderr.count("\n") == 1, _tail(report)
    assert "pip install 'spectral-edge[plots]'" in report.stderr
    # The live view's terminal library is a dependency: it works from the wheel.
    frame = _run([venv / "bin" / "spectral-edge", "watch", "demo", "--once"], cwd=elsewhere)
    assert frame.returncode == 0, _tail(frame)
    assert "latest windows" in frame.stdout and "finished" in frame.stdout
