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
import re
from pathlib import Path

import pandas as pd
import panel as pn
import param

from .errors import CellsyncError
from .store import Store, open_store

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


def badges(entry: dict) -> list[tuple[str, bool]]:
    """Short labels of what a cell did: (text, is_flag)."""
    out = []
    for f in entry["frames"]:
        if f["change"] == "deleted":
            out.append((f"{f['name']} deleted", False))
            continue
        if f["rows_before"] is None:
            out.append((f"new {f['name']} ({f['rows_after']:,} rows)", False))
            continue
        if f.get("rows_removed"):
            out.append((f"{f['name']}: rows −{f['rows_removed']:,}", False))
        if f.get("rows_added"):
            out.append((f"{f['name']}: rows +{f['rows_added']:,}", False))
        if f.get("columns_added"):
            out.append((f"+{len(f['columns_added'])} column{'s' if len(f['columns_added']) > 1 else ''}", False))
        if f.get("columns_removed"):
            out.append((f"−{len(f['columns_removed'])} column{'s' if len(f['columns_removed']) > 1 else ''}", False))
        changed = sum((f.get("values_changed") or {}).values())
        if changed:
            out.append((f"{changed:,} values changed", False))
    for m in entry.get("metrics", []):
        if m["segment"] is None and m["value"] is not None:
            delta = f" ({m['value'] - m['previous']:+.3g})" if m.get("previous") is not None else ""
            out.append((f"{m['name']} {m['value']:.3g}{delta}", False))
    flags = [s for s in entry.get("segments", []) if s.get("flagged")]
    if flags:
        out.append((f"⚑ {len(flags)} segment flag{'s' if len(flags) > 1 else ''}", True))
    if entry.get("open_threads"):
        n = entry["open_threads"]
        out.append((f"{n} open comment{'s' if n > 1 else ''}", False))
    return out


