"""Issue 16, point 5: re-running a script works as the error message says; runs can be deleted
and empty ones pruned from the command line."""

import pytest
from _journey import PLAIN_SCRIPT, cli, run_script, tiny_model, train_plain

from spectral_edge import SpectralMonitor, open_store
from spectral_edge.errors import SpectralEdgeError


def test_rerunning_a_script_says_what_to_do_and_that_works(tmp_path):
    store = tmp_path / "runs"
    first = run_script(PLAIN_SCRIPT, store, "mine", 1e-2)
    assert first.returncode == 0, first.stderr
    again = run_script(PLAIN_SCRIPT, store, "mine", 1e-2)
    assert again.returncode != 0
    message = again.stderr.strip().splitlines()[-1]
    assert "a run named 'mine' already exists" in message
    assert "overwrite=True" in message and "resume=True" in message
    assert f"spectral-edge runs {store} --delete mine" in message
    # What the message says, done: overwrite=True replaces the run.
    replaced = run_script(PLAIN_SCRIPT, store, "mine", 1e-3, 12, "{'overwrite': True}")
    assert replaced.returncode == 0, replaced.stderr
    with open_store(store, read_only=True) as s:
        assert s.runs()["name"].tolist() == ["mine"]
        assert s.run("mine").config["optimizer"]["lr"] == 1e-3
    # And the command the message names deletes it.
    code, out, err = cli("runs", store, "--delete", "mine")
    assert code == 0 and out.strip() == "deleted run 'mine'"
    code, out, err = cli("runs", store, "--delete", "mine")
    assert code == 2 and "no run 'mine'" in err


def test_resume_continues_the_same_run(tmp_path):
    store = tmp_path / "runs"
    monitor = train_plain(store, "long", steps=8)
    state = monitor.state_dict()
    monitor.close("interrupted")
    model = tiny_model()
    resumed = SpectralMonitor(model, window=4, store=store, run_name="long", resume=True)
    resumed.load_state_dict(state)
    resumed.observe(9)
    resumed.close()
    with open_store(store, read_only=True) as s:
        run = s.run("long")
        assert run.status == "finished" and run.windows()["step"].tolist()[-1] == 9
    with pytest.raises(SpectralEdgeError, match="configured differently in \\['window'\\]"):
        SpectralMonitor(model, window=5, store=store, run_name="long", resume=True)
    with pytest.raises(SpectralEdgeError, match="pass one of them"):
        SpectralMonitor(model, store=store, run_name="long", resume=True, overwrite=True)


def test_prune_deletes_the_runs_that_never_got_a_window(tmp_path):
    store = tmp_path / "runs"
    train_plain(store, "kept").close()
    SpectralMonitor(tiny_model(), window=4, store=store, run_name="empty-1").close()
    SpectralMonitor(tiny_model(), window=4, store=store, run_name="empty-2").close()
    live = SpectralMonitor(tiny_model(), window=4, store=store, run_name="starting")
    with open_store(store) as s:
        s.create_run("predictions", config={"predictions": [{"id": "C1"}]}).finish()
    code, out, _ = cli("runs", store, "--prune", "--dry-run")
    assert out.splitlines() == ["would delete run 'empty-1'", "would delete run 'empty-2'"]
    code, out, _ = cli("runs", store, "--prune")
    assert code == 0 and out.splitlines() == ["deleted run 'empty-1'", "deleted run 'empty-2'"]
    with open_store(store, read_only=True) as s:
        assert s.runs()["name"].tolist() == ["kept", "starting", "predictions"]
    live.close()
    code, out, _ = cli("runs", store, "--prune")
    assert out.splitlines() == ["deleted run 'starting'"]
