"""`cellsync export`: the store as one HTML file that opens anywhere, with no server and no
internet."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import panel as pn

from ..store import TimelineEntry, open_store
from . import html
from .charts import column_profiles, histogram_pane
from .parts import html_pane


def export(store: str | Path, output: str | Path, title: str = "CellSync report") -> Path:
    """One self-contained HTML file: every cell's summary and changes, flags, histograms of
    changed columns. Opens from disk with no server, no internet."""
    from bokeh.resources import INLINE

    st = open_store(store)
    try:
        entries = st.timeline()
        pn.extension(design="native", inline=True)  # Panel's own CSS inline too, not from its CDN
        parts: list = [html_pane(html.export_heading(title, st.path, len(entries)), sizing_mode=None)]
        for e in entries:
            parts.append(html_pane(html.export_cell(e)))
            parts += [histogram_pane(before, after, name) for name, before, after in _changed_columns(st, e)]
        flagged = [(e, s) for e in entries for s in e.segments if s.flagged]
        if flagged:
            parts.insert(1, html_pane(html.export_flags(flagged), sizing_mode=None))
        page = pn.Column(*parts, stylesheets=[html.CSS], sizing_mode="stretch_width")
        out = Path(output)
        page.save(out, resources=INLINE, title=title, embed=False)
    finally:
        st.close()
    out.write_text(inline_panel_assets(out.read_text(encoding="utf-8")), encoding="utf-8")
    return out


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
