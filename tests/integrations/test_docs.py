"""Every example in docs/integrations.md runs, in order, in one empty directory.

Python blocks are executed (a first line ``# file: NAME`` writes the block to NAME instead, and
``# requires: a, b`` skips it, with the reason, where those packages are not installed; the test
set-up installs them, so here the trackers' example runs the real W&B, offline, and MLflow);
bash lines run ``spectral-edge`` through the CLI's ``main`` and ``torchrun`` through ``python -m
torch.distributed.run``; ``pip`` lines are installation notes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from spectral_edge.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BLOCKS = [
    (m.group(1), m.group(2))
    for m in re.finditer(r"```(python|bash)\n(.*?)```", DOC.read_text(), re.DOTALL)
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("docs")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example(index, workdir, monkeypatch):
    kind, code = BLOCKS[index]
    monkeypatch.chdir(workdir)
    first = code.splitlines()[0]
    if first.startswith("# requires:"):
        for name in first.split(":", 1)[1].split(","):
            pytest.importorskip(name.strip())
    # W&B prints and wraps the console unless told not to; its files go under the workdir.
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    for package in ("lightning", "transformers", "tensorboard"):
        if f"import {package}" in code or f"from {package}" in code:
            pytest.importorskip(package)
    if kind == "python":
        if first.startswith("# file:"):
            (workdir / first.split(":", 1)[1].strip()).write_text(code)
            return
        exec(compile(code, f"{DOC.name}[{index}]", "exec"), {"__name__": "__doc_example__"})
        return
    for line in code.strip().splitlines():
        words = shlex.split(line)
        if words[0] == "pip":
            continue
        if words[0] == "spectral-edge":
            assert main(words[1:]) == 0, line
        elif words[0] == "torchrun":
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            command = [sys.executable, "-m", "torch.distributed.run", *words[1:]]
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
            assert "k* =" in done.stdout
        else:
            raise AssertionError(f"unknown command in the docs: {line}")
