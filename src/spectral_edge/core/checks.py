"""Input checks shared by the pure-math modules: one definition of a valid Gram matrix."""

from __future__ import annotations

import numpy as np

from spectral_edge.errors import SpectralEdgeError

# A Gram built from float32 inner products, or accumulated entry by entry, is symmetric only to
# about single precision; anything beyond this relative asymmetry is a bug in the caller.
SYMMETRY_RTOL = 1e-6


def as_gram(gram: object, name: str = "Gram matrix") -> np.ndarray:
    """Validate a Gram matrix and return its symmetrised float64 copy.

    Real, square, non-empty, finite, symmetric to SYMMETRY_RTOL·max|G| and with a non-negative
    diagonal (G_ii = ‖δ_i‖²); anything else is a SpectralEdgeError naming the problem.
    """
    if np.iscomplexobj(gram):
        raise SpectralEdgeError(f"the {name} must be real; got complex entries")
    try:
        g = np.array(gram, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectralEdgeError(f"the {name} must be a numeric array: {exc}") from exc
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise SpectralEdgeError(f"the {name} must be square (w×w); got shape {g.shape}")
    if g.shape[0] == 0:
        raise SpectralEdgeError(f"the {name} is empty; a window needs at least one update")
    if not np.all(np.isfinite(g)):
        raise SpectralEdgeError(
            f"the {name} has NaN or infinite entries; an update overflowed or was not finite"
        )
    scale = float(np.max(np.abs(g)))
    asym = float(np.max(np.abs(g - g.T)))
    if asym > SYMMETRY_RTOL * scale:
        raise SpectralEdgeError(
            f"the {name} is not symmetric: max |G - Gᵀ| = {asym:.3g} exceeds "
            f"{SYMMETRY_RTOL:g} × max |G| = {SYMMETRY_RTOL * scale:.3g}"
        )
    if float(np.min(np.diag(g))) < -SYMMETRY_RTOL * scale:
        raise SpectralEdgeError(
            f"the {name} has a negative diagonal entry; G_ii = ‖δ_i‖² cannot be negative"
        )
    return 0.5 * (g + g.T)
