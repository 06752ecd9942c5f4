"""Self-contained HTML reports: a run's (or a store's) numbers, configuration and figures.

Nothing is loaded from the network: figures are PNGs inlined as ``data:image/png;base64`` URIs,
the style sheet and the one small script are inline, so the file can be mailed or opened offline.
The script only checks the page: once every figure has loaded it sets
``data-figures="loaded"`` (and ``data-images-loaded``/``data-images-total``) on ``<body>``, and
it counts script or image errors in ``data-js-errors`` on ``<html>``, so a headless browser can
verify a report (see ``tests/report``).

- :func:`write_report` (``spectral-edge report``): one run, or every run of a store, with a
  summary table, the figures of :mod:`spectral_edge.report.plots`, configuration, definitions,
  seeds and versions, and the reproduction table of the predictions when the store has one
  (:func:`find_predictions`).
- :func:`write_compare_report` (``spectral-edge compare --out``): runs side by side.
- :func:`write_html_report`: the building block, sections of figures, tables and paragraphs.

A run still being written (status ``running``) or without windows yet gives a *partial* report
that says so at the top; an empty store is an error with a clear message.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spectral_edge._version import __version__
from spectral_edge.errors import SpectralEdgeError

log = logging.getLogger(__name__)

__all__ = [
    "Raw",
    "figure_to_data_uri",
    "find_predictions",
    "html_table",
    "render_report",
    "write_compare_report",
    "write_html_report",
    "write_report",
]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1040px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } img { max-width: 100%; display: block; margin: 0.6em 0; }
.note { color: #666; font-size: 0.9em; }
.partial { background: #fff4d6; border: 1px solid #e0b84c; padding: 0.6em 1em; margin: 1em 0; }
.badge { font-size: 0.75em; padding: 0.1em 0.5em; border-radius: 0.6em; background: #eee;
         vertical-align: middle; }
.badge.running { background: #ffe08a; } .badge.finished { background: #cdeccd; }
.badge.failed, .badge.interrupted { background: #f4c2c2; }
.verdict-confirmed { background: #dff3df; } .verdict-not-confirmed { background: #f9dcdc; }
.verdict-not-run { background: #f0f0f0; }
.strict_verdict-confirmed { background: #dff3df; }
.strict_verdict-not-confirmed { background: #f9dcdc; }
.strict_verdict-not-run { background: #f0f0f0; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #245; }
.figs { display: grid; grid-template-columns: 1fr; gap: 0.2em; }
ul.diff li { margin: 0.2em 0; }
.row { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
"""

# Sets data-* attributes a headless browser can read back from the DOM (no network, no output).
_CHECK_SCRIPT = """
(function () {
  var errors = 0;
  function mark() { document.documentElement.setAttribute("data-js-errors", String(errors)); }
  mark();
  window.addEventListener("error", function () { errors += 1; mark(); }, true);
  window.addEventListener("load", function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok += 1; }
    }
    document.body.setAttribute("data-images-total", String(imgs.length));
    document.body.setAttribute("data-images-loaded", String(ok));
    document.body.setAttribute("data-figures", ok === imgs.length ? "loaded" : "incomplete");
  });
})();
"""


class Raw(str):
    """A string part that is HTML already (inserted as is, not escaped)."""


