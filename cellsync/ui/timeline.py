"""The timeline: one row per cell, newest last, paginated, updated in place.

New cells are streamed in and cells that gained rows (a summary arriving later, a new comment)
are patched where they are, so the reader's selection and scroll survive; a full `timeline()`
of 300 cells took 0.3 s per change per open page on the server's single thread.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from .. import phrasing
from ..store import TimelineEntry
from .parts import later, read_only_table
from .state import DashboardState

COLUMNS = ["id", "#", "Cell", "What happened", "Changes", "Status", "Time"]
PATCHED = ("What happened", "Changes", "Status")  # what a cell's later rows can change


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
        "#": "" if e.execution_count is None else str(e.execution_count),
        "Cell": rerun + first_line(e.code, 60),
        "What happened": e.summary or "",
        "Changes": " · ".join(b for b, _ in phrasing.badges(e, open_threads)),
        "Status": "error" if e.status == "error" else "ok",
        "Time": (e.started_at or "")[11:19],
    }


class Timeline(pn.viewable.Viewer):
    """The cells of the store as a table; a click selects a cell (`state.selected`).

    Paginated explicitly: it opens on the last page (the newest cells) and turns to a new
    last page as cells arrive while the reader is on the last page; a reader on an earlier
    page stays there. (Left to itself, Panel paginates a Tabulator of more than 200 rows,
    opening on the oldest cells and streaming new rows to a page nobody sees.)"""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    page_size = param.Integer(default=10, bounds=(1, None), constant=True, doc="Rows per page.")
    height = param.Integer(default=380, constant=True, doc="Height of the table (px).")

    def __init__(self, **params):
        super().__init__(**params)
        self._table = read_only_table(
            pd.DataFrame(columns=COLUMNS),
            selectable=1,
            hidden_columns=["id"],
            layout="fit_columns",
            formatters={"What happened": {"type": "textarea"}, "Changes": {"type": "textarea"}},
            widths={"#": "4%", "Cell": "22%", "What happened": "44%", "Changes": "18%", "Status": "5%", "Time": "7%"},
            height=self.height,
            pagination="local",
            page_size=self.page_size,
        )
        self._table.param.watch(self._on_select, "selection")
        # what the table shows, row by row: (entry, open threads) and the row itself, so an
        # update compares only entries that are new objects or counts that moved
        self._shown: list[tuple[TimelineEntry, int]] = []
        self._rows: list[dict] = []
        self._runs: dict[str, int] = {}
        self._update()

    def __panel__(self):
        return self._table

    @property
    def page(self) -> int:
        """The page the reader is on (1 = the oldest cells)."""
        return self._table.page

    @property
    def rows(self) -> pd.DataFrame:
        """The rows as shown (row labels are positions)."""
        return self._table.value

    def _last_page(self, n_rows: int) -> int:
        return max(1, -(-n_rows // self.page_size))

    def _row(self, entry: TimelineEntry, count: int) -> dict:
        """A new row; a re-run of a notebook cell says which run it is."""
        cell = entry.cell_id
        run = self._runs.get(cell, 0) + 1 if cell else 1
        if cell:
            self._runs[cell] = run
        return timeline_row(entry, run, count)

    @param.depends("state.entries", "state.open_threads", watch=True)
    def _update(self) -> None:
        entries, counts = self.state.entries, self.state.open_threads
        n = len(self._shown)
        if not n or [e.id for e in entries[:n]] != [e.id for e, _ in self._shown]:
            # (a stream into a table no browser has shown yet reaches no browser: set it whole)
            self._reset(entries, counts)
            return
        patches: dict[str, list] = {c: [] for c in PATCHED}
        for i, e in enumerate(entries[:n]):
            count = counts.get(e.id, 0)
            if e is self._shown[i][0] and count == self._shown[i][1]:
                continue
            row = timeline_row(e, 0, count)
            for c in PATCHED:
                if row[c] != self._rows[i][c]:
                    patches[c].append((i, row[c]))
                    self._rows[i][c] = row[c]
            self._shown[i] = (e, count)
        patches = {c: p for c, p in patches.items() if p}
        if patches:
            self._table.patch(patches)  # in place: selection and scroll stay
            # the browser's Tabulator redraws a patched table from its first page without
            # telling the server (a new thread's count on any row sent every open timeline
            # there: the soak run found it); once it has, send the reader's page again
            later(self._resend_page, 250)
        if len(entries) > n:
            self._append(entries[n:], counts)

    def _reset(self, entries: list[TimelineEntry], counts: dict) -> None:
        self._runs = {}
        self._shown = [(e, counts.get(e.id, 0)) for e in entries]
        self._rows = [self._row(e, c) for e, c in self._shown]
        # row labels are positions (0, 1, ...): what patch() relies on
        self._table.value = pd.DataFrame(self._rows, columns=COLUMNS, index=pd.RangeIndex(len(self._rows)))
        self._table.page = self._last_page(len(self._rows))

    def _append(self, new: list[TimelineEntry], counts: dict) -> None:
        before = len(self._rows)
        follow = self._table.page >= self._last_page(before)  # only a reader on the last page
        rows = []
        for e in new:
            self._shown.append((e, counts.get(e.id, 0)))
            rows.append(self._row(e, self._shown[-1][1]))
        self._rows += rows
        # labels continue the positions (Panel's own reset_index starts an empty table's rows
        # at 1, which would make every later patch land one row off)
        frame = pd.DataFrame(rows, columns=COLUMNS, index=pd.RangeIndex(before, len(self._rows)))
        # Panel's own follow scrolls to the previous last row, which on a new page is not
        # there (a "Scroll Error" in the browser): stream without it and turn the page here
        self._table.stream(frame, follow=False, reset_index=False)
        # Panel recomputes the page bounds (its own and the browser's) when page_size is
        # triggered; a stream without follow leaves them where they were
        self._table.param.trigger("page_size")
        last = self._last_page(len(self._rows))
        if follow and self._table.page != last:
            self._table.page = last

    def _resend_page(self) -> None:
        """Bokeh sends a property only when it changes: the server still holds the reader's
        page, so it is sent as a change, through the page beside it and back."""
        page = self._table.page
        if page == 1:
            return  # where the redraw left the reader anyway
        self._table.page = page - 1
        later(lambda: setattr(self._table, "page", page), 50)

    def _on_select(self, event) -> None:
        if event.new:
            self.state.select(self._shown[event.new[0]][0].id)
