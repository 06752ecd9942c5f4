"""Task families of docs/thesis.md §7, all generated locally and deterministically from a seed.

One module per family: :mod:`.modular` (mod-arith, multi-task, the two-layer-MLP setting),
:mod:`.dyck` (Dyck-1 depth), :mod:`.scan` (SCAN from its grammar), :mod:`.language` (offline
story and report corpora with a mid-run switch). Nothing is ever downloaded.
"""

from spectral_edge.lab.tasks.dyck import DyckData, make_dyck
from spectral_edge.lab.tasks.language import CorpusShift, LanguageData, make_language, make_shift
from spectral_edge.lab.tasks.modular import (
    OPERATIONS,
    MLPModularData,
    ModularData,
    make_mlp_modular,
    make_modular,
    make_multitask,
)
from spectral_edge.lab.tasks.scan import ScanData, make_scan, sequence_accuracy

__all__ = [
    "OPERATIONS",
    "CorpusShift",
    "DyckData",
    "LanguageData",
    "MLPModularData",
    "ModularData",
    "ScanData",
    "make_dyck",
    "make_language",
    "make_mlp_modular",
    "make_modular",
    "make_multitask",
    "make_scan",
    "make_shift",
    "sequence_accuracy",
]
