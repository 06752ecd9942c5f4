"""The runs each suite plans: TrainConfig presets with overrides, seeds, tags and probes.

A :class:`RunSpec` is one training run: a complete :class:`TrainConfig`, the run's name in the
store, ``tags`` that the prediction evaluators select runs by (family, op, weight decay, seed,
role, ...) and ``probes``: measurements that need the model during or after training (the
commutator defect, recorded updates, the parameter trajectory, Hessian eigenvalues, the loss
decomposition). The whole spec is recorded in the run's config under ``"reproduce"``, and a run is
"the same" as a planned one when its recorded ``train`` config and ``reproduce`` entry equal the
plan's.

Seeds. Seed 0 is the **tuning** seed: the lab presets' learning rate for the CPU grokking MLP
(1e-2, chosen by the demo on seed 0) and the online warning's defaults were set while looking at
seed-0 runs. Scoring uses seeds 1, 2, 3 only (:data:`SCORING_SEEDS`); the harness itself tunes
nothing: every threshold is the thesis' (section 4 and 8) or fixed in
:mod:`spectral_edge.reproduce.predictions` before any run was scored.

Suites:

- ``quick``: tiny configurations (a p = 23 MLP, 200 steps; a 2-layer 32-wide GPT, 80 steps) that
  run in well under a minute on two cores; they check the harness end to end, not the thesis.
- ``cpu``: the CPU-sized families (the scale of docs/measurements.md, "Before the project"),
  ordered so that the most informative runs come first; a time budget stops starting new runs,
  and what did not run says so.
- ``gpu``: the paper configurations of docs/thesis.md §7 (mod-arith 290K transformer, Dyck,
  SCAN, multi-task, TinyStories-51M and GPT-2-124M shapes on the generated corpora, the 2048-wide
  MLP). Planned here, never run on this project's CPU machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.presets import TrainConfig, get_preset

SUITES = ("quick", "cpu", "gpu")
TUNING_SEEDS = (0,)
SCORING_SEEDS = (1, 2, 3)
GROK_OPS = ("add", "sub", "mul", "a2_b2")  # the four operations the paper says grok

# probe names understood by the runner
PROBES = ("commutator", "updates", "trajectory", "hessian", "decomposition", "holographic")


@dataclass(frozen=True)
class RunSpec:
    """One planned run: name, config, selection tags and model probes (with options)."""

    name: str
    config: TrainConfig
    tags: dict = field(default_factory=dict)
    probes: dict = field(default_factory=dict)  # probe name -> options dict

    def record(self) -> dict:
        """What is stored under ``config["reproduce"]`` (JSON-normalised)."""
        return json.loads(
            json.dumps({"tags": self.tags, "probes": self.probes}, sort_keys=True, default=str)
        )


@dataclass(frozen=True)
class Plan:
    suite: str
    specs: tuple[RunSpec, ...]

    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def select(self, needed: set[str] | None) -> Plan:
        """Only the runs whose ``tags["for"]`` names one of ``needed`` predictions."""
        if needed is None:
            return self
        keep = tuple(s for s in self.specs if needed & set(s.tags.get("for", ())))
        return Plan(self.suite, keep)


# --- families ---------------------------------------------------------------------------------


def _grok_pair(prefix, base, *, family, op, seed, role, preds, probes_wd=None, probes_all=None):
    out = []
    for wd_on in (True, False):
        cfg = replace(
            base,
            op=op,
            seed=seed,
            data_seed=seed,
            weight_decay=base.weight_decay if wd_on else 0.0,
        ).validate()
        tag = "wd" if wd_on else "wd0"
        probes = dict(probes_all or {})
        if wd_on:
            probes.update(probes_wd or {})
        out.append(
            RunSpec(
                f"{prefix}/{family}-{op}-{tag}-s{seed}",
                cfg,
                {
                    "family": family,
                    "op": op,
                    "wd": wd_on,
                    "seed": seed,
                    "role": role,
                    "for": sorted(preds),
                },
                probes,
            )
        )
    return out


GROK_PREDS = {"T1", "T2", "T4", "T5", "T6", "T7", "C1", "C7", "C8"}
HEAVY_PREDS = {"C3", "C10", "C11", "T3", "T8"}  # need the model probes of one run
LM_PREDS = {"C2", "C4", "C6", "T7", "T2"}


def _modadd_base(quick: bool) -> TrainConfig:
    base = replace(
        get_preset("modadd-cpu"),
        lr=1e-2,
        steps=1000,
        eval_every=10,
        monitor_every=10,
        monitor_window=10,
        checkpoint_every=250,
        note="reproduce: CPU grokking MLP (demo lr 1e-2)",
    )
    if quick:
        base = replace(
            base,
            p=23,
            model_args="hidden=64,d_embed=16",
            steps=200,
            eval_every=10,
            monitor_every=5,
            checkpoint_every=0,
            note="reproduce quick: tiny MLP",
        )
    return base.validate()


def _lm_base(quick: bool) -> TrainConfig:
    base = replace(
        get_preset("lm-tiny"),
        eval_every=10,
        checkpoint_every=200,
        note="reproduce: tiny GPT on the generated stories",
    )
    if quick:
        base = replace(
            base,
            model_args="d_model=32,d_ff=64",
            n_docs=200,
            seq_len=32,
            batch_size=8,
            steps=80,
            warmup=10,
            monitor_every=2,
            eval_every=4,
            checkpoint_every=0,
            note="reproduce quick: tiny GPT",
        )
    return base.validate()


def _lm_family(prefix: str, base: TrainConfig, seeds) -> list[RunSpec]:
    out = []
    for seed in seeds:
        b = replace(base, seed=seed)
        t = {"family": "lm", "seed": seed, "role": "score"}
        out.append(
            RunSpec(
                f"{prefix}/lm-adamw-w10-s{seed}",
                b,
                {**t, "optimizer": "adamw", "window": 10, "params": "all", "for": sorted(LM_PREDS)},
            )
        )
        out.append(
            RunSpec(
                f"{prefix}/lm-adamw-w20-s{seed}",
                replace(b, monitor_window=20),
                {**t, "optimizer": "adamw", "window": 20, "params": "all", "for": ["C4"]},
            )
        )
        # Muon at the AdamW run's η: with Moonshot's RMS matching (lab/optim.py) one η means
        # the same step size for both, and the AdamW half of Muon (embeddings, head, norms)
        # then trains exactly as in the AdamW run; C2 compares them at matched validation loss
        out.append(
            RunSpec(
                f"{prefix}/lm-muon-w10-s{seed}",
                replace(b, optimizer="muon"),
                {**t, "optimizer": "muon", "window": 10, "params": "all", "for": ["C2"]},
            )
        )
        for layer in (0, 1):
            out.append(
                RunSpec(
                    f"{prefix}/lm-adamw-layer{layer}-s{seed}",
                    replace(b, monitor_params=f"layer:{layer}"),
                    {
                        **t,
                        "optimizer": "adamw",
                        "window": 10,
                        "params": f"layer:{layer}",
                        "for": ["C6"],
                    },
                )
            )
        shift = max(2, base.steps // 2)
        out.append(
            RunSpec(
                f"{prefix}/lm-shift-s{seed}",
                replace(b, shift_step=shift),
                {**t, "family": "lm-shift", "shift_step": shift, "for": ["C5"]},
            )
        )
    return out


def _lockin(prefix: str, base: TrainConfig, seeds) -> list[RunSpec]:
    out = []
    for seed in seeds:
        for wd_on in (True, False):
            cfg = replace(
                base, seed=seed, data_seed=seed, weight_decay=base.weight_decay if wd_on else 0.0
            ).validate()
            out.append(
                RunSpec(
                    f"{prefix}/lockin-{'wd' if wd_on else 'wd0'}-s{seed}",
                    cfg,
                    {
                        "family": "lockin",
                        "wd": wd_on,
                        "seed": seed,
                        "role": "score",
                        "for": ["C12"],
                    },
                )
            )
    return out


def _lr_sweep(prefix: str, base: TrainConfig, lrs, seed: int, steps) -> list[RunSpec]:
    out = []
    for lr, n in zip(lrs, steps, strict=True):
        cfg = replace(base, lr=lr, seed=seed, data_seed=seed, steps=n).validate()
        out.append(
            RunSpec(
                f"{prefix}/lrsweep-{lr:g}-s{seed}",
                cfg,
                {"family": "lrsweep", "lr": lr, "seed": seed, "role": "score", "for": ["C9"]},
                {"commutator": {"every": max(base.monitor_every, n // 40), "pairs": 5}},
            )
        )
    return out


def _wd_family(prefix, base, family, seeds, preds=("C1", "C7", "T1", "T2")) -> list[RunSpec]:
    out = []
    for seed in seeds:
        out += _grok_pair(
            prefix, base, family=family, op=base.op, seed=seed, role="score", preds=set(preds)
        )
    return out


# --- suites -----------------------------------------------------------------------------------


def plan_quick() -> Plan:
    p = "quick"
    base = _modadd_base(True)
    comm = {"commutator": {"every": 20, "pairs": 3, "batch": 64}}
    heavy = {
        "updates": {},
        "trajectory": {"every": 10},
        "hessian": {"k": 5},
        "decomposition": {},
    }
    specs = _grok_pair(
        p,
        base,
        family="modadd",
        op="add",
        seed=1,
        role="score",
        preds=GROK_PREDS | {"C3", "C10", "C11", "T3", "T8"},
        probes_wd=heavy,
        probes_all=comm,
    )
    specs += _lm_family(p, _lm_base(True), (1,))
    lock = replace(
        get_preset("mlp-lockin"),
        p=13,
        model_args="width=64",
        steps=150,
        eval_every=5,
        monitor_every=1,
        checkpoint_every=0,
        scaled_down=True,
        note="reproduce quick: tiny x^2 MLP",
    )
    specs += _lockin(p, lock, (1,))
    specs += _lr_sweep(p, base, (5e-3, 1e-2, 2e-2), 1, (200, 200, 200))
    return Plan("quick", tuple(specs))


# The early-warning evaluation (docs/early-warning.md) reads the same runs: every run tagged
# "EW" is a grokking run or a control of one of its families, with role "tune" (seed 0 of a
# tuning family) or "score". Its families and seeds are fixed in that document's protocol.
EW = "EW"
TUNING_FAMILIES = ("modarith", "modarith-f04", "mlp", "mlp-f04", "lockin")
HELD_OUT_FAMILIES = ("dyck", "multitask")


def _modarith_base(op: str, train_fraction: float, steps: int) -> TrainConfig:
    """The paper's own setting (docs/reproduction.md): the 290K transformer, attention weights
    every 100 steps, W = 10, batch 512, AdamW 1e-3; not scaled down. Evaluations at the snapshot
    cadence, the weights every 200 steps for the local learning coefficient."""
    preset = {"add": "modarith-add", "sub": "modarith-sub", "mul": "modarith-mul"}.get(
        op, "modarith-sq"
    )
    return replace(
        get_preset(preset),
        op=op,
        train_fraction=train_fraction,
        steps=steps,
        eval_every=100,
        checkpoint_every=1000,
        weights_every=200,
        note=f"reproduce cpu: the paper's modular-arithmetic transformer, train fraction "
        f"{train_fraction:g}",
    ).validate()


def _mlp_base(op: str, train_fraction: float, steps: int) -> TrainConfig:
    """The embedding MLP of the demo at lr 3e-3 (at 1e-2 it memorises by step 50, so its first
    windows would all hold the memorisation burst), snapshots every 10 steps."""
    return replace(
        get_preset("modadd-cpu"),
        op=op,
        train_fraction=train_fraction,
        lr=3e-3,
        steps=steps,
        eval_every=10,
        monitor_every=10,
        monitor_window=10,
        checkpoint_every=500,
        note=f"reproduce cpu: embedding MLP, p 59, lr 3e-3, train fraction {train_fraction:g}",
    ).validate()


def _lockin_base() -> TrainConfig:
    """The x² MLP as its author trains it: p 71, width 2048, 40 % train, full-batch Adam 1e-3
    with coupled L2 2e-4 on the centred, output-summed MSE, one step an epoch; the first
    layer's updates, W = 20, every epoch."""
    return replace(
        get_preset("mlp-lockin"),
        optimizer="adam",
        loss_reduction="sum_centred",
        steps=600,
        eval_every=1,
        monitor_every=1,
        monitor_window=20,
        monitor_params="embed.weight",
        checkpoint_every=0,
        scaled_down=False,
        note="reproduce cpu: the x^2 MLP as in the author's scripts (Adam, coupled L2)",
    ).validate()


