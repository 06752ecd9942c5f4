"""The local learning coefficient (LLC) at saved weights, estimated with ``devinterp``'s SGLD.

The LLC is the peer signal researchers already use to find stage transitions in training
(Lau et al. 2023; Hoogland et al. 2024): the early-warning evaluation (docs/early-warning.md,
"peer") scores it beside the spectral signals, at the weights the trainer saves every
``weights_every`` steps. This module is the lab side of that measurement: it needs a model, data
and a loss, so it lives in :mod:`spectral_edge.reproduce`, not in :mod:`spectral_edge.dynamics`.

The estimator
-------------
At weights w* with training loss L_n (the mean loss over the n training samples), the LLC is
estimated from the tempered, localised posterior around w*

    p(w) ∝ exp(−nβ·L_n(w) − (γ/2)·‖w − w*‖²),

    λ̂(w*) = nβ · ( E_{w∼p}[L_n(w)] − L_n(w*) ),

with inverse temperature nβ (default n / log n, the β* = 1/log n of Watanabe's WBIC that Lau et
al. use; ``devinterp.utils.default_nbeta`` computes the same x / log x) and localisation γ. For a
regular model (a non-degenerate minimum) λ̂ → d/2, half the parameter count; degenerate minima
give less, which is what makes it a measure of effective complexity.

The expectation is taken with SGLD (Welling & Teh 2011, with Lau et al.'s localisation): each
step draws a minibatch of m samples and moves

    Δw = −(ε/2)·( nβ·∇L_m(w) + γ·(w − w*) ) + N(0, ε),

and ``num_chains`` independent chains of ``num_burnin`` + ``num_draws`` steps start at w*. The
loss of each step's minibatch is the sample of L_n; λ̂ averages the draws after burn-in over all
chains, and its standard error is the spread of the per-chain estimates, sd/√chains.

Why ``devinterp`` drives the whole estimate
-------------------------------------------
The point is to measure the tool researchers use, not an imitation of it. So the sampling is
``devinterp.slt.sampling.sample`` itself: its SGLD optimizer (``SGMCMC.sgld``, the one its
``llc()`` uses; the older ``devinterp.optim.SGLD`` is deprecated in 2.0.1), its per-chain seeding
(chain c is seeded ``seed + c``), its data loader (shuffled once with ``seed``, the same minibatch
order in every chain, replayed when exhausted), its ``init_loss`` (L_n(w*), here over one full
pass of that loader) and its per-step loss record; the per-chain sums come from
``devinterp.slt.llc.compute_llc``. Its high-level ``llc()`` expects a language model and a
HuggingFace dataset of ``input_ids``; ours are modular-arithmetic batches (tuples of tensors), so
the dataset handed to ``sample`` holds each training sample's *index* as its ``input_ids`` and the
custom ``loss_fn`` (a hook ``sample`` provides for this) gathers those rows and returns the
task's mean loss, broadcast to the per-token shape ``sample`` expects. Broadcasting a mean is
exact here: ``sample`` backpropagates the mean of that tensor and ``compute_llc`` averages it, so
both see the minibatch mean loss.

One deliberate difference: devinterp 2.0.1's ``compute_llc`` averages the loss over *every*
step, burn-in included. The LLC is a posterior expectation, so :func:`llc_at` averages the draws
after burn-in only (``llc``), and reports devinterp's all-steps number beside it
(``llc_all_steps``); with ``num_burnin=0`` they are the same.

Hyper-parameters
----------------
:data:`CALIBRATED` holds the values chosen once on the tuning seed's modular-arithmetic
transformer runs (docs/early-warning.md, "The local learning coefficient (LLC): calibration"):
loss traces stationary after burn-in, no divergence, λ̂ > 0 after memorisation, at a cost the
campaign can afford. :func:`llc_series` uses them for every checkpoint of every run, so that an
LLC series is comparable within and across runs.

γ is large there (weights of RMS 0.05 per coordinate after grokking: a weak prior lets the chains
walk off to chance-level loss, and λ̂ then only measures nβ·(log p − L_n)), and ε is small (the
sharpest checkpoints, after grokking, diverge above it). At a finite γ a direction of curvature
h counts ½·nβh/(nβh + γ) towards λ̂, not ½: the number is the LLC *at that localisation*,
comparable across checkpoints and runs measured with the same γ, not an absolute count.

``devinterp`` is an optional dependency (``pip install spectral-edge[llc]``), imported only when an
estimate is made.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import math
import random
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError

DEVINTERP_VERSION = "2.0.1"

# Chosen once on the tuning seed's transformer runs (cpu/modarith-add-wd-s0 and -wd0-s0) for the
# sharpest of their checkpoints (after grokking); what was tried and why is in
# docs/early-warning.md, "The local learning coefficient (LLC): calibration". n_beta None: n/log n.
CALIBRATED: dict = {
    "lr": 3e-7,
    "n_beta": None,
    "localization": 3e4,
    "num_chains": 2,
    "num_draws": 100,
    "num_burnin": 200,
    "batch_size": 64,
}

SERIES_COLUMNS = ("step", "llc", "llc_se", "seconds")

LossFn = Callable[[nn.Module, tuple], torch.Tensor]


# --- the optional dependency ---------------------------------------------------------------------


def _devinterp():
    """Import devinterp's sampler and LLC formula, or say which extra installs them."""
    try:
        import devinterp
        from devinterp.slt import llc as devinterp_llc
        from devinterp.slt import sampler as devinterp_sampler
        from devinterp.slt import sampling as devinterp_sampling
    except ImportError as exc:
        raise SpectralEdgeError(
            f"the LLC needs devinterp=={DEVINTERP_VERSION} ({exc}); install it with "
            "pip install 'spectral-edge[llc]'"
        ) from None
    from importlib.metadata import version as dist_version

    version = getattr(devinterp, "__version__", None) or dist_version("devinterp")
    if version.split("+")[0] != DEVINTERP_VERSION:
        raise SpectralEdgeError(
            f"the LLC is written against devinterp {DEVINTERP_VERSION} (its API changes between "
            f"releases), found {version}; install it with pip install 'spectral-edge[llc]'"
        )
    return devinterp_sampling, devinterp_sampler, devinterp_llc


