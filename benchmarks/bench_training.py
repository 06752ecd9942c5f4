"""Cost of SpectralMonitor.observe() against real training steps, and the memory it holds.

Timing mode (the default). For each model, in one process and one loop: an AdamW training step
on a random token batch (the unmonitored step), then, right after it and in rotating order,

* exact: ``observe()`` of a monitor on the exact path (new Gram row, W + 1 inner products);
* sketch: ``observe()`` of a monitor with a fold sketch of dimension d;
* floor: one read of every parameter (``p.sum()`` for each), the least any monitor must do.

Both monitors watch the same model, so each sees the real update of every step. The windows are
filled first (W + 2 observes: a baseline, then W + 1 updates, so every timed observe pushes into
a full window and computes the union features). Reported: medians of each, the observe/step and
observe/floor ratios (ratios of the medians), the bytes each monitor holds, and the process's RSS.

Memory mode (``--memory``). In a fresh subprocess per (P, path), a model of P flat parameters:
RSS before and after creating the monitor and after W + 2 observes, and the peak RSS
(``resource.getrusage``). The exact path should grow by ≈ (W + 2)·P·4 bytes (W + 1 slots and
θ_{t−1}); the sketch path by a constant (its sign table and W + 1 sketched updates).

    python benchmarks/bench_training.py                          # gpt2-124m + two lab models
    python benchmarks/bench_training.py --models small:16x256 --repeats 5
    python benchmarks/bench_training.py --memory --sizes 1e6 1e7 1.24e8
    python benchmarks/bench_training.py --device cuda --json out.json   # CUDA-event timing

A model is ``NAME[:BATCHxSEQ]`` (``modular-transformer:512``: batch only, the sequence is
[a, b, =]). On CUDA every time comes from CUDA events around the call after a synchronize (the
CUDA path has not been run on a GPU yet). Ratios are what to trust: the machines are noisy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

import spectral_edge
from spectral_edge import SpectralMonitor
from spectral_edge.lab.models import build_model, count_parameters

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_observe import Flat  # noqa: E402  (the same flat model as the observe benchmark)

DEFAULT_MODELS = ["gpt2-124m:4x256", "small:16x256", "modular-transformer:512"]
PATHS = ("exact", "sketch")
SEED = 0


# -- measuring -------------------------------------------------------------------------------


def timed(fn, device: torch.device) -> float:
    """Seconds one call of ``fn`` takes: CUDA events on a GPU, perf_counter on the CPU."""
    if device.type == "cuda":
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports kB


def held_bytes(monitor: SpectralMonitor) -> dict:
    """What a monitor holds: its W + 1 slots, θ_{t−1} or S(θ_{t−1}), and the sketch's table."""
    buffer = monitor.gram._buffer
    held = 0 if buffer is None else buffer.numel() * buffer.element_size()
    previous = monitor.updates.previous
    if isinstance(previous, torch.Tensor):
        held += previous.numel() * previous.element_size()
    elif previous is not None:
        held += previous.nbytes
    table = 0
    if monitor.sketcher is not None:
        table = getattr(monitor.sketcher, "_table", None)
        table = 0 if table is None else table.nbytes
    return {"held_bytes": held, "table_bytes": table}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- workloads -------------------------------------------------------------------------------


def parse_model(spec: str) -> tuple[str, int | None, int | None]:
    """``NAME[:BATCH[xSEQ]]`` -> (name, batch, seq); None where not given."""
    name, _, shape = spec.partition(":")
    if not shape:
        return name, None, None
    batch, _, seq = shape.lower().partition("x")
    return name, int(batch), int(seq) if seq else None


def make_workload(spec: str, device: torch.device, seed: int = SEED):
    """(model, step function, description) for one model spec; the step draws a fresh batch."""
    name, batch, seq = parse_model(spec)
    torch.manual_seed(seed)
    model = build_model(name).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator().manual_seed(seed + 1)
    if name == "modular-transformer":
        p = model.n_classes
        batch, seq = batch or 512, 3

        def draw():
            ab = torch.randint(0, p, (batch, 2), generator=gen)
            x = torch.cat([ab, torch.full((batch, 1), p)], 1)
            return x.to(device), ((ab[:, 0] + ab[:, 1]) % p).to(device)

    elif hasattr(model, "config") and hasattr(model.config, "vocab_size"):  # a GPT
        vocab, block = model.config.vocab_size, model.config.block_size
        batch, seq = batch or 4, min(seq or 256, block)

        def draw():
            tokens = torch.randint(0, vocab, (batch, seq + 1), generator=gen).to(device)
            return tokens[:, :-1], tokens[:, 1:]

    else:
        raise SystemExit(f"no workload for model {name!r}: use a GPT or modular-transformer")

    def step(inputs, targets):
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, -2).float(), targets.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    info = {"model": name, "batch": batch, "seq": seq, "n_params": count_parameters(model)}
    return model, step, draw, info


