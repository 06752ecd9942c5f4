"""The rolling-window Gram matrix of parameter updates, kept incrementally.

The thesis studies the window X_t = [δ_{t−W+1}, …, δ_t] ∈ R^{W×P} of the last W updates and its
Gram matrix G_t = X_t X_tᵀ (W×W). With P ~ 10^8 and W ~ 10, anything P×P or an SVD of X is out of
the question, and even recomputing X Xᵀ costs W² reads of P floats. But when δ_new enters and
δ_old leaves, only the W + 1 inner products ⟨δ_new, δ_i⟩ are new. So one push costs one pass over
the W + 1 stored updates, and everything downstream works on small matrices.

We keep W + 1 slots, not W: the current window plus one free slot. A new update is written into
the free slot; committing it computes its inner products with every slot, which yields the
(W+1)×(W+1) Gram of the *union* of the previous and the new window. That union is what exact
window-to-window quantities need (‖ΔC‖_F from ⟨δ_new, δ_old⟩, mode rotation, principal angles),
and it comes for free. A rejected (non-finite) update never leaves the free slot, so later windows
are not poisoned.

Inner products are exact products summed in float64. The product of two float32 numbers has at
most 48 significant bits and is exact in float64 (53), so converting each stored float32 update to
float64 before it is multiplied leaves only the float64 sum's round-off, ~1e-16·√P relative: the
Gram is then the Gram of the stored float32 updates to float64 precision, and its singular values
agree with a float64 SVD of those updates to ~1e-8·σ_1 (the limit of eigvalsh, see
core/spectrum.py) whatever P is. Float32 arithmetic is not enough here, for two reasons
(measured, docs/measurements.md): a BLAS dot product sums in float32 (GPT-2's 38.6·10^6-entry
embedding was off by 1.3e-2 relative; in chunks of 2^16 summed in float64 still ~1e-5, which
moved the large singular values by 2e-5·σ_1), and even with perfect sums every float32 product
is rounded, an error of ~6e-8·‖a∘b‖ per entry that puts a floor of ~√(W·6e-8/√P)·σ_1 (5e-5·σ_1
at P = 3·10^4) under the small singular values. The conversion is done in blocks of
:data:`CHUNK` columns into a float64 scratch that stays in cache, so the float32 buffer is still
read once per push; on a GPU each block is a kernel launch, so blocks are larger there. It is not
free: torch has no float32-in, float64-accumulate product, so each block is converted and then
multiplied, about twice the time of the float32 product it replaced (docs/measurements.md).

>>> import numpy as np
>>> rg = RollingGram(window=3)
>>> for v in np.eye(4)[:4] * [1.0, 2.0, 3.0, 4.0]:
...     _ = rg.push(v)
>>> rg.gram().diagonal().tolist()  # the last three updates, oldest first
[4.0, 9.0, 16.0]
"""

from __future__ import annotations

import numpy as np
import torch

from spectral_edge.core.flat import as_flat_tensor
from spectral_edge.core.sketch import make_sketch
from spectral_edge.errors import SpectralEdgeError

