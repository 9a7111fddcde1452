"""The page's two links to the browser around it, each a custom widget because Panel has no
widget that does its job: telling the JupyterLab page around the sidecar which cell was
clicked (a `postMessage` to the parent window), and keeping the reader's name in the browser
(`localStorage`)."""

from __future__ import annotations

import panel as pn
import param

from .state import DashboardState


# custom: no Panel widget posts a message to the window around the page
class NotebookBridge(pn.custom.JSComponent):
    """Invisible: when the sidecar shows a cell, asks the JupyterLab page around it (a listener
    `cellsync.beside` installed) to select the notebook cell with that execution count."""

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

    @classmethod
    def following(cls, state: DashboardState) -> "NotebookBridge":
        """A bridge that follows the page's selected cell."""
        def count(selected):
            entry = state.entry(selected)
            return f"{entry.execution_count}@{entry.id}" if entry and entry.execution_count is not None else ""

        return cls(count=param.bind(count, state.param.selected))


# custom: no Panel widget reads or writes the browser's localStorage
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


class NameBox(pn.viewable.Viewer):
    """'Your name', bound to `state.user_name`; on an expert's page the browser remembers it."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")

    def __init__(self, **params):
        super().__init__(**params)
        self._box = pn.widgets.TextInput.from_param(self.state.param.user_name, description=None, name="Your name", width=180,
                                                    visible=not self.state.read_only)
        self._memory = None
        if not self.state.read_only and self.state.role == "expert":
            self._memory = NameMemory()
            self._memory.param.watch(self._remembered, "value")
            self.state.param.watch(self._typed, "user_name")
        self._layout = pn.Row(self._box, *([self._memory] if self._memory is not None else []))

    def __panel__(self):
        return self._layout

    def _remembered(self, event) -> None:
        if event.new:  # the browser's remembered name fills the box
            self.state.user_name = event.new

    def _typed(self, event) -> None:
        if event.new:  # a name typed in the box is remembered
            self._memory.value = event.new
