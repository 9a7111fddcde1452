"""The dashboard: one Panel `Viewer` over a store, for the server, the read-only view, the
export and the sidecar.

No business logic lives here: every number comes from `Store` queries (timeline, versions,
snapgrid, metrics), and this module only lays them out. Every string that came from a user
(code, frame and column names, segment text, summaries) is escaped before it becomes HTML, or
goes into a Tabulator cell, which renders text, not markup.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
from pathlib import Path

import pandas as pd
import panel as pn
import param

from . import phrasing
from .errors import CellsyncError
from .store import Store, frame_summary, open_store

log = logging.getLogger("cellsync")

CSS = """
:host { --cs-flag: #b42318; --cs-muted: #667085; }
.cs-summary { font-size: 15px; line-height: 1.45; }
.cs-muted { color: #667085; font-size: 12px; }
.cs-flag { color: #b42318; font-weight: 600; }
.cs-error { color: #b42318; }
.cs-pre { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; }
.cs-badge { display: inline-block; padding: 1px 6px; margin: 0 4px 2px 0; border-radius: 9px;
            background: #eef2f6; font-size: 12px; }
.cs-badge.flag { background: #fee4e2; color: #b42318; }
.cs-message { margin: 4px 0; }
.cs-message[data-role=assistant] { background: #f5f8ff; padding: 2px 6px; border-radius: 6px; }
.cs-message p { margin: 2px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.cs-table { border-collapse: collapse; font-size: 12px; margin: 4px 0; }
.cs-table th, .cs-table td { border-bottom: 1px solid #eaecf0; padding: 2px 8px; text-align: left; white-space: nowrap; }
.cs-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cs-scroll { max-height: 280px; overflow: auto; }
.cs-details { margin: 4px 0; }
.cs-details > summary { cursor: pointer; color: #344054; }
"""

_HV_READY = False


def _hv():
    """HoloViews with the Bokeh backend, loaded once and only when a chart is drawn."""
    global _HV_READY
    import holoviews as hv

    if not _HV_READY:
        hv.extension("bokeh", logo=False)
        _HV_READY = True
    return hv


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def first_line(code: str | None, width: int = 80) -> str:
    lines = [l for l in (code or "").splitlines() if l.strip() and not l.strip().startswith("#")]
    text = lines[0] if lines else (code or "").strip().splitlines()[0] if (code or "").strip() else ""
    return text if len(text) <= width else text[: width - 1] + "…"


badges = phrasing.badges  # what a cell did, in short labels: built with every other sentence


TIMELINE_COLUMNS = ["id", "#", "Cell", "What happened", "Changes", "Status", "Time"]


def timeline_row(e: dict, run: int) -> dict:
    """One cell as a timeline row; `run` > 1 marks a re-run of the same notebook cell, so
    re-runs read as one cell's history."""
    rerun = f"↻ run {run}: " if run > 1 else ""
    return {
        "id": e["id"],
        "#": "" if e["execution_count"] is None else str(e["execution_count"]),
        "Cell": rerun + first_line(e["code"], 60),
        "What happened": e.get("summary") or "",
        "Changes": " · ".join(b for b, _ in badges(e)),
        "Status": "error" if e["status"] == "error" else "ok",
        "Time": (e.get("started_at") or "")[11:19],
    }


def _html(text: str = "", **kwargs) -> pn.pane.HTML:
    """An HTML pane with CellSync's styles (each pane has its own shadow DOM)."""
    return pn.pane.HTML(text, stylesheets=[CSS], **kwargs)


def _table(df: pd.DataFrame, **kwargs) -> pn.widgets.Tabulator:
    """A read-only table. Tabulator renders cells as text but column *titles* as HTML, and
    column names come from users' data: every title is escaped."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    kwargs.setdefault("layout", "fit_data_stretch")
    kwargs.setdefault("titles", {str(c): esc(c) for c in df.columns})
    return pn.widgets.Tabulator(df, disabled=True, show_index=False, **kwargs)


class NotebookBridge(pn.custom.JSComponent):
    """Invisible: when the sidecar shows a cell, asks the JupyterLab page around it (a listener
    the extension installed) to select the notebook cell with that execution count."""

    count = param.String(default="", doc="'<execution count>@<store id>' of the cell shown.")

    _esm = """
    export function render({ model }) {
      model.on('count', () => {
        if (window.parent === window || !model.count) { return; }
        const count = model.count.split('@')[0];
        window.parent.postMessage({type: 'cellsync:select-cell', count: count}, '*');
      });
      return document.createElement('span');
    }
    """


class NameMemory(pn.custom.JSComponent):
    """Invisible: keeps the name a person typed in their browser (localStorage), so they type
    it once."""

    value = param.String(default="", doc="The remembered name ('' until the browser reports).")

    _esm = """
    export function render({ model }) {
      const key = 'cellsync-user-name';
      const saved = window.localStorage.getItem(key);
      if (saved && !model.value) { model.value = saved; }
      model.on('value', () => { if (model.value) { window.localStorage.setItem(key, model.value); } });
      return document.createElement('span');
    }
    """


class Dashboard(pn.viewable.Viewer):
    """The CellSync dashboard for one store.

    Built for a page that stays open all day beside a running notebook: everything on it is
    made once and then updated in place (a click or a new cell changes a few properties, it
    does not lay out new widgets), the store is polled cheaply and only the cells that gained
    rows are read again, and tabs nobody is looking at are not computed."""

    store = param.String(doc="The store folder to show.")
    read_only = param.Boolean(default=False, doc="No inputs that write; the store is only read.")
    title = param.String(default="CellSync", doc="Shown at the top of the page.")
    poll_ms = param.Integer(default=200, bounds=(50, None), doc="How often to look for new cells and messages (ms).")
    compact = param.Boolean(default=False, doc="Narrow layout (the JupyterLab sidecar).")
    selected = param.Integer(default=None, allow_None=True, doc="Store id of the cell being shown.")
    role = param.Selector(default="expert", objects=["expert", "data_scientist"],
                          doc="Who writes from this page: experts on the server, the data scientist in the sidecar.")
    user_name = param.String(default="expert", doc="The name on messages written from this page (editable on the page).")

    def __init__(self, **params):
        super().__init__(**params)
        self._store: Store = open_store(self.store)
        self._marker = None
        self._broken = False
        self._marks: dict[str, int] = {}
        self._chat_mark = None
        self._entries: list[dict] = []
        self._by_id: dict[int, dict] = {}
        self._row_of: dict[int, int] = {}
        self._runs: dict[str, int] = {}
        self._page_size = 8 if self.compact else 10
        self._timeline = _table(
            pd.DataFrame(columns=TIMELINE_COLUMNS),
            selectable=1,
            hidden_columns=["id"],
            layout="fit_columns",
            formatters={"What happened": {"type": "textarea"}, "Changes": {"type": "textarea"}},
            widths={"#": "4%", "Cell": "22%", "What happened": "44%", "Changes": "18%", "Status": "5%", "Time": "7%"},
            height=300 if self.compact else 380,
            # explicit pages: the page opens on the newest cells and follows new ones while
            # the reader is on the last page (Panel would paginate on its own above 200
            # rows, opening on the oldest and streaming new rows to a page nobody sees)
            pagination="local",
            page_size=self._page_size,
        )
        self._timeline.param.watch(self._on_select, "selection")
        self._bridge = NotebookBridge() if self.compact else None
        self._header = _html(sizing_mode="stretch_width")
        self._name = pn.widgets.TextInput(label="Your name", value=self.user_name, width=180, visible=not self.read_only)
        self._memory = NameMemory() if not self.read_only and self.role == "expert" else None
        if self._memory is not None:
            # the browser's remembered name fills the box; a name typed in the box is remembered
            self._memory.param.watch(lambda e: e.new and setattr(self._name, "value", e.new), "value")
            self._name.param.watch(lambda e: e.new and setattr(self._memory, "value", e.new), "value")
        self._cell = CellView(self)
        self._feedback_head = _html(sizing_mode="stretch_width")
        self._feedback_table = _table(pd.DataFrame(columns=["id", "About", "Messages", "Last", "When"]),
                                      hidden_columns=["id"], selectable=1, height=300)
        self._feedback_table.param.watch(self._on_feedback_select, "selection")
        self._feedback = pn.Column(self._feedback_head, self._feedback_table, sizing_mode="stretch_width")
        self._stale = {"segments": True, "metrics": True}
        self._segments = self._segment_panel()
        self._metrics = self._metric_panel()
        self._tabs = pn.Tabs(
            ("Timeline", pn.Column(self._timeline, self._cell, sizing_mode="stretch_width")),
            ("Segments", self._segments),
            ("Metrics", self._metrics),
            ("Feedback", self._feedback),
            dynamic=False,
            sizing_mode="stretch_width",
        )
        self._tabs.param.watch(lambda e: self._refresh_tab(), "active")
        self._load()
        self._poller = None
        if _session() is not None:
            self._poller = pn.state.add_periodic_callback(self._poll, period=self.poll_ms)
            # a server runs for days: each page's store connection goes with its page
            pn.state.on_session_destroyed(lambda context: self.close())

    def close(self) -> None:
        """Stop polling and close this page's store connection."""
        if self._poller is not None and self._poller.running:
            self._poller.stop()
        self._poller = None
        self._store.close()

    # --- layout -----------------------------------------------------------------------------

    def __panel__(self):
        top = pn.Row(self._header, self._name, sizing_mode="stretch_width")
        extra = [x for x in (self._bridge, self._memory) if x is not None]
        return pn.Column(top, self._tabs, *extra, sizing_mode="stretch_width", stylesheets=[CSS])

    def user(self) -> str:
        """Who is writing: the server's authenticated user, else the name typed on the page."""
        return pn.state.user or (self._name.value or "").strip() or "expert"

    # --- data -------------------------------------------------------------------------------

    def _load(self) -> None:
        """Everything the first view needs: the timeline, the header, the feedback list."""
        from . import chat

        self._marks = self._store.marks()
        self._chat_mark = self._chat_version()
        entries = self._store.timeline()
        counts = chat.open_counts(self._store)
        for e in entries:
            e["open_threads"] = counts.get(e["id"], 0)
        self._entries, self._by_id, self._runs = entries, {e["id"]: e for e in entries}, {}
        self._row_of = {e["id"]: i for i, e in enumerate(entries)}
        # row labels are positions (0, 1, ...): what patch() and _row_of rely on
        self._timeline.value = pd.DataFrame([self._row(e) for e in entries], columns=TIMELINE_COLUMNS,
                                            index=pd.RangeIndex(len(entries)))
        self._timeline.page = self._last_page(len(entries))
        self._refresh_header()
        self._refresh_feedback()
        self._refresh_frames_choice()

    def _row(self, entry: dict) -> dict:
        """One timeline row; a re-run of a notebook cell says which run it is."""
        run = self._runs.get(entry["cell_id"], 0) + 1 if entry.get("cell_id") else 1
        if entry.get("cell_id"):
            self._runs[entry["cell_id"]] = run
        return timeline_row(entry, run)

    def _last_page(self, n_rows: int) -> int:
        return max(1, -(-n_rows // self._page_size))

    def _chat_version(self):
        from . import chat

        return chat.signature(self._store)

    def _poll(self) -> None:
        try:
            # PRAGMA data_version moves on every commit by another connection: the cheap test
            marker = self._store.data_version()
            if marker == self._marker:
                return
            self._marker = marker
            self._refresh()
            if self._broken:
                self._broken = False
                self._refresh_header()
        except Exception as exc:  # a page must outlive a store being written or moved
            self._broken = True
            self._marker = None  # look again at the next poll
            self._header.object = f"<div class='cs-error'>Could not read the store: {esc(exc)}</div>"

    def _refresh(self) -> None:
        """Read only what changed since the last look: the cells that gained rows (new cells,
        and older cells whose summary arrived later), then the chat if it moved."""
        marks = self._store.marks()
        changed = self._store.changed_cells(self._marks) if marks != self._marks else set()
        if len(changed) > 500:
            self._load()  # a page that slept through a whole notebook: read it afresh
        elif changed:
            self._update_cells(changed)
        # only once they are shown: a refresh that failed is tried again at the next poll
        self._marks = marks
        chat_mark = self._chat_version()
        if chat_mark != self._chat_mark:
            self._chat_mark = chat_mark
            self._refresh_chat()

    def _update_cells(self, changed: set[int]) -> None:
        from . import chat

        counts = chat.open_counts(self._store)
        entries = self._store.timeline(cells=changed)
        patches: dict[str, list] = {"What happened": [], "Changes": [], "Status": []}
        new = []
        for e in entries:
            e["open_threads"] = counts.get(e["id"], 0)
            if e["id"] in self._row_of:
                i = self._row_of[e["id"]]
                old, self._entries[i] = self._entries[i], e
                self._by_id[e["id"]] = e
                row, current = timeline_row(e, 0), timeline_row(old, 0)
                for col in patches:
                    if row[col] != current[col]:
                        patches[col].append((i, row[col]))
            else:
                self._row_of[e["id"]] = len(self._entries)
                self._entries.append(e)
                self._by_id[e["id"]] = e
                new.append(self._row(e))
        patches = {k: v for k, v in patches.items() if v}
        if patches:
            self._timeline.patch(patches)  # in place: selection and scroll stay
        if new:
            before = len(self._entries) - len(new)
            # follow the new cells only if the reader was on the last page
            follow = self._timeline.page >= self._last_page(before)
            # Panel's own follow scrolls to the previous last row, which on a new page is not
            # there (a "Scroll Error" in the browser): turn the page here instead
            # labels continue the positions (Panel's own reset_index starts an empty table's
            # rows at 1, which would make every later patch land one row off)
            rows = pd.DataFrame(new, columns=TIMELINE_COLUMNS, index=pd.RangeIndex(before, len(self._entries)))
            last = self._last_page(len(self._entries))
            update_bounds = getattr(self._timeline, "_update_max_page", None)  # Panel 1.x
            if update_bounds is None:
                self._timeline.stream(rows, follow=follow, reset_index=False)
            else:
                self._timeline.stream(rows, follow=False, reset_index=False)
                update_bounds()  # what stream(follow=True) does first: the page's bounds
                if follow and self._timeline.page != last:
                    self._timeline.page = last
        self._refresh_header()
        self._stale.update(segments=True, metrics=True)
        self._refresh_tab()
        if self.selected in changed:
            self._cell.update(self._by_id[self.selected])

    def _refresh_header(self) -> None:
        entries = self._entries
        cells, versions = len(entries), sum(len(e["frames"]) for e in entries)
        flags = sum(1 for e in entries for s in e.get("segments", []) if s.get("flagged"))
        mode = " · read-only" if self.read_only else ""
        self._header.object = (
            f"<h2 style='margin:4px 0'>{esc(self.title)}</h2>"
            f"<div class='cs-muted'>{esc(self._store.path)}{mode} · {cells:,} cells · {versions:,} frame versions"
            f" · <span class='{'cs-flag' if flags else ''}'>{flags} segment flag{'s' if flags != 1 else ''}</span></div>"
        )

    def _refresh_chat(self) -> None:
        """Messages changed: comment counts in the timeline, the feedback list, the open discussion."""
        from . import chat

        counts = chat.open_counts(self._store)
        patch = []
        for e in self._entries:
            n = counts.get(e["id"], 0)
            if n != e.get("open_threads", 0):
                e["open_threads"] = n
                patch.append((self._row_of[e["id"]], timeline_row(e, 0)["Changes"]))
        if patch:
            self._timeline.patch({"Changes": patch})
        self._refresh_feedback()
        self._cell.refresh_discussion()

    def _refresh_feedback(self) -> None:
        from . import chat

        threads = chat.overview(self._store, status="open")
        # the other side spoke last: this page owes an answer
        waiting = sum(1 for t in threads if t["last_person_role"] and t["last_person_role"] != self.role)
        rows = pd.DataFrame([{"id": t["thread"].cell, "About": t["thread"].anchor, "Messages": t["n_messages"],
                              "Last": f"{t['last_author']}: {t['last_text'][:120]}", "When": (t["last_at"] or "")[11:19]}
                             for t in threads], columns=["id", "About", "Messages", "Last", "When"])
        if not rows.equals(self._feedback_table.value):
            self._feedback_table.value = rows
        self._feedback_table.visible = bool(threads)
        head = (f"<b>{len(threads)} open thread{'s' if len(threads) != 1 else ''}</b>, newest first · "
                if threads else "<b>No open threads.</b> · ")
        self._feedback_head.object = head + f"<span data-testid='awaiting'>{waiting} awaiting your reply</span>"

    def _on_feedback_select(self, event) -> None:
        if event.new:
            cell = self._feedback_table.value.iloc[event.new[0]]["id"]
            if cell is not None and not pd.isna(cell):
                self.select_cell(int(cell))

    # --- timeline and cell view ---------------------------------------------------------------

    def _on_select(self, event) -> None:
        if not event.new:
            return
        row = self._timeline.value.iloc[event.new[0]]
        self.selected = int(row["id"])

    @param.depends("selected", watch=True)
    def _show_cell(self) -> None:
        entry = self._by_id.get(self.selected)
        if entry is None:
            return
        if self._bridge is not None and entry["execution_count"] is not None:
            self._bridge.count = f"{entry['execution_count']}@{entry['id']}"
        self._cell.show(entry)
        if self._tabs.active != 0:
            self._tabs.active = 0  # opened from the feedback list or a citation

    def select_cell(self, cell_id: int) -> None:
        """Show one cell (by store id), as a click in the timeline does."""
        if self.selected == cell_id:
            self._show_cell()
        self.selected = cell_id

    def cell_view(self, entry: dict) -> list:
        """Show one cell's view and return its parts (what a click does)."""
        self._cell.show(entry)
        return self._cell.parts()

    def _entry_of_version(self, version_id: str) -> dict | None:
        for e in reversed(self._entries):
            for f in e["frames"]:
                if f["version"] == version_id:
                    return e
        return None

    # --- tabs computed when looked at ---------------------------------------------------------

    def _refresh_tab(self) -> None:
        """Segments and metrics are recomputed only while their tab is open (or when it
        opens): a SnapGrid for every new cell on every page would cost the server seconds."""
        active = self._tabs.active
        if active == 1 and self._stale["segments"]:
            self._stale["segments"] = False
            self._refresh_frames_choice(grid=True)
        elif active == 2 and self._stale["metrics"]:
            self._stale["metrics"] = False
            self._fill_metrics()

    # --- segments ---------------------------------------------------------------------------

    def _segment_panel(self):
        self._seg_frame = pn.widgets.Select(label="Frame", options=[], width=200)
        self._seg_pick = pn.widgets.Select(label="Suggested or saved segment", options=[], width=320)
        self._seg_text = pn.widgets.TextInput(label="…or type one", placeholder='e.g. age >= 80 and sex == "F"', width=360)
        self._seg_columns = pn.widgets.MultiChoice(label="Distributions of", options=[], width=360)
        self._seg_error = _html("", sizing_mode="stretch_width")
        self._seg_grid = pn.Column(sizing_mode="stretch_width")
        self._seg_save = pn.widgets.Button(label="Save segment", color="primary", visible=not self.read_only)
        self._seg_name = pn.widgets.TextInput(label="Name", placeholder="e.g. elderly", width=200, visible=not self.read_only)
        self._seg_comment = pn.widgets.TextAreaInput(placeholder="Comment on this segment (the data scientist sees it in the notebook)",
                                                     rows=2, sizing_mode="stretch_width", visible=not self.read_only)
        self._seg_comment_send = pn.widgets.Button(label="Comment on segment", visible=not self.read_only)
        self._seg_comment_send.on_click(lambda e: self._comment_segment())
        self._seg_frame.param.watch(lambda e: self._fill_segments(grid=True), "value")
        for w in (self._seg_pick, self._seg_text, self._seg_columns):
            w.param.watch(lambda e: self._show_grid(), "value")
        # while typing: one query once the typing pauses, not one per keystroke
        self._seg_timer = None
        self._seg_text.param.watch(lambda e: self._show_grid_soon(), "value_input")
        self._seg_save.on_click(lambda e: self._save_segment())
        controls = pn.Row(self._seg_frame, self._seg_pick, self._seg_text, sizing_mode="stretch_width")
        saving = pn.Row(self._seg_name, self._seg_save) if not self.read_only else pn.Row()
        commenting = pn.Row(self._seg_comment, self._seg_comment_send, sizing_mode="stretch_width") if not self.read_only else pn.Row()
        return pn.Column(controls, self._seg_columns, saving, self._seg_error, self._seg_grid, commenting,
                         sizing_mode="stretch_width")

    def _comment_segment(self) -> None:
        from . import chat

        text = self._seg_comment.value_input or self._seg_comment.value
        segment, frame = self.current_segment_text(), self._seg_frame.value
        if self.read_only or not segment:
            return
        writer = Store(self.store)
        try:
            chat.start_thread(writer, text, self.user(), self.role, frame=frame, segment=segment)
            self._seg_error.object = f"<div class='cs-muted'>Comment on {esc(segment)} sent.</div>"
            self._seg_comment.value = ""
        except CellsyncError as exc:
            self._seg_error.object = f"<div class='cs-error'>{esc(exc)}</div>"
        finally:
            writer.close()
        self._refresh_feedback()

    def _refresh_frames_choice(self, grid: bool = False) -> None:
        counts = self._store.frame_version_counts()
        frames = list(counts)
        self._filling = True  # one fill below, not one per widget change
        try:
            if frames != list(self._seg_frame.options):
                current = self._seg_frame.value
                self._seg_frame.options = frames
                if current in frames:
                    self._seg_frame.value = current
                elif frames:
                    self._seg_frame.value = max(frames, key=lambda f: counts[f])  # the frame most worked on
        finally:
            self._filling = False
        self._fill_segments(grid)

    def _fill_segments(self, grid: bool = False) -> None:
        frame = self._seg_frame.value
        if not frame or getattr(self, "_filling", False):
            return
        self._filling = True
        try:
            segs = self._store.segments(frame)
            options = {f"{s.name}  ({s.text})" if s.name != s.text else s.text: s.text for s in segs}
            if options != self._seg_pick.options:
                self._seg_pick.options = options
                own = [s.text for s in segs if s.source != "suggested"]
                self._seg_pick.value = own[0] if own else next(iter(options.values()), None)
            # the choices widget renders its labels as HTML: escaped labels, raw values
            options = {esc(c): c for c in self._store.frame_columns(frame)}
            if options != self._seg_columns.options:
                self._seg_columns.options = options
        finally:
            self._filling = False
        if grid or self._tabs.active == 1:
            self._show_grid()
        else:
            self._stale["segments"] = True

    def current_segment_text(self) -> str | None:
        return (self._seg_text.value_input or self._seg_text.value or "").strip() or self._seg_pick.value

    def _show_grid_soon(self) -> None:
        if self._seg_timer is not None and self._seg_timer.running:
            self._seg_timer.stop()
        self._seg_timer = later(self._show_grid, 300)

    def _show_grid(self) -> None:
        if getattr(self, "_filling", False):
            return
        frame, text = self._seg_frame.value, self.current_segment_text()
        if not frame or not text:
            self._seg_grid.objects = [_html("<p class='cs-muted'>Pick or type a segment.</p>")]
            return
        try:
            grid = self._store.snapgrid(frame, text, columns=list(self._seg_columns.value))
        except CellsyncError as exc:
            self._seg_error.object = f"<div class='cs-error' data-testid='segment-error'>{esc(exc)}</div>"
            return
        self._seg_error.object = ""
        self._seg_grid.objects = self.grid_view(grid)

    def grid_view(self, grid) -> list:
        rows = []
        for c in grid.cells:
            rows.append({
                "#": "" if c.execution_count is None else str(c.execution_count),
                "Cell": c.code[:60],
                "Rows in segment": c.segment_rows,
                "Share of frame": None if c.share is None else round(100 * c.share, 1),
                "Frame rows": c.frame_rows,
                "Flag": "⚑" if c.flagged else "",
                "Status": c.status,
                **{f"{col}: mean": (d.mean if d and d.kind == "numeric" else None)
                   for col, d in (c.distributions or {}).items()},
            })
        table = pd.DataFrame(rows)
        items = [_html(f"<b>{esc(grid.frame)}</b> · <span data-testid='segment-text'>{esc(grid.segment)}</span>")]
        items.append(_table(table, height=min(420, 40 + 30 * len(table)),
                            formatters={"Cell": {"type": "plaintext"}}))
        counts = [(i, c.segment_rows) for i, c in enumerate(grid.cells) if c.segment_rows is not None]
        if counts:
            hv = _hv()
            curve = hv.Curve(counts, kdims=["version (cell order)"], vdims=["rows in segment"])
            points = hv.Scatter(counts, kdims=["version (cell order)"], vdims=["rows in segment"])
            flagged = [(i, c.segment_rows) for i, c in enumerate(grid.cells) if c.flagged and c.segment_rows is not None]
            chart = (curve * points.opts(size=6) * hv.Scatter(flagged, kdims=["version (cell order)"], vdims=["rows in segment"]).opts(
                color="#b42318", size=11, marker="triangle")).opts(
                height=240, responsive=True, title=f"{grid.segment} in {grid.frame}", toolbar=None)
            items.append(pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=250))
        for col in grid.columns:
            chart = distribution_chart(grid, col)
            if chart is not None:
                items.append(pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=250))
        return items

    def _save_segment(self) -> None:
        if self.read_only:
            return  # no button in this mode; and the store below is never opened for writing
        from .segments import Segment, SegmentError

        text = self.current_segment_text()
        try:
            seg = Segment.from_text(text, name=(self._seg_name.value or "").strip() or None, source="dashboard")
        except SegmentError as exc:
            self._seg_error.object = f"<div class='cs-error'>{esc(exc)}</div>"
            return
        writer = Store(self.store)
        try:
            writer.add_segment(seg)
        finally:
            writer.close()
        self._seg_error.object = f"<div class='cs-muted'>Saved {esc(seg.name)}.</div>"
        self._fill_segments()

    # --- metrics ----------------------------------------------------------------------------

    def _metric_panel(self):
        self._metric_pick = pn.widgets.Select(label="Metric", options=[], width=320)
        self._metric_view = pn.Column(sizing_mode="stretch_width")
        self._metric_pick.param.watch(lambda e: self._show_metric(), "value")
        return pn.Column(self._metric_pick, self._metric_view, sizing_mode="stretch_width")

    def _fill_metrics(self) -> None:
        names = sorted({(m["model"] or "", m["name"]) for m in self._store.metrics() if m["segment"] is None})
        options = {f"{model} · {name}" if model else name: json.dumps([model, name]) for model, name in names}
        self._metric_pick.options = options
        if options and self._metric_pick.value is None:
            self._metric_pick.value = next(iter(options.values()))
        self._show_metric()

    def _show_metric(self) -> None:
        if not self._metric_pick.value:
            self._metric_view.objects = [_html("<p class='cs-muted'>No metrics recorded yet.</p>")]
            return
        model, name = json.loads(self._metric_pick.value)
        cells = {c.id: c for c in self._store.cells()}  # every run, also those without a timeline change
        rows = [m for m in self._store.metrics(name=name) if (m["model"] or "") == model]
        overall = [(cells[m["cell"]].execution_count or 0, m["value"]) for m in rows if m["segment"] is None and m["value"] is not None]
        items = []
        if overall:
            hv = _hv()
            chart = (hv.Curve(overall, kdims=["cell"], vdims=[name]) * hv.Scatter(overall, kdims=["cell"], vdims=[name]).opts(size=7)).opts(
                height=220, responsive=True, title=f"{name} over the notebook", toolbar=None)
            items.append(pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=230))
        last_cell = max((m["cell"] for m in rows if m["segment"] is not None), default=None)
        by_segment = [m for m in rows if m["cell"] == last_cell and m["segment"] is not None and m["value"] is not None]
        if by_segment:
            table = pd.DataFrame([{"segment": m["segment"], name: m["value"], "rows": m["n"]} for m in by_segment]).sort_values(name)
            items.append(_html(f"<b>{esc(name)} by segment</b> (cell {esc(cells[last_cell].execution_count)}), lowest first"))
            items.append(_table(table, height=min(360, 40 + 30 * len(table))))
        self._metric_view.objects = items or [_html("<p class='cs-muted'>No values.</p>")]


def render_markdown(text: str) -> str:
    """Markdown without raw HTML: `<script>` and `onerror=` stay text; unsafe links are refused.
    An image is shown as a link, never loaded: every viewer's browser fetching a stranger's
    pixel would be a tracking beacon (and a request leaving 127.0.0.1)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False})

    def image_as_link(renderer, tokens, idx, options, env):
        tok = tokens[idx]
        alt = renderer.renderInlineAsText(tok.children or [], options, env) or "image"
        src = str(tok.attrGet("src") or "")  # already checked by markdown-it (no javascript:)
        return (f'<a href="{html.escape(src, quote=True)}" rel="noopener noreferrer nofollow" '
                f'target="_blank" class="cs-image-link">image: {html.escape(alt)} ({html.escape(src)})</a>')

    md.add_render_rule("image", image_as_link)
    return md.render(text or "")


# Sent with every page `cellsync serve` answers: the browser itself refuses any load from
# another origin (an image in a message, a font, a script), whatever the page holds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' blob: data:; object-src 'none'; base-uri 'self'; form-action 'self'"
)


def _add_security_headers(server) -> None:
    """A Tornado output transform on the Bokeh application: one header on every response."""
    from tornado.web import OutputTransform

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["X-Content-Type-Options"] = "nosniff"
            headers["Referrer-Policy"] = "no-referrer"
            return status_code, headers, chunk

    server._tornado.add_transform(SecurityHeaders)


def basic_auth_setting(value: str | None, environ=None) -> str | None:
    """What `--basic-auth` (or CELLSYNC_BASIC_AUTH) means: a JSON file of {user: password}
    (passed on as a path), a file holding one password (kept out of `ps`), or a password. A
    value shaped like a path that is not a file is an error, not a password."""
    environ = os.environ if environ is None else environ
    if value is None:
        value = environ.get("CELLSYNC_BASIC_AUTH") or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        try:
            users = json.loads(text)
        except ValueError:
            users = None
        if isinstance(users, dict):
            return str(path)
        password = text.strip()
        if not password:
            raise CellsyncError(f"--basic-auth {value}: the file is empty")
        return password
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or value.endswith((".json", ".txt")):
        raise CellsyncError(f"--basic-auth {value}: no such file (give a password file, a JSON file of "
                            "{user: password}, or set CELLSYNC_BASIC_AUTH)")
    return value


def _session():
    """The Bokeh document of the browser session this code runs for, or None (a test, an
    export, the benchmark): then work that would be deferred or debounced runs at once."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def later(fn, ms: int = 15):
    """Run fn in a callback of its own, `ms` from now: what the user asked for first reaches
    the browser in this callback's patch, the slower parts (charts, row tables) in the next.
    Returns a handle with .stop(), or None when fn ran at once."""
    if _session() is None:
        fn()
        return None

    def run():
        try:
            fn()
        except Exception:  # in the sidecar this thread is the kernel's: never a traceback there
            log.debug("deferred dashboard update failed", exc_info=True)

    return pn.state.add_periodic_callback(run, period=ms, count=1)


def html_table(rows: list[dict], testid: str | None = None) -> str:
    """A small read-only table as escaped HTML: cheaper for a browser than a Tabulator, and
    enough for a dozen rows of a diff or the first rows a filter removed."""
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r[c]
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class='num'>{esc(_number(v))}</td>" if num else f"<td>{esc('' if v is None else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f" data-testid='{esc(testid)}'" if testid else ""
    return f"<div class='cs-scroll'><table class='cs-table'{attr}><tr>{head}</tr>{''.join(body)}</table></div>"


def _number(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.6g}"
    return str(v)


class CellView(pn.viewable.Viewer):
    """What one cell did. Its parts are made once and updated in place on each click, so a
    browser patches a few properties instead of laying out new widgets; charts and row
    tables follow in a second patch, after the words and numbers are on screen."""

    def __init__(self, dash: "Dashboard", **params):
        super().__init__(**params)
        self._dash = dash
        self._head = _html("<p class='cs-muted'>Click a cell in the timeline to see what it did.</p>",
                           sizing_mode="stretch_width")
        # step by step and the code: a pane of their own, so a summary arriving later does not
        # close what the reader opened
        self._more = _html("", sizing_mode="stretch_width")
        self._discussion = Discussion(dash)
        # two cards (most cells change one or two frames) are part of the page from the start:
        # a card added later is built by the browser while the deferred chart update arrives,
        # which Panel 1.9 can render before the card's header exists (a JS error, no card)
        # (they join the page once it has loaded: the timeline is drawn first)
        self._cards = [FrameCard(dash._store, dash._entry_of_version) for _ in range(2)]
        self._frames = pn.Column(sizing_mode="stretch_width")
        if _session() is not None:
            pn.state.onload(self._add_cards)
        else:
            self._add_cards()
        self._metrics = _html("", sizing_mode="stretch_width")
        self._layout = pn.Column(self._head, self._more, self._discussion, self._frames, self._metrics,
                                 sizing_mode="stretch_width")
        self.entry: dict | None = None

    def __panel__(self):
        return self._layout

    def _add_cards(self) -> None:
        if list(self._frames.objects) != self._cards:
            self._frames.objects = list(self._cards)
        highlight("")  # imports Pygments now, not on the reader's first click

    def parts(self) -> list:
        return [self._head, self._more, self._discussion, *(c for c in self._cards if c.visible), self._metrics]

    def show(self, entry: dict) -> None:
        self.entry = entry
        self._head.object = self._head_html(entry)
        self._more.object = self._more_html(entry)
        self._discussion.show(entry)
        frames = entry["frames"]
        added = len(frames) > len(self._cards) or list(self._frames.objects) != self._cards
        while len(self._cards) < len(frames):
            self._cards.append(FrameCard(self._dash._store, self._dash._entry_of_version))
        if added:
            self._add_cards()
        for i, card in enumerate(self._cards):
            if i < len(frames):
                # a card new to the page gets its chart once the browser has built it
                card.show(frames[i]["name"], frames[i]["version"], defer_ms=400 if added else 15)
            else:
                card.hide()
        self._metrics.object = self._metrics_html(entry)

    @staticmethod
    def _metrics_html(entry: dict) -> str:
        metrics = entry.get("metrics", [])
        return ("<b>Metrics</b>" + html_table(
            [{"metric": m["name"], "segment": m["segment"] or "all", "value": m["value"], "before": m["previous"],
              "rows": m["n"], "model": m["model"] or ""} for m in metrics])) if metrics else ""

    def update(self, entry: dict) -> None:
        """The shown cell gained rows (a summary, metrics, impacts): refresh the words and
        numbers, and leave the cards (the version and column the reader chose) alone unless
        the cell's frames changed."""
        if self.entry is None or self.entry["id"] != entry["id"] or \
                [f["version"] for f in entry["frames"]] != [f["version"] for f in self.entry["frames"]]:
            self.show(entry)
            return
        self.entry = entry
        self._head.object = self._head_html(entry)
        more = self._more_html(entry)
        if more != self._more.object:
            self._more.object = more
        self._metrics.object = self._metrics_html(entry)

    def refresh_discussion(self) -> None:
        if self.entry is not None:
            self._discussion.refresh()

    def _head_html(self, entry: dict) -> str:
        count = entry["execution_count"]
        head = f"<h3 style='margin:8px 0 4px'>Cell {esc(count if count is not None else '')}"
        head += " <span class='cs-error'>— failed</span>" if entry["status"] == "error" else ""
        head += "</h3>"
        parts = [head, f"<div class='cs-summary'>{esc(entry.get('summary') or 'No summary yet.')}</div>"]
        if entry.get("unverified_numbers"):
            parts.append(f"<div class='cs-flag'>Unverified numbers: {esc(', '.join(entry['unverified_numbers']))}</div>")
        parts.append(f"<div class='cs-muted'>Summary by {esc(entry.get('summary_model') or 'offline')}</div>")
        if entry["error"]:
            parts.append(f"<div class='cs-error'>{esc(entry['error']['type'])}: {esc(entry['error']['message'])}</div>")
        flags = [s for s in entry.get("segments", []) if s.get("flagged")]
        if flags:
            parts.append("<ul style='margin:4px 0'>" + "".join(
                f"<li><span class='cs-flag'>⚑</span> {esc(phrasing.flag_line(s, entry['frames']))}</li>" for s in flags) + "</ul>")
        return "".join(parts)

    def _more_html(self, entry: dict) -> str:
        parts = []
        details = self._dash._store.explanations(cell=entry["id"]).get(entry["id"])
        if details and details.get("details"):
            parts.append(f"<details class='cs-details'><summary>Step by step</summary>"
                         f"<div class='cs-pre'>{esc(details['details'])}</div></details>")
        # collapsed: experts read the summary; the code is there for those who want it
        parts.append(f"<details class='cs-details'><summary>Code</summary>{highlight(entry['code'])}</details>")
        return "".join(parts)


class ThreadView(pn.viewable.Viewer):
    """One thread: its newest messages as one HTML block (older ones on request), citation
    buttons, and a reply box that keeps what is being typed while new messages arrive."""

    SHOWN = 50  # newest messages rendered at first; "show earlier" adds this many more

    def __init__(self, discussion: "Discussion", thread_id: str, **params):
        super().__init__(**params)
        self._discussion = discussion
        self._dash = discussion._dash
        self.thread_id = thread_id
        self._limit = self.SHOWN
        self._signature = None
        self._messages = _html(sizing_mode="stretch_width")
        self._earlier = pn.widgets.Button(label="Show earlier messages", visible=False, button_type="light")
        self._earlier.on_click(lambda e: self._more())
        self._cites = pn.Row(sizing_mode="stretch_width")
        parts: list = [self._earlier, self._messages, self._cites]
        if not self._dash.read_only:
            self._box = pn.widgets.TextAreaInput(placeholder="Reply", rows=1, sizing_mode="stretch_width")
            self._send = pn.widgets.Button(label="Send", color="primary")
            self._send.on_click(lambda e: self._reply())
            self._toggle = pn.widgets.Button(label="Resolve")
            self._toggle.on_click(lambda e: self._flip())
            parts.append(pn.Row(self._box, self._send, self._toggle, sizing_mode="stretch_width"))
        self._layout = pn.Column(*parts, sizing_mode="stretch_width",
                                 styles={"border-left": "3px solid #d0d5dd", "padding-left": "8px"})
        self._thread = None

    def __panel__(self):
        return self._layout

    def update(self, thread, activity: tuple[int, int]) -> None:
        """Re-render only if the thread has news (status, a message) since the last look."""
        signature = (thread.status, activity, self._limit)
        if signature == self._signature:
            return
        self._signature, self._thread = signature, thread
        from . import chat

        total = activity[0]
        msgs = chat.messages(self._dash._store, thread.id, last=self._limit)
        head = f"<div class='cs-muted'>About {esc(thread.anchor)} · {esc(thread.status)} · {total:,} message{'s' if total != 1 else ''}</div>"
        body = []
        for m in msgs:
            who = "assistant" if m.role == "assistant" else f"{esc(m.author)} ({esc(m.role.replace('_', ' '))})"
            body.append(f"<div class='cs-message' data-role='{esc(m.role)}'><b>{who}</b> "
                        f"<span class='cs-muted'>{esc(m.created_at[11:19])}</span>{render_markdown(m.text)}</div>")
        self._messages.object = head + "".join(body)
        hidden = total - len(msgs)
        self._earlier.visible = hidden > 0
        self._earlier.label = f"Show earlier messages ({hidden:,} more)"
        cited = sorted({int(n) for m in msgs if m.role == "assistant" for n in re.findall(r"\[cell (\d+)\]", m.text)})
        buttons = []
        for n in cited:
            target = next((e for e in reversed(self._dash._entries) if e["execution_count"] == n), None)
            if target is not None:
                b = pn.widgets.Button(label=f"Open cell {n}", width=120)
                b.on_click(lambda e, cid=target["id"]: self._dash.select_cell(cid))
                buttons.append(b)
        if [b.label for b in buttons] != [b.label for b in self._cites.objects]:
            self._cites.objects = buttons
        if not self._dash.read_only:
            self._toggle.label = "Resolve" if thread.status == "open" else "Reopen"

    def _more(self) -> None:
        self._limit += self.SHOWN
        self._discussion.refresh()

    def _reply(self) -> None:
        text = self._box.value_input or self._box.value
        tid = self.thread_id

        def act(chat, st):
            chat.post(st, tid, text, self._dash.user(), self._dash.role)
            chat.answer_if_asked(st, tid, text)

        if self._discussion.write(act):
            self._box.value = self._box.value_input = ""

    def _flip(self) -> None:
        status = "resolved" if self._thread is not None and self._thread.status == "open" else "open"
        self._discussion.write(lambda chat, st: chat.set_status(st, self.thread_id, status, self._dash.user()))


class Discussion(pn.viewable.Viewer):
    """The threads about one cell: messages, replies, resolve/reopen, and a new comment box."""

    THREADS = 5  # threads shown at first (newest activity first); the rest on request

    def __init__(self, dashboard: "Dashboard", **params):
        super().__init__(**params)
        self._dash = dashboard
        self._entry: dict | None = None
        self._views: dict[str, ThreadView] = {}
        self._threads = pn.Column(sizing_mode="stretch_width")
        self._limit = self.THREADS
        self._more = pn.widgets.Button(label="Show all threads", visible=False, button_type="light")
        self._more.on_click(lambda e: self._show_all())
        self._empty = _html("<p class='cs-muted'>No comments on this cell yet.</p>", sizing_mode="stretch_width")
        self._status = _html("", sizing_mode="stretch_width")
        parts: list = [self._threads, self._more, self._empty, self._status]
        if not self._dash.read_only:
            self._box = pn.widgets.TextAreaInput(placeholder="Comment on this cell (Markdown; @assistant asks a question)",
                                                 rows=2, sizing_mode="stretch_width")
            self._about = pn.widgets.Select(options={"(whole cell)": "(whole cell)"}, width=200)
            send = pn.widgets.Button(label="Comment", color="primary")
            send.on_click(lambda e: self._start())
            parts.append(pn.Row(self._box, self._about, send, sizing_mode="stretch_width"))
        # hidden until a cell is shown: there is nothing to discuss yet
        self._card = pn.Card(*parts, title="Discussion", collapsed=False, sizing_mode="stretch_width", visible=False)

    def __panel__(self):
        return self._card

    def show(self, entry: dict) -> None:
        if self._entry is None or entry["id"] != self._entry["id"]:
            self._views = {}
            self._limit = self.THREADS
            self._status.object = ""
            if not self._dash.read_only:
                columns = sorted({c for f in entry["frames"] for c in (f.get("values_changed") or {})}
                                 | {c for f in entry["frames"] for c in (f.get("columns_added") or [])})
                # the choices render as HTML: escaped labels, raw values
                self._about.options = {"(whole cell)": "(whole cell)", **{esc(c): c for c in columns}}
        self._entry = entry
        self._card.visible = True
        self.refresh()

    def refresh(self) -> None:
        from . import chat

        if self._entry is None:
            return
        st = self._dash._store
        everything = chat.threads(st, cell=self._entry["id"])
        threads = everything[: self._limit]
        self._more.visible = len(everything) > len(threads)
        self._more.label = f"Show all {len(everything)} threads"
        activity = chat.activity(st, [t.id for t in threads])
        for t in threads:
            if t.id not in self._views:
                self._views[t.id] = ThreadView(self, t.id)
            self._views[t.id].update(t, activity.get(t.id, (0, 0)))
        shown = [self._views[t.id] for t in threads]
        if list(self._threads.objects) != shown:
            self._threads.objects = shown
        self._empty.visible = not everything

    def _show_all(self) -> None:
        self._limit = 10**9
        self.refresh()

    def write(self, action) -> bool:
        """Run a write on a store opened for it; errors are shown here, in one line."""
        from . import chat

        if self._dash.read_only:
            return False  # no inputs in this mode, and the page's store is read-only
        writer = Store(self._dash.store)
        try:
            action(chat, writer)
        except CellsyncError as exc:
            self._status.object = f"<div class='cs-error'>{esc(exc)}</div>"
            return False
        finally:
            writer.close()
        self._status.object = ""
        self.refresh()
        return True

    def _start(self) -> None:
        text = self._box.value_input or self._box.value
        column = self._about.value if self._about.value != "(whole cell)" else None
        cell = self._entry["id"]

        def act(chat, st):
            t = chat.start_thread(st, text, self._dash.user(), self._dash.role, cell=cell, column=column)
            chat.answer_if_asked(st, t.id, text)

        if self.write(act):
            self._box.value = self._box.value_input = ""


class FrameCard(pn.viewable.Viewer):
    """One frame's change in a cell, with previous/next version navigation. Made once and
    pointed at another frame or version on each click."""

    index = param.Integer(default=0)

    def __init__(self, store: Store, entry_of_version, **params):
        super().__init__(**params)
        self._store = store
        self._entry_of_version = entry_of_version
        self._frame: str | None = None
        self._ids: list[str] = []
        self._prev = pn.widgets.Button(label="◀ previous version", width=150)
        self._next = pn.widgets.Button(label="next version ▶", width=150)
        self._prev.on_click(lambda e: self._step(-1))
        self._next.on_click(lambda e: self._step(1))
        self._summary = _html(sizing_mode="stretch_width")
        self._column = pn.widgets.Select(label="Column", options=[], width=220)
        self._column.param.watch(lambda e: self._quiet or self._draw_histogram(), "value")
        self._hist = HistogramView()
        self._rows_html = _html(sizing_mode="stretch_width")
        self._card = pn.Card(pn.Row(self._prev, self._next), self._summary, self._column, self._hist, self._rows_html,
                             title="frame", sizing_mode="stretch_width", collapsed=False, visible=False)
        self._quiet = False
        self._pending = []
        self._version_cache = BoundedVersions(store)

    def __panel__(self):
        return self._card

    @property
    def visible(self) -> bool:
        return self._card.visible

    def hide(self) -> None:
        self._stop_pending()
        self._card.visible = False

    def _stop_pending(self) -> None:
        for handle in self._pending:
            if handle is not None and handle.running:
                handle.stop()  # a chart or rows table still due for what was shown before
        self._pending = []

    def show(self, frame: str, version_id: str, defer_ms: int = 15) -> None:
        if frame != self._frame or version_id not in self._ids:
            self._frame = frame
            self._ids = [vid for vid, _ in self._store.version_ids(frame)]
        self.index = self._ids.index(version_id) if version_id in self._ids else len(self._ids) - 1
        self._render(defer_ms)
        self._card.visible = True

    def _step(self, delta: int) -> None:
        self._ids = [vid for vid, _ in self._store.version_ids(self._frame)]  # versions made since
        self.index = max(0, min(len(self._ids) - 1, self.index + delta))
        self._render()

    def _render(self, defer_ms: int = 15) -> None:
        self._stop_pending()
        v = self._version_cache.get(self._ids[self.index])
        d = v.diff
        entry = self._entry_of_version(v.id)
        where = f"cell {entry['execution_count']}" if entry and entry["execution_count"] is not None else "a cell"
        # a Card's title is HTML to Panel, and frame names come from users' code
        self._card.title = f"{esc(self._frame)} — version {self.index + 1} of {len(self._ids)} ({esc(v.operation.kind.replace('_', ' ') if v.operation else v.change)}, {where})"
        self._prev.disabled = self.index == 0
        self._next.disabled = self.index >= len(self._ids) - 1
        lines = []
        if d is None and v.change != "deleted":
            lines.append(f"{v.n_rows:,} rows × {v.n_cols} columns. {esc(v.note or '')}")
        else:
            # the same sentence the summary, the CLI and the export use for this change
            lines.append(esc(phrasing.frame_sentence(frame_summary(v))))
        if d is not None and d.rows_before is not None:
            if d.columns_added:
                lines.append("Columns added: " + esc(", ".join(d.columns_added)))
            if d.columns_removed:
                lines.append("Columns removed: " + esc(", ".join(d.columns_removed)))
            if d.columns_renamed:
                lines.append("Renamed: " + esc(", ".join(f"{a} → {b}" for a, b in d.columns_renamed.items())))
            if d.dtype_changes:
                lines.append("Types: " + esc(", ".join(f"{c} {t.before} → {t.after}" for c, t in d.dtype_changes.items())))
        text = "<br>".join(lines)
        if d is not None and d.columns:
            # what happened to each column, the most changed first: values or missing values
            # changed, then by how far the distribution moved; untouched columns are counted
            moved = [c for c in d.columns if c.values_changed or c.missing_before != c.missing_after
                     or (c.shift is not None and round(c.shift, 3) != 0)]
            moved.sort(key=lambda c: (not (c.values_changed or c.missing_before != c.missing_after), -(c.shift or 0)))
            if moved:
                text += html_table([{
                    "column": c.column, "values changed": c.values_changed,
                    "missing before": c.missing_before, "missing after": c.missing_after,
                    "shift": None if c.shift is None else round(c.shift, 3), "shift measure": c.shift_metric or "",
                } for c in moved], testid="column-changes")
            still = len(d.columns) - len(moved)
            if still:
                text += f"<div class='cs-muted'>{still} other column{'s' if still != 1 else ''}: no change in values, missing values or distribution.</div>"
        self._summary.object = text
        names = [c.name for c in v.profile.columns if c.histogram is not None or c.top_values] if v.profile else []
        changed = [c.column for c in (d.columns if d else ()) if c.values_changed or c.missing_before != c.missing_after]
        self._quiet = True
        try:
            # the choices render as HTML: escaped labels, raw values
            self._column.options = {esc(n): n for n in names}
            self._column.value = next((n for n in changed if n in names), names[0]) if names else None
        finally:
            self._quiet = False
        self._column.visible = bool(names)
        self._rows_html.object = ""
        # the chart and the row tables cost more (a Bokeh figure, reading the parent's data):
        # they follow in callbacks of their own, after the numbers above are on screen
        self._pending = [later(self._draw_histogram, defer_ms), later(self._draw_rows, defer_ms)]

    def _draw_rows(self) -> None:
        v = self._version_cache.get(self._ids[self.index])
        self._rows_html.object = "".join(self._rows(v, kind) for kind in ("removed", "added"))

    def _rows(self, v, kind: str) -> str:
        """The first rows this version removed from (or added to) its parent, as a table."""
        count = getattr(v.diff, f"rows_{kind}", 0) if v.diff is not None else 0
        if not count or v.diff.row_identity in ("reshape", "none", "new"):
            return ""
        try:
            rows = (self._store.removed_rows if kind == "removed" else self._store.added_rows)(v.id, limit=50)
        except CellsyncError:
            return ""
        rows = rows.reset_index()
        records = [{str(k): _plain(x) for k, x in r.items()} for r in rows.to_dict("records")]
        title = f"Rows {kind}"
        if kind == "removed" and v.parent_frame and v.parent_frame != v.frame:
            title = f"Rows of {esc(v.parent_frame)} not in {esc(v.frame)}"  # a subset, not a loss
        return f"<b>{title}</b> (first {len(rows)} of {count:,})" + html_table(records, testid=f"rows-{kind}")

    def _draw_histogram(self) -> None:
        v = self._version_cache.get(self._ids[self.index])
        name = self._column.value
        if v.profile is None or name is None:
            self._hist.hide()
            return
        after = next((c for c in v.profile.columns if c.name == name), None)
        before = None
        if v.parent_id:
            try:
                parent = self._version_cache.get(v.parent_id)
                before_name = next((old for old, new in (v.diff.columns_renamed or {}).items() if new == name), name) if v.diff else name
                before = next((c for c in parent.profile.columns if c.name == before_name), None) if parent.profile else None
            except CellsyncError:
                before = None
        self._hist.show(before, after, name)


def _plain(value):
    """A table cell as text: missing values blank, everything else as pandas prints it."""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


class BoundedVersions:
    """The last few versions a card read (with their profiles): stepping back and forth, and
    a version's parent for the 'before' histogram, read the store once."""

    def __init__(self, store: Store, size: int = 16):
        from .cache import BoundedDict

        self._store, self._cache = store, BoundedDict(size)

    def get(self, version_id: str):
        v = self._cache.get(version_id)
        if v is None:
            v = self._cache[version_id] = self._store.version(version_id)
        return v


def histogram_pane(before, after, name: str):
    """Before/after distributions of one column, overlaid (HoloViews), as a pane."""
    chart = histogram_chart(before, after, name)
    if chart is None:
        return _html("<p class='cs-muted'>No distribution for this column.</p>")
    return pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=270)


def histogram_chart(before, after, name: str):
    """Before/after distributions of one column, overlaid (HoloViews); None if neither has one."""
    hv = _hv()
    layers = []
    for prof, label, color in ((before, "before", "#98a2b3"), (after, "after", "#2e90fa")):
        if prof is None:
            continue
        if prof.histogram is not None:
            edges = list(prof.histogram.edges)
            if edges and isinstance(edges[0], str):
                edges = [pd.Timestamp(e).tz_localize(None) if pd.Timestamp(e).tzinfo else pd.Timestamp(e) for e in edges]
            layers.append(hv.Histogram((edges, list(prof.histogram.counts)), kdims=[name], vdims=["rows"], label=label).opts(
                alpha=0.55, color=color, line_color=None))
        elif prof.top_values:
            data = [(str(t.value), t.count) for t in prof.top_values]
            layers.append(hv.Bars(data, kdims=[name], vdims=["rows"], label=label).opts(alpha=0.55, color=color))
    if not layers:
        return None
    return hv.Overlay(layers).opts(height=260, responsive=True, title=f"{name}: before and after", toolbar="right",
                                   legend_position="top_right")


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
    hv = _hv()
    x = hv.Dimension("version", label="version (cell order)")
    y = hv.Dimension("value", label=str(column) or "value")
    xs = [p[0] for p in points]
    outer = hv.Area((xs, [p[1] for p in points], [p[5] for p in points]), kdims=[x], vdims=[y, "upper"],
                    label="middle 90%").opts(color="#b2ddff", alpha=0.6, line_alpha=0)
    inner = hv.Area((xs, [p[2] for p in points], [p[4] for p in points]), kdims=[x], vdims=[y, "upper"],
                    label="middle half").opts(color="#53b1fd", alpha=0.6, line_alpha=0)
    median = hv.Curve((xs, [p[3] for p in points]), kdims=[x], vdims=[y], label="median").opts(color="#1849a9")
    return (outer * inner * median).opts(height=240, responsive=True, toolbar=None, legend_position="top_right",
                                         title=f"{column} in {grid.segment}, version by version")


def _numeric_histogram(prof) -> bool:
    return prof is not None and prof.histogram is not None and bool(prof.histogram.edges) \
        and not isinstance(prof.histogram.edges[0], str)


class HistogramView(pn.viewable.Viewer):
    """A card's before/after chart. Numeric columns (most of them) are drawn by one HoloViews
    DynamicMap fed through a Pipe: showing another column or version sends new bins to the
    same Bokeh figure instead of building a new one, which is what makes a click cheap in the
    browser. Dates (another axis type) and categories (bars) get a fresh chart."""

    def __init__(self, **params):
        super().__init__(**params)
        hv = _hv()
        self._pipe = hv.streams.Pipe(data=None)
        dmap = hv.DynamicMap(self._overlay, streams=[self._pipe])
        # visible from the start: a Bokeh figure first laid out while hidden stays 0 x 0 here
        self._numeric = pn.pane.HoloViews(dmap, sizing_mode="stretch_width", height=270)
        self._other = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=270, visible=False)
        self._none = _html("<p class='cs-muted'>No distribution for this column.</p>", visible=False)
        self._layout = pn.Column(self._numeric, self._other, self._none, sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout

    @staticmethod
    def _overlay(data):
        hv = _hv()
        before, after, name = data if data is not None else (None, None, "")
        # always two layers, so the figure's structure never changes and updates stay in place
        edges = list((after or before).histogram.edges) if (after or before) is not None else [0.0, 1.0]
        x = hv.Dimension("value", label=str(name) or "value")
        layers = []
        for prof, label, color in ((before, "before", "#98a2b3"), (after, "after", "#2e90fa")):
            if prof is not None:
                data_ = (list(prof.histogram.edges), list(prof.histogram.counts))
            else:
                data_ = (edges, [0] * (len(edges) - 1))
            # framewise: each column gets its own axis ranges, not the first one's
            layers.append(hv.Histogram(data_, kdims=[x], vdims=["rows"], label=label).opts(
                alpha=0.55, color=color, line_color=None, framewise=True))
        return hv.Overlay(layers).opts(height=260, responsive=True, title=f"{name}: before and after",
                                       toolbar="right", legend_position="top_right", framewise=True)

    def show(self, before, after, name: str) -> None:
        numeric = (after is None or _numeric_histogram(after)) and (before is None or _numeric_histogram(before)) \
            and (after is not None or before is not None)
        if numeric:
            self._pipe.send((before, after, name))
            self._other.object = None
        else:
            chart = histogram_chart(before, after, name)
            self._other.object = chart
        self._numeric.visible = numeric
        self._other.visible = not numeric and self._other.object is not None
        self._none.visible = not numeric and self._other.object is None

    def hide(self) -> None:
        self._numeric.visible = self._other.visible = self._none.visible = False


def highlight(code: str | None) -> str:
    """Code as highlighted HTML (Pygments escapes it)."""
    from pygments import highlight as _highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    fmt = HtmlFormatter(nowrap=False, noclasses=True, style="friendly")
    return _highlight(code or "", PythonLexer(), fmt)


# --- serving and exporting -------------------------------------------------------------------

LOCAL = {"127.0.0.1", "localhost", "::1"}


def serve(store: str | Path, port: int = 5006, address: str = "127.0.0.1", read_only: bool = False,
          title: str = "CellSync", basic_auth: str | None = None, allow_unauthenticated: bool = False,
          show: bool = False, on_ready=None):
    """Serve the dashboard until interrupted. Refuses a non-local address without auth."""
    open_store(store).close()  # a missing or broken store is one clear error, before binding
    basic_auth = basic_auth_setting(basic_auth)
    if address not in LOCAL and not basic_auth and not allow_unauthenticated:
        raise CellsyncError(
            f"refusing to serve on {address} without authentication: give --basic-auth FILE, "
            "or --allow-unauthenticated if this network is trusted"
        )
    if not read_only:
        Store(store).close()  # bring an older store's schema up to date (read-only never writes)
    pn.extension("tabulator", design="native")
    # a closed tab keeps its session for a few seconds, and Bokeh warns about every update it
    # could not deliver meanwhile: noise in the console of a server that runs all day
    logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)
    store = str(Path(store).resolve())

    def app():
        return Dashboard(store=store, read_only=read_only, title=title)

    kwargs = {}
    if basic_auth:
        import secrets

        kwargs.update(basic_auth=basic_auth, cookie_secret=secrets.token_hex(16))
    origins = [f"{address}:{port}"] + ([f"localhost:{port}", f"127.0.0.1:{port}"] if address in LOCAL else [])
    server = pn.serve({"/": app}, port=port, address=address, websocket_origin=origins, show=show,
                      start=False, title=title, verbose=False, **kwargs)
    _add_security_headers(server)
    if on_ready:
        on_ready(f"http://{address}:{server.port}/")
    server.start()
    server.io_loop.start()


def export(store: str | Path, output: str | Path, title: str = "CellSync report") -> Path:
    """One self-contained HTML file: every cell's summary and changes, flags, histograms of
    changed columns, segment grids and metrics. Opens from disk with no server, no internet."""
    from bokeh.resources import INLINE

    st = open_store(store)
    entries = st.timeline()
    pn.extension(design="native", inline=True)  # Panel's own CSS inline too, not from its CDN
    parts: list = [_html(f"<h1>{esc(title)}</h1><p class='cs-muted'>{esc(st.path)} · {len(entries):,} cells</p>")]
    for e in entries:
        count = e["execution_count"] if e["execution_count"] is not None else ""
        block = [f"<h3>Cell {esc(count)}{' — failed' if e['status'] == 'error' else ''}</h3>",
                 f"<div class='cs-summary'>{esc(e.get('summary') or '')}</div>"]
        for b, flag in badges(e):
            block.append(f"<span class='cs-badge{' flag' if flag else ''}'>{esc(b)}</span>")
        for s in e.get("segments", []):
            if s.get("flagged"):
                block.append(f"<div class='cs-flag'>⚑ {esc(phrasing.flag_line(s, e['frames']))}</div>")
        block.append(f"<details><summary>Code</summary>{highlight(e['code'])}</details>")
        parts.append(_html("".join(block), sizing_mode="stretch_width"))
        for f in e["frames"]:
            if f["change"] == "deleted" or f["rows_before"] is None:
                continue
            v = st.version(f["version"])
            changed = [c.column for c in (v.diff.columns if v.diff else ()) if c.values_changed or c.missing_before != c.missing_after]
            if not changed or v.profile is None or not v.parent_id:
                continue
            parent = st.version(v.parent_id)
            for name in changed[:2]:
                after = next((c for c in v.profile.columns if c.name == name), None)
                before = next((c for c in parent.profile.columns if c.name == name), None) if parent.profile else None
                parts.append(histogram_pane(before, after, name))
    flagged = [(e, s) for e in entries for s in e.get("segments", []) if s.get("flagged")]
    if flagged:
        rows = "".join(
            f"<tr><td>{esc(e['execution_count'])}</td><td>{esc(s['frame'])}</td><td>{esc(s['name'])}</td>"
            f"<td>{s['rows_removed']:,} of {s['rows_before']:,}</td><td>{100 * s['removal_rate']:.1f}%</td>"
            f"<td>{100 * s['overall_removal_rate']:.1f}%</td></tr>" for e, s in flagged)
        parts.insert(1, _html(
            "<h2>Flags</h2><table><tr><th>cell</th><th>frame</th><th>segment</th><th>removed</th><th>rate</th><th>overall</th></tr>"
            + rows + "</table>"))
    page = pn.Column(*parts, stylesheets=[CSS], sizing_mode="stretch_width")
    out = Path(output)
    page.save(out, resources=INLINE, title=title, embed=False)
    out.write_text(inline_panel_assets(out.read_text(encoding="utf-8")), encoding="utf-8")
    st.close()
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
