"""Optimizers, learning-rate schedules, gradient clipping and the η the monitor reads.

Optimizers (:func:`make_optimizers`, always a list so a trainer steps them all alike):

- ``adamw``: one ``torch.optim.AdamW`` over every parameter. Weight decay applies to all of them,
  biases and norms included, as in the papers' ``AdamW(model.parameters(), weight_decay=1.0)``;
  ``decay_1d=False`` exempts 1-D parameters instead.
- ``adam``: one ``torch.optim.Adam``; its weight decay is *coupled* L2 (ω·θ added to the gradient
  before the adaptive scaling), as in the author's two-layer MLP. Coupled and decoupled decay are
  different regularisers under Adam: the coupled term is divided by √v̂ like the gradient, so
  with a summed loss (large gradients) ω = 2e-4 is a real pull towards 0, whereas AdamW's
  decoupled 2e-4·η·θ a step is none at all.
- ``sgd``: one ``torch.optim.SGD`` with momentum; its weight decay is L2 added to the gradient
  (torch's SGD), not decoupled.
- ``muon``: ``[Muon(hidden matrices), AdamW(everything else)]``.

Which parameters Muon gets (:func:`split_hidden_matrices`): a parameter is a *hidden matrix* when it
is the 2-D weight of an ``nn.Linear`` that is not an input or output layer, i.e. whose module name
is not in ``io_modules`` (default ``embed``, ``head``, ``lm_head``). Everything else goes to AdamW:
embeddings (``nn.Embedding``, learned positions), the read-out / LM head (tied or not), biases and
norm gains. The reason is what Muon does: it orthogonalises the update of a matrix that maps one
hidden representation to another, where "every direction of the input matters equally" is the
right geometry. An embedding is a lookup table (each row is touched only by its token), a head maps
into logit space, and vectors have no matrix structure; orthogonalising those is either meaningless
or harmful, which is also the advice of Muon's authors. ``torch.optim.Muon`` itself refuses
non-2-D parameters.

Muon's step size: we pass ``adjust_lr_fn="match_rms_adamw"`` (Moonshot's scaling, 0.2·√max(A, B))
by default so that one η and one weight decay mean the same for both optimizers; that is what makes
a single η meaningful for the adiabatic parameter. ``muon_lr`` overrides the Muon η.

Schedules are ``LambdaLR`` multipliers of each group's base η: linear warm-up then cosine decay to
``final_fraction`` (TinyStories: 1,500 warm-up steps, cosine to 10 % over 10k), or linear warm-up
then constant. Warm-up starts at ``1/warmup_steps`` rather than 0, so no step has η = 0 (an update
of zero would be a degenerate snapshot and A = ‖ΔG‖/(η g²) would divide by zero).

η for the adiabatic parameter (:func:`current_lr`): with several optimizers or groups there is no
single learning rate, so the caller names a policy and records it (docs/thesis.md §9); the
policies (``first``, ``max``, ``mean``, ``weighted``) are :mod:`spectral_edge.learning_rate`'s,
the one rule the monitor and the analysis of checkpoints use too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import partial

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import LR_POLICIES as LR_POLICIES  # re-exported: public name
from spectral_edge.learning_rate import learning_rate

OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
SCHEDULES = ("constant", "cosine")
IO_MODULES = frozenset({"embed", "head", "lm_head"})

NamedParams = list[tuple[str, nn.Parameter]]


def split_hidden_matrices(
    model: nn.Module, io_modules: Iterable[str] = IO_MODULES
) -> tuple[NamedParams, NamedParams]:
    """``(hidden, rest)``: Muon's parameters and AdamW's, with names (see the module docstring).

    A tied weight appears once, under its first name (``wte.weight`` for a tied GPT head), and is
    judged by the module that owns that name, so a tied LM head stays out of Muon with the
    embedding it shares.
    """
    io = set(io_modules)
    owner_of: dict[str, nn.Module] = {}
    for mod_name, mod in model.named_modules():
        for p_name, _ in mod.named_parameters(recurse=False):
            owner_of.setdefault(f"{mod_name}.{p_name}" if mod_name else p_name, mod)
    hidden: NamedParams = []
    rest: NamedParams = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        module_name = name.rsplit(".", 1)[0] if "." in name else ""
        is_hidden = (
            p.ndim == 2
            and isinstance(owner_of[name], nn.Linear)
            and module_name.rsplit(".", 1)[-1] not in io
        )
        (hidden if is_hidden else rest).append((name, p))
    return hidden, rest


def _adamw_groups(params: NamedParams, weight_decay: float, decay_1d: bool) -> list[dict]:
    if decay_1d:
        return [{"params": [p for _, p in params], "weight_decay": weight_decay}]
    decay = [p for _, p in params if p.ndim >= 2]
    no_decay = [p for _, p in params if p.ndim < 2]
    return [
        g
        for g in (
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        )
        if g["params"]
    ]


def make_optimizers(
    model: nn.Module,
    name: str = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-8,
    momentum: float = 0.9,
    decay_1d: bool = True,
    muon_lr: float | None = None,
    muon_momentum: float = 0.95,
    muon_adjust_lr_fn: str | None = "match_rms_adamw",
    io_modules: Iterable[str] = IO_MODULES,
) -> list[Optimizer]:
    """The optimizer(s) for ``model``: ``adamw``, ``adam``, ``sgd`` or ``muon`` (Muon + AdamW).

    ``momentum`` is SGD's; ``betas`` and ``eps`` are AdamW's (also the AdamW half of ``muon``).
    Defaults are the grokking papers' AdamW β (0.9, 0.98).
    """
    if name not in OPTIMIZERS:
        known = ", ".join(OPTIMIZERS)
        raise SpectralEdgeError(f"unknown optimizer {name!r}; choose one of: {known}")
    if lr <= 0 or weight_decay < 0:
        raise SpectralEdgeError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise SpectralEdgeError("the model has no trainable parameters")
    if name == "sgd":
        groups = _adamw_groups(named, weight_decay, decay_1d)
        return [torch.optim.SGD(groups, lr=lr, momentum=momentum)]
    if name == "adam":
        groups = _adamw_groups(named, weight_decay, decay_1d)
        return [torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps)]
    adamw = partial(torch.optim.AdamW, lr=lr, betas=betas, eps=eps)
    if name == "adamw":
        return [adamw(_adamw_groups(named, weight_decay, decay_1d))]
    hidden, rest = split_hidden_matrices(model, io_modules)
    if not hidden:
        raise SpectralEdgeError(
            f"{type(model).__name__} has no hidden 2-D matrices, so Muon has nothing to optimize; "
            "use adamw"
        )
    muon = torch.optim.Muon(
        [p for _, p in hidden],
        lr=lr if muon_lr is None else muon_lr,
        weight_decay=weight_decay,
        momentum=muon_momentum,
        adjust_lr_fn=muon_adjust_lr_fn,
    )
    optimizers: list[Optimizer] = [muon]
    if rest:
        optimizers.append(adamw(_adamw_groups(rest, weight_decay, decay_1d)))
    return optimizers


# --- schedules -----------------------------------------------------------------------------


def warmup_constant(step: int, warmup_steps: int = 0) -> float:
    """Multiplier: ``(step + 1) / warmup_steps`` during warm-up, then 1."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    return 1.0


