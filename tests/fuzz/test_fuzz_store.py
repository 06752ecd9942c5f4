"""Fuzz the run store: whatever is logged reads back equal (NaN as NaN), exports agree with the
readers, and bad input is a SpectralEdgeError that writes nothing."""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _profile import fuzz
from hypothesis import given
from hypothesis import strategies as st

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.store import open_store

# Names: any text SQLite can hold (no lone surrogates), quotes and SQL, very long, digits that
# are not ASCII (² is a digit to str.isdigit but not to \d).
names = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30),
    st.sampled_from(
        [
            "sigma_1",
            "x'); DROP TABLE windows; --",
            '"quoted"',
            "a,b\nc",
            "r_1²",
            "²",
            "٣",
            "x" * 5000,
            " ",
            "NaN",
            "null",
            "1",
            "step ",
            "ratio_10",
            "ratio_9",
        ]
    ),
).filter(lambda n: n != "step")

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, np.nan, np.inf, -np.inf, None]),
    st.integers(-(2**53), 2**53),
    st.booleans(),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(np.float16, st.floats(width=16)),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.uint8, st.integers(0, 255)),
    st.builds(np.bool_, st.booleans()),
)


def as_float(v) -> float:
    return math.nan if v is None else float(v)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


steps = st.integers(-(2**63), 2**63 - 1)


@st.composite
def window_logs(draw):
    """{step: {name: value}}, several steps with partly different names."""
    pool = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    out = {}
    for step in draw(st.lists(steps, min_size=1, max_size=4, unique=True)):
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
        out[step] = {n: draw(values) for n in chosen}
    return out


def check_wide(frame: pd.DataFrame, logged: dict) -> None:
    assert list(frame["step"]) == sorted(logged)
    columns = [c for c in frame.columns if c != "step"]
    assert sorted(columns) == sorted({n for row in logged.values() for n in row})
    for i, step in enumerate(frame["step"].tolist()):  # iterrows would make steps floats
        want = logged[step]
        for c in columns:
            got = float(frame[c].iloc[i])
            if c in want:
                assert same(got, as_float(want[c])), (c, got, want[c])
            else:
                assert math.isnan(got)


@fuzz(40, campaign=1500)
@given(window_logs(), window_logs(), st.sampled_from(["csv", "parquet"]))
def test_windows_and_metrics_round_trip_and_export(windows, metrics, fmt):
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "s.sqlite") as store:
        run = store.create_run("r", config={})
        for step, feats in windows.items():
            run.log_window(step, feats)
        run.log_metrics(next(iter(metrics)), metrics[next(iter(metrics))])
        for step, m in list(metrics.items())[1:]:
            run.log_metrics(step, m)
        check_wide(run.windows(), windows)
        check_wide(run.metrics(), metrics)
        again = store.run("r")  # a fresh handle reads the same
        check_wide(again.windows(), windows)
        written = run.export(Path(tmp) / f"out.{fmt}")
        for part, logged in (("windows", windows), ("metrics", metrics)):
            if fmt == "csv":
                back = pd.read_csv(written[part])
            else:
                back = pd.read_parquet(written[part])
            back.columns = [str(c) for c in back.columns]
            check_wide(back, logged)


evidence_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),  # lone surrogates too: JSON escapes them
    st.builds(np.float64, st.floats()),
    st.builds(np.int32, st.integers(-(2**31), 2**31 - 1)),
    st.builds(lambda xs: np.array(xs), st.lists(st.floats(-1e6, 1e6), max_size=4)),
)
evidence = st.recursive(
    evidence_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
    ),
    max_leaves=15,
)


def plain(obj):
    """The JSON-side value the store must give back for ``obj``."""
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def equal_json(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return same(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@fuzz(40, campaign=1500)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**6), 10**6),
            st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12),
            st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
            st.dictionaries(st.text(max_size=10), evidence, max_size=4),
        ),
        min_size=1,
        max_size=5,
    ),
    names.filter(lambda n: n.strip() != ""),
)
def test_events_and_run_info_round_trip_and_export(events, run_name):
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp)) as store:
        config = {"nested": events[0][3], "name": run_name}
        run = store.create_run(run_name, config=config, seeds={"s": np.int64(3)})
        for step, kind, message, ev in events:
            run.log_event(step, kind, message, ev)
        got = run.events()
        order = sorted(range(len(events)), key=lambda i: events[i][0])  # by step, then insertion
        assert list(got["step"]) == [events[i][0] for i in order]
        assert list(got["kind"]) == [events[i][1] for i in order]
        assert list(got["message"]) == [events[i][2] for i in order]
        for i, ev in zip(order, got["evidence"], strict=True):
            assert equal_json(ev, plain(events[i][3]))
        info = store.run(run_name).info
        assert info["name"] == run_name and equal_json(info["config"], plain(config))
        assert info["seeds"] == {"s": 3}
        if len(run_name) > 200:  # the export directory takes the run's name in its file names
            with pytest.raises(SpectralEdgeError, match="too long"):
                run.export(Path(tmp) / "exp", format="csv")
            return
        written = run.export(Path(tmp) / "exp", format="csv")
        back = pd.read_csv(
            written["events"], keep_default_na=False, dtype={"kind": str, "message": str}
        )
        assert list(back["kind"]) == [events[i][1] for i in order]
        assert list(back["message"]) == [events[i][2] for i in order]
        for i, text in zip(order, back["evidence"], strict=True):
            assert equal_json(json.loads(text), plain(events[i][3]))
        assert json.loads(written["run"].read_text(encoding="utf-8"))["name"] == run_name


