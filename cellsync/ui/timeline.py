"""The timeline: one row per cell, grouped into the notebook's sections, filtered and searched,
updated in place.

New cells are streamed in and cells that gained rows (a summary arriving later, a new comment)
are patched where they are, so the reader's selection and scroll survive; a full `timeline()`
of 300 cells took 0.3 s per change per open page on the server's single thread. The table is
not paginated: it fills the window and scrolls, and Tabulator renders only the rows in view
(virtual rendering), so 1,000 cells cost the browser what 30 do.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from .. import chat, phrasing
from ..store import TimelineEntry
from . import html
from .keys import TimelineKeys
from .parts import html_pane, read_only_table
from .state import DashboardState

COLUMNS = ["id", "Section", "#", "Cell", "What happened", "Changes", "Status", "Time"]
PATCHED = ("What happened", "Changes", "Status")  # what a cell's later rows can change
ROW_HEIGHT = 62  # px: three lines of a summary (the cell view has the rest)


def first_line(code: str | None, width: int = 80) -> str:
    """The first line of code that is not blank or a comment, cut to `width`."""
    lines = [line for line in (code or "").splitlines() if line.strip() and not line.strip().startswith("#")]
    text = lines[0] if lines else (code or "").strip().splitlines()[0] if (code or "").strip() else ""
    return text if len(text) <= width else text[: width - 1] + "…"


def timeline_row(e: TimelineEntry, run: int, open_threads: int = 0) -> dict:
    """One cell as a timeline row; `run` > 1 marks a re-run of the same notebook cell, so
    re-runs read as one cell's history."""
    rerun = f"↻ run {run}: " if run > 1 else ""
    return {
        "id": e.id,
        # Tabulator writes a group's header as HTML, and headings come from the notebook
        "Section": html.esc(phrasing.section_label(e.section)),
        "#": "" if e.execution_count is None else str(e.execution_count),
        "Cell": rerun + first_line(e.code, 60),
        "What happened": e.summary or "",
        "Changes": " · ".join(b for b, _ in phrasing.badges(e, open_threads)),
        "Status": "error" if e.status == "error" else "ok",
        "Time": (e.started_at or "")[11:19],
    }


def matches(entry: TimelineEntry, open_threads: int, discussed: set, *, changed: bool = False,
            flagged: bool = False, talked: bool = False, search: str = "") -> bool:
    """Whether a cell passes the timeline's filters: every filter that is on must hold, and the
    search text (any case) must occur in the cell's code or its summary."""
    if changed and not phrasing.changed_data(entry):
        return False
    if flagged and not phrasing.flagged(entry):
        return False
    if talked and not (open_threads or entry.id in discussed):
        return False
    text = search.strip().casefold()
    return not text or text in (entry.code or "").casefold() or text in (entry.summary or "").casefold()


