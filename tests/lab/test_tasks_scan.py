"""SCAN generated from its grammar, against the published facts."""

import pytest
import torch

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.tasks import scan


@pytest.mark.parametrize(
    "command, actions",
    [
        ("jump twice", "I_JUMP I_JUMP"),
        ("walk left after run thrice", "I_RUN I_RUN I_RUN I_TURN_LEFT I_WALK"),
        ("turn opposite right", "I_TURN_RIGHT I_TURN_RIGHT"),
        ("look around left", " ".join(["I_TURN_LEFT I_LOOK"] * 4)),
        ("walk", "I_WALK"),
        ("turn left", "I_TURN_LEFT"),
        ("run opposite left", "I_TURN_LEFT I_TURN_LEFT I_RUN"),
        ("turn around right", " ".join(["I_TURN_RIGHT"] * 4)),
        ("jump and walk", "I_JUMP I_WALK"),
        ("jump after walk", "I_WALK I_JUMP"),
        (
            "look right thrice and turn left twice",
            " ".join(["I_TURN_RIGHT I_LOOK"] * 3 + ["I_TURN_LEFT"] * 2),
        ),
    ],
)
def test_known_commands(command, actions):
    assert scan.interpret(command) == actions.split()


def test_command_count():
    commands = scan.all_commands()
    assert len(commands) == scan.N_COMMANDS == 20_910
    assert len(set(commands)) == 20_910


def test_lengths():
    commands = scan.all_commands()
    assert max(len(c.split()) for c in commands) == scan.MAX_SRC_LEN
    assert max(len(scan.interpret(c)) for c in commands) == scan.MAX_ACTIONS


@pytest.mark.parametrize(
    "bad", ["turn", "walk twice twice", "jump and", "walk and run and jump", "fly"]
)
def test_rejects_non_commands(bad):
    with pytest.raises(SpectralEdgeError):
        scan.interpret(bad)


@pytest.fixture(scope="module")
def data():
    return scan.make_scan(seed=3)


def test_simple_split(data):
    assert len(data.train_commands) == 2048
    assert len(data.test_commands) == 20_910 - 2048
    assert not set(data.train_commands) & set(data.test_commands)
    assert data.train_src.shape == (2048, 9) and data.train_tgt_in.shape == (2048, 49)


def test_encoding_round_trip(data):
    for i in range(0, 2048, 97):
        cmd = data.train_commands[i]
        src = [scan.SRC_VOCAB[t] for t in data.train_src[i].tolist() if t != scan.PAD]
        assert " ".join(src) == cmd
        assert scan.decode_actions(data.train_tgt_out[i]) == scan.interpret(cmd)
        assert data.train_tgt_in[i, 0] == scan.SOS
        # Teacher forcing: the decoder input is the target shifted right by one.
        n = len(scan.interpret(cmd)) + 1
        assert torch.equal(data.train_tgt_in[i, 1:n], data.train_tgt_out[i, : n - 1])
        assert data.train_tgt_out[i, n - 1] == scan.EOS


def test_split_deterministic_and_configurable():
    a = scan.make_scan(n_train=100, n_test=50, seed=1)
    b = scan.make_scan(n_train=100, n_test=50, seed=1)
    c = scan.make_scan(n_train=100, n_test=50, seed=2)
    assert a.train_commands == b.train_commands and a.test_commands == b.test_commands
    assert a.train_commands != c.train_commands
    assert len(a.test_commands) == 50
    with pytest.raises(SpectralEdgeError):
        scan.make_scan(n_train=20_910)
    with pytest.raises(SpectralEdgeError):
        scan.make_scan(n_train=20_000, n_test=1000)


def test_sequence_accuracy():
    tgt = torch.tensor([[3, 4, scan.EOS, 0], [5, scan.EOS, 0, 0]])
    assert scan.sequence_accuracy(tgt, tgt) == 1.0
    # Anything after the target's <eos> is ignored; a wrong token anywhere before is not.
    pred = torch.tensor([[3, 4, scan.EOS, 7], [5, 6, 0, 0]])
    assert scan.sequence_accuracy(pred, tgt) == 0.5
    # Shorter and longer predictions are padded or cut.
    assert scan.sequence_accuracy(pred[:, :2], tgt) == 0.0
    assert scan.sequence_accuracy(torch.cat([tgt, tgt], 1), tgt) == 1.0
    with pytest.raises(SpectralEdgeError):
        scan.sequence_accuracy(tgt[0], tgt)