# -- timing mode -----------------------------------------------------------------------------


def bench_model(spec: str, args, device: torch.device) -> dict:
    model, step, draw, info = make_workload(spec, device)
    params = [p.detach() for p in model.parameters()]
    print(
        f"# {info['model']}: P = {info['n_params']:,} ({info['n_params']:.3g}), "
        f"batch {info['batch']} x seq {info['seq']}",
        flush=True,
    )
    for _ in range(args.warmup):
        step(*draw())
    rss_before = rss_bytes()
    monitors = {}
    if "exact" in args.paths:
        monitors["exact"] = SpectralMonitor(model, window=args.window, strict=True)
    if "sketch" in args.paths:
        monitors["sketch"] = SpectralMonitor(
            model, window=args.window, sketch_dim=args.sketch_dim, seed=args.seed, strict=True
        )
    begin = time.perf_counter()
    for _ in range(args.window + 2):  # baseline + W + 1 pushes: full window, union available
        step(*draw())
        for monitor in monitors.values():
            monitor.observe()
    fill_s = time.perf_counter() - begin
    print(f"#   windows filled in {fill_s:.0f} s; timing {args.repeats} steps", flush=True)
    for name, monitor in monitors.items():
        if monitor.gram.size != args.window or monitor.gram.union_gram() is None:
            raise RuntimeError(f"the {name} window did not fill")
    rss_after_fill = rss_bytes()

    def floor():
        return [p.sum() for p in params]

    jobs = {**{k: m.observe for k, m in monitors.items()}, "floor": floor}
    times: dict[str, list[float]] = {"step": [], **{k: [] for k in jobs}}
    order = list(jobs)
    for i in range(args.repeats):
        batch = draw()
        times["step"].append(timed(lambda batch=batch: step(*batch), device))
        for k in order[i % len(order) :] + order[: i % len(order)]:  # rotate who goes first
            times[k].append(timed(jobs[k], device))
    row = {
        **info,
        "spec": spec,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "window": args.window,
        "sketch_dim": args.sketch_dim,
        "repeats": args.repeats,
        "fill_s": fill_s,
        "times_s": times,
    }
    for k, values in times.items():
        row[f"{k}_ms"] = statistics.median(values) * 1e3
    for k in monitors:
        row[f"{k}_over_step"] = row[f"{k}_ms"] / row["step_ms"]
        row[f"{k}_over_floor"] = row[f"{k}_ms"] / row["floor_ms"]
        held = held_bytes(monitors[k])
        row[f"{k}_held_bytes"] = held["held_bytes"]
        row[f"{k}_table_bytes"] = held["table_bytes"]
    row["rss_before_monitors_bytes"] = rss_before
    row["rss_after_fill_bytes"] = rss_after_fill
    row["peak_rss_bytes"] = peak_rss_bytes()
    del monitors, jobs, model
    return row


