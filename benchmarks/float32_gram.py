"""The exact path's Gram row as it was before issue 13, kept only to measure against.

Float32 ``torch.mv`` partial products over chunks of 2^16 columns (2^22 on a GPU), summed in
float64 at commit (commit dc82567 to issue 13). The BLAS sums each chunk in float32, which moved
the singular values of a planted stream by ~1e-5·σ_1 (docs/measurements.md). The library now
multiplies in float64 (``spectral_edge.core.gram.add_inner_products``); the benchmarks patch this
class in to time and measure the old way side by side with the new one.
"""

from __future__ import annotations

import torch

from spectral_edge import RollingGram

OLD_CHUNK = 1 << 16
OLD_CHUNK_ACCELERATOR = 1 << 22


class Float32ChunkGram(RollingGram):
    """RollingGram whose new Gram row is float32 chunk products summed in float64."""

    def accumulate_inner(self, start: int, stop: int) -> None:
        free = self._free_slot()
        rows = self._buffer[: self._live_rows(free)]
        chunk = OLD_CHUNK if rows.device.type == "cpu" else OLD_CHUNK_ACCELERATOR
        parts = [
            torch.mv(rows[:, a : min(a + chunk, stop)], rows[free, a : min(a + chunk, stop)])
            for a in range(start, stop, chunk)
        ]
        if not parts:
            return
        row = torch.stack(parts).sum(0, dtype=torch.float64)
        self._row = row if self._row is None else self._row + row