bad_values = st.one_of(
    st.sampled_from(["1.0", b"1", 1j, np.complex128(1 + 2j), [1.0], {"a": 1}, object(), 10**400]),
    st.builds(lambda n: 10**n, st.integers(309, 400)),
)
bad_names = st.one_of(
    st.sampled_from(["", "step", None, 1, b"x", ("a",), "\ud800", "a\udfffb"]),
)


@fuzz(40, campaign=1000)
@given(
    st.one_of(
        st.tuples(st.just("value"), bad_values),
        st.tuples(st.just("name"), bad_names),
        st.tuples(st.just("step"), st.sampled_from([2**63, -(2**63) - 1, 10**30, 1.5, "3", True])),
    ),
    st.sampled_from(["log_window", "log_metrics", "log_windows"]),
)
def test_bad_rows_raise_our_error_and_write_nothing(bad, method):
    what, item = bad
    name, value, step = "ok", 1.0, 5
    if what == "value":
        value = item
    elif what == "name":
        name = item
    else:
        step = item
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp)) as store:
        run = store.create_run("r", config={})
        row = {name: value, "good": 2.0}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. numpy's ComplexWarning is not an answer
            with pytest.raises(SpectralEdgeError) as info:
                if method == "log_windows":
                    run.log_windows([(0, {"fine": 1.0}), (step, row)])
                else:
                    getattr(run, method)(step, row)
        assert type(info.value) is SpectralEdgeError and str(info.value)
        assert len(run.windows().columns) == 1 and len(run.metrics().columns) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda s, r: r.log_event(1, "\ud800"),
        lambda s, r: r.log_event(1, "k", "bad \udc00 message"),
        lambda s, r: r.log_event(2**63, "k"),
        lambda s, r: r.log_event(1, "k", "", {1: "a", "1": "b"}),
        lambda s, r: r.set_status("\ud800"),
        lambda s, r: s.create_run("\ud800", config={}),
        lambda s, r: s.create_run("x", config={"k": 1j}),
        lambda s, r: s.run("\ud800"),
    ],
)
def test_bad_text_and_keys_raise_our_error(tmp_path, call):
    """Regression: lone surrogates in names/kinds/messages escaped as UnicodeEncodeError from
    sqlite3, steps beyond int64 as OverflowError, and keys 1 and "1" silently merged."""
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        with pytest.raises(SpectralEdgeError) as info:
            call(store, run)
        assert type(info.value) is SpectralEdgeError
        assert len(run.events()) == 0


def test_values_regressions(tmp_path):
    """Regression: 10**400 raised OverflowError, a numpy complex was stored as its real part
    (with only a ComplexWarning), a step of 2**63 raised OverflowError from sqlite3."""
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        for bad in (10**400, np.complex128(1 + 2j), np.complex64(1)):
            with pytest.raises(SpectralEdgeError, match="number"):
                run.log_metrics(1, {"x": bad})
        with pytest.raises(SpectralEdgeError, match="step"):
            run.log_metrics(2**63, {"x": 1.0})
        run.log_metrics(2**63 - 1, {"x": np.float16(0.5)})
        assert run.metrics().to_dict("list") == {"step": [2**63 - 1], "x": [0.5]}


def test_non_ascii_digit_names_read_back_regression(tmp_path):
    """Regression: a feature named 'r_1²' (or '²') made windows() raise ValueError: the natural
    sort key called int('²') because str.isdigit is true for superscripts."""
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        run.log_window(1, {"r_1²": 1.0, "²": 2.0, "x٣": 3.0, "sigma_10": 4.0, "sigma_2": 5.0})
        frame = run.windows()
        assert list(frame.columns) == ["step", "r_1²", "sigma_2", "sigma_10", "x٣", "²"]
        assert frame.iloc[0].tolist() == [1, 1.0, 5.0, 4.0, 3.0, 2.0]


def test_self_referencing_evidence_regression(tmp_path):
    """Regression: a dict that contains itself (or nesting deeper than the recursion limit)
    raised RecursionError."""
    loop: dict = {}
    loop["self"] = loop
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        for ev in (loop, {"deep": deep}):
            with pytest.raises(SpectralEdgeError, match="nest"):
                run.log_event(1, "k", "", ev)


def test_csv_export_quotes_names_with_a_carriage_return_regression(tmp_path):
    """Regression: a feature named 'a\\rb' was written unquoted; read_csv took the '\\r' for a
    line break and every column after it shifted ('Unnamed: 1', or a ParserError)."""
    with open_store(tmp_path) as store:
        run = store.create_run("r", config={})
        run.log_window(3, {"a\rb": 1.5, "c": 2.0})
        run.log_event(3, "k", "line\rbreak", {"x\r": "y\r"})
        written = run.export(tmp_path / "out.csv")
        back = pd.read_csv(written["windows"])
        assert list(back.columns) == ["step", "a\rb", "c"]
        assert back.iloc[0].tolist() == [3, 1.5, 2.0]
        events = pd.read_csv(written["events"])
        assert events["message"].tolist() == ["line\rbreak"]
        assert json.loads(events["evidence"][0]) == {"x\r": "y\r"}
