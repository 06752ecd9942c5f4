"""Tolerances of the numerical tests, derived from precision and conditioning.

A tolerance read off one machine's output holds on that machine's BLAS kernel only: issue 13's
principal angle passed under OpenBLAS's Haswell kernel and failed under SkylakeX. Every bound
here is machine epsilon times a problem size or a condition number, from the standard error
analysis (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.):

* a float64 sum or dot product of n terms, in any order: |error| ≤ γ_n·Σ|terms|, γ_n ≈ n·u,
  u = ε/2 (§3.1), so a Gram entry of p-vectors is off by at most p·u·‖a‖‖b‖;
* symmetric eigenvalues (eigh, eigvalsh) and singular values (svd) are backward stable:
  |λ̂_j − λ_j| ≤ c·n·u·‖A‖₂ (Weyl), with c a "modest function of n" (§§ 2, 20);
* a direction whose eigenvalue is separated by gap from the rest turns by at most
  ‖E‖/gap (Davis–Kahan sin θ).

The constants c are not published as numbers; :data:`C` = 10 stands for them, a safety factor
stated once here. Worst-case bounds in n (the γ_n) are far above typical errors (≈ √n·u), so
these tolerances are loose where the problem is well conditioned and tight only where it is not,
which is what a kernel-independent test needs.
"""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # 2.2e-16: float64's spacing at 1 (u = EPS/2)
U32 = 2.0**-24  # float32's unit roundoff: a float32 result is within U32 relative of exact
C = 10.0  # the "modest constants" of the bounds above


def gram_eig_err(n: int, p: int, lam1: float) -> float:
    """|λ̂_j − λ_j| for the eigenvalues of G = X Xᵀ (X: n×p) formed in float64, then eigh'd.

    Entries are p-term dots, each off by ≤ p·u·‖a‖‖b‖, so ‖E‖₂ ≤ ‖E‖_F ≤ p·u·trace(G)
    ≤ n·p·u·λ_1; eigh adds c·n·u·λ_1.
    """
    return C * n * (p + 1) * EPS * lam1


def sigma_err(lam_err: float, sigma) -> np.ndarray:
    """|σ̂_j − σ_j| for σ = √λ when |λ̂_j − λ_j| ≤ lam_err: that is lam_err/(σ̂ + σ), at most
    lam_err/σ_j for a resolved mode and √lam_err for one at the noise floor."""
    s = np.asarray(sigma, dtype=np.float64)
    resolved = np.where(s > 0, lam_err / np.where(s > 0, s, 1.0), np.inf)
    return np.minimum(np.sqrt(lam_err), resolved)


def svd_err(m: int, n: int, sigma1: float) -> float:
    """|σ̂_j − σ_j| of LAPACK's SVD of an m×n matrix (backward stable)."""
    return C * max(m, n) * EPS * sigma1


def sigma_from_gram_err(x: np.ndarray) -> np.ndarray:
    """Per-mode bound for σ computed from X Xᵀ against σ from an SVD of X (both float64)."""
    n, p = x.shape
    sigma = np.linalg.svd(x, compute_uv=False)
    sigma = np.concatenate([sigma, np.zeros(n - sigma.size)])
    lam1 = float(sigma[0]) ** 2
    return sigma_err(gram_eig_err(n, p, lam1), sigma) + svd_err(n, p, float(sigma[0]))


def ratio_rel_err(sigma, err) -> np.ndarray:
    """Relative error bound of r_j = σ_j/σ_{j+1} (first order: the two relative errors add)."""
    s = np.asarray(sigma, dtype=np.float64)
    e = np.asarray(err, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(s > 0, e / s, np.inf)
    return rel[:-1] + rel[1:]


def argmax_candidates(scores, rel_err) -> set[int]:
    """0-based indices whose score the true maximum cannot be told apart from, given each score
    is known to a relative ``rel_err`` (scalar or per score). A computed argmax is right if it is
    one of them; when the best score clears the others by more than the error there is one."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.broadcast_to(np.asarray(rel_err, dtype=np.float64), s.shape)
    hi, lo = s * (1 + e), s * (1 - e)
    return {int(j) for j in np.flatnonzero(hi >= np.max(lo))}


def sum_tol(n: int) -> float:
    """Relative tolerance between two float64 sums (or dots) of the same n terms in different
    orders or blockings: each is within γ_n ≈ n·u of the exact sum, in units of Σ|terms|."""
    return C * max(n, 1) * EPS


def gram_tol(p: int) -> float:
    """Relative tolerance of a Gram entry of p-vectors against a float64 reference computed in
    another order: both are within p·u·‖a‖‖b‖ (γ_p) of the exact value, so they differ by at most
    p·ε·‖a‖‖b‖; callers scale it by the largest ‖δ‖² of the window."""
    return C * max(p, 1) * EPS


def direction_err(x: np.ndarray, whole: np.ndarray | None = None) -> np.ndarray:
    """sin θ bound for each right singular vector of the rows x, computed through a Gram.

    The Gram route is exact for G + E, ‖E‖ ≤ e = :func:`gram_eig_err` of the Gram that was
    factored (``whole``: all the rows it holds, e.g. the union of two windows; x by default).
    Inner products of directions of two row sets a, b are S_a⁻¹U_aᵀ(G_ab + E_ab)U_bS_b⁻¹, so a
    direction is off by e/gap_j through its u_j (Davis–Kahan; gap_j the λ-distance to the other
    λ and to the null space, so gap_j ≤ λ_j) and by e/λ_j through the cross term: ≤ 2e/gap_j.
    The reference SVD's own error (≤ 2u·λ_1/gap_j) is below that. Capped at 1.
    """
    whole = x if whole is None else whole
    lam = np.linalg.svd(x, compute_uv=False) ** 2
    lam1 = float(np.linalg.svd(whole, compute_uv=False)[0]) ** 2
    err = 2 * gram_eig_err(whole.shape[0], whole.shape[1], lam1)
    out = np.ones(lam.size)
    for j in range(lam.size):
        gap = min([lam[j]] + [abs(lam[j] - lam[i]) for i in range(lam.size) if i != j])
        if gap > 0:
            out[j] = min(1.0, err / gap)
    return out


def subspace_err(x: np.ndarray, k: int, whole: np.ndarray | None = None) -> float:
    """sin θ bound for the top-k right singular subspace of the rows x through a Gram: the same
    argument with the gap λ_k − λ_{k+1} (λ_k if k is the rank), capped at 1."""
    whole = x if whole is None else whole
    lam = np.concatenate([np.linalg.svd(x, compute_uv=False) ** 2, [0.0]])
    lam1 = float(np.linalg.svd(whole, compute_uv=False)[0]) ** 2
    gap = lam[k - 1] - lam[k]
    if gap <= 0:
        return 1.0
    return min(1.0, 2 * gram_eig_err(whole.shape[0], whole.shape[1], lam1) / gap)
