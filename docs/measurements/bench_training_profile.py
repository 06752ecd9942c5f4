"""Stages of observe() at GPT-2 124M scale on the CPU, and the old code against the new.

    PYTHONPATH=src python docs/measurements/bench_training_profile.py [--repeats 7]

Part 1 times each stage of the old code alone, as one pass over every parameter (medians):
the exact path's torch.sub into the free slot, the copy into θ_{t−1}, torch.mv per parameter and
its float64 conversion; the sketch's grouping (torch.cat), product with the sign table, neg_ and
float64 column sum.

Part 2 interleaves, on one monitor per path and the same parameter updates, observe() with the
code as it was at commit a01d1bc ("old", copied below and patched in) and as it is now ("new"),
and measures the error of each exact Gram row against a float64 reference, relative to
‖δ_new‖·‖δ_i‖ (the Cauchy–Schwarz scale).

Part 3 (``--chunks``): the error and time of float32 torch.mv partial products summed in float64,
by chunk size, on 11 correlated rows the size of GPT-2's token embedding (38,597,376).
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import numpy as np
import torch

from spectral_edge import SpectralMonitor
from spectral_edge.core import gram as gram_module
from spectral_edge.lab.models import build_gpt

# -- the old code (a01d1bc), patched onto a monitor ------------------------------------------


def old_accumulate_inner(self, start, stop):
    free = self._free_slot()
    part = torch.mv(self._buffer[:, start:stop], self._buffer[free, start:stop])
    if self._partial is None:
        self._partial = []
    self._partial.append(part.to(torch.float64))  # one float32 dot product per parameter


def old_push_exact(self, gram, pieces):  # a method of the monitor's UpdateStream now
    previous = self.previous
    row = gram.stage(previous.numel(), previous.dtype, previous.device)
    start = 0
    for _, flat in pieces:
        stop = start + flat.numel()
        flat = flat.to(previous.device)
        torch.sub(flat, previous[start:stop], out=row[start:stop])
        previous[start:stop].copy_(flat)
        gram.accumulate_inner(start, stop)
        start = stop
    return gram.commit()


def old_grouped(pieces, target):
    run, run_start, run_size = [], 0, 0
    for offset, flat in pieces:
        flat = flat.detach().reshape(-1)
        contiguous = run and offset == run_start + run_size and flat.device == run[0].device
        if run and (not contiguous or flat.dtype != run[0].dtype or run_size >= target):
            yield run_start, run[0] if len(run) == 1 else torch.cat(run)
            run = []
        if flat.numel() >= target:
            yield offset, flat
            continue
        if not run:
            run_start, run_size = offset, 0
        run.append(flat)
        run_size += flat.numel()
    if run:
        yield run_start, run[0] if len(run) == 1 else torch.cat(run)


def old_accumulate(self, out, flat, offset):
    table = self._table_for(flat.dtype, flat.device)
    d, n, pos = self.dim, flat.numel(), 0
    while pos < n:
        b, k = divmod(offset + pos, self.block)
        take = min(n - pos, self.block - k)
        start, sign = self._block_params(b)
        prod = flat[pos : pos + take] * table[start + k : start + k + take]
        if sign < 0:
            prod.neg_()
        head = min((-k) % d, take)
        body = (take - head) // d * d
        if head:
            out[k % d : k % d + head] += prod[:head]
        if body:
            out += prod[head : head + body].view(-1, d).sum(0, dtype=torch.float64)
        tail = take - head - body
        if tail:
            out[:tail] += prod[head + body :]
        pos += take


def old_apply_pieces(self, pieces, device=None):
    out = torch.zeros(self.dim, dtype=torch.float64, device=device)
    for offset, flat in old_grouped(pieces, 1 << 20):
        old_accumulate(self, out, flat, offset)
    return out.cpu().numpy()


class Patched:
    """Swap a monitor's hot methods for the old ones while inside the block."""

    def __init__(self, monitor, old: bool):
        self.monitor, self.old = monitor, old

    def __enter__(self):
        m = self.monitor
        if self.old:
            if m.sketcher is None:
                m.updates._push_exact = types.MethodType(old_push_exact, m.updates)
                m.gram.accumulate_inner = types.MethodType(old_accumulate_inner, m.gram)
            else:
                m.sketcher.apply_pieces = types.MethodType(old_apply_pieces, m.sketcher)
        return m

    def __exit__(self, *exc):
        for obj, name in (
            (self.monitor.updates, "_push_exact"),
            (self.monitor.gram, "accumulate_inner"),
            (self.monitor.sketcher, "apply_pieces"),
        ):
            if obj is not None and name in vars(obj):
                delattr(obj, name)


