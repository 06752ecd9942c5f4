"""Deprecated: moved to :mod:`spectral_edge.reproduce.probes.holographic`, beside the code
that runs the model it probes; the names below still work here, with a DeprecationWarning."""

from spectral_edge.dynamics._moved import forward

__getattr__ = forward(
    __name__,
    "spectral_edge.reproduce.probes.holographic",
    (
        "direction_spread",
        "execution_manifold",
        "holographic_report",
        "low_rank_truncation_accuracy",
        "trajectory_pca_accuracy",
    ),
)
