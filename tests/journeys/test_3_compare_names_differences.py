"""Issue 16, point 3: compare names a learning-rate difference, from the config or the windows."""

from _journey import cli, tiny_model, train_plain

from spectral_edge import SpectralMonitor, open_store


def test_two_plain_runs_at_two_learning_rates(tmp_path):
    store = tmp_path / "runs"
    train_plain(store, "lr-3e-3", lr=3e-3).close()
    train_plain(store, "lr-1e-3", lr=1e-3).close()
    status, out, err = cli("compare", store, "lr-3e-3", "lr-1e-3")
    assert status == 0, err
    differs = out.split("\n\n")[0]
    # attach(optimizer) recorded the optimizer; the runs are finished, not "partial".
    assert "different learning rate (optimizer.lr): lr-3e-3=0.003, lr-1e-3=0.001" in differs
    assert "partial" not in differs


def test_runs_without_an_optimizer_in_their_config_differ_by_their_windows(tmp_path):
    """observe(step, lr=...) without attach: only the windows know η."""
    with open_store(tmp_path / "runs") as store:
        for name, lr in (("a", 3e-3), ("b", 1e-3)):
            model = tiny_model()
            opt = torch_sgd(model, lr)
            with SpectralMonitor(model, window=3, store=store, run_name=name) as monitor:
                for step in range(1, 7):
                    model(torch_input()).pow(2).mean().backward()
                    opt.step()
                    opt.zero_grad()
                    monitor.observe(step, lr=lr)
    status, out, _ = cli("compare", tmp_path / "runs", "a", "b")
    assert "different learning rate (recorded in the windows, median): a=0.003, b=0.001" in out


def test_two_hugging_face_runs_at_two_learning_rates(hf_runs):
    status, out, err = cli("compare", hf_runs / "runs", "hf-3e-3", "hf-1e-3")
    assert status == 0, err
    differs = out.split("\n\n")[0]
    assert "different learning rate (trainer.learning_rate): hf-3e-3=0.003, hf-1e-3=0.001" in (
        differs
    )
    with open_store(hf_runs / "runs", read_only=True) as store:
        config = store.run("hf-1e-3").config
    assert config["optimizer"]["class"] == "AdamW"
    assert config["trainer"]["per_device_train_batch_size"] == 8


def torch_sgd(model, lr):
    import torch

    return torch.optim.SGD(model.parameters(), lr=lr)


def torch_input():
    import torch

    return torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
