"""Execute a :class:`Plan`: run what is not finished, resume what was interrupted, skip the rest.

For each planned run, in order:

- a run of that name whose status is ``"finished"`` and whose recorded ``train`` config and
  ``reproduce`` entry equal the plan's is **skipped** (finished work is never repeated);
- a run that exists unfinished with a checkpoint, the same config and no in-memory probe
  (``updates``, ``trajectory``) is **resumed** from its checkpoint;
- anything else (absent, different config, or unfinished with in-memory probes) is trained from
  the start, replacing a stale run of that name.

Probes (``RunSpec.probes``) run between training chunks or after the last step, with the model:

- ``commutator`` (every ``every`` steps, ``pairs`` batch pairs of ``batch`` examples): the median
  commutator defect, logged as the metric ``commutator_defect``;
- ``updates``: the flat update θ_t − θ_{t−every} of every snapshot; at the end, the sketch
  accuracy at d = 10W (fold and Gaussian families, three seeds; prediction C3);
- ``trajectory`` (every ``every`` steps): the parameter trajectory; at the end the execution
  manifold (C10) and the trajectory-PC accuracies (C11);
- ``hessian`` (``k``; ``at: "grok"``): top Hessian eigenvalues of the training loss at the end
  and, with ``at: "grok"``, also at the first evaluation that grokked, with the quantiles of
  Adam's effective per-parameter step η/(√v̂ + ε) there (T3 is a bound at or before grokking,
  not at a converged end where the curvature is ~1e-5);
- ``decomposition`` (``every``): the spectral loss decomposition of the last window at the end
  and, with ``every``, at every multiple of it; at each such step the window's updates X are also
  written to ``<out>/probes/<run>/updates-step-NNNNNNN.npy`` (float32, W×P) so that other
  readings of T8 (the author's ablation) can be computed afterwards from X and the weights
  saved at the same step (``weights_every``).

End-of-run results are events of kind ``probe:<name>`` with the result as evidence. A probe that
fails writes a ``probe_error`` event and the run still finishes (the evaluator then says "not
run" with the error). A time budget stops starting new runs; runs left out are simply absent.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.presets import RETIRED_FIELDS
from spectral_edge.lab.trainer import Trainer
from spectral_edge.reproduce.plan import Plan, RunSpec
from spectral_edge.reproduce.probes.commutator import commutator_probe
from spectral_edge.reproduce.probes.decomposition import spectral_loss_decomposition
from spectral_edge.reproduce.probes.hessian import hessian_top_eigenvalues
from spectral_edge.reproduce.probes.holographic import execution_manifold, trajectory_pca_accuracy
from spectral_edge.reproduce.probes.model import parameters

MEMORY_PROBES = ("updates", "trajectory", "decomposition")


def _normal(obj):
    return json.loads(json.dumps(obj, default=str))


def run_state(store, spec: RunSpec, out_dir: Path) -> str:
    """``"finished"`` (skip), ``"resume"``, or ``"fresh"`` for one planned run."""
    if spec.name not in set(store.runs()["name"]):
        return "fresh"
    run = store.run(spec.name)
    info = run.info
    cfg = info["config"]
    same = _same_train(cfg.get("train"), spec.config) and cfg.get("reproduce") == spec.record()
    if not same:
        return "fresh"
    if info["status"] == "finished":
        return "finished"
    ckpt = out_dir / "checkpoints" / f"{spec.name}.pt"
    if ckpt.is_file() and not (set(spec.probes) & set(MEMORY_PROBES)):
        return "resume"
    return "fresh"


def _same_train(stored: dict | None, config) -> bool:
    """Whether a stored ``train`` config is the planned one.

    A TrainConfig field added after the run was trained is absent from its record; the run is
    still the same if the plan leaves that field at its default (the behaviour the run had), so
    adding an option never retrains a finished campaign. Retired fields, which configured only
    the online reporting, are ignored (``lab.presets.RETIRED_FIELDS``).
    """
    if stored is None:
        return False
    planned = _normal(asdict(config))
    defaults = _normal(asdict(type(config)()))
    stored = {k: v for k, v in stored.items() if k not in RETIRED_FIELDS}
    return all(
        stored.get(k) == v if k in stored else v == defaults[k] for k, v in planned.items()
    ) and set(stored) <= set(planned)


class _Probes:
    """Model measurements attached to one trainer."""

    def __init__(self, spec: RunSpec, trainer: Trainer):
        self.spec = spec
        self.t = trainer
        self.opts = spec.probes
        self.updates: list[np.ndarray] = []
        self.trajectory: list[np.ndarray] = []
        self._last_flat = None
        self._hessian_at_grok_done = False
        self.gen = torch.Generator().manual_seed(10_000 + spec.config.seed)

    # helpers --------------------------------------------------------------------------------
    def params(self):
        return parameters(self.t.model)

    def flat(self) -> np.ndarray:
        return np.concatenate(
            [p.detach().reshape(-1).double().cpu().numpy() for p in self.params()]
        )

    def loss_fn(self, model, batch):
        return self.t.task.forward(model, batch)[0]

    def sample(self, size: int):
        task = self.t.task
        if task.train is None:  # language: seeded windows far from the training steps
            from spectral_edge.lab.tasks.language import sample_batch

            data = task.lm.after if task.cfg.shift_step > 0 else task.lm
            return sample_batch(data.train_tokens, size, task.cfg.seq_len, self.gen)
        n = len(task.train[0])
        idx = torch.randperm(n, generator=self.gen)[: min(size, n)]
        return tuple(x[idx] for x in task.train)

    def cadence(self) -> int:
        c = [int(o["every"]) for o in self.opts.values() if o and "every" in o]
        if "updates" in self.opts:
            c.append(self.spec.config.monitor_every)
        if self.opts.get("hessian", {}).get("at") == "grok":
            c.append(self.spec.config.eval_every)  # the grokking step is an evaluation step
        return max(1, math.gcd(*c)) if c else self.spec.config.steps

    # during training --------------------------------------------------------------------------
    def start(self):
        if "updates" in self.opts or "trajectory" in self.opts:
            self._last_flat = self.flat()
            if "trajectory" in self.opts:
                self.trajectory.append(self._last_flat)
        self.after_step(self.t.step)

    def after_step(self, step: int):
        cfg = self.spec.config
        if "commutator" in self.opts:
            o = self.opts["commutator"]
            if step % int(o.get("every", 100)) == 0:
                self._commutator(step, int(o.get("pairs", 5)), int(o.get("batch", 128)))
        if step == 0:
            return
        self._at_grok(step)
        need_flat = ("updates" in self.opts and step % cfg.monitor_every == 0) or (
            "trajectory" in self.opts and step % int(self.opts["trajectory"].get("every", 10)) == 0
        )
        if not need_flat:
            return
        cur = self.flat()
        if "updates" in self.opts and step % cfg.monitor_every == 0:
            self.updates.append(cur - self._last_flat)
            self.updates = self.updates[-60:]
            self._last_flat = cur
        if "trajectory" in self.opts and step % int(self.opts["trajectory"].get("every", 10)) == 0:
            self.trajectory.append(cur)
        every = int(self.opts.get("decomposition", {}).get("every", 0) or 0)
        if every and step % every == 0 and step < cfg.steps:
            self._result(step, "decomposition", self._end_decomposition)

    def _at_grok(self, step: int):
        o = self.opts.get("hessian")
        if not o or o.get("at") != "grok" or self._hessian_at_grok_done:
            return
        if self.t.grok_step is not None and self.t.grok_step <= step:
            self._hessian_at_grok_done = True
            self._result(step, "hessian", self._end_hessian, {"at": "grok"})

    def _result(self, step: int, name: str, fn, extra: dict | None = None):
        """Run one probe measurement now and store it as a ``probe:<name>`` event."""
        try:
            result = {**fn(self.opts[name] or {}), **(extra or {}), "step": step}
            self.t.run.log_event(step, f"probe:{name}", name, _normal(result))
        except (SpectralEdgeError, ValueError, RuntimeError) as exc:
            self.t.run.log_event(step, "probe_error", f"{name}: {exc}", {"probe": name})

    def _commutator(self, step: int, pairs: int, batch: int):
        try:
            pp = [(self.sample(batch), self.sample(batch)) for _ in range(pairs)]
            res = commutator_probe(self.t.model, self.loss_fn, pp)
            self.t.run.log_metrics(step, {"commutator_defect": res["defect"]})
        except SpectralEdgeError as exc:
            self.t.run.log_metrics(step, {"commutator_defect": math.nan})
            self.t.run.log_event(step, "probe_error", f"commutator: {exc}", {"probe": "commutator"})

    # after training ---------------------------------------------------------------------------
    def finish(self):
        step = self.t.step
        for name in ("updates", "trajectory", "hessian", "decomposition"):
            if name in self.opts:
                self._result(step, name, getattr(self, "_end_" + name), {"at": "end"})

    def _end_updates(self, o):
        from spectral_edge.core.accuracy import compare_sketch, summarize

        w = self.spec.config.monitor_window
        ups = self.updates[-(w + 20) :]
        if len(ups) < w:
            raise SpectralEdgeError(f"only {len(ups)} updates recorded; need {w}")
        out = {"window": w, "sketch_dim": 10 * w, "n_updates": len(ups), "n_params": ups[0].size}
        for family in ("gaussian", "fold"):
            table = compare_sketch(ups, window=w, sketch_dim=10 * w, seeds=(0, 1, 2), family=family)
            out[family] = summarize(table)
        return out

    def _end_trajectory(self, o):
        traj = np.stack(self.trajectory)
        em = execution_manifold(traj)

        def acc(model):
            return self.t.task.evaluate(model)["test_acc"]

        pca = trajectory_pca_accuracy(self.t.model, acc, traj, ks=(1, 2, 3, 4, 5, 6))
        return {"manifold": em, "pca": pca}

    def _end_hessian(self, o):
        batch = self.t.task.train if self.t.task.train is not None else self.sample(32)
        res = hessian_top_eigenvalues(self.t.model, self.loss_fn, batch, k=int(o.get("k", 10)))
        cfg = self.spec.config
        return {
            "eigenvalues": list(map(float, res["eigenvalues"])),
            "iters": res["iters"],
            "lr": cfg.lr,
            "every": cfg.monitor_every,
            "window": cfg.monitor_window,
            "adam_step_quantiles": _adam_step_quantiles(self.t.optimizers),
        }

    def _end_decomposition(self, o):
        w = self.spec.config.monitor_window
        if len(self.updates) < w:
            raise SpectralEdgeError("fewer recorded updates than the window")
        x = np.stack(self.updates[-w:])
        path = self.t.out_dir / "probes" / self.spec.name / f"updates-step-{self.t.step:07d}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, x.astype(np.float32))
        task = self.t.task
        if task.train is None:
            tb, vb = self.sample(32), self.sample(32)
        else:
            tb, vb = task.train, task.test
        res = spectral_loss_decomposition(self.t.model, self.loss_fn, x, tb, vb)
        keep = ("pearson", "spearman", "sign_agreement", "scale", "predicted", "actual", "sigma")
        return {k: res.get(k) for k in keep}


def _adam_step_quantiles(optimizers) -> dict | None:
    """Quantiles over parameters of Adam's effective step η·/(√v̂ + ε) (bias-corrected v̂); None
    without an Adam-family optimizer state. The step an update takes along a direction of
    curvature h is this times the gradient, so 1/(η_eff·steps) is the curvature a window of
    ``steps`` optimizer steps resolves (T3)."""
    values = []
    for opt in optimizers:
        for group in opt.param_groups:
            beta2, eps, lr = group.get("betas", (None, None))[1], group.get("eps"), group["lr"]
            if beta2 is None or eps is None:
                continue
            for p in group["params"]:
                state = opt.state.get(p, {})
                if "exp_avg_sq" not in state:
                    continue
                t = float(state["step"])
                v_hat = state["exp_avg_sq"].detach().double() / (1.0 - beta2**t)
                values.append((lr / (v_hat.sqrt() + eps)).reshape(-1).cpu().numpy())
    if not values:
        return None
    flat = np.concatenate(values)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    return {f"q{int(q * 100):02d}": float(np.quantile(flat, q)) for q in qs}


def execute(
    plan: Plan,
    out_dir,
    *,
    budget_s: float | None = None,
    progress: bool = True,
    trainer_factory=Trainer,
    stream=None,
    jobs: int = 1,
) -> dict:
    """Run the plan into ``out_dir``, in plan order, ``jobs`` runs at a time.

    With ``jobs > 1`` each run trains in a worker process of its own with
    ``cpu_count // jobs`` torch threads (small models train faster as several one-thread
    processes than as one many-thread process), all writing the same store; the live status
    line is replaced by one line per run started and finished, and a run that raises is
    reported as ``"failed"`` while the others go on. ``budget_s`` stops *starting* runs.
    Returns ``{name: "skipped" | "trained" | "resumed" | "not started" | "failed"}``.
    """
    from spectral_edge.store import open_store

    stream = stream or sys.stderr
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SpectralEdgeError(f"jobs must be a positive integer, got {jobs!r}")
    t0 = time.monotonic()
    status: dict[str, str] = {}
    n = len(plan.specs)
    todo = []
    for i, spec in enumerate(plan.specs, 1):
        with open_store(out_dir) as store:
            state = run_state(store, spec, out_dir)
        if state == "finished":
            status[spec.name] = "skipped"
            if progress:
                print(f"[{i}/{n}] {spec.name}: finished earlier, skipped", file=stream, flush=True)
            continue
        todo.append((i, spec, state))

    def say(text):
        if progress:
            print(text, file=stream, flush=True)

    def may_start(i, spec, state) -> bool:
        """Whether the budget lets this run start; says which way it went."""
        if budget_s is not None and time.monotonic() - t0 > budget_s:
            status[spec.name] = "not started"
            say(f"[{i}/{n}] {spec.name}: not started (budget)")
            return False
        verb = "resuming" if state == "resume" else "training"
        say(f"[{i}/{n}] {spec.name}: {verb} ({time.monotonic() - t0:.0f} s so far)")
        return True

    if jobs == 1:
        for i, spec, state in todo:
            if may_start(i, spec, state):
                _train_one(spec, out_dir, state == "resume", progress, trainer_factory, plan.suite)
                status[spec.name] = "resumed" if state == "resume" else "trained"
        return status

    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending = list(todo)
    running: dict = {}
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        while pending or running:
            while pending and len(running) < jobs:
                i, spec, state = pending.pop(0)
                if may_start(i, spec, state):
                    future = pool.submit(
                        _train_in_worker, spec, str(out_dir), state == "resume", plan.suite, threads
                    )
                    running[future] = (i, spec, state)
            if not running:
                break
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                i, spec, state = running.pop(future)
                try:
                    future.result()
                except Exception as exc:  # one broken run must not stop a night's campaign
                    status[spec.name] = "failed"
                    say(f"[{i}/{n}] {spec.name}: FAILED: {type(exc).__name__}: {exc}")
                    continue
                status[spec.name] = "resumed" if state == "resume" else "trained"
                say(f"[{i}/{n}] {spec.name}: done ({time.monotonic() - t0:.0f} s so far)")
    return status


def _train_in_worker(spec, out_dir, resume, suite, threads):
    torch.set_num_threads(threads)
    _train_one(spec, Path(out_dir), resume, False, Trainer, suite)


def _train_one(spec, out_dir, resume, progress, trainer_factory, suite):
    trainer = trainer_factory(
        spec.config,
        out_dir,
        run_name=spec.name,
        overwrite=not resume,
        resume=resume,
        progress=progress,
        preset=spec.tags.get("family"),
    )
    trainer.start()
    if not resume:
        trainer.run.update_config({"reproduce": spec.record(), "suite": suite}, replace=True)
    probes = _Probes(spec, trainer) if spec.probes else None
    if probes is not None:
        probes.start()
    chunk = probes.cadence() if probes is not None else spec.config.steps
    try:
        while trainer.step < spec.config.steps:
            trainer.advance(min(chunk, spec.config.steps - trainer.step))
            if probes is not None:
                probes.after_step(trainer.step)
        if probes is not None:
            probes.finish()
    except KeyboardInterrupt:
        raise
    trainer.finish()


__all__ = ["MEMORY_PROBES", "execute", "run_state"]