def figure_to_data_uri(fig, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(
        buf, format="png", dpi=dpi, **({} if fig.get_layout_engine() else {"bbox_inches": "tight"})
    )
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(value) -> str:
    from spectral_edge.report.summary import fmt

    if value is None:
        return "&ndash;"
    if isinstance(value, (list, tuple)) and len(value) > 3:
        head = ", ".join(str(v) for v in value[:3])
        return html.escape(f"{len(value)}: {head}, …")
    if isinstance(value, (dict, list, tuple)):
        return html.escape(json.dumps(value, default=str))
    return html.escape(fmt(value))


def html_table(
    rows: Sequence[Mapping], columns: Sequence[str] | None = None, row_class: str | None = None
) -> str:
    """An HTML table of dict rows (columns: the union of the rows' keys in order, unless
    given). ``row_class`` names a column whose value, slugged, becomes the row's CSS class."""
    if rows is None or len(rows) == 0:
        return "<p class='note'>(no rows)</p>"
    if columns is None:
        cols: list = []
        for r in rows:
            cols += [k for k in r.keys() if k not in cols]
    else:
        cols = list(columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ""
        if row_class is not None and r.get(row_class) is not None:
            slug = "-".join(str(r.get(row_class)).lower().split())
            cls = f" class='{html.escape(row_class)}-{html.escape(slug)}'"
        body.append(f"<tr{cls}>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in cols) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return "<p class='note'>(none recorded)</p>"
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in mapping.items()
    )
    return f"<table><tbody>{rows}</tbody></table>"


def _part(part, alt: str) -> str:
    import pandas as pd

    if isinstance(part, Raw):
        return str(part)
    if hasattr(part, "savefig"):
        return f'<img src="{figure_to_data_uri(part)}" alt="{html.escape(alt)}">'
    if isinstance(part, str):
        return f"<p>{html.escape(part)}</p>"
    if isinstance(part, pd.DataFrame):
        return html_table(part.to_dict("records"), list(part.columns))
    return html_table(list(part))


def _page(title: str, body: Iterable[str]) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
            f"<script>{_CHECK_SCRIPT}</script></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            *body,
            f"<p class='note'>spectral-edge {html.escape(__version__)}, written {stamp}. "
            "Self-contained: figures are embedded, nothing is loaded from the network.</p>",
            "</body></html>",
        ]
    )


def _write(path, text: str) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpectralEdgeError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return path


def write_html_report(
    path: str | os.PathLike,
    title: str,
    sections: Iterable[tuple[str, Iterable]],
) -> Path:
    """Write a report. ``sections``: (heading, parts); a part is a matplotlib figure, a list of
    dict rows or a DataFrame (a table), a string (a paragraph, escaped) or :class:`Raw` HTML.
    Returns the path written."""
    body = []
    for heading, parts in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        body.extend(_part(p, heading) for p in parts)
    return _write(path, _page(title, body))


# -- run reports --------------------------------------------------------------------------------


def _load_sources(source, run=None):
    """(list of RunData, store path or None) from a store path/object, a Run, or a list."""
    from spectral_edge.report.plots import RunData, load_run_data
    from spectral_edge.store import RunStore, open_store

    if isinstance(source, (RunData,)) or hasattr(source, "windows") and hasattr(source, "info"):
        return [load_run_data(source)], getattr(getattr(source, "store", None), "path", None)
    if isinstance(source, (list, tuple)):
        return [load_run_data(s) for s in source], None
    if isinstance(source, RunStore):
        return _store_runs(source, run), source.path
    path = Path(source)
    if not path.exists():
        raise SpectralEdgeError(f"no run store at {path}: pass a store file or directory")
    if path.is_dir() and not (path / "spectral_edge.sqlite").exists():
        raise SpectralEdgeError(f"{path} holds no spectral-edge store (no spectral_edge.sqlite)")
    with open_store(path, read_only=True) as store:
        return _store_runs(store, run), store.path


def _store_runs(store, run=None):
    from spectral_edge.report.plots import load_run_data

    if run is not None:
        runs = [load_run_data(store.run(_run_key(run)))]
        names = set(store.runs()["name"])
        if run != "predictions" and "predictions" in names:
            runs.append(load_run_data(store.run("predictions")))  # its table, not a section
        return runs
    table = store.runs()
    if table.empty:
        raise SpectralEdgeError(f"no runs in {store.path}: nothing to report yet")
    return [load_run_data(store.run(int(i))) for i in table["id"]]


def _run_key(run):
    return run  # a name (the command line gives str; the API may pass an int id)


