"""The discussion about one cell: its threads, a box to start one, and the writes they make."""

from __future__ import annotations

import panel as pn
import param

from .. import chat
from ..errors import CellsyncError
from . import html
from .assistant import Assistant, is_question, shared
from .parts import html_pane
from .state import DashboardState
from .thread import ThreadView

WHOLE_CELL = "(whole cell)"


class Discussion(pn.viewable.Viewer):
    """Threads about the cell `cell` (newest activity first), replies, resolve/reopen, a new
    comment box, and `@assistant` answers (written by a thread pool while the page says the
    assistant is thinking). Each thread is a `ThreadView` kept while the cell is shown, so
    only threads with news re-render and a reply box keeps what is being typed."""

    THREADS = 5  # threads shown at first (newest activity first); the rest on request

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    assistant = param.ClassSelector(class_=Assistant, default=None, allow_None=True, constant=True,
                                    doc="Who answers @assistant questions (default: the process's shared one).")
    cell = param.Integer(default=None, allow_None=True, doc="Store id of the cell discussed (None: no cell yet).")
    limit = param.Integer(default=THREADS, bounds=(1, None), doc="How many threads are shown.")
    status = param.String(default="", doc="The last write's error ('' when it worked).")

    def __init__(self, **params):
        super().__init__(**params)
        if self.assistant is None:
            with param.edit_constant(self):
                self.assistant = shared()
        self._views: dict[str, ThreadView] = {}
        self._threads = pn.Column(sizing_mode="stretch_width")
        self._more = pn.widgets.Button(label="Show all threads", visible=False, button_type="light")
        self._more.on_click(lambda e: setattr(self, "limit", 10**9))
        self._empty = html_pane(html.muted("No comments on this cell yet.", "p"))
        parts: list = [self._threads, self._more, self._empty,
                       html_pane(param.bind(lambda s: html.error(s) if s else "", self.param.status))]
        if not self.state.read_only:
            self._box = pn.widgets.TextAreaInput(placeholder="Comment on this cell (Markdown; @assistant asks a question)",
                                                 rows=2, sizing_mode="stretch_width")
            self._about = pn.widgets.Select(label="About", options=[WHOLE_CELL], width=200)  # a visible label (WCAG 1.3.1)
            send = pn.widgets.Button(label="Comment", color="primary")
            send.on_click(lambda e: self.start(self._box.value_input or self._box.value,
                                               None if self._about.value == WHOLE_CELL else self._about.value))
            parts.append(pn.Row(self._box, self._about, send, sizing_mode="stretch_width"))
        # hidden until a cell is shown: there is nothing to discuss yet
        self._card = pn.Card(*parts, title="Discussion", collapsed=False, sizing_mode="stretch_width",
                             visible=param.bind(lambda c: c is not None, self.param.cell))

    def __panel__(self):
        return self._card

    def view(self, thread_id: str) -> ThreadView | None:
        """The view of one thread, if it is shown."""
        return self._views.get(thread_id)

    @param.depends("cell", watch=True)
    def _new_cell(self) -> None:
        self._views = {}
        self.param.update(limit=self.THREADS, status="")
        entry = self.state.entry(self.cell)
        if not self.state.read_only and entry is not None:
            columns = sorted({c for f in entry.frames for c in (f.values_changed or {})}
                             | {c for f in entry.frames for c in (f.columns_added or [])})
            self._about.options = [WHOLE_CELL, *columns]  # a Select's options are text in the browser
        self.refresh()

    @param.depends("state.chat", "limit", watch=True)
    def refresh(self) -> None:
        """Look at the cell's threads again; only those with news re-render."""
        if self.cell is None:
            return
        st = self.state.store
        everything = chat.threads(st, cell=self.cell)
        threads = everything[: self.limit]
        self._more.visible = len(everything) > len(threads)
        self._more.label = f"Show all {len(everything)} threads"
        activity = chat.activity(st, [t.id for t in threads])
        for t in threads:
            if t.id not in self._views:
                self._views[t.id] = ThreadView(state=self.state, discussion=self, thread_id=t.id)
            self._views[t.id].update(t, activity.get(t.id, (0, 0)))
        shown = [self._views[t.id] for t in threads]
        if list(self._threads.objects) != shown:
            self._threads.objects = shown
        self._empty.visible = not everything

    # --- writing -----------------------------------------------------------------------------

    def _write(self, action) -> bool:
        """Run one write on a store opened for it; an error is shown here, in one line."""
        try:
            with self.state.writer() as st:
                action(st)
        except CellsyncError as exc:
            self.status = str(exc)
            return False
        self.status = ""
        self.refresh()
        return True

    def start(self, text: str, column: str | None = None) -> bool:
        """Start a thread on the cell (or one of its columns)."""
        if self.cell is None:
            return False
        made: list = []
        written = self._write(lambda st: made.append(chat.start_thread(
            st, text, self.state.author(), self.state.role, cell=self.cell, column=column)))
        if written:
            self._box.value = self._box.value_input = ""
            self._ask(made[0].id, text)
        return written

    def post(self, thread_id: str, text: str) -> bool:
        """Reply in a thread."""
        written = self._write(lambda st: chat.post(st, thread_id, text, self.state.author(), self.state.role))
        if written:
            self._ask(thread_id, text)
        return written

    def set_status(self, thread_id: str, status: str) -> bool:
        return self._write(lambda st: chat.set_status(st, thread_id, status, self.state.author()))

    def _ask(self, thread_id: str, text: str) -> None:
        if not is_question(text):
            return

        def started():
            if thread_id in self._views:
                self._views[thread_id].thinking = True

        def finished(exc):
            if thread_id in self._views:
                self._views[thread_id].thinking = False
            self.status = "" if exc is None else str(exc).split("\n")[0]
            self.refresh()

        self.assistant.answer_later(self.state.path, thread_id, text, started, finished)
