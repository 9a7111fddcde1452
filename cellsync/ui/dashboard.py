"""The dashboard for one store: the components of `cellsync.ui` on one page, sharing one
`DashboardState`. The server, the read-only view, the sidecar and the benchmark use it."""

from __future__ import annotations

import panel as pn
import param

from . import html
from .bridge import NameBox, NotebookBridge
from .cell import CellView
from .feedback import Feedback
from .keys import PageKeys
from .metrics import Metrics
from .overview import OverviewView
from .parts import html_pane
from .segments import Segments
from .state import DashboardState
from .timeline import Timeline


class Dashboard(pn.viewable.Viewer):
    """The CellSync dashboard: timeline and cell view, segments, metrics, feedback.

    Built for a page that stays open all day beside a running notebook: everything on it is
    made once and then updated in place, the store is polled cheaply by `state` and only the
    cells that gained rows are read again, and tabs nobody is looking at are not computed."""

    store = param.String(doc="The store folder to show.")
    read_only = param.Boolean(default=False, doc="No inputs that write; the store is only read.")
    title = param.String(default="CellSync", doc="Shown at the top of the page.")
    poll_ms = param.Integer(default=200, bounds=(50, None), doc="How often to look for new cells and messages (ms).")
    compact = param.Boolean(default=False, doc="Narrow layout (the JupyterLab sidecar).")
    role = param.Selector(default="expert", objects=["expert", "data_scientist"],
                          doc="Who writes from this page: experts on the server, the data scientist in the sidecar.")
    user_name = param.String(default="expert", doc="The name on messages written from this page at first (editable on the page).")

    def __init__(self, **params):
        super().__init__(**params)
        self.state = DashboardState(path=self.store, read_only=self.read_only, role=self.role,
                                    user_name=self.user_name, poll_ms=self.poll_ms)
        self.timeline = Timeline(state=self.state, compact=self.compact)
        self.cell = CellView(state=self.state)
        self.segments = Segments(state=self.state)
        self.metrics = Metrics(state=self.state)
        self.feedback = Feedback(state=self.state)
        self._home = pn.Column(self.timeline, self.cell, sizing_mode="stretch_width")
        # the overview: the first tab, where an expert lands (issue 14)
        self.overview = OverviewView(state=self.state, compact=self.compact)
        tabs = [("Overview", self.overview), ("Timeline", self._home),
                ("Segments", self.segments), ("Metrics", self.metrics), ("Feedback", self.feedback)]
        # dynamic: the browser builds a tab's widgets when it is first opened
        self._tabs = pn.Tabs(*tabs, dynamic=True, sizing_mode="stretch_width")
        self._tab_names = [name for name, _ in tabs]
        for i, (_, part) in enumerate(tabs):
            if "active" in part.param:
                part.active = param.bind(lambda active, i=i: active == i, self._tabs.param.active)
        self.state.param.watch(self._to_cell_tab, "selected")
        self._header = html_pane(param.bind(self._header_html, self.state.param.entries, self.state.param.problem))
        extra = [NotebookBridge.following(self.state)] if self.compact else []
        top = pn.Row(self._header, NameBox(state=self.state), sizing_mode="stretch_width")
        extra.append(PageKeys())  # accessibility: tabs by keyboard, roles of tables (keys.py)
        self._layout = pn.Column(top, self._tabs, *extra, sizing_mode="stretch_width", stylesheets=[html.CSS])

    def __panel__(self):
        return self._layout

    def _header_html(self, entries, problem) -> str:
        return html.header(self.title, self.state.store.path, self.read_only, entries, problem)

    def _to_cell_tab(self, event) -> None:
        """A cell opened from the feedback list or a citation: show it."""
        self._tabs.active = self._tabs.objects.index(self._home)

    # --- what tests, the benchmark and the CLI use ----------------------------------------------

    @property
    def tab_names(self) -> list[str]:
        """The tabs' titles, in the order shown."""
        return list(self._tab_names)

    @property
    def active_tab(self) -> str:
        """The title of the tab being shown."""
        return self._tab_names[self._tabs.active]

    def show_tab(self, name: str) -> None:
        """Open a tab by its title, as a click on it does."""
        self._tabs.active = self._tab_names.index(name)

    def select_cell(self, cell_id: int) -> None:
        """Show one cell (by store id), as a click in the timeline does."""
        self.state.select(cell_id)

    def cell_view(self, entry: dict) -> list:
        """Show one cell's view and return its parts (what a click does)."""
        self.cell.show(entry)
        return self.cell.parts()

    def refresh(self) -> None:
        """Look at the store now (what the poller does when it sees a commit)."""
        self.state.refresh()

    def poll(self) -> None:
        """One tick of the poller."""
        self.state.poll()

    def close(self) -> None:
        """Stop polling and close this page's store connection."""
        self.state.close()
