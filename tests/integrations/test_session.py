"""The adapters' shared session: state round trip, per-rank shards, the store it opens."""

from __future__ import annotations

import pytest
from _common import tiny_model

from spectral_edge import SpectralEdgeError
from spectral_edge.integrations._session import MonitorSession
from spectral_edge.store import open_store


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


def _resumed(store, state) -> MonitorSession:
    session = MonitorSession(store=store, window=3)
    session.restore(state)
    session.start(tiny_model())
    assert session.monitor.run.name == state["run"]  # the same run, written again
    return session


def test_a_store_the_session_opened_is_closed_at_the_end_and_a_users_is_not(tmp_path):
    first = MonitorSession(store=tmp_path, window=3)
    first.start(tiny_model())
    state = first.state()
    first.finish()
    resumed = _resumed(tmp_path, state)  # a path: the session opens the store to find the run
    opened = resumed._opened
    assert opened is not None
    resumed.finish()
    with pytest.raises(SpectralEdgeError, match="closed"):
        opened.runs()
    with open_store(tmp_path) as users:
        _resumed(users, state).finish()
        assert list(users.runs()["name"]) == [state["run"]]  # still open after finish()
