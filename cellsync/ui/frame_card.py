"""One frame's change in a cell: what the version did, its columns' distributions before and
after, the rows it removed or added, and previous/next version navigation."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from .. import phrasing
from ..cache import BoundedDict
from ..errors import CellsyncError
from ..store import frame_summary
from . import html
from .charts import HistogramView, column_profiles
from .parts import cancel, html_pane, later
from .state import DashboardState


class BoundedVersions:
    """The last few versions a card read (with their profiles): stepping back and forth, and
    a version's parent for the 'before' histogram, read the store once."""

    def __init__(self, store, size: int = 16):
        self._store, self._cache = store, BoundedDict(size)

    def get(self, version_id: str):
        v = self._cache.get(version_id)
        if v is None:
            v = self._cache[version_id] = self._store.version(version_id)
        return v


def _plain(value):
    """A table cell as text: missing values blank, everything else as pandas prints it."""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


class FrameCard(pn.viewable.Viewer):
    """Made once and pointed at another frame or version on each click: the browser patches a
    few properties instead of laying out a new card. The words come first; the chart and the
    row tables (which read the parent version's data) follow `defer_ms` later, in a callback
    of their own, so the numbers reach the browser in the first patch."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    frame = param.String(default=None, allow_None=True, doc="The frame shown (None: the card is hidden).")
    versions = param.List(default=[], item_type=str, doc="The frame's version ids, oldest first.")
    index = param.Integer(default=0, bounds=(0, None), doc="Position of the version shown in `versions`.")
    column = param.Selector(default=None, objects=[], allow_None=True,
                            doc="The column whose distributions are drawn (choices: the version's profiled columns).")
    defer_ms = param.Integer(default=15, bounds=(0, None),
                             doc="How long after the words the chart and the row tables follow (ms).")

    def __init__(self, **params):
        super().__init__(**params)
        self._versions = BoundedVersions(self.state.store)
        self._pending: dict[str, object] = {}
        prev = pn.widgets.Button(label="◀ previous version", width=150,
                                 disabled=param.bind(lambda i: i == 0, self.param.index))
        nxt = pn.widgets.Button(label="next version ▶", width=150,
                                disabled=param.bind(lambda i, ids: i >= len(ids) - 1, self.param.index, self.param.versions))
        prev.on_click(lambda e: self.step(-1))
        nxt.on_click(lambda e: self.step(1))
        self._words = html_pane()
        self._choice = pn.widgets.Select.from_param(self.param.column, description=None, width=220,
                                                    visible=param.bind(bool, self.param.column))
        self._chart = HistogramView()
        self._rows = html_pane()
        self._card = pn.Card(pn.Row(prev, nxt), self._words, self._choice, self._chart, self._rows,
                             title="frame", sizing_mode="stretch_width", collapsed=False,
                             visible=param.bind(lambda f: f is not None, self.param.frame))
        self.param.watch(self._schedule_chart, ["frame", "versions", "index", "column"])

    def __panel__(self):
        return self._card

    @property
    def version(self):
        """The version shown (None when hidden)."""
        return self._versions.get(self.versions[self.index]) if self.frame is not None else None

    # --- pointing the card -----------------------------------------------------------------

    def show(self, frame: str, version_id: str, defer_ms: int = 15) -> None:
        """Show one version of a frame, with the column that changed most chosen."""
        ids = self.versions
        if frame != self.frame or version_id not in ids:
            ids = [vid for vid, _ in self.state.store.version_ids(frame)]
        index = ids.index(version_id) if version_id in ids else len(ids) - 1
        self._goto(frame, ids, index, defer_ms)

    def step(self, delta: int) -> None:
        """Show the previous (-1) or next (+1) version, counting versions made since."""
        ids = [vid for vid, _ in self.state.store.version_ids(self.frame)]
        self._goto(self.frame, ids, max(0, min(len(ids) - 1, self.index + delta)))

    def hide(self) -> None:
        for handle in self._pending.values():
            cancel(handle)  # a chart or rows table still due for what was shown before
        self._pending = {}
        self.frame = None

    def _goto(self, frame: str, ids: list[str], index: int, defer_ms: int = 15) -> None:
        v = self._versions.get(ids[index])
        names = [c.name for c in v.profile.columns if c.histogram is not None or c.top_values] if v.profile else []
        changed = [c.column for c in (v.diff.columns if v.diff else ()) if c.values_changed or c.missing_before != c.missing_after]
        column = next((n for n in changed if n in names), names[0]) if names else None
        self.param.column.objects = names  # a Select's options are text in the browser
        # one batch: the words are written once and the chart drawn once
        self.param.update(frame=frame, versions=ids, index=index, column=column, defer_ms=defer_ms)

    # --- drawing -----------------------------------------------------------------------------

    @param.depends("frame", "versions", "index", watch=True)
    def _render(self) -> None:
        v = self.version
        if v is None:
            return
        entry = self.state.entry_of_version(v.id)
        where = f"cell {entry.execution_count}" if entry and entry.execution_count is not None else "a cell"
        kind = v.operation.kind.replace("_", " ") if v.operation else v.change
        self._card.title = html.card_title(self.frame, self.index, len(self.versions), kind, where)
        # the same sentence the summary, the CLI and the export use for this change
        sentence = None if v.diff is None and v.change != "deleted" else phrasing.frame_sentence(frame_summary(v))
        self._words.object = html.frame_words(v, sentence)
        self._rows.object = ""
        cancel(self._pending.get("rows"))
        self._pending["rows"] = later(self._draw_rows, self.defer_ms)

    def _schedule_chart(self, *events) -> None:
        # always in a callback of its own, drawn from what the card shows by then: pointing
        # the card at a version also moves the column (and its choices) on the way
        cancel(self._pending.get("chart"))
        if self.frame is not None:
            self._pending["chart"] = later(self._draw_chart, self.defer_ms)

    def _draw_rows(self) -> None:
        v = self.version
        if v is not None:
            self._rows.object = "".join(self._rows_html(v, kind) for kind in ("removed", "added"))

    def _rows_html(self, v, kind: str) -> str:
        """The first rows this version removed from (or added to) its parent."""
        count = getattr(v.diff, f"rows_{kind}", 0) if v.diff is not None else 0
        # "key", "filter": Spark rows matched by a key, or removed by a filter, in Spark; the
        # store holds only samples of the two versions, which cannot say which rows went
        if not count or v.diff.row_identity in ("reshape", "none", "new", "key", "filter"):
            return ""
        read = self.state.store.removed_rows if kind == "removed" else self.state.store.added_rows
        try:
            rows = read(v.id, limit=50)
        except CellsyncError:
            return ""
        records = [{str(k): _plain(x) for k, x in r.items()} for r in rows.reset_index().to_dict("records")]
        return html.rows_block(kind, records, count, v.parent_frame, v.frame)

    def _draw_chart(self) -> None:
        v, name = self.version, self.column
        if v is None or v.profile is None or name is None:
            self._chart.hide()
            return
        try:
            parent = self._versions.get(v.parent_id) if v.parent_id else None
        except CellsyncError:
            parent = None
        before, after = column_profiles(v, parent, name)
        self._chart.show(before, after, name)
