"""The dashboard's charts (HoloViews, Bokeh backend), built from profiles and SnapGrids.

HoloViews is imported, and its Bokeh extension loaded, only when a chart is drawn: a page
that only shows the timeline never pays for it."""

from __future__ import annotations

import functools

import pandas as pd
import panel as pn
import param

from . import html
from .parts import html_pane


@functools.lru_cache(maxsize=1)
def hv():
    """HoloViews with the Bokeh backend, loaded once per process."""
    import holoviews

    holoviews.extension("bokeh", logo=False)
    return holoviews


def _edges(prof) -> list:
    edges = list(prof.histogram.edges)
    if edges and isinstance(edges[0], str):  # dates travel as ISO text
        edges = [pd.Timestamp(e).tz_localize(None) if pd.Timestamp(e).tzinfo else pd.Timestamp(e) for e in edges]
    return edges


def column_profiles(version, parent, name: str) -> tuple:
    """(before, after): a column's profile in its parent version (under its old name if the
    version renamed it; None for a new column or no parent) and in the version. What a frame
    card and the export draw."""
    after = next((c for c in version.profile.columns if c.name == name), None) if version.profile else None
    if parent is None or parent.profile is None:
        return None, after
    renamed = (version.diff.columns_renamed or {}) if version.diff else {}
    old = next((o for o, new in renamed.items() if new == name), name)
    return next((c for c in parent.profile.columns if c.name == old), None), after


def histogram_chart(before, after, name: str):
    """Before/after distributions of one column, overlaid; None if neither has one."""
    h = hv()
    layers = []
    for prof, label, color in ((before, "before", "#98a2b3"), (after, "after", "#2e90fa")):
        if prof is None:
            continue
        if prof.histogram is not None:
            layers.append(h.Histogram((_edges(prof), list(prof.histogram.counts)), kdims=[name], vdims=["rows"],
                                      label=label).opts(alpha=0.55, color=color, line_color=None))
        elif prof.top_values:
            data = [(str(t.value), t.count) for t in prof.top_values]
            layers.append(h.Bars(data, kdims=[name], vdims=["rows"], label=label).opts(alpha=0.55, color=color))
    if not layers:
        return None
    return h.Overlay(layers).opts(height=260, responsive=True, title=f"{name}: before and after", toolbar="right",
                                  legend_position="top_right")


def histogram_pane(before, after, name: str):
    """`histogram_chart` as a pane (the export's), or a line saying there is none."""
    chart = histogram_chart(before, after, name)
    if chart is None:
        return html_pane(html.muted("No distribution for this column.", "p"))
    return pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=270)


def segment_rows_chart(grid):
    """Rows in the segment, version by version, flagged versions marked; None if no counts."""
    counts = [(i, c.segment_rows) for i, c in enumerate(grid.cells) if c.segment_rows is not None]
    if not counts:
        return None
    h = hv()
    dims = dict(kdims=["version (cell order)"], vdims=["rows in segment"])
    flagged = [(i, c.segment_rows) for i, c in enumerate(grid.cells) if c.flagged and c.segment_rows is not None]
    return (h.Curve(counts, **dims) * h.Scatter(counts, **dims).opts(size=6)
            * h.Scatter(flagged, **dims).opts(color="#b42318", size=11, marker="triangle")).opts(
        height=240, responsive=True, title=f"{grid.segment} in {grid.frame}", toolbar=None)


def distribution_chart(grid, column: str):
    """A numeric column inside the segment, version by version: the median, the middle half
    and the middle 90% of its values (from each version's quantiles); None if not numeric."""
    points = []
    for i, c in enumerate(grid.cells):
        d = (c.distributions or {}).get(column)
        if d is not None and d.kind == "numeric" and d.quantiles:
            points.append((i, *(float(d.quantiles[q]) for q in ("0.05", "0.25", "0.5", "0.75", "0.95"))))
    if not points:
        return None
    h = hv()
    x = h.Dimension("version", label="version (cell order)")
    y = h.Dimension("value", label=str(column) or "value")
    xs = [p[0] for p in points]
    outer = h.Area((xs, [p[1] for p in points], [p[5] for p in points]), kdims=[x], vdims=[y, "upper"],
                   label="middle 90%").opts(color="#b2ddff", alpha=0.6, line_alpha=0)
    inner = h.Area((xs, [p[2] for p in points], [p[4] for p in points]), kdims=[x], vdims=[y, "upper"],
                   label="middle half").opts(color="#53b1fd", alpha=0.6, line_alpha=0)
    median = h.Curve((xs, [p[3] for p in points]), kdims=[x], vdims=[y], label="median").opts(color="#1849a9")
    return (outer * inner * median).opts(height=240, responsive=True, toolbar=None, legend_position="top_right",
                                        title=f"{column} in {grid.segment}, version by version")


