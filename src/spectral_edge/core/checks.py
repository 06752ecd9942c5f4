"""Input checks shared by the pure-math modules: one definition of a valid Gram matrix."""

from __future__ import annotations

import math

import numpy as np

from spectral_edge.errors import SpectralEdgeError

# A Gram built from float32 inner products, or accumulated entry by entry, is symmetric only to
# about single precision; anything beyond this relative asymmetry is a bug in the caller.
SYMMETRY_RTOL = 1e-6


def pow2_scale(value: float) -> float:
    """The largest power of two ≤ ``value`` (> 0): dividing by it is exact and brings the value
    into [1, 2), so sums and products of a Gram's entries neither overflow nor underflow."""
    return math.ldexp(1.0, math.frexp(value)[1] - 1)


def as_number(value: object, what: str) -> float:
    """``float(value)``, or a SpectralEdgeError naming ``what`` when it is not a real number."""
    if isinstance(value, (str, bytes, complex)) or np.iscomplexobj(value):
        raise SpectralEdgeError(f"{what} must be a real number; got {value!r:.60}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SpectralEdgeError(f"{what} must be a real number; got {value!r:.60}") from exc


def as_whole(value: object, what: str) -> int:
    """``value`` as an int when it is a whole number (not a bool), else a SpectralEdgeError."""
    ok = not isinstance(value, (bool, str, bytes))
    if ok:
        try:
            ok = int(value) == value
        except (TypeError, ValueError, OverflowError):
            ok = False
    if not ok:
        raise SpectralEdgeError(f"{what} must be an integer; got {value!r:.60}")
    return int(value)


def _as_float_array(gram: object, name: str) -> np.ndarray:
    if hasattr(gram, "detach") and hasattr(gram, "is_complex"):  # a torch tensor, any dtype
        tensor = gram.detach().cpu()
        if tensor.is_complex():
            raise SpectralEdgeError(f"the {name} must be real; got complex entries")
        if str(tensor.dtype) == "torch.bool":
            raise SpectralEdgeError(f"the {name} must be a numeric array; got dtype bool")
        return tensor.double().numpy()
    try:
        arr = np.asarray(gram)
    except (TypeError, ValueError) as exc:
        raise SpectralEdgeError(f"the {name} must be a numeric array: {exc}") from exc
    if arr.dtype.kind == "c":
        raise SpectralEdgeError(f"the {name} must be real; got complex entries")
    if arr.dtype.kind not in "iufO":
        # bool masks, strings, dates: numpy would convert some silently, never meaningfully
        raise SpectralEdgeError(f"the {name} must be a numeric array; got dtype {arr.dtype}")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectralEdgeError(f"the {name} must be a numeric array: {exc}") from exc


def as_gram(gram: object, name: str = "Gram matrix") -> np.ndarray:
    """Validate a Gram matrix and return its symmetrised float64 copy.

    Real, square, non-empty, finite, symmetric to SYMMETRY_RTOL·max|G|, with a non-negative
    diagonal (G_ii = ‖δ_i‖²) and a trace that float64 can hold (so every eigenvalue can be
    represented); anything else is a SpectralEdgeError naming the problem. numpy arrays, nested
    lists and torch tensors of any real dtype are accepted; bool and string arrays are not.
    """
    g = _as_float_array(gram, name)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise SpectralEdgeError(f"the {name} must be square (w×w); got shape {g.shape}")
    if g.shape[0] == 0:
        raise SpectralEdgeError(f"the {name} is empty; a window needs at least one update")
    if not np.all(np.isfinite(g)):
        raise SpectralEdgeError(
            f"the {name} has NaN or infinite entries; an update overflowed or was not finite"
        )
    scale = float(np.max(np.abs(g)))
    if scale == 0.0:
        return g
    # Work on G/2^e with max |entry| in [1, 2): exact, and immune to overflow near float64's max.
    unit = pow2_scale(scale)
    gn = g / unit
    asym = float(np.max(np.abs(gn - gn.T)))
    if asym > SYMMETRY_RTOL * (scale / unit):
        raise SpectralEdgeError(
            f"the {name} is not symmetric: max |G - Gᵀ| = {asym * unit:.3g} exceeds "
            f"{SYMMETRY_RTOL:g} × max |G| = {SYMMETRY_RTOL * scale:.3g}"
        )
    if float(np.min(np.diag(gn))) < -SYMMETRY_RTOL * (scale / unit):
        raise SpectralEdgeError(
            f"the {name} has a negative diagonal entry; G_ii = ‖δ_i‖² cannot be negative"
        )
    if not math.isfinite(float(np.sum(np.diag(gn))) * unit):
        raise SpectralEdgeError(
            f"the {name} is too large: its trace Σ‖δ_i‖² overflows float64 (max |G| = "
            f"{scale:.3g}), so its eigenvalues cannot be represented; the updates diverged"
        )
    return 0.5 * (gn + gn.T) * unit
