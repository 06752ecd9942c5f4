"""The adapters' shared session: state round trip and per-rank shards."""

from __future__ import annotations

import pytest
from _common import tiny_model

from spectral_edge import SpectralEdgeError
from spectral_edge.integrations._session import MonitorSession


def test_state_round_trip_and_refusals():
    session = MonitorSession(window=3)
    assert session.state() == {}
    session.start(tiny_model())
    state = session.state()
    assert state["sharded"] is False and state["rank"] == 0 and state["run"] is None
    other = MonitorSession(window=3)
    other.restore(state)
    other.start(tiny_model())
    assert other.monitor.steps_observed == session.monitor.steps_observed
    with pytest.raises(SpectralEdgeError, match="version"):
        other.restore({"version": 99, "monitor": {}})
    with pytest.raises(SpectralEdgeError, match="drop model="):
        MonitorSession(model=tiny_model())


def test_another_ranks_shard_is_not_loaded():
    session = MonitorSession(window=3)
    session.start(tiny_model())
    state = {**session.state(), "sharded": True, "rank": 1}
    with pytest.warns(RuntimeWarning, match="rank 1's shard"):
        session.restore(state)
