"""The updates δ_t = θ_t − θ_{t−1} of the watched parameters, written into a rolling Gram.

On the exact path the previous snapshot θ_{t−1} is kept, and δ_t is written straight into the
free slot of the :class:`~spectral_edge.core.gram.RollingGram` while the new Gram row is
accumulated parameter by parameter, so one snapshot costs about W + 3 reads of P floats and
memory is (W + 2)·P floats. With a sketch S only S(θ_{t−1}) is kept: by linearity
S(θ_t) − S(θ_{t−1}) = S(δ_t), so memory is O(W·d) whatever P is.

Under sharding (FSDP2) each process holds pieces of θ; ``reduce`` sums a float64 vector over the
processes (an all-reduce), and every decision here follows from reduced quantities, so all
processes take the same branch.
"""

from __future__ import annotations

import numpy as np
import torch

from spectral_edge.core.gram import RollingGram


def resolution_floor(dtype: torch.dtype) -> float:
    """The smallest σ_j/σ_1 a Gram of such parameters resolves: the default ratio floor.

    The floor was chosen when Gram entries of float32 updates were accurate to ~1e-6 relative,
    so that σ_j below ~1e-3·σ_1 were rounding noise; left unfloored they produced ratios of 10^7
    at the bottom of the spectrum (seen in a weight-decay-0 run whose updates had collapsed onto a
    few directions), and k* landed there. Since issue 13 the Gram is exact for the stored updates
    (core/gram.py), which resolves σ_j down to ~1e-7·σ_1; the floor is kept, because a collapsed
    window would still put k* at its bottom. Lowering it would be a change of definition
    (docs/definitions.md). float64 parameters: 1e-6.
    """
    return 1e-6 if dtype == torch.float64 else 1e-3


class UpdateStream:
    """Turns successive snapshots into updates pushed into a :class:`RollingGram`.

    ``previous`` is θ_{t−1} (exact path, a tensor) or S(θ_{t−1}) (sketch path, a float64
    array); None until a finite baseline is taken.
    """

    def __init__(self, sketcher=None, reduce=None):
        self.sketcher = sketcher
        self.reduce = reduce
        self.previous = None
        self.nonfinite_since: int | None = None  # step a non-finite episode began

    def reset(self) -> None:
        """Forget θ_{t−1}: the next snapshot is a new baseline."""
        self.previous = None

    def advance(self, gram: RollingGram, pieces, step: int) -> tuple[bool, str | None]:
        """Take a baseline, or push the update since the last snapshot into ``gram``.

        Returns ``(pushed, problem)``. ``problem`` reports a non-finite baseline or update once
        per episode: from the first rejected update (or non-finite baseline) until an update is
        accepted again; a diverged run whose parameters stay NaN would otherwise report at every
        other snapshot. Every branch here follows from reduced quantities (the all-reduced Gram
        row or sketch, the all-reduced finiteness of the baseline), so under FSDP all processes
        take it together.
        """
        if self.previous is None:
            if self.take_baseline(pieces):
                return False, None
            return False, self._episode(
                step,
                "the parameters contain NaN or Inf; monitoring waits for finite ones to take a "
                "new baseline",
            )
        if not self.push(gram, pieces):
            return False, self._episode(
                step,
                "the update contains NaN or Inf (or overflows); it was left out of the window "
                "and the next snapshot starts a new baseline",
            )
        self.nonfinite_since = None
        return True, None

    def _episode(self, step: int, message: str) -> str | None:
        if self.nonfinite_since is not None:
            return None
        self.nonfinite_since = step
        return message

    def push(self, gram: RollingGram, pieces) -> bool:
        """Push the update since the last snapshot; False (and a new baseline next time) if it
        is not finite. Needs a baseline: call :meth:`take_baseline` first."""
        if self.sketcher is None:
            accepted = self._push_exact(gram, pieces)
        else:
            current = self._sketch(pieces)
            accepted = gram.push(current - self.previous)
            self.previous = current
        if not accepted:
            self.previous = None
        return accepted

    def take_baseline(self, pieces) -> bool:
        """θ (or S(θ)) to subtract from the next snapshot; False when it is not finite."""
        if self.sketcher is not None:
            current = self._sketch(pieces)  # already reduced over the processes
            self.previous = current if np.all(np.isfinite(current)) else None
            return self.previous is not None
        # The stored vector is what this process holds: all of θ, or its shards packed densely
        # (inner products do not care where coordinates sit, only that both sides agree).
        device = pieces[0][1].device
        dtype = torch.float64 if pieces[0][1].dtype == torch.float64 else torch.float32
        previous = torch.empty(sum(f.numel() for _, f in pieces), dtype=dtype, device=device)
        start = 0
        for _, flat in pieces:
            previous[start : start + flat.numel()].copy_(flat)
            start += flat.numel()
        bad = np.array([0.0 if bool(torch.isfinite(previous).all()) else 1.0])
        if self.reduce is not None:  # a NaN on any shard makes every process wait
            bad = np.asarray(self.reduce(bad), dtype=np.float64)
        self.previous = previous if bad[0] == 0.0 else None
        return self.previous is not None

    def _sketch(self, pieces) -> np.ndarray:
        current = self.sketcher.apply_pieces(pieces, device=pieces[0][1].device)
        return current if self.reduce is None else np.asarray(self.reduce(current), np.float64)

    def _push_exact(self, gram: RollingGram, pieces) -> bool:
        previous = self.previous
        row = gram.stage(previous.numel(), previous.dtype, previous.device)
        start = 0
        for _, flat in pieces:
            stop = start + flat.numel()
            flat = flat.to(previous.device)
            torch.sub(flat, previous[start:stop], out=row[start:stop])
            previous[start:stop].copy_(flat)
            gram.accumulate_inner(start, stop)
            start = stop
        return gram.commit() if self.reduce is None else gram.commit(reduce=self.reduce)

    # -- resume --------------------------------------------------------------------------------

    def state(self):
        """θ_{t−1} or S(θ_{t−1}) as a CPU tensor (``torch.load(weights_only=True)`` safe)."""
        previous = self.previous
        if isinstance(previous, torch.Tensor):
            return previous.detach().cpu().clone()
        return None if previous is None else torch.from_numpy(np.array(previous))

    def load_state(self, previous, device) -> None:
        """Restore :meth:`state`'s value, on ``device`` for the exact path."""
        if previous is not None and self.sketcher is not None:
            previous = torch.as_tensor(previous, dtype=torch.float64).numpy().copy()
        elif previous is not None:
            previous = previous.clone().to(device)
        self.previous = previous
