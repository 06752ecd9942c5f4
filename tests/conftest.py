"""Run every test on one intra-op thread.

The models here are tiny, so a second thread buys nothing, and on a shared 2-core machine the
intra-op threads wait on each other: a small decoder step measured 0.4 s with two threads against
3 ms with one. Benchmarks, not tests, measure speed, so nothing here depends on the thread count.
"""

import importlib.util
import os
from pathlib import Path

import pytest
import torch


def pytest_sessionstart(session):
    """Under a forced kernel (OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY; see scripts/kernels.py),
    make sure this very process runs it: a setting that did not take would pass silently."""
    if not (os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("ATEN_CPU_CAPABILITY")):
        return
    path = Path(__file__).resolve().parents[1] / "scripts" / "kernels.py"
    spec = importlib.util.spec_from_file_location("spectral_edge_kernels", path)
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    line, problems = kernels.in_effect()
    if problems:
        raise pytest.UsageError("; ".join(problems))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
