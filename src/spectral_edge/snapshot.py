"""Which parameters a monitor watches, and in which order.

A snapshot θ_t is the concatenation of the selected parameters in a fixed, name-sorted order, so
the same model always gives the same layout and global indices (which key the sketch) do not depend
on registration order. Tied weights appear once (``named_parameters`` deduplicates them) and
buffers such as causal masks are never parameters, so they are excluded by construction.

Selections (docs/thesis.md §1):

* ``"all"``: every trainable parameter.
* ``"attention"``: the weight matrices W_Q, W_K, W_V, W_O (fused or not, self- and
  cross-attention) of every attention module, found by a path component containing ``attn`` or
  ``attention``. Biases are left out: the papers track the projection matrices.
* ``"trunk"``: everything but embeddings and normalisation layers (found by module type, with a
  name fallback for bare parameters such as ``pos_emb``).
* ``"layer:N"``: the parameters of layer N, i.e. whose name has the path component N right after a
  ``layers``/``h``/``blocks``/``layer``/``encoder``/``decoder`` container.
  :func:`layer_groups` lists every such group.
* any other string: a regular expression searched in the parameter names.
* a callable ``(name, parameter) -> bool``, or a list of exact names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError

_ATTENTION = re.compile(r"(^|\.)[^.]*(attn|attention)[^.]*\.", re.IGNORECASE)
# Names that mark an embedding or a normalisation layer, for parameters whose module type says
# nothing (a bare ``pos_emb`` parameter, a custom RMSNorm class). Matched against the module's own
# name and the parameter's own name only, so ``positionwise_ffn.weight`` stays in the trunk;
# ``position*`` counts only as a bare parameter's name (``position_bias``).
_NON_TRUNK_WORDS = (
    r"(?:\w*_)?(?:embed\w*|emb|wte|wpe|tok_emb|pos_emb|norm\w*|ln(?:_?[a-z0-9]{1,2})?|"
    r"\w*layernorm\w*|\w*_norm)"
)
_NON_TRUNK_MODULE = re.compile(rf"^{_NON_TRUNK_WORDS}$", re.IGNORECASE)
_NON_TRUNK_PARAMETER = re.compile(rf"^(?:{_NON_TRUNK_WORDS}|position\w*)$", re.IGNORECASE)
_NOT_TRUNK_TYPES = (
    nn.Embedding,
    nn.EmbeddingBag,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)
_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|encoder|decoder)\.(\d+)\.")

Selection = str | Callable[[str, torch.Tensor], bool] | list | tuple


@dataclass(frozen=True)
class Slot:
    """One parameter's place in the flat snapshot."""

    name: str
    offset: int
    numel: int
    shape: tuple[int, ...]


class ParameterLayout:
    """The selected parameters of a model, name-sorted, with their offsets in θ."""

    def __init__(self, model: nn.Module, params: Selection = "all", trainable_only: bool = True):
        self.selection = describe_selection(params)
        chosen = select_parameters(model, params, trainable_only=trainable_only)
        self.slots: list[Slot] = []
        offset = 0
        for name, p in chosen:
            self.slots.append(Slot(name, offset, p.numel(), tuple(p.shape)))
            offset += p.numel()
        self.numel = offset
        self._names = [s.name for s in self.slots]

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def tensors(self, model: nn.Module) -> list[torch.Tensor]:
        """The current values of the selected parameters, in layout order (no copies).

        Raises SpectralEdgeError naming the parameter if one disappeared or changed shape.
        """
        current = dict(model.named_parameters())
        out = []
        for slot in self.slots:
            p = current.get(slot.name)
            if p is None:
                raise SpectralEdgeError(
                    f"parameter {slot.name!r} disappeared from the model since monitoring began"
                )
            if tuple(p.shape) != slot.shape:
                raise SpectralEdgeError(
                    f"parameter {slot.name!r} changed shape from {slot.shape} to "
                    f"{tuple(p.shape)} since monitoring began"
                )
            out.append(p.detach())
        return out

    def pieces(self, model: nn.Module):
        """(global offset, flat tensor) for every selected parameter.

        A parameter sharded across processes (a DTensor, as FSDP2's ``fully_shard`` makes) gives
        only the piece this process holds, at its global offset: the sketch is keyed by global
        index and inner products are sums over coordinates, so summing the processes' results
        (an all-reduce) gives exactly the single-process numbers.
        """
        for slot, t in zip(self.slots, self.tensors(model), strict=True):
            if _is_dtensor(t):
                start, local = _local_shard(slot, t)
                yield slot.offset + start, local.reshape(-1)
            else:
                yield slot.offset, t.reshape(-1)

    def is_sharded(self, model: nn.Module) -> bool:
        """True if any selected parameter is a DTensor (sharded across processes)."""
        return any(_is_dtensor(t) for t in self.tensors(model))

    def describe(self) -> dict:
        return {"selection": self.selection, "n_params": self.numel, "names": self.names}

    def signature(self) -> list[tuple]:
        """(name, *shape) of every slot: what a saved monitor state must match."""
        return [(slot.name, *slot.shape) for slot in self.slots]


