"""What one dashboard page knows, and the one poller that keeps it current.

Every component of the page receives this object as its `state` param and reacts to its
params (`entries`, `open_threads`, `selected`, `chat`): nothing reads another component. The
poller is built for a page that stays open all day beside a running notebook: every 200 ms it
asks SQLite whether anyone committed (`PRAGMA data_version`, a microsecond query); only then
does it read the marks (the highest row id per table: rows are only ever added), the cells that
gained rows since, and those cells alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import panel as pn
import param

from .. import chat
from ..errors import CellsyncError
from ..store import Store, TimelineEntry, open_store
from .parts import session


@dataclass(frozen=True, eq=False)
class Entries:
    """The timeline as a page holds it: one `Store.timeline()` entry per cell in store order,
    and the store ids of the cells that arrived or changed in the update that made it.

    Compared by identity (`eq=False`): param compares a list or dict value deeply before it
    notifies, which for 300 entries with their impacts took a good part of a second per
    update; a new `Entries` is made only when something changed."""

    items: tuple = ()
    changed: frozenset = frozenset()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i):
        return self.items[i]


class DashboardState(param.Parameterized):
    """One page's view of one store: the timeline, the open threads per cell, the cell being
    read, who is reading, and whether the store could be read at the last look."""

    path = param.String(constant=True, doc="The store folder shown.")
    store = param.ClassSelector(class_=Store, constant=True,
                                doc="This page's connection, opened read-only; closed with the page.")
    read_only = param.Boolean(default=False, constant=True,
                              doc="Nothing can be written from this page (and its store is read-only anyway).")
    role = param.Selector(default="expert", objects=["expert", "data_scientist"], constant=True,
                          doc="Who writes from this page: experts on the server, the data scientist in the sidecar.")
    user_name = param.String(default="expert", doc="The name on messages written from this page (editable on the page).")
    poll_ms = param.Integer(default=200, bounds=(50, None), constant=True,
                            doc="How often to look for new cells and messages (ms).")

    entries = param.ClassSelector(class_=Entries, default=Entries(), instantiate=False, doc=(
        "The timeline (`Entries`). Replaced, never changed in place: new cells are appended, a "
        "cell that gained rows gets a new entry, and `entries.changed` says which."))
    open_threads = param.Dict(default={}, doc="Open threads per cell (store id).")
    selected = param.Integer(default=None, allow_None=True, doc="Store id of the cell being read.")
    chat = param.Event(doc="Messages or threads changed since the last look: chat views look again.")
    problem = param.String(default="", doc="Why the store could not be read at the last look ('' if it could).")

    marks = param.Dict(default={}, precedence=-1, doc=(
        "`Store.marks()` as of the entries shown. Moved on only once a change is shown, so a "
        "refresh that fails is tried again at the next poll."))
    chat_mark = param.Parameter(default=None, precedence=-1, doc="`chat.signature()` as of the last look.")
    data_version = param.Integer(default=None, allow_None=True, precedence=-1,
                                 doc="`PRAGMA data_version` at the last look (None: look again).")

    def __init__(self, **params):
        if "store" not in params:
            params["store"] = open_store(params["path"])
        super().__init__(**params)
        self._poller = None
        self.load()
        if session() is not None:
            self._poller = pn.state.add_periodic_callback(self.poll, period=self.poll_ms)
            # a server runs for days: each page's store connection goes with its page
            pn.state.on_session_destroyed(lambda context: self.close())

    def close(self) -> None:
        """Stop polling and close this page's store connection."""
        if self._poller is not None and self._poller.running:
            self._poller.stop()
        self._poller = None
        self.store.close()

    # --- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the whole timeline afresh (the first view, or a page that slept through a
        whole notebook)."""
        marks, chat_mark = self.store.marks(), chat.signature(self.store)
        entries = self.store.timeline()
        self.param.update(entries=Entries(tuple(entries), frozenset(e.id for e in entries)),
                          open_threads=chat.open_counts(self.store), marks=marks, chat_mark=chat_mark)

    def poll(self) -> None:
        """What the page's periodic callback runs: the cheap test first, then `refresh`."""
        try:
            version = self.store.data_version()
            if version == self.data_version:
                return
            self.data_version = version
            self.refresh()
            if self.problem:
                self.problem = ""
        except Exception as exc:  # a page must outlive a store being written or moved
            self.param.update(problem=str(exc), data_version=None)  # look again at the next poll

    def refresh(self) -> None:
        """Read only what changed since the last look: the cells that gained rows (new cells,
        and older cells whose summary arrived later), then the chat if it moved."""
        marks = self.store.marks()
        changed = self.store.changed_cells(self.marks) if marks != self.marks else set()
        if len(changed) > 500:
            self.load()  # a page that slept through a whole notebook: read it afresh
            self.param.trigger("chat")
            return
        if changed:
            fresh = {e.id: e for e in self.store.timeline(cells=changed)}
            entries = [fresh.pop(e.id, e) for e in self.entries]
            entries += list(fresh.values())  # new cells, in store order
            self.entries = Entries(tuple(entries), frozenset(changed & {e.id for e in entries}))
        self.marks = marks
        chat_mark = chat.signature(self.store)
        if chat_mark != self.chat_mark:
            self.param.update(chat_mark=chat_mark, open_threads=chat.open_counts(self.store))
            self.param.trigger("chat")

    # --- looking things up -------------------------------------------------------------------

    def entry(self, cell_id: int | None) -> TimelineEntry | None:
        return next((e for e in reversed(self.entries) if e.id == cell_id), None) if cell_id is not None else None

    def entry_of_version(self, version_id: str) -> TimelineEntry | None:
        """The cell that made a version (the latest such cell)."""
        for e in reversed(self.entries):
            if any(f.version == version_id for f in e.frames):
                return e
        return None

    def entry_of_count(self, execution_count: int) -> TimelineEntry | None:
        """The latest run of the cell with this execution count (what `[cell N]` cites)."""
        return next((e for e in reversed(self.entries) if e.execution_count == execution_count), None)

    # --- acting ------------------------------------------------------------------------------

    def select(self, cell_id: int) -> None:
        """Show one cell (by store id), as a click in the timeline does; again if it is shown."""
        if self.selected == cell_id:
            self.param.trigger("selected")
        else:
            self.selected = cell_id

    def author(self) -> str:
        """Who is writing: the server's authenticated user, else the name typed on the page."""
        return pn.state.user or (self.user_name or "").strip() or "expert"

    @contextlib.contextmanager
    def writer(self):
        """A store opened for one write, closed after it. Read-only pages have no writing input
        and get an error here: what a hand-crafted message could at most trigger."""
        if self.read_only:
            raise CellsyncError("this dashboard is read-only")
        st = Store(self.path)
        try:
            yield st
        finally:
            st.close()