# --- one estimate --------------------------------------------------------------------------------


@dataclass
class LLCEstimate:
    """One LLC estimate at one set of weights, with what it took and how it was made.

    ``llc`` is λ̂ over the draws after burn-in, ``llc_se`` its across-chain standard error
    (sd of the per-chain estimates / √chains; NaN with one chain). ``llc_all_steps`` is
    devinterp's own ``compute_llc`` number (burn-in included). ``init_loss`` is L_n(w*).
    ``drift`` is the stationarity diagnostic: nβ·(mean loss of the second half of the draws −
    mean loss of the first half), in LLC units; a stationary chain has drift ≈ 0 next to ``llc``
    (a rising trace gives drift > 0, i.e. λ̂ still climbing). ``loss_trace`` is the per-chain,
    per-step minibatch loss (chains × (burn-in + draws)). ``failed_chains`` counts chains devinterp
    stopped on a non-finite loss; then ``llc`` is NaN. ``seconds`` is wall time, ``cpu_seconds``
    this process's CPU time (steadier on a shared machine).
    """

    llc: float
    llc_se: float
    llc_per_chain: np.ndarray
    llc_all_steps: float
    init_loss: float
    drift: float
    loss_trace: np.ndarray
    failed_chains: int
    seconds: float
    cpu_seconds: float
    hyperparameters: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The scalar fields (no arrays), for a table row."""
        out = {k: v for k, v in asdict(self).items() if not isinstance(v, np.ndarray)}
        out.pop("hyperparameters")
        return out


class _IndexDataset(torch.utils.data.Dataset):
    """Sample i as devinterp's ``{"input_ids": [i, i]}``: a (batch, 2) "sequence" of indices.

    devinterp's ``sample`` reads ``input_ids`` of length ≥ 2 (it predicts token t+1 from token t);
    two copies of the index give a per-token loss of shape (batch, 1), one loss per sample.
    """

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": torch.tensor([i, i])}


def _indexed_loss(loss_fn: LossFn, data: tuple) -> Callable:
    """devinterp's ``loss_fn(model, input_ids) → (batch, 1)`` from ours over the gathered rows."""

    def per_token(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
        idx = input_ids[:, 0].cpu()
        batch = tuple(t[idx].to(input_ids.device) for t in data)
        loss = loss_fn(model, batch)
        if loss.dim() != 0:
            raise SpectralEdgeError(
                f"loss_fn must return the batch's mean loss as a scalar, got shape "
                f"{tuple(loss.shape)}"
            )
        return loss.reshape(1, 1).expand(len(idx), 1)

    return per_token


@contextlib.contextmanager
def _kept_rng_state():
    """devinterp reseeds the global torch/numpy/random generators; give the caller's back."""
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002
    python_state = random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


@contextlib.contextmanager
def _frozen_heap():
    """Make devinterp's per-chain ``gc.collect()`` cheap: it walks every object of the process
    (with torch and transformers imported, ~0.4 s a call, two calls a chain). Objects that
    existed before the estimate are frozen out of the collector's view meanwhile; the sampling
    itself is unchanged."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _quiet_progress(sampler_module, progress: bool):
    """devinterp draws a tqdm bar per chain; off unless asked (hundreds of estimates a run)."""
    if progress:
        yield
        return
    original = sampler_module.trange

    def silent(*args, **kwargs):
        return original(*args, **{**kwargs, "disable": True})

    sampler_module.trange = silent
    try:
        yield
    finally:
        sampler_module.trange = original


def default_n_beta(n: int) -> float:
    """nβ = n / log n for n training samples (Lau et al.'s β* = 1/log n)."""
    if n < 2:
        raise SpectralEdgeError(f"nβ = n/log n needs at least 2 training samples, got {n}")
    return n / math.log(n)


def llc_at(
    model: nn.Module,
    loss_fn: LossFn,
    data: Sequence[torch.Tensor],
    *,
    lr: float = CALIBRATED["lr"],
    n_beta: float | None = CALIBRATED["n_beta"],
    localization: float = CALIBRATED["localization"],
    num_chains: int = CALIBRATED["num_chains"],
    num_draws: int = CALIBRATED["num_draws"],
    num_burnin: int = CALIBRATED["num_burnin"],
    batch_size: int = CALIBRATED["batch_size"],
    seed: int = 0,
    progress: bool = False,
) -> LLCEstimate:
    """Estimate the LLC of ``model`` at its current weights with devinterp's SGLD.

    ``data`` is the training set as a tuple of tensors sharing their first dimension (n samples);
    ``loss_fn(model, batch)`` returns the mean training loss of ``batch`` (a tuple of row subsets
    of ``data``) as a scalar tensor with its graph. ``lr`` is the SGLD step ε, ``n_beta`` the
    inverse temperature nβ (None: n / log n), ``localization`` γ, ``batch_size`` the SGLD
    minibatch m (at most n). ``seed`` fixes the minibatch order and every chain's noise, so the
    same call gives the same estimate. ``model`` is not changed (devinterp samples a copy) and
    neither are the global random generators.

    The defaults are :data:`CALIBRATED`; the module docstring has the maths and why devinterp's
    own ``sample``/``compute_llc`` are used rather than a hand-written sampler.
    """
    data = tuple(data)
    if not data or any(not isinstance(t, torch.Tensor) for t in data):
        raise SpectralEdgeError("data must be a non-empty tuple of tensors (the training set)")
    n = len(data[0])
    if any(len(t) != n for t in data):
        raise SpectralEdgeError(
            f"the tensors of data must share their first dimension, got {[len(t) for t in data]}"
        )
    if not 1 <= batch_size <= n:
        raise SpectralEdgeError(f"batch_size must be in [1, {n}] (n samples), got {batch_size}")
    if lr <= 0 or localization < 0:
        raise SpectralEdgeError(f"need lr > 0 and localization ≥ 0, got {lr}, {localization}")
    if num_chains < 1 or num_draws < 2 or num_burnin < 0:
        raise SpectralEdgeError(
            f"need num_chains ≥ 1, num_draws ≥ 2, num_burnin ≥ 0, got {num_chains}, "
            f"{num_draws}, {num_burnin}"
        )
    nbeta = default_n_beta(n) if n_beta is None else float(n_beta)
    if nbeta <= 0:
        raise SpectralEdgeError(f"n_beta must be positive, got {n_beta}")
    sampling, sampler, devinterp_llc = _devinterp()
    device = next(model.parameters()).device
    hyperparameters = {
        "lr": lr,
        "n_beta": nbeta,
        "localization": localization,
        "num_chains": num_chains,
        "num_draws": num_draws,
        "num_burnin": num_burnin,
        "batch_size": batch_size,
        "seed": seed,
        "n": n,
        "devinterp": DEVINTERP_VERSION,
    }

    wall0, cpu0 = time.perf_counter(), time.process_time()
    with (
        tempfile.TemporaryDirectory(prefix="spectral-edge-llc-") as tmp,
        _kept_rng_state(),
        _frozen_heap(),
        _quiet_progress(sampler, progress),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        samples = sampling.sample(
            model,
            _IndexDataset(n),
            {},
            lr=lr,
            n_beta=nbeta,
            num_chains=num_chains,
            num_draws=num_draws,
            num_burnin_steps=num_burnin,
            batch_size=batch_size,
            # L_n(w*) over one full pass of the (drop-last) loader the chains cycle through
            num_init_loss_batches=n // batch_size,
            init_seed=seed,
            localization=localization,
            device=str(device),
            output_path=Path(tmp) / "samples.zarr",
            loss_fn=_indexed_loss(loss_fn, data),
        )
        result = devinterp_llc.compute_llc(samples)
        trace = np.asarray(result.loss_trace.values, dtype=np.float64)  # (chain, step)
        init_loss = float(result.init_loss)
        llc_all_steps = float(result.llc_mean)
    failed = sum("Chain failed" in str(w.message) for w in caught)
    for w in caught:  # pass on what devinterp said, except the failures counted above
        if "Chain failed" not in str(w.message) and not issubclass(w.category, DeprecationWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    draws = trace[:, num_burnin:]
    per_chain = nbeta * (draws.mean(axis=1) - init_loss)
    half = draws.shape[1] // 2
    drift = float(nbeta * (draws[:, half:].mean() - draws[:, :half].mean()))
    llc = float(per_chain.mean())
    se = float(per_chain.std(ddof=1) / math.sqrt(num_chains)) if num_chains > 1 else math.nan
    if failed or not np.isfinite(trace).all():
        llc = se = drift = math.nan
    return LLCEstimate(
        llc=llc,
        llc_se=se,
        llc_per_chain=per_chain,
        llc_all_steps=llc_all_steps,
        init_loss=init_loss,
        drift=drift,
        loss_trace=trace,
        failed_chains=int(failed),
        seconds=time.perf_counter() - wall0,
        cpu_seconds=time.process_time() - cpu0,
        hyperparameters=hyperparameters,
    )


# --- a run's series ------------------------------------------------------------------------------

_WEIGHTS_FILE = re.compile(r"^step-(\d+)\.pt$")


def saved_weights(run_dir: str | Path, run_name: str) -> list[tuple[int, Path]]:
    """The (step, path) of every ``<run_dir>/weights/<run>/step-NNNNNNN.pt``, by step."""
    from spectral_edge.lab.trainer import WEIGHTS_DIR

    folder = Path(run_dir) / WEIGHTS_DIR / run_name
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _WEIGHTS_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _run_task(run_dir: str | Path, run_name: str):
    """The run's TrainConfig and the trainer's task (data, model builder, loss) rebuilt from it."""
    from spectral_edge.lab.presets import config_from_dict
    from spectral_edge.lab.trainer import _Task
    from spectral_edge.store import open_store

    with open_store(run_dir, read_only=True) as store:
        config = store.run(run_name).config
    if "train" not in config:
        raise SpectralEdgeError(
            f"run {run_name!r} has no training config: only runs trained by the lab's trainer "
            "can be rebuilt for the LLC"
        )
    cfg = config_from_dict(config["train"])
    task = _Task(cfg)
    if task.train is None:
        raise SpectralEdgeError(
            f"run {run_name!r} is a {cfg.task!r} run: the LLC needs a fixed training set "
            "(modular, multitask, mlp-modular, dyck, scan)"
        )
    return cfg, task


def llc_series(
    run_dir: str | Path,
    run_name: str,
    *,
    steps: Sequence[int] | None = None,
    skip_steps: Sequence[int] = (),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    on_estimate: Callable[[dict], None] | None = None,
    **hyperparameters,
) -> pd.DataFrame:
    """The LLC at every saved weight of a lab run: a DataFrame (step, llc, llc_se, seconds, …).

    ``run_dir`` is the run directory the trainer wrote (its store and ``weights/``), ``run_name``
    the run. The model and training set are rebuilt from the run's stored config (the trainer's
    own task, so the loss is the one it trained on, ``loss_reduction`` included), each saved
    ``step-NNNNNNN.pt`` is loaded in turn and :func:`llc_at` estimates the LLC there with the same
    ``seed`` and hyper-parameters (``hyperparameters`` override :data:`CALIBRATED`). ``steps``
    keeps only those steps; ``skip_steps`` leaves some out (already computed). ``progress``
    receives one line per estimate; ``on_estimate`` each row as it is made (to save as it goes).

    Columns: step, llc, llc_se, seconds, then cpu_seconds, init_loss (L_n(w*)), drift,
    llc_all_steps, failed_chains and the hyper-parameters (lr, n_beta, localization,
    num_chains, num_draws, num_burnin, batch_size, seed), so a saved table says how it was made.
    """
    unknown = set(hyperparameters) - set(CALIBRATED)
    if unknown:
        raise SpectralEdgeError(
            f"unknown LLC hyper-parameter(s) {sorted(unknown)}; known: {sorted(CALIBRATED)}"
        )
    settings = {**CALIBRATED, **hyperparameters}
    weights = saved_weights(run_dir, run_name)
    if not weights:
        raise SpectralEdgeError(
            f"run {run_name!r} has no saved weights under {Path(run_dir) / 'weights'}: train it "
            "with weights_every > 0"
        )
    if steps is not None:
        wanted = set(steps)
        weights = [(s, p) for s, p in weights if s in wanted]
    skip = set(skip_steps)
    weights = [(s, p) for s, p in weights if s not in skip]
    cfg, task = _run_task(run_dir, run_name)

    def loss_fn(model: nn.Module, batch: tuple) -> torch.Tensor:
        return task.forward(model, batch, cfg.loss_reduction)[0]

    rows = []
    for step, path in weights:
        model = task.build_model()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
        except (OSError, RuntimeError, KeyError, EOFError) as exc:
            raise SpectralEdgeError(f"cannot load the weights {path}: {exc}") from None
        est = llc_at(model, loss_fn, task.train, seed=seed, **settings)
        values = {"step": step, **est.summary(), **est.hyperparameters}
        row = {column: values[column] for column in _series_columns()}
        rows.append(row)
        if on_estimate is not None:
            on_estimate(row)
        if progress is not None:
            progress(
                f"[{run_name}] step {step}: llc {est.llc:.2f} ± {est.llc_se:.2f} "
                f"(drift {est.drift:+.2f}, L_n {est.init_loss:.4f}) in {est.seconds:.1f} s"
            )
    return pd.DataFrame(rows, columns=_series_columns())


def _series_columns() -> list[str]:
    """A series' columns: the four that matter first, then the diagnostics and the settings."""
    diagnostics = ["cpu_seconds", "init_loss", "drift", "llc_all_steps", "failed_chains"]
    return [*SERIES_COLUMNS, *diagnostics, *CALIBRATED, "seed"]


def series_path(out: str | Path, run_name: str) -> Path:
    """Where a run's series goes: ``out`` itself if it ends in .csv, else ``out/<run>.csv``."""
    out = Path(out)
    return out if out.suffix == ".csv" else out / f"{run_name}.csv"


def llc_series_to_csv(
    run_dir: str | Path,
    run_name: str,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    **kwargs,
) -> Path:
    """Compute :func:`llc_series` into a CSV file, one row written as each estimate is made.

    ``out`` is a ``.csv`` path or a directory (then ``out/<run>.csv``, the run name's folders
    kept). Never writes into the run's store. A file already there is continued: its steps are
    skipped, so a rerun after an interruption, or after the run saved more weights, adds only
    the missing steps; it must have been made with the same hyper-parameters and seed, or
    ``overwrite=True`` starts it anew. Returns the path.
    """
    path = series_path(out, run_name)
    settings = {**CALIBRATED, **{k: v for k, v in kwargs.items() if k in CALIBRATED}}
    seed = kwargs.get("seed", 0)
    done: list[int] = []
    if path.exists() and not overwrite:
        old = pd.read_csv(path)
        if not old.empty:
            _check_same_settings(old, path, settings, seed)
            done = [int(s) for s in old["step"]]
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)

    def append(row: dict) -> None:
        header = not path.exists() or path.stat().st_size == 0
        pd.DataFrame([row]).to_csv(path, mode="a", header=header, index=False)

    llc_series(
        run_dir, run_name, skip_steps=done, progress=progress, on_estimate=append, **kwargs
    )
    if path.exists():  # keep the file in step order after a continuation
        table = pd.read_csv(path).sort_values("step")
        table.to_csv(path, index=False)
    return path


def _check_same_settings(old: pd.DataFrame, path: Path, settings: dict, seed: int) -> None:
    """A continued file must hold estimates made the same way (n_beta None: n/log n, any n)."""
    wanted = {**settings, "seed": seed}
    for key, value in wanted.items():
        if key not in old.columns:
            raise SpectralEdgeError(f"{path} has no {key!r} column; use --overwrite to redo it")
        if value is None:
            continue
        stored = old[key].iloc[0]
        if not math.isclose(float(stored), float(value)):
            raise SpectralEdgeError(
                f"{path} was made with {key}={stored}, not {value}; use another --out or "
                "--overwrite"
            )


def match_runs(run_dir: str | Path, patterns: Sequence[str]) -> list[str]:
    """Run names of the store matching any pattern (fnmatch: ``cpu/modarith-add-*``), in order.

    A plain name that is not in the store is an error; a pattern that matches nothing is too.
    """
    from spectral_edge.store import open_store

    with open_store(run_dir, read_only=True) as store:
        table = store.runs()
    names = [] if table.empty else list(table["name"])
    chosen: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise SpectralEdgeError(f"no run of {run_dir} matches {pattern!r}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


__all__ = [
    "CALIBRATED",
    "DEVINTERP_VERSION",
    "LLCEstimate",
    "default_n_beta",
    "llc_at",
    "llc_series",
    "llc_series_to_csv",
    "match_runs",
    "saved_weights",
    "series_path",
]
