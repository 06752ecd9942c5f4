"""One per-run summary: the demo, the report, the reproduction and the grokking analysis read the
same grokking step, decline, k* and warning off a stored run, and that warning is the one the
live monitor emitted."""

import pandas as pd
import pytest

from spectral_edge.dynamics import grokking_summary, run_summary, summary_from_frames
from spectral_edge.dynamics.early_warning import DEFAULT_RULE
from spectral_edge.dynamics.summary import TABLE7_KEYS, recorded_rule
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.demo import summarize
from spectral_edge.lab.presets import get_preset, parse_overrides, warning_rule
from spectral_edge.lab.trainer import Trainer
from spectral_edge.report import run_summary as report_summary
from spectral_edge.reproduce import measures
from spectral_edge.reproduce.engine import RunView
from spectral_edge.store import open_store

# (a + b) mod 23, 70 % of the pairs, full batch: train accuracy reaches 1 by step ~60 and test
# accuracy 0.38 by step 400, so "grokking" at 0.3 falls late in the run (step 380 when
# measured). Each run's live monitor fires once: a metric rule and a window rule, both settled
# at train accuracy 0.5 (steps 70 and 120 when measured).
BASE = [
    "p=23",
    "train_fraction=0.7",
    "batch_size=0",
    "steps=400",
    "eval_every=10",
    "monitor_every=5",
    "monitor_window=4",
    "model_args=hidden=64,d_embed=16",
    "lr=1e-2",
    "grok_threshold=0.3",
]
RULES = {
    "metric": "signal=train_loss,direction=fall,threshold=0.5,settle_accuracy=0.5",
    "window": "signal=gap_ratio,direction=rise,threshold=0.05,settle_accuracy=0.5",
}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("summary")
    with open_store(out) as store:
        for name, rule in RULES.items():
            cfg = parse_overrides([*BASE, f"warning_rule={rule}"], get_preset("modadd-cpu"))
            Trainer(cfg, out, store=store, run_name=name, progress=False).fit()
    return out


def _table7_as_before(run) -> dict:
    """The Table 7 row as the demo built it before run_summary: grokking_summary on the arrays."""
    m = run.metrics().dropna(subset=["test_acc"])
    w = run.windows()
    return grokking_summary(
        m["step"].to_numpy(),
        m["test_acc"].to_numpy(),
        w["step"].to_numpy(),
        w["g23"].to_numpy(),
        w["k_star"].to_numpy(),
        threshold=run.config["train"]["grok_threshold"],
        label=run.name,
    )


def test_every_reader_of_a_run_gives_the_same_summary(store_dir):
    with open_store(store_dir, read_only=True) as store:
        demo = summarize(store, "metric", "window")
        for key, name in (("wd", "metric"), ("control", "window")):
            run = store.run(name)
            events = run.events()
            live = events[events["kind"] == "warning"]["step"].tolist()
            assert len(live) == 1  # the rule fired, once
            s = demo[key]
            table7 = _table7_as_before(run)
            assert table7["grok_step"] is not None and table7["decline"] is not None
            assert {k: s[k] for k in TABLE7_KEYS} == table7
            frames = summary_from_frames(
                run.windows(), run.metrics(), threshold=table7["threshold"], label=name
            )
            assert frames == table7
            report = report_summary(run)
            assert report["grokking step"] == s["grok_step"]
            assert report["g23 decline"] == s["decline"]
            assert report["k* at grokking"] == s["k_star_at_grok"]
            assert report["first warning"] == s["warning_step"] == live[0]
            assert report["lead (steps)"] == s["lead"] == s["grok_step"] - live[0]
            assert report["warnings"] == 1
            assert s["warning_rule"] == warning_rule(RULES[name]).describe()
            view = RunView(name, run.config, run)
            assert measures.warning_step_of(view) == live[0]
            assert measures.summary(view)["grok_step"] == measures.grok_step(view)
            assert recorded_rule(run.config) == warning_rule(RULES[name])


def test_missing_ingredients_are_none_unless_strict():
    windows = pd.DataFrame({"step": [10, 20, 30], "w": 3, "g23": [1.0, 4.0, 2.0]})
    no_acc = pd.DataFrame({"step": [10, 20, 30], "train_loss": [3.0, 2.0, 1.0]})
    s = run_summary(windows, no_acc, window=3, every=10)
    assert s["grok_step"] is None and s["decline"] is None and s["warning_step"] is None
    assert s["final_test_acc"] is None and s["k_star_mode"] is None
    with pytest.raises(SpectralEdgeError, match="no test accuracy"):
        run_summary(windows, no_acc, strict=True)
    late = pd.DataFrame({"step": [5, 30], "val_acc": [0.1, 0.99], "train_acc": [1.0, 1.0]})
    s = run_summary(windows.assign(step=[40, 50, 60]), late)  # val_acc read as test accuracy
    assert s["grok_step"] == 30 and s["decline"] is None  # no window at or before step 30
    assert s["memorised_step"] == 5 and s["max_test_acc"] == 0.99
    with pytest.raises(SpectralEdgeError, match="at or before step 30"):
        run_summary(windows.assign(step=[40, 50, 60]), late, strict=True)


def test_recorded_rule():
    assert recorded_rule({}) == DEFAULT_RULE  # trained before the rule existed
    assert recorded_rule({"monitor": {"warning_rule": {"legacy": "GapWarning"}}}) == DEFAULT_RULE
    assert recorded_rule({"monitor": {"warning_rule": None}}) is None
