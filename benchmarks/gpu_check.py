"""The checks that need a GPU, in one script: CUDA paths, large-P sketch accuracy, overhead.

1. cuda_equivalence: the same parameter trajectory observed on the CPU and on CUDA (float32 and
   bfloat16 parameters) gives the same Gram, exactly and with the fold sketch.
2. sketch_accuracy: a GPT of the TinyStories-51M shape (byte vocabulary, ~25M parameters) trained
   on the generated story corpus; its real updates (every 10 steps) compared sketched vs exact
   at d = 100 (= 10W), 1000 and 4096 over three sketch seeds.
3. overhead_gpt2: a GPT-2 124M-shaped model's training step (bf16 autocast) against the same step
   with the monitor observing (exact, and fold sketch d = 1024), CUDA-synchronised medians.

    PYTHONPATH=src python benchmarks/gpu_check.py --out results.json          # on a GPU
    PYTHONPATH=src python benchmarks/gpu_check.py --smoke --device cpu         # plumbing only
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback

import numpy as np
import torch

import spectral_edge
from spectral_edge import SpectralMonitor
from spectral_edge.core.accuracy import compare_sketch, summarize
from spectral_edge.lab.models.gpt import GPT, GPTConfig
from spectral_edge.lab.tasks.language import make_language, sample_batch
from spectral_edge.lab.trajectory import record_updates


def cuda_equivalence(device, smoke: bool) -> dict:
    torch.manual_seed(0)
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        cpu_model = torch.nn.Linear(256, 256).to(dtype=dtype)
        device_model = torch.nn.Linear(256, 256).to(device, dtype)
        device_model.load_state_dict(cpu_model.state_dict())  # same start, same bf16 rounding
        models = [cpu_model, device_model]
        for sketch_dim in (None, 512):
            monitors = [SpectralMonitor(m, window=5, sketch_dim=sketch_dim) for m in models]
            for _ in range(8):
                delta = [torch.randn(p.shape) * 1e-2 for p in models[0].parameters()]
                for model, mon in zip(models, monitors, strict=True):
                    with torch.no_grad():
                        for p, d in zip(model.parameters(), delta, strict=True):
                            p.add_(d.to(p.device, p.dtype))
                    mon.observe()
            grams = [m.gram.gram() for m in monitors]
            key = f"{str(dtype).split('.')[-1]}_{'exact' if sketch_dim is None else 'sketch'}"
            out[key] = float(np.abs(grams[0] - grams[1]).max() / np.abs(grams[0]).max())
    return out


def lm_loss(model, x, y):
    logits = model(x)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def train_gpt(config: GPTConfig, steps: int, every: int, device, batch: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    data = make_language(seed=0)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.5)
    gen = torch.Generator().manual_seed(0)

    def train_step():
        x, y = sample_batch(data.train_tokens, batch, config.block_size, generator=gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = lm_loss(model, x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return record_updates(list(model.parameters()), train_step, steps, every)


def sketch_accuracy(device, smoke: bool) -> dict:
    shape = dict(vocab_size=128, block_size=256, n_layer=8, n_head=16, d_model=512, d_ff=2048)
    if smoke:
        shape = dict(vocab_size=128, block_size=64, n_layer=1, n_head=2, d_model=32, d_ff=64)
    config = GPTConfig(**shape)
    steps = 130 if smoke else 300
    updates = train_gpt(config, steps=steps, every=10, device=device, batch=8 if smoke else 32)
    out = {"n_params": int(updates[0].numel()), "n_updates": len(updates)}
    for d in (100, 1000, 4096):
        table = compare_sketch(updates[-20:], window=10, sketch_dim=d, seeds=(0, 1, 2))
        out[f"d={d}"] = summarize(table)
    return out


def overhead_gpt2(device, smoke: bool) -> dict:
    config = (
        GPTConfig()
        if not smoke
        else GPTConfig(vocab_size=128, block_size=64, n_layer=1, n_head=2, d_model=32, d_ff=64)
    )
    batch, seq = (8, 1024) if not smoke else (2, 64)
    torch.manual_seed(0)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.1)
    x = torch.randint(0, config.vocab_size, (batch, seq), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def train_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = lm_loss(model, x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def median_time(fn, n=10):
        times = []
        for _ in range(n):
            sync()
            t = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    for _ in range(3):
        train_step()
    out = {"n_params": sum(p.numel() for p in model.parameters())}
    plain = median_time(train_step)
    floor = median_time(lambda: [p.sum() for p in model.parameters()])
    out["train_step_ms"] = plain * 1e3
    out["floor_read_ms"] = floor * 1e3
    for name, dim in (("exact", None), ("sketch1024", 1024)):
        monitor = SpectralMonitor(model, window=10, sketch_dim=dim)
        for _ in range(12):
            train_step()
            monitor.observe()
        observe = median_time(monitor.observe)
        out[f"{name}_observe_ms"] = observe * 1e3
        out[f"{name}_overhead_vs_step"] = observe / plain
        out[f"{name}_x_floor"] = observe / floor
        out[f"{name}_peak_gpu_MB"] = (
            torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
        )
        del monitor
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    results = {
        "environment": {
            "spectral_edge": spectral_edge.__version__,
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        }
    }
    for check in (cuda_equivalence, sketch_accuracy, overhead_gpt2):
        if args.only and check.__name__ not in args.only:
            continue
        start = time.perf_counter()
        try:
            results[check.__name__] = check(device, args.smoke)
        except Exception:
            results[check.__name__] = {"error": traceback.format_exc()}
        results[check.__name__ + "_seconds"] = time.perf_counter() - start
        print(json.dumps({check.__name__: results[check.__name__]}, indent=1), flush=True)
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
