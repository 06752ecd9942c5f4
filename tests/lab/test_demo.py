"""The demo end to end, quick: both runs in the store and a self-contained HTML report."""

from spectral_edge.lab.demo import demo_configs, run_demo
from spectral_edge.store import open_store


def test_demo_configs_differ_only_in_weight_decay():
    wd, ctl = demo_configs()
    a, b = wd.to_dict(), ctl.to_dict()
    assert {k for k in a if a[k] != b[k]} == {"weight_decay"}
    assert wd.weight_decay == 1.0 and ctl.weight_decay == 0.0


def test_quick_demo_end_to_end(tmp_path, capsys):
    summary = run_demo(out=str(tmp_path / "demo"), quick=True, seed=0)
    out = capsys.readouterr().out
    assert "== summary ==" in out and "report:" in out and "weight decay 0 (control)" in out
    with open_store(tmp_path / "demo", read_only=True) as store:
        runs = store.runs()
        assert len(runs) == 2 and set(runs["status"]) == {"finished"}
        assert (runs["n_windows"] > 10).all()
        assert runs["last_step"].nunique() == 1  # identical cadence, same length
    html = (tmp_path / "demo" / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') >= 3  # comparison + each run's
    assert "http://" not in html and "https://" not in html
    assert summary["control"]["grok_step"] is None
    assert summary["wd"]["grok_step"] is not None  # the narrowed MLP groks in ~450 steps
    # both warnings are reported against the grokking step, for both runs
    assert "early warning (g23_share falls 10x from its baseline)" in out
    assert "free signal, for comparison (weight norm falls 10%)" in out
    with open_store(tmp_path / "demo", read_only=True) as store:
        for key in ("wd", "control"):
            ev = store.run(summary[key]["label"]).events()
            fired = ev[ev["kind"] == "warning"]["step"].tolist() if len(ev) else []
            assert fired[:1] == (
                [] if summary[key]["warning_step"] is None else [summary[key]["warning_step"]]
            )
    assert "weight-norm rule step" in html