def _family(prefix, base_of, *, family, ops, seeds, preds, role_of, probes_all=None, heavy=None):
    """Weight-decay pairs of one family over ops × seeds; ``heavy`` probes on the first wd run."""
    out = []
    for op in ops:
        for seed in seeds:
            first = heavy is not None and op == ops[0] and seed == seeds[0]
            out += _grok_pair(
                prefix,
                base_of(op),
                family=family,
                op=op,
                seed=seed,
                role=role_of(seed),
                preds=set(preds) | (HEAVY_PREDS if first else set()),
                probes_wd=heavy if first else None,
                probes_all=probes_all,
            )
    return out


def _role(family: str):
    def role_of(seed: int) -> str:
        return "tune" if seed in TUNING_SEEDS and family in TUNING_FAMILIES else "score"

    return role_of


def plan_cpu() -> Plan:
    """The CPU campaign: the thesis' predictions and the early-warning evaluation.

    Order: the tuning runs first (seed 0 of the tuning families), so that rules can be tuned
    while the scoring runs train; then the paper's modular-arithmetic family, the other
    families, the held-out families and the single-purpose runs.
    """
    p = "cpu"
    every_100 = {"commutator": {"every": 100, "pairs": 5, "batch": 512}}
    every_10 = {"commutator": {"every": 10, "pairs": 5, "batch": 128}}
    heavy = {
        "updates": {},
        "trajectory": {"every": 100},
        "hessian": {"k": 10, "at": "grok"},
        "decomposition": {"every": 500},
    }
    grok = GROK_PREDS | {EW}

    def modarith(op, fraction=0.5, steps=5000):
        return _modarith_base(op, fraction, steps)

    families = {
        # the paper's setting, at its train fraction and at 0.4 (t_grok moves later)
        "modarith": dict(
            base_of=modarith,
            ops=GROK_OPS,
            preds=grok | {"C9"},
            probes_all=every_100,
            heavy=heavy,
        ),
        "modarith-f04": dict(
            base_of=lambda op: modarith(op, 0.4, 6000),
            ops=("add", "mul"),
            preds={"C1", "C8", "C9", "T2", EW},
            probes_all=every_100,
        ),
        # the embedding MLP (a second modular family, all parameters)
        "mlp": dict(
            base_of=lambda op: _mlp_base(op, 0.5, 2000),
            ops=GROK_OPS,
            preds={"C1", "C7", "T1", "T2", "T4", "C8", EW},
            probes_all=every_10,
        ),
        "mlp-f04": dict(
            base_of=lambda op: _mlp_base(op, 0.4, 3000),
            ops=("add", "mul"),
            preds={"C1", "C8", EW},
            probes_all=every_10,
        ),
        "lockin": dict(base_of=lambda op: _lockin_base(), ops=("add",), preds={"C12", EW}),
    }
    specs: list[RunSpec] = []
    for fam_seeds in ((0,), SCORING_SEEDS):  # tuning runs first
        for family, f in families.items():
            fseeds = fam_seeds if family != "lockin" or fam_seeds == (0,) else (1, 2, 3, 4, 5)
            specs += _family(
                p,
                f["base_of"],
                family=family,
                ops=f["ops"],
                seeds=fseeds,
                preds=f["preds"],
                role_of=_role(family),
                probes_all=f.get("probes_all"),
                heavy=f.get("heavy") if fam_seeds == SCORING_SEEDS else None,
            )
    # held-out families: never used for tuning, scored on the scoring seeds
    dyck = replace(
        get_preset("dyck"),
        n_test=2000,
        steps=4000,
        eval_every=50,
        monitor_every=50,
        monitor_window=5,
        checkpoint_every=1000,
        scaled_down=False,
        note="reproduce cpu: Dyck-1 at the paper's shape, sequence accuracy",
    ).validate()
    multitask = replace(
        get_preset("multitask"),
        steps=5000,
        eval_every=100,
        monitor_params="attention",
        checkpoint_every=1000,
        note="reproduce cpu: multi-task add+mul on the paper's transformer",
    ).validate()
    for family, base in (("dyck", dyck), ("multitask", multitask)):
        specs += _family(
            p,
            lambda op, b=base: b,
            family=family,
            ops=(base.op,),
            seeds=SCORING_SEEDS,
            preds={"C1", "C7", "T1", "T2", EW},
            role_of=_role(family),
            probes_all=every_100 if family == "multitask" else None,
        )
    # the language-model family (optimizer, lag flip, per-layer, shift)
    specs += _lm_family(p, _lm_base(False), (1,))
    # learning-rate sweep of the MLP for lead-time scaling (C9)
    mlp = _mlp_base("add", 0.5, 2000)
    specs += _lr_sweep(p, mlp, (1e-3, 2e-3, 5e-3, 1e-2, 2e-2), 1, (6000, 3000, 1500, 1000, 800))
    # SCAN, narrowed for a CPU (reported apart if it does not grok)
    scan = replace(
        get_preset("scan-cpu"),
        model_args="d_model=64,d_ff=128,n_encoder_layers=1,n_decoder_layers=1",
        checkpoint_every=500,
        note="reproduce cpu: SCAN, 1+1 layers d 64 (paper 3+3, d 256)",
    )
    specs += _wd_family(p, scan, "scan", SCORING_SEEDS)
    return Plan("cpu", tuple(specs))


