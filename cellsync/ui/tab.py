"""A tab that costs nothing while nobody looks at it."""

from __future__ import annotations

import panel as pn
import param

from .state import DashboardState


class LazyTab(pn.viewable.Viewer):
    """Computed when it becomes `active` after new cells arrived, and, while active, when new
    cells arrive: a SnapGrid for every new cell on every open page would cost the server
    seconds. (`pn.Tabs(dynamic=True)` spares the browser a hidden tab, not the server.)
    Subclasses implement `refresh()`."""

    state = param.ClassSelector(class_=DashboardState, constant=True, doc="The page's state.")
    active = param.Boolean(default=False, allow_refs=True, doc="The tab is being looked at.")
    stale = param.Boolean(default=True, precedence=-1, doc="New cells arrived since the tab was computed.")

    def refresh(self) -> None:
        raise NotImplementedError

    @param.depends("state.entries", watch=True)
    def _on_entries(self) -> None:
        if self.active:
            self.refresh()
        else:
            self.stale = True

    @param.depends("active", watch=True)
    def _on_active(self) -> None:
        if self.active and self.stale:
            self.refresh()
