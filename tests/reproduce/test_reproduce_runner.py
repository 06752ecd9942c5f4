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
    from spectral_edge.reproduce.plan import HELD_OUT_FAMILIES, TUNING_FAMILIES

    plan = make_plan("cpu")
    assert len(set(plan.names())) == len(plan.specs)
    for s in plan.specs:
        tune = s.tags["seed"] == 0
        assert s.tags["role"] == ("tune" if tune else "score"), s.name
        if tune:  # only the tuning families have tuning runs; the held-out ones never
            assert s.tags["family"] in TUNING_FAMILIES, s.name
    held_out = [s for s in plan.specs if s.tags["family"] in HELD_OUT_FAMILIES]
    assert held_out and all(s.tags["role"] == "score" for s in held_out)
    # the paper's own modular-arithmetic setting: every operation, both weight decays
    paper = [s for s in plan.specs if s.tags["family"] == "modarith" and s.tags["role"] == "score"]
    assert {(s.tags["op"], s.tags["wd"]) for s in paper} == {
        (op, wd) for op in ("add", "sub", "mul", "a2_b2") for wd in (True, False)
    }
    assert {s.tags["seed"] for s in paper} == {1, 2, 3}
    assert all(not s.config.scaled_down and s.config.model == "modular-transformer" for s in paper)
    assert all(s.config.monitor_params == "attention" and s.config.batch_size == 512 for s in paper)
    # the tuning runs come first, so rules can be tuned while the scoring runs train
    roles = [s.tags["role"] for s in plan.specs]
    assert roles.index("score") > max(i for i, r in enumerate(roles) if r == "tune")


def test_jobs_train_runs_in_parallel_processes_with_the_same_result(tmp_path):
    """Two worker processes write one store; each run equals the one trained in-process (to the
    float32 reduction order of a different thread count)."""
    import numpy as np

    plan = _tiny_plan()
    serial = execute(plan, tmp_path / "serial", progress=False)
    out = io.StringIO()
    parallel = execute(plan, tmp_path / "parallel", progress=True, stream=out, jobs=2)
    assert set(serial.values()) == set(parallel.values()) == {"trained"}
    assert out.getvalue().count(": done (") == 2
    with open_store(tmp_path / "serial") as a, open_store(tmp_path / "parallel") as b:
        for spec in plan.specs:
            wa, wb = a.run(spec.name).windows(), b.run(spec.name).windows()
            assert len(wa) == len(wb) > 0 and b.run(spec.name).info["status"] == "finished"
            np.testing.assert_allclose(wa["sigma_1"], wb["sigma_1"], rtol=1e-5)
    assert set(execute(plan, tmp_path / "parallel", progress=False, jobs=2).values()) == {"skipped"}


def test_probes_at_grokking_and_every_n_steps(tmp_path):
    """The Hessian is measured at the first evaluation that grokked (and at the end, with Adam's
    effective steps), the decomposition every n steps with the window's updates written out."""
    import numpy as np

    from spectral_edge.reproduce.plan import RunSpec

    base = make_plan("quick").specs[0].config
    cfg = replace(base, steps=120, eval_every=10, monitor_every=5, monitor_window=4)
    spec = RunSpec(
        "probe-run",
        cfg,
        {"family": "t", "role": "score", "for": ["T3"]},
        {"updates": {}, "hessian": {"k": 2, "at": "grok"}, "decomposition": {"every": 60}},
    )

    class GrokAt70(Trainer):
        def _evaluate(self):
            super()._evaluate()
            if self.step == 70 and self.grok_step is None:
                self.grok_step = 70  # as if test accuracy had crossed the threshold here

    execute(Plan("quick", (spec,)), tmp_path, progress=False, trainer_factory=GrokAt70)
    with open_store(tmp_path) as store:
        ev = store.run("probe-run").events()
    hess = ev[ev["kind"] == "probe:hessian"]["evidence"].tolist()
    assert [(h["at"], h["step"]) for h in hess] == [("grok", 70), ("end", 120)]
    assert len(hess[0]["eigenvalues"]) == 2 and hess[0]["adam_step_quantiles"]["q50"] > 0
    dec = ev[ev["kind"] == "probe:decomposition"]["evidence"].tolist()
    assert [d["step"] for d in dec] == [60, 120]
    x = np.load(tmp_path / "probes" / "probe-run" / "updates-step-0000060.npy")
    assert x.shape[0] == cfg.monitor_window and x.dtype == np.float32


def test_a_new_config_field_at_its_default_does_not_retrain(tmp_path):
    """Runs recorded before a TrainConfig field existed are the same run while the plan keeps
    that field at its default, and a different run once it does not."""
    plan = _tiny_plan()
    execute(plan, tmp_path, progress=False)
    spec = plan.specs[0]
    with open_store(tmp_path) as store:
        run = store.run(spec.name)
        train = dict(run.config["train"])
        del train["weights_every"]  # as recorded before the field was added
        train["warning_quantity"] = "g23"  # a retired field, which configured reporting only
        run.update_config({"train": train}, replace=True)
        assert run_state(store, spec, tmp_path) == "finished"
        changed = replace(spec, config=replace(spec.config, weights_every=5))
        assert run_state(store, changed, tmp_path) == "fresh"