def timeline_frame(entries: list[dict]) -> pd.DataFrame:
    rows = []
    runs: dict[str, int] = {}
    for e in entries:
        # the same notebook cell run again: say so, so re-runs read as one cell's history
        rerun = ""
        if e.get("cell_id"):
            runs[e["cell_id"]] = runs.get(e["cell_id"], 0) + 1
            if runs[e["cell_id"]] > 1:
                rerun = f"↻ run {runs[e['cell_id']]}: "
        rows.append(
            {
                "id": e["id"],
                "#": "" if e["execution_count"] is None else str(e["execution_count"]),
                "Cell": rerun + first_line(e["code"], 60),
                "What happened": e.get("summary") or "",
                "Changes": " · ".join(b for b, _ in badges(e)),
                "Status": "error" if e["status"] == "error" else "ok",
                "Time": (e.get("started_at") or "")[11:19],
            }
        )
    return pd.DataFrame(rows, columns=["id", "#", "Cell", "What happened", "Changes", "Status", "Time"])


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
    """The CellSync dashboard for one store."""

    store = param.String(doc="The store folder to show.")
    read_only = param.Boolean(default=False, doc="No inputs that write; the store is only read.")
    title = param.String(default="CellSync", doc="Shown at the top of the page.")
    poll_ms = param.Integer(default=500, bounds=(100, None), doc="How often to look for new cells (ms).")
    compact = param.Boolean(default=False, doc="Narrow layout (the JupyterLab sidecar).")
    selected = param.Integer(default=None, allow_None=True, doc="Store id of the cell being shown.")
    role = param.Selector(default="expert", objects=["expert", "data_scientist"],
                          doc="Who writes from this page: experts on the server, the data scientist in the sidecar.")
    user_name = param.String(default="expert", doc="The name on messages written from this page (editable on the page).")

    def __init__(self, **params):
        super().__init__(**params)
        self._store: Store = open_store(self.store)
        self._version = None
        self._entries: list[dict] = []
        self._by_id: dict[int, dict] = {}
        self._timeline = _table(
            timeline_frame([]),
            selectable=1,
            hidden_columns=["id"],
            layout="fit_columns",
            formatters={"What happened": {"type": "textarea"}, "Changes": {"type": "textarea"}},
            widths={"#": "4%", "Cell": "22%", "What happened": "44%", "Changes": "18%", "Status": "5%", "Time": "7%"},
            height=360 if not self.compact else 260,
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
        self._discussion: Discussion | None = None
        self._feedback = pn.Column(sizing_mode="stretch_width")
        self._cell_view = pn.Column(_html("<p class='cs-muted'>Click a cell in the timeline to see what it did.</p>"),
                                    sizing_mode="stretch_width")
        self._segments = self._segment_panel()
        self._metrics = self._metric_panel()
        self._refresh(initial=True)
        self._poller = None
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._poller = pn.state.add_periodic_callback(self._poll, period=self.poll_ms)

    # --- layout -----------------------------------------------------------------------------

    def __panel__(self):
        body = pn.Tabs(
            ("Timeline", pn.Column(self._timeline, self._cell_view, sizing_mode="stretch_width")),
            ("Segments", self._segments),
            ("Metrics", self._metrics),
            ("Feedback", self._feedback),
            dynamic=False,
            sizing_mode="stretch_width",
        )
        top = pn.Row(self._header, self._name, sizing_mode="stretch_width")
        extra = [x for x in (self._bridge, self._memory) if x is not None]
        return pn.Column(top, body, *extra, sizing_mode="stretch_width", stylesheets=[CSS])

    def user(self) -> str:
        """Who is writing: the server's authenticated user, else the name typed on the page."""
        return pn.state.user or (self._name.value or "").strip() or "expert"

    # --- data -------------------------------------------------------------------------------

    def _data_version(self):
        """Cheap signatures of what can change: cells and summaries, and the chat."""
        db = self._store.db
        try:
            data = (db.execute("select count(*), max(id) from cells").fetchone(),
                    db.execute("select count(*), max(id) from explanations").fetchone() if self._store.has("explanations") else None)
            chat = (db.execute("select count(*), max(rowid) from messages").fetchone(),
                    db.execute("select count(*), sum(status = 'open') from threads").fetchone()) if self._store.has("threads") else None
            return data, chat
        except Exception:
            return None

    def _poll(self):
        # PRAGMA data_version moves on every commit by another connection: the cheap test
        marker = self._store.db.execute("PRAGMA data_version").fetchone()[0]
        if marker == getattr(self, "_marker", None):
            return
        self._marker = marker
        version = self._data_version()
        if version is None or self._version is None or version[0] != self._version[0]:
            self._refresh()
        elif version[1] != self._version[1]:
            self._version = version
            self._refresh_chat()

    def _refresh_chat(self) -> None:
        """Only messages changed: comment badges, the feedback list, the open discussion."""
        from . import chat

        counts = chat.open_counts(self._store)
        for e in self._entries:
            e["open_threads"] = counts.get(e["id"], 0)
        frame = timeline_frame(self._entries)
        current = self._timeline.value.reset_index(drop=True)
        if len(frame) == len(current):
            changed = frame["Changes"] != current["Changes"]
            if changed.any():
                self._timeline.patch({"Changes": [(int(i), frame.at[i, "Changes"]) for i in changed[changed].index]})
        self._refresh_feedback()
        if self._discussion is not None:
            self._discussion.refresh()

    def _refresh(self, initial: bool = False) -> None:
        from . import chat

        self._version = self._data_version()
        entries = self._store.timeline()
        counts = chat.open_counts(self._store)
        for e in entries:
            e["open_threads"] = counts.get(e["id"], 0)
        known = {e["id"] for e in self._entries}
        self._entries = entries
        self._by_id = {e["id"]: e for e in entries}
        frame = timeline_frame(entries)
        if initial or not known:
            self._timeline.value = frame
        else:
            new = frame[~frame["id"].isin(known)]
            old = frame[frame["id"].isin(known)].reset_index(drop=True)
            current = self._timeline.value
            if len(old) == len(current) and not old.equals(current.reset_index(drop=True)):
                # summaries and comment counts arrive after their cell: patch in place, keeping
                # selection and scroll
                changed = (old != current.reset_index(drop=True)).any(axis=1)
                self._timeline.patch({col: [(int(i), old.at[i, col]) for i in changed[changed].index]
                                      for col in ("What happened", "Changes")})
            if len(new):
                self._timeline.stream(new.reset_index(drop=True), follow=False)
        cells, versions = len(entries), sum(len(e["frames"]) for e in entries)
        flags = sum(1 for e in entries for s in e.get("segments", []) if s.get("flagged"))
        mode = " · read-only" if self.read_only else ""
        self._header.object = (
            f"<h2 style='margin:4px 0'>{esc(self.title)}</h2>"
            f"<div class='cs-muted'>{esc(self._store.path)}{mode} · {cells:,} cells · {versions:,} frame versions"
            f" · <span class='{'cs-flag' if flags else ''}'>{flags} segment flag{'s' if flags != 1 else ''}</span></div>"
        )
        if not initial:
            self._refresh_frames_choice()
        self._refresh_feedback()
        if self._discussion is not None:
            self._discussion.refresh()

    def _refresh_feedback(self) -> None:
        from . import chat

        threads = chat.threads(self._store, status="open")
        if not threads:
            self._feedback.objects = [_html("<p class='cs-muted'>No open threads.</p>")]
            return
        rows = []
        waiting = 0
        for t in threads:
            msgs = chat.messages(self._store, t.id)
            people = [m for m in msgs if m.role != "assistant"]
            if people and people[-1].role != self.role:
                waiting += 1  # the other side spoke last: this page owes an answer
            rows.append({"id": t.cell, "About": t.anchor, "Messages": len(msgs),
                         "Last": f"{msgs[-1].author}: {msgs[-1].text[:120]}" if msgs else "",
                         "When": (msgs[-1].created_at if msgs else t.created_at)[11:19]})
        table = _table(pd.DataFrame(rows), hidden_columns=["id"], selectable=1, height=min(400, 40 + 30 * len(rows)))
        table.param.watch(lambda e, t=table: e.new and t.value.iloc[e.new[0]]["id"] is not None
                          and self.select_cell(int(t.value.iloc[e.new[0]]["id"])), "selection")
        self._feedback.objects = [_html(
            f"<b>{len(rows)} open thread{'s' if len(rows) != 1 else ''}</b>, newest first · "
            f"<span data-testid='awaiting'>{waiting} awaiting your reply</span>"), table]

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
        self._cell_view.objects = self.cell_view(entry)

    def select_cell(self, cell_id: int) -> None:
        """Show one cell (by store id), as a click in the timeline does."""
        self.selected = cell_id

    def cell_view(self, entry: dict) -> list:
        count = entry["execution_count"]
        head = f"<h3 style='margin:8px 0 4px'>Cell {esc(count if count is not None else '')}"
        head += " <span class='cs-error'>— failed</span>" if entry["status"] == "error" else ""
        head += "</h3>"
        summary = entry.get("summary") or "No summary yet."
        model = entry.get("summary_model") or "offline"
        unverified = entry.get("unverified_numbers") or []
        parts = [head, f"<div class='cs-summary'>{esc(summary)}</div>"]
        if unverified:
            parts.append(f"<div class='cs-flag'>Unverified numbers: {esc(', '.join(unverified))}</div>")
        parts.append(f"<div class='cs-muted'>Summary by {esc(model)}</div>")
        if entry["error"]:
            parts.append(f"<div class='cs-error'>{esc(entry['error']['type'])}: {esc(entry['error']['message'])}</div>")
        items: list = [_html("".join(parts), sizing_mode="stretch_width")]
        flags = [s for s in entry.get("segments", []) if s.get("flagged")]
        if flags:
            lines = "".join(
                f"<li><span class='cs-flag'>⚑ {esc(s['name'])}</span> in {esc(s['frame'])}: {s['rows_removed']:,} of "
                f"{s['rows_before']:,} removed ({100 * s['removal_rate']:.1f}%, against "
                f"{100 * s['overall_removal_rate']:.1f}% overall)</li>"
                for s in flags
            )
            items.append(_html(f"<ul style='margin:4px 0'>{lines}</ul>", sizing_mode="stretch_width"))
        details = self._store.explanations(cell=entry["id"]).get(entry["id"])
        if details and details.get("details"):
            items.append(pn.Card(_html(f"<div class='cs-pre'>{esc(details['details'])}</div>"),
                                 title="Step by step", collapsed=True, sizing_mode="stretch_width"))
        items.append(pn.Card(_html(highlight(entry["code"]), sizing_mode="stretch_width"),
                             title="Code", collapsed=True, sizing_mode="stretch_width"))
        self._discussion = Discussion(self, entry)
        items.append(self._discussion)
        for f in entry["frames"]:
            items.append(FrameCard(self._store, f["name"], f["version"], self._entry_of_version))
        metrics = [m for m in entry.get("metrics", [])]
        if metrics:
            items.append(_html("<b>Metrics</b>"))
            items.append(_table(pd.DataFrame(
                [{"metric": m["name"], "segment": m["segment"] or "all", "value": m["value"], "before": m["previous"],
                  "rows": m["n"], "model": m["model"] or ""} for m in metrics]), height=min(300, 40 + 30 * len(metrics))))
        return items

    def _entry_of_version(self, version_id: str) -> dict | None:
        for e in self._entries:
            for f in e["frames"]:
                if f["version"] == version_id:
                    return e
        return None

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
        self._seg_frame.param.watch(lambda e: self._fill_segments(), "value")
        for w in (self._seg_pick, self._seg_text, self._seg_columns):
            w.param.watch(lambda e: self._show_grid(), "value")
        self._seg_text.param.watch(lambda e: self._show_grid(), "value_input")
        self._seg_save.on_click(lambda e: self._save_segment())
        self._refresh_frames_choice()
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

    def _refresh_frames_choice(self) -> None:
        counts = {r["frame"]: r["n"] for r in self._store.db.query(
            "select frame, count(*) as n, min(rowid) as first from versions group by frame order by first")}
        frames = list(counts)
        if frames != list(self._seg_frame.options):
            current = self._seg_frame.value
            self._seg_frame.options = frames
            if current in frames:
                self._seg_frame.value = current
            elif frames:
                self._seg_frame.value = max(frames, key=lambda f: counts[f])  # the frame most worked on
        self._fill_segments()

    def _fill_segments(self) -> None:
        frame = self._seg_frame.value
        if not frame:
            return
        segs = self._store.segments(frame)
        options = {f"{s.name}  ({s.text})" if s.name != s.text else s.text: s.text for s in segs}
        if options != self._seg_pick.options:
            self._seg_pick.options = options
            own = [s.text for s in segs if s.source != "suggested"]
            self._seg_pick.value = own[0] if own else next(iter(options.values()), None)
        versions = self._store.versions(frame=frame)
        columns = sorted({c.name for v in versions if v.profile for c in v.profile.columns})
        # the choices widget renders its labels as HTML: escaped labels, raw values
        options = {esc(c): c for c in columns}
        if options != self._seg_columns.options:
            self._seg_columns.options = options
        self._show_grid()

    def current_segment_text(self) -> str | None:
        return (self._seg_text.value_input or self._seg_text.value or "").strip() or self._seg_pick.value

    def _show_grid(self) -> None:
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
        self._fill_metrics()
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
        cells = {c.id: c for c in self._store.cells()}
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
    """Markdown without raw HTML: `<script>` and `onerror=` stay text; unsafe links are refused."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).render(text or "")


class Discussion(pn.viewable.Viewer):
    """The threads about one cell: messages, replies, resolve/reopen, and a new comment box."""

    def __init__(self, dashboard: "Dashboard", entry: dict, **params):
        super().__init__(**params)
        self._dash = dashboard
        self._entry = entry
        self._body = pn.Column(sizing_mode="stretch_width")
        self._signature = None
        self.refresh()

    def __panel__(self):
        return pn.Card(self._body, title="Discussion", collapsed=False, sizing_mode="stretch_width")

    def refresh(self) -> None:
        from . import chat

        st = self._dash._store
        threads = chat.threads(st, cell=self._entry["id"])
        msgs = {t.id: chat.messages(st, t.id) for t in threads}
        signature = [(t.id, t.status, len(msgs[t.id])) for t in threads]
        if signature == self._signature:
            return  # nothing new: keep what the user is typing
        self._signature = signature
        items = []
        for t in threads:
            items.append(self._thread_view(t, msgs[t.id]))
        if not threads:
            items.append(_html("<p class='cs-muted'>No comments on this cell yet.</p>"))
        if not self._dash.read_only:
            box = pn.widgets.TextAreaInput(placeholder="Comment on this cell (Markdown; @assistant asks a question)",
                                           rows=2, sizing_mode="stretch_width")
            columns = ["(whole cell)"] + sorted({c for f in self._entry["frames"] for c in (f.get("values_changed") or {})}
                                                | {c for f in self._entry["frames"] for c in (f.get("columns_added") or [])})
            about = pn.widgets.Select(options={esc(c): c for c in columns}, width=200)
            send = pn.widgets.Button(label="Comment", color="primary")
            send.on_click(lambda e: self._start(box, about))
            items.append(pn.Row(box, about, send, sizing_mode="stretch_width"))
        self._body.objects = items

    def _thread_view(self, t, msgs) -> pn.Column:
        head = f"<div class='cs-muted'>About {esc(t.anchor)} · {esc(t.status)}</div>"
        parts: list = [_html(head)]
        for m in msgs:
            who = "assistant" if m.role == "assistant" else f"{esc(m.author)} ({esc(m.role.replace('_', ' '))})"
            parts.append(_html(
                f"<div class='cs-message' data-role='{esc(m.role)}'><b>{who}</b> <span class='cs-muted'>{esc(m.created_at[11:19])}</span>"
                f"{render_markdown(m.text)}</div>", sizing_mode="stretch_width"))
            if m.role == "assistant":
                for n in sorted(set(re.findall(r"\[cell (\d+)\]", m.text)), key=int):
                    target = next((e for e in reversed(self._dash._entries) if e["execution_count"] == int(n)), None)
                    if target is not None:
                        b = pn.widgets.Button(label=f"Open cell {n}", width=120)
                        b.on_click(lambda e, cid=target["id"]: self._dash.select_cell(cid))
                        parts.append(b)
        if not self._dash.read_only:
            box = pn.widgets.TextAreaInput(placeholder="Reply", rows=1, sizing_mode="stretch_width")
            send = pn.widgets.Button(label="Send", color="primary")
            send.on_click(lambda e, tid=t.id: self._reply(tid, box))
            toggle = pn.widgets.Button(label="Resolve" if t.status == "open" else "Reopen")
            toggle.on_click(lambda e, tid=t.id, st=t.status: self._toggle(tid, st))
            parts.append(pn.Row(box, send, toggle, sizing_mode="stretch_width"))
        return pn.Column(*parts, sizing_mode="stretch_width", styles={"border-left": "3px solid #d0d5dd", "padding-left": "8px"})

    def _write(self, action) -> None:
        from . import chat

        if self._dash.read_only:
            return  # no inputs in this mode, and the page's store is read-only
        writer = Store(self._dash.store)
        try:
            action(chat, writer)
        except CellsyncError as exc:
            self._body.objects = [*self._body.objects, _html(f"<div class='cs-error'>{esc(exc)}</div>")]
            return
        finally:
            writer.close()
        self._signature = None
        self.refresh()

    def _start(self, box, about) -> None:
        text = box.value_input or box.value
        column = about.value if about.value != "(whole cell)" else None

        def act(chat, st):
            t = chat.start_thread(st, text, self._dash.user(), self._dash.role, cell=self._entry["id"], column=column)
            chat.answer_if_asked(st, t.id, text)

        self._write(act)

    def _reply(self, thread_id, box) -> None:
        text = box.value_input or box.value

        def act(chat, st):
            chat.post(st, thread_id, text, self._dash.user(), self._dash.role)
            chat.answer_if_asked(st, thread_id, text)

        self._write(act)

    def _toggle(self, thread_id, status) -> None:
        self._write(lambda chat, st: chat.set_status(st, thread_id, "resolved" if status == "open" else "open", self._dash.user()))


class FrameCard(pn.viewable.Viewer):
    """One frame's change in a cell, with previous/next version navigation."""

    index = param.Integer(default=0)

    def __init__(self, store: Store, frame: str, version_id: str, entry_of_version, **params):
        super().__init__(**params)
        self._store = store
        self._frame = frame
        # the navigator needs every version's summary, not every version's profile: profiles
        # are read only for the version shown (and its parent), in _render / _draw_histogram
        self._versions = store.versions(frame=frame, profiles=False)
        self._full: dict[str, object] = {}
        ids = [v.id for v in self._versions]
        self.index = ids.index(version_id) if version_id in ids else len(ids) - 1
        self._entry_of_version = entry_of_version
        self._prev = pn.widgets.Button(label="◀ previous version", width=150)
        self._next = pn.widgets.Button(label="next version ▶", width=150)
        self._prev.on_click(lambda e: self._step(-1))
        self._next.on_click(lambda e: self._step(1))
        self._column = pn.widgets.Select(label="Column", options=[], width=220)
        self._column.param.watch(lambda e: self._draw_histogram(), "value")
        self._hist = pn.Column(sizing_mode="stretch_width")
        self._body = pn.Column(sizing_mode="stretch_width")
        self._card = pn.Card(self._body, title=f"{frame}", sizing_mode="stretch_width", collapsed=False)
        self._render()

    def __panel__(self):
        return self._card

    def _step(self, delta: int) -> None:
        self.index = max(0, min(len(self._versions) - 1, self.index + delta))
        self._render()

    def _version(self, i: int):
        v = self._versions[i]
        if v.id not in self._full:
            self._full[v.id] = self._store.version(v.id)
        return self._full[v.id]

    def _render(self) -> None:
        v = self._version(self.index)
        d = v.diff
        entry = self._entry_of_version(v.id)
        where = f"cell {entry['execution_count']}" if entry and entry["execution_count"] is not None else "a cell"
        self._card.title = f"{self._frame} — version {self.index + 1} of {len(self._versions)} ({v.change}, {where})"
        self._prev.disabled = self.index == 0
        self._next.disabled = self.index >= len(self._versions) - 1
        lines = []
        if v.change == "deleted":
            lines.append("Deleted.")
        elif d is None:
            lines.append(f"{v.n_rows:,} rows × {v.n_cols} columns. {esc(v.note or '')}")
        elif d.rows_before is None:
            lines.append(f"New: {d.rows_after:,} rows × {v.n_cols} columns.")
        else:
            src = f" (from {esc(v.parent_frame)})" if v.parent_frame and v.parent_frame != self._frame else ""
            lines.append(f"Rows: {d.rows_before:,} → {d.rows_after:,}{src}; removed {d.rows_removed:,}, added {d.rows_added:,}"
                         + ("; reordered" if d.reordered else "") + (" (rows are aggregates)" if d.row_identity == "reshape" else ""))
            if d.columns_added:
                lines.append("Columns added: " + esc(", ".join(d.columns_added)))
            if d.columns_removed:
                lines.append("Columns removed: " + esc(", ".join(d.columns_removed)))
            if d.columns_renamed:
                lines.append("Renamed: " + esc(", ".join(f"{a} → {b}" for a, b in d.columns_renamed.items())))
            if d.dtype_changes:
                lines.append("Types: " + esc(", ".join(f"{c} {t.before} → {t.after}" for c, t in d.dtype_changes.items())))
        summary = _html("<br>".join(lines), sizing_mode="stretch_width")
        parts = [pn.Row(self._prev, self._next), summary]
        if d is not None and d.columns:
            table = pd.DataFrame([{
                "column": c.column, "values changed": c.values_changed,
                "missing before": c.missing_before, "missing after": c.missing_after,
                "shift": None if c.shift is None else round(c.shift, 3), "shift measure": c.shift_metric or "",
            } for c in d.columns])
            parts.append(_table(table, height=min(300, 40 + 30 * len(table))))
        if v.profile is not None:
            names = [c.name for c in v.profile.columns if c.histogram is not None or c.top_values]
            changed = [c.column for c in (d.columns if d else ()) if c.values_changed or c.missing_before != c.missing_after]
            self._column.options = names
            if names:
                self._column.value = next((n for n in changed if n in names), names[0])
            parts += [self._column, self._hist]
            self._draw_histogram()
        for kind in ("removed", "added"):
            table = self._rows(v, kind)
            if table is not None:
                parts.append(table)
        self._body.objects = parts

    def _rows(self, v, kind: str):
        """The first rows this version removed from (or added to) its parent, as a table."""
        count = getattr(v.diff, f"rows_{kind}", 0) if v.diff is not None else 0
        if not count or v.diff.row_identity in ("reshape", "none", "new"):
            return None
        try:
            rows = (self._store.removed_rows if kind == "removed" else self._store.added_rows)(v.id).head(50)
        except CellsyncError:
            return None
        rows = rows.reset_index()
        rows.columns = [str(c) for c in rows.columns]
        return pn.Column(_html(f"<b>Rows {kind}</b> (first {len(rows)} of {count:,})"),
                         _table(rows.astype(str), height=240), sizing_mode="stretch_width")

    def _draw_histogram(self) -> None:
        v = self._version(self.index)
        name = self._column.value
        if v.profile is None or not name:
            self._hist.objects = []
            return
        after = next((c for c in v.profile.columns if c.name == name), None)
        before = None
        if v.parent_id:
            try:
                parent = self._store.version(v.parent_id)
                before_name = next((old for old, new in (v.diff.columns_renamed or {}).items() if new == name), name) if v.diff else name
                before = next((c for c in parent.profile.columns if c.name == before_name), None) if parent.profile else None
            except CellsyncError:
                before = None
        self._hist.objects = [histogram_pane(before, after, name)]


def histogram_pane(before, after, name: str):
    """Before/after distributions of one column, overlaid (HoloViews)."""
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
        return _html("<p class='cs-muted'>No distribution for this column.</p>")
    chart = hv.Overlay(layers).opts(height=260, responsive=True, title=f"{name}: before and after", toolbar="right",
                                    legend_position="top_right")
    return pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=270)


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
    if address not in LOCAL and not basic_auth and not allow_unauthenticated:
        raise CellsyncError(
            f"refusing to serve on {address} without authentication: give --basic-auth FILE, "
            "or --allow-unauthenticated if this network is trusted"
        )
    if not read_only:
        Store(store).close()  # bring an older store's schema up to date (read-only never writes)
    pn.extension("tabulator", design="native")
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
                block.append(f"<div class='cs-flag'>⚑ {esc(s['name'])} in {esc(s['frame'])}: {s['rows_removed']:,} of "
                             f"{s['rows_before']:,} removed ({100 * s['removal_rate']:.1f}% vs {100 * s['overall_removal_rate']:.1f}% overall)</div>")
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