def _fmt(row: dict, key: str, spec: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


def print_timing(rows: list[dict]) -> None:
    print(
        f"{'model':<20} {'P':>11} {'BxT':>8} {'step ms':>9} {'exact ms':>9} {'sketch ms':>9} "
        f"{'floor ms':>8} {'exact/step':>10} {'sketch/step':>11} {'exact/floor':>11} "
        f"{'sketch/floor':>12} {'exact MB':>9} {'sketch MB':>9}"
    )
    for r in rows:
        mb = {k: r.get(f"{k}_held_bytes") for k in PATHS}
        print(
            f"{r['model']:<20} {r['n_params']:>11,} {r['batch']:>4}x{r['seq']:<3} "
            f"{r['step_ms']:>9.1f} {_fmt(r, 'exact_ms', '9.1f'):>9} "
            f"{_fmt(r, 'sketch_ms', '9.1f'):>9} {r['floor_ms']:>8.2f} "
            f"{_fmt(r, 'exact_over_step', '10.1%'):>10} "
            f"{_fmt(r, 'sketch_over_step', '11.1%'):>11} "
            f"{_fmt(r, 'exact_over_floor', '10.1f'):>10}x "
            f"{_fmt(r, 'sketch_over_floor', '11.1f'):>11}x "
            f"{'-' if mb['exact'] is None else format(mb['exact'] / 2**20, '9.1f'):>9} "
            f"{'-' if mb['sketch'] is None else format(mb['sketch'] / 2**20, '9.3f'):>9}",
            flush=True,
        )


# -- memory mode -----------------------------------------------------------------------------


def memory_child(n_params: int, path: str, window: int, sketch_dim: int, seed: int) -> dict:
    """One (P, path) measurement; meant to run alone in a fresh process."""
    torch.manual_seed(seed)
    dim = None if path == "exact" else sketch_dim
    # Import and warm every code path on a tiny model first: the first observe() loads the
    # spectrum and dynamics modules, which would otherwise count as the monitor's memory.
    warm, tiny = SpectralMonitor(Flat(1000), window=window, sketch_dim=dim, seed=seed), Flat(1000)
    warm.model = tiny
    for _ in range(window + 2):
        with torch.no_grad():
            for p in tiny.weights:
                p.add_(torch.randn_like(p))
        warm.observe()
    del warm, tiny
    model = Flat(n_params)
    rss_model = rss_bytes()
    peak_model = peak_rss_bytes()
    monitor = SpectralMonitor(model, window=window, sketch_dim=dim, seed=seed, strict=True)
    rss_created = rss_bytes()
    for _ in range(window + 2):
        with torch.no_grad():
            for p in model.weights:
                p.mul_(0.999).add_(1e-3)
        monitor.observe()
    rss_used = rss_bytes()
    held = held_bytes(monitor)
    return {
        "P": n_params,
        "path": path,
        "window": window,
        "sketch_dim": dim,
        "rss_model_bytes": rss_model,
        "rss_created_bytes": rss_created,
        "rss_used_bytes": rss_used,
        "rss_growth_bytes": rss_used - rss_model,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_before_monitor_bytes": peak_model,
        "expected_exact_bytes": (window + 2) * n_params * 4,
        **held,
    }


def run_memory(args) -> list[dict]:
    rows = []
    for size in args.sizes:
        for path in args.paths:
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--memory-child",
                str(int(size)),
                path,
                "--window",
                str(args.window),
                "--sketch-dim",
                str(args.sketch_dim),
                "--seed",
                str(args.seed),
                "--threads",
                str(args.threads),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print_memory_row(rows[-1])
    return rows


def print_memory_header() -> None:
    print(
        f"{'P':>11} {'path':>6} {'held MB':>9} {'table MB':>8} {'RSS model MB':>12} "
        f"{'+create MB':>10} {'+use MB':>9} {'growth MB':>9} {'(W+2)P*4 MB':>11} "
        f"{'growth/expected':>15} {'peak RSS MB':>11}"
    )


def print_memory_row(r: dict) -> None:
    mb = 2**20
    expected = r["expected_exact_bytes"]
    ratio = format(r["rss_growth_bytes"] / expected, ".3f") if r["path"] == "exact" else "-"
    print(
        f"{r['P']:>11.3g} {r['path']:>6} {r['held_bytes'] / mb:>9.3f} "
        f"{r['table_bytes'] / mb:>8.1f} {r['rss_model_bytes'] / mb:>12.0f} "
        f"{(r['rss_created_bytes'] - r['rss_model_bytes']) / mb:>10.1f} "
        f"{(r['rss_used_bytes'] - r['rss_created_bytes']) / mb:>9.1f} "
        f"{r['rss_growth_bytes'] / mb:>9.1f} {expected / mb:>11.1f} "
        f"{ratio:>15} {r['peak_rss_bytes'] / mb:>11.0f}",
        flush=True,
    )


# -- entry -----------------------------------------------------------------------------------


def environment(args, device: torch.device) -> dict:
    return {
        "spectral_edge": spectral_edge.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "cuda_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "seeds": {"torch": SEED, "batches": SEED + 1, "sketch": args.seed},
        "args": vars(args),
        "argv": sys.argv[1:],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="NAME[:BATCHxSEQ]")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--sketch-dim", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0, help="sketch seed")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the monitors")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory", action="store_true", help="memory mode, see the docstring")
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 1.24e8])
    parser.add_argument("--memory-child", nargs=2, metavar=("P", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the rows and the environment here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        if args.memory_child:
            size, path = args.memory_child
            row = memory_child(int(float(size)), path, args.window, args.sketch_dim, args.seed)
            print(json.dumps(row))
            return [row]
        env = environment(args, device)
        print(
            f"W={args.window} d={args.sketch_dim} device={device} threads={env['threads']} "
            f"cpu={env['cpu_model']} ({env['cpu_count']} cores) torch={env['torch']} "
            f"spectral_edge={env['spectral_edge']}",
            flush=True,
        )
        if args.memory:
            print_memory_header()
            rows = run_memory(args)
        else:
            rows = [bench_model(spec, args, device) for spec in args.models]
            print_timing(rows)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"environment": env, "rows": rows}, fh, indent=2, default=_json_default)
        return rows
    finally:
        torch.set_num_threads(threads_before)


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


if __name__ == "__main__":
    main()
