"""Principal angles through the Gram, before and after issue 13, under the BLAS kernel in use.

    for k in SkylakeX Haswell Prescott; do
        OPENBLAS_CORETYPE=$k PYTHONPATH=src python docs/measurements/principal_angles.py
    done

The cases of tests/core/test_stability.py::test_overlaps_and_angles_against_explicit_vectors
(updates N(0,1) times an exponential row scale, the reference scipy.linalg.subspace_angles of the
explicit top-k right singular vectors). "before" is the angle as arccos of the cosines of the
code before issue 13 (same library cosines, recomputed here), "after" the library's now.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_info

from spectral_edge.core import stability


def updates(n: int, p: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) * rng.exponential(1.0, size=(n, 1))


def before(union: np.ndarray, k: int, outgoing: bool) -> np.ndarray:
    """The pre-issue-13 formula: arccos of the singular values of the overlap matrix."""
    g, prev, cur = stability._union_sets(union, k, outgoing)
    lam_a, u_a = np.linalg.eigh(g[prev, prev])
    lam_b, u_b = np.linalg.eigh(g[cur, cur])
    va = u_a[:, ::-1][:, :k] / np.sqrt(lam_a[::-1][:k])
    vb = u_b[:, ::-1][:, :k] / np.sqrt(lam_b[::-1][:k])
    cos = np.clip(np.linalg.svd(va.T @ g[prev, cur] @ vb, compute_uv=False), 0, 1)
    return np.arccos(cos)


def main() -> None:
    core = sorted({i.get("architecture") for i in threadpool_info() if i["user_api"] == "blas"})
    print(f"OpenBLAS kernel: {', '.join(map(str, core))}")
    print(f"{'w':>3} {'p':>3} {'k':>3} {'outgoing':>8} {'before':>9} {'after':>9}")
    for w, p, k in [(3, 5, 2), (10, 30, 3), (10, 30, 10)]:
        for outgoing in (True, False):
            y = updates(w + 1, p, seed=w + k)
            prev, cur = y[:w], (y[1:] if outgoing else y)
            vp = np.linalg.svd(prev, full_matrices=False)[2][:k]
            vc = np.linalg.svd(cur, full_matrices=False)[2][:k]
            want = np.sort(scipy.linalg.subspace_angles(vp.T, vc.T))
            old = np.abs(before(y @ y.T, k, outgoing) - want).max()
            new = np.abs(stability.principal_angles(y @ y.T, k, outgoing=outgoing) - want).max()
            print(f"{w:>3} {p:>3} {k:>3} {outgoing!s:>8} {old:>9.1e} {new:>9.1e}")


if __name__ == "__main__":
    main()
