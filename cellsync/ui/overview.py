"""The Overview tab, the page an expert lands on: the flow of the main table (where the rows
went, step by step, flags on the steps that raised them, a final split as branches), what was
hit hardest, where the model does worst, and the questions still open.

The data is `cellsync.overview.overview` (computed from the timeline the page already holds),
the HTML `ui.flow.overview_page`, and the drawing one `CellLinks` element: the whole overview
is one escaped HTML string whose boxes and links are native `<button>`s, so Tab reaches them,
Enter and Space press them, and one delegated click handler tells the server which cell to
open. (Three hundred Panel buttons would be three hundred Bokeh models for the browser to lay
out; one string is one property to patch. See docs/ARCHITECTURE.md, "The overview".)
"""

from __future__ import annotations

import panel as pn
import param

from .. import overview as story
from . import flow, html
from .tab import LazyTab


# custom: no Panel pane renders HTML whose buttons report back which one was pressed
class CellLinks(pn.custom.JSComponent):
    """HTML (built and escaped in `ui.flow`) in which any element with `data-cell` opens that
    cell when pressed (a click, or Enter/Space on a focused button)."""

    object = param.String(default="", doc="The HTML shown; every value in it was escaped by ui.flow.")

    _esm = """
    export function render({ model, el }) {
      const root = document.createElement('div');
      root.innerHTML = model.object;
      model.on('object', () => { root.innerHTML = model.object; });
      root.addEventListener('click', (event) => {
        const target = event.target.closest('[data-cell]');
        if (target && root.contains(target)) {
          model.send_msg({cell: Number(target.dataset.cell)});
        }
      });
      return root;
    }
    """

    def __init__(self, on_cell=None, **params):
        super().__init__(**params)
        self._on_cell = on_cell

    def _handle_msg(self, msg) -> None:
        cell = msg.get("cell") if isinstance(msg, dict) else None
        if isinstance(cell, int):
            self.open(cell)

    def open(self, cell: int) -> None:
        """Open a cell (store id), as a press on its box or button does."""
        if self._on_cell is not None:
            self._on_cell(cell)


class OverviewView(LazyTab):
    """The overview of the page's store. A `LazyTab`: recomputed when new cells arrive while it
    is looked at (or when it is opened after they did), and when the chat moves (the open
    questions); never per poll."""

    frame = param.Selector(default=None, objects=[], allow_None=True, label="Table",
                           doc="The table whose flow is drawn (None: the main one, chosen by `overview`).")
    compact = param.Boolean(default=False, constant=True, doc="Narrow layout (the JupyterLab sidecar).")
    data = param.Parameter(default=None, precedence=-1, doc="The `cellsync.overview.Overview` shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self._picker = pn.widgets.Select.from_param(self.param.frame, description=None,
                                                    width=240 if self.compact else 320, visible=False)
        self._view = CellLinks(on_cell=self.state.select, sizing_mode="stretch_width",
                               stylesheets=[html.CSS, flow.OVERVIEW_CSS])
        self._layout = pn.Column(self._picker, self._view, sizing_mode="stretch_width")
        if self.active:
            self.refresh()

    def __panel__(self):
        return self._layout

    def open_cell(self, cell: int) -> None:
        """Open a cell (store id) on the timeline, as a press on its box does in the browser."""
        self._view.open(cell)

    @property
    def html(self) -> str:
        """The HTML shown (what the browser renders)."""
        return self._view.object

    def refresh(self) -> None:
        """Compute the overview from the page's timeline and show it."""
        self.stale = False
        entries = list(self.state.entries)
        frame = self.frame if self.frame in {f.name for e in entries for f in e.frames} else None
        ov = story.overview(self.state.store, frame=frame, timeline=entries)
        self.data = ov
        # `data` first: `_on_frame` then sees the frame it is told about is already shown
        self.param.frame.objects = list(ov.frames)
        self.frame = ov.frame
        self._picker.visible = len(ov.frames) > 1
        self._view.object = flow.overview_page(ov, {e.id: e for e in entries}, interactive=True,
                                               compact=self.compact, cells=len(entries))

    @param.depends("frame", watch=True)
    def _on_frame(self) -> None:
        if self.data is not None and self.frame != self.data.frame:
            self.refresh()

    @param.depends("state.chat", watch=True)
    def _on_chat(self) -> None:
        self._on_entries()  # the open questions moved: what new cells do (now, or when looked at)
