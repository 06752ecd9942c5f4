"""Updates as flat tensors: the one input format of the Gram and the sketches.

An update arrives as a numpy array, a tensor, or a sequence of them (one per parameter tensor);
both :mod:`spectral_edge.core.gram` and :mod:`spectral_edge.core.sketch` read it through
:func:`as_flat_tensor`, which lives here so that neither has to import the other for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spectral_edge.errors import SpectralEdgeError


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
