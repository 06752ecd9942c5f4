"""What a monitor records: its configuration, its events and its windows.

:class:`MonitorConfig` is every choice that defines what the monitor computes (recorded whole
with each run, and compared on resume by :func:`check_state`) and states the thesis' open
definitions as it resolves them; an :class:`Event` is something the monitor noticed at an
optimizer step; a :class:`WindowRecord` is the newest window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spectral_edge.core.spectrum import K_STAR_VARIANTS, WindowSpectrum
from spectral_edge.errors import SpectralEdgeError
from spectral_edge.learning_rate import check_lr_policy


@dataclass(frozen=True)
class MonitorConfig:
    """Every choice that defines what the monitor computes; recorded with each run."""

    window: int = 10
    every: int = 1
    params: str = "all"
    sketch_dim: int | None = None
    sketch: str = "fold"
    seed: int = 0
    k_star: str = "plain"
    center: bool = False
    trainable_only: bool = True
    lr_policy: str = "first"
    regime_low: float = 0.1
    regime_high: float = 10.0
    ratio_floor: float | None = None
    phases: bool = True
    warning: bool = True
    strict: bool = False

    def validate(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise SpectralEdgeError(f"every must be a positive integer, got {self.every!r}")
        if self.k_star not in K_STAR_VARIANTS:
            raise SpectralEdgeError(
                f"unknown k_star variant {self.k_star!r}; choose one of {K_STAR_VARIANTS}"
            )
        check_lr_policy(self.lr_policy)
        if self.ratio_floor is not None and not 0 < self.ratio_floor < 1:
            raise SpectralEdgeError(
                f"ratio_floor is a fraction of σ_1 in (0, 1), got {self.ratio_floor!r}"
            )
        if not 0 < self.regime_low < self.regime_high:
            raise SpectralEdgeError(
                f"regime thresholds need 0 < low < high, got {self.regime_low}, {self.regime_high}"
            )

    def definitions(self) -> dict:
        """The thesis' open definitions (docs/definitions.md), as this config resolves them."""
        c = self
        return {
            "update": f"theta_t - theta_(t-every), every={c.every}",
            "centering": "centred" if c.center else "uncentred",
            "parameters": c.params,
            "k_star": c.k_star,
            "gap_in_A": "sigma-gap (paper form); lambda-gap in A_DK",
            "delta_G": "exact Delta C of consecutive windows",
            "eta": f"lr_policy={c.lr_policy}",
            "regimes": f"A_DK < {c.regime_low} plateau, > {c.regime_high} forgetting",
            "sketch": "exact" if c.sketch_dim is None else f"{c.sketch}, d={c.sketch_dim}",
        }


@dataclass
class Event:
    """Something the monitor noticed at an optimizer step."""

    step: int
    kind: str
    message: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WindowRecord:
    """The newest window: its step, spectrum, flat features and adiabatic regime (which is also
    ``features["regime"]``)."""

    step: int
    spectrum: WindowSpectrum
    features: dict
    regime: str

    def __getattr__(self, name):
        # record.k_star, record.gap_ratio, record.adiabatic ... read through to the features.
        spec = object.__getattribute__(self, "spectrum")
        if hasattr(spec, name):
            return getattr(spec, name)
        feats = object.__getattribute__(self, "features")
        if name in feats:
            return feats[name]
        raise AttributeError(name)


def check_state(state: dict, config: dict, layout: list[tuple]) -> None:
    """Refuse a saved monitor state made with another configuration or other parameters."""
    if state["config"] != config:
        raise SpectralEdgeError(
            "the saved monitor state was made with a different configuration: "
            f"{state['config']} != {config}"
        )
    if [tuple(x) for x in state["layout"]] != layout:
        raise SpectralEdgeError(
            "the saved monitor state watched different parameters (names or shapes); build "
            "the monitor on the same model with the same selection"
        )