def find_predictions(runs) -> tuple[Any, str] | None:
    """The newest reproduction table stored among ``runs``: ``(DataFrame, run name)`` or None.

    The hook: a run whose ``config["predictions"]`` holds the table, as a list of row dicts
    (e.g. ``{"id": "C1", "prediction": ..., "measured": ..., "paper": ..., "verdict": ...,
    "reason": ..., "runs": ..., "scale": ...}``) or a dict of columns. ``spectral-edge
    reproduce`` (or anything else) stores it with
    ``store.create_run("reproduce-quick", config={"predictions": rows})``.
    """
    import pandas as pd

    found = None
    for data in runs:
        table = data.config.get("predictions") if isinstance(data.config, Mapping) else None
        if table is None:
            continue
        try:
            frame = pd.DataFrame(table)
        except (ValueError, TypeError):
            continue
        if frame.empty:
            continue
        if found is None or data.name == "predictions" or found[1] != "predictions":
            found = (frame, data.name)
    return found


def _is_table_run(data) -> bool:
    return data.windows.empty and "predictions" in data.config


# The two-reading table of ``spectral-edge reproduce`` (one row a prediction): the columns shown,
# rows coloured by the strict verdict. An older one-verdict table is shown as stored.
_READING_COLUMNS = (
    "id",
    "statement",
    "figure",
    "paper_verdict",
    "paper_measured",
    "strict_verdict",
    "strict_measured",
    "strict_null",
    "scale",
)


