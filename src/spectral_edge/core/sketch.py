"""Linear sketches S: R^P → R^d that keep the spectrum of a window of updates.

With P ~ 10^8 the exact path stores W + 1 updates of P floats. A linear sketch keeps d numbers per
update instead, and because it is linear, S(θ_t) − S(θ_{t−1}) = S(δ_t): the monitor never needs a
copy of the previous parameters either. A Johnson–Lindenstrauss sketch preserves the inner
products ⟨δ_i, δ_j⟩, hence the Gram and its spectrum, to relative error ~1/√d.

Two families:

* ``fold`` (the default): a CountSketch whose bucket is the global index mod d and whose signs
  come from a seeded random table. Coordinate i goes to bucket i mod d with sign s(i), so
  E⟨Sx, Sy⟩ = ⟨x, y⟩ and the cost is one multiply and one strided sum per parameter, about 3–8
  reads of the parameters at any d (docs/measurements.md; a dense Gaussian costs ~400× and
  would need a P×d matrix). The signs of coordinate i depend only on (seed, i), never on how
  parameters are split into tensors or shards, so sharded runs sum their local sketches to the
  single-process result.

  Signs without a P-long table: the global index space is cut into blocks of L = d·⌈2^22/d⌉
  coordinates (4M: each block is a few kernel launches, so on a GPU smaller blocks made the
  sketch launch-bound; the table costs 32 MB of float32, doubled so cyclic reads are slices).
  A block reads a random ±1 table of length L from a seeded offset o_b = d·r_b + (b mod d)
  (cyclically) and multiplies by a seeded block sign ε_b. Inside a block
  every sign is an independent table entry. Two blocks can only reuse a table entry for the same
  bucket when o_b ≡ o_b' (mod d), i.e. when b ≡ b' (mod d), so aliasing needs blocks d·L ≳ 4·10^8
  coordinates apart, and even then ε_b ε_b' keeps the estimate unbiased. Memory: the table only.

  Products with ±1 are exact; the per-block sums are accumulated in float64 because S(θ) is a sum
  of ~P/d parameters while S(δ) is tiny beside it: summing in float32 left a 3e-4 relative error
  on S(δ) for updates 1e-3 the size of the weights (measured, P = 10^7, d = 1000).

* ``gaussian``: the dense N(0, 1/d) sketch of the paper, generated block by block from
  (seed, block index) so it never holds a P×d matrix. Slow; it is the reference in tests.

>>> import numpy as np
>>> s = make_sketch("fold", dim=64, seed=0)
>>> x = np.random.default_rng(0).standard_normal(10_000)
>>> whole = s.apply(x)
>>> parts = s.apply([x[:3_000], x[3_000:]])  # any split gives the same sketch
>>> bool(np.allclose(whole, parts))
True
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from spectral_edge.core.flat import as_flat_tensor
from spectral_edge.errors import SpectralEdgeError

TABLE_TARGET = 1 << 22
GAUSSIAN_BLOCK = 4096
GROUP_TARGET = 1 << 20
# On the CPU, products are summed into float64 this many at a time: the reduction first copies
# its input to float64, and a copy of 2^18 stays in cache where one of a whole block (4M) went
# to memory and back (2.6x faster at GPT-2 124M, docs/measurements.md). A GPU sums whole blocks.
CPU_SUM_TARGET = 1 << 18
FAMILIES = ("fold", "gaussian")


def make_sketch(family: str, dim: int, seed: int = 0):
    """A sketch of the named family: ``"fold"`` or ``"gaussian"``."""
    if family not in FAMILIES:
        raise SpectralEdgeError(f"unknown sketch family {family!r}; choose one of {FAMILIES}")
    if not isinstance(dim, int | np.integer) or dim < 1:
        raise SpectralEdgeError(f"sketch_dim must be a positive integer, got {dim!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise SpectralEdgeError(f"sketch seed must be a non-negative integer, got {seed!r}")
    cls = FoldSketch if family == "fold" else GaussianSketch
    return cls(int(dim), int(seed))


class _Sketch:
    family = ""

    def __init__(self, dim: int, seed: int):
        self.dim = dim
        self.seed = seed

    def config(self) -> dict:
        return {"family": self.family, "dim": self.dim, "seed": self.seed}

    def apply(self, update, offset: int = 0) -> np.ndarray:
        """S(x) in float64 for a flat vector or a sequence of consecutive parts at ``offset``."""
        parts = update if isinstance(update, list | tuple) else [update]
        if not parts:
            raise SpectralEdgeError("empty update: pass at least one array or tensor")
        out = None
        for part in parts:
            flat = as_flat_tensor(part).detach()
            if out is None:
                out = torch.zeros(self.dim, dtype=torch.float64, device=flat.device)
            self.accumulate(out, flat, offset)
            offset += flat.numel()
        return out.cpu().numpy()

    def apply_rows(self, rows) -> np.ndarray:
        """S applied to each of several flat vectors of one length: an (n, d) float64 array."""
        return np.stack([self.apply(r) for r in rows])

    def apply_pieces(self, pieces: Iterable[tuple[int, torch.Tensor]], device=None) -> np.ndarray:
        """S(x) for (global offset, flat tensor) pieces, e.g. the parameters of a model or shard.

        Runs of small consecutive pieces are concatenated first: a model has hundreds of bias
        and norm vectors, and sketching each alone costs more in kernel launches (on a GPU,
        3× the whole sketch of GPT-2 124M) than the arithmetic.
        """
        out = torch.zeros(self.dim, dtype=torch.float64, device=device)
        for offset, flat in _grouped(pieces, GROUP_TARGET):
            self.accumulate(out, flat, offset)
        return out.cpu().numpy()

    def accumulate(self, out: torch.Tensor, flat: torch.Tensor, offset: int) -> None:
        raise NotImplementedError


def _grouped(pieces: Iterable[tuple[int, torch.Tensor]], target: int):
    """Yield (offset, flat) with consecutive pieces smaller than ``target`` concatenated."""
    run: list[torch.Tensor] = []
    run_start = run_size = 0
    for offset, flat in pieces:
        flat = flat.detach().reshape(-1)
        contiguous = run and offset == run_start + run_size and flat.device == run[0].device
        if run and (not contiguous or flat.dtype != run[0].dtype or run_size >= target):
            yield run_start, run[0] if len(run) == 1 else torch.cat(run)
            run = []
        if flat.numel() >= target:
            yield offset, flat
            continue
        if not run:
            run_start, run_size = offset, 0
        run.append(flat)
        run_size += flat.numel()
    if run:
        yield run_start, run[0] if len(run) == 1 else torch.cat(run)


class FoldSketch(_Sketch):
    """CountSketch with bucket i mod d and table-driven signs; see the module docstring."""

    family = "fold"

    def __init__(self, dim: int, seed: int):
        super().__init__(dim, seed)
        self.block = dim * -(-TABLE_TARGET // dim)  # L, a multiple of d
        signs = np.random.default_rng([seed, 0, 0]).integers(0, 2, self.block) * 2 - 1
        self._table = np.concatenate([signs, signs]).astype(np.float32)  # cyclic reads as slices
        self._tables: dict[tuple, torch.Tensor] = {}
        self._blocks: dict[int, tuple[int, float]] = {}

    def _table_for(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (dtype, str(device))
        if key not in self._tables:
            self._tables[key] = torch.from_numpy(self._table).to(device=device, dtype=dtype)
        return self._tables[key]

    def _block_params(self, b: int) -> tuple[int, float]:
        if b not in self._blocks:
            rng = np.random.default_rng([self.seed, 1, b])
            rows = self.block // self.dim
            offset = self.dim * int(rng.integers(rows)) + b % self.dim
            self._blocks[b] = (offset, float(rng.choice([-1.0, 1.0])))
        return self._blocks[b]

    def accumulate(self, out: torch.Tensor, flat: torch.Tensor, offset: int) -> None:
        table = self._table_for(flat.dtype, flat.device)
        d, n, pos = self.dim, flat.numel(), 0
        # The block sign multiplies the float64 sums (exact: ±1), not the P products.
        step = d * max(1, CPU_SUM_TARGET // d) if flat.device.type == "cpu" else self.block
        while pos < n:
            g = offset + pos
            b, k = divmod(g, self.block)
            take = min(n - pos, self.block - k)
            start, sign = self._block_params(b)
            x, signs = flat[pos : pos + take], table[start + k : start + k + take]
            head = min((-k) % d, take)
            body = (take - head) // d * d
            if head:
                out[k % d : k % d + head].add_(x[:head] * signs[:head], alpha=sign)
            for a in range(head, head + body, step):
                z = min(a + step, head + body)
                rows = (x[a:z] * signs[a:z]).view(-1, d)
                out.add_(rows.sum(0, dtype=torch.float64), alpha=sign)
            tail = take - head - body
            if tail:
                out[:tail].add_(x[head + body :] * signs[head + body :], alpha=sign)
            pos += take


class GaussianSketch(_Sketch):
    """Dense N(0, 1/d) sketch, column block b drawn from (seed, b): the test reference."""

    family = "gaussian"

    def _columns(self, b: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2, b])
        return rng.standard_normal((self.dim, GAUSSIAN_BLOCK)) / np.sqrt(self.dim)

    def apply_rows(self, rows) -> np.ndarray:
        """As :meth:`_Sketch.apply_rows`, drawing each column block once for all rows (the
        draws dominate the cost, so n rows cost about as much as one)."""
        x = np.stack([as_flat_tensor(r).detach().cpu().double().numpy() for r in rows])
        out = np.zeros((x.shape[0], self.dim))
        for b, pos in enumerate(range(0, x.shape[1], GAUSSIAN_BLOCK)):
            block = x[:, pos : pos + GAUSSIAN_BLOCK]
            out += block @ self._columns(b)[:, : block.shape[1]].T
        return out

    def accumulate(self, out: torch.Tensor, flat: torch.Tensor, offset: int) -> None:
        x = flat.detach().cpu().double().numpy()
        total = np.zeros(self.dim)
        pos = 0
        while pos < x.size:
            b, k = divmod(offset + pos, GAUSSIAN_BLOCK)
            take = min(x.size - pos, GAUSSIAN_BLOCK - k)
            total += self._columns(b)[:, k : k + take] @ x[pos : pos + take]
            pos += take
        out += torch.from_numpy(total).to(out.device)
