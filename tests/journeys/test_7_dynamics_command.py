"""Issue 16, point 7: `spectral-edge dynamics` prints each analysis' statistics, emits one JSON
document, and does not record the same result twice."""

import json

import pytest
from _journey import cli, train_plain

from spectral_edge import open_store


@pytest.fixture
def store(tmp_path):
    pytest.importorskip("scipy")
    train_plain(tmp_path / "runs", "plain", steps=40).close()
    return tmp_path / "runs"


def test_granger_prints_its_statistics(store):
    code, out, err = cli("dynamics", store, "plain", "granger")
    assert code == 0, err
    line = out.splitlines()[0]
    assert line.startswith("granger: ")
    for direction in ("gap_to_loss(", "loss_to_gap("):
        part = line.split(direction)[1]
        assert "F=" in part and "p_value=" in part and "lag_order=" in part


def test_json_is_one_document_for_several_analyses(store):
    code, out, err = cli("dynamics", store, "plain", "granger,adiabatic", "--json")
    assert code == 0, err
    results = json.loads(out)  # one document: json.load would say "Extra data" for two
    assert set(results) == {"granger", "adiabatic"}
    assert 0 <= results["granger"]["gap_to_loss"]["p_value"] <= 1
    assert "recorded 2 analysis event(s)" in err  # the note stays off the JSON


def test_repeating_an_analysis_does_not_duplicate_its_event(store):
    for _ in range(3):
        code, out, err = cli("dynamics", store, "plain", "adiabatic")
        assert code == 0, err
    assert "recorded 0 analysis event(s)" in out and "1 already recorded" in out
    with open_store(store, read_only=True) as s:
        kinds = s.run("plain").events()["kind"].tolist()
    assert kinds.count("analysis:adiabatic") == 1
    code, out, err = cli("dynamics", store, "plain", "adiabatic", "--set", "high=5")
    assert "recorded 1 analysis event(s)" in out  # other options, another result: recorded
