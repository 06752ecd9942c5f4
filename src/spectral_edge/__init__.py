"""spectral-edge: the rolling-window spectral edge of parameter updates.

The public surface is small on purpose::

    from spectral_edge import RollingGram, spectrum, SpectralMonitor, open_store

Each name is imported when it is first used (a module ``__getattr__``), so ``import
spectral_edge`` and ``spectral-edge --help`` do not pay for torch (1-2 s) or pandas until
something needs them. Heavy or optional pieces (the run store's Parquet export, plots, framework
adapters) are imported only when used.

Diagnostics go through :mod:`logging` under the ``spectral_edge`` logger hierarchy (one logger
per module); what a training loop should notice is also a ``warnings.warn`` (filterable, and
shown once by default) and an event in the run store.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from spectral_edge._version import __version__  # its own module: nothing imports the root

# The library logs under "spectral_edge.*" and never configures logging itself: without a
# handler of the application's, nothing is printed (the command line installs one).
logging.getLogger(__name__).addHandler(logging.NullHandler())

# name -> the module that defines it
_LAZY = {
    "Event": "spectral_edge.records",
    "RollingGram": "spectral_edge.core.gram",
    "SpectralEdgeError": "spectral_edge.errors",
    "SpectralMonitor": "spectral_edge.monitor",
    "WindowRecord": "spectral_edge.records",
    "WindowSpectrum": "spectral_edge.core.spectrum",
    "make_sketch": "spectral_edge.core.sketch",
    "spectrum": "spectral_edge.core.spectrum",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from spectral_edge.core.gram import RollingGram
    from spectral_edge.core.sketch import make_sketch
    from spectral_edge.core.spectrum import WindowSpectrum, spectrum
    from spectral_edge.errors import SpectralEdgeError
    from spectral_edge.monitor import SpectralMonitor
    from spectral_edge.records import Event, WindowRecord


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spectral_edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
