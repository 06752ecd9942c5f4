"""Sketch accuracy over d on a real grokking trajectory (docs/thesis.md §6, prediction C3).

Trains the embedding MLP of docs/measurements.md on (a + b) mod 59 (AdamW 3e-3, β (0.9, 0.98),
weight decay 1.0, full batch), keeps the exact update every 10 steps for 400 steps, and compares the
spectrum of every W = 10 window of the last 30 updates with its sketched spectrum, for the fold
sketch and the dense Gaussian reference, three sketch seeds each.

    python benchmarks/sketch_accuracy.py [--dims 25 100 400 1000 4096] [--gaussian-max 400]
"""

from __future__ import annotations

import argparse
import time

import torch

from spectral_edge.core.accuracy import compare_sketch, summarize
from spectral_edge.lab.models import build_model
from spectral_edge.lab.tasks.modular import make_modular
from spectral_edge.lab.trajectory import record_updates


def trajectory(steps: int = 400, every: int = 10, seed: int = 0) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    data = make_modular(p=59, op="add", train_fraction=0.5, seed=seed)
    model = build_model("mlp-embed", p=59)
    opt = torch.optim.AdamW(model.parameters(), 3e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(data.train_x), data.train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return record_updates(list(model.parameters()), train_step, steps, every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", nargs="+", type=int, default=[25, 100, 400, 1000, 4096])
    parser.add_argument("--gaussian-max", type=int, default=400, help="largest d for the slow one")
    args = parser.parse_args()
    updates = trajectory()[-30:]
    print(f"P = {updates[0].numel()}, {len(updates)} updates, W = 10, seeds 0 1 2")
    print(f"{'family':>9} {'d':>5} {'R':>7} {'r23':>7} {'g23':>7} {'sigma1':>7} {'k* same':>8}")
    for d in args.dims:
        for family in ("fold", "gaussian"):
            if family == "gaussian" and d > args.gaussian_max:
                continue
            start = time.perf_counter()
            s = summarize(compare_sketch(updates, window=10, sketch_dim=d, family=family))
            print(
                f"{family:>9} {d:>5} {s['err_gap_ratio']:>7.2%} {s['err_r23']:>7.2%} "
                f"{s['err_g23']:>7.2%} {s['err_sigma_1']:>7.2%} {s['k_star_match']:>8.0%}"
                f"   ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
