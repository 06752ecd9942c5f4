"""The first observes of an exact monitor at P = 1.24e8: the Gram buffer zero-filled (the code
before this benchmark was written) against allocated uninitialised (the current code).

    python benchmarks/first_push.py empty     # as the library does it
    python benchmarks/first_push.py zeros     # torch.empty replaced by torch.zeros in core.gram

Prints the time of observes 1 (baseline θ_0), 2 (first push: allocates the (W + 1)·P buffer),
3 and 4. Run each variant in its own process, alternating, and compare.
"""

from __future__ import annotations

import argparse
import time
import types

import torch
from bench_observe import Flat, step

import spectral_edge.core.gram as gram
from spectral_edge import SpectralMonitor


def main(argv=None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["empty", "zeros"])
    parser.add_argument("--params", type=float, default=1.24e8)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args(argv)
    if args.variant == "zeros":
        gram.torch = types.SimpleNamespace(**{**vars(torch), "empty": torch.zeros})
    torch.manual_seed(0)
    model = Flat(int(args.params))
    monitor = SpectralMonitor(model, window=args.window, phases=False, warning=False)
    times = []
    for _ in range(4):
        step(model)
        start = time.perf_counter()
        monitor.observe()
        times.append(time.perf_counter() - start)
    shown = " ".join(f"{t * 1e3:.0f}" for t in times)
    setting = f"P = {args.params:.3g}, W = {args.window}"
    print(f"{args.variant}: observes 1-4 took {shown} ms ({setting})")
    return times


if __name__ == "__main__":
    main()
