"""spectral-edge: the rolling-window spectral edge of parameter updates.

The public surface is small on purpose::

    from spectral_edge import RollingGram, spectrum, SpectralMonitor, open_store

Heavy or optional pieces (the run store's Parquet export, plots, framework adapters) are imported
only when used.
"""

__version__ = "0.1.0"

from spectral_edge.core.gram import RollingGram  # noqa: E402
from spectral_edge.core.sketch import make_sketch  # noqa: E402
from spectral_edge.core.spectrum import WindowSpectrum, spectrum  # noqa: E402
from spectral_edge.errors import SpectralEdgeError  # noqa: E402
from spectral_edge.monitor import Event, SpectralMonitor, WindowRecord  # noqa: E402


def open_store(path, read_only: bool = False):
    """Open (or create) a run store; see :mod:`spectral_edge.store`."""
    from spectral_edge.store import RunStore

    return RunStore(path, read_only=read_only)


__all__ = [
    "Event",
    "RollingGram",
    "SpectralEdgeError",
    "SpectralMonitor",
    "WindowRecord",
    "WindowSpectrum",
    "__version__",
    "make_sketch",
    "open_store",
    "spectrum",
]
