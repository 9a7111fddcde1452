"""What one cell did: its summary and flags, step by step and code, the discussion about it,
a card per frame it changed, and its metrics."""

from __future__ import annotations

import panel as pn
import param

from . import html
from ..store import TimelineEntry
from .discussion import Discussion
from .frame_card import FrameCard
from .parts import html_pane, session
from .state import DashboardState


class CellView(pn.viewable.Viewer):
    """The cell `state.selected`. Its parts are made once and updated in place on each click,
    so a browser patches a few properties instead of laying out new widgets."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    cell = param.Integer(default=None, allow_None=True, doc="Store id of the cell shown (None: none yet).")

    def __init__(self, **params):
        super().__init__(**params)
        self._head = html_pane(html.muted("Click a cell in the timeline to see what it did.", "p"))
        # step by step and the code: a pane of their own, rewritten only when their text
        # changed, so a summary arriving later does not close what the reader opened
        self._more = html_pane()
        self.discussion = Discussion(state=self.state)
        # two cards (most cells change one or two frames) are part of the page from the start:
        # a card added later is built by the browser while the deferred chart update arrives,
        # which Panel 1.9 can render before the card's header exists (a JS error, no card);
        # they join the page once it has loaded, so the timeline is drawn first
        self.cards = [FrameCard(state=self.state) for _ in range(2)]
        self._frames = pn.Column(sizing_mode="stretch_width")
        if session() is not None:
            pn.state.onload(self._add_cards)
        else:
            self._add_cards()
        self._metrics = html_pane()
        self._layout = pn.Column(self._head, self._more, self.discussion, self._frames, self._metrics,
                                 sizing_mode="stretch_width")
        # (not a param: param would compare the entry with the last one before it notifies)
        self._entry: TimelineEntry | None = None

    def __panel__(self):
        return self._layout

    def _add_cards(self) -> None:
        if list(self._frames.objects) != self.cards:
            self._frames.objects = list(self.cards)
        html.highlight("")  # imports Pygments now, not on the reader's first click

    @property
    def entry(self) -> TimelineEntry | None:
        """The timeline entry of the cell shown."""
        return self._entry

    def parts(self) -> list:
        """The visible parts of the view, top to bottom."""
        return [self._head, self._more, self.discussion, *(c for c in self.cards if c.frame is not None), self._metrics]

    @param.depends("state.selected", watch=True)
    def _on_selected(self) -> None:
        entry = self.state.entry(self.state.selected)
        if entry is not None:
            self.show(entry)

    @param.depends("state.entries", watch=True)
    def _on_entries(self) -> None:
        if self.entry is not None and self.entry.id in self.state.entries.changed:
            self.update(self.state.entry(self.entry.id))

    def show(self, entry: TimelineEntry) -> None:
        """Show one cell: its words, its discussion, a card per frame, its metrics."""
        self._entry, self.cell = entry, entry.id
        self._head.object = html.cell_head(entry)
        self._more.object = self._more_html(entry)
        self.discussion.cell = entry.id
        frames = entry.frames
        added = len(frames) > len(self.cards) or list(self._frames.objects) != self.cards
        while len(self.cards) < len(frames):
            self.cards.append(FrameCard(state=self.state))
        if added:
            self._add_cards()
        for i, card in enumerate(self.cards):
            if i < len(frames):
                # a card new to the page gets its chart once the browser has built it
                card.show(frames[i].name, frames[i].version, defer_ms=400 if added else 15)
            else:
                card.hide()
        self._metrics.object = html.cell_metrics(entry.metrics)

    def update(self, entry: TimelineEntry) -> None:
        """The shown cell gained rows (a summary, metrics, impacts): refresh the words and
        numbers, and leave the cards (the version and column the reader chose) alone unless
        the cell's frames changed."""
        if self.entry is None or self.entry.id != entry.id or \
                [f.version for f in entry.frames] != [f.version for f in self.entry.frames]:
            self.show(entry)
            return
        self._entry = entry
        self._head.object = html.cell_head(entry)
        more = self._more_html(entry)
        if more != self._more.object:
            self._more.object = more
        self._metrics.object = html.cell_metrics(entry.metrics)

    def _more_html(self, entry: TimelineEntry) -> str:
        explanation = self.state.store.explanations(cell=entry.id).get(entry.id) or {}
        return html.cell_more(explanation.get("details"), entry.code)
