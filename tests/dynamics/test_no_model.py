"""dynamics analyses series and never touches a model: importing every one of its modules loads
no torch, and the model probes that moved to spectral_edge.reproduce.probes are still reachable
under their old names, with a DeprecationWarning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spectral_edge.reproduce.probes import commutator, decomposition, hessian, holographic

MOVED = {
    "commutator": (commutator, ("PROBE_LR", "commutator_defect", "commutator_probe")),
    "hessian": (hessian, ("hessian_top_eigenvalues", "hvp")),
    "decomposition": (decomposition, ("mode_directions", "spectral_loss_decomposition")),
    "holographic": (
        holographic,
        (
            "direction_spread",
            "execution_manifold",
            "holographic_report",
            "low_rank_truncation_accuracy",
            "trajectory_pca_accuracy",
        ),
    ),
}


def test_importing_every_dynamics_module_loads_no_torch():
    code = (
        "import importlib, pkgutil, sys, spectral_edge.dynamics as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module('spectral_edge.dynamics.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'torch')[:3])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module", sorted(MOVED))
def test_moved_probe_names_still_work_and_warn(module):
    new, names = MOVED[module]
    old = __import__(f"spectral_edge.dynamics.{module}", fromlist=["_"])
    for name in names:
        with pytest.warns(DeprecationWarning, match=f"moved to {new.__name__}.{name}"):
            assert getattr(old, name) is getattr(new, name)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018 - the attribute access is the test
