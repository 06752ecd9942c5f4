"""Smoke test of benchmarks/bench_training.py: it runs, and its ratios come from its own times.

Nothing here depends on how fast anything is: only that every time is positive and finite and
that each reported figure is the arithmetic of the raw times it records.
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_training.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_model(bench):
    assert bench.parse_model("gpt2-124m:4x256") == ("gpt2-124m", 4, 256)
    assert bench.parse_model("modular-transformer:512") == ("modular-transformer", 512, None)
    assert bench.parse_model("tiny") == ("tiny", None, None)


def test_main_on_tiny_models(bench, tmp_path):
    out = tmp_path / "rows.json"
    argv = ["--models", "tiny:2x16", "modular-transformer:32", "--repeats", "2", "--window", "3"]
    argv += ["--sketch-dim", "64", "--warmup", "1", "--threads", "1", "--json", str(out)]
    rows = bench.main(argv)
    assert [r["model"] for r in rows] == ["tiny", "modular-transformer"]
    assert (rows[0]["batch"], rows[0]["seq"], rows[1]["seq"]) == (2, 16, 3)
    for row in rows:
        assert row["n_params"] > 0 and row["threads"] == 1
        for key in ("step", "exact", "sketch", "floor"):
            times = row["times_s"][key]
            assert len(times) == 2
            assert all(t > 0 and math.isfinite(t) for t in times)
            assert row[f"{key}_ms"] == pytest.approx(statistics.median(times) * 1e3)
        for path in ("exact", "sketch"):
            assert row[f"{path}_over_step"] == pytest.approx(row[f"{path}_ms"] / row["step_ms"])
            assert row[f"{path}_over_floor"] == pytest.approx(row[f"{path}_ms"] / row["floor_ms"])
        # exact holds W + 1 slots and θ_{t−1} of P float32; the sketch W + 1 + 1 vectors of d
        assert row["exact_held_bytes"] == (3 + 2) * row["n_params"] * 4
        assert row["sketch_held_bytes"] == (3 + 2) * 64 * 8
    saved = json.loads(out.read_text())
    assert saved["environment"]["threads"] == 1
    assert saved["environment"]["args"]["repeats"] == 2
    assert len(saved["rows"]) == 2