# -- helpers ---------------------------------------------------------------------------------


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def reference_row(gram) -> np.ndarray:
    """⟨δ_new, δ_i⟩ for every slot in float64, chunk by chunk."""
    buf, new = gram._buffer, gram._order[-1]
    out = torch.zeros(buf.shape[0], dtype=torch.float64)
    for a in range(0, buf.shape[1], 1 << 22):
        block = buf[:, a : a + (1 << 22)].double()
        out += block @ block[new]
    return out.numpy()


def row_error(gram) -> float:
    new = gram._order[-1]
    ref = reference_row(gram)
    got = gram._inner[new]
    scale = np.sqrt(np.abs(ref[new]) * np.abs(np.diag(gram._inner)))
    used = gram._order + [s for s in gram._union if s not in gram._order]
    return float(max(abs(got[s] - ref[s]) / scale[s] for s in used))


def chunk_sweep(repeats: int) -> None:
    torch.manual_seed(0)
    n, slots = 38_597_376, 11
    rows = torch.randn(slots, n) * 1e-4 + 0.5e-4 * torch.randn(n)  # correlated, like updates
    vec = rows[3]
    ref = torch.zeros(slots, dtype=torch.float64)
    for a in range(0, n, 1 << 22):
        block = rows[:, a : a + (1 << 22)].double()
        ref += block @ block[3]
    norms = torch.zeros(slots, dtype=torch.float64)
    for a in range(0, n, 1 << 22):
        norms += rows[:, a : a + (1 << 22)].double().pow(2).sum(1)
    scale = (norms * norms[3]).sqrt().numpy()
    ref = ref.numpy()
    print(f"\n{'chunk':>10} {'median ms':>10} {'max err / (|a| |b|)':>20}")
    for chunk in (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, n):
        got = gram_module.chunked_inner(rows, vec, chunk)
        ms = median_ms(lambda chunk=chunk: gram_module.chunked_inner(rows, vec, chunk), repeats)
        err = float(np.max(np.abs(got - ref) / scale))
        label = "whole" if chunk == n else f"2^{chunk.bit_length() - 1}"
        print(f"{label:>10} {ms:>10.1f} {err:>20.2e}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--chunks", action="store_true", help="only part 3, the chunk sweep")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.chunks:
        chunk_sweep(args.repeats)
        return
    torch.manual_seed(0)
    model = build_gpt("gpt2-124m")
    params = [p.detach() for _, p in sorted(model.named_parameters())]
    flats = [p.reshape(-1) for p in params]
    n = sum(f.numel() for f in flats)
    print(f"GPT-2 124M shape, P = {n:,}, {len(flats)} tensors, threads {torch.get_num_threads()}")

    def bump():
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn_like(p), alpha=1e-4)

    # Part 1: stages of the old code, one pass over all parameters each.
    slots = torch.randn(11, n)
    previous = torch.randn(n)
    offsets = np.cumsum([0] + [f.numel() for f in flats])

    def over_pieces(op):
        def run():
            for f, a, b in zip(flats, offsets[:-1], offsets[1:], strict=True):
                op(f, int(a), int(b))

        return run

    free = slots[3]
    stages = {
        "floor (sum of each parameter)": over_pieces(lambda f, a, b: f.sum()),
        "exact: torch.sub into the slot": over_pieces(
            lambda f, a, b: torch.sub(f, previous[a:b], out=free[a:b])
        ),
        "exact: copy into previous": over_pieces(lambda f, a, b: previous[a:b].copy_(f)),
        "exact: torch.mv per parameter (old)": over_pieces(
            lambda f, a, b: torch.mv(slots[:, a:b], free[a:b])
        ),
        "exact: float64 conversion of the rows": over_pieces(
            lambda f, a, b: torch.zeros(11).to(torch.float64)
        ),
        "exact: torch.mv in 2^16 chunks (new)": lambda: gram_module.chunked_inner(
            slots, free, 1 << 16
        ),
    }
    from spectral_edge.core.sketch import make_sketch

    sk = make_sketch("fold", 1024, 0)
    pieces = list(zip(offsets[:-1].tolist(), flats, strict=True))
    grouped = list(old_grouped(pieces, 1 << 20))
    table = sk._table_for(torch.float32, torch.device("cpu"))
    prods = {}

    def mul_all():
        for off, f in grouped:
            pos = 0
            while pos < f.numel():
                b, k = divmod(off + pos, sk.block)
                take = min(f.numel() - pos, sk.block - k)
                prods[(off, pos)] = f[pos : pos + take] * table[k : k + take]
                pos += take

    mul_all()
    stages.update(
        {
            "sketch: grouping (torch.cat, unchanged)": lambda: list(old_grouped(pieces, 1 << 20)),
            "sketch: product with the sign table": mul_all,
            "sketch: neg_ (old)": lambda: [p.neg_() for p in prods.values()],
            "sketch: float64 column sum of the products (old)": lambda: [
                p[: p.numel() // 1024 * 1024].view(-1, 1024).sum(0, dtype=torch.float64)
                for p in prods.values()
            ],
            "sketch: apply_pieces, old": lambda: old_apply_pieces(sk, pieces),
            "sketch: apply_pieces, new": lambda: sk.apply_pieces(pieces),
        }
    )
    print(f"\n{'stage (one pass over all parameters)':<50} {'median ms':>10}")
    for name, fn in stages.items():
        fn()
        print(f"{name:<50} {median_ms(fn, args.repeats):>10.1f}", flush=True)
    slots = previous = free = None  # noqa: F841  (free the 5.5 GB before part 2)
    prods.clear()

    # Part 2: old against new observe(), interleaved on the same updates.
    results = {}
    for path, dim in (("exact", None), ("sketch", 1024)):
        monitor = SpectralMonitor(model, window=10, sketch_dim=dim, strict=True)
        for _ in range(12):
            bump()
            monitor.observe()
        times = {"old": [], "new": []}
        errors = {"old": [], "new": []}
        for i in range(args.repeats * 2):
            which = ("old", "new")[i % 2] if (i // 2) % 2 == 0 else ("new", "old")[i % 2]
            bump()
            with Patched(monitor, old=which == "old"):
                t = time.perf_counter()
                monitor.observe()
                times[which].append(time.perf_counter() - t)
            if dim is None and i < 4:
                errors[which].append(row_error(monitor.gram))
        for which in ("old", "new"):
            results[(path, which)] = (
                statistics.median(times[which]) * 1e3,
                max(errors[which]) if errors[which] else float("nan"),
            )
        del monitor
    print(
        f"\n{'observe()':<20} {'old ms':>9} {'new ms':>9} {'new/old':>8} "
        f"{'old err':>9} {'new err':>9}"
    )
    for path in ("exact", "sketch"):
        old, new = results[(path, "old")], results[(path, "new")]
        print(
            f"{path:<20} {old[0]:>9.1f} {new[0]:>9.1f} {new[0] / old[0]:>8.2f} "
            f"{old[1]:>9.1e} {new[1]:>9.1e}"
        )


if __name__ == "__main__":
    main()
