"""`cellsync export`: the store as one HTML file that opens anywhere, with no server and no
internet."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path

import panel as pn

from .. import phrasing
from ..store import TimelineEntry, open_store
from . import flow, html
from .charts import column_profiles, histogram_pane


def export(store: str | Path, output: str | Path, title: str = "CellSync report") -> Path:
    """One self-contained HTML file that reads as a report: when and from which notebook it was
    made, the overview (flow, what was hit hardest, the model by segment, open questions), then
    every cell's summary and changes, flags, histograms of changed columns. Opens from disk
    with no server, no internet, and prints on A4 (a page per section, no widgets)."""
    from bokeh.resources import INLINE

    from ..overview import overview

    st = open_store(store)
    try:
        entries = st.timeline()
        pn.extension(design="native", inline=True)  # Panel's own CSS inline too, not from its CDN
        made = phrasing.report_made(_notebooks(entries), str(st.path), _now())
        ov = overview(st, timeline=entries)
        parts: list = [
            _pane(flow.report_heading(title, made, len(entries)), sizing_mode=None),
            # the overview first, static: its boxes name their cells instead of opening them
            _pane(flow.overview_page(ov, {e.id: e for e in entries}, interactive=False, cells=len(entries))),
            _pane(flow.export_cells_heading(len(entries))),
        ]
        flagged = [(e, s) for e in entries for s in e.segments if s.flagged]
        if flagged:
            parts.append(_pane(html.export_flags(flagged), sizing_mode=None))
        for e in entries:
            parts.append(_pane(html.export_cell(e)))
            parts += [_chart(before, after, name) for name, before, after in _changed_columns(st, e)]
        page = pn.Column(*parts, stylesheets=[html.CSS], sizing_mode="stretch_width")
        out = Path(output)
        page.save(out, resources=INLINE, title=title, embed=False)
    finally:
        st.close()
    text = inline_panel_assets(out.read_text(encoding="utf-8"))
    # the page's own </head> is the last one (Panel's scripts hold the string too)
    head, tail = text.rsplit("</head>", 1)
    out.write_text(f"{head}<style>{flow.PRINT_PAGE_CSS}</style></head>{tail}", encoding="utf-8")
    return out


def _pane(text: str, **kwargs) -> pn.pane.HTML:
    """An HTML pane of the report: CellSync's styles, the overview's, and how it prints."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[html.CSS, flow.OVERVIEW_CSS, flow.PRINT_CSS], **kwargs)


def _chart(before, after, name: str):
    """A histogram of the report: no toolbar, which would print and does nothing on paper."""
    pane = histogram_pane(before, after, name)
    if isinstance(pane, pn.pane.HoloViews):
        pane.object = pane.object.opts(toolbar=None)
    return pane


def _notebooks(entries: list[TimelineEntry]) -> list[str]:
    """The notebooks the cells came from (their file names), in the order they first ran."""
    seen: dict[str, None] = {}
    for e in entries:
        if e.notebook:
            seen.setdefault(Path(e.notebook).name, None)
    return list(seen)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _changed_columns(st, entry: TimelineEntry) -> list[tuple]:
    """(name, profile before, profile after) of (at most two) columns whose values each frame
    of the cell changed: what the report draws."""
    out = []
    for f in entry.frames:
        if f.change == "deleted" or f.rows_before is None:
            continue
        v = st.version(f.version)
        changed = [c.column for c in (v.diff.columns if v.diff else ()) if c.values_changed or c.missing_before != c.missing_after]
        if not changed or v.profile is None or not v.parent_id:
            continue
        parent = st.version(v.parent_id)
        for name in changed[:2]:
            before, after = column_profiles(v, parent, name)
            out.append((name, before, after))
    return out


_PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/]+/dist/([^\"'\s?)]+)(\?[^\"'\s)]*)?")


def inline_panel_assets(text: str) -> str:
    """Panel's saved pages still link a few stylesheets and icons from its CDN, even with
    inline resources (holoviz/panel#6759). Swap each for a data: URI of the copy Panel ships."""
    dist = Path(pn.__file__).parent / "dist"
    kinds = {".css": "text/css", ".png": "image/png", ".ico": "image/x-icon", ".svg": "image/svg+xml"}

    def swap(m: re.Match) -> str:
        path = dist / m.group(1)
        kind = kinds.get(path.suffix)
        if kind is None or not path.is_file():
            return "data:,"  # never reach out: a missing asset is an empty one
        return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()

    return _PANEL_CDN.sub(swap, text)
