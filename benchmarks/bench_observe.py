"""Cost of one SpectralMonitor.observe() as a ratio to reading the parameters once.

For each P the same process times, side by side:

* floor: one read of P floats (``sum`` over every parameter), the least any monitor must do;
* exact: observe() on the exact path (new Gram row, W + 1 inner products);
* sketch: observe() with a fold sketch of dimension d;
* naive: ``torch.linalg.svdvals`` of the W×P window, the way without a rolling Gram;
* exact_f32 (``--compare-float32``): the exact path with the Gram row as it was before issue 13
  (float32 chunk products, benchmarks/float32_gram.py), to measure a change side by side;

and reports medians as multiples of the floor, plus the memory each path holds (its buffers) and
the process's peak resident memory. The monitors watch one model and are timed in rotating
order, one observe each per round, so a slow minute of a noisy machine hits every path alike.
Ratios are what to trust: the machines are noisy.

    python benchmarks/bench_observe.py                      # P = 1e5 .. 5e7 on the CPU
    python benchmarks/bench_observe.py --sizes 1e6 1e7 --compare-float32 --repeats 15
    python benchmarks/bench_observe.py --sizes 1e6 --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time

import torch
from float32_gram import Float32ChunkGram

import spectral_edge
from spectral_edge import SpectralMonitor


class Flat(torch.nn.Module):
    """A model whose parameters are a few large tensors adding up to P."""

    def __init__(self, n_params: int, pieces: int = 4):
        super().__init__()
        sizes = [n_params // pieces] * (pieces - 1)
        sizes.append(n_params - sum(sizes))
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(s) * 0.02) for s in sizes
        )


def timed(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step(model: Flat, scale: float = 1e-3) -> None:
    with torch.no_grad():
        for p in model.weights:
            p.mul_(1 - scale).add_(scale)


def bench_size(n_params, window, sketch_dim, repeats, device, naive, pieces=4, f32=False):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = Flat(n_params, pieces).to(device)
    floor = timed(lambda: [p.sum() for p in model.weights], repeats, sync)
    row = {"P": n_params, "floor_ms": floor * 1e3}
    paths = {"exact": None, "sketch": sketch_dim} | ({"exact_f32": None} if f32 else {})
    monitors = {}
    for name, dim in paths.items():
        monitors[name] = SpectralMonitor(model, window=window, sketch_dim=dim)
        if name == "exact_f32":
            monitors[name].gram = Float32ChunkGram(window)
    for _ in range(window + 2):  # fill the windows so every push pays the full price
        step(model)
        for monitor in monitors.values():
            monitor.observe()
    times = {name: [] for name in monitors}
    step_only = []
    for r in range(repeats):
        order = list(monitors)[r % len(monitors) :] + list(monitors)[: r % len(monitors)]
        for name in order:
            sync()
            start = time.perf_counter()
            step(model)
            monitors[name].observe()
            sync()
            times[name].append(time.perf_counter() - start)
        step_only.append(timed(lambda: step(model), 1, sync))
    step_ms = statistics.median(step_only)
    for name, monitor in monitors.items():
        row[f"{name}_x_floor"] = (statistics.median(times[name]) - step_ms) / floor
        state = monitor.state_dict()
        held = state["gram"]["buffer"].numel() * state["gram"]["buffer"].element_size()
        previous = state["previous"]
        held += previous.numel() * previous.element_size() if hasattr(previous, "numel") else 0
        row[f"{name}_held_MB"] = held / 2**20
    del monitors, state
    if naive:
        x = torch.randn(window, n_params, device=device)
        row["naive_x_floor"] = timed(lambda: torch.linalg.svdvals(x), 2, sync) / floor
        del x
    row["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7, 5e7])
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--sketch-dim", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pieces", type=int, default=4, help="parameter tensors in the model")
    parser.add_argument("--no-naive", action="store_true", help="skip the SVD of the window")
    parser.add_argument(
        "--compare-float32",
        action="store_true",
        help="also time the exact path with the pre-issue-13 float32 Gram row (exact_f32)",
    )
    parser.add_argument("--json", help="also write the rows and the environment here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    header = (
        f"{'P':>10} {'floor ms':>9} {'exact x':>8} {'sketch x':>9} {'naive x':>8} "
        f"{'exact MB':>9} {'sketch MB':>9} {'peak RSS MB':>11}"
        + (f" {'exact_f32 x':>11} {'exact/f32':>9}" if args.compare_float32 else "")
    )
    print(
        f"W={args.window} d={args.sketch_dim} device={device} pieces={args.pieces} "
        f"threads={torch.get_num_threads()}"
    )
    print(header)
    for size in args.sizes:
        row = bench_size(
            int(size),
            args.window,
            args.sketch_dim,
            args.repeats,
            device,
            naive=not args.no_naive,
            pieces=args.pieces,
            f32=args.compare_float32,
        )
        rows.append(row)
        print(
            f"{row['P']:>10.0e} {row['floor_ms']:>9.2f} {row['exact_x_floor']:>8.1f} "
            f"{row['sketch_x_floor']:>9.1f} {row.get('naive_x_floor', float('nan')):>8.0f} "
            f"{row['exact_held_MB']:>9.1f} {row['sketch_held_MB']:>9.3f} "
            f"{row['peak_rss_MB']:>11.0f}"
            + (
                f" {row['exact_f32_x_floor']:>11.1f} "
                f"{row['exact_x_floor'] / row['exact_f32_x_floor']:>9.3f}"
                if args.compare_float32
                else ""
            ),
            flush=True,
        )
    if args.json:
        env = {
            "spectral_edge": spectral_edge.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "cuda_name": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "args": vars(args),
        }
        with open(args.json, "w") as fh:
            json.dump({"environment": env, "rows": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
