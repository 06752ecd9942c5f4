"""What each early-warning signal costs per measurement, as a multiple of one training step.

On the paper's modular-arithmetic transformer (the ``modarith`` family of docs/early-warning.md:
290K parameters, batch 512, the monitor on the 131,072 attention weights, W = 10), the same
process times, in rotating order so a slow minute of a noisy machine hits every one alike:

* step: one AdamW training step (forward, backward, clip, step): the unit;
* monitor: one ``SpectralMonitor.observe`` at a snapshot step (every spectral signal of the
  window comes from it: σ, r23, R, g23/Σλ, effective rank, rotations);
* weight_norm: the global weight norm (a free baseline);
* evaluation: train and test loss and accuracy on the full sets (the validation baselines);
* commutator: the commutator defect, median of 5 batch pairs of 512 (four gradients per pair);
* llc (``--llc``): one LLC estimate with the calibrated SGLD settings of
  :mod:`spectral_edge.reproduce.llc`, when devinterp is installed.

Reported: medians in milliseconds and as multiples of the step, and, per signal, the cost per
training step at the campaign's cadence (one measurement every 100 steps). Ratios are what to
trust.

    python benchmarks/bench_signals.py --repeats 7 [--llc] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from spectral_edge import SpectralMonitor
from spectral_edge.lab.optim import clip_gradients, make_optimizers
from spectral_edge.lab.presets import get_preset
from spectral_edge.lab.trainer import _Task, _weight_norm
from spectral_edge.reproduce.probes.commutator import commutator_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--llc", action="store_true", help="also time one LLC estimate")
    parser.add_argument("--json", help="write the medians here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = get_preset("modarith-add")
    task = _Task(cfg)
    model = task.build_model()
    (opt,) = make_optimizers(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay)
    monitor = SpectralMonitor(model, window=10, every=1, params="attention", warning=False)
    gen = torch.Generator().manual_seed(1)

    def sample(size):
        idx = torch.randperm(len(task.train[0]), generator=gen)[:size]
        return tuple(x[idx] for x in task.train)

    def loss_fn(m, batch):
        return task.forward(m, batch)[0]

    step_no = [0]

    def step():
        step_no[0] += 1
        loss = loss_fn(model, task.batch(step_no[0]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0)
        opt.step()

    for _ in range(12):  # fill the window so observe() is the steady-state cost
        step()
        monitor.observe(step_no[0], lr=cfg.lr)
    pairs = [(sample(512), sample(512)) for _ in range(5)]
    cases = {
        "step": step,
        "monitor": lambda: monitor.observe(step_no[0] + 1, lr=cfg.lr),
        "weight_norm": lambda: _weight_norm(model),
        "evaluation": lambda: task.evaluate(model),
        "commutator": lambda: commutator_probe(model, loss_fn, pairs),
    }
    if args.llc:
        from spectral_edge.reproduce.llc import CALIBRATED, llc_at

        cases["llc"] = lambda: llc_at(model, loss_fn, task.train, **CALIBRATED)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            if name == "monitor":
                step_no[0] += 1
    med = {k: statistics.median(v) for k, v in times.items()}
    unit = med["step"]
    print(f"{'signal':<12} {'ms':>10} {'x step':>8} {'per step at every 100':>22}")
    for name, t in med.items():
        print(f"{name:<12} {t * 1e3:>10.2f} {t / unit:>8.2f} {t / unit / 100:>22.4f}")
    if args.json:
        out = {"threads": args.threads, "repeats": args.repeats, "median_s": med}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
