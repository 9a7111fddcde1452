"""One thread of the discussion about a cell."""

from __future__ import annotations

import re

import panel as pn
import param

from .. import chat
from . import html
from .parts import html_pane
from .state import DashboardState


class ThreadView(pn.viewable.Viewer):
    """A thread's newest messages as one HTML block (older ones on request), buttons that
    open the cells an answer cites, and a reply box that keeps what is being typed while new
    messages arrive. A thread of 10,000 messages opens as fast as one of 50."""

    SHOWN = 50  # newest messages rendered at first; "show earlier" adds this many more

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    discussion = param.Parameter(default=None, constant=True,
                                 doc="The Discussion this thread is part of: its writes go through it.")
    thread_id = param.String(constant=True, doc="The thread shown.")
    limit = param.Integer(default=SHOWN, bounds=(1, None), doc="How many of the newest messages are shown.")
    thinking = param.Boolean(default=False, doc="An @assistant question in this thread is being answered.")
    thread = param.Parameter(default=None, doc="The `chat.Thread` as of the last look.")
    signature = param.Tuple(default=None, allow_None=True, length=3, precedence=-1,
                            doc="(status, activity, limit) as rendered: what has to move for a re-render.")

    def __init__(self, **params):
        super().__init__(**params)
        self._messages = html_pane()
        self._earlier = pn.widgets.Button(label="Show earlier messages", visible=False, button_type="light")
        self._earlier.on_click(lambda e: setattr(self, "limit", self.limit + self.SHOWN))
        self._cites = pn.Row(sizing_mode="stretch_width")
        parts: list = [self._earlier, self._messages,
                       html_pane(html.thinking(), visible=self.param.thinking), self._cites]
        if not self.state.read_only:
            self._box = pn.widgets.TextAreaInput(placeholder="Reply", rows=1, sizing_mode="stretch_width")
            send = pn.widgets.Button(label="Send", color="primary")
            send.on_click(lambda e: self.reply(self._box.value_input or self._box.value))
            self._toggle = pn.widgets.Button(label="Resolve")
            self._toggle.on_click(lambda e: self.toggle())
            parts.append(pn.Row(self._box, send, self._toggle, sizing_mode="stretch_width"))
        self._layout = pn.Column(*parts, sizing_mode="stretch_width",
                                 styles={"border-left": "3px solid #d0d5dd", "padding-left": "8px"})

    def __panel__(self):
        return self._layout

    @property
    def text(self) -> str:
        """The messages as shown (HTML)."""
        return self._messages.object

    def update(self, thread: chat.Thread, activity: tuple[int, int]) -> None:
        """Re-render only if the thread has news (status, a message) since the last look."""
        signature = (thread.status, tuple(activity), self.limit)
        if signature == self.signature:
            return
        self.param.update(signature=signature, thread=thread)
        total = activity[0]
        msgs = chat.messages(self.state.store, thread.id, last=self.limit)
        self._messages.object = html.thread(thread, msgs, total)
        hidden = total - len(msgs)
        self._earlier.visible = hidden > 0
        self._earlier.label = f"Show earlier messages ({hidden:,} more)"
        cited = sorted({int(n) for m in msgs if m.role == "assistant" for n in re.findall(r"\[cell (\d+)\]", m.text)})
        buttons = []
        for n in cited:
            target = self.state.entry_of_count(n)
            if target is not None:
                b = pn.widgets.Button(label=f"Open cell {n}", width=120)
                b.on_click(lambda e, cid=target.id: self.state.select(cid))
                buttons.append(b)
        if [b.label for b in buttons] != [b.label for b in self._cites.objects]:
            self._cites.objects = buttons
        if not self.state.read_only:
            self._toggle.label = "Resolve" if thread.status == "open" else "Reopen"

    @param.depends("limit", watch=True)
    def _more(self) -> None:
        if self.thread is not None:
            activity = chat.activity(self.state.store, [self.thread_id]).get(self.thread_id, (0, 0))
            self.update(self.thread, activity)

    def reply(self, text: str) -> None:
        """Post a reply (and have the assistant answer it if it asks)."""
        if self.discussion.post(self.thread_id, text):
            self._box.value = self._box.value_input = ""

    def toggle(self) -> None:
        """Resolve an open thread, reopen a resolved one."""
        status = "resolved" if self.thread is not None and self.thread.status == "open" else "open"
        self.discussion.set_status(self.thread_id, status)
