"""A small offline language-modelling corpus, with a second one to switch to mid-run.

TinyStories, FineWeb and OpenWebText cannot be downloaded here, so the language-model family
(docs/thesis.md §7) trains on text generated locally from templates, deterministic from a seed:

- ``stories``: TinyStories-like children's stories (a named child, a pet or toy, a place, a small
  problem, a feeling, a resolution, a moral), simple sentences and a few hundred distinct words;
- ``reports``: terse weather-station and field reports (station codes, numbers with units,
  compass directions, times, abbreviations), a different vocabulary *and* character
  distribution (digits, capitals, colons), so that switching from one to the other is a
  distribution shift the spectrum should see (prediction C5).

Tokenizer: byte level over ASCII, token id = ``ord(ch)``, vocabulary 128. We chose it over a word
vocabulary because it needs no fitting, is identical for both corpora (a shift changes the data,
never the vocabulary or the embedding table) and decodes losslessly. Documents contain no newline,
and are joined by ``"\\n"``, which therefore marks document boundaries in the token stream.

None of this is TinyStories; results on it are "scaled-down", never a reproduction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from spectral_edge.errors import SpectralEdgeError

VOCAB_SIZE = 128
DOC_SEPARATOR = "\n"


def encode(text: str) -> Tensor:
    """ASCII text to int64 token ids (``ord`` of each character)."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise SpectralEdgeError(f"the byte tokenizer takes ASCII only: {exc}") from None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).to(torch.int64)


def decode(ids: Tensor | list[int]) -> str:
    """Token ids back to text."""
    values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
    return "".join(map(chr, values))


# --- corpus 1: simple stories ---------------------------------------------------------------

_NAMES = ("Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Sam", "Lucy", "Tim", "Zoe", "Leo")
_HELPERS = ("mom", "dad", "grandma", "a kind old man", "her friend", "his friend", "the teacher")
_PETS = ("dog", "cat", "bunny", "bird", "frog", "puppy", "kitten", "duck")
_TOYS = ("ball", "kite", "doll", "truck", "boat", "teddy bear", "drum", "blanket")
_COLORS = ("red", "blue", "green", "yellow", "big", "little", "shiny", "soft")
_PLACES = ("park", "garden", "beach", "forest", "yard", "lake", "farm", "town")
_FEELINGS_BAD = ("sad", "scared", "angry", "worried", "upset")
_FEELINGS_GOOD = ("happy", "glad", "proud", "excited", "calm")
_PROBLEMS = (
    "the {thing} was stuck in a tree",
    "the {thing} fell into the water",
    "the {thing} was lost in the tall grass",
    "it started to rain very hard",
    "the {thing} broke into two pieces",
    "a big wind blew the {thing} away",
)
_FIXES = (
    "{helper} came and helped {pron} get it back",
    "{name} thought hard and found a way to fix it",
    "the {pet} ran and found the {thing}",
    "{name} asked {helper} for help, and they fixed it together",
    "the sun came out and everything was fine again",
)
_MORALS = (
    "It is good to ask for help.",
    "Sharing makes everyone happy.",
    "Being kind is always the best thing to do.",
    "Friends help each other.",
    "It is good to be brave.",
)


