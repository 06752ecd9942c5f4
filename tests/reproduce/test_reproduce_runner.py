"""Resume skips finished runs; the quick suite end to end."""

import io
from dataclasses import replace

from spectral_edge.lab.trainer import Trainer
from spectral_edge.reproduce import PREDICTIONS_RUN, reproduce
from spectral_edge.reproduce.plan import Plan, make_plan
from spectral_edge.reproduce.predictions import ORDER
from spectral_edge.reproduce.runner import execute, run_state
from spectral_edge.store import open_store


def _tiny_plan() -> Plan:
    plan = make_plan("quick")
    specs = [s for s in plan.specs if s.name.startswith("quick/lockin")]
    specs = [replace(s, config=replace(s.config, steps=20, checkpoint_every=10)) for s in specs]
    return Plan("quick", tuple(specs))


class Counting:
    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((kwargs["run_name"], kwargs["resume"]))
        return Trainer(*args, **kwargs)


def test_finished_runs_are_skipped(tmp_path):
    plan = _tiny_plan()
    first = Counting()
    status = execute(plan, tmp_path, progress=False, trainer_factory=first)
    assert len(first.calls) == len(plan.specs) == 2
    assert set(status.values()) == {"trained"}
    again = Counting()
    status = execute(plan, tmp_path, progress=False, trainer_factory=again)
    assert again.calls == []
    assert set(status.values()) == {"skipped"}


def test_interrupted_run_resumes_and_changed_config_retrains(tmp_path):
    plan = _tiny_plan()
    execute(plan, tmp_path, progress=False)
    spec = plan.specs[0]
    with open_store(tmp_path) as store:
        store.run(spec.name).set_status("interrupted")
        assert run_state(store, spec, tmp_path) == "resume"
        changed = replace(spec, config=replace(spec.config, lr=2e-3))
        assert run_state(store, changed, tmp_path) == "fresh"
    counting = Counting()
    status = execute(plan, tmp_path, progress=False, trainer_factory=counting)
    assert counting.calls == [(spec.name, True)]
    assert status[spec.name] == "resumed" and status[plan.specs[1].name] == "skipped"


def test_budget_stops_new_runs(tmp_path):
    status = execute(_tiny_plan(), tmp_path, progress=False, budget_s=-1)
    assert set(status.values()) == {"not started"}


def test_quick_suite_end_to_end(tmp_path):
    out = io.StringIO()
    records = reproduce("quick", tmp_path, stream=out)
    assert [r.id for r in records] == ORDER
    assert all(r.scale == "scaled-down" for r in records)
    assert all(r.verdict in ("confirmed", "not confirmed", "not run") for r in records)
    assert all(r.reason for r in records)
    assert "training" in out.getvalue()  # progress was shown
    with open_store(tmp_path) as store:
        table = store.run(PREDICTIONS_RUN).config["predictions"]
        assert [row["id"] for row in table] == ORDER
        assert set(table[0]) >= {"id", "statement", "measured", "paper", "verdict", "reason"}
    assert (tmp_path / "predictions.md").read_text().startswith("| id |")
    # a second invocation trains nothing and gives the same verdicts
    again = reproduce("quick", tmp_path, stream=io.StringIO(), only=["T2", "C1"])
    assert [r.id for r in again] == ["T2", "C1"]
    by_id = {r.id: r.verdict for r in records}
    assert all(r.verdict == by_id[r.id] for r in again)


def test_gpu_suite_is_planned_not_run_without_a_gpu(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plan = make_plan("gpu")
    assert any(s.config.model == "tinystories-51m" for s in plan.specs)
    assert {s.config.seed for s in plan.specs if s.tags.get("family") == "modarith"} == {
        42,
        137,
        2024,
    }
    records = reproduce("gpu", tmp_path, stream=io.StringIO())
    assert all(r.verdict == "not run" and "no GPU" in r.reason for r in records)


def test_cpu_plan_scores_only_scoring_seeds():
    plan = make_plan("cpu")
    assert {s.tags["seed"] for s in plan.specs} <= {1, 2, 3}
    assert all(s.config.scaled_down for s in plan.specs)
    assert len(set(plan.names())) == len(plan.specs)
