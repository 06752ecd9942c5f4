"""The engine that evaluates a prediction written as data, under two readings.

A prediction (:class:`Prediction`) is one declarative entry: its id, statement and the paper's
figure; the runs it needs (:class:`Select`, a filter over the tags the plan recorded); one
``measure`` (the selected runs → a dict of measured values); and two rules over that dict:

- the **paper's reading** (:attr:`Prediction.paper`): the author's quantity, threshold and
  scoring, as established from the thesis and the author's own scripts
  (docs/reproduction.md, "Rules"); where the author's code is silent, the thesis text;
- the **strict reading** (:attr:`Prediction.strict`): what a skeptic would require, with a null
  or an interval wherever the claim is statistical.

A :class:`Rule` is its printed text and a ``judge`` that turns the measured dict into a
:class:`Judgement` (holds or not, the measured figures in words, the null). The engine
(:func:`evaluate`) selects the runs, measures once, judges twice and returns a :class:`Record`
per prediction, with a verdict per reading: ``confirmed``, ``not confirmed`` or ``not run``
(with what it needs). A measurement or rule that cannot be made raises :class:`NotRun`.

Runs are read from a store (:meth:`Runs.from_store`): only finished runs of the suite, and of
those only ``role: score`` runs are ever selected (seed 0 is the tuning seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from spectral_edge.errors import SpectralEdgeError

CONFIRMED, NOT_CONFIRMED, NOT_RUN = "confirmed", "not confirmed", "not run"
VERDICTS = (CONFIRMED, NOT_CONFIRMED, NOT_RUN)


class NotRun(Exception):
    """A measurement or rule that cannot be made on the runs at hand (the reason is the text)."""


# --- runs -------------------------------------------------------------------------------------


@dataclass
class RunView:
    """One finished run, read lazily: name, config (train + reproduce tags), tables, files.

    ``root`` is the directory that holds the store, so that files written beside it (weights
    under ``weights/<run>/``, probe outputs under ``probes/<run>/``) can be read.
    """

    name: str
    config: dict
    _run: object = None
    root: Path | None = None
    _cache: dict = field(default_factory=dict)

    @property
    def tags(self) -> dict:
        return self.config.get("reproduce", {}).get("tags", {})

    @property
    def probes(self) -> dict:
        return self.config.get("reproduce", {}).get("probes", {})

    @property
    def train(self) -> dict:
        return self.config.get("train", {})

    @property
    def window(self) -> int:
        return int(self.train.get("monitor_window", 10))

    @property
    def every(self) -> int:
        return int(self.train.get("monitor_every", 1))

    def _get(self, what: str) -> pd.DataFrame:
        if what not in self._cache:
            self._cache[what] = getattr(self._run, what)()
        return self._cache[what]

    def windows(self) -> pd.DataFrame:
        return self._get("windows")

    def full_windows(self) -> pd.DataFrame:
        """Windows holding W updates (the author's scripts read no partial window)."""
        w = self.windows()
        return w[w["w"] >= self.window] if "w" in w.columns else w

    def metrics(self) -> pd.DataFrame:
        return self._get("metrics")

    def events(self) -> pd.DataFrame:
        return self._get("events")

    def probe_events(self, name: str) -> list[dict]:
        """Every ``probe:<name>`` result in step order; raises NotRun with the probe's error."""
        ev = self.events()
        if len(ev):
            hit = ev[ev["kind"] == f"probe:{name}"]
            if len(hit):
                return [
                    dict(e, step=int(s)) for s, e in zip(hit["step"], hit["evidence"], strict=True)
                ]
            err = ev[(ev["kind"] == "probe_error") & ev["message"].str.startswith(name)]
            if len(err):
                raise NotRun(f"probe {name} failed on {self.name}: {err['message'].iloc[-1]}")
        raise NotRun(f"run {self.name} has no {name} probe result")

    def probe(self, name: str) -> dict:
        """The last ``probe:<name>`` result (the end of the run)."""
        return self.probe_events(name)[-1]

    def files(self, kind: str, pattern: str = "*") -> list[Path]:
        """Files under ``<root>/<kind>/<run name>/`` (``weights``, ``probes``), sorted."""
        if self.root is None:
            return []
        return sorted((self.root / kind / self.name).glob(pattern))


class Runs:
    """The finished runs of one suite (from a store, or given directly in tests)."""

    def __init__(self, views: list[RunView], planned: dict | None = None, suite: str = ""):
        self.views = views
        self.planned = planned or {}  # name -> tags of every planned run, finished or not
        self.suite = suite

    @classmethod
    def from_store(cls, store, suite: str, planned: dict | None = None) -> Runs:
        frame = store.runs()
        root = Path(store.path).parent
        views = []
        for name, status in zip(frame["name"], frame["status"], strict=True):
            if status != "finished":
                continue
            run = store.run(name)
            cfg = run.config
            if "reproduce" in cfg and cfg.get("suite") == suite:
                views.append(RunView(name, cfg, run, root))
        return cls(views, planned, suite)

    def pick(self, pid: str, select: Select) -> list[RunView]:
        """Scoring runs listed for ``pid`` (or ``select.also``) that ``select`` keeps; NotRun
        naming the planned-but-unfinished ones when there are none."""
        ids = {pid, *select.also}
        out = [
            v
            for v in self.views
            if ids & set(v.tags.get("for", ()))
            and v.tags.get("role") == "score"
            and select.keep(v.tags)
        ]
        if out:
            return out
        missing = [
            n
            for n, t in self.planned.items()
            if ids & set(t.get("for", ())) and t.get("role") == "score" and select.keep(t)
        ]
        if missing:
            more = "…" if len(missing) > 4 else ""
            raise NotRun(
                f"no finished {select.what} (planned, not finished: {', '.join(missing[:4])}{more})"
            )
        suite = f" in the {self.suite!r} suite" if self.suite else ""
        raise NotRun(f"no {select.what}: none is planned{suite}")


def _everything(tags: dict) -> bool:
    return True


@dataclass(frozen=True)
class Select:
    """Which runs a prediction reads: those whose ``for`` tag lists its id (or one of ``also``)
    and whose tags ``keep`` accepts; ``what`` names them in a "not run" reason."""

    what: str
    keep: Callable[[dict], bool] = _everything
    also: tuple[str, ...] = ()


# --- rules and records --------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """A rule applied to the measured values: holds (None: cannot be judged), the figures."""

    holds: bool | None
    measured: str
    null: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Rule:
    text: str
    judge: Callable[[dict], Judgement]


@dataclass(frozen=True)
class Prediction:
    id: str
    statement: str
    figure: str  # the paper's figure
    select: Select
    measure: Callable[[list[RunView]], dict]
    paper: Rule
    strict: Rule
    source: str  # where the paper's reading comes from (the author's script, or the thesis)


@dataclass
class Reading:
    rule: str
    verdict: str = NOT_RUN
    measured: str = ""
    null: str = ""
    reason: str = ""


@dataclass
class Record:
    """The result of one prediction: both readings, the runs used and those reported apart."""

    id: str
    statement: str
    figure: str
    paper: Reading
    strict: Reading
    source: str = ""
    runs: list = field(default_factory=list)
    apart: list = field(default_factory=list)  # (run or family, why) reported, not scored
    scale: str = "scaled-down"

    def to_dict(self) -> dict:
        """Flat, JSON-friendly: ``paper_*`` and ``strict_*`` columns for each reading."""
        out = {"id": self.id, "statement": self.statement, "figure": self.figure}
        for name in ("paper", "strict"):
            out.update({f"{name}_{k}": v for k, v in asdict(getattr(self, name)).items()})
        out.update(source=self.source, runs=list(self.runs), apart=list(self.apart))
        out["scale"] = self.scale
        return out


def _judge(rule: Rule, measured: dict) -> Reading:
    reading = Reading(rule.text)
    try:
        j = rule.judge(measured)
    except NotRun as exc:
        reading.reason = str(exc)
        return reading
    reading.measured, reading.null = j.measured, j.null
    if j.holds is None:
        reading.reason = j.reason or "cannot be judged on these runs"
        return reading
    reading.verdict = CONFIRMED if j.holds else NOT_CONFIRMED
    reading.reason = j.reason
    return reading


def evaluate_one(p: Prediction, runs: Runs) -> Record:
    """Select, measure once, judge under both readings; never raises for a missing run."""
    rec = Record(p.id, p.statement, p.figure, Reading(p.paper.text), Reading(p.strict.text))
    rec.source = p.source
    try:
        views = runs.pick(p.id, p.select)
        measured = p.measure(views)
    except NotRun as exc:
        rec.paper.reason = rec.strict.reason = str(exc)
        return rec
    except ImportError as exc:
        rec.paper.reason = rec.strict.reason = f"analysis not available: {exc}"
        return rec
    except (SpectralEdgeError, KeyError, ValueError, IndexError) as exc:
        why = f"could not evaluate: {type(exc).__name__}: {exc}"
        rec.paper.reason = rec.strict.reason = why
        return rec
    rec.runs = list(measured.get("runs", [v.name for v in views]))
    rec.apart = [list(a) for a in measured.get("apart", [])]
    rec.paper, rec.strict = _judge(p.paper, measured), _judge(p.strict, measured)
    return rec


def evaluate(predictions, runs: Runs, only=None, suite: str | None = None) -> list[Record]:
    """Every prediction (or those in ``only``), in order, with the scale note."""
    suite = suite if suite is not None else runs.suite
    out = []
    for p in predictions:
        if only and p.id not in only:
            continue
        rec = evaluate_one(p, runs)
        rec.scale = scale_note([v for v in runs.views if v.name in set(rec.runs)])
        out.append(rec)
    return out


def scale_note(used: list[RunView]) -> str:
    """``paper configuration`` when every run used is at the paper's configuration (the lab
    preset says ``scaled_down: false``), ``scaled-down`` when none is, else how many are."""
    paper = sum(not v.train.get("scaled_down", True) for v in used)
    if used and paper == len(used):
        return "paper configuration"
    if paper == 0:
        return "scaled-down"
    return f"mixed: {paper} of {len(used)} runs at the paper's configuration"


def counts(records: list[Record]) -> dict[str, dict[str, int]]:
    """Verdict counts per reading: ``{"paper": {verdict: n}, "strict": {...}}``."""
    return {
        name: {v: sum(getattr(r, name).verdict == v for r in records) for v in VERDICTS}
        for name in ("paper", "strict")
    }


__all__ = [
    "CONFIRMED",
    "NOT_CONFIRMED",
    "NOT_RUN",
    "Judgement",
    "NotRun",
    "Prediction",
    "Reading",
    "Record",
    "Rule",
    "RunView",
    "Runs",
    "Select",
    "counts",
    "evaluate",
    "scale_note",
    "evaluate_one",
]
