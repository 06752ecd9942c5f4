"""Run every test on one intra-op thread.

The models here are tiny, so a second thread buys nothing, and on a shared 2-core machine the
intra-op threads wait on each other: a small decoder step measured 0.4 s with two threads against
3 ms with one. Benchmarks, not tests, measure speed, so nothing here depends on the thread count.
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
