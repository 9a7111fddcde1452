"""The Feedback tab: every open thread of the store, newest first, and how many wait for this
page's side to answer."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from .. import chat
from . import html
from .parts import html_pane, read_only_table
from .state import DashboardState

COLUMNS = ["id", "About", "Messages", "Last", "When"]


class Feedback(pn.viewable.Viewer):
    """Open threads (one query: `chat.overview()`); clicking one opens its cell."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    waiting = param.Integer(default=0, doc="Open threads where the other side spoke last: this page owes an answer.")

    def __init__(self, **params):
        super().__init__(**params)
        self._head = html_pane()
        self._table = read_only_table(pd.DataFrame(columns=COLUMNS), hidden_columns=["id"], selectable=1, height=300)
        self._table.param.watch(self._on_select, "selection")
        self._layout = pn.Column(self._head, self._table, sizing_mode="stretch_width")
        self.refresh()

    def __panel__(self):
        return self._layout

    @property
    def text(self) -> str:
        """The heading as shown (HTML)."""
        return self._head.object

    @param.depends("state.chat", watch=True)
    def refresh(self) -> None:
        threads = chat.overview(self.state.store, status="open")
        self.waiting = sum(1 for t in threads if t["last_person_role"] and t["last_person_role"] != self.state.role)
        rows = pd.DataFrame([{"id": t["thread"].cell, "About": t["thread"].anchor, "Messages": t["n_messages"],
                              "Last": f"{t['last_author']}: {t['last_text'][:120]}", "When": (t["last_at"] or "")[11:19]}
                             for t in threads], columns=COLUMNS)
        if not rows.equals(self._table.value):
            self._table.value = rows
        self._table.visible = bool(threads)
        self._head.object = html.feedback_head(len(threads), self.waiting)

    def _on_select(self, event) -> None:
        if event.new:
            cell = self._table.value.iloc[event.new[0]]["id"]
            if cell is not None and not pd.isna(cell):
                self.state.select(int(cell))