def _story(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    girl = name in ("Lily", "Mia", "Sue", "Anna", "Lucy", "Zoe")
    pron, subj = ("her", "She") if girl else ("him", "He")
    poss = "her" if girl else "his"
    pet, toy, place = rng.choice(_PETS), rng.choice(_TOYS), rng.choice(_PLACES)
    thing = rng.choice((toy, pet))
    color = rng.choice(_COLORS)
    fill = {
        "thing": thing,
        "helper": rng.choice(_HELPERS),
        "pron": pron,
        "name": name,
        "pet": pet,
    }
    opening = rng.choice(("Once upon a time", "One day", "Long ago", "One sunny morning"))
    kind = "girl" if girl else "boy"
    parts = [
        f"{opening}, there was a little {kind} named {name}.",
        f"{subj} had a {color} {toy} and a {pet}.",
        f"{subj} loved to play in the {place} with {poss} {pet}.",
    ]
    if rng.random() < 0.5:
        parts.append(f"Every day {name} and the {pet} played with the {toy}.")
    parts.append(f"One day, {rng.choice(_PROBLEMS).format(**fill)}.")
    parts.append(f"{name} was very {rng.choice(_FEELINGS_BAD)}.")
    # A pet cannot go and find itself.
    fixes = _FIXES if thing == toy else tuple(f for f in _FIXES if "{pet} ran" not in f)
    fix = rng.choice(fixes).format(**fill)
    parts.append(f"Then {fix}.")
    parts.append(f"{name} felt {rng.choice(_FEELINGS_GOOD)} and gave the {pet} a big hug.")
    if rng.random() < 0.6:
        parts.append(rng.choice(_MORALS))
    parts.append("The end." if rng.random() < 0.3 else f"{subj} smiled all day long.")
    return " ".join(parts)


# --- corpus 2: station reports --------------------------------------------------------------

_STATIONS = ("NORTH RIDGE", "KESTREL BAY", "DUNMORE", "AXTON FIELD", "PIKE HILL", "WESTMARSH")
_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
_SKY = ("clear", "overcast", "broken cloud", "fog patches", "light drizzle", "heavy showers")
_TRENDS = ("rising", "falling", "steady", "rising slowly", "falling fast")
_NOTES = (
    "Gauge 2 recalibrated.",
    "Visibility reduced after dusk.",
    "Road to mast closed; access by track only.",
    "Battery voltage low, replaced at {hh}:{mm}.",
    "No further remarks.",
    "Frost on sensor housing; readings may lag.",
)


def _report(rng: random.Random) -> str:
    hh, mm = f"{rng.randrange(24):02d}", f"{rng.randrange(0, 60, 5):02d}"
    station = rng.choice(_STATIONS)
    code = f"{station[:3]}-{rng.randrange(10, 99)}"
    temp, wind = rng.randrange(-12, 34), rng.randrange(0, 60)
    parts = [
        f"REPORT {code} ({station}) {hh}:{mm} UTC.",
        f"Temp {temp} C, dew point {temp - rng.randrange(0, 9)} C.",
        f"Wind {rng.choice(_COMPASS)} {wind} km/h, gusts {wind + rng.randrange(5, 35)}.",
        f"Pressure {rng.randrange(960, 1045)} hPa, {rng.choice(_TRENDS)}.",
        f"Sky: {rng.choice(_SKY)}; rain {rng.randrange(0, 40)}.{rng.randrange(10)} mm/24h.",
    ]
    if rng.random() < 0.5:
        parts.append(rng.choice(_NOTES).format(hh=hh, mm=mm))
    parts.append(f"Next obs {int(hh) + 1 if int(hh) < 23 else 0:02d}:{mm}. END")
    return " ".join(parts)


CORPORA: dict[str, Callable[[random.Random], str]] = {"stories": _story, "reports": _report}


def generate_documents(corpus: str, n_docs: int, seed: int) -> list[str]:
    """``n_docs`` documents of the named corpus, deterministic in ``(corpus, seed)``."""
    if corpus not in CORPORA:
        raise SpectralEdgeError(f"unknown corpus {corpus!r}; choose one of: {', '.join(CORPORA)}")
    if n_docs < 2:
        raise SpectralEdgeError(f"n_docs must be >= 2 (one train, one validation), got {n_docs}")
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and platforms, and
    # the corpus name in it keeps the two generators' streams unrelated.
    rng = random.Random(f"{corpus}:{int(seed)}")
    return [CORPORA[corpus](rng) for _ in range(n_docs)]


@dataclass(frozen=True)
class LanguageData:
    """Token streams of one corpus: documents split by document, then concatenated."""

    corpus: str
    seed: int
    train_tokens: Tensor
    val_tokens: Tensor
    vocab_size: int = VOCAB_SIZE


def make_language(
    corpus: str = "stories", n_docs: int = 2000, val_fraction: float = 0.1, seed: int = 42
) -> LanguageData:
    """Generate a corpus and split it into train and validation streams by whole documents."""
    if not 0.0 < val_fraction < 1.0:
        raise SpectralEdgeError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    docs = generate_documents(corpus, n_docs, seed)
    n_val = min(max(round(val_fraction * n_docs), 1), n_docs - 1)
    join = DOC_SEPARATOR.join
    train = encode(join(docs[n_val:]) + DOC_SEPARATOR)
    val = encode(join(docs[:n_val]) + DOC_SEPARATOR)
    return LanguageData(corpus, int(seed), train, val)


def sample_batch(
    tokens: Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random windows: inputs ``(B, T)`` and next-token targets ``(B, T)``.

    The caller owns ``generator`` so that a resumed run can restore its state and draw the same
    batches again.
    """
    if len(tokens) < seq_len + 1:
        raise SpectralEdgeError(f"stream of {len(tokens)} tokens is shorter than seq_len + 1")
    starts = torch.randint(0, len(tokens) - seq_len, (batch_size,), generator=generator)
    idx = starts[:, None] + torch.arange(seq_len + 1)
    windows = tokens[idx]
    return windows[:, :-1], windows[:, 1:]


def eval_batches(
    tokens: Tensor, batch_size: int, seq_len: int, max_batches: int | None = None
) -> list[tuple[Tensor, Tensor]]:
    """Consecutive non-overlapping windows from the start: a fixed validation set."""
    n_windows = (len(tokens) - 1) // seq_len
    if n_windows < 1:
        raise SpectralEdgeError(f"stream of {len(tokens)} tokens is shorter than seq_len + 1")
    idx = torch.arange(n_windows)[:, None] * seq_len + torch.arange(seq_len + 1)
    windows = tokens[idx]
    out = [
        (windows[i : i + batch_size, :-1], windows[i : i + batch_size, 1:])
        for i in range(0, n_windows, batch_size)
    ]
    return out if max_batches is None else out[:max_batches]


@dataclass(frozen=True)
class CorpusShift:
    """Train on ``before`` until ``switch_step``, on ``after`` from then on (a distribution shift).

    Steps are 0-indexed optimizer steps: the batch for step ``switch_step`` is the first one drawn
    from ``after``. Validation streams of both corpora stay available to measure forgetting.
    """

    before: LanguageData
    after: LanguageData
    switch_step: int

    def data_at(self, step: int) -> LanguageData:
        return self.before if step < self.switch_step else self.after

    def batch(
        self, step: int, batch_size: int, seq_len: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        return sample_batch(self.data_at(step).train_tokens, batch_size, seq_len, generator)


def make_shift(
    first: str = "stories",
    second: str = "reports",
    switch_step: int = 1000,
    n_docs: int = 2000,
    val_fraction: float = 0.1,
    seed: int = 42,
) -> CorpusShift:
    """Two corpora and the step at which training switches from the first to the second."""
    if first == second:
        raise SpectralEdgeError(f"a shift needs two different corpora, got {first!r} twice")
    if switch_step < 0:
        raise SpectralEdgeError(f"switch_step must be >= 0, got {switch_step}")
    return CorpusShift(
        make_language(first, n_docs, val_fraction, seed),
        make_language(second, n_docs, val_fraction, seed),
        int(switch_step),
    )
