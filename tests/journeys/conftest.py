"""Runs that several journeys read, trained once per session: two Hugging Face Trainer runs at
learning rates 3e-3 and 1e-3 (the first evaluated every 4 steps and checkpointed every 2)."""

import pytest
from _journey import train_hf


@pytest.fixture(scope="session")
def hf_runs(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    root = tmp_path_factory.mktemp("hf-journey")
    store = root / "runs"
    train_hf(root / "hf-out", store, "hf-3e-3", lr=3e-3, save_steps=2)
    train_hf(root / "hf-out-2", store, "hf-1e-3", lr=1e-3, evaluate=False)
    return root
