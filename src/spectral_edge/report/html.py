"""A minimal self-contained HTML report: headings, tables, paragraphs and embedded figures.

Nothing is loaded from the network: figures are PNGs inlined as ``data:image/png;base64`` URIs
and the style sheet is inline, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from spectral_edge import __version__
from spectral_edge.errors import SpectralEdgeError

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f3f3f3; } img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


def figure_to_data_uri(fig, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(value) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    return html.escape(str(value))


def html_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """An HTML table of dict rows (columns: the first row's keys unless given)."""
    if not rows:
        return "<p class='note'>(no rows)</p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html_report(
    path: str | os.PathLike,
    title: str,
    sections: Iterable[tuple[str, Iterable]],
) -> Path:
    """Write a report. ``sections``: (heading, parts); a part is a matplotlib figure, a list of
    dict rows (a table), or a string (a paragraph, escaped). Returns the path written."""
    out = [
        "<!DOCTYPE html>",
        "<html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, parts in sections:
        out.append(f"<h2>{html.escape(heading)}</h2>")
        for part in parts:
            if hasattr(part, "savefig"):
                out.append(f'<img src="{figure_to_data_uri(part)}" alt="{html.escape(heading)}">')
            elif isinstance(part, str):
                out.append(f"<p>{html.escape(part)}</p>")
            else:
                out.append(html_table(list(part)))
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out.append(f"<p class='note'>spectral-edge {__version__}, written {stamp}</p></body></html>")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out), encoding="utf-8")
    except OSError as exc:
        raise SpectralEdgeError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return path
