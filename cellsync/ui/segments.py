"""The Segments tab: a segment followed through every version of a frame (SnapGrid), typed or
picked, saved, and commented on."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from .. import chat
from ..errors import CellsyncError
from ..segments import Segment
from . import html
from .charts import distribution_chart, segment_rows_chart
from .parts import cancel, html_pane, later, read_only_table
from .tab import LazyTab

TYPING_PAUSE_MS = 300  # while typing: one query once the typing pauses, not one per keystroke


class Segments(LazyTab):
    """A SnapGrid costs the server up to seconds: it is computed while the tab is `active`
    (or when it becomes active after new cells arrived), never for a tab nobody looks at."""

    frame = param.Selector(default=None, objects=[], allow_None=True, label="Frame", doc="The frame followed.")
    pick = param.Selector(default=None, objects=[], allow_None=True, label="Suggested or saved segment",
                          doc="A segment of the frame (suggested by CellSync, or saved).")
    text = param.String(default="", label="…or type one", doc="A segment typed on the page (takes precedence over `pick`).")
    columns = param.ListSelector(default=[], objects=[], label="Distributions of",
                                 doc="Numeric columns whose distribution inside the segment is drawn.")
    shown = param.Tuple(default=None, allow_None=True, length=3, precedence=-1,
                        doc="(frame, segment, columns) of the grid on screen.")

    def __init__(self, **params):
        super().__init__(**params)
        self._typed = pn.widgets.TextInput.from_param(self.param.text, description=None, placeholder='e.g. age >= 80 and sex == "F"', width=360)
        self._typed.param.watch(lambda e: self._typing(), "value_input")
        self._pending = None
        self._message = html_pane()
        self._grid = pn.Column(sizing_mode="stretch_width")
        controls = pn.Row(pn.widgets.Select.from_param(self.param.frame, description=None, width=200),
                          pn.widgets.Select.from_param(self.param.pick, description=None, width=320), self._typed, sizing_mode="stretch_width")
        parts: list = [controls, pn.widgets.MultiChoice.from_param(self.param.columns, description=None, width=360)]
        if not self.state.read_only:
            self._name = pn.widgets.TextInput(name="Name", placeholder="e.g. elderly", width=200)
            save = pn.widgets.Button(label="Save segment", color="primary")
            save.on_click(lambda e: self.save(self._name.value))
            self._comment = pn.widgets.TextAreaInput(
                placeholder="Comment on this segment (the data scientist sees it in the notebook)",
                rows=2, sizing_mode="stretch_width")
            send = pn.widgets.Button(label="Comment on segment")
            send.on_click(lambda e: self.comment(self._comment.value_input or self._comment.value))
            parts += [pn.Row(self._name, save), self._message, self._grid,
                      pn.Row(self._comment, send, sizing_mode="stretch_width")]
        else:
            parts += [self._message, self._grid]
        self._layout = pn.Column(*parts, sizing_mode="stretch_width")
        self.refresh()

    def __panel__(self):
        return self._layout

    def current(self) -> str | None:
        """The segment shown: what is typed (even before Enter), else the one picked."""
        return (self._typed.value_input or self.text or "").strip() or self.pick

    # --- choices and grid --------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the frames, their segments and columns again, then the grid (if looked at)."""
        counts = self.state.store.frame_version_counts()
        frames = list(counts)
        current = self.frame
        self.param.frame.objects = frames  # a Select's options are text in the browser
        if current not in frames:
            current = max(frames, key=lambda f: counts[f]) if frames else None  # the frame most worked on
        self.shown = None  # the store moved on: the grid on screen is out of date
        if current == self.frame:
            self._fill()
        else:
            self.frame = current

    @param.depends("frame", watch=True)
    def _fill(self) -> None:
        """The frame's segments and columns, then its grid."""
        if self.frame is None:
            return
        segs = self.state.store.segments(self.frame)
        options = {f"{s.name}  ({s.text})" if s.name != s.text else s.text: s.text for s in segs}
        pick = self.pick
        if options != self.param.pick.names:  # (a dict: Selector's `objects` is a list proxy)
            self.param.pick.objects = options
            own = [s.text for s in segs if s.source != "suggested"]
            pick = own[0] if own else next(iter(options.values()), None)
        columns = self.state.store.frame_columns(self.frame)
        self.param.columns.objects = html.labels(columns)  # MultiChoice's labels are HTML
        self.param.update(pick=pick, columns=[c for c in self.columns if c in columns])
        self._show_grid()

    @param.depends("pick", "text", "columns", watch=True)
    def _show_grid(self) -> None:
        if not self.active:
            self.stale = True
            return
        key = (self.frame, self.current(), tuple(self.columns))
        if key == self.shown:
            return  # e.g. Enter after the typing pause already drew this grid
        self.stale = False
        frame, text = key[0], key[1]
        if not frame or not text:
            self._grid.objects = [html_pane(html.muted("Pick or type a segment.", "p"))]
            return
        try:
            grid = self.state.store.snapgrid(frame, text, columns=list(self.columns))
        except CellsyncError as exc:
            self._message.object = html.error(exc, testid="segment-error")
            self.shown = None  # the next segment that reads is drawn (and clears this line)
            return
        self.shown = key
        self._message.object = ""
        self._grid.objects = self.grid_view(grid)

    def _typing(self) -> None:
        cancel(self._pending)
        self._pending = later(self._show_grid, TYPING_PAUSE_MS)

    def grid_view(self, grid) -> list:
        """A SnapGrid as a heading, a table and charts."""
        table = pd.DataFrame([{
            "#": "" if c.execution_count is None else str(c.execution_count),
            "Cell": c.code[:60],
            "Rows in segment": c.segment_rows,
            "Share of frame": None if c.share is None else round(100 * c.share, 1),
            "Frame rows": c.frame_rows,
            "Flag": "⚑" if c.flagged else "",
            "Status": c.status,
            **{f"{col}: mean": (d.mean if d and d.kind == "numeric" else None) for col, d in (c.distributions or {}).items()},
        } for c in grid.cells])
        items = [html_pane(html.segment_heading(grid.frame, grid.segment), sizing_mode=None),
                 read_only_table(table, height=min(420, 40 + 30 * len(table)), formatters={"Cell": {"type": "plaintext"}})]
        charts = [segment_rows_chart(grid)] + [distribution_chart(grid, col) for col in grid.columns]
        items += [pn.pane.HoloViews(c, sizing_mode="stretch_width", height=250) for c in charts if c is not None]
        return items

    # --- writing -----------------------------------------------------------------------------

    def save(self, name: str | None = None) -> bool:
        """Save the segment shown, for this frame and every later look."""
        try:
            seg = Segment.from_text(self.current(), name=(name or "").strip() or None, source="dashboard")
            with self.state.writer() as st:
                st.add_segment(seg)
        except CellsyncError as exc:  # SegmentError, or a read-only page
            self._message.object = html.error(exc)
            return False
        self._message.object = html.muted(f"Saved {seg.name}.")
        self._fill()
        return True

    def comment(self, text: str) -> bool:
        """Start a thread about the segment shown (the notebook sees it in `cellsync.feedback()`)."""
        segment = self.current()
        if not segment:
            return False
        try:
            with self.state.writer() as st:
                chat.start_thread(st, text, self.state.author(), self.state.role, frame=self.frame, segment=segment)
        except CellsyncError as exc:
            self._message.object = html.error(exc)
            return False
        self._message.object = html.muted(f"Comment on {segment} sent.")
        if not self.state.read_only:
            self._comment.value = ""
        return True
