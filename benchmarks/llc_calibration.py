"""Calibrate devinterp's SGLD for the LLC on saved weights, and time it beside one monitor snapshot.

For every (run, step) and every combination of the hyper-parameter grid, one
:func:`spectral_edge.reproduce.llc.llc_at` estimate at the run's saved weights, with the
diagnostics devinterp's calibration guidance asks for: the loss trace in segments (it should rise
from L_n(w*) during burn-in and stay flat after it), the drift between the two halves of the draws
(in LLC units: ≈ 0 next to λ̂ when stationary), failed (non-finite) chains, λ̂ > 0 after
memorisation, and the seconds it took. Rows go to ``--out`` (CSV) as they are made, the loss
traces to ``--out`` with ``.npz``.

``--monitor`` also times one :class:`spectral_edge.SpectralMonitor` snapshot (``observe`` at a
snapshot step, the run's own monitor settings) on the same model in the same process, so the
cost of an LLC estimate is reported as a ratio to it.

    python benchmarks/llc_calibration.py /work/runs/cpu cpu/modarith-add-wd-s0 \\
        --steps 0 1000 2000 --lr 3e-6 1e-5 3e-5 --out llc-calibration.csv --monitor
    python benchmarks/llc_calibration.py --from-traces llc-calibration.csv \\
        --chains-list 1 2 --burnin-list 50 100     # cheaper settings, read off those traces

The commands that chose :data:`spectral_edge.reproduce.llc.CALIBRATED` are in
docs/early-warning.md, "The local learning coefficient (LLC): calibration".
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spectral_edge.reproduce.llc import CALIBRATED, _run_task, llc_at, saved_weights


def load_model(task, path):
    model = task.build_model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return model


def task_loss(cfg, task):
    """The trainer's training loss of a batch (the run's own loss_reduction)."""
    return lambda model, batch: task.forward(model, batch, cfg.loss_reduction)[0]


def monitor_snapshot_seconds(cfg, task, model, repeats: int = 20) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one SpectralMonitor.observe at a snapshot step.

    The monitor is filled first (W snapshots), so each timed call pays the full price: flatten
    the watched parameters, difference them, a new Gram row, the window's spectrum and features.
    Between calls the weights move by a small step (not timed), as training would move them.
    """
    from spectral_edge import SpectralMonitor

    monitor = SpectralMonitor(
        model,
        window=cfg.monitor_window,
        every=1,
        params=cfg.monitor_params,
        sketch_dim=cfg.monitor_sketch_dim or None,
        k_star=cfg.monitor_k_star,
    )
    gen = torch.Generator().manual_seed(0)

    def nudge():
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 1e-4)

    for _ in range(cfg.monitor_window + 2):
        nudge()
        monitor.observe(lr=cfg.lr)
    wall, cpu = [], []
    for _ in range(repeats):
        nudge()
        start, start_cpu = time.perf_counter(), time.process_time()
        monitor.observe(lr=cfg.lr)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def from_traces(table: pd.DataFrame, traces, burnins, draws, chains) -> pd.DataFrame:
    """λ̂ of cheaper settings, read off longer chains exactly.

    devinterp seeds chain c with seed + c and gives every chain the same minibatch order, and a
    chain's first k steps do not depend on how long it runs; so the estimate of (C chains,
    burn-in B, D draws) is the first C chains' steps B..B+D−1 of a run with more of each.
    """
    rows = []
    for row, key in zip(table.itertuples(), traces, strict=True):
        trace = traces[key]
        for c, b, d in itertools.product(chains, burnins, draws):
            if c > trace.shape[0] or b + d > trace.shape[1]:
                continue
            kept = trace[:c, b : b + d]  # (chains, draws)
            per_chain = row.n_beta * (kept.mean(axis=1) - row.init_loss)
            rows.append(
                {
                    "run": row.run,
                    "step": row.step,
                    "lr": row.lr,
                    "localization": row.localization,
                    "chains": c,
                    "burnin": b,
                    "draws": d,
                    "steps": c * (b + d),
                    "llc": per_chain.mean(),
                    "llc_se": per_chain.std(ddof=1) / np.sqrt(c) if c > 1 else np.nan,
                    "drift": row.n_beta * (kept[:, d // 2 :].mean() - kept[:, : d // 2].mean()),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--steps", nargs="+", type=int, help="saved steps (default: all)")
    parser.add_argument("--lr", nargs="+", type=float, default=[CALIBRATED["lr"]])
    parser.add_argument(
        "--n-beta", nargs="+", default=["n"], help="'n' (n/log n), 'm' (m/log m) or a number"
    )
    parser.add_argument(
        "--localization", nargs="+", type=float, default=[CALIBRATED["localization"]]
    )
    parser.add_argument("--batch-size", nargs="+", type=int, default=[CALIBRATED["batch_size"]])
    parser.add_argument("--chains", type=int, default=CALIBRATED["num_chains"])
    parser.add_argument("--draws", type=int, default=CALIBRATED["num_draws"])
    parser.add_argument("--burnin", type=int, default=CALIBRATED["num_burnin"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--segments", type=int, default=6, help="trace segments printed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--monitor", action="store_true", help="time one monitor snapshot too")
    parser.add_argument("--out", help="CSV of the estimates (traces beside it, .npz)")
    parser.add_argument(
        "--from-traces",
        metavar="CSV",
        help="estimate nothing: read the cheaper settings --chains-list × --burnin-list × "
        "--draws-list off this earlier --out (and its .npz)",
    )
    parser.add_argument("--chains-list", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--burnin-list", nargs="+", type=int, default=[50, 100, 150, 200])
    parser.add_argument("--draws-list", nargs="+", type=int, default=[50, 100])
    args = parser.parse_args(argv)
    if args.from_traces:
        return summarize(args.from_traces, args.burnin_list, args.draws_list, args.chains_list)
    if not args.run_dir or not args.runs:
        parser.error("give RUN_DIR and at least one RUN (or --from-traces CSV)")
    torch.set_num_threads(args.threads)

    rows, traces = [], {}
    for run in args.runs:
        cfg, task = _run_task(args.run_dir, run)
        n = len(task.train[0])
        weights = dict(saved_weights(args.run_dir, run))
        steps = args.steps if args.steps else sorted(weights)
        for step in steps:
            if step not in weights:
                print(f"[{run}] no weights at step {step}; skipped", flush=True)
                continue
            model = load_model(task, weights[step])
            with torch.no_grad():
                evaluated = task.evaluate(model)
            grid = itertools.product(args.lr, args.n_beta, args.localization, args.batch_size)
            for lr, nb, gamma, bs in grid:
                n_beta = None if nb == "n" else (bs / np.log(bs) if nb == "m" else float(nb))
                est = llc_at(
                    model,
                    task_loss(cfg, task),
                    task.train,
                    lr=lr,
                    n_beta=n_beta,
                    localization=gamma,
                    num_chains=args.chains,
                    num_draws=args.draws,
                    num_burnin=args.burnin,
                    batch_size=bs,
                    seed=args.seed,
                )
                trace = est.loss_trace.mean(axis=0)
                segs = np.array_split(trace, args.segments)
                row = {
                    "run": run,
                    "step": step,
                    "train_acc": evaluated["train_acc"],
                    "test_acc": evaluated["test_acc"],
                    "n": n,
                    **{k: est.hyperparameters[k] for k in ("lr", "n_beta", "localization")},
                    "batch_size": bs,
                    "chains": args.chains,
                    "draws": args.draws,
                    "burnin": args.burnin,
                    **est.summary(),
                    "trace_max": float(est.loss_trace.max()),
                    "segments": " ".join(f"{s.mean():.4g}" for s in segs),
                }
                rows.append(row)
                traces[f"{run}|{step}|{lr}|{nb}|{gamma}|{bs}"] = est.loss_trace
                print(
                    f"[{run} @{step} acc {evaluated['train_acc']:.2f}/{evaluated['test_acc']:.2f}]"
                    f" lr {lr:g} nβ {est.hyperparameters['n_beta']:.0f} γ {gamma:g} m {bs}: "
                    f"llc {est.llc:.2f} ± {est.llc_se:.2f} drift {est.drift:+.2f} "
                    f"L0 {est.init_loss:.4f} trace [{row['segments']}] "
                    f"{est.seconds:.1f} s ({est.cpu_seconds:.1f} cpu)",
                    flush=True,
                )
                if args.out:
                    pd.DataFrame(rows).to_csv(args.out, index=False)
            if args.monitor:
                wall, cpu = monitor_snapshot_seconds(cfg, task, model)
                rows[-1]["monitor_snapshot_seconds"] = wall
                rows[-1]["monitor_snapshot_cpu_seconds"] = cpu
                print(
                    f"[{run} @{step}] one monitor snapshot {wall * 1e3:.2f} ms "
                    f"({cpu * 1e3:.2f} ms cpu)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
        np.savez_compressed(Path(args.out).with_suffix(".npz"), **traces)
    if args.monitor and len(table):
        cost = table[["seconds", "cpu_seconds"]].median()
        snap = table[["monitor_snapshot_seconds", "monitor_snapshot_cpu_seconds"]].median()
        print(
            f"median LLC estimate {cost.seconds:.1f} s ({cost.cpu_seconds:.1f} s cpu) over "
            f"{len(table)} estimates; one monitor snapshot {snap.iloc[0] * 1e3:.2f} ms "
            f"({snap.iloc[1] * 1e3:.2f} ms cpu): an estimate costs "
            f"{cost.seconds / snap.iloc[0]:.0f}× a snapshot "
            f"({cost.cpu_seconds / snap.iloc[1]:.0f}× in cpu time)"
        )
    return table


def summarize(csv: str, burnins, draws, chains) -> pd.DataFrame:
    """--from-traces: cheaper settings read off a calibration run's saved traces."""
    table = pd.read_csv(csv)
    with np.load(Path(csv).with_suffix(".npz")) as npz:
        traces = {k: npz[k] for k in npz.files}
    out = from_traces(table, traces, burnins, draws, chains)
    print(out.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return out


if __name__ == "__main__":
    main()
