"""The commutator defect: how much the order of two SGD steps matters (docs/thesis.md §4, baseline).

Two training minibatches A and B, plain SGD with a small probe step η_c (1e-3):

    θ_AB = θ − η_c g_A(θ) − η_c g_B(θ − η_c g_A(θ)),   θ_BA likewise with A and B swapped,
    D = ‖θ_AB − θ_BA‖ / (‖η_c g_A(θ)‖ · ‖η_c g_B(θ)‖).

Why it is a signal: expanding to second order, θ_AB − θ_BA = η_c² (H_A g_B − H_B g_A) + O(η_c³),
so D ≈ ‖H_A g_B − H_B g_A‖/(‖g_A‖‖g_B‖) measures how much the two batches' curvatures disagree
about each other's gradients, a scale-free (η_c-free to leading order) quantity. The companion
papers saw it rise sharply 600–1,600 steps before grokking. D = 0 whenever the steps commute:
identical batches, or a quadratic loss whose batch Hessians annihilate the other batch's
gradient (linear regression on orthogonal inputs).

Numerics: the difference is formed as
θ_AB − θ_BA = η_c[g_A(θ − η_c g_B) − g_A(θ)] − η_c[g_B(θ − η_c g_A) − g_B(θ)], in float64,
from the four gradients, instead of subtracting two parameter vectors of size ~1 that agree to
η_c² ~ 1e-6 (which float32 weights cannot resolve). The model is moved to θ − η_c g_A and
θ − η_c g_B only to evaluate gradients, and is restored bit for bit afterwards, errors included.

The probe is measured as the median over K = 5 pairs every 100 steps; the onset rule is
:func:`spectral_edge.dynamics.commutator.commutator_onset`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.reproduce.probes.model import LossFn, add, gradient, parameters, preserved

__all__ = [
    "PROBE_LR",
    "commutator_defect",
    "commutator_probe",
]

PROBE_LR = 1e-3


def _check_lr(lr: float) -> float:
    eta = float(lr)
    if not (math.isfinite(eta) and eta > 0):
        raise SpectralEdgeError(f"the probe step η_c must be a finite positive number; got {lr!r}")
    return eta


def commutator_defect(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batch_a,
    batch_b,
    *,
    lr: float = PROBE_LR,
    params: Sequence[torch.Tensor] | None = None,
) -> float:
    """D = ‖θ_AB − θ_BA‖/(‖η_c g_A‖·‖η_c g_B‖) for one pair of batches (see the module doc).

    ``loss_fn(model, batch)`` returns the scalar training loss of ``batch`` at the model's current
    parameters; make it deterministic (dropout off), or D measures the dropout noise. The model's
    parameters are the same before and after the call. Returns 0 when A and B commute exactly;
    raises SpectralEdgeError when either gradient is zero (D is 0/0) or the loss is not finite.
    """
    eta = _check_lr(lr)
    ps = parameters(model, params)
    with preserved(ps):
        g_a = gradient(model, loss_fn, batch_a, ps, what="loss of batch A")
        g_b = gradient(model, loss_fn, batch_b, ps, what="loss of batch B")
        scale = eta * float(np.linalg.norm(g_a)) * eta * float(np.linalg.norm(g_b))
        if scale == 0.0:
            raise SpectralEdgeError(
                "a batch gradient is exactly zero, so the commutator defect is 0/0; probe at "
                "a point where both batches still have a loss gradient"
            )
        add(ps, g_a, -eta)
        g_b_after_a = gradient(model, loss_fn, batch_b, ps, what="loss of batch B after A")
    with preserved(ps):
        add(ps, g_b, -eta)
        g_a_after_b = gradient(model, loss_fn, batch_a, ps, what="loss of batch A after B")
    diff = eta * (g_a_after_b - g_a) - eta * (g_b_after_a - g_b)
    return float(np.linalg.norm(diff)) / scale


def commutator_probe(
    model: torch.nn.Module,
    loss_fn: LossFn,
    pairs: Iterable[tuple[object, object]],
    *,
    lr: float = PROBE_LR,
    params: Sequence[torch.Tensor] | None = None,
) -> dict:
    """The probe's measurement: median D over the given (A, B) batch pairs (the spec: K = 5).

    Returns ``{"defect": median, "values": [D per pair], "pairs": K, "lr": η_c}``. Draw the pairs
    from the training data at random (distinct batches); the median makes one unlucky pair
    harmless.
    """
    values = [commutator_defect(model, loss_fn, a, b, lr=lr, params=params) for a, b in list(pairs)]
    if not values:
        raise SpectralEdgeError("commutator_probe needs at least one (A, B) batch pair (spec: 5)")
    return {
        "defect": float(np.median(values)),
        "values": values,
        "pairs": len(values),
        "lr": float(lr),
    }
