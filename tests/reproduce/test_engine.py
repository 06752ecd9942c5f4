"""The engine that evaluates a prediction written as data: selection, not-run reasons, verdicts."""

import pytest

from spectral_edge.reproduce.engine import (
    CONFIRMED,
    NOT_CONFIRMED,
    NOT_RUN,
    Judgement,
    NotRun,
    Prediction,
    Rule,
    Runs,
    RunView,
    Select,
    counts,
    evaluate,
    evaluate_one,
    scale_note,
)


def view(name, role="score", scaled=True, **tags):
    cfg = {"train": {"scaled_down": scaled}, "reproduce": {"tags": {"role": role, **tags}}}
    return RunView(name, cfg)


def entry(measure, paper=None, strict=None, select=None, pid="X1"):
    def ok(m):
        return Judgement(True, "fine")

    return Prediction(
        pid,
        "a statement",
        "a figure",
        select or Select("run"),
        measure,
        Rule("paper rule", paper or ok),
        Rule("strict rule", strict or ok),
        "a script",
    )


def names(views):
    return sorted(v.name for v in views)


def test_selection_by_id_role_tags_and_also():
    runs = Runs(
        [
            view("a", **{"for": ["X1"], "wd": True}),
            view("b", **{"for": ["X1"], "wd": False}),
            view("tune", role="tune", **{"for": ["X1"], "wd": True}),
            view("lm", **{"for": ["X2"], "family": "lm"}),
            view("other", **{"for": ["X3"]}),
        ]
    )
    assert names(runs.pick("X1", Select("run"))) == ["a", "b"]  # the tuning seed never
    assert names(runs.pick("X1", Select("wd", lambda t: t.get("wd", True)))) == ["a"]
    also = Select("any", lambda t: t.get("wd", True), also=("X2",))
    assert names(runs.pick("X1", also)) == ["a", "lm"]


def test_not_run_names_the_planned_runs_that_did_not_finish():
    planned = {
        "p1": {"for": ["X1"], "role": "score"},
        "p2": {"for": ["X1"], "role": "tune"},
    }
    with pytest.raises(NotRun, match=r"planned, not finished: p1\)$"):
        Runs([], planned, "cpu").pick("X1", Select("run"))
    with pytest.raises(NotRun, match="none is planned in the 'cpu' suite"):
        Runs([], {}, "cpu").pick("X1", Select("run"))


def test_both_readings_are_judged_on_one_measurement():
    calls = []

    def measure(views):
        calls.append(len(views))
        return {"value": 3, "apart": [("f", "never grokked")]}

    rec = evaluate_one(
        entry(
            measure,
            paper=lambda m: Judgement(m["value"] > 2, "3 > 2", null="n1"),
            strict=lambda m: Judgement(m["value"] > 5, "3 > 5", reason="too small"),
        ),
        Runs([view("a", **{"for": ["X1"]})]),
    )
    assert calls == [1]
    assert (rec.paper.verdict, rec.strict.verdict) == (CONFIRMED, NOT_CONFIRMED)
    assert rec.paper.null == "n1" and rec.strict.reason == "too small"
    assert rec.runs == ["a"] and rec.apart == [["f", "never grokked"]]
    assert (rec.paper.rule, rec.strict.rule, rec.source) == (
        "paper rule",
        "strict rule",
        "a script",
    )


def test_a_measurement_that_cannot_be_made_leaves_both_readings_not_run():
    def measure(views):
        raise NotRun("no full window")

    rec = evaluate_one(entry(measure), Runs([view("a", **{"for": ["X1"]})]))
    assert rec.paper.verdict == rec.strict.verdict == NOT_RUN
    assert rec.paper.reason == rec.strict.reason == "no full window"


def test_a_rule_that_cannot_judge_leaves_only_its_reading_not_run():
    def strict(m):
        raise NotRun("needs 4 runs for an interval")

    rec = evaluate_one(
        entry(lambda v: {}, strict=strict, paper=lambda m: Judgement(None, "", reason="why")),
        Runs([view("a", **{"for": ["X1"]})]),
    )
    assert rec.paper.verdict == NOT_RUN and rec.paper.reason == "why"
    assert rec.strict.verdict == NOT_RUN and "interval" in rec.strict.reason


def test_errors_in_a_measure_become_not_run_not_a_crash():
    def measure(views):
        raise KeyError("sigma_10")

    rec = evaluate_one(entry(measure), Runs([view("a", **{"for": ["X1"]})]))
    assert rec.paper.verdict == NOT_RUN and "KeyError" in rec.paper.reason


def test_evaluate_keeps_order_only_and_the_scale_note():
    runs = Runs([view("a", scaled=False, **{"for": ["X1", "X2"]})])
    preds = [entry(lambda v: {}, pid="X1"), entry(lambda v: {}, pid="X2")]
    recs = evaluate(preds, runs)
    assert [r.id for r in recs] == ["X1", "X2"]
    assert all(r.scale == "paper configuration" for r in recs)
    assert [r.id for r in evaluate(preds, runs, only={"X2"})] == ["X2"]
    assert counts(recs)["paper"] == {CONFIRMED: 2, NOT_CONFIRMED: 0, NOT_RUN: 0}


def test_scale_note():
    paper, small = view("a", scaled=False), view("b")
    assert scale_note([paper]) == "paper configuration"
    assert scale_note([small]) == scale_note([]) == "scaled-down"
    assert scale_note([paper, small]) == "mixed: 1 of 2 runs at the paper's configuration"
