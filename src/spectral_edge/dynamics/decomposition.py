"""Deprecated: moved to :mod:`spectral_edge.reproduce.probes.decomposition`, beside the code
that runs the model it probes; the names below still work here, with a DeprecationWarning."""

from spectral_edge.dynamics._moved import forward

__getattr__ = forward(
    __name__,
    "spectral_edge.reproduce.probes.decomposition",
    (
        "mode_directions",
        "spectral_loss_decomposition",
    ),
)