# Columns converted to float64 at a time: (W + 1)·2^13·8 bytes (0.7 MB at W = 10) stays in a
# CPU's L2 cache between the conversion and the product (measured, docs/measurements.md).
CHUNK = 1 << 13
CHUNK_ACCELERATOR = 1 << 22  # GPU: each block is a few kernel launches


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """Storage dtype for updates: float64 stays, everything narrower is widened to float32.

    Half-precision inner products lose most of their digits; float32 storage costs no more
    reads than the parameters themselves, and the products are taken in float64 anyway.
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def chunk_for(device) -> int:
    """Columns per float64 block on ``device``: :data:`CHUNK` on the CPU."""
    return CHUNK if torch.device(device).type == "cpu" else CHUNK_ACCELERATOR


def add_inner_products(
    acc: torch.Tensor,
    rows: torch.Tensor,
    vector: torch.Tensor | int,
    start: int,
    stop: int,
    scratch: torch.Tensor | None = None,
) -> None:
    """``acc += rows[:, start:stop] @ vector[start:stop]``, every product and sum in float64.

    ``vector`` is a tensor of the rows' length, or the index of one of the rows (the monitor's
    case: the new update is a row of the buffer, and its converted block is reused). ``acc`` is
    a float64 tensor with one entry per row. Float64 rows are multiplied as they are; narrower
    rows are converted block by block into ``scratch`` (float64, at least rows × block columns;
    allocated here when not given), whose width sets the block (:func:`chunk_for` by default).
    """
    if rows.dtype == torch.float64:
        v = rows[vector] if isinstance(vector, int) else vector.to(torch.float64)
        acc.addmv_(rows[:, start:stop], v[start:stop])
        return
    if scratch is None:
        width = min(chunk_for(rows.device), max(stop - start, 1))
        scratch = torch.empty((rows.shape[0], width), dtype=torch.float64, device=rows.device)
    for a in range(start, stop, scratch.shape[1]):
        b = min(a + scratch.shape[1], stop)
        block = scratch[: rows.shape[0], : b - a]
        block.copy_(rows[:, a:b])
        v = block[vector] if isinstance(vector, int) else vector[a:b].to(torch.float64)
        acc.addmv_(block, v)


def chunked_inner(rows: torch.Tensor, vector: torch.Tensor, chunk: int | None = None) -> np.ndarray:
    """``rows @ vector`` as float64 numbers: exact products, float64 sums (see the module doc).

    ``chunk``: columns converted at a time; defaults to :func:`chunk_for` the rows' device.
    """
    acc = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
    scratch = None
    if chunk is not None:
        scratch = torch.empty((rows.shape[0], chunk), dtype=torch.float64, device=rows.device)
    add_inner_products(acc, rows, vector, 0, vector.numel(), scratch)
    return acc.cpu().numpy()


class RollingGram:
    """The W×W Gram of the last W updates, updated with W + 1 inner products per push.

    Args:
        window: W, the number of updates in a full window (at least 2).
        sketch_dim: if given, each update is first reduced to ``sketch_dim`` numbers by a seeded
            linear sketch (see :mod:`spectral_edge.core.sketch`); memory is then
            (W + 1)·sketch_dim floats whatever P is.
        seed: seed of the sketch; the same seed gives the same sketch on any device or sharding.
        sketch: sketch family, ``"fold"`` (fast, the default) or ``"gaussian"`` (dense
            reference, slow).

    ``push`` returns False (and changes nothing) when the update is not finite.
    """

    def __init__(
        self, window: int, sketch_dim: int | None = None, seed: int = 0, sketch: str = "fold"
    ):
        if not isinstance(window, int | np.integer) or window < 2:
            raise SpectralEdgeError(
                f"window must be an integer of at least 2 (a spectrum needs two updates), "
                f"got {window!r}"
            )
        self.window = int(window)
        self.sketcher = None
        if sketch_dim is not None:
            self.sketcher = make_sketch(sketch, sketch_dim, seed)
        self.n_slots = self.window + 1
        self._buffer: torch.Tensor | None = None
        self._inner = np.zeros((self.n_slots, self.n_slots))
        self._order: list[int] = []  # slots of the current window, oldest first
        self._union: list[int] = []  # slots of the last union (previous window + new update)
        self._row: torch.Tensor | None = None  # float64 Gram row accumulated while staging
        self._scratch: torch.Tensor | None = None  # float64 blocks of narrower updates
        self.pushes = 0
        self.rejected = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of updates in the current window (W once full)."""
        return len(self._order)

    @property
    def dim(self) -> int | None:
        """Length of the stored vectors: P exactly, or the sketch dimension."""
        return None if self._buffer is None else self._buffer.shape[1]

    def gram(self) -> np.ndarray:
        """The Gram of the current window, oldest first (a copy, float64)."""
        return self._inner[np.ix_(self._order, self._order)].copy()

    def union_gram(self) -> np.ndarray | None:
        """The (W+1)×(W+1) Gram of the previous window plus the newest update, or None.

        Rows 0..W−1 are the previous window (oldest first), row W the newest update. Available
        once the window was full before the last push.
        """
        if len(self._union) != self.n_slots:
            return None
        return self._inner[np.ix_(self._union, self._union)].copy()

    def last_transition(self) -> tuple[float, float, float]:
        """(‖δ_new‖², ‖δ_old‖², ⟨δ_new, δ_old⟩) of the last push; δ_old = 0 while filling."""
        if not self._order:
            raise SpectralEdgeError("the window holds no update yet: push one first")
        new = self._order[-1]
        if len(self._union) == len(self._order) + 1:
            old = self._union[0]
            return self._inner[new, new], self._inner[old, old], self._inner[new, old]
        return self._inner[new, new], 0.0, 0.0

    # -- writing -------------------------------------------------------------------------------

    def push(self, update) -> bool:
        """Add one update (flat array or tensor, or a sequence of parts); False if not finite."""
        if self.sketcher is not None:
            update = torch.from_numpy(self.sketcher.apply(update))
        flat = as_flat_tensor(update)
        self.stage(flat.numel(), flat.dtype, flat.device).copy_(flat)
        return self.commit()

    def stage(self, numel: int, dtype: torch.dtype, device) -> torch.Tensor:
        """The free slot, for a caller that writes the next update in place, then commits.

        Writing in place saves a copy of P floats per push, which matters at 10^8 parameters.
        """
        if self._buffer is None:
            # Not zero-filled: rows are read only once written (see _live_rows), and zeroing
            # (W + 1)·P floats made the first push cost a training step at 10^8 parameters.
            self._buffer = torch.empty(
                (self.n_slots, numel), dtype=working_dtype(dtype), device=device
            )
        elif self._buffer.shape[1] != numel:
            raise SpectralEdgeError(
                f"update has {numel} entries but earlier ones had {self._buffer.shape[1]}: "
                "parameters were added, removed or reshaped; start a new RollingGram"
            )
        self._row = None
        return self._buffer[self._free_slot()]

    def accumulate_inner(self, start: int, stop: int) -> None:
        """Add the inner products of the staged slice [start, stop) with every slot.

        Lets a caller that stages parameter by parameter compute the Gram row while each slice
        is still in cache, instead of a second pass over the whole buffer in :meth:`commit`.
        Products and sums are float64 whatever the stored dtype (:func:`add_inner_products`),
        so staging in slices gives the row a single :meth:`push` would, up to the order of
        float64 additions.
        """
        free = self._free_slot()
        rows = self._buffer[: self._live_rows(free)]
        if self._row is None:
            self._row = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
        add_inner_products(self._row, rows, free, start, stop, self._scratch_block())

    def commit(self, reduce=None) -> bool:
        """Take the staged update into the window; False (nothing changes) if not finite.

        ``reduce``: for updates sharded across processes (FSDP), a function that sums the new
        Gram row (W + 1 float64 numbers) over the processes, e.g. an all-reduce. Each process
        stages only the coordinates it holds; ⟨δ_new, δ_i⟩ is the sum of the local inner
        products, so every process ends with the global row, and a NaN on any shard reaches all.
        """
        free = self._free_slot()
        if self._row is None:
            self.accumulate_inner(0, self._buffer.shape[1])
        row = self._row.cpu().numpy()
        self._row = None
        # Slots never written yet hold no update: their inner products are 0.
        row = np.concatenate([row, np.zeros(self.n_slots - len(row))])
        if reduce is not None:
            row = np.asarray(reduce(row), dtype=np.float64)
        if not np.isfinite(row[free]):
            self.rejected += 1
            return False
        self._inner[free, :] = row
        self._inner[:, free] = row
        self._union = self._order + [free]
        self._order = self._union[-self.window :]
        self.pushes += 1
        return True

    def _live_rows(self, free: int) -> int:
        """Slots 0..n−1 have been written: the window fills slots in order from 0."""
        return max(self._order + [free]) + 1

    def _scratch_block(self) -> torch.Tensor | None:
        """The float64 block of :func:`add_inner_products`, kept between pushes (None for
        float64 updates, which need no conversion)."""
        if self._buffer.dtype == torch.float64:
            return None
        width = min(chunk_for(self._buffer.device), self._buffer.shape[1])
        if self._scratch is None or self._scratch.device != self._buffer.device:
            self._scratch = torch.empty(
                (self.n_slots, width), dtype=torch.float64, device=self._buffer.device
            )
        return self._scratch

    def _free_slot(self) -> int:
        used = set(self._order)
        return next(s for s in range(self.n_slots) if s not in used)

    # -- resume --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (the stored updates included)."""
        return {
            "window": self.window,
            "buffer": None if self._buffer is None else self._buffer.detach().cpu().clone(),
            "inner": torch.from_numpy(self._inner.copy()),  # tensors load with weights_only
            "order": list(self._order),
            "union": list(self._union),
            "pushes": self.pushes,
            "rejected": self.rejected,
            "sketch": None if self.sketcher is None else self.sketcher.config(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["window"] != self.window:
            raise SpectralEdgeError(
                f"state was saved with window {state['window']}, this RollingGram has "
                f"{self.window}; construct it with the saved window"
            )
        mine = None if self.sketcher is None else self.sketcher.config()
        if state.get("sketch") != mine:
            raise SpectralEdgeError(
                f"state was saved with sketch {state.get('sketch')}, this RollingGram has {mine}"
            )
        buffer = state["buffer"]
        if buffer is not None:
            device = self._buffer.device if self._buffer is not None else "cpu"
            buffer = buffer.clone().to(device)
        self._buffer = buffer
        self._row = self._scratch = None
        self._inner = torch.as_tensor(state["inner"], dtype=torch.float64).numpy().copy()
        self._order = list(state["order"])
        self._union = list(state["union"])
        self.pushes = int(state["pushes"])
        self.rejected = int(state["rejected"])


def batch_gram(updates) -> np.ndarray:
    """X Xᵀ of a stack of updates in float64, the reference the incremental Gram must match."""
    x = np.stack([as_flat_tensor(u).detach().cpu().double().numpy() for u in updates])
    return x @ x.T