class Timeline(pn.viewable.Viewer):
    """The cells of the store as a table; a click (or Enter on a focused row) selects a cell
    (`state.selected`).

    The table holds the rows that pass the filters (`shown`, store ids in order); row labels
    are positions in it. An update that keeps which rows pass patches and appends as before;
    one that changes it (a filter switched, a cell newly flagged while "flagged" is on) sets
    the shown rows afresh and selects the cell being read again."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    compact = param.Boolean(default=False, constant=True, doc="The sidecar's narrow form.")
    changed = param.Boolean(default=False, label="Cells that changed data", doc="Show only cells that recorded a table version.")
    flagged = param.Boolean(default=False, label="Flagged", doc="Show only cells with a segment flag.")
    discussed = param.Boolean(default=False, label="Discussed", doc="Show only cells with a comment thread.")
    search = param.String(default="", label="Search code and summaries", doc="Show only cells whose code or summary holds this text.")
    shown = param.List(default=[], precedence=-1, doc="Store ids of the rows in the table, in order.")
    resets = param.Integer(default=0, precedence=-1, constant=True,
                           doc="How many times the rows were set afresh (a filter changed, a row left the filtered "
                               "rows); an update that only patches or appends rows leaves it.")
    drawn = param.Boolean(default=False, precedence=-1,
                          doc="A browser has drawn the table and shown its newest cells (its page script says so). "
                              "Until then new rows and summaries set the table whole: a stream or patch into a table "
                              "not drawn yet (the sidecar opens on the overview) never reaches the browser.")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = read_only_table(
            pd.DataFrame(columns=COLUMNS),
            selectable=1,
            hidden_columns=["id", "Section"],
            layout="fit_columns",
            formatters={"What happened": {"type": "textarea"}, "Changes": {"type": "textarea"}},
            widths={"#": "4%", "Cell": "22%", "What happened": "44%", "Changes": "18%", "Status": "5%", "Time": "7%"},
            # a fixed height makes Tabulator render only the rows in view; the browser then
            # reports the window's height (keys.py) and the table takes what is left of it
            height=300 if self.compact else 560,
            pagination=None,
            # one height for every row: Tabulator's virtual renderer then knows where each row
            # is without drawing it (with rows as tall as their text, its estimates left the
            # newest rows undrawn or drew them out of view at 200 cells); three lines show,
            # the cell view has the rest
            configuration={"rowHeight": ROW_HEIGHT},
            stylesheets=[html.TIMELINE_CSS],
            css_classes=["cs-timeline"],
        )
        self._table.param.watch(self._on_select, "selection")
        # every cell, row by row: (entry, open threads) and the row itself, so an update
        # compares only entries that are new objects or counts that moved
        self._shown: list[tuple[TimelineEntry, int]] = []
        self._rows: list[dict] = []
        self._runs: dict[str, int] = {}
        self._visible: list[int] = []  # positions in _rows of the table's rows
        self._discussed: set = set()
        self._quiet = False
        self._count = html_pane(sizing_mode="stretch_width", css_classes=["cs-count"])
        search = pn.widgets.TextInput(label=self.param.search.label, placeholder="e.g. dropna or income",
                                      width=260, description=None)
        search.param.watch(lambda e: setattr(self, "search", e.new), "value_input")
        # one group of checkboxes, not three Checkbox widgets: Bokeh's single Checkbox leaves
        # its input without a <label> (axe: "Form elements must have labels"); a group wraps
        # each input in its label, and the group's name is the visible "Show only"
        names = {self.param[p].label: p for p in ("changed", "flagged", "discussed")}
        self._only = pn.widgets.CheckBoxGroup(label="Show only", options=names, inline=True)
        self._only.param.watch(lambda e: self.param.update({p: p in e.new for p in names.values()}), "value")
        self._controls = pn.FlexBox(search, self._only, flex_wrap="wrap", align_items="start", sizing_mode="stretch_width")
        self._keys = TimelineKeys(label="Timeline of cells")
        self._keys.param.watch(self._fit, "window_height")
        self._keys.param.watch(lambda e: setattr(self, "drawn", bool(e.new)), "opened")
        self._layout = pn.Column(self._controls, self._count, self._table, self._keys, sizing_mode="stretch_width")
        self._read_discussed()
        self._update()

    def __panel__(self):
        return self._layout

    @property
    def rows(self) -> pd.DataFrame:
        """The rows as shown (row labels are positions)."""
        return self._table.value

    @property
    def grouped(self) -> bool:
        """Whether the rows are grouped by the notebook's sections."""
        return bool(self._table.groupby)

    @property
    def count_text(self) -> str:
        """The line above the table ("12 of 40 cells shown"), as HTML."""
        return self._count.object

    @property
    def selected_rows(self) -> list[int]:
        """Positions of the selected rows in `rows`."""
        return list(self._table.selection)

    def click_row(self, position: int) -> None:
        """Select the row at `position` in `rows`, as a click on it does."""
        self._table.selection = [position]

    def _row(self, entry: TimelineEntry, count: int) -> dict:
        """A new row; a re-run of a notebook cell says which run it is."""
        cell = entry.cell_id
        run = self._runs.get(cell, 0) + 1 if cell else 1
        if cell:
            self._runs[cell] = run
        return timeline_row(entry, run, count)

    def _passes(self, i: int) -> bool:
        entry, count = self._shown[i]
        return matches(entry, count, self._discussed, changed=self.changed, flagged=self.flagged,
                       talked=self.discussed, search=self.search)

    @param.depends("state.chat", watch=True)
    def _read_discussed(self) -> None:
        # resolved threads count too: "discussed" is about the cell, not the thread's state
        self._discussed = {t.cell for t in chat.threads(self.state.store) if t.cell is not None}
        if self.discussed:
            self._refilter()

    @param.depends("state.entries", "state.open_threads", watch=True)
    def _update(self) -> None:
        entries, counts = self.state.entries, self.state.open_threads
        n = len(self._shown)
        if not n or [e.id for e in entries[:n]] != [e.id for e, _ in self._shown]:
            # (a stream into a table no browser has shown yet reaches no browser: set it whole)
            self._reset(entries, counts)
            return
        patched: dict[int, dict] = {}
        for i, e in enumerate(entries[:n]):
            count = counts.get(e.id, 0)
            if e is self._shown[i][0] and count == self._shown[i][1]:
                continue
            row = timeline_row(e, 0, count)
            changes = {c: row[c] for c in PATCHED if row[c] != self._rows[i][c]}
            self._rows[i].update(changes)
            self._shown[i] = (e, count)
            if changes:
                patched[i] = changes
        for e in entries[n:]:
            self._shown.append((e, counts.get(e.id, 0)))
            self._rows.append(self._row(e, self._shown[-1][1]))
        visible = [i for i in range(len(self._rows)) if self._passes(i)]
        if visible[:len(self._visible)] != self._visible:
            self._show_rows(visible)  # a row left (or joined in the middle of) the filtered rows
            return
        where = {i: k for k, i in enumerate(self._visible)}
        patches: dict[str, list] = {}
        for i, changes in patched.items():
            if i in where:
                for c, value in changes.items():
                    patches.setdefault(c, []).append((where[i], value))
        if not self.drawn and (patches or len(visible) > len(self._visible)):
            # a patch or a stream into a table the browser has not drawn yet (the sidecar opens
            # on the overview) is lost there: a new cell or its summary would never show
            self._show_rows(visible)
            return
        if patches:
            self._table.patch(patches)  # in place: selection and scroll stay
        if len(visible) > len(self._visible):
            self._append(visible[len(self._visible):])
        self._say_count()

    def _reset(self, entries: list[TimelineEntry], counts: dict) -> None:
        self._runs = {}
        self._shown = [(e, counts.get(e.id, 0)) for e in entries]
        self._rows = [self._row(e, c) for e, c in self._shown]
        self._show_rows([i for i in range(len(self._rows)) if self._passes(i)])

    @param.depends("changed", "flagged", "discussed", "search", watch=True)
    def _refilter(self) -> None:
        visible = [i for i in range(len(self._rows)) if self._passes(i)]
        if visible != self._visible:
            self._show_rows(visible)

    def _show_rows(self, visible: list[int]) -> None:
        """Set the table to these rows (positions in `_rows`), the cell being read selected."""
        self._visible = visible
        with param.edit_constant(self):
            self.resets += 1
        rows = [self._rows[i] for i in visible]
        # row labels are positions (0, 1, ...): what patch() relies on
        frame = pd.DataFrame(rows, columns=COLUMNS, index=pd.RangeIndex(len(rows)))
        # sections group the rows only when the notebook has headings: one group of
        # "before the first heading" would be noise
        grouped = any(e.section for e, _ in self._shown)
        self._table.param.update(value=frame, groupby=["Section"] if grouped else [])
        self.shown = [self._shown[i][0].id for i in visible]
        self._mark_selected()
        self._say_count()

    @param.depends("state.selected", watch=True)
    def _mark_selected(self) -> None:
        """The row of the cell being read is the selected row, however it was opened (a click,
        the feedback list, a citation, or the rows set afresh by a filter)."""
        selected, ids = self.state.selected, self.shown
        want = [ids.index(selected)] if selected in ids else []
        if self._table.selection != want:
            self._quiet = True  # not a new click
            try:
                self._table.selection = want
            finally:
                self._quiet = False

    def _append(self, new: list[int]) -> None:
        before = len(self._visible)
        self._visible += new
        rows = [self._rows[i] for i in new]
        self.shown = self.shown + [self._shown[i][0].id for i in new]
        # labels continue the positions (Panel's own reset_index starts an empty table's rows
        # at 1, which would make every later patch land one row off). No `follow`: it would
        # pull a reader who scrolled up to the newest row; the page's script (keys.py) keeps a
        # reader who was at the bottom there
        frame = pd.DataFrame(rows, columns=COLUMNS, index=pd.RangeIndex(before, len(self._visible)))
        self._table.stream(frame, follow=False, reset_index=False)

    def _fit(self, event) -> None:
        """Fill the window below the page's header, the tabs and the filters (~250 px), and
        never shrink to less than a dozen rows' worth."""
        if event.new:
            self._table.height = max(240 if self.compact else 320, int(event.new) - (190 if self.compact else 250))

    def _say_count(self) -> None:
        self._count.object = html.timeline_count(phrasing.shown_of(len(self._visible), len(self._rows)))

    def _on_select(self, event) -> None:
        if event.new and not self._quiet and event.new[0] < len(self._visible):
            self.state.select(self._shown[self._visible[event.new[0]]][0].id)