def metric_chart(points: list[tuple], name: str):
    """A metric's value cell by cell (points: (execution count, value))."""
    h = hv()
    return (h.Curve(points, kdims=["cell"], vdims=[name]) * h.Scatter(points, kdims=["cell"], vdims=[name]).opts(size=7)).opts(
        height=220, responsive=True, title=f"{name} over the notebook", toolbar=None)


def _numeric(prof) -> bool:
    return prof is not None and prof.histogram is not None and bool(prof.histogram.edges) \
        and not isinstance(prof.histogram.edges[0], str)


class HistogramView(pn.viewable.Viewer):
    """A frame card's before/after chart. Numeric columns (most of them) are drawn by one
    HoloViews DynamicMap fed through a Pipe: another column or version sends new bins to the
    same Bokeh figure instead of building a new one, which is what makes a click cheap in the
    browser. Dates (another axis type) and categories (bars) get a fresh chart."""

    shown = param.Selector(default="numeric", objects=["numeric", "other", "none", "hidden"],
                           doc="Which of the three views is visible ('hidden': none of them).")

    def __init__(self, **params):
        super().__init__(**params)
        h = hv()
        self._pipe = h.streams.Pipe(data=None)
        dmap = h.DynamicMap(self._overlay, streams=[self._pipe])
        # visible from the start: a Bokeh figure first laid out while hidden stays 0 x 0 here
        self._numeric = pn.pane.HoloViews(dmap, sizing_mode="stretch_width", height=270)
        self._other = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=270, visible=False)
        self._none = html_pane(html.muted("No distribution for this column.", "p"), visible=False)
        self._layout = pn.Column(self._numeric, self._other, self._none, sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    @param.depends("shown", watch=True)
    def _show_one(self) -> None:
        # set, not bound: a HoloViews pane whose `visible` is a reference passes Panel's own
        # params on to the Bokeh figure of a Bars chart, which refuses them (Panel 1.9)
        self._numeric.visible = self.shown == "numeric"
        self._other.visible = self.shown == "other"
        self._none.visible = self.shown == "none"

    @staticmethod
    def _overlay(data):
        h = hv()
        before, after, name = data if data is not None else (None, None, "")
        # always two layers, so the figure's structure never changes and updates stay in place
        edges = list((after or before).histogram.edges) if (after or before) is not None else [0.0, 1.0]
        x = h.Dimension("value", label=str(name) or "value")
        layers = []
        for prof, label, color in ((before, "before", "#98a2b3"), (after, "after", "#2e90fa")):
            if prof is not None:
                values = (list(prof.histogram.edges), list(prof.histogram.counts))
            else:
                values = (edges, [0] * (len(edges) - 1))
            # framewise: each column gets its own axis ranges, not the first one's
            layers.append(h.Histogram(values, kdims=[x], vdims=["rows"], label=label).opts(
                alpha=0.55, color=color, line_color=None, framewise=True))
        return h.Overlay(layers).opts(height=260, responsive=True, title=f"{name}: before and after",
                                      toolbar="right", legend_position="top_right", framewise=True)

    def show(self, before, after, name: str) -> None:
        """Draw one column's profiles (before may be None: a new frame or column)."""
        numeric = (after is None or _numeric(after)) and (before is None or _numeric(before)) \
            and (after is not None or before is not None)
        if numeric:
            self._pipe.send((before, after, name))
            self._other.object = None
            self.shown = "numeric"
            return
        self._other.object = histogram_chart(before, after, name)
        self.shown = "none" if self._other.object is None else "other"

    def hide(self) -> None:
        self.shown = "hidden"
