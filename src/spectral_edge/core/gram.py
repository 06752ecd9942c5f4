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

Inner products are accumulated in float64 chunk by chunk. A float32 dot product over the
38.6·10^6 entries of GPT-2's embedding was off by 1.3e-2 relative on the CPU (torch.mv), enough
to blur the small end of the spectrum and to break Cauchy–Schwarz between Gram entries; float32
chunks of 2^16 summed in float64 stay within 1e-6 (2^20: 6e-5; measured, docs/measurements.md)
at no extra memory traffic. On a GPU each chunk is a kernel launch, so chunks are 2^22 there
(not yet measured for accuracy; the GPU's dot products are not one serial float32 sum).

>>> import numpy as np
>>> rg = RollingGram(window=3)
>>> for v in np.eye(4)[:4] * [1.0, 2.0, 3.0, 4.0]:
...     _ = rg.push(v)
>>> rg.gram().diagonal().tolist()  # the last three updates, oldest first
[4.0, 9.0, 16.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError

CHUNK = 1 << 16  # CPU: float32 partial sums of 2^16 products stay within ~1e-6 relative
CHUNK_ACCELERATOR = 1 << 22  # GPU: each chunk is a kernel launch


def as_flat_tensor(update) -> torch.Tensor:
    """A 1-D floating tensor view of ``update`` (numpy array, tensor, or a sequence of them).

    A sequence is taken as the concatenation of its parts, in order.
    """
    if isinstance(update, np.ndarray):
        update = _from_numpy(update)
    elif isinstance(update, str | bytes):
        raise SpectralEdgeError(f"an update must be an array or a tensor, not {update!r:.40}")
    elif isinstance(update, Sequence) and not isinstance(update, torch.Tensor):
        parts = [as_flat_tensor(u) for u in update]
        if not parts:
            raise SpectralEdgeError("empty update: pass at least one array or tensor")
        return torch.cat([p.to(parts[0].device) for p in parts])
    if not isinstance(update, torch.Tensor):
        raise SpectralEdgeError(
            f"an update must be a numpy array or a torch tensor, not {type(update).__name__}"
        )
    if not update.is_floating_point():
        raise SpectralEdgeError(
            f"an update must be a floating-point vector, got dtype {update.dtype}"
        )
    return update.reshape(-1)


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    """A tensor of ``array``; torch takes neither negative strides nor a foreign byte order."""
    if array.dtype.kind != "f":
        raise SpectralEdgeError(
            f"an update must be a floating-point vector, got numpy dtype {array.dtype}"
        )
    native = array.astype(array.dtype.newbyteorder("="), copy=False)
    return torch.from_numpy(np.ascontiguousarray(native))


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """Storage dtype for updates: float64 stays, everything narrower is widened to float32.

    Half-precision inner products lose most of their digits; float32 storage costs no more
    reads than the parameters themselves and keeps the Gram accurate to ~1e-6.
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def chunk_for(device) -> int:
    """Columns per float32 partial product on ``device``: :data:`CHUNK` on the CPU."""
    return CHUNK if torch.device(device).type == "cpu" else CHUNK_ACCELERATOR


def chunked_mv(
    rows: torch.Tensor, vector: torch.Tensor, start: int, stop: int, chunk: int, out: list
) -> None:
    """Append ``rows[:, a:b] @ vector[a:b]`` to ``out`` for chunks [a, b) of [start, stop)."""
    for a in range(start, stop, chunk):
        b = min(a + chunk, stop)
        out.append(torch.mv(rows[:, a:b], vector[a:b]))


def sum_parts(parts: list) -> torch.Tensor:
    """The float64 sum of the partial products (on their device)."""
    if len(parts) == 1:
        return parts[0].to(torch.float64)
    return torch.stack(parts).sum(0, dtype=torch.float64)


def chunked_inner(rows: torch.Tensor, vector: torch.Tensor, chunk: int | None = None) -> np.ndarray:
    """``rows @ vector`` with float64 accumulation across chunks of ``chunk`` columns.

    ``chunk`` defaults to :func:`chunk_for` the device of ``rows``.
    """
    parts: list = []
    chunked_mv(rows, vector, 0, vector.numel(), chunk or chunk_for(rows.device), parts)
    if not parts:
        return np.zeros(rows.shape[0])
    return sum_parts(parts).cpu().numpy()


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
            from spectral_edge.core.sketch import make_sketch

            self.sketcher = make_sketch(sketch, sketch_dim, seed)
        self.n_slots = self.window + 1
        self._buffer: torch.Tensor | None = None
        self._inner = np.zeros((self.n_slots, self.n_slots))
        self._order: list[int] = []  # slots of the current window, oldest first
        self._union: list[int] = []  # slots of the last union (previous window + new update)
        self._partial: list[torch.Tensor] | None = None  # float32 partial Gram rows
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
        self._partial = None
        return self._buffer[self._free_slot()]

    def accumulate_inner(self, start: int, stop: int) -> None:
        """Add the inner products of the staged slice [start, stop) with every slot.

        Lets a caller that stages parameter by parameter compute the Gram row while each slice
        is still in cache, instead of a second pass over the whole buffer in :meth:`commit`.
        The products are float32 (for float32 updates) in chunks of :func:`chunk_for` columns
        and summed in float64 at :meth:`commit`, the accuracy of :func:`chunked_inner`.
        """
        free = self._free_slot()
        if self._partial is None:
            self._partial = []
        rows = self._buffer[: self._live_rows(free)]
        chunked_mv(rows, rows[free], start, stop, chunk_for(rows.device), self._partial)

    def commit(self, reduce=None) -> bool:
        """Take the staged update into the window; False (nothing changes) if not finite.

        ``reduce``: for updates sharded across processes (FSDP), a function that sums the new
        Gram row (W + 1 float64 numbers) over the processes, e.g. an all-reduce. Each process
        stages only the coordinates it holds; ⟨δ_new, δ_i⟩ is the sum of the local inner
        products, so every process ends with the global row, and a NaN on any shard reaches all.
        """
        free = self._free_slot()
        if self._partial:
            row = sum_parts(self._partial).cpu().numpy()
        else:
            rows = self._buffer[: self._live_rows(free)]
            row = chunked_inner(rows, rows[free])
        self._partial = None
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
        self._inner = torch.as_tensor(state["inner"], dtype=torch.float64).numpy().copy()
        self._order = list(state["order"])
        self._union = list(state["union"])
        self.pushes = int(state["pushes"])
        self.rejected = int(state["rejected"])


def batch_gram(updates) -> np.ndarray:
    """X Xᵀ of a stack of updates in float64, the reference the incremental Gram must match."""
    x = np.stack([as_flat_tensor(u).detach().cpu().double().numpy() for u in updates])
    return x @ x.T
