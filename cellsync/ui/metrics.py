"""The Metrics tab: a model metric over the notebook, and by segment at its last cell. It opens
on a metric that has per-segment results, where one does."""

from __future__ import annotations

import json

import pandas as pd
import panel as pn
import param

from .. import phrasing
from . import html
from .charts import metric_chart
from .parts import html_pane, read_only_table
from .tab import LazyTab


class Metrics(LazyTab):
    """Read while the tab is `active` (or when it becomes active after new cells arrived)."""

    metric = param.Selector(default=None, objects=[], allow_None=True, label="Metric",
                            doc='The metric shown, as JSON `["model", "name"]` ("" for no model).')

    def __init__(self, **params):
        super().__init__(**params)
        self._view = pn.Column(sizing_mode="stretch_width")
        self._layout = pn.Column(pn.widgets.Select.from_param(self.param.metric, description=None, width=320), self._view,
                                 sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    def refresh(self) -> None:
        """Read the metrics' names again, then show the one chosen."""
        self.stale = False
        metrics = self.state.store.metrics()
        names = sorted({(m["model"] or "", m["name"]) for m in metrics if m["segment"] is None})
        # a metric with per-segment results opens the tab: "for whom does the model fail"
        # is the expert's question, and a single overall number does not answer it
        by_segment = {(m["model"] or "", m["name"]) for m in metrics if m["segment"] is not None}
        names.sort(key=lambda key: key not in by_segment)
        options = {f"{model} · {name}" if model else name: json.dumps([model, name]) for model, name in names}
        self.param.metric.objects = options
        if options and self.metric is None:
            self.metric = next(iter(options.values()))  # shows it
        else:
            self._show()

    @param.depends("metric", watch=True)
    def _show(self) -> None:
        if not self.metric:
            self._view.objects = [html_pane(html.muted("No metrics recorded yet.", "p"))]
            return
        model, name = json.loads(self.metric)
        store = self.state.store
        cells = {c.id: c for c in store.cells()}  # every run, also those without a timeline change
        rows = [m for m in store.metrics(name=name) if (m["model"] or "") == model]
        overall = [(cells[m["cell"]].execution_count or 0, m["value"]) for m in rows
                   if m["segment"] is None and m["value"] is not None]
        items = []
        if len(overall) == 1:
            # one value is a number to read, not a lonely dot on an axis
            count, value = overall[0]
            items.append(html_pane(html.metric_value(phrasing.metric_value_line(name, value, count or None))))
        elif overall:
            items.append(pn.pane.HoloViews(metric_chart(overall, name), sizing_mode="stretch_width", height=230))
        last_cell = max((m["cell"] for m in rows if m["segment"] is not None), default=None)
        by_segment = [m for m in rows if m["cell"] == last_cell and m["segment"] is not None and m["value"] is not None]
        if by_segment:
            table = pd.DataFrame([{"segment": m["segment"], name: m["value"], "rows": m["n"]} for m in by_segment]).sort_values(name)
            items.append(html_pane(html.metric_heading(name, cells[last_cell].execution_count), sizing_mode=None))
            items.append(read_only_table(table, height=min(360, 40 + 30 * len(table))))
        self._view.objects = items or [html_pane(html.muted("No values.", "p"))]