def _predictions_section(predictions, source_name: str | None) -> list[str]:
    import pandas as pd

    frame = predictions if isinstance(predictions, pd.DataFrame) else pd.DataFrame(predictions)
    out = ["<h2 id='predictions'>Reproduction of the predictions</h2>"]
    if source_name:
        out.append(f"<p class='note'>Stored with run {html.escape(source_name)}.</p>")
    two = "strict_verdict" in frame.columns
    labels = {"paper_verdict": "paper's reading", "strict_verdict": "strict reading"}
    for column, label in labels.items() if two else [("verdict", "verdicts")]:
        if column in frame.columns:
            counts = frame[column].astype(str).value_counts()
            out.append(
                "<p>"
                + html.escape(f"{label}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
                + "</p>"
            )
    rows = frame.to_dict("records")
    columns = [c for c in _READING_COLUMNS if c in frame.columns] if two else list(frame.columns)
    row_class = "strict_verdict" if two else ("verdict" if "verdict" in frame.columns else None)
    out.append(html_table(rows, columns, row_class=row_class))
    return out


_FIGURES = (
    ("training", "Accuracy and loss"),
    ("gap", "Gap ratio R and k*"),
    ("singular_values", "Singular values"),
    ("g23", "Gap g23"),
    ("adiabatic", "Adiabatic parameter"),
    ("stability", "Stability coefficients"),
)


def _run_figures(data) -> list[tuple[str, Any]]:
    from spectral_edge.report import plots

    out = []
    for key, label in _FIGURES:
        fig, _ = getattr(plots, f"plot_{key}")(data)
        out.append((label, fig))
    return out


def _run_section(data, *, figures: bool = True) -> list[str]:
    from spectral_edge.report.compare import window_grid
    from spectral_edge.report.summary import partial_reasons, run_summary, selection

    status = data.status or "unknown"
    anchor = "run-" + "".join(c if c.isalnum() else "-" for c in data.name)
    out = [
        f"<h2 id='{html.escape(anchor)}'>Run {html.escape(data.name)} "
        f"<span class='badge {html.escape(status)}'>{html.escape(status)}</span></h2>"
    ]
    reasons = partial_reasons(data)
    if reasons:
        out.append(
            "<div class='partial'><strong>Partial report.</strong><ul>"
            + "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
            + "</ul></div>"
        )
    summary = run_summary(data)
    note = summary.pop("phases note", None)
    out.append("<div class='row'><div><h3>Summary</h3>")
    out.append(_kv_table(summary))
    if note:
        out.append(f"<p class='note'>{html.escape(note)}.</p>")
    out.append("</div><div><h3>Selection and windows</h3>")
    out.append(_kv_table({**selection(data.config), **window_grid(data)}))
    out.append("</div></div>")
    if figures:
        out.append("<h3>Figures</h3><div class='figs'>")
        for label, fig in _run_figures(data):
            out.append(f'<img src="{figure_to_data_uri(fig)}" alt="{html.escape(label)}">')
        out.append("</div>")
    out.append(_details_section(data))
    return out


def _details_section(data) -> str:
    from spectral_edge.report.compare import flatten

    info = data.info
    env_keys = (
        "version",
        "created_at",
        "finished_at",
        "python",
        "numpy",
        "pandas",
        "torch",
        "hostname",
        "platform",
    )
    parts = [
        "<details><summary>Configuration</summary>",
        _kv_table({k: v for k, v in flatten(data.config).items() if k != "predictions"}),
        "</details>",
        "<details open><summary>Definitions, seeds and versions</summary>",
        "<h3>Definitions</h3>",
        _kv_table(info.get("definitions", {})),
        "<h3>Seeds</h3>",
        _kv_table(info.get("seeds", {})),
        "<h3>Environment</h3>",
        _kv_table({k: info.get(k) for k in env_keys if k in info}),
        "</details>",
    ]
    events = data.events
    if len(events):
        rows = [
            {"step": int(e.step), "kind": e.kind, "message": e.message} for e in events.itertuples()
        ]
        parts += [
            f"<details><summary>Events ({len(rows)})</summary>",
            html_table(rows[:500]),
            "<p class='note'>(first 500 shown)</p>" if len(rows) > 500 else "",
            "</details>",
        ]
    return "\n".join(parts)


def _comparison_body(runs, quantities=("gap_ratio", "g23", "k_star", "test_acc")) -> list[str]:
    from spectral_edge.report.compare import compare_runs
    from spectral_edge.report.plots import plot_comparison

    result = compare_runs(runs)
    names = result["names"]
    out = ["<h3>What differs</h3><ul class='diff'>"]
    out += [f"<li>{html.escape(d)}</li>" for d in result["differences"]]
    out.append("</ul>")
    summaries = result["summaries"]
    keys = [k for k in summaries[0] if k not in ("run", "phases note")]
    out.append("<div class='row'><div><h3>Summary numbers</h3>")
    out.append(
        html_table([{"": k, **{s["run"]: s.get(k) for s in summaries}} for k in keys], ["", *names])
    )
    out.append("</div><div><h3>Selection and windows</h3>")
    merged = [
        {**s, **{k: v for k, v in w.items() if k != "run"}}
        for s, w in zip(result["selections"], result["windows"], strict=True)
    ]
    sel_keys = [k for k in merged[0] if k != "run"]
    out.append(
        html_table(
            [{"": k, **{m["run"]: m.get(k) for m in merged}} for k in sel_keys], ["", *names]
        )
    )
    out.append("</div></div>")
    if result["config"]:
        out.append(f"<details><summary>Config differences ({len(result['config'])})</summary>")
        out.append(html_table(result["config"], ["key", *names]))
        out.append("</details>")
    out.append("<h3>Curves</h3><div class='figs'>")
    for q in quantities:
        if any(r.column(q) is not None and len(r.column(q)) for r in result["runs"]):
            fig, _ = plot_comparison(result["runs"], q)
            out.append(f'<img src="{figure_to_data_uri(fig)}" alt="{html.escape(q)} compared">')
    out.append("</div>")
    return out


def render_report(
    runs,
    *,
    title: str | None = None,
    predictions=None,
    predictions_source: str | None = None,
    intro: Iterable = (),
    store_path=None,
    max_runs: int = 12,
) -> str:
    """The report page for ``runs`` (RunData) as an HTML string; see :func:`write_report`."""
    import pandas as pd

    if predictions is None:
        found = find_predictions(runs)
        if found is not None:
            predictions, predictions_source = found
    shown = [r for r in runs if not _is_table_run(r)]
    if title is None:
        title = (
            f"spectral-edge report: {shown[0].name}"
            if len(shown) == 1
            else f"spectral-edge report: {len(shown)} runs"
        )
    body = []
    if store_path is not None:
        body.append(f"<p class='note'>Store: {html.escape(str(store_path))}</p>")
    partial = [r.name for r in shown if r.status == "running" or r.windows.empty]
    if partial:
        body.append(
            "<div class='partial'><strong>Partial report:</strong> "
            + html.escape(", ".join(partial))
            + (" is" if len(partial) == 1 else " are")
            + " still being written or has no windows yet; see each run below.</div>"
        )
    body.extend(_part(p, "introduction") for p in intro)
    if len(shown) > 1:
        overview = [
            {
                "run": r.name,
                "status": r.status,
                "windows": len(r.windows),
                "last step": int(r.windows["step"].max()) if len(r.windows) else None,
                "created": r.info.get("created_at"),
                "version": r.info.get("version"),
            }
            for r in shown
        ]
        body.append("<h2>Runs</h2>")
        body.append(html_table(overview))
        with_windows = [r for r in shown if len(r.windows)]
        if len(with_windows) > 1:
            body.append("<h2>Comparison</h2>")
            body.extend(_comparison_body(with_windows[:max_runs]))
    if predictions is not None and len(pd.DataFrame(predictions)):
        body.extend(_predictions_section(predictions, predictions_source))
    for i, data in enumerate(shown):
        if len(shown) > 1:  # figures take a second or two a run: say where it is
            log.info("report: run %d/%d %s", i + 1, len(shown), data.name)
        body.extend(_run_section(data, figures=i < max_runs))
    if len(shown) > max_runs:
        body.append(
            f"<p class='note'>Figures are drawn for the first {max_runs} runs only; "
            "report a single run with --run NAME for the others.</p>"
        )
    if not shown and predictions is None:
        body.append("<p>No runs with windows in this store.</p>")
    return _page(title, body)


def write_report(
    source, out=None, *, run=None, predictions=None, title: str | None = None, intro: Iterable = ()
) -> Path:
    """Write the report of a run or of a whole store; returns the path written.

    Args:
        source: a store file or directory (or an open RunStore), a stored Run, RunData, or a
            list of them.
        out: the HTML file; default ``report.html`` (``report-<run>.html`` with ``run``) beside
            the store.
        run: one run of the store (name) instead of all of them.
        predictions: a reproduction table (DataFrame or list of row dicts) to include; by
            default the newest one stored in the store (:func:`find_predictions`).
        title, intro: the page title and parts (figures, tables, text) shown before the runs.

    Raises:
        SpectralEdgeError: no store there, an empty store, an unknown run, an unwritable file.
    """
    runs, store_path = _load_sources(source, run)
    if out is None:
        if store_path is None:
            raise SpectralEdgeError("write_report needs out= when given runs rather than a store")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(run or ""))
        out = Path(store_path).parent / (
            f"report-{safe}.html" if run is not None else "report.html"
        )
    page = render_report(
        runs, title=title, predictions=predictions, intro=intro, store_path=store_path
    )
    return _write(out, page)


def write_compare_report(sources, out, *, title: str | None = None) -> Path:
    """Write the side-by-side page of ``sources`` (stored runs or RunData); returns its path."""
    from spectral_edge.report.plots import load_run_data

    runs = [load_run_data(s) for s in sources]
    names = [r.name for r in runs]
    body = _comparison_body(runs)
    partial = [r.name for r in runs if r.status == "running" or r.windows.empty]
    if partial:
        body.insert(
            0,
            "<div class='partial'><strong>Partial comparison:</strong> "
            + html.escape(", ".join(partial))
            + " still being written or without "
            "windows.</div>",
        )
    return _write(out, _page(title or "spectral-edge compare: " + " vs ".join(names), body))
