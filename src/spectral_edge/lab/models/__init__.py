"""The lab's models and a registry to build them by name.

``build_model(name, **overrides)`` builds any of ``MODEL_NAMES``: the task models
(``modular-transformer``, ``dyck-transformer``, ``scan-seq2seq``, ``mlp-quadratic``, ``mlp-embed``,
``tf-1layer``) and every GPT configuration by its own name (``gpt2-124m``, ``tinystories-51m``,
``small``, ``tiny``; also ``gpt-<name>``). Overrides are the builder's keyword arguments (GPT:
the :class:`GPTConfig` fields); an unknown name or key is a :class:`SpectralEdgeError`.

Build on ``torch.device("meta")`` to inspect shapes and counts of the large models without
allocating memory::

    with torch.device("meta"):
        model = build_model("gpt2-124m")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models.gpt import (
    GPT,
    GPT_CONFIGS,
    GPTConfig,
    build_gpt,
    count_parameters,
    gpt_config,
)
from spectral_edge.lab.models.mlp import EmbedMLP, QuadraticMLP
from spectral_edge.lab.models.seq2seq import Seq2SeqTransformer, scan_seq2seq
from spectral_edge.lab.models.transformer import (
    OneLayerTransformer,
    SmallTransformer,
    dyck_transformer,
    modular_transformer,
)

# name -> (builder, the class its ``**overrides`` are passed on to, if any)
_BUILDERS: dict[str, tuple[Callable[..., nn.Module], type[nn.Module] | None]] = {
    "modular-transformer": (modular_transformer, SmallTransformer),
    "dyck-transformer": (dyck_transformer, SmallTransformer),
    "scan-seq2seq": (scan_seq2seq, Seq2SeqTransformer),
    "mlp-quadratic": (QuadraticMLP, None),
    "mlp-embed": (EmbedMLP, None),
    "tf-1layer": (OneLayerTransformer, None),
}

MODEL_NAMES: tuple[str, ...] = (*_BUILDERS, *GPT_CONFIGS)


def _keywords(fn: Callable) -> set[str]:
    kinds = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind not in kinds}


def build_model(name: str, **overrides) -> nn.Module:
    """Build a named model; see the module docstring for the names."""
    gpt_name = name.removeprefix("gpt-")
    if gpt_name in GPT_CONFIGS:
        return build_gpt(gpt_name, **overrides)
    if name not in _BUILDERS:
        raise SpectralEdgeError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    builder, target = _BUILDERS[name]
    accepted = _keywords(builder) | (_keywords(target) if target else set())
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise SpectralEdgeError(
            f"unknown option(s) {unknown} for model {name!r}; known: {', '.join(sorted(accepted))}"
        )
    return builder(**overrides)


__all__ = [
    "GPT",
    "GPT_CONFIGS",
    "GPTConfig",
    "MODEL_NAMES",
    "EmbedMLP",
    "OneLayerTransformer",
    "QuadraticMLP",
    "Seq2SeqTransformer",
    "SmallTransformer",
    "build_gpt",
    "build_model",
    "count_parameters",
    "dyck_transformer",
    "gpt_config",
    "modular_transformer",
    "scan_seq2seq",
]