def plan_gpu() -> Plan:
    p = "gpu"
    specs: list[RunSpec] = []
    comm = {"commutator": {"every": 100, "pairs": 5, "batch": 512}}
    for op, preset in zip(
        GROK_OPS, ("modarith-add", "modarith-sub", "modarith-mul", "modarith-sq"), strict=True
    ):
        base = replace(get_preset(preset), checkpoint_every=1000)
        for seed in (42, 137, 2024):
            specs += _grok_pair(
                p,
                base,
                family="modarith",
                op=op,
                seed=seed,
                role="score",
                preds=GROK_PREDS,
                probes_all=comm,
            )
    specs += _wd_family(
        p, replace(get_preset("multitask"), checkpoint_every=1000), "multitask", (42, 137, 2024)
    )
    specs += _wd_family(p, replace(get_preset("dyck"), checkpoint_every=500), "dyck", (1, 2, 3))
    specs += _wd_family(p, replace(get_preset("scan"), checkpoint_every=1000), "scan", (1, 2, 3))
    # the language models: the only runs that test C2, C4–C6 and the paper's reading of T4/C7 at
    # the author's scale (docs/reproduction.md, "GPU suite", gives the cost of each)
    ts = replace(get_preset("tinystories-51m"), checkpoint_every=1000)
    lm = {"family": "lm", "optimizer": "adamw", "window": 10, "params": "all", "role": "score"}
    for seed in (1, 2, 3, 4):  # the author's collapse at 7,500 ± 300 is over 4 seeds
        specs.append(
            RunSpec(
                f"{p}/ts51m-adamw-w10-s{seed}",
                replace(ts, seed=seed),
                {**lm, "seed": seed, "for": ["T2", "T7", "C7"] + (["C2", "C4"] * (seed == 1))},
            )
        )
    # C2: Muon at the AdamW run's η (RMS-matched, lab/optim.py), compared at matched val loss
    specs.append(
        RunSpec(
            f"{p}/ts51m-muon-w10-s1",
            replace(ts, optimizer="muon", seed=1),
            {**lm, "optimizer": "muon", "seed": 1, "for": ["C2"]},
        )
    )
    # C4 as the author ran it: the same TinyStories training read at W = 20
    specs.append(
        RunSpec(
            f"{p}/ts51m-adamw-w20-s1",
            replace(ts, monitor_window=20, seed=1),
            {**lm, "window": 20, "seed": 1, "for": ["C4"]},
        )
    )
    # C5: GPT-2 124M with the corpus switch at 17,800, and its unshifted twin (the null)
    g2 = replace(get_preset("gpt2-124m"), checkpoint_every=1000, seed=1)
    specs.append(
        RunSpec(
            f"{p}/gpt2-shift-s1",
            g2,
            {**lm, "family": "lm-shift", "shift_step": g2.shift_step, "seed": 1, "for": ["C5"]},
        )
    )
    specs.append(
        RunSpec(f"{p}/gpt2-w10-s1", replace(g2, shift_step=0), {**lm, "seed": 1, "for": ["C5"]})
    )
    specs += _lockin(p, _lockin_base(), (1, 2, 3, 4, 5))
    return Plan("gpu", tuple(specs))


def make_plan(suite: str) -> Plan:
    if suite == "quick":
        return plan_quick()
    if suite == "cpu":
        return plan_cpu()
    if suite == "gpu":
        return plan_gpu()
    raise SpectralEdgeError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")


__all__ = ["PROBES", "SCORING_SEEDS", "SUITES", "TUNING_SEEDS", "Plan", "RunSpec", "make_plan"]
