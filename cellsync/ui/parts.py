"""Small Panel building blocks every component uses: an HTML pane with CellSync's styles, a
read-only table, and the two facts about where the code runs (a browser session or not)."""

from __future__ import annotations

import logging

import pandas as pd
import panel as pn

from . import html

log = logging.getLogger("cellsync")


def html_pane(text: str = "", **kwargs) -> pn.pane.HTML:
    """An HTML pane with CellSync's styles (each pane has its own shadow DOM). Its text must
    come from `ui.html`, where it was escaped."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[html.CSS], **kwargs)


def read_only_table(df: pd.DataFrame, **kwargs) -> pn.widgets.Tabulator:
    """A Tabulator nobody can edit. It renders cells as text but column titles as HTML, and
    column names come from users' data: every title is escaped."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    kwargs.setdefault("layout", "fit_data_stretch")
    kwargs.setdefault("titles", html.titles(df.columns))
    return pn.widgets.Tabulator(df, disabled=True, show_index=False, **kwargs)


def session():
    """The Bokeh document of the browser session this code runs for, or None (a test, an
    export, the benchmark): then work that would be deferred runs at once."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def later(fn, ms: int = 15):
    """Run fn once, in a callback of its own `ms` from now: what the user asked for first
    reaches the browser in this callback's patch, the slower parts (charts, row tables) in
    the next. Returns Panel's PeriodicCallback (`.stop()` cancels it), or None when fn ran at
    once (no session)."""
    if session() is None:
        fn()
        return None

    def run():
        try:
            fn()
        except Exception:  # in the sidecar this thread is the kernel's: never a traceback there
            log.debug("deferred dashboard update failed", exc_info=True)

    return pn.state.add_periodic_callback(run, period=ms, count=1)


def cancel(handle) -> None:
    """Stop a `later` callback that has not run yet (None: nothing was pending)."""
    if handle is not None and handle.running:
        handle.stop()