def warmup_cosine(
    step: int, warmup_steps: int, total_steps: int, final_fraction: float = 0.1
) -> float:
    """Multiplier: linear warm-up, then cosine from 1 to ``final_fraction`` at ``total_steps``.

    Constant at ``final_fraction`` after ``total_steps``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_schedulers(
    optimizers: Optimizer | Sequence[Optimizer],
    kind: str = "constant",
    warmup_steps: int = 0,
    total_steps: int | None = None,
    final_fraction: float = 0.1,
) -> list[LambdaLR]:
    """One ``LambdaLR`` per optimizer, all with the same multiplier; step them once per step."""
    if kind not in SCHEDULES:
        raise SpectralEdgeError(f"unknown schedule {kind!r}; choose one of: {', '.join(SCHEDULES)}")
    if warmup_steps < 0:
        raise SpectralEdgeError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if kind == "constant":
        factor = partial(warmup_constant, warmup_steps=warmup_steps)
    else:
        if total_steps is None or total_steps <= warmup_steps:
            raise SpectralEdgeError(
                f"a cosine schedule needs total_steps > warmup_steps, got {total_steps} "
                f"and {warmup_steps}"
            )
        if not 0.0 <= final_fraction <= 1.0:
            raise SpectralEdgeError(f"final_fraction must lie in [0, 1], got {final_fraction}")
        factor = partial(
            warmup_cosine,
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            final_fraction=final_fraction,
        )
    return [LambdaLR(opt, factor) for opt in _as_list(optimizers)]


# --- clipping and the monitor's η -----------------------------------------------------------


def clip_gradients(parameters: nn.Module | Iterable[torch.Tensor], max_norm: float | None) -> float:
    """Clip the global gradient norm to ``max_norm`` (None or <= 0: no clipping).

    Returns the norm before clipping either way, for logging. With several optimizers, clip once
    over the whole model, before any of them steps: the papers' clip 1.0 is a global norm.
    """
    params = parameters.parameters() if isinstance(parameters, nn.Module) else parameters
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm is None or max_norm <= 0:  # measure only: the gradients stay untouched
        return float(torch.nn.utils.get_total_norm([p.grad for p in grads]))
    return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))


def _as_list(optimizers: Optimizer | Sequence[Optimizer]) -> list[Optimizer]:
    return [optimizers] if isinstance(optimizers, Optimizer) else list(optimizers)


def current_lr(optimizers: Optimizer | Sequence[Optimizer], policy: str = "first") -> float:
    """The η the adiabatic parameter uses, by ``policy`` (:mod:`spectral_edge.learning_rate`).

    Unlike the monitor, which records no η rather than fail, the lab refuses optimizers that
    hold no parameters: such a set-up is a bug in the experiment.
    """
    rate = learning_rate(_as_list(optimizers), policy)
    if math.isnan(rate):
        raise SpectralEdgeError("no optimizer parameter group holds parameters")
    return rate
