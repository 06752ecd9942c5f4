"""SCAN, generated from its published grammar (Lake & Baroni 2018), nothing downloaded.

Grammar (phrase-structure rules of the paper)::

    C -> S and S | S after S | S
    S -> V twice | V thrice | V
    V -> D opposite DIR | D around DIR | D | U       (D's verb with the direction DIR)
    D -> U left | U right | turn left | turn right
    U -> walk | look | run | jump

and its interpretation::

    [[walk]] = I_WALK (look, run, jump likewise)
    [[x left]] = I_TURN_LEFT [[x]]        [[turn left]] = I_TURN_LEFT
    [[x opposite left]] = I_TURN_LEFT I_TURN_LEFT [[x]]
    [[x around left]] = (I_TURN_LEFT [[x]]) x 4
    [[v twice]] = [[v]] [[v]]            [[v thrice]] = [[v]] [[v]] [[v]]
    [[s1 and s2]] = [[s1]] [[s2]]        [[s1 after s2]] = [[s2]] [[s1]]

with "turn" contributing no action of its own. There are 4 + 10 + 10 + 10 = 34 V phrases, 102 S
phrases and 102 + 2·102² = 20,910 commands, the published count.

The simple split of the paper is a random 80/20 split; the spectral-edge paper trains on 2,048
pairs, so :func:`make_scan` draws ``n_train`` commands (default 2,048) by a seeded permutation and
uses the rest (or the next ``n_test``) as the test set.

Encoding: source tokens are the 13 command words after ``<pad>`` (id 0); target tokens are
``<pad>`` 0, ``<sos>`` 1, ``<eos>`` 2 and the six actions. ``tgt_in`` starts with ``<sos>`` and
``tgt_out`` ends with ``<eos>`` (teacher forcing); padding is 0 everywhere, so ``src != 0`` says
where the real tokens are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from spectral_edge.errors import SpectralEdgeError

VERBS = ("walk", "look", "run", "jump")
DIRECTIONS = ("left", "right")
ACTIONS = ("I_WALK", "I_LOOK", "I_RUN", "I_JUMP", "I_TURN_LEFT", "I_TURN_RIGHT")

PAD, SOS, EOS = 0, 1, 2
MODIFIERS = ("opposite", "around", "twice", "thrice", "and", "after")
COMMAND_WORDS = (*VERBS, "turn", *DIRECTIONS, *MODIFIERS)
SRC_VOCAB: tuple[str, ...] = ("<pad>", *COMMAND_WORDS)
TGT_VOCAB: tuple[str, ...] = ("<pad>", "<sos>", "<eos>", *ACTIONS)
SRC_INDEX = {w: i for i, w in enumerate(SRC_VOCAB)}
TGT_INDEX = {w: i for i, w in enumerate(TGT_VOCAB)}

#: The longest command ("jump around left twice and walk opposite right thrice") has 9 words and
#: the longest action sequence ("x around d thrice" twice over) 48 actions.
MAX_SRC_LEN = 9
MAX_ACTIONS = 48
N_COMMANDS = 20_910


def _verb_action(verb: str) -> list[str]:
    return [] if verb == "turn" else [f"I_{verb.upper()}"]


def interpret(command: str) -> list[str]:
    """The action sequence of a SCAN command; raises on anything outside the grammar."""
    words = command.split()
    for conj in ("and", "after"):
        if conj in words:
            i = words.index(conj)
            first, second = " ".join(words[:i]), " ".join(words[i + 1 :])
            left, right = _interpret_s(first, command), _interpret_s(second, command)
            return left + right if conj == "and" else right + left
    return _interpret_s(command, command)


def _interpret_s(phrase: str, command: str) -> list[str]:
    words = phrase.split()
    repeat = {"twice": 2, "thrice": 3}.get(words[-1] if words else "", 1)
    if repeat > 1:
        words = words[:-1]
    return _interpret_v(words, command) * repeat


def _interpret_v(words: list[str], command: str) -> list[str]:
    if len(words) == 1 and words[0] in VERBS:
        return _verb_action(words[0])
    verb_ok = bool(words) and words[0] in (*VERBS, "turn")
    if len(words) == 2 and verb_ok and words[1] in DIRECTIONS:
        return [f"I_TURN_{words[1].upper()}", *_verb_action(words[0])]
    if len(words) == 3 and verb_ok and words[1] in ("opposite", "around"):
        if words[2] not in DIRECTIONS:
            raise SpectralEdgeError(f"not a SCAN command: {command!r}")
        turn, act = f"I_TURN_{words[2].upper()}", _verb_action(words[0])
        if words[1] == "opposite":
            return [turn, turn, *act]
        return [turn, *act] * 4
    raise SpectralEdgeError(f"not a SCAN command: {command!r}")


def _v_phrases() -> list[str]:
    out = list(VERBS)
    for verb in (*VERBS, "turn"):
        for d in DIRECTIONS:
            out.append(f"{verb} {d}")
    for mod in ("opposite", "around"):
        for verb in (*VERBS, "turn"):
            for d in DIRECTIONS:
                out.append(f"{verb} {mod} {d}")
    return out


@lru_cache(maxsize=1)
def all_commands() -> tuple[str, ...]:
    """Every SCAN command once, in a fixed order (simple commands, then "and", then "after")."""
    s_phrases = [f"{v}{suffix}" for v in _v_phrases() for suffix in ("", " twice", " thrice")]
    commands = list(s_phrases)
    for conj in ("and", "after"):
        commands.extend(f"{s1} {conj} {s2}" for s1 in s_phrases for s2 in s_phrases)
    return tuple(commands)


@dataclass(frozen=True)
class ScanData:
    """Encoded SCAN pairs. Source ``(N, 9)``; targets ``(N, 49)`` (48 actions plus sos/eos)."""

    seed: int
    train_commands: tuple[str, ...]
    test_commands: tuple[str, ...]
    train_src: Tensor
    train_tgt_in: Tensor
    train_tgt_out: Tensor
    test_src: Tensor
    test_tgt_in: Tensor
    test_tgt_out: Tensor

    src_vocab_size: int = len(SRC_VOCAB)
    tgt_vocab_size: int = len(TGT_VOCAB)
    pad_id: int = PAD
    sos_id: int = SOS
    eos_id: int = EOS


def encode(commands: tuple[str, ...] | list[str]) -> tuple[Tensor, Tensor, Tensor]:
    """Source ids, decoder inputs (``<sos>`` + actions) and targets (actions + ``<eos>``)."""
    tgt_len = MAX_ACTIONS + 1
    src, tgt_in, tgt_out = [], [], []
    # Plain lists and one tensor at the end: building 20k small tensors costs seconds.
    for cmd in commands:
        ids = [SRC_INDEX[w] for w in cmd.split()]
        acts = [TGT_INDEX[a] for a in interpret(cmd)]
        pad = [PAD] * (tgt_len - len(acts) - 1)
        src.append(ids + [PAD] * (MAX_SRC_LEN - len(ids)))
        tgt_in.append([SOS, *acts, *pad])
        tgt_out.append([*acts, EOS, *pad])
    as_tensor = lambda rows, width: torch.tensor(rows, dtype=torch.int64).reshape(-1, width)  # noqa: E731
    return as_tensor(src, MAX_SRC_LEN), as_tensor(tgt_in, tgt_len), as_tensor(tgt_out, tgt_len)


def decode_actions(ids: Tensor | list[int]) -> list[str]:
    """Action names up to the first ``<eos>``, skipping ``<sos>`` and padding."""
    out = []
    for i in ids.tolist() if isinstance(ids, Tensor) else ids:
        if i == EOS:
            break
        if i not in (PAD, SOS):
            out.append(TGT_VOCAB[i])
    return out


def make_scan(n_train: int = 2048, n_test: int | None = None, seed: int = 42) -> ScanData:
    """The simple split: ``n_train`` random commands for training, the rest (or ``n_test``) test."""
    commands = all_commands()
    if not 1 <= n_train < len(commands):
        raise SpectralEdgeError(f"n_train must lie in 1..{len(commands) - 1}, got {n_train}")
    left = len(commands) - n_train
    if n_test is None:
        n_test = left
    if not 1 <= n_test <= left:
        raise SpectralEdgeError(f"n_test must lie in 1..{left} for n_train={n_train}, got {n_test}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(commands), generator=gen).tolist()
    train = tuple(commands[i] for i in perm[:n_train])
    test = tuple(commands[i] for i in perm[n_train : n_train + n_test])
    return ScanData(int(seed), train, test, *encode(train), *encode(test))


def sequence_accuracy(predictions: Tensor, targets: Tensor, pad_id: int = PAD) -> float:
    """Fraction of sequences whose every non-pad target token is predicted exactly.

    ``targets`` is ``(N, L)`` (e.g. ``tgt_out``, so ``<eos>`` must be predicted too).
    ``predictions`` holds token ids ``(N, L')`` (greedy decoding or teacher-forced argmax); it is
    cut or right-padded with ``pad_id`` to ``L``, and whatever it says after the target's
    ``<eos>`` is ignored.
    """
    if predictions.dim() != 2 or targets.dim() != 2 or len(predictions) != len(targets):
        raise SpectralEdgeError(
            f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} must be "
            "(N, L) with the same N"
        )
    if len(targets) == 0:
        return float("nan")
    length = targets.shape[1]
    pred = predictions[:, :length]
    if pred.shape[1] < length:
        fill = pred.new_full((len(pred), length - pred.shape[1]), pad_id)
        pred = torch.cat([pred, fill], dim=1)
    valid = targets != pad_id
    correct = ((pred == targets) | ~valid).all(dim=1)
    return correct.float().mean().item()
