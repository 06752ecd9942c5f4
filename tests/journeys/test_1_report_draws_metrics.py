"""Issue 16, point 1: the report draws a run's loss and accuracy whatever the framework named
them, and checkpoint analysis can carry metrics too."""

import torch
from _journey import cli, data_lines, tiny_model

from spectral_edge import open_store
from spectral_edge.report import plots, run_summary


def test_hugging_face_report_draws_loss_and_eval_loss(hf_runs):
    store_dir = hf_runs / "runs"
    status, out, err = cli("report", store_dir, "--run", "hf-3e-3")
    assert status == 0, err
    assert (store_dir / "report-hf-3e-3.html").is_file()
    with open_store(store_dir, read_only=True) as store:
        run = store.run("hf-3e-3")
        metrics = run.metrics()
        # The Trainer logs "loss" every step and "eval_loss" every 4; its end-of-run average
        # went into the config, not beside them as a lone train_loss point.
        assert {"loss", "eval_loss"} <= set(metrics.columns) and "train_loss" not in metrics
        assert run.config["train_summary"]["train_loss"] > 0
        fig, (acc_ax, loss_ax) = plots.plot_training(run)
    labels = [line.get_label() for line in data_lines(loss_ax)]
    assert labels == ["train loss", "test (held-out) loss"]
    train_line = data_lines(loss_ax)[0]
    assert list(train_line.get_xdata()) == list(range(1, 9))
    lo, hi = loss_ax.get_xlim()
    assert lo <= 1 and hi >= 8  # the whole run, not a window around one point
    # No accuracy was logged: the panel says so and how to log one.
    text = acc_ax.texts[0].get_text()
    assert "no accuracy recorded yet" in text and "eval_accuracy" in text


def test_analyze_hugging_face_checkpoints_brings_their_logged_loss(hf_runs, tmp_path):
    store_dir = tmp_path / "runs"
    status, out, err = cli(
        "analyze", hf_runs / "hf-out", "--store", store_dir, "--window", "3", "--name", "hf-off"
    )
    assert status == 0, err
    with open_store(store_dir, read_only=True) as store:
        run = store.run("hf-off")
        assert run.status == "finished"
        metrics = run.metrics()
        assert metrics["step"].tolist() == list(range(1, 9)) and "loss" in metrics
        fig, (_, loss_ax) = plots.plot_training(run)
    assert [line.get_label() for line in data_lines(loss_ax)][0] == "train loss"


def save_checkpoints(directory, steps=(40, 80, 120, 160, 200, 240)):
    """A plain loop saving {model, step, metrics} every 40 steps (docs/integrations.md)."""
    directory.mkdir()
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 8), torch.randn(32, 4)
    for step in range(1, steps[-1] + 1):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in steps:
            torch.save(
                {
                    "model": model.state_dict(),
                    "step": step,
                    "metrics": {"loss": loss.item(), "val_acc": step / 240},
                },
                directory / f"step-{step}.pt",
            )


def test_analyze_takes_metrics_from_the_checkpoints_or_a_csv(tmp_path):
    save_checkpoints(tmp_path / "ckpts")
    store_dir = tmp_path / "runs"
    status, _, err = cli("analyze", tmp_path / "ckpts", "--store", store_dir, "--window", "3")
    assert status == 0, err
    (tmp_path / "metrics.csv").write_text("step,test_loss\n40,2.0\n240,1.0\n")
    status, _, err = cli(
        "analyze",
        tmp_path / "ckpts",
        "--store",
        store_dir,
        "--window",
        "3",
        "--name",
        "from-csv",
        "--metrics",
        tmp_path / "metrics.csv",
    )
    assert status == 0, err
    with open_store(store_dir, read_only=True) as store:
        inside = store.run("analyze-ckpts")
        assert inside.metrics()["step"].tolist() == [40, 80, 120, 160, 200, 240]
        fig, (acc_ax, loss_ax) = plots.plot_training(inside)
        assert [line.get_label() for line in data_lines(acc_ax)] == ["test (held-out) accuracy"]
        assert run_summary(inside)["final test acc"] == 1.0
        csv = store.run("from-csv")
        assert csv.metrics()["test_loss"].tolist() == [2.0, 1.0]
    status, _, err = cli(
        "analyze", tmp_path / "ckpts", "--store", store_dir, "--metrics", "nothing", "--name", "x"
    )
    assert status == 2 and "no checkpoint holds metrics under ['nothing']" in err
