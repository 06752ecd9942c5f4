"""What a first-time user does, written once: a plain PyTorch loop from the README, a Hugging Face
Trainer on a tiny GPT-2 from docs/integrations.md, and the command line.

Scripts that must end as a process ends (the run's lifecycle) run in a subprocess; the rest run
in the test's process, through the same public calls.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import textwrap

import torch
from torch import nn

from spectral_edge import SpectralMonitor
from spectral_edge.cli import main

# The README's loop, as a script: python script.py STORE NAME LR [STEPS] [EXTRA MONITOR KWARGS]
PLAIN_SCRIPT = textwrap.dedent(
    """
    import sys

    import torch
    from torch import nn

    from spectral_edge import SpectralMonitor

    store, name, lr = sys.argv[1], sys.argv[2], float(sys.argv[3])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    extra = eval(sys.argv[5]) if len(sys.argv) > 5 else {}
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    monitor = SpectralMonitor(model, window=4, store=store, run_name=name, **extra)
    monitor.attach(optimizer)
    x, y = torch.randn(64, 8), torch.randn(64, 4)
    for step in range(1, steps + 1):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        monitor.log_metrics(step, loss=loss.item())
    print("trained", monitor.steps_observed)
    """
)


def run_script(code: str, *args: str, cwd=None, timeout: int = 180) -> subprocess.CompletedProcess:
    """``python -c code args...`` as a user would run a script; never inherits a pytest state."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def cli(*args) -> tuple[int, str, str]:
    """``spectral-edge ARGS``: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))


def train_plain(store, name, lr=1e-2, steps=12, metrics=None, **monitor_kwargs):
    """The README's loop in this process; ``metrics(step, loss)`` gives what is logged."""
    model = tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    monitor = SpectralMonitor(model, window=4, store=store, run_name=name, **monitor_kwargs)
    monitor.attach(optimizer)
    x, y = torch.randn(64, 8, generator=torch.Generator().manual_seed(1)), torch.zeros(64, 4)
    for step in range(1, steps + 1):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        logged = {"loss": loss.item()} if metrics is None else metrics(step, loss.item())
        monitor.log_metrics(step, **logged)
    return monitor


def train_hf(out_dir, store, name, lr=1e-3, steps=8, evaluate=True, save_steps=None):
    """docs/integrations.md's Trainer on a tiny GPT-2 built from a config (nothing downloaded),
    with an evaluation every 4 steps; returns the callback."""
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from spectral_edge.integrations.huggingface import SpectralEdgeTrainerCallback

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=1,
        n_embd=32,
        n_head=2,
        vocab_size=64,
        n_positions=16,
        bos_token_id=0,
        eos_token_id=0,
    )
    ids = torch.randint(0, 64, (32, 16), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": row, "labels": row} for row in ids]
    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=lr,
        logging_steps=1,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=4,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = SpectralEdgeTrainerCallback(store=str(store), run_name=name, window=4)
    trainer = Trainer(
        model=GPT2LMHeadModel(config),
        args=args,
        train_dataset=data,
        eval_dataset=data[:8] if evaluate else None,
        callbacks=[callback],
    )
    trainer.train()
    return callback


def data_lines(ax) -> list:
    """The lines of a panel that draw data (event marks carry a gid; legend stand-ins no data)."""
    return [line for line in ax.lines if not line.get_gid() and len(line.get_xdata())]
