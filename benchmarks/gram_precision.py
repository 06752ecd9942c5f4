"""Precision and cost of the exact Gram on float32 updates: the library against the old float32 row.

For each P and planted spectrum (tests/core/test_gram_precision.py: W = 10 float32 rows
Q·diag(s)·V with V orthonormal and dense), pushes the window into

* new: ``RollingGram`` (float64 products and sums, ``core/gram.py``), and
* old: the Gram row as it was before issue 13 (float32 chunk products summed in float64,
  benchmarks/float32_gram.py),

and reports max_j |σ_j − σ_j,ref|/σ_1 against a float64 SVD of the same float32 rows, and the
median time of pushing the W rows (old and new in rotating order, one process).

    python benchmarks/gram_precision.py                       # P = 3e4, 1e6, 1e7
    python benchmarks/gram_precision.py --sizes 1.2e8 --spectra near_null --repeats 1
    python benchmarks/gram_precision.py --old-chunk 4096      # the old row with smaller chunks
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import float32_gram
import torch
from float32_gram import Float32ChunkGram

from spectral_edge import RollingGram, spectrum

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
from test_gram_precision import SPECTRA, W, planted, svd64  # noqa: E402

PATHS = {"new": RollingGram, "old": Float32ChunkGram}


def push_all(cls, x: torch.Tensor):
    rg = cls(W)
    for row in x:
        rg.push(row)
    return rg


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[3e4, 1e6, 1e7])
    parser.add_argument("--spectra", nargs="+", default=list(SPECTRA), choices=list(SPECTRA))
    parser.add_argument("--repeats", type=int, default=3, help="timed pushes of the window")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--old-chunk", type=int, default=None, help="chunk of the old float32 row (2^16)"
    )
    args = parser.parse_args(argv)
    if args.old_chunk:
        float32_gram.OLD_CHUNK = args.old_chunk
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"W={W} threads={torch.get_num_threads()} torch={torch.__version__} "
        f"old chunk={float32_gram.OLD_CHUNK}"
    )
    print(
        f"{'P':>10} {'spectrum':>16} {'new err/σ1':>11} {'old err/σ1':>11} "
        f"{'new ms':>9} {'old ms':>9} {'new/old':>8}"
    )
    for size in args.sizes:
        p = int(size)
        for name in args.spectra:
            x = planted(p, SPECTRA[name], seed=p % 97)
            ref = svd64(x)
            err, times = {}, {k: [] for k in PATHS}
            for r in range(args.repeats):
                for key in list(PATHS)[r % 2 :] + list(PATHS)[: r % 2]:
                    start = time.perf_counter()
                    rg = push_all(PATHS[key], x)
                    times[key].append(time.perf_counter() - start)
                    sigma = spectrum(rg.gram(), n_params=p).sigma
                    err[key] = float(abs(sigma - ref).max() / ref[0])
                    del rg
            ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            print(
                f"{p:>10.1e} {name:>16} {err['new']:>11.1e} {err['old']:>11.1e} "
                f"{ms['new']:>9.1f} {ms['old']:>9.1f} {ms['new'] / ms['old']:>8.2f}",
                flush=True,
            )
            del x


if __name__ == "__main__":
    main()