def _is_dtensor(t) -> bool:
    return type(t).__name__ == "DTensor" and hasattr(t, "to_local")


def _local_shard(slot: Slot, t) -> tuple[int, torch.Tensor]:
    """(offset inside the parameter, local tensor) of a DTensor sharded along dim 0.

    Row-sharding (``Shard(0)`` on a one-dimensional mesh, FSDP2's layout) leaves each process a
    contiguous run of rows, i.e. a contiguous range of the row-major flat parameter. Rows are
    split as ``torch.chunk`` does: ⌈n/world⌉ per process, the last ones shorter or empty.
    """
    placements = tuple(t.placements)
    mesh = t.device_mesh
    if len(placements) != 1 or mesh.ndim != 1:
        raise SpectralEdgeError(
            f"parameter {slot.name!r} is a DTensor on a {mesh.ndim}-D mesh with placements "
            f"{placements}; only 1-D meshes are supported (FSDP, not HSDP or tensor parallel)"
        )
    (placement,) = placements
    local = t.to_local()
    if placement.is_replicate():
        raise SpectralEdgeError(
            f"parameter {slot.name!r} is replicated, not sharded; a replicated DTensor would be "
            "counted once per process: monitor it like DDP (without a reduce)"
        )
    if not placement.is_shard(0):
        raise SpectralEdgeError(
            f"parameter {slot.name!r} is sharded as {placement}; only Shard(0) (FSDP) is supported"
        )
    rows = slot.shape[0] if slot.shape else 1
    per_row = slot.numel // rows if rows else 0
    chunk = -(-rows // mesh.size())
    first_row = min(chunk * mesh.get_local_rank(), rows)
    if local.numel() != min(chunk, rows - first_row) * per_row:
        raise SpectralEdgeError(
            f"parameter {slot.name!r}: local shard of {tuple(local.shape)} does not match the "
            f"torch.chunk split of {slot.shape} over {mesh.size()} processes"
        )
    return first_row * per_row, local


def select_parameters(
    model: nn.Module, params: Selection = "all", trainable_only: bool = True
) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs a selection picks, sorted by name; error if none."""
    named = sorted(model.named_parameters(), key=lambda item: item[0])
    if trainable_only:
        named = [(n, p) for n, p in named if p.requires_grad]
    if not named:
        raise SpectralEdgeError(
            "the model has no trainable parameters to monitor"
            if trainable_only
            else "the model has no parameters to monitor"
        )
    keep = _predicate(model, params, [n for n, _ in named])
    chosen = [(n, p) for n, p in named if keep(n, p)]
    if not chosen:
        sample = ", ".join(n for n, _ in named[:8])
        raise SpectralEdgeError(
            f"parameter selection {describe_selection(params)!r} matched none of the model's "
            f"{len(named)} parameters (first names: {sample}); pick 'all', 'attention', 'trunk', "
            "'layer:N', a regular expression, a callable or a list of names"
        )
    return chosen


def layer_groups(model: nn.Module) -> dict[str, str]:
    """Selections for every numbered layer of the model: {"layer:0": "layer:0", ...}."""
    found = sorted(
        {int(m.group(1)) for n, _ in model.named_parameters() for m in [_LAYER.search(n)] if m}
    )
    return {f"layer:{i}": f"layer:{i}" for i in found}


def describe_selection(params: Selection) -> str:
    """A string that records a selection in run configurations."""
    if isinstance(params, str):
        return params
    if isinstance(params, list | tuple):
        return "names:" + ",".join(params)
    if callable(params):
        return "callable:" + getattr(params, "__qualname__", repr(params))
    raise SpectralEdgeError(
        f"params must be a string, a callable or a list of names, not {type(params).__name__}"
    )


def _predicate(model: nn.Module, params: Selection, names: list[str]):
    if params == "all":
        return lambda n, p: True
    if params == "attention":
        return lambda n, p: p.ndim >= 2 and bool(_ATTENTION.search(n))
    if params == "trunk":
        excluded = _non_trunk_names(model)
        return lambda n, p: n not in excluded and not _looks_non_trunk(n)
    if isinstance(params, str) and params.startswith("layer:"):
        index = params.split(":", 1)[1]
        if not index.isdigit():
            raise SpectralEdgeError(
                f"layer selection needs a number, like 'layer:0', not {params!r}"
            )
        return lambda n, p: (m := _LAYER.search(n)) is not None and m.group(1) == index
    if isinstance(params, str):
        try:
            pattern = re.compile(params)
        except re.error as exc:
            raise SpectralEdgeError(
                f"params {params!r} is not a valid regular expression: {exc}"
            ) from None
        return lambda n, p: bool(pattern.search(n))
    if isinstance(params, list | tuple):
        missing = [n for n in params if n not in names]
        if missing:
            raise SpectralEdgeError(f"no parameters named {missing} in the model")
        wanted = set(params)
        return lambda n, p: n in wanted
    if callable(params):
        return lambda n, p: bool(params(n, p))
    raise SpectralEdgeError(
        f"params must be a string, a callable or a list of names, not {type(params).__name__}"
    )


def _looks_non_trunk(name: str) -> bool:
    """True if the parameter's own name or its module's own name says embedding or norm."""
    *modules, own = name.split(".")
    module = modules[-1] if modules else ""
    return bool(_NON_TRUNK_PARAMETER.match(own) or _NON_TRUNK_MODULE.match(module))


def _non_trunk_names(model: nn.Module) -> set[str]:
    out = set()
    for prefix, module in model.named_modules():
        if isinstance(module, _NOT_TRUNK_TYPES):
            for name, _ in module.named_parameters(recurse=False):
                out.add(f"{prefix}.{name}" if prefix else name)
    return out


# -- following a model whose parameters change ---------------------------------------------------


@dataclass(frozen=True)
class LayoutChange:
    """What changed in a monitor's selection: the window must restart (or pause, if nothing is
    selected any more); ``message`` is None when that was already reported."""

    message: str | None
    evidence: dict
    paused: bool


class LayoutFollower:
    """The layout a monitor watches, kept in step with a model whose parameters change.

    A window is a set of updates of one fixed parameter vector, so when the selection changes (a
    parameter added, removed or reshaped; with ``trainable_only``, frozen or unfrozen) the
    monitor reports what changed and starts a new window on the new selection: mixing updates of
    different coordinate sets would put an artificial jump into the spectrum. With ``strict`` a
    change raises instead, before anything is changed here.
    """

    def __init__(
        self,
        model: nn.Module,
        params: Selection = "all",
        trainable_only: bool = True,
        strict: bool = False,
    ):
        self.selection = params
        self.trainable_only = trainable_only
        self.strict = strict
        self.layout = ParameterLayout(model, params, trainable_only=trainable_only)
        self.paused: str | None = None  # why no parameter is selected, while none is
        self._signature: list | None = None  # (name, requires_grad, shape) at the last check

    def follow(self, model: nn.Module) -> LayoutChange | None:
        """None while the selection is unchanged; else what changed (the layout is updated)."""
        # The selection is re-resolved only when names, shapes or requires_grad changed: one
        # pass over the parameters instead of a full selection at every snapshot.
        named = dict(model.named_parameters())
        signature = [(n, p.requires_grad, p.shape) for n, p in named.items()]
        if signature == self._signature and self.paused is None:
            return None
        self._signature = signature
        try:
            chosen = select_parameters(model, self.selection, trainable_only=self.trainable_only)
        except SpectralEdgeError as exc:
            chosen, nothing = [], str(exc)
        change = layout_change(self.layout, chosen, named)
        if change is None and self.paused is None:
            return None
        if self.strict:
            raise SpectralEdgeError(f"the monitored parameters changed: {change}")
        if not chosen:
            if self.paused is not None:
                return LayoutChange(None, {}, paused=True)
            self.paused = nothing
            return LayoutChange(f"{change}; {nothing}; monitoring pauses", {}, paused=True)
        self.paused = None
        if change is not None:
            self.layout = ParameterLayout(
                model, self.selection, trainable_only=self.trainable_only
            )
        message = (
            f"{change or 'the same parameters are selected again'}; "
            "monitoring restarts with a new window"
        )
        return LayoutChange(message, {"n_params": self.layout.numel}, paused=False)


def layout_change(layout: ParameterLayout, chosen, named: dict) -> str | None:
    """How the parameters a selection picks now differ from ``layout``, in words; None if not.

    ``chosen``: the (name, parameter) pairs selected now; ``named``: every named parameter of
    the model, to tell a parameter that was frozen from one that was removed.
    """
    before = {slot.name: slot.shape for slot in layout.slots}
    after = {name: tuple(p.shape) for name, p in chosen}
    if before == after:
        return None
    gone = sorted(before.keys() - after.keys())
    parts = [
        ("removed", [n for n in gone if n not in named]),
        ("frozen", [n for n in gone if n in named]),
        ("added or unfrozen", sorted(after.keys() - before.keys())),
        (
            "changed shape",
            [
                f"{n} {before[n]} -> {after[n]}"
                for n in sorted(before.keys() & after.keys())
                if before[n] != after[n]
            ],
        ),
    ]
    return "; ".join(f"{what}: {_quoted(names)}" for what, names in parts if names)


def _quoted(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
